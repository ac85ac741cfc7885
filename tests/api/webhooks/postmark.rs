//! Postmark: Basic auth from the credentials in the webhook URL.

use base64::Engine as _;
use serde_json::json;

use super::{
    confirmed_both, outcomes, post, statuses, two_readers_sent_an_issue, READER_1, READER_2,
};
use crate::on_both_databases;
use crate::support::{Backend, TestApp};

const CREDENTIALS: &str = "postmark:a-long-webhook-password";

fn basic(credentials: &str) -> Vec<(&'static str, String)> {
    vec![(
        "Authorization",
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        ),
    )]
}

/// Postmark's bounce webhook example, for `email`.
fn bounce(id: i64, email: &str) -> String {
    json!({
        "RecordType": "Bounce",
        "MessageStream": "outbound",
        "ID": id,
        "Type": "HardBounce",
        "TypeCode": 1,
        "Name": "Hard bounce",
        "Tag": "Test",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Metadata": {"a_key": "a_value"},
        "ServerID": 23,
        "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": email,
        "From": "sender@example.com",
        "BouncedAt": "2019-11-05T16:33:54.9070259Z",
        "DumpAvailable": true,
        "Inactive": true,
        "CanActivate": true,
        "Subject": "Test subject",
        "Content": "<Full dump of bounce>"
    })
    .to_string()
}

/// Postmark's spam complaint webhook example, for `email`.
fn spam_complaint(id: i64, email: &str) -> String {
    json!({
        "RecordType": "SpamComplaint",
        "MessageStream": "outbound",
        "ID": id,
        "Type": "SpamComplaint",
        "TypeCode": 100001,
        "Name": "Spam complaint",
        "Tag": "Test",
        "MessageID": "00000000-0000-0000-0000-000000000000",
        "Metadata": {"a_key": "a_value"},
        "ServerID": 1234,
        "Description": "",
        "Details": "Test spam complaint details",
        "Email": email,
        "From": "sender@example.com",
        "BouncedAt": "2019-11-05T16:33:54.9070259Z",
        "DumpAvailable": true,
        "Inactive": true,
        "CanActivate": false,
        "Subject": "Test subject",
        "Content": "<Abuse report dump>"
    })
    .to_string()
}

async fn postmark_bounces_and_complaints_reach_the_right_reader(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.webhooks.postmark_credentials = Some(CREDENTIALS.to_owned().into());
    })
    .await;
    two_readers_sent_an_issue(&app).await;

    let (status, _) = post(&app, "postmark", &[], bounce(1, READER_1)).await;
    assert_eq!(status, 401, "no credentials");
    let (status, _) = post(
        &app,
        "postmark",
        &basic("postmark:a-long-webhook-passwore"),
        bounce(1, READER_1),
    )
    .await;
    assert_eq!(status, 401, "wrong password");
    assert_eq!(statuses(&app).await, confirmed_both());

    let oversized = " ".repeat(herald::webhooks::MAX_BODY_SIZE + 1);
    let (status, _) = post(&app, "postmark", &basic(CREDENTIALS), oversized).await;
    assert_eq!(status, 413, "over the size limit");

    let (status, answer) = post(&app, "postmark", &basic(CREDENTIALS), "{\"RecordType\": ").await;
    assert_eq!(status, 400);
    assert!(
        answer["error"]
            .as_str()
            .unwrap_or_default()
            .contains("JSON"),
        "{answer}"
    );

    let (status, answer) = post(&app, "postmark", &basic(CREDENTIALS), bounce(1, READER_1)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        outcomes(&answer),
        vec![format!(
            "hard bounce: {READER_1} bounced (5.1.1 smtp;550 5.1.1 The email account that you tried to reach does not exist.)"
        )]
    );
    let (_, again) = post(&app, "postmark", &basic(CREDENTIALS), bounce(1, READER_1)).await;
    assert_eq!(outcomes(&again), vec!["duplicate: already handled"]);

    let (status, answer) = post(
        &app,
        "postmark",
        &basic(CREDENTIALS),
        spam_complaint(2, READER_2),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        statuses(&app).await,
        (Some("bounced".into()), Some("unsubscribed".into()))
    );

    // About an address Herald never mailed: nobody's.
    let (_, answer) = post(
        &app,
        "postmark",
        &basic(CREDENTIALS),
        bounce(3, "stranger@example.net"),
    )
    .await;
    assert_eq!(outcomes(&answer), vec!["ignored: no attribution"]);
}

on_both_databases!(postmark_bounces_and_complaints_reach_the_right_reader);
