//! An issue made ready for a send: rendered once, its two parts transfer-encoded
//! once around the places each reader's link token goes, and the whole
//! message built once by lettre as a byte template (see [`CopyTemplate`]).
//! Each reader's copy is then a few header lines and a concatenation; no
//! Markdown, template, MIME or encoding work happens per reader.

use lettre::address::Envelope;
use lettre::message::header::{self, ContentTransferEncoding, ContentType, Headers};
use lettre::message::{Body, Mailbox, Mailboxes, MultiPart, SinglePart};
use lettre::{Address, Message};

use crate::bounces::{message_id_for, ReturnTarget};
use crate::config::SecretKey;
use crate::issues::render::escape_attribute;
use crate::issues::render::{FieldTexts, Reader, Slot};
use crate::issues::RenderedIssue;
use crate::mail::{
    ascii_domain_mailbox, KindHeaders, ListUnsubscribe, ListUnsubscribePost, MailIdentity,
    MailKind, UnsubscribeLinks,
};

/// One part (text or HTML) in quoted-printable pieces, split where each
/// reader's values go (their token, their name, their fields).
#[derive(Debug, Clone)]
struct EncodedPart {
    pieces: Vec<Vec<u8>>,
    slots: Vec<Slot>,
    /// Whether values are HTML-escaped before encoding.
    html: bool,
    encoded_len: usize,
}

impl EncodedPart {
    fn encode((pieces, slots): (&[String], &[Slot]), html: bool) -> Self {
        // Quoted-printable wants CRLF line ends; each piece ends with a soft
        // line break so that pieces and values join without a line over 76 characters.
        let pieces: Vec<Vec<u8>> = pieces
            .iter()
            .map(|piece| {
                quoted_printable::encode(piece.replace("\r\n", "\n").replace('\n', "\r\n"))
            })
            .collect();
        let encoded_len = pieces.iter().map(Vec::len).sum();
        Self {
            pieces,
            slots: slots.to_vec(),
            html,
            encoded_len,
        }
    }

    /// A slot's value for `reader`, escaped for this part and quoted-printable.
    fn encoded_value(&self, slot: &Slot, reader: &Reader<'_>) -> Vec<u8> {
        let value = slot.value(reader);
        if self.html {
            quoted_printable::encode(escape_attribute(value))
        } else {
            quoted_printable::encode(value)
        }
    }

    /// The part with `reader`'s values wherever the placeholders were,
    /// still quoted-printable.
    fn with_reader(&self, reader: &Reader<'_>) -> Vec<u8> {
        self.joined(|_, slot| self.encoded_value(slot, reader))
    }

    /// The part with `value(index, slot)` (already encoded) in each slot.
    fn joined(&self, mut value: impl FnMut(usize, &Slot) -> Vec<u8>) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len + 96 * self.slots.len());
        for (index, piece) in self.pieces.iter().enumerate() {
            if index > 0 {
                out.extend_from_slice(&value(index - 1, &self.slots[index - 1]));
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
    /// Whether copies need the readers' field values.
    uses_fields: bool,
    /// The From domain in ASCII, right of every Message-ID.
    sender_domain: String,
    /// The headers every reader's copy shares, and every test copy.
    copy_headers: KindHeaders,
    test_headers: KindHeaders,
    /// Every reader's copy but its own header lines and links; `None` only
    /// if lettre could not build the message, and then each copy is built
    /// by lettre (and fails the same way).
    template: Option<CopyTemplate>,
}

/// One reader's copy as it goes on the wire (before any DKIM signature),
/// and the envelope it leaves with unless a VERP sender replaces it.
pub struct CopyBytes {
    pub bytes: Vec<u8>,
    pub envelope: Envelope,
}

/// The reader's copy as lettre formats it, made once per send with marker
/// links and cut into the parts every copy shares: the header fields but
/// To, Message-ID and Date, and the body cut where each part's
/// unsubscribe link goes. A copy is then its own header fields (formatted
/// by lettre's own `Headers`, so names and addresses are encoded and folded
/// as before), the shared ones and the body with its links spliced in.
/// Building each copy with lettre's builder (headers, MIME tree, about four
/// copies of the 33 KB message) was most of Herald's own CPU time per copy
/// in the delivery benchmark (docs/performance.md).
#[derive(Debug, Clone)]
struct CopyTemplate {
    /// Header fields, each ending in CRLF, MIME-Version and Content-Type included.
    shared_headers: Vec<u8>,
    body: Vec<BodySegment>,
    body_len: usize,
    from: Option<Address>,
}

#[derive(Debug, Clone)]
enum BodySegment {
    Shared(Vec<u8>),
    /// The reader's token in the plain-text part, quoted-printable.
    TextLink,
    /// The reader's token in the HTML part, attribute-escaped, then quoted-printable.
    HtmlLink,
    /// Another reader's value (name, field) of the plain-text part's slots.
    TextSlot(Slot),
    /// The same in the HTML part: escaped, then quoted-printable.
    HtmlSlot(Slot),
}

/// Digits after a template's marker: which slot of its part it stands for.
const SLOT_DIGITS: usize = 5;

/// The fields each copy writes itself; dropped from the template.
const PER_COPY_FIELDS: [&str; 3] = ["To", "Message-ID", "Date"];

impl CopyTemplate {
    /// Cuts `message`, built with `text_marker` and `html_marker` as its
    /// links. None if a marker is missing, which would mean lettre or the
    /// encoding changed a link: copies are then built by lettre.
    fn cut(
        message: &Message,
        (text_marker, text_slots): (&str, &[Slot]),
        (html_marker, html_slots): (&str, &[Slot]),
    ) -> Option<Self> {
        let formatted = message.formatted();
        let end = memchr::memmem::find(&formatted, b"\r\n\r\n")?;
        let (head, body) = (&formatted[..end + 2], &formatted[end + 2..]);
        let mut shared_headers = Vec::with_capacity(head.len());
        let mut keep = true;
        for line in head.split_inclusive(|&byte| byte == b'\n') {
            let continues = line.first().is_some_and(|&b| b == b' ' || b == b'\t');
            if !continues {
                let name = line.split(|&b| b == b':').next().unwrap_or_default();
                keep = !PER_COPY_FIELDS
                    .iter()
                    .any(|field| name.eq_ignore_ascii_case(field.as_bytes()));
            }
            if keep {
                shared_headers.extend_from_slice(line);
            }
        }
        let mut segments = Vec::new();
        let mut rest = body;
        let mut links = 0;
        loop {
            let text = memchr::memmem::find(rest, text_marker.as_bytes());
            let html = memchr::memmem::find(rest, html_marker.as_bytes());
            let (at, len, is_html) = match (text, html) {
                (Some(t), Some(h)) if h < t => (h, html_marker.len(), true),
                (Some(t), _) => (t, text_marker.len(), false),
                (None, Some(h)) => (h, html_marker.len(), true),
                (None, None) => break,
            };
            let digits = rest.get(at + len..at + len + SLOT_DIGITS)?;
            let index: usize = std::str::from_utf8(digits).ok()?.parse().ok()?;
            let slot = if is_html { html_slots } else { text_slots }.get(index)?;
            segments.push(BodySegment::Shared(rest[..at].to_vec()));
            segments.push(match (slot, is_html) {
                (Slot::Token, false) => BodySegment::TextLink,
                (Slot::Token, true) => BodySegment::HtmlLink,
                (slot, false) => BodySegment::TextSlot(slot.clone()),
                (slot, true) => BodySegment::HtmlSlot(slot.clone()),
            });
            links += 1;
            rest = &rest[at + len + SLOT_DIGITS..];
        }
        segments.push(BodySegment::Shared(rest.to_vec()));
        if links == 0 {
            return None;
        }
        Some(Self {
            shared_headers,
            body_len: body.len(),
            body: segments,
            from: message.envelope().from().cloned(),
        })
    }

    /// `reader`'s token goes in the body's links, their other values in
    /// the other slots, `links` in `List-Unsubscribe`.
    fn copy(
        &self,
        to: Mailbox,
        message_id: String,
        reader: &Reader<'_>,
        links: UnsubscribeLinks<'_>,
    ) -> Result<CopyBytes, lettre::error::Error> {
        let token = reader.token;
        let to = ascii_domain_mailbox(to);
        let mut own = Headers::new();
        own.set(header::To::from(Mailboxes::from(to.clone())));
        own.set(header::MessageId::from(message_id));
        own.set(header::Date::now());
        own.set(ListUnsubscribe::with_mailto(links.url, links.mailto));
        own.set(ListUnsubscribePost);
        let own = own.to_string();
        let text_link = quoted_printable::encode(token);
        let html_link = quoted_printable::encode(escape_attribute(token));
        let mut bytes = Vec::with_capacity(
            self.shared_headers.len() + own.len() + self.body_len + 4 * html_link.len(),
        );
        bytes.extend_from_slice(&self.shared_headers);
        bytes.extend_from_slice(own.as_bytes());
        for segment in &self.body {
            match segment {
                BodySegment::Shared(shared) => bytes.extend_from_slice(shared),
                BodySegment::TextLink => bytes.extend_from_slice(&text_link),
                BodySegment::HtmlLink => bytes.extend_from_slice(&html_link),
                BodySegment::TextSlot(slot) => {
                    bytes.extend_from_slice(&quoted_printable::encode(slot.value(reader)));
                }
                BodySegment::HtmlSlot(slot) => bytes.extend_from_slice(&quoted_printable::encode(
                    escape_attribute(slot.value(reader)),
                )),
            }
        }
        let envelope = Envelope::new(self.from.clone(), vec![to.email])?;
        Ok(CopyBytes { bytes, envelope })
    }
}

/// One reader's copy.
pub struct Copy<'a> {
    pub to: Mailbox,
    pub subscriber_id: i64,
    /// The one-click URL of `List-Unsubscribe`.
    pub unsubscribe_url: &'a str,
    /// The reader's link token, for the footer's links.
    pub token: &'a str,
    /// The reader's name, for `{{ name }}` (none: the tag's default).
    pub name: Option<&'a str>,
    /// The reader's public field values, when the issue uses fields.
    pub fields: Option<&'a FieldTexts>,
    /// The `mailto:` unsubscribe address, when the bounce mailbox is set.
    pub unsubscribe_mailto: Option<&'a str>,
}

impl Copy<'_> {
    fn reader(&self) -> Reader<'_> {
        Reader {
            token: self.token,
            name: self.name,
            fields: self.fields,
        }
    }
}

impl PreparedIssue {
    pub fn new(issue_id: i64, rendered: &RenderedIssue, identity: &MailIdentity) -> Self {
        let sender_domain = identity.sender_domain();
        let kind = |test| MailKind::IssueCopy { issue_id, test };
        let list_topic = rendered
            .list_topic()
            .map(|topic| (topic.slug.as_str(), topic.name.as_str()));
        let headers =
            |test| KindHeaders::for_topic(identity, &sender_domain, kind(test), list_topic);
        let mut prepared = Self {
            copy_headers: headers(false),
            test_headers: headers(true),
            sender_domain,
            issue_id,
            subject: rendered.subject().as_str().to_owned(),
            text: EncodedPart::encode(rendered.text_parts(), false),
            html: EncodedPart::encode(rendered.html_parts(), true),
            uses_fields: rendered.uses_fields(),
            template: None,
        };
        prepared.template = prepared.cut_template(identity);
        prepared
    }

    fn cut_template(&self, identity: &MailIdentity) -> Option<CopyTemplate> {
        // Letters and digits only: quoted-printable and attribute escaping
        // leave them as they are, and no issue's text holds them.
        let marker = crate::config::secret_hex(&rand::random::<[u8; 12]>());
        let (text_marker, html_marker) =
            (format!("HeraldText{marker}"), format!("HeraldHtml{marker}"));
        let marked = |marker: &str, index: usize| format!("{marker}{index:05}").into_bytes();
        let message = self
            .build_with_bodies(
                identity,
                identity.from.clone(),
                format!("<template@{}>", self.sender_domain),
                &self.copy_headers,
                "",
                (
                    self.text.joined(|index, _| marked(&text_marker, index)),
                    self.html.joined(|index, _| marked(&html_marker, index)),
                ),
                None,
            )
            .ok()?;
        CopyTemplate::cut(
            &message,
            (&text_marker, &self.text.slots),
            (&html_marker, &self.html.slots),
        )
    }

    /// A reader's copy as bytes, from the template: the same message as
    /// [`PreparedIssue::message`] gives, its header fields in another order.
    pub fn copy(
        &self,
        identity: &MailIdentity,
        key: &SecretKey,
        copy: &Copy<'_>,
    ) -> Result<CopyBytes, lettre::error::Error> {
        let Some(template) = &self.template else {
            let message = self.message(identity, key, copy)?;
            return Ok(CopyBytes {
                bytes: message.formatted(),
                envelope: message.envelope().clone(),
            });
        };
        let message_id = self.message_id(key, copy.subscriber_id, &self.sender_domain);
        template.copy(
            copy.to.clone(),
            message_id,
            &copy.reader(),
            UnsubscribeLinks {
                url: copy.unsubscribe_url,
                mailto: copy.unsubscribe_mailto,
            },
        )
    }

    pub fn issue_id(&self) -> i64 {
        self.issue_id
    }

    /// Whether each copy needs its reader's field values (loaded with the claim).
    pub fn uses_fields(&self) -> bool {
        self.uses_fields
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
        let reader = copy.reader();
        self.build_with_bodies(
            identity,
            copy.to.clone(),
            message_id,
            headers,
            subject_prefix,
            (
                self.text.with_reader(&reader),
                self.html.with_reader(&reader),
            ),
            Some(UnsubscribeLinks {
                url: copy.unsubscribe_url,
                mailto: copy.unsubscribe_mailto,
            }),
        )
    }

    /// `bodies`: the text part and the HTML part, quoted-printable, with
    /// the reader's values in.
    #[allow(clippy::too_many_arguments)]
    fn build_with_bodies(
        &self,
        identity: &MailIdentity,
        to: Mailbox,
        message_id: String,
        headers: &KindHeaders,
        subject_prefix: &str,
        (text, html): (Vec<u8>, Vec<u8>),
        unsubscribe: Option<UnsubscribeLinks<'_>>,
    ) -> Result<Message, lettre::error::Error> {
        let text = Body::dangerous_pre_encoded(text, ContentTransferEncoding::QuotedPrintable);
        let html = Body::dangerous_pre_encoded(html, ContentTransferEncoding::QuotedPrintable);
        let subject = if subject_prefix.is_empty() {
            self.subject.clone()
        } else {
            format!("{subject_prefix}{}", self.subject)
        };
        identity
            .message_with(to, message_id, headers, unsubscribe)
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
    use crate::config::BaseUrl;
    use crate::issues::domain::{HeaderInput, ItemInput};
    use crate::issues::Issue;
    use mail_parser::{HeaderValue as Parsed, MessageParser};

    fn identity() -> MailIdentity {
        MailIdentity {
            from: "Die Zeitung Bücher <news@bücher.example>"
                .parse()
                .expect("a mailbox"),
            newsletter_name: "Die Zeitung".into(),
            postal_address: "1 Test Street".into(),
            site_url: BaseUrl::parse("https://herald.example").expect("a URL"),
            reply_to: Some("Desk <desk@herald.example>".parse().expect("a mailbox")),
            language: crate::config::Language::default(),
        }
    }

    fn issue() -> Issue {
        let header = HeaderInput {
            subject: "Ünïcödé week: a subject long enough that lettre must fold it over two lines"
                .into(),
            preheader: "Before".into(),
            intro: "Hello **all**.\n\n.A line starting with a dot".into(),
        };
        let items = vec![ItemInput {
            title: "One <b>story</b>".into(),
            url: "https://example.com/one".into(),
            source: "Wire".into(),
            date: "2026-11-29".into(),
            summary: "A summary with = signs, é and a long line ".repeat(8),
        }];
        Issue {
            id: 12,
            ..crate::issues::render::tests::issue(header, items)
        }
    }

    /// Every header but Date, by name, as mail_parser reads it.
    fn headers_of(raw: &[u8]) -> Vec<(String, String)> {
        let message = MessageParser::default().parse(raw).expect("parses");
        let mut headers: Vec<(String, String)> = message
            .headers()
            .iter()
            .filter(|header| !header.name().eq_ignore_ascii_case("Date"))
            .map(|header| {
                let value = match header.value() {
                    Parsed::ContentType(content_type) => {
                        // The boundary is random per message.
                        format!("{}/{:?}", content_type.ctype(), content_type.subtype())
                    }
                    other => format!("{other:?}"),
                };
                (header.name().to_owned(), value)
            })
            .collect();
        headers.sort();
        headers
    }

    fn parts_of(raw: &[u8]) -> (String, String) {
        let message = MessageParser::default().parse(raw).expect("parses");
        (
            message.body_text(0).expect("a text part").into_owned(),
            message.body_html(0).expect("an HTML part").into_owned(),
        )
    }

    #[test]
    fn a_copy_from_the_template_is_the_message_lettre_builds() {
        let identity = identity();
        let rendered = RenderedIssue::render(&issue(), &identity).expect("renders");
        let prepared = PreparedIssue::new(12, &rendered, &identity);
        assert!(prepared.template.is_some(), "the template was cut");
        let key = SecretKey::from_secret(&secrecy::SecretString::from("k".repeat(48)));
        let token = "t".repeat(90);
        let url = format!("https://herald.example/unsubscribe?token={token}&issue=12");
        let reader = Copy {
            to: Mailbox::new(
                Some("Renée Ünïcode, Jr.".to_owned()),
                "renee@bücher.example".parse().expect("an address"),
            ),
            subscriber_id: 4242,
            unsubscribe_url: &url,
            token: &token,
            unsubscribe_mailto: Some("bounces+abc@herald.example"),
            name: None,
            fields: None,
        };
        let built = prepared.message(&identity, &key, &reader).expect("builds");
        let copy = prepared.copy(&identity, &key, &reader).expect("copies");
        let built_raw = built.formatted();

        assert_eq!(headers_of(&copy.bytes), headers_of(&built_raw));
        assert_eq!(parts_of(&copy.bytes), parts_of(&built_raw));
        assert!(parts_of(&copy.bytes).0.contains(&url));
        assert!(parts_of(&copy.bytes).1.contains(&escape_attribute(&url)));
        assert!(parts_of(&copy.bytes)
            .0
            .contains(&format!("https://herald.example/preferences?token={token}")));
        assert_eq!(&copy.envelope, built.envelope());
        let dates = MessageParser::default()
            .parse(&copy.bytes[..])
            .expect("parses")
            .headers()
            .iter()
            .filter(|header| header.name().eq_ignore_ascii_case("Date"))
            .count();
        assert_eq!(dates, 1);
        for line in copy.bytes.split(|&b| b == b'\n') {
            assert!(line.len() <= 998, "a line over SMTP's limit");
            assert!(line.is_empty() || line.ends_with(b"\r"), "a bare LF");
        }
    }

    #[test]
    fn a_personal_copy_from_the_template_carries_its_readers_values() {
        let identity = identity();
        let header = HeaderInput {
            subject: "Personal".into(),
            preheader: String::new(),
            intro: "Hi {{ name | default(\"reader\") }} in {{ fields.city }}!".into(),
        };
        let issue = Issue {
            id: 12,
            ..crate::issues::render::tests::issue(header, Vec::new())
        };
        let rendered = RenderedIssue::render(&issue, &identity).expect("renders");
        assert!(rendered.uses_fields());
        let prepared = PreparedIssue::new(12, &rendered, &identity);
        assert!(prepared.template.is_some(), "the template was cut");
        let key = SecretKey::from_secret(&secrecy::SecretString::from("k".repeat(48)));
        let fields = FieldTexts::from([("city".to_owned(), "Zürich & Co".to_owned())]);
        let url = "https://herald.example/unsubscribe?token=tok";
        let reader = Copy {
            to: Mailbox::new(None, "ann@example.com".parse().expect("an address")),
            subscriber_id: 7,
            unsubscribe_url: url,
            token: "tok",
            unsubscribe_mailto: None,
            name: Some("<Ann>"),
            fields: Some(&fields),
        };
        let built = prepared.message(&identity, &key, &reader).expect("builds");
        let copy = prepared.copy(&identity, &key, &reader).expect("copies");
        let (text, html) = parts_of(&copy.bytes);
        assert_eq!((text.clone(), html.clone()), parts_of(&built.formatted()));
        assert!(text.contains("Hi <Ann> in Zürich & Co!"), "{text}");
        assert!(
            html.contains("Hi &lt;Ann&gt; in Zürich &amp; Co!"),
            "{html}"
        );
        let nobody = Copy {
            name: None,
            fields: None,
            ..reader
        };
        let (text, _) = parts_of(
            &prepared
                .copy(&identity, &key, &nobody)
                .expect("copies")
                .bytes,
        );
        assert!(text.contains("Hi reader in !"), "{text}");
    }

    #[test]
    fn a_link_joins_the_pieces_as_quoted_printable_that_decodes_to_the_personal_text() {
        let long = "Ünïcödé and a line far longer than seventy-six characters, which quoted-printable must break softly.";
        let pieces = vec![format!("Hello\n{long}\nLeave: "), "\nBye\n".to_owned()];
        let part = EncodedPart::encode((&pieces, &[Slot::Token]), false);
        let link = "https://news.example.com/unsubscribe?token=abc=def";
        let encoded = part.with_reader(&Reader {
            token: link,
            name: None,
            fields: None,
        });
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
