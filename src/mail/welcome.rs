//! The welcome mail sent once an address is confirmed: it tells the reader
//! what comes next and carries the unsubscribe link from the first day.

use askama::Template;
use lettre::Message;

use super::{recipient, two_part, MailBuildError, MailIdentity, MailKind, UnsubscribeLinks};
use crate::subscriptions::{SubscriberEmail, SubscriberName};

struct Content<'a> {
    identity: &'a MailIdentity,
    greeting_name: Option<&'a str>,
    email: &'a str,
    unsubscribe_url: &'a str,
    preferences_url: &'a str,
}

#[derive(Template)]
#[template(path = "email/welcome.html")]
struct Html<'a> {
    mail: &'a Content<'a>,
}

#[derive(Template)]
#[template(path = "email/welcome.txt")]
struct Text<'a> {
    mail: &'a Content<'a>,
}

pub struct WelcomeEmail<'a> {
    pub to: &'a SubscriberEmail,
    pub name: Option<&'a SubscriberName>,
    /// A Message-ID that names this mail to bounce intake
    /// (`crate::bounces::message_id_for`); a random one when `None`.
    pub message_id: Option<String>,
    pub unsubscribe_url: &'a str,
    /// The reader's preference centre: topics, name, their data.
    pub preferences_url: &'a str,
    /// The `mailto:` unsubscribe address, when the bounce mailbox is set.
    pub unsubscribe_mailto: Option<&'a str>,
}

impl WelcomeEmail<'_> {
    pub fn build(&self, identity: &MailIdentity) -> Result<Message, MailBuildError> {
        let content = Content {
            identity,
            greeting_name: self.name.map(SubscriberName::as_str),
            email: self.to.as_str(),
            unsubscribe_url: self.unsubscribe_url,
            preferences_url: self.preferences_url,
        };
        let message = identity
            .message_to_with_id(
                recipient(self.to, self.name),
                self.message_id.clone(),
                MailKind::Welcome,
                Some(UnsubscribeLinks {
                    url: self.unsubscribe_url,
                    mailto: self.unsubscribe_mailto,
                }),
            )
            .subject(format!("Welcome to {}", identity.newsletter_name));
        two_part(message, &Text { mail: &content }, &Html { mail: &content })
    }
}
