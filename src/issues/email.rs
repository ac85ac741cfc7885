//! An issue as a mail message.

use lettre::message::{Mailbox, MultiPart};
use lettre::Message;

use super::render::RenderedIssue;
use crate::mail::{ListUnsubscribe, ListUnsubscribePost, MailIdentity};

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
