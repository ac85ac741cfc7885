//! Hearing back: with `HERALD_BOUNCE_ADDRESS` set, every copy and signup mail
//! leaves with its own VERP envelope sender, which names that very message
//! to Herald and to nobody else.

use std::time::Duration;

use herald::accounts::Role;
use herald::bounces::{ReturnPath, ReturnTarget};
use herald::config::SecretKey;
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::on_both_databases;
use crate::support::{Backend, TestApp, MAIL_WAIT, TEST_SECRET};

const BOUNCE_ADDRESS: &str = "bounces@news.example.org";

async fn app_with_bounce_address(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |config| {
        config.bounce_address = Some(BOUNCE_ADDRESS.parse().expect("an address"));
    })
    .await
}

/// Creates an issue and sends it through the API; waits until it is sent.
async fn send_an_issue(app: &TestApp) -> i64 {
    let token = app.api_token(Role::Editor).await;
    let created = app
        .api(Method::POST, "/api/v1/issues", &token)
        .json(&json!({"subject": "Return paths", "intro": "Hello."}))
        .send()
        .await
        .expect("create the issue");
    assert_eq!(created.status(), 201);
    let issue = created.json::<Value>().await.expect("json")["id"]
        .as_i64()
        .expect("an id");
    let sent = app
        .api(
            Method::POST,
            &format!("/api/v1/issues/{issue}/send"),
            &token,
        )
        .send()
        .await
        .expect("send");
    assert_eq!(sent.status(), 202);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let progress: Value = app
            .api(
                Method::GET,
                &format!("/api/v1/issues/{issue}/progress"),
                &token,
            )
            .send()
            .await
            .expect("progress")
            .json()
            .await
            .expect("json");
        if progress["status"] == "sent" {
            return issue;
        }
        assert!(tokio::time::Instant::now() < deadline, "{progress}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn each_mail_leaves_with_a_verp_sender_that_names_it(backend: Backend) {
    let app = app_with_bounce_address(backend).await;
    let reader = "reader@example.org";
    app.subscribed_reader(reader).await;
    let issue_id = send_an_issue(&app).await;
    let subscriber_id = app.db.subscriber_id(reader).await;

    let received = app.smtp.wait_for_messages(3, MAIL_WAIT).await;
    let key = SecretKey::from_secret(&SecretString::from(TEST_SECRET));
    let return_path = ReturnPath::new(BOUNCE_ADDRESS.parse().expect("an address"));
    let targets: Vec<ReturnTarget> = received
        .iter()
        .map(|message| {
            assert_eq!(message.rcpt_to, vec![reader.to_owned()]);
            assert!(
                message.mail_from.starts_with("bounces+")
                    && message.mail_from.ends_with("@news.example.org"),
                "MAIL FROM:<{}>",
                message.mail_from
            );
            let headers = String::from_utf8_lossy(&message.data);
            let from = headers
                .lines()
                .find(|line| line.starts_with("From:"))
                .expect("a From header");
            assert!(
                !from.contains("bounces"),
                "the From header stays the newsletter's: {from}"
            );
            return_path
                .target_of(&key, &message.mail_from)
                .unwrap_or_else(|| panic!("{} names no message", message.mail_from))
        })
        .collect();
    assert_eq!(
        targets,
        vec![
            ReturnTarget::Confirmation { subscriber_id },
            ReturnTarget::Welcome { subscriber_id },
            ReturnTarget::IssueCopy {
                issue_id,
                subscriber_id
            },
        ]
    );

    let other_key = SecretKey::from_secret(&SecretString::from(
        "another-secret-that-is-long-enough-0123456789",
    ));
    assert_eq!(
        return_path.target_of(&other_key, &received[2].mail_from),
        None,
        "only the key that made a token reads it"
    );
}

async fn without_a_bounce_address_the_envelope_sender_is_the_from_address(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.sign_up("reader@example.org", "Reader").await;
    let received = app.smtp.wait_for_messages(1, MAIL_WAIT).await;
    assert_eq!(received[0].mail_from, app.config.from.email.to_string());
}

on_both_databases!(
    each_mail_leaves_with_a_verp_sender_that_names_it,
    without_a_bounce_address_the_envelope_sender_is_the_from_address,
);
