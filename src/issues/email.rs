//! An issue as a mail message, and the test send of the composer and the API.

use lettre::message::{Mailbox, MultiPart};
use lettre::Message;

use super::domain::Issue;
use super::render::{RenderError, RenderedIssue};
use crate::mail::{ListUnsubscribe, ListUnsubscribePost, MailIdentity, Mailer, SendError};
use crate::subscriptions::SubscriberEmail;

/// One reader's copy of a rendered issue.
pub struct IssueMessage<'a> {
    pub rendered: &'a RenderedIssue,
    pub to: Mailbox,
    pub unsubscribe_url: &'a str,
    /// Put before the subject, e.g. `[Test] `.
    pub subject_prefix: &'a str,
}

impl IssueMessage<'_> {
    /// A multipart/alternative message with the list headers of RFC 2369 and
    /// RFC 8058. The subject is a parsed `Subject`: no line breaks can reach the header.
    pub fn build(&self, identity: &MailIdentity) -> Result<Message, lettre::error::Error> {
        let (html, text) = self.rendered.personalize(self.unsubscribe_url);
        identity
            .message_to(self.to.clone())
            .subject(format!(
                "{}{}",
                self.subject_prefix,
                self.rendered.subject().as_str()
            ))
            .header(ListUnsubscribe::new(self.unsubscribe_url))
            .header(ListUnsubscribePost)
            .multipart(MultiPart::alternative_plain_html(text, html))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TestSendError {
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("cannot build the message: {0}")]
    Build(#[from] lettre::error::Error),
    /// What the mail server said; shown to the editor.
    #[error("the mail server did not take the message: {0}")]
    Send(#[from] SendError),
}

/// Renders `issue` as sending would and sends one copy to `to` at once, with
/// `[Test] ` before the subject. Its unsubscribe link leads nowhere real:
/// the tester is not a subscriber.
#[tracing::instrument(skip_all, fields(issue_id = issue.id))]
pub async fn send_test(
    issue: &Issue,
    to: &SubscriberEmail,
    identity: &MailIdentity,
    mailer: &Mailer,
) -> Result<(), TestSendError> {
    let rendered = RenderedIssue::render_blocking(issue, identity).await?;
    let unsubscribe_url = identity.site_url.join("/unsubscribe?token=test");
    let message = IssueMessage {
        rendered: &rendered,
        to: Mailbox::new(None, to.to_address()),
        unsubscribe_url: &unsubscribe_url,
        subject_prefix: "[Test] ",
    }
    .build(identity)?;
    mailer.send(&message).await?;
    tracing::info!(html_bytes = rendered.html_bytes(), "test copy sent");
    Ok(())
}
