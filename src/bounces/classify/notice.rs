//! Bounce notices written for people rather than programs: qmail, Exim,
//! Sendmail's transcript, older Exchange, Lotus Notes and Domino, and the
//! providers' own layouts. Their text is read up to where the returned
//! original starts (so nothing the newsletter itself says can count), for
//! DSN-like fields, SMTP replies and the words that name the address.

use mail_parser::decoders::html::html_to_text;
use mail_parser::{Message, MimeHeaders, PartType};

use super::words::{self, says};
use super::{
    class_of, enhanced_code, field_groups, is_vague, original_message_id, recipient_report,
    refuses_a_command, reply_code, smtp_reply_class, BounceClass, Report,
};

/// Senders whose mail is a delivery notice, by local part or display name.
const NOTICE_SENDERS: &[&str] = &[
    "mailer-daemon",
    "mailer_daemon",
    "mailerdaemon",
    "mail-daemon",
    "postmaster",
    "post_master",
    "mail delivery",
    "mail administrator",
    "system administrator",
];

/// Subjects of delivery notices.
const NOTICE_SUBJECTS: &[&str] = &[
    "undeliver",
    "undelivered",
    "not delivered",
    "could not be delivered",
    "couldn't be delivered",
    "delivery fail",
    "delivery status",
    "delivery notification",
    "delivery problem",
    "delivery report",
    "delivery error",
    "non-deliver",
    "nondeliver",
    "returned mail",
    "returning message",
    "returned to sender",
    "failure notice",
    "mail failure",
    "mail delivery failed",
    "mail system error",
    "error sending",
    "error delivering",
    "delivery has failed",
    "postmaster notify",
];

/// The first lines of notices whose sender and subject say nothing.
const NOTICE_OPENINGS: &[&str] = &[
    "this is the qmail-send program",
    "created automatically by mail delivery software",
    "could not be delivered to one or more",
    "the following address(es) failed",
    "i'm sorry to have to inform you",
    "the original message was received at",
    "transcript of session follows",
    "delivery to the following recipient",
    "did not reach the following recipient",
    "was not delivered to",
    "your message did not reach",
    "unable to deliver",
];

/// The lines (after any dashes) where notices start quoting the original:
/// the rest is the newsletter's own text.
const ORIGINAL_STARTS: &[&str] = &[
    "below this line is a copy of the message",
    "this is a copy of the message",
    "unsent message follows",
    "original message follows",
    "returned message",
    "original message",
    "the header of the original message",
    "headers of the original message",
    "message headers follow",
];

/// Whether `message` presents itself as a delivery notice.
fn presents_as_notice(message: &Message<'_>, text: &str) -> bool {
    let sender = message
        .from()
        .and_then(|from| from.first())
        .map(|from| {
            format!(
                "{} {}",
                from.name().unwrap_or_default(),
                from.address().unwrap_or_default()
            )
            .to_lowercase()
        })
        .unwrap_or_default();
    let subject = message.subject().unwrap_or_default().to_lowercase();
    says(&sender, NOTICE_SENDERS)
        || says(&subject, NOTICE_SUBJECTS)
        || says(&text.to_lowercase(), NOTICE_OPENINGS)
}

/// The human-readable text of `message`: its text parts (HTML as text) in
/// order, each cut where it starts quoting the returned original. Headers
/// of the original (`text/rfc822-headers`) and attached messages are left out.
pub(super) fn notice_text(message: &Message<'_>) -> String {
    let mut texts = Vec::new();
    for part in &message.parts {
        let is_headers = part.content_type().is_some_and(|kind| {
            kind.subtype()
                .is_some_and(|sub| sub.eq_ignore_ascii_case("rfc822-headers"))
        });
        match &part.body {
            PartType::Text(words) if !is_headers => texts.push(words.to_string()),
            PartType::Html(html) => texts.push(html_to_text(html)),
            _ => {}
        }
    }
    // MIME too broken to yield a text part (two Content-Type headers, a
    // boundary that never comes): the raw body, read the same way.
    if texts.iter().all(|text| text.trim().is_empty()) {
        let raw = String::from_utf8_lossy(message.raw_message());
        if let Some((_, body)) = raw
            .split_once("\r\n\r\n")
            .or_else(|| raw.split_once("\n\n"))
        {
            texts = vec![body.to_owned()];
        }
    }
    let mut text = String::new();
    for words in &texts {
        for line in words.lines() {
            let opening = line
                .trim_start_matches(['-', '=', '*', ' ', '\t'])
                .to_lowercase();
            if ORIGINAL_STARTS
                .iter()
                .any(|start| opening.starts_with(start))
                || line.starts_with("Received: ")
                || line.starts_with("Return-Path: ")
            {
                break;
            }
            text.push_str(line);
            text.push('\n');
        }
    }
    text
}

/// Binary where a notice's words should be: what was decoded is not text a
/// server wrote, and a reply code found in it would be chance. A NUL marks
/// it: no MTA writes one (RFC 5322 text excludes it), while undecodable
/// bytes alone do not (Japanese carriers' notices in an undeclared charset).
fn is_binary(text: &str) -> bool {
    text.contains('\0')
}

/// A notice without a delivery-status part, read from its text.
pub(super) fn plain_text_notice(message: &Message<'_>) -> Option<Report> {
    let text = notice_text(message);
    if is_binary(&text) || !presents_as_notice(message, &text) {
        return None;
    }
    let original_message_id = original_message_id(message);
    // Some relays put RFC 3464 fields in the text itself.
    if let Some(mut report) = recipient_report(&field_groups(&text), Some(&text)) {
        report.original_message_id = original_message_id;
        return Some(report);
    }
    let reading = read(&text);
    Some(Report {
        class: reading.class,
        recipient: first_address(&text),
        status: reading.status,
        diagnostic: reading.diagnostic,
        original_message_id,
    })
}

/// What a notice's text says.
pub(super) struct Reading {
    pub class: BounceClass,
    pub status: Option<String>,
    pub diagnostic: Option<String>,
}

/// The class a notice's text gives: a delay if it says it keeps trying;
/// otherwise its first 5xx reply (code, then words), or, when it names no
/// precise code, the words of the whole text. No reply and no words: soft,
/// since a notice that says nothing clear never makes a hard bounce.
pub(super) fn read(text: &str) -> Reading {
    let lower = text.to_lowercase();
    let replies: Vec<(&str, Option<char>, Option<String>)> = text
        .lines()
        .map(str::trim)
        .filter_map(|line| {
            let basic = smtp_reply_class(&tokens(line));
            let enhanced = line.split_whitespace().find_map(enhanced_code);
            (basic.is_some() || enhanced.is_some()).then_some((line, basic, enhanced))
        })
        .collect();
    let permanent = |(_, basic, enhanced): &&(&str, Option<char>, Option<String>)| {
        *basic == Some('5')
            || enhanced
                .as_deref()
                .is_some_and(|code| code.starts_with('5'))
    };
    let diagnostic = replies
        .iter()
        .find(permanent)
        .or_else(|| replies.first())
        .map(|(line, _, _)| from_reply_code(line).to_owned());
    if says(&lower, words::STILL_TRYING) {
        return Reading {
            class: BounceClass::Delayed,
            status: None,
            diagnostic,
        };
    }
    if !replies.iter().any(|reply| permanent(&reply)) && !replies.is_empty() {
        return Reading {
            class: BounceClass::Soft,
            status: replies.iter().find_map(|(_, _, code)| code.clone()),
            diagnostic,
        };
    }
    let status = replies
        .iter()
        .filter_map(|(_, _, code)| code.as_ref())
        .find(|code| code.starts_with('5'))
        .cloned();
    let reply_words: String = replies
        .iter()
        .filter(permanent)
        .map(|(line, _, _)| line.to_lowercase())
        .collect::<Vec<_>>()
        .join(" ");
    // The lines hold a 5xx or a 5.x.x code; the words are read as a 5xx's.
    let reply_words = match reply_code(&reply_words) {
        Some(_) => reply_words,
        None => format!("550 {reply_words}"),
    };
    let by_code = class_of(status.as_deref(), &reply_words);
    let class = match by_code {
        // A transcript folds the reply over lines: the code on one, the
        // words that name the recipient unknown on the next.
        BounceClass::Policy if says(&lower, words::UNKNOWN_WHATEVER_THE_CODE) => BounceClass::Hard,
        BounceClass::Soft
            if status.as_deref().is_none_or(is_vague) && !refuses_a_command(&reply_words) =>
        {
            by_words(&lower)
        }
        class => class,
    };
    Reading {
        class,
        status,
        diagnostic,
    }
}

/// The words of a whole notice, when no code decides: the sender refused
/// before the address named dead, and soft when neither.
pub(super) fn by_words(lower: &str) -> BounceClass {
    if words::names_disabled_account(lower) {
        BounceClass::Hard
    } else if says(lower, words::POLICY) {
        BounceClass::Policy
    } else if words::names_dead_address(lower) {
        BounceClass::Hard
    } else {
        BounceClass::Soft
    }
}

/// A line's words without the brackets and marks transcripts put round
/// reply codes (`<<< 550`, `[550`, `said: 550-5.1.1`, `:550,`).
fn tokens(line: &str) -> String {
    line.split(|c: char| c.is_whitespace() || matches!(c, '[' | '(' | ':' | ',' | '<' | '=' | '-'))
        .map(|word| word.trim_matches(|c: char| !c.is_ascii_alphanumeric()))
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `550 5.1.1 …` out of `host mx.example.org [192.0.2.1]: 550 5.1.1 …` or
/// `Remote host said: 550 …`: the line from its reply code on, or whole.
fn from_reply_code(line: &str) -> &str {
    line.match_indices(['4', '5'])
        .map(|(at, _)| at)
        .find(|&at| {
            let code = &line.as_bytes()[at..];
            let before = line[..at].chars().next_back();
            code.len() >= 3
                && code[..3].iter().all(u8::is_ascii_digit)
                && code.get(3).is_none_or(|next| matches!(next, b' ' | b'-'))
                && before.is_none_or(|c| c == ' ' || c == ':' || c == '[' || c == '(')
        })
        .map_or(line, |at| &line[at..])
}

/// The first address a notice names, lower-cased.
fn first_address(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '(' | ')' | '"' | ',' | ';'))
        .map(|word| word.trim_matches(|c: char| matches!(c, ':' | '.' | '[' | ']' | '\'')))
        .find(|word| {
            let mut halves = word.splitn(2, '@');
            matches!((halves.next(), halves.next()), (Some(local), Some(domain))
                if !local.is_empty() && domain.contains('.') && !domain.contains('@'))
        })
        .map(str::to_ascii_lowercase)
}
