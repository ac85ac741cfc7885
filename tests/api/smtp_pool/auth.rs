//! AUTH through the pool: credentials from the URL, percent-decoded; wrong
//! ones are a permanent failure that never shows the password.

use herald::mail::{SendError, Stage};

use super::{mailer, send};
use crate::support::TestSmtpServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_right_credentials_deliver_over_one_authenticated_session() {
    let smtp = TestSmtpServer::start().await;
    smtp.require_auth("herald", "s3cret");
    let mailer = mailer(
        &format!("smtp://herald:s3cret@127.0.0.1:{}", smtp.port()),
        |_| {},
    );
    for to in ["one@example.org", "two@example.org"] {
        send(&mailer, to).await.expect("sent");
    }
    let messages = smtp.messages().await;
    assert_eq!(messages.len(), 2);
    for message in &messages {
        assert_eq!(message.auth_user.as_deref(), Some("herald"));
    }
    assert_eq!(smtp.connections_accepted(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_percent_decoded() {
    let smtp = TestSmtpServer::start().await;
    smtp.require_auth("news@example.com", "p@ss:w/rd%20");
    let mailer = mailer(
        &format!(
            "smtp://news%40example.com:p%40ss%3Aw%2Frd%2520@127.0.0.1:{}",
            smtp.port()
        ),
        |_| {},
    );
    send(&mailer, "reader@example.org").await.expect("sent");
    let messages = smtp.messages().await;
    assert_eq!(messages[0].auth_user.as_deref(), Some("news@example.com"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_fail_for_good_without_showing_the_password() {
    let smtp = TestSmtpServer::start().await;
    smtp.require_auth("herald", "s3cret");
    let password = "Wr0ng-Passw0rd";
    let mailer = mailer(
        &format!("smtp://herald:{password}@127.0.0.1:{}", smtp.port()),
        |_| {},
    );
    let error = send(&mailer, "reader@example.org")
        .await
        .expect_err("the server refuses the credentials");
    let text = error.to_string();
    assert!(
        matches!(error, SendError::Permanent(_)),
        "535 is permanent: {text}"
    );
    assert!(text.contains("535"), "{text}");
    for shown in [text, mailer.describe(), format!("{mailer:?}")] {
        assert!(!shown.contains(password), "the password leaked: {shown}");
    }
    assert!(smtp.messages().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_credentials_a_server_that_demands_them_refuses_for_good() {
    let smtp = TestSmtpServer::start().await;
    smtp.require_auth("herald", "s3cret");
    let mailer = mailer(&smtp.url(), |_| {});
    match send(&mailer, "reader@example.org").await {
        Err(SendError::Refused(refusal)) => {
            assert_eq!(refusal.code, 530, "{refusal}");
            assert_eq!(refusal.stage, Stage::Sender, "{refusal}");
        }
        other => panic!("expected a 530 refusing MAIL FROM, got {other:?}"),
    }
}
