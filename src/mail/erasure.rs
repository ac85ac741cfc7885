//! The mail that confirms a reader's "erase me" (issue 14, item 3): the
//! preference centre only asks for it, so that whoever holds a forwarded
//! issue cannot erase its reader; the link in this mail, which only the
//! address's owner reads, does it, and expires.

use askama::Template;
use lettre::Message;

use super::{recipient, two_part, MailBuildError, MailIdentity, MailKind};
use crate::subscriptions::{SubscriberEmail, SubscriberName};

struct Content<'a> {
    identity: &'a MailIdentity,
    greeting_name: Option<&'a str>,
    email: &'a str,
    erase_url: &'a str,
}

#[derive(Template)]
#[template(path = "email/erasure.html")]
struct Html<'a> {
    mail: &'a Content<'a>,
}

#[derive(Template)]
#[template(path = "email/erasure.txt")]
struct Text<'a> {
    mail: &'a Content<'a>,
}

pub struct ErasureEmail<'a> {
    pub to: &'a SubscriberEmail,
    pub name: Option<&'a SubscriberName>,
    /// A Message-ID that names this mail to bounce intake; a random one when `None`.
    pub message_id: Option<String>,
    pub erase_url: &'a str,
}

impl ErasureEmail<'_> {
    pub fn build(&self, identity: &MailIdentity) -> Result<Message, MailBuildError> {
        let content = Content {
            identity,
            greeting_name: self.name.map(SubscriberName::as_str),
            email: self.to.as_str(),
            erase_url: self.erase_url,
        };
        let message = identity
            .message_to_with_id(
                recipient(self.to, self.name),
                self.message_id.clone(),
                MailKind::Erasure,
                None,
            )
            .subject(format!(
                "Confirm: erase your data from {}",
                identity.newsletter_name
            ));
        two_part(message, &Text { mail: &content }, &Html { mail: &content })
    }
}
