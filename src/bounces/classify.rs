//! What a message that came back says: a hard or soft bounce, a policy
//! refusal, a delay, an auto-reply, a complaint, or nothing Herald cares
//! about. Reads RFC 3464 delivery status notifications (with RFC 3463
//! enhanced codes), RFC 5965 feedback reports, RFC 3834 auto-replies and
//! the plain-text notices qmail and Exim still send.
//!
//! The rule that matters most: only a code or text that names the address
//! as dead makes a hard bounce. Anything unclear is at most soft, which only
//! counts; a reader is never suppressed on a guess.

use mail_parser::{Message, MessageParser, MimeHeaders};

/// What the report says happened to one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BounceClass {
    /// The address does not exist or is disabled: stop mailing it now.
    Hard,
    /// Full mailbox, expired, temporary: counted; many in a row make a hard one.
    Soft,
    /// Refused for the sender's reputation or content, not the reader's fault.
    Policy,
    /// Still trying (`Action: delayed`).
    Delayed,
    /// An out-of-office or other automatic answer.
    AutoReply,
    /// The reader marked the mail as spam (an ARF report).
    Complaint,
}

impl BounceClass {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Hard => "hard bounce",
            Self::Soft => "soft bounce",
            Self::Policy => "policy bounce",
            Self::Delayed => "delayed",
            Self::AutoReply => "auto-reply",
            Self::Complaint => "complaint",
        }
    }
}

/// A message that came back, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspected {
    /// The report's own Message-ID, to handle each report once.
    pub message_id: Option<String>,
    /// Where the report was delivered (`Delivered-To`, `X-Original-To`,
    /// `To`): a VERP address names the copy it is about.
    pub addressed_to: Vec<String>,
    /// `None` when it is not a bounce, a complaint or an auto-reply.
    pub report: Option<Report>,
}

/// What a report says, about whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub class: BounceClass,
    /// The address that failed (Final-Recipient, Original-Rcpt-To, or the
    /// one a plain-text notice names), as the report gives it.
    pub recipient: Option<String>,
    /// The RFC 3463 code, `5.1.1`.
    pub status: Option<String>,
    /// The remote server's words, for the `bounced` event.
    pub diagnostic: Option<String>,
    /// The Message-ID of the returned original, when it came back with it.
    pub original_message_id: Option<String>,
}

/// Reads `raw` (one RFC 5322 message). Never fails: what cannot be parsed
/// is simply not a report.
pub fn inspect(raw: &[u8]) -> Inspected {
    let Some(message) = MessageParser::default().parse(raw) else {
        return Inspected {
            message_id: None,
            addressed_to: Vec::new(),
            report: None,
        };
    };
    let addressed_to = ["Delivered-To", "X-Original-To", "To"]
        .iter()
        .flat_map(|name| header_values(&message, name))
        .flat_map(|value| addresses_in(&value))
        .collect();
    let report = feedback_report(&message)
        .or_else(|| delivery_status(&message))
        // Before auto-replies: Exim marks its notices `Auto-Submitted` too.
        .or_else(|| plain_text_notice(&message))
        .or_else(|| auto_reply(&message));
    Inspected {
        message_id: message.message_id().map(str::to_owned),
        addressed_to,
        report,
    }
}

/// The raw values of every `name` header at the top of `message`, unfolded.
fn header_values(message: &Message<'_>, name: &str) -> Vec<String> {
    message
        .headers_raw()
        .filter(|(header, _)| header.eq_ignore_ascii_case(name))
        .map(|(_, value)| unfold(value))
        .collect()
}

fn unfold(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `a@b` and `<a@b>` forms in a header value, lower-cased.
fn addresses_in(value: &str) -> Vec<String> {
    value
        .split([',', ' ', '<', '>', ';', '"'])
        .filter(|word| word.contains('@') && !word.starts_with('@') && !word.ends_with('@'))
        .map(str::to_ascii_lowercase)
        .collect()
}

/// The fields of a `message/delivery-status` or `message/feedback-report`
/// body: groups of `Name: value` lines separated by blank lines, with
/// folded lines joined. Names lower-cased.
fn field_groups(body: &str) -> Vec<Vec<(String, String)>> {
    let mut groups = Vec::new();
    let mut group: Vec<(String, String)> = Vec::new();
    for line in body.lines() {
        if line.trim().is_empty() {
            if !group.is_empty() {
                groups.push(std::mem::take(&mut group));
            }
        } else if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = group.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            group.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    if !group.is_empty() {
        groups.push(group);
    }
    groups
}

fn field<'a>(group: &'a [(String, String)], name: &str) -> Option<&'a str> {
    group
        .iter()
        .find(|(field, _)| field == name)
        .map(|(_, value)| value.as_str())
}

/// `rfc822; a@b` → `a@b`.
fn typed_address(value: &str) -> String {
    let address = value.split_once(';').map_or(value, |(_, address)| address);
    address.trim().trim_matches(['<', '>']).to_ascii_lowercase()
}

/// The Message-ID of the original: of the copy that came back attached,
/// whole (`message/rfc822`) or as headers only (`text/rfc822-headers`);
/// else the one the report answers (In-Reply-To, then the last of
/// References), as auto-replies and some MTAs give it.
fn original_message_id(message: &Message<'_>) -> Option<String> {
    let attached = message.parts.iter().find_map(|part| {
        if let Some(original) = part.message() {
            return original.message_id().map(str::to_owned);
        }
        let kind = part.content_type()?;
        if kind.ctype().eq_ignore_ascii_case("text")
            && kind
                .subtype()
                .is_some_and(|sub| sub.eq_ignore_ascii_case("rfc822-headers"))
        {
            let headers = part.text_contents()?;
            let parsed = MessageParser::default().parse_headers(headers.as_bytes())?;
            return parsed.message_id().map(str::to_owned);
        }
        None
    });
    attached
        .or_else(|| message.in_reply_to().as_text().map(str::to_owned))
        .or_else(|| message.references().as_text().map(str::to_owned))
}

/// RFC 5965: `multipart/report; report-type=feedback-report`.
fn feedback_report(message: &Message<'_>) -> Option<Report> {
    let part = message.parts.iter().find(|part| {
        part.content_type().is_some_and(|kind| {
            kind.ctype().eq_ignore_ascii_case("message")
                && kind
                    .subtype()
                    .is_some_and(|sub| sub.eq_ignore_ascii_case("feedback-report"))
        })
    })?;
    let body = String::from_utf8_lossy(part.contents());
    let fields: Vec<(String, String)> = field_groups(&body).into_iter().flatten().collect();
    let feedback_type = field(&fields, "feedback-type")?;
    // abuse is "unsolicited mail"; fraud and virus reports are complaints
    // too. not-spam, auth-failure and other are not about the reader.
    if !["abuse", "fraud", "virus"]
        .iter()
        .any(|kind| feedback_type.eq_ignore_ascii_case(kind))
    {
        return None;
    }
    let recipient = field(&fields, "original-rcpt-to")
        .map(typed_address)
        .or_else(|| {
            message
                .parts
                .iter()
                .find_map(|part| part.message())
                .and_then(|original| original.to())
                .and_then(|to| to.first())
                .and_then(|to| to.address())
                .map(str::to_ascii_lowercase)
        });
    Some(Report {
        class: BounceClass::Complaint,
        recipient,
        status: None,
        diagnostic: Some(format!("feedback-type {feedback_type}")),
        original_message_id: original_message_id(message),
    })
}

/// RFC 3464: a `message/delivery-status` part (or RFC 6533's global one).
fn delivery_status(message: &Message<'_>) -> Option<Report> {
    let part = message.parts.iter().find(|part| {
        part.content_type().is_some_and(|kind| {
            kind.ctype().eq_ignore_ascii_case("message")
                && kind.subtype().is_some_and(|sub| {
                    sub.eq_ignore_ascii_case("delivery-status")
                        || sub.eq_ignore_ascii_case("global-delivery-status")
                })
        })
    })?;
    let body = String::from_utf8_lossy(part.contents());
    // The first group is about the message; each further one, a recipient.
    // Herald sends each copy to one reader: the first recipient that failed
    // or was delayed is the one.
    let groups = field_groups(&body);
    let recipient = groups.iter().skip(1).find(|group| {
        field(group, "action").is_some_and(|action| {
            let action = action.to_ascii_lowercase();
            action.starts_with("failed") || action.starts_with("delayed")
        })
    })?;
    let action = field(recipient, "action")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let diagnostic = field(recipient, "diagnostic-code").map(|code| {
        code.split_once(';')
            .map_or(code, |(_, words)| words)
            .trim()
            .to_owned()
    });
    let status = best_status(field(recipient, "status"), diagnostic.as_deref());
    let class = if action.starts_with("delayed") {
        BounceClass::Delayed
    } else {
        class_of(status.as_deref(), diagnostic.as_deref().unwrap_or_default())
    };
    Some(Report {
        class,
        recipient: field(recipient, "final-recipient")
            .or_else(|| field(recipient, "original-recipient"))
            .map(typed_address),
        status,
        diagnostic,
        original_message_id: original_message_id(message),
    })
}

/// The class of a failure a provider reported by webhook, read from its
/// RFC 3463 code and the remote server's words as a DSN's would be, and the
/// code it settles on.
pub fn classify_failure(status: Option<&str>, diagnostic: &str) -> (BounceClass, Option<String>) {
    let status = best_status(status, Some(diagnostic));
    (class_of(status.as_deref(), diagnostic), status)
}

/// The Status field, unless it is a vague `x.0.0` and the diagnostic names
/// a more precise code (`Status: 5.0.0` with `550 5.1.1 user unknown`).
fn best_status(status: Option<&str>, diagnostic: Option<&str>) -> Option<String> {
    let status = status.and_then(|status| enhanced_code(status.split_whitespace().next()?));
    let from_diagnostic =
        diagnostic.and_then(|words| words.split_whitespace().find_map(enhanced_code));
    match (status, from_diagnostic) {
        (Some(status), Some(precise))
            if status.ends_with(".0.0") && precise.starts_with(&status[..1]) =>
        {
            Some(precise)
        }
        (Some(status), _) => Some(status),
        (None, precise) => precise,
    }
}

/// `5.1.1` when `word` is an RFC 3463 code (class 2, 4 or 5, subject and
/// detail of one to three digits).
fn enhanced_code(word: &str) -> Option<String> {
    let word = word.trim_matches(|c: char| !c.is_ascii_digit());
    let mut parts = word.split('.');
    let class = parts.next()?;
    let subject = parts.next()?;
    let detail = parts.next()?;
    let digits = |part: &str, most: usize| {
        !part.is_empty() && part.len() <= most && part.bytes().all(|b| b.is_ascii_digit())
    };
    (parts.next().is_none()
        && matches!(class, "2" | "4" | "5")
        && digits(subject, 3)
        && digits(detail, 3))
    .then(|| word.to_owned())
}

/// Words that say the sender was refused, not the address.
const POLICY_WORDS: [&str; 9] = [
    "blocklist",
    "blacklist",
    "block list",
    "spamhaus",
    "spam",
    "reputation",
    "dmarc",
    "policy",
    "blocked",
];

/// Words that say the mailbox does not exist.
const UNKNOWN_USER_WORDS: [&str; 9] = [
    "user unknown",
    "unknown user",
    "no such user",
    "no such mailbox",
    "mailbox not found",
    "does not exist",
    "address rejected",
    "invalid recipient",
    "recipient not found",
];

/// RFC 3463 codes first; the words only where the code says little.
fn class_of(status: Option<&str>, diagnostic: &str) -> BounceClass {
    let words = diagnostic.to_ascii_lowercase();
    let says = |list: &[&str]| list.iter().any(|word| words.contains(word));
    let Some(status) = status else {
        return match smtp_reply_class(diagnostic) {
            Some('5') if says(&POLICY_WORDS) => BounceClass::Policy,
            Some('5') if says(&UNKNOWN_USER_WORDS) => BounceClass::Hard,
            _ => BounceClass::Soft,
        };
    };
    let mut parts = status.split('.');
    let (class, subject, detail) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    match (class, subject, detail) {
        ("4", _, _) | ("2", _, _) => BounceClass::Soft,
        ("5", "7", _) => BounceClass::Policy,
        ("5", "1", _) => BounceClass::Hard,
        _ if says(&POLICY_WORDS) => BounceClass::Policy,
        ("5", "2", "1") | ("5", "5", _) => BounceClass::Hard,
        ("5", "2", "2") => BounceClass::Soft,
        _ if says(&UNKNOWN_USER_WORDS) => BounceClass::Hard,
        _ => BounceClass::Soft,
    }
}

/// `5` for a text that starts with (or holds) a `550`-style reply code.
fn smtp_reply_class(text: &str) -> Option<char> {
    text.split_whitespace().find_map(|word| {
        let word = word.trim_end_matches(['-', ':']);
        (word.len() == 3
            && word.bytes().all(|b| b.is_ascii_digit())
            && matches!(word.as_bytes()[0], b'4' | b'5'))
        .then(|| char::from(word.as_bytes()[0]))
    })
}

/// RFC 3834 `Auto-Submitted: auto-replied`, and the headers and subjects
/// vacation responders use without it.
fn auto_reply(message: &Message<'_>) -> Option<Report> {
    let header = |name: &str| header_values(message, name).into_iter().next();
    let auto_submitted =
        header("Auto-Submitted").is_some_and(|value| !value.trim().eq_ignore_ascii_case("no"));
    let vacation_header = header("X-Autoreply").is_some()
        || header("X-Autorespond").is_some()
        || header("Precedence").is_some_and(|value| value.eq_ignore_ascii_case("auto_reply"));
    let subject = message.subject().unwrap_or_default().to_ascii_lowercase();
    let vacation_subject = [
        "out of office",
        "automatic reply",
        "auto-reply",
        "autoreply",
    ]
    .iter()
    .any(|words| subject.contains(words));
    (auto_submitted || vacation_header || vacation_subject).then(|| Report {
        class: BounceClass::AutoReply,
        recipient: message
            .from()
            .and_then(|from| from.first())
            .and_then(|from| from.address())
            .map(str::to_ascii_lowercase),
        status: None,
        diagnostic: None,
        original_message_id: original_message_id(message),
    })
}

/// The plain-text notices of qmail ("Hi. This is the qmail-send program")
/// and Exim ("This message was created automatically by mail delivery
/// software"): the first address they name and the first reply line.
fn plain_text_notice(message: &Message<'_>) -> Option<Report> {
    let text = message.body_text(0)?;
    let qmail = text.contains("This is the qmail-send program");
    let exim = text.contains("created automatically by mail delivery software");
    if !qmail && !exim {
        return None;
    }
    let recipient = text.lines().find_map(|line| {
        let line = line.trim();
        let address = if qmail {
            line.strip_prefix('<')?.strip_suffix(">:")?
        } else {
            line
        };
        (address.contains('@') && !address.contains(char::is_whitespace))
            .then(|| address.to_ascii_lowercase())
    })?;
    let diagnostic = text
        .lines()
        .map(str::trim)
        .map(|line| {
            line.strip_prefix("Remote host said:")
                .map_or(line, str::trim)
        })
        .find(|line| smtp_reply_class(line.split_whitespace().next().unwrap_or_default()).is_some())
        .map(str::to_owned);
    let status = diagnostic
        .as_deref()
        .and_then(|words| words.split_whitespace().find_map(enhanced_code));
    let class = match diagnostic.as_deref() {
        Some(words) if smtp_reply_class(words) == Some('4') => BounceClass::Soft,
        Some(words) => class_of(status.as_deref(), words),
        // qmail and Exim write these notices only when they have given up.
        None => BounceClass::Soft,
    };
    Some(Report {
        class,
        recipient: Some(recipient),
        status,
        diagnostic,
        original_message_id: original_message_id(message),
    })
}

#[cfg(test)]
mod tests;
