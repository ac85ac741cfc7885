//! Mailgun: HMAC-SHA256 of timestamp ‖ token under the signing key; stale
//! timestamps and replayed tokens refused.

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::{
    confirmed_both, outcomes, post, statuses, two_readers_sent_an_issue, READER_1, READER_2,
};
use crate::on_both_databases;
use crate::support::{Backend, TestApp};

const SIGNING_KEY: &str = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

/// `event_data` signed with `key` at `timestamp`, with a token of its own.
fn signed(key: &str, timestamp: i64, token: &str, event_data: Value) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("a key");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(token.as_bytes());
    let signature = data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes());
    json!({
        "signature": {
            "timestamp": timestamp.to_string(),
            "token": token,
            "signature": signature
        },
        "event-data": event_data
    })
    .to_string()
}

/// Mailgun's `failed` example (permanent), with Herald's Message-ID.
fn failed(id: &str, recipient: &str, message_id: &str) -> Value {
    json!({
        "event": "failed",
        "id": id,
        "timestamp": 1521233123.501324,
        "log-level": "error",
        "severity": "permanent",
        "reason": "bounce",
        "recipient": recipient,
        "recipient-domain": "example.com",
        "envelope": {"sender": "bob@news.example.org", "transport": "smtp", "targets": recipient},
        "flags": {"is-routed": false, "is-authenticated": true, "is-system-test": false, "is-test-mode": false},
        "delivery-status": {
            "attempt-no": 1,
            "message": "No such mailbox",
            "code": 550,
            "enhanced-code": "5.1.1",
            "description": "",
            "session-seconds": 0.1
        },
        "message": {
            "headers": {
                "to": recipient,
                "message-id": message_id.trim_matches(['<', '>']),
                "from": "Bob <bob@news.example.org>",
                "subject": "Webhooks"
            },
            "attachments": [],
            "size": 111
        }
    })
}

fn complained(id: &str, recipient: &str) -> Value {
    json!({
        "event": "complained",
        "id": id,
        "timestamp": 1521233123.501324,
        "log-level": "warn",
        "recipient": recipient,
        "message": {"headers": {"message-id": "20130503182626.18666.16540@news.example.org"}}
    })
}

async fn mailgun_events_are_signed_fresh_and_taken_once(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.webhooks.mailgun_signing_key = Some(SIGNING_KEY.to_owned().into());
    })
    .await;
    let (copy_1, _) = two_readers_sent_an_issue(&app).await;
    // The event names a stranger; the keyed Message-ID names reader 1.
    let event = failed("G9Bn5sl1TC6nu79C8C0bwg", "stranger@example.net", &copy_1);

    let forged = signed(
        "key-not-the-right-one-0000000000",
        now(),
        "token-1",
        event.clone(),
    );
    assert_eq!(post(&app, "mailgun", &[], forged).await.0, 401);
    let stale = signed(SIGNING_KEY, now() - 3600, "token-2", event.clone());
    assert_eq!(post(&app, "mailgun", &[], stale).await.0, 403);
    assert_eq!(post(&app, "mailgun", &[], "not json").await.0, 400);
    assert_eq!(statuses(&app).await, confirmed_both());

    let genuine = signed(SIGNING_KEY, now(), "token-3", event.clone());
    let (status, answer) = post(&app, "mailgun", &[], genuine.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        outcomes(&answer),
        vec![format!(
            "hard bounce: {READER_1} bounced (5.1.1 550 No such mailbox)"
        )]
    );
    let (status, _) = post(&app, "mailgun", &[], genuine).await;
    assert_eq!(status, 403, "a replayed token");

    let complaint = signed(
        SIGNING_KEY,
        now(),
        "token-4",
        complained("Ase7i2zsRYeDXztHGENqRA", READER_2),
    );
    let (status, answer) = post(&app, "mailgun", &[], complaint).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        statuses(&app).await,
        (Some("bounced".into()), Some("unsubscribed".into()))
    );
}

on_both_databases!(mailgun_events_are_signed_fresh_and_taken_once);
