//! The confirmation mail of double opt-in.

use std::time::Duration;

use askama::Template;
use lettre::Message;

use super::{recipient, two_part, MailBuildError, MailIdentity, MailKind};
use crate::subscriptions::{SubscriberEmail, SubscriberName};

/// What both parts of the mail are rendered from.
struct Content<'a> {
    identity: &'a MailIdentity,
    greeting_name: Option<&'a str>,
    email: &'a str,
    confirm_url: &'a str,
    expires_in: String,
}

#[derive(Template)]
#[template(path = "email/confirmation.html")]
struct Html<'a> {
    mail: &'a Content<'a>,
}

#[derive(Template)]
#[template(path = "email/confirmation.txt")]
struct Text<'a> {
    mail: &'a Content<'a>,
}

pub struct ConfirmationEmail<'a> {
    pub to: &'a SubscriberEmail,
    pub name: Option<&'a SubscriberName>,
    /// A Message-ID that names this mail to bounce intake
    /// (`crate::bounces::message_id_for`); a random one when `None`.
    pub message_id: Option<String>,
    pub confirm_url: &'a str,
    pub expires_in: Duration,
}

impl ConfirmationEmail<'_> {
    pub fn build(&self, identity: &MailIdentity) -> Result<Message, MailBuildError> {
        let content = Content {
            identity,
            greeting_name: self.name.map(SubscriberName::as_str),
            email: self.to.as_str(),
            confirm_url: self.confirm_url,
            expires_in: describe_duration(self.expires_in),
        };
        let message = identity
            .message_to_with_id(
                recipient(self.to, self.name),
                self.message_id.clone(),
                MailKind::Confirmation,
                None,
            )
            .subject(format!(
                "Confirm your subscription to {}",
                identity.newsletter_name
            ));
        two_part(message, &Text { mail: &content }, &Html { mail: &content })
    }
}

/// "48 hours", "10 minutes": how long a link stays valid, in words.
fn describe_duration(duration: Duration) -> String {
    let minutes = (duration.as_secs() + 30) / 60;
    let (count, unit) = if minutes >= 120 || (minutes >= 60 && minutes.is_multiple_of(60)) {
        ((minutes + 30) / 60, "hour")
    } else if minutes >= 1 {
        (minutes, "minute")
    } else {
        (duration.as_secs(), "second")
    };
    if count == 1 {
        format!("1 {unit}")
    } else {
        format!("{count} {unit}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(
            describe_duration(Duration::from_secs(48 * 3600)),
            "48 hours"
        );
        assert_eq!(describe_duration(Duration::from_secs(3600)), "1 hour");
        assert_eq!(
            describe_duration(Duration::from_secs(90 * 60)),
            "90 minutes"
        );
        assert_eq!(describe_duration(Duration::from_secs(5)), "5 seconds");
        assert_eq!(
            describe_duration(Duration::from_secs(48 * 3600 - 7)),
            "48 hours"
        );
    }
}
