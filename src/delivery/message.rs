//! An issue made ready for a send: rendered once, its two parts transfer-encoded
//! once around the place each reader's unsubscribe link goes. Each reader's
//! copy is then a few header lines and a concatenation; no Markdown, template
//! or encoding work happens per reader.

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use lettre::Message;

use crate::bounces::{message_id_for, ReturnTarget};
use crate::config::SecretKey;
use crate::issues::render::escape_attribute;
use crate::issues::RenderedIssue;
use crate::mail::{KindHeaders, MailIdentity, MailKind, UnsubscribeLinks};

/// One part (text or HTML) in quoted-printable pieces, split where the link goes.
#[derive(Debug, Clone)]
struct EncodedPart {
    pieces: Vec<Vec<u8>>,
    encoded_len: usize,
}

impl EncodedPart {
    fn encode(pieces: &[String]) -> Self {
        // Quoted-printable wants CRLF line ends; each piece ends with a soft
        // line break so that pieces and links join without a line over 76 characters.
        let pieces: Vec<Vec<u8>> = pieces
            .iter()
            .map(|piece| {
                quoted_printable::encode(piece.replace("\r\n", "\n").replace('\n', "\r\n"))
            })
            .collect();
        let encoded_len = pieces.iter().map(Vec::len).sum();
        Self {
            pieces,
            encoded_len,
        }
    }

    /// The part with `link` wherever the placeholder was, still quoted-printable.
    fn with_link(&self, link: &str) -> Vec<u8> {
        let link = quoted_printable::encode(link);
        let mut out = Vec::with_capacity(self.encoded_len + (link.len() + 6) * self.pieces.len());
        for (index, piece) in self.pieces.iter().enumerate() {
            if index > 0 {
                out.extend_from_slice(&link);
                out.extend_from_slice(b"=\r\n");
            }
            out.extend_from_slice(piece);
            if index + 1 < self.pieces.len() {
                out.extend_from_slice(b"=\r\n");
            }
        }
        out
    }
}

/// An issue ready to go to every reader.
#[derive(Debug, Clone)]
pub struct PreparedIssue {
    issue_id: i64,
    subject: String,
    text: EncodedPart,
    html: EncodedPart,
    /// The From domain in ASCII, right of every Message-ID.
    sender_domain: String,
    /// The headers every reader's copy shares, and every test copy.
    copy_headers: KindHeaders,
    test_headers: KindHeaders,
}

/// One reader's copy.
pub struct Copy<'a> {
    pub to: Mailbox,
    pub subscriber_id: i64,
    pub unsubscribe_url: &'a str,
    /// The `mailto:` unsubscribe address, when the bounce mailbox is set.
    pub unsubscribe_mailto: Option<&'a str>,
}

impl PreparedIssue {
    pub fn new(issue_id: i64, rendered: &RenderedIssue, identity: &MailIdentity) -> Self {
        let sender_domain = identity.sender_domain();
        let kind = |test| MailKind::IssueCopy { issue_id, test };
        Self {
            copy_headers: KindHeaders::new(identity, &sender_domain, kind(false)),
            test_headers: KindHeaders::new(identity, &sender_domain, kind(true)),
            sender_domain,
            issue_id,
            subject: rendered.subject().as_str().to_owned(),
            text: EncodedPart::encode(rendered.text_parts()),
            html: EncodedPart::encode(rendered.html_parts()),
        }
    }

    pub fn issue_id(&self) -> i64 {
        self.issue_id
    }

    /// The same for the same (issue, reader) on every attempt and in every
    /// process, so a copy sent twice after a crash is recognisably one message;
    /// keyed, so it shows no subscriber id, and it names the copy to bounce
    /// intake (src/bounces/message_id.rs). Ids too large for a token keep a
    /// keyed tag that names nothing.
    pub fn message_id(&self, key: &SecretKey, subscriber_id: i64, domain: &str) -> String {
        let target = ReturnTarget::IssueCopy {
            issue_id: self.issue_id,
            subscriber_id,
        };
        message_id_for(key, target, domain).unwrap_or_else(|| {
            let tag = key.sign(
                "message-id",
                format!("{}:{subscriber_id}", self.issue_id).as_bytes(),
            );
            self.message_id_tagged(&tag[..12], domain)
        })
    }

    fn message_id_tagged(&self, tag: &[u8], domain: &str) -> String {
        format!(
            "<issue-{}.{}@{domain}>",
            self.issue_id,
            crate::config::secret_hex(tag)
        )
    }

    /// A reader's copy.
    pub fn message(
        &self,
        identity: &MailIdentity,
        key: &SecretKey,
        copy: &Copy<'_>,
    ) -> Result<Message, lettre::error::Error> {
        let message_id = self.message_id(key, copy.subscriber_id, &self.sender_domain);
        self.build(identity, copy, message_id, &self.copy_headers, "")
    }

    /// An editor's test copy: the reader's copy in every header and byte but
    /// `[Test] ` before the subject, a Message-ID of the old form keyed on a
    /// random value (each test send is a message of its own, and names no
    /// reader to bounce intake), and the
    /// unsubscribe link `copy` gives, which should change nothing.
    pub fn test_message(
        &self,
        identity: &MailIdentity,
        copy: &Copy<'_>,
    ) -> Result<Message, lettre::error::Error> {
        let message_id = self.message_id_tagged(&rand::random::<[u8; 12]>(), &self.sender_domain);
        self.build(identity, copy, message_id, &self.test_headers, "[Test] ")
    }

    fn build(
        &self,
        identity: &MailIdentity,
        copy: &Copy<'_>,
        message_id: String,
        headers: &KindHeaders,
        subject_prefix: &str,
    ) -> Result<Message, lettre::error::Error> {
        let html_link = escape_attribute(copy.unsubscribe_url);
        let text = Body::dangerous_pre_encoded(
            self.text.with_link(copy.unsubscribe_url),
            ContentTransferEncoding::QuotedPrintable,
        );
        let html = Body::dangerous_pre_encoded(
            self.html.with_link(&html_link),
            ContentTransferEncoding::QuotedPrintable,
        );
        let subject = if subject_prefix.is_empty() {
            self.subject.clone()
        } else {
            format!("{subject_prefix}{}", self.subject)
        };
        identity
            .message_with(
                copy.to.clone(),
                message_id,
                headers,
                Some(UnsubscribeLinks {
                    url: copy.unsubscribe_url,
                    mailto: copy.unsubscribe_mailto,
                }),
            )
            .subject(subject)
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(text),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(html),
                    ),
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_joins_the_pieces_as_quoted_printable_that_decodes_to_the_personal_text() {
        let long = "Ünïcödé and a line far longer than seventy-six characters, which quoted-printable must break softly.";
        let pieces = vec![format!("Hello\n{long}\nLeave: "), "\nBye\n".to_owned()];
        let part = EncodedPart::encode(&pieces);
        let link = "https://news.example.com/unsubscribe?token=abc=def";
        let encoded = part.with_link(link);
        for line in encoded.split(|&b| b == b'\n') {
            assert!(
                line.len() <= 77,
                "line too long: {}",
                String::from_utf8_lossy(line)
            );
        }
        let decoded =
            quoted_printable::decode(&encoded, quoted_printable::ParseMode::Strict).unwrap();
        assert_eq!(
            String::from_utf8(decoded).unwrap(),
            format!("Hello\r\n{long}\r\nLeave: {link}\r\nBye\r\n")
        );
    }
}
