//! The headers that tell mail filters and readers what a mail is: the list
//! headers of RFC 2369, RFC 2919 and RFC 8058 (which let mail clients show
//! their own "Unsubscribe" button), `Precedence` and `Auto-Submitted`
//! (RFC 3834: no vacation replies), `Feedback-ID` (Gmail's postmaster tools),
//! and `Content-Language`.

use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::MessageBuilder;
use unicode_normalization::UnicodeNormalization;

use super::MailIdentity;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a mail is; it decides the headers beyond From, To and Subject.
#[derive(Debug, Clone, Copy)]
pub enum MailKind<'a> {
    /// The double opt-in link.
    Confirmation,
    /// Sent once an address is confirmed: the first mail from the list.
    Welcome {
        unsubscribe_url: &'a str,
    },
    PasswordReset,
    /// A reader's copy of an issue; `test` for an editor's test copy.
    IssueCopy {
        issue_id: i64,
        test: bool,
        unsubscribe_url: &'a str,
    },
}

impl MailKind<'_> {
    /// Gmail's `CampaignID:CustomerID:MailTypeID:SenderID`, so its postmaster
    /// tools can tell spam rates apart by issue and by kind of mail. Google
    /// documents "Feedback-ID: a:b:c:SenderId", a, b and c optional
    /// identifiers (campaign, customer, other), "SenderId: Mandatory unique
    /// Identifier (5–15 characters) chosen by the sender. It should be
    /// consistent across the mail stream", data aggregated on "the first 4
    /// fields … starting from the right side", and only for identifiers seen
    /// in enough mail: none may be unique per message
    /// (https://support.google.com/mail/answer/6254652).
    fn feedback_id(&self, sender: &str) -> String {
        let (campaign, mail_type) = match self {
            Self::Confirmation => ("signup".to_owned(), "confirmation"),
            Self::Welcome { .. } => ("signup".to_owned(), "welcome"),
            Self::PasswordReset => ("account".to_owned(), "password-reset"),
            Self::IssueCopy {
                issue_id,
                test: false,
                ..
            } => (format!("issue-{issue_id}"), "newsletter"),
            Self::IssueCopy {
                issue_id,
                test: true,
                ..
            } => (format!("issue-{issue_id}"), "test"),
        };
        format!("{campaign}:herald:{mail_type}:{}", sender_id(sender))
    }
}

/// The From domain as Gmail's SenderId of 5 to 15 characters: as it is when
/// it fits, without its dots (and then cut) when longer, with a prefix when
/// shorter. The same domain always gives the same id.
fn sender_id(domain: &str) -> String {
    match domain.len() {
        5..=15 => domain.to_owned(),
        0..=4 => format!("herald-{domain}"),
        _ => domain
            .chars()
            .filter(|&c| c != '.')
            .take(15)
            .collect::<String>()
            .trim_end_matches('-')
            .to_owned(),
    }
}

/// Adds the headers `kind` calls for to a message from `identity`.
pub(super) fn add_kind_headers(
    mut message: MessageBuilder,
    identity: &MailIdentity,
    sender_domain: &str,
    kind: MailKind<'_>,
) -> MessageBuilder {
    message = message
        .raw_header(raw("Content-Language", identity.language.as_str()))
        .raw_header(raw("Feedback-ID", &kind.feedback_id(sender_domain)));
    let unsubscribe_url = match kind {
        MailKind::Confirmation | MailKind::PasswordReset => {
            return message.raw_header(raw("Auto-Submitted", "auto-generated"));
        }
        MailKind::Welcome { unsubscribe_url } => {
            message = message.raw_header(raw("Auto-Submitted", "auto-generated"));
            unsubscribe_url
        }
        MailKind::IssueCopy {
            unsubscribe_url, ..
        } => {
            message = message.raw_header(raw("Precedence", "bulk"));
            unsubscribe_url
        }
    };
    message
        .header(ListId::new(&identity.newsletter_name, sender_domain))
        .raw_header(raw(
            "List-Archive",
            &format!("<{}>", identity.site_url.join("/issues")),
        ))
        .header(ListUnsubscribe::new(unsubscribe_url))
        .header(ListUnsubscribePost)
}

/// A header whose value is ASCII made by Herald (no reader's text).
fn raw(name: &'static str, value: &str) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value.to_owned())
}

/// `List-Unsubscribe: <https://…/unsubscribe?token=…>`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListUnsubscribe(String);

impl ListUnsubscribe {
    pub fn new(url: &str) -> Self {
        Self(format!("<{url}>"))
    }
}

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, BoxError> {
        Ok(Self(s.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(_: &str) -> Result<Self, BoxError> {
        Ok(Self)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_owned())
    }
}

/// `List-Id: "Name" <name.example.com>` (RFC 2919): lets readers filter the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListId {
    /// The phrase as a reader reads it.
    name: String,
    /// `label.domain`, ASCII.
    id: String,
}

impl ListId {
    /// The id is the newsletter's name made into an ASCII label, under the From domain.
    pub fn new(newsletter_name: &str, domain: &str) -> Self {
        Self {
            name: newsletter_name.to_owned(),
            id: format!("{}.{domain}", list_label(newsletter_name)),
        }
    }

    /// `label.domain`.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl Header for ListId {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Id")
    }

    fn parse(s: &str) -> Result<Self, BoxError> {
        let (name, id) = s
            .rsplit_once('<')
            .ok_or("a List-Id has its id in angle brackets")?;
        Ok(Self {
            name: name.trim().trim_matches('"').to_owned(),
            id: id.trim_end_matches('>').to_owned(),
        })
    }

    fn display(&self) -> HeaderValue {
        // An ASCII name goes in quotes; any other as RFC 2047 encoded words,
        // which may stand for a phrase but not inside quotes.
        let encoded = if self.name.is_ascii() {
            let quoted = self.name.replace('\\', "\\\\").replace('"', "\\\"");
            format!("\"{quoted}\" <{}>", self.id)
        } else {
            use base64::Engine;
            let words: Vec<String> = utf8_chunks(&self.name, 45)
                .map(|chunk| {
                    format!(
                        "=?utf-8?b?{}?=",
                        base64::engine::general_purpose::STANDARD.encode(chunk)
                    )
                })
                .collect();
            format!("{} <{}>", words.join("\r\n "), self.id)
        };
        HeaderValue::dangerous_new_pre_encoded(Self::name(), self.name.clone(), encoded)
    }
}

/// Pieces of at most `max_bytes` bytes, each whole characters, so that each
/// encoded word stays under RFC 2047's 75 characters.
fn utf8_chunks(text: &str, max_bytes: usize) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = rest.len().min(max_bytes);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (chunk, tail) = rest.split_at(end);
        rest = tail;
        Some(chunk)
    })
}

/// The newsletter's name as a lower-case ASCII label: accents dropped
/// (Unicode NFKD, then the combining marks left out: "Café Ñews" is
/// `cafe-news`), spaces and punctuation as single hyphens. A name with no
/// ASCII letter or digit at all goes through IDNA (`xn--…`), and
/// `newsletter` is the last resort.
fn list_label(newsletter_name: &str) -> String {
    let mut label = String::new();
    let mut non_ascii_dropped = false;
    for c in newsletter_name.nfkd() {
        if c.is_ascii_alphanumeric() {
            label.push(c.to_ascii_lowercase());
        } else if c.is_ascii() || c.is_whitespace() {
            if !label.is_empty() && !label.ends_with('-') {
                label.push('-');
            }
        } else if !is_combining_mark(c) {
            non_ascii_dropped = true;
        }
    }
    let label = label.trim_end_matches('-');
    if !label.is_empty() {
        return label
            .chars()
            .take(63)
            .collect::<String>()
            .trim_end_matches('-')
            .to_owned();
    }
    if non_ascii_dropped {
        let words: Vec<String> = newsletter_name
            .split(|c: char| !c.is_alphanumeric())
            .filter(|word| !word.is_empty())
            .map(str::to_lowercase)
            .collect();
        if let Ok(ascii) = idna::domain_to_ascii(&words.join("-")) {
            if !ascii.is_empty() && ascii.len() <= 63 && !ascii.contains('.') {
                return ascii;
            }
        }
    }
    "newsletter".to_owned()
}

/// The accents NFKD splits off a letter (the Combining Diacritical Marks
/// blocks); other non-ASCII characters stand for letters of their own.
fn is_combining_mark(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{20D0}'..='\u{20FF}'
        | '\u{FE20}'..='\u{FE2F}'
        | '\u{3099}'..='\u{309A}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_labels_are_ascii_and_keep_the_letters_under_the_accents() {
        assert_eq!(list_label("Café Ñews"), "cafe-news");
        assert_eq!(list_label("The \"Weekly\" Digest"), "the-weekly-digest");
        assert_eq!(list_label("Ärzte-Blatt · München"), "arzte-blatt-munchen");
        assert_eq!(list_label("ﬁnance Ⅳ"), "finance-iv");
        assert_eq!(list_label("日本語ニュース"), "xn--zck9awe6ds833acvb2w6i");
        assert_eq!(list_label("Новости"), "xn--b1amnebsh");
        assert_eq!(list_label("!!!"), "newsletter");
        assert_eq!(list_label(""), "newsletter");
    }

    fn list_id_line(name: &str) -> String {
        let message = lettre::Message::builder()
            .from("a@example.com".parse().unwrap())
            .to("b@example.com".parse().unwrap())
            .header(ListId::new(name, "example.com"))
            .body(String::new())
            .unwrap();
        let formatted = String::from_utf8(message.formatted()).unwrap();
        let start = formatted.find("List-Id: ").unwrap();
        let end = start + formatted[start..].find("\r\n").unwrap();
        formatted[start..end].to_owned()
    }

    #[test]
    fn a_non_ascii_list_name_is_encoded_and_the_id_stays_plain() {
        let encoded = list_id_line("Café Ñews");
        assert_eq!(
            encoded,
            "List-Id: =?utf-8?b?Q2Fmw6kgw5Fld3M=?= <cafe-news.example.com>"
        );
        assert_eq!(
            list_id_line("The \"Weekly\" Digest"),
            "List-Id: \"The \\\"Weekly\\\" Digest\" <the-weekly-digest.example.com>"
        );
    }

    #[test]
    fn feedback_ids_have_four_fields_the_last_the_sender() {
        let issue = MailKind::IssueCopy {
            issue_id: 42,
            test: false,
            unsubscribe_url: "https://x/u",
        };
        assert_eq!(
            issue.feedback_id("news.example.org"),
            "issue-42:herald:newsletter:newsexampleorg"
        );
        assert_eq!(
            MailKind::Confirmation.feedback_id("example.org"),
            "signup:herald:confirmation:example.org"
        );
    }

    #[test]
    fn the_sender_id_has_5_to_15_characters() {
        assert_eq!(sender_id("example.org"), "example.org");
        assert_eq!(sender_id("news.example.org"), "newsexampleorg");
        assert_eq!(
            sender_id("letters.mail.example-company.com"),
            "lettersmailexam"
        );
        assert_eq!(sender_id("a.io"), "herald-a.io");
        for domain in ["x.y", "example.org", "a-very-long-subdomain.of.example.org"] {
            assert!((5..=15).contains(&sender_id(domain).len()), "{domain}");
        }
    }
}
