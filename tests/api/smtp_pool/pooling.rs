//! Sessions are reused, limited in number, replaced after N messages, kept
//! after a refusal, and opened anew when the server comes back.

use std::num::{NonZeroU32, NonZeroUsize};

use futures_util::future::join_all;
use herald::mail::{SendError, Stage};

use super::{mailer, send};
use crate::support::TestSmtpServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_session_carries_message_after_message() {
    let smtp = TestSmtpServer::start().await;
    let mailer = mailer(&smtp.url(), |_| {});
    for i in 0..10 {
        let reply = send(&mailer, &format!("reader{i}@example.org"))
            .await
            .expect("sent");
        assert!(reply.starts_with("250 "), "reply: {reply}");
        assert!(
            reply.contains("queued as"),
            "the server's text is kept: {reply}"
        );
    }
    assert_eq!(smtp.messages().await.len(), 10);
    assert_eq!(smtp.connections_accepted(), 1, "one session for all");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_replaced_after_the_configured_number_of_messages() {
    let smtp = TestSmtpServer::start().await;
    let mailer = mailer(&smtp.url(), |config| {
        config.smtp_messages_per_connection = NonZeroU32::new(2).expect("non-zero");
    });
    for i in 0..7 {
        send(&mailer, &format!("reader{i}@example.org"))
            .await
            .expect("sent");
    }
    assert_eq!(smtp.messages().await.len(), 7);
    assert_eq!(smtp.connections_accepted(), 4, "2 + 2 + 2 + 1 messages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sends_share_at_most_the_configured_number_of_sessions() {
    let smtp = TestSmtpServer::start().await;
    let mailer = mailer(&smtp.url(), |config| {
        config.send_concurrency = NonZeroUsize::new(3).expect("non-zero");
    });
    let recipients: Vec<String> = (0..30).map(|i| format!("reader{i}@example.org")).collect();
    let results = join_all(recipients.iter().map(|to| send(&mailer, to))).await;
    for (to, result) in recipients.iter().zip(&results) {
        assert!(result.is_ok(), "{to}: {result:?}");
    }
    assert_eq!(smtp.messages().await.len(), 30);
    let sessions = smtp.connections_accepted();
    assert!(
        (1..=3).contains(&sessions),
        "30 messages at once opened {sessions} sessions; the limit is 3"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_recipient_fails_that_message_and_the_session_goes_on() {
    refusals_leave_the_session_in_step(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_pipelining_a_refusal_also_leaves_the_session_in_step() {
    refusals_leave_the_session_in_step(false).await;
}

/// With PIPELINING, MAIL, RCPT and DATA go in one write and a refused RCPT
/// makes the server refuse DATA too; every reply must be read for the next
/// message to find the session in step.
async fn refusals_leave_the_session_in_step(pipelining: bool) {
    let smtp = TestSmtpServer::start().await;
    if !pipelining {
        smtp.without_pipelining();
    }
    smtp.reject_recipient("gone@example.org", 550);
    smtp.reject_recipient("later@example.org", 451);
    let mailer = mailer(&smtp.url(), |_| {});

    match send(&mailer, "gone@example.org").await {
        Err(SendError::Refused(refusal)) => {
            assert_eq!(refusal.code, 550, "{refusal}");
            assert_eq!(refusal.stage, Stage::Recipient, "{refusal}");
            assert!(
                refusal.text.starts_with("5.1.1 <gone@example.org>"),
                "{refusal}"
            );
        }
        other => panic!("a 550 is a permanent refusal of RCPT TO, got {other:?}"),
    }
    match send(&mailer, "later@example.org").await {
        Err(SendError::Transient(text)) => assert!(text.contains("451"), "{text}"),
        other => panic!("a 451 is a temporary failure, got {other:?}"),
    }
    send(&mailer, "here@example.org").await.expect("sent");

    let messages = smtp.messages().await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].rcpt_to, ["here@example.org"]);
    assert_eq!(
        smtp.connections_accepted(),
        1,
        "RSET cleared each refused transaction on the same session"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_starting_with_a_dot_arrive_as_written() {
    let smtp = TestSmtpServer::start().await;
    let mailer = mailer(&smtp.url(), |_| {});
    let envelope = lettre::address::Envelope::new(
        Some("news@example.com".parse().expect("address")),
        vec!["reader@example.org".parse().expect("address")],
    )
    .expect("envelope");
    let raw = b"Subject: dots\r\n\r\n.first line\r\nmiddle\r\n..two dots\r\n.\r\nend\r\n";
    mailer.send_raw(&envelope, raw).await.expect("sent");
    let messages = smtp.messages().await;
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0].data,
        raw.to_vec(),
        "dot-stuffing was undone exactly"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_opens_new_sessions_after_the_server_restarts() {
    let smtp = TestSmtpServer::start().await;
    let mailer = mailer(&smtp.url(), |_| {});
    send(&mailer, "first@example.org").await.expect("sent");

    // The idle session died with the server; the next message must not.
    smtp.stop().await;
    smtp.restart().await;
    send(&mailer, "second@example.org")
        .await
        .expect("sent over a new session");
    assert_eq!(smtp.connections_accepted(), 2);

    smtp.stop().await;
    match send(&mailer, "third@example.org").await {
        Err(SendError::Transient(text)) => {
            assert!(text.contains("cannot connect"), "{text}");
        }
        other => panic!("a server that is down is a temporary failure, got {other:?}"),
    }
    smtp.restart().await;
    send(&mailer, "third@example.org")
        .await
        .expect("sent once the server is back");

    let recipients: Vec<String> = smtp
        .messages()
        .await
        .into_iter()
        .flat_map(|m| m.rcpt_to)
        .collect();
    assert_eq!(
        recipients,
        [
            "first@example.org",
            "second@example.org",
            "third@example.org"
        ]
    );
}
