//! An issue made ready for a send: rendered once, its two parts transfer-encoded
//! once around the place each reader's unsubscribe link goes. Each reader's
//! copy is then a few header lines and a concatenation; no Markdown, template
//! or encoding work happens per reader.

use lettre::message::header::{
    ContentTransferEncoding, ContentType, Header, HeaderName, HeaderValue,
};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use lettre::Message;

use crate::config::SecretKey;
use crate::issues::render::escape_attribute;
use crate::issues::RenderedIssue;
use crate::mail::{ListUnsubscribe, ListUnsubscribePost, MailIdentity};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

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

/// `List-Id: "Name" <name.example.com>` (RFC 2919): lets readers filter the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListId(String);

impl ListId {
    /// The id is the newsletter's name made into a label, under the From domain.
    pub fn for_identity(identity: &MailIdentity) -> Self {
        let label: String = identity
            .newsletter_name
            .chars()
            .filter_map(|c| {
                if c.is_ascii_alphanumeric() {
                    Some(c.to_ascii_lowercase())
                } else if c == ' ' || c == '-' || c == '_' || c == '.' {
                    Some('-')
                } else {
                    None
                }
            })
            .collect();
        let label = label.trim_matches('-');
        let label = if label.is_empty() {
            "newsletter"
        } else {
            label
        };
        let phrase = identity
            .newsletter_name
            .replace('\\', "\\\\")
            .replace('"', "\\\"");
        Self(format!(
            "\"{phrase}\" <{label}.{}>",
            identity.from.email.domain()
        ))
    }
}

impl Header for ListId {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Id")
    }

    fn parse(s: &str) -> Result<Self, BoxError> {
        Ok(Self(s.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// An issue ready to go to every reader.
#[derive(Debug, Clone)]
pub struct PreparedIssue {
    issue_id: i64,
    subject: String,
    text: EncodedPart,
    html: EncodedPart,
    list_id: ListId,
}

/// One reader's copy.
pub struct Copy<'a> {
    pub to: Mailbox,
    pub subscriber_id: i64,
    pub unsubscribe_url: &'a str,
}

impl PreparedIssue {
    pub fn new(issue_id: i64, rendered: &RenderedIssue, identity: &MailIdentity) -> Self {
        Self {
            issue_id,
            subject: rendered.subject().as_str().to_owned(),
            text: EncodedPart::encode(rendered.text_parts()),
            html: EncodedPart::encode(rendered.html_parts()),
            list_id: ListId::for_identity(identity),
        }
    }

    pub fn issue_id(&self) -> i64 {
        self.issue_id
    }

    /// The same for the same (issue, reader) on every attempt and in every
    /// process, so a copy sent twice after a crash is recognisably one message;
    /// keyed, so it does not reveal subscriber ids.
    pub fn message_id(&self, key: &SecretKey, subscriber_id: i64, domain: &str) -> String {
        let tag = key.sign(
            "message-id",
            format!("{}:{subscriber_id}", self.issue_id).as_bytes(),
        );
        format!(
            "<issue-{}.{}@{domain}>",
            self.issue_id,
            crate::config::secret_hex(&tag[..12])
        )
    }

    pub fn message(
        &self,
        identity: &MailIdentity,
        key: &SecretKey,
        copy: &Copy<'_>,
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
        // Not `identity.message_to`: its fresh Message-ID costs a host-name
        // lookup per copy, only to be replaced.
        Message::builder()
            .from(identity.from.clone())
            .to(copy.to.clone())
            .message_id(Some(self.message_id(
                key,
                copy.subscriber_id,
                identity.from.email.domain(),
            )))
            .subject(self.subject.as_str())
            .header(self.list_id.clone())
            .header(ListUnsubscribe::new(copy.unsubscribe_url))
            .header(ListUnsubscribePost)
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

    #[test]
    fn list_id_is_a_label_under_the_from_domain() {
        let identity = MailIdentity {
            from: "News <news@example.com>".parse().unwrap(),
            newsletter_name: "The \"Weekly\" Digest".into(),
            postal_address: String::new(),
            site_url: crate::config::BaseUrl::parse("https://example.com").unwrap(),
        };
        assert_eq!(
            ListId::for_identity(&identity).0,
            "\"The \\\"Weekly\\\" Digest\" <the-weekly-digest.example.com>"
        );
    }
}
