//! What a message that came back says: a hard or soft bounce, a policy
//! refusal, a delay, an auto-reply, a complaint, or nothing Herald cares
//! about. Reads RFC 3464 delivery status notifications (with RFC 3463
//! enhanced codes), RFC 5965 feedback reports, RFC 3834 auto-replies and
//! the plain-text notices qmail and Exim still send.
//!
//! The rule that matters most: only a code or text that names the address
//! as dead makes a hard bounce. Anything unclear is at most soft, which only
//! counts; a reader is never suppressed on a guess.

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

mod notice;
mod reply;
mod words;

pub use reply::{classify_reply, ReplyReading};

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
    /// The name `bounce_reports.class` stores.
    pub fn key(&self) -> &'static str {
        match self {
            Self::Hard => "hard",
            Self::Soft => "soft",
            Self::Policy => "policy",
            Self::Delayed => "delayed",
            Self::AutoReply => "auto-reply",
            Self::Complaint => "complaint",
        }
    }

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

/// The most delivery addresses read from one message. A report reaches the
/// bounce mailbox at one address, two with a forward; each candidate costs a
/// keyed check, and a forged To of 100,000 made-up tokens took 6 to 7 s of
/// them before this bound.
const MAX_ADDRESSED_TO: usize = 32;

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
        .take(MAX_ADDRESSED_TO)
        .collect();
    let report = match feedback_report(&message) {
        Feedback::Complaint(report) => Some(report),
        // A feedback report of another type (not-spam, auth-failure,
        // opt-out) is not about a failed delivery, whatever else it holds.
        Feedback::OtherType => None,
        Feedback::Absent => match delivery_status(&message) {
            DeliveryStatus::Failure(report) => Some(report),
            // A success notice is not a bounce, whatever its text says.
            DeliveryStatus::NoFailure => None,
            // Before auto-replies: Exim and Postfix mark their notices
            // `Auto-Submitted` too.
            DeliveryStatus::Absent => {
                notice::plain_text_notice(&message).or_else(|| auto_reply(&message))
            }
        },
    };
    let inspected = Inspected {
        message_id: message.message_id().map(str::to_owned),
        addressed_to,
        report,
    };
    drop_level_by_level(message);
    inspected
}

/// mail_parser keeps a message/rfc822 part as a message inside its parent
/// and drops them recursively, a chain of stack frames per level: a 10 MB
/// message nests some 300,000 levels, far past any thread's stack. So the
/// nested messages are taken out and dropped one level at a time.
fn drop_level_by_level(message: Message<'_>) {
    let mut pending = vec![message];
    while let Some(mut message) = pending.pop() {
        for part in &mut message.parts {
            if let PartType::Message(nested) = std::mem::take(&mut part.body) {
                pending.push(nested);
            }
        }
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

/// What a `message/feedback-report` part says.
enum Feedback {
    Absent,
    OtherType,
    Complaint(Report),
}

/// RFC 5965: `multipart/report; report-type=feedback-report`.
fn feedback_report(message: &Message<'_>) -> Feedback {
    let Some(part) = message.parts.iter().find(|part| {
        part.content_type().is_some_and(|kind| {
            kind.ctype().eq_ignore_ascii_case("message")
                && kind
                    .subtype()
                    .is_some_and(|sub| sub.eq_ignore_ascii_case("feedback-report"))
        })
    }) else {
        return Feedback::Absent;
    };
    let body = String::from_utf8_lossy(part.contents());
    let fields: Vec<(String, String)> = field_groups(&body).into_iter().flatten().collect();
    let Some(feedback_type) = field(&fields, "feedback-type") else {
        return Feedback::OtherType;
    };
    // abuse is "unsolicited mail"; fraud and virus reports are complaints
    // too. not-spam, auth-failure and other are not about the reader.
    if !["abuse", "fraud", "virus"]
        .iter()
        .any(|kind| feedback_type.eq_ignore_ascii_case(kind))
    {
        return Feedback::OtherType;
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
    Feedback::Complaint(Report {
        class: BounceClass::Complaint,
        recipient,
        status: None,
        diagnostic: Some(format!("feedback-type {feedback_type}")),
        original_message_id: original_message_id(message),
    })
}

/// What a `message/delivery-status` part (or RFC 6533's global one) says.
enum DeliveryStatus {
    /// No such part, or one without a single `Action` field.
    Absent,
    /// Every recipient was delivered, relayed or expanded.
    NoFailure,
    Failure(Report),
}

/// RFC 3464: a `message/delivery-status` part (or RFC 6533's global one).
fn delivery_status(message: &Message<'_>) -> DeliveryStatus {
    let Some(part) = message.parts.iter().find(|part| {
        part.content_type().is_some_and(|kind| {
            kind.ctype().eq_ignore_ascii_case("message")
                && kind.subtype().is_some_and(|sub| {
                    sub.eq_ignore_ascii_case("delivery-status")
                        || sub.eq_ignore_ascii_case("global-delivery-status")
                })
        })
    }) else {
        return DeliveryStatus::Absent;
    };
    // Binary in a status part (RFC 3464 fields are text) marks the report
    // as broken or forged: its free text is not read in its place.
    if part.contents().contains(&0) || std::str::from_utf8(part.contents()).is_err() {
        return DeliveryStatus::NoFailure;
    }
    let groups = field_groups(&String::from_utf8_lossy(part.contents()));
    if !groups.iter().any(|group| field(group, "action").is_some()) {
        return DeliveryStatus::Absent;
    }
    match recipient_report(&groups, Some(&notice::notice_text(message))) {
        Some(mut report) => {
            report.original_message_id = original_message_id(message);
            DeliveryStatus::Failure(report)
        }
        None => DeliveryStatus::NoFailure,
    }
}

/// The report on the first recipient that failed or was delayed, from the
/// field groups of a delivery status (the first group is about the message,
/// each further one about a recipient, though some relays run them into
/// one). Herald sends each copy to one reader, so the first is the one.
/// `human_text` is the notice's own text, read for words when the codes
/// are vague.
fn recipient_report(groups: &[Vec<(String, String)>], human_text: Option<&str>) -> Option<Report> {
    let recipient = groups.iter().find(|group| {
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
        let by_code = class_of(status.as_deref(), diagnostic.as_deref().unwrap_or_default());
        let permanent = status.as_deref().is_none_or(|code| code.starts_with('5'));
        match (by_code, human_text) {
            // A vague 5.0.0 with a diagnostic that says little: the
            // notice's own words may name the address.
            (BounceClass::Soft, Some(text))
                if permanent
                    && status.as_deref().is_none_or(is_vague)
                    && !diagnostic.as_deref().is_some_and(refuses_a_command) =>
            {
                notice::by_words(&text.to_lowercase())
            }
            (class, _) => class,
        }
    };
    Some(Report {
        class,
        recipient: field(recipient, "final-recipient")
            .or_else(|| field(recipient, "original-recipient"))
            .map(typed_address),
        status,
        diagnostic,
        original_message_id: None,
    })
}

/// A code that says nothing about the address: "other or undefined"
/// (`5.0.0`, `5.0.910`), "other address status" (`5.1.0`), the mail system,
/// routing or protocol (`5.3.x`, `5.4.x`, `5.5.x`).
fn is_vague(status: &str) -> bool {
    let mut parts = status.split('.').skip(1);
    matches!(
        (parts.next(), parts.next()),
        (Some("0" | "3" | "4" | "5"), _) | (Some("1"), Some("0"))
    )
}

/// The class of a failure a provider reported by webhook, read from its
/// RFC 3463 code and the remote server's words as a DSN's would be, and the
/// code it settles on.
pub fn classify_failure(status: Option<&str>, diagnostic: &str) -> (BounceClass, Option<String>) {
    let status = best_status(status, Some(diagnostic));
    (class_of(status.as_deref(), diagnostic), status)
}

/// The remote server's own code, from its diagnostic, when it is of the
/// Status field's class: the reporting relay's Status is its summary, often
/// a vague `5.0.0`, and sometimes a wrong one (`Status: 5.1.1` over `552
/// 5.2.2 Over quota`). The Status field when the diagnostic has no code.
fn best_status(status: Option<&str>, diagnostic: Option<&str>) -> Option<String> {
    let status = status.and_then(|status| enhanced_code(status.split_whitespace().next()?));
    let from_diagnostic = diagnostic.and_then(remote_enhanced_code);
    match (status, from_diagnostic) {
        (Some(status), Some(remote)) if remote.starts_with(&status[..1]) => Some(remote),
        (Some(status), _) => Some(status),
        (None, remote) => remote,
    }
}

/// The enhanced code of a diagnostic: the one right after its SMTP reply
/// code when there is one (`5.1.0 - Unknown address error 550-'5.2.2 …`
/// is the remote server's 5.2.2, not the relay's 5.1.0), else the first.
fn remote_enhanced_code(diagnostic: &str) -> Option<String> {
    let words: Vec<&str> = diagnostic
        .split(|c: char| c.is_whitespace() || matches!(c, '-' | '\'' | '"' | '(' | '['))
        .filter(|word| !word.is_empty())
        .collect();
    words
        .windows(2)
        .find_map(|pair| {
            smtp_reply_class(pair[0])?;
            enhanced_code(pair[1])
        })
        .or_else(|| words.iter().find_map(|word| enhanced_code(word)))
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

/// RFC 3463 codes first; the words only where the code says little (an
/// X.1.0, X.5.x, any code of no subject, or none at all).
fn class_of(status: Option<&str>, diagnostic: &str) -> BounceClass {
    let words = diagnostic.to_lowercase();
    let says = |list: &[&str]| words::says(&words, list);
    if refuses_a_command(diagnostic) && status.is_none_or(is_vague) {
        return if says(words::POLICY) {
            BounceClass::Policy
        } else {
            BounceClass::Soft
        };
    }
    let Some(status) = status else {
        return match smtp_reply_class(diagnostic) {
            Some('5') if words::names_disabled_account(&words) => BounceClass::Hard,
            Some('5') if says(words::POLICY) => BounceClass::Policy,
            Some('5') if words::names_dead_address(&words) => BounceClass::Hard,
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
        // X.1.7 and X.1.8 are about the sender's address; X.7.13 is
        // "user account disabled", the one 5.7 code about the reader.
        ("5", "1", "7" | "8") => BounceClass::Policy,
        ("5", "7", "13") => BounceClass::Hard,
        ("5", "4" | "7", _) if says(words::UNKNOWN_WHATEVER_THE_CODE) => BounceClass::Hard,
        ("5", "7", _) => BounceClass::Policy,
        // X.1.0 is "other address status": the words must say which.
        ("5", "1", detail) if detail != "0" => BounceClass::Hard,
        ("5", _, _) if words::names_disabled_account(&words) => BounceClass::Hard,
        _ if says(words::POLICY) => BounceClass::Policy,
        ("5", "2", "1") => BounceClass::Hard,
        ("5", "2", "2") => BounceClass::Soft,
        _ if words::names_dead_address(&words) => BounceClass::Hard,
        _ => BounceClass::Soft,
    }
}

/// 500 to 504 refuse a command's syntax or order, never an address.
fn refuses_a_command(diagnostic: &str) -> bool {
    reply_code(diagnostic).is_some_and(|code| (500..=504).contains(&code))
}

/// The first `550`-style reply code a text holds.
fn reply_code(text: &str) -> Option<u16> {
    text.split(|c: char| c.is_whitespace() || matches!(c, '-' | ':' | '[' | '(' | '\''))
        .find(|word| {
            word.len() == 3
                && word.bytes().all(|b| b.is_ascii_digit())
                && matches!(word.as_bytes()[0], b'4' | b'5')
        })
        .and_then(|word| word.parse().ok())
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
        "auto reply",
    ]
    .iter()
    .any(|words| subject.contains(words));
    // Challenge-response filters (Boxbe, SpamArrest, TMDA and the like)
    // ask the sender to prove itself: automatic too, and not about the
    // address, so counted beside auto-replies and never acted on.
    let challenge = header("X-Boxbe-Pending").is_some()
        || header("X-Challenge").is_some()
        || [
            "please verify",
            "verify your email",
            "sender verification",
            "confirm your message",
            "challenge",
            "awaiting your confirmation",
        ]
        .iter()
        .any(|words| subject.contains(words));
    (auto_submitted || vacation_header || vacation_subject || challenge).then(|| Report {
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

#[cfg(test)]
mod tests;

#[cfg(test)]
mod corpus;
