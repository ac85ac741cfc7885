//! `POST /webhooks/{provider}` through the real router: each provider's
//! events, authenticated its own way, bounce or unsubscribe the right
//! reader; a call that fails authentication, a replay, a wrong topic or
//! certificate host changes nothing.

mod mailgun;
mod postmark;
mod sendgrid;
mod ses;

use serde_json::{json, Value};

use crate::support::mail::Mail;
use crate::support::{TestApp, MAIL_WAIT};

pub const READER_1: &str = "reader001@example.com";
pub const READER_2: &str = "reader002@example.com";

/// Two confirmed readers sent one issue; the Message-ID of each one's copy.
pub async fn two_readers_sent_an_issue(app: &TestApp) -> (String, String) {
    app.add_subscribers(
        2,
        herald::subscriptions::SubscriberStatus::Confirmed,
        "reader",
    )
    .await;
    crate::issues::send_with_api(app, &json!({"subject": "Webhooks", "intro": "Hello."})).await;
    let received = app.smtp.wait_for_messages(2, MAIL_WAIT).await;
    let id_of = |reader: &str| {
        received
            .iter()
            .find(|message| message.rcpt_to == [reader.to_owned()])
            .map(|message| {
                Mail::from_received(message)
                    .header("Message-ID")
                    .expect("a Message-ID")
                    .to_owned()
            })
            .unwrap_or_else(|| panic!("no copy to {reader}"))
    };
    (id_of(READER_1), id_of(READER_2))
}

/// Posts `body` to `/webhooks/{provider}` with `headers`; the status and JSON.
pub async fn post(
    app: &TestApp,
    provider: &str,
    headers: &[(&str, String)],
    body: impl Into<reqwest::Body>,
) -> (u16, Value) {
    let mut request = app
        .client
        .post(format!("{}/webhooks/{provider}", app.address))
        .header("Content-Type", "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.expect("the webhook answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, json)
}

/// Both readers' statuses.
pub async fn statuses(app: &TestApp) -> (Option<String>, Option<String>) {
    (
        app.subscriber_status(READER_1).await,
        app.subscriber_status(READER_2).await,
    )
}

pub fn confirmed_both() -> (Option<String>, Option<String>) {
    (Some("confirmed".into()), Some("confirmed".into()))
}

/// The outcome lines of a 200 answer.
pub fn outcomes(answer: &Value) -> Vec<String> {
    answer["outcomes"]
        .as_array()
        .unwrap_or_else(|| panic!("no outcomes in {answer}"))
        .iter()
        .map(|line| line.as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A provider without its secret has no webhook; nor has an unknown one.
async fn unconfigured_providers_have_no_webhook(backend: crate::support::Backend) {
    let app = TestApp::spawn(backend).await;
    for provider in ["ses", "postmark", "mailgun", "sendgrid", "elsewhere"] {
        let (status, _) = post(&app, provider, &[], "{}").await;
        assert_eq!(status, 404, "{provider}");
    }
}

crate::on_both_databases!(unconfigured_providers_have_no_webhook);
