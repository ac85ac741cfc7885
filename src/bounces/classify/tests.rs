//! The classifier against the hand-written fixtures in tests/fixtures/bounces.

use super::*;

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/bounces/",
            $name
        ))
        .as_slice()
    };
}

const ORIGINAL: &str = "issue-42.0123456789abcdef01234567@news.example.org";
const VERP: &str = "bounces+abcdefghijklmnopqrstuvwxyz23456@news.example.org";

fn report(raw: &[u8]) -> Report {
    inspect(raw).report.expect("a report")
}

#[test]
fn the_classes_of_the_fixtures() {
    let expected = [
        (
            "postfix-user-unknown.eml",
            fixture!("postfix-user-unknown.eml"),
            Some(BounceClass::Hard),
        ),
        (
            "sendmail-vague-status.eml",
            fixture!("sendmail-vague-status.eml"),
            Some(BounceClass::Hard),
        ),
        (
            "disabled-mailbox.eml",
            fixture!("disabled-mailbox.eml"),
            Some(BounceClass::Hard),
        ),
        (
            "mailbox-full.eml",
            fixture!("mailbox-full.eml"),
            Some(BounceClass::Soft),
        ),
        (
            "expired.eml",
            fixture!("expired.eml"),
            Some(BounceClass::Soft),
        ),
        (
            "delayed.eml",
            fixture!("delayed.eml"),
            Some(BounceClass::Delayed),
        ),
        (
            "spamhaus-policy.eml",
            fixture!("spamhaus-policy.eml"),
            Some(BounceClass::Policy),
        ),
        (
            "policy-words-5.0.0.eml",
            fixture!("policy-words-5.0.0.eml"),
            Some(BounceClass::Policy),
        ),
        (
            "arf-abuse.eml",
            fixture!("arf-abuse.eml"),
            Some(BounceClass::Complaint),
        ),
        ("arf-not-spam.eml", fixture!("arf-not-spam.eml"), None),
        (
            "out-of-office.eml",
            fixture!("out-of-office.eml"),
            Some(BounceClass::AutoReply),
        ),
        (
            "qmail-user-unknown.eml",
            fixture!("qmail-user-unknown.eml"),
            Some(BounceClass::Hard),
        ),
        (
            "exim-user-unknown.eml",
            fixture!("exim-user-unknown.eml"),
            Some(BounceClass::Hard),
        ),
        (
            "exim-mailbox-full.eml",
            fixture!("exim-mailbox-full.eml"),
            Some(BounceClass::Soft),
        ),
        ("human-reply.eml", fixture!("human-reply.eml"), None),
    ];
    for (name, raw, class) in expected {
        let got = inspect(raw).report.map(|report| report.class);
        assert_eq!(got, class, "{name}");
    }
}

#[test]
fn a_dsn_names_the_recipient_code_words_original_and_where_it_was_sent() {
    let inspected = inspect(fixture!("postfix-user-unknown.eml"));
    assert_eq!(
        inspected.message_id.as_deref(),
        Some("dsn-hard-1@relay.example.net")
    );
    assert!(
        inspected.addressed_to.iter().any(|to| to == VERP),
        "{inspected:?}"
    );
    let report = inspected.report.expect("a report");
    assert_eq!(report.recipient.as_deref(), Some("reader@example.org"));
    assert_eq!(report.status.as_deref(), Some("5.1.1"));
    assert!(
        report
            .diagnostic
            .as_deref()
            .is_some_and(|words| words.contains("User unknown")),
        "{report:?}"
    );
    assert_eq!(report.original_message_id.as_deref(), Some(ORIGINAL));
}

#[test]
fn a_vague_status_takes_the_precise_code_of_its_folded_diagnostic() {
    let report = report(fixture!("sendmail-vague-status.eml"));
    assert_eq!(report.status.as_deref(), Some("5.1.1"));
    assert_eq!(
        report.diagnostic.as_deref(),
        Some("550 5.1.1 <reader@example.org>... User unknown")
    );
    assert_eq!(
        report.original_message_id.as_deref(),
        Some(ORIGINAL),
        "from text/rfc822-headers"
    );
}

#[test]
fn a_complaint_names_the_reader_and_the_original() {
    let report = report(fixture!("arf-abuse.eml"));
    assert_eq!(report.recipient.as_deref(), Some("reader@example.org"));
    assert_eq!(report.original_message_id.as_deref(), Some(ORIGINAL));
}

#[test]
fn plain_text_notices_name_the_reader_and_the_reply() {
    for raw in [
        fixture!("qmail-user-unknown.eml"),
        fixture!("exim-user-unknown.eml"),
    ] {
        let report = report(raw);
        assert_eq!(report.recipient.as_deref(), Some("reader@example.org"));
        assert_eq!(report.status.as_deref(), Some("5.1.1"));
        assert!(report
            .diagnostic
            .as_deref()
            .is_some_and(|words| words.starts_with("550 ")));
    }
}

#[test]
fn a_challenge_is_counted_as_an_automatic_answer() {
    let raw = b"From: filter@example.org\r\n\
To: bounces+abcdefghijklmnopqrstuvwxyz23456@news.example.org\r\n\
Subject: Please verify your email: reader@example.org is protected\r\n\
Message-ID: <challenge-1@example.org>\r\n\
\r\n\
To reach reader@example.org, click the link below to prove you are human.\r\n";
    assert_eq!(report(raw).class, BounceClass::AutoReply);
}

#[test]
fn a_shut_account_is_hard_unless_the_lock_is_temporary() {
    assert_eq!(
        class_of(
            None,
            "550 Mailbox is frozen. See http://mail.example.ua/err/3/"
        ),
        BounceClass::Hard
    );
    assert_eq!(
        class_of(
            Some("5.5.0"),
            "550 5.5.0 The recipient account is blocked. LPN007_426"
        ),
        BounceClass::Hard
    );
    assert_eq!(
        class_of(
            Some("5.7.1"),
            "550 5.7.1 <a@example.com>: User a@example.com temporary locked. Please try again later!"
        ),
        BounceClass::Policy
    );
    // Blocked as a sender is still policy.
    assert_eq!(
        class_of(Some("5.7.1"), "554 5.7.1 Your account is blocked for spam"),
        BounceClass::Policy
    );
    assert_eq!(
        class_of(
            Some("5.7.1"),
            "553 Invalid recipient a@example.org (Mode: normal)"
        ),
        BounceClass::Hard
    );
}

#[test]
fn codes_decide_before_words() {
    assert_eq!(class_of(Some("5.1.1"), "spam policy"), BounceClass::Hard);
    assert_eq!(class_of(Some("5.7.1"), "user unknown"), BounceClass::Policy);
    assert_eq!(
        class_of(Some("5.5.0"), "mailbox unavailable"),
        BounceClass::Hard
    );
    assert_eq!(
        class_of(Some("5.5.0"), "rejected as spam"),
        BounceClass::Policy
    );
    assert_eq!(
        class_of(Some("5.5.1"), "503 Improper sequence of commands"),
        BounceClass::Soft,
        "a protocol code names no address"
    );
    assert_eq!(
        class_of(Some("5.1.8"), "553 sender domain does not resolve"),
        BounceClass::Policy,
        "X.1.8 is the sender's address"
    );
    assert_eq!(
        class_of(Some("5.7.13"), "525 User account disabled"),
        BounceClass::Hard
    );
    assert_eq!(
        class_of(
            Some("5.1.0"),
            "550 5.1.0 <bounce@example.net> sender rejected"
        ),
        BounceClass::Policy
    );
    assert_eq!(class_of(Some("4.2.2"), "user unknown"), BounceClass::Soft);
    assert_eq!(class_of(Some("5.3.0"), "something odd"), BounceClass::Soft);
    assert_eq!(class_of(None, "550 No such user here"), BounceClass::Hard);
    assert_eq!(
        class_of(None, "554 listed on a blocklist"),
        BounceClass::Policy
    );
    assert_eq!(class_of(None, "the sky is falling"), BounceClass::Soft);
}

#[test]
fn enhanced_codes_are_recognised_and_nothing_else() {
    assert_eq!(enhanced_code("5.1.10").as_deref(), Some("5.1.10"));
    assert_eq!(enhanced_code("(4.4.7)").as_deref(), Some("4.4.7"));
    for not_a_code in [
        "550",
        "1.2.3",
        "5.1",
        "5.1.1.1",
        "192.0.2.1",
        "5..1",
        "5.1.1234",
        "",
    ] {
        assert_eq!(enhanced_code(not_a_code), None, "{not_a_code}");
    }
}

#[test]
fn garbage_empty_and_nested_input_is_no_report() {
    assert_eq!(inspect(b"").report, None);
    assert_eq!(inspect(&[0xff, 0x00, 0xfe, 0x13, 0x37]).report, None);
    let garbage: Vec<u8> = (0..200_000u32)
        .map(|n| (n.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    assert_eq!(inspect(&garbage).report, None);
    let mut nested = String::new();
    for depth in 0..2_000 {
        nested.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{depth}\"\r\n\r\n--b{depth}\r\n"
        ));
    }
    nested.push_str("Content-Type: message/delivery-status\r\n\r\nAction: failed\r\n");
    let started = std::time::Instant::now();
    let _ = inspect(nested.as_bytes());
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
}

#[test]
fn malformed_dsn_fields_never_make_a_hard_bounce() {
    let raw = String::from_utf8_lossy(fixture!("postfix-user-unknown.eml"))
        .replace("Status: 5.1.1", "Status: five")
        .replace("550 5.1.1 <reader@example.org>: Recipient address rejected: User unknown in virtual mailbox table", "garbled");
    let report = report(raw.as_bytes());
    assert_eq!(report.class, BounceClass::Soft);
    assert_eq!(report.status, None);
}
