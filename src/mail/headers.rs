//! The headers that tell mail filters and readers what a mail is: the list
//! headers of RFC 2369, RFC 2919 and RFC 8058 (which let mail clients show
//! their own "Unsubscribe" button), `Precedence` and `Auto-Submitted`
//! (RFC 3834: no vacation replies), `Feedback-ID` (Gmail's postmaster tools),
//! and `Content-Language`.

use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::MessageBuilder;

use super::list_id::ListId;
use super::MailIdentity;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a mail is; it decides the headers beyond From, To and Subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// The double opt-in link.
    Confirmation,
    /// Sent once an address is confirmed: the first mail from the list.
    Welcome,
    PasswordReset,
    /// The link that confirms a reader's "erase me".
    Erasure,
    /// A reader's copy of an issue; `test` for an editor's test copy.
    IssueCopy {
        issue_id: i64,
        test: bool,
    },
}

impl MailKind {
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
            Self::Welcome => ("signup".to_owned(), "welcome"),
            Self::PasswordReset => ("account".to_owned(), "password-reset"),
            Self::Erasure => ("reader".to_owned(), "erasure"),
            Self::IssueCopy {
                issue_id,
                test: false,
            } => (format!("issue-{issue_id}"), "newsletter"),
            Self::IssueCopy {
                issue_id,
                test: true,
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

/// The headers of one kind of mail that are the same for every reader,
/// made once: an issue's copies share them and add only their own
/// `List-Unsubscribe`.
#[derive(Debug, Clone)]
pub struct KindHeaders(Vec<HeaderValue>);

impl KindHeaders {
    pub fn new(identity: &MailIdentity, sender_domain: &str, kind: MailKind) -> Self {
        Self::for_topic(identity, sender_domain, kind, None)
    }

    /// The headers of a mail of one topic, `(slug, name)`: its `List-Id` is
    /// the topic's (see [`ListId::for_topic`]).
    pub fn for_topic(
        identity: &MailIdentity,
        sender_domain: &str,
        kind: MailKind,
        topic: Option<(&str, &str)>,
    ) -> Self {
        let mut headers = vec![
            raw("Content-Language", identity.language.as_str()),
            raw("Feedback-ID", &kind.feedback_id(sender_domain)),
        ];
        // Copies are bulk mail; the others are sent by Herald on its own, to
        // which no vacation responder should answer (RFC 3834).
        headers.push(match kind {
            MailKind::IssueCopy { .. } => raw("Precedence", "bulk"),
            _ => raw("Auto-Submitted", "auto-generated"),
        });
        if matches!(kind, MailKind::Welcome | MailKind::IssueCopy { .. }) {
            let list_id = match topic {
                Some((slug, name)) => {
                    ListId::for_topic(&identity.newsletter_name, sender_domain, slug, name)
                }
                None => ListId::new(&identity.newsletter_name, sender_domain),
            };
            headers.push(list_id.display());
            headers.push(raw(
                "List-Archive",
                &format!("<{}>", identity.site_url.join("/issues")),
            ));
        }
        Self(headers)
    }

    /// `message` with these headers, and the reader's own unsubscribe link
    /// (with RFC 8058's one-click promise) when the mail has one.
    pub(super) fn add_to(
        &self,
        mut message: MessageBuilder,
        unsubscribe: Option<UnsubscribeLinks<'_>>,
    ) -> MessageBuilder {
        for header in &self.0 {
            message = message.raw_header(header.clone());
        }
        match unsubscribe {
            Some(links) => message
                .header(ListUnsubscribe::with_mailto(links.url, links.mailto))
                .header(ListUnsubscribePost),
            None => message,
        }
    }
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

    /// The https link first (the one RFC 8058's one-click POST goes to),
    /// then the `mailto:` for clients that unsubscribe by mail.
    pub fn with_mailto(url: &str, mailto: Option<&str>) -> Self {
        match mailto {
            Some(address) => Self(format!("<{url}>, <mailto:{address}>")),
            None => Self::new(url),
        }
    }
}

/// Where a reader leaves the list from their mail client: their https
/// unsubscribe link and, when `HERALD_BOUNCE_ADDRESS` is set, an address of
/// the bounce mailbox that unsubscribes them when mailed.
#[derive(Debug, Clone, Copy)]
pub struct UnsubscribeLinks<'a> {
    pub url: &'a str,
    pub mailto: Option<&'a str>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feedback_ids_have_four_fields_the_last_the_sender() {
        let issue = MailKind::IssueCopy {
            issue_id: 42,
            test: false,
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
