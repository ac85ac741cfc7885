//! The password reset mail: the one-use link, how long it works, and what to
//! do when one did not ask for it.

use askama::Template;
use lettre::message::{Mailbox, MultiPart};
use lettre::{Address, Message};

use crate::mail::{MailBuildError, MailIdentity, MailKind};

struct Content<'a> {
    identity: &'a MailIdentity,
    email: &'a str,
    link: &'a str,
    minutes: u64,
}

#[derive(Template)]
#[template(path = "email/password_reset.html")]
struct Html<'a> {
    mail: &'a Content<'a>,
}

#[derive(Template)]
#[template(path = "email/password_reset.txt")]
struct Text<'a> {
    mail: &'a Content<'a>,
}

pub struct PasswordResetEmail<'a> {
    pub to: &'a Address,
    /// The page that sets the new password, with the link's secret.
    pub link: &'a str,
}

impl PasswordResetEmail<'_> {
    pub fn build(&self, identity: &MailIdentity) -> Result<Message, MailBuildError> {
        let email = self.to.to_string();
        let content = Content {
            identity,
            email: &email,
            link: self.link,
            minutes: super::RESET_LINK_TTL.as_secs() / 60,
        };
        Ok(identity
            .message_to(
                Mailbox::new(None, self.to.clone()),
                MailKind::PasswordReset,
                None,
            )
            .subject(format!("Reset your {} password", identity.newsletter_name))
            .multipart(MultiPart::alternative_plain_html(
                Text { mail: &content }.render()?,
                Html { mail: &content }.render()?,
            ))?)
    }
}
