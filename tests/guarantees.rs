//! The sending guarantees, proven through the real `herald` executable: a
//! SIGKILL mid-send, an SMTP outage, throttling, permanent refusals and a
//! reader leaving mid-send. Each runs on SQLite and on PostgreSQL.

#[path = "api/support/database.rs"]
#[allow(dead_code)]
mod database;
#[path = "api/support/mail.rs"]
#[allow(dead_code)]
mod mail;
#[path = "api/support/smtp_server.rs"]
#[allow(dead_code)]
mod smtp_server;

#[path = "api/support/herald_process.rs"]
#[allow(dead_code)]
mod herald_process;

use std::collections::HashSet;
use std::time::Duration;

use herald::config::SecretKey;
use herald::subscriptions::{LinkKey, UnsubscribeToken};
use secrecy::SecretString;
use sqlx::Row;

use database::Backend;
use herald_process::{Setup, SECRET};
use smtp_server::SmtpMode;

macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if super::database::postgres_is_configured() {
                        super::$name(super::Backend::Postgres).await
                    }
                }
            )*
        }
    };
}

async fn a_send_killed_mid_way_finishes_after_a_restart(backend: Backend) {
    const READERS: usize = 5_000;
    const CONCURRENCY: usize = 16;
    let setup = Setup::new(
        backend,
        READERS,
        &[
            ("HERALD_SEND_CONCURRENCY", "16"),
            // The killed process's claims come due again after this.
            ("HERALD_CLAIM_LEASE", "10s"),
        ],
    )
    .await;
    let server = setup.serve().await;
    setup.send_issue().await;
    setup.wait_for_messages(1_000).await;
    server.kill();
    let at_kill = setup.smtp.messages().await.len();
    assert!(at_kill < READERS, "the send finished before the kill");

    let _server = setup.serve().await;
    setup.wait_until_all_recorded_sent().await;

    let duplicates = setup.assert_all_delivered_and_count_repeats().await;
    eprintln!("SIGKILL after {at_kill} of {READERS} copies: {duplicates} sent twice");
    assert!(
        duplicates <= CONCURRENCY,
        "{duplicates} duplicates; at most the {CONCURRENCY} messages in flight at the kill may repeat"
    );
}

async fn an_smtp_outage_delays_but_loses_and_doubles_nothing(backend: Backend) {
    let setup = Setup::new(
        backend,
        600,
        &[
            ("HERALD_SEND_RATE", "100"),
            ("HERALD_SEND_CONCURRENCY", "4"),
        ],
    )
    .await;
    let _server = setup.serve().await;
    setup.send_issue().await;
    setup.wait_for_messages(100).await;
    setup.smtp.stop().await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_ne!(setup.issue_status().await, "sent");
    // The relay could not be reached: the copies waited untried, none had
    // an attempt counted against it (nor a retry delay grown).
    let mut conn = setup.db.connect().await;
    let attempted: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM deliveries WHERE status = 'queued' AND attempts > 0",
    )
    .fetch_one(&mut conn)
    .await
    .expect("read the deliveries")
    .get("n");
    assert_eq!(
        attempted, 0,
        "copies with attempts counted during the outage"
    );
    drop(conn);
    setup.smtp.restart().await;
    setup.wait_until_sent().await;
    setup.assert_each_reader_got_one_copy().await;
    let counts = setup.delivery_counts().await;
    assert_eq!(counts.get("sent").copied(), Some(600), "{counts:?}");
}

async fn throttling_replies_are_retried_until_everything_is_delivered(backend: Backend) {
    let setup = Setup::new(backend, 300, &[("HERALD_SEND_RATE", "100")]).await;
    setup.smtp.set_mode(SmtpMode::ThrottleEvery(3));
    let _server = setup.serve().await;
    setup.send_issue().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    setup.smtp.set_mode(SmtpMode::Accept);
    setup.wait_until_sent().await;
    setup.assert_each_reader_got_one_copy().await;
    let counts = setup.delivery_counts().await;
    assert_eq!(counts.get("sent").copied(), Some(300), "{counts:?}");
    assert_eq!(counts.get("failed"), None, "{counts:?}");
}

async fn refused_recipients_are_counted_and_the_send_finishes(backend: Backend) {
    let setup = Setup::new(backend, 200, &[]).await;
    let refused: Vec<String> = setup.readers.iter().step_by(20).cloned().collect();
    for reader in &refused {
        setup.smtp.reject_recipient(reader, 550);
    }
    let _server = setup.serve().await;
    // --wait follows the send to its end and prints the outcome.
    let output = setup
        .run(&["issue", "send", &setup.issue.to_string(), "--wait"])
        .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "herald issue send --wait: {stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("sent 190"), "{stdout}");
    assert!(stdout.contains("failed 10"), "{stdout}");
    let copies = setup.copies().await;
    assert_eq!(copies.len(), 190);
    assert!(refused.iter().all(|r| !copies.contains_key(r)));
    let status = setup
        .run(&["issue", "status", &setup.issue.to_string()])
        .await;
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.contains(": sent") && status.contains("failed 10"),
        "{status}"
    );
}

async fn a_reader_who_unsubscribes_mid_send_gets_nothing_after(backend: Backend) {
    let setup = Setup::new(backend, 300, &[("HERALD_SEND_RATE", "50")]).await;
    let _server = setup.serve().await;
    setup.send_issue().await;
    setup.wait_for_messages(20).await;

    // Readers go out in id order; these are far down the queue.
    let leaving = &setup.readers[250..];
    let key = SecretKey::from_secret(&SecretString::from(SECRET));
    let mut conn = setup.db.connect().await;
    let client = reqwest::Client::new();
    for reader in leaving {
        let link_key: String = sqlx::query("SELECT link_key FROM subscribers WHERE email = $1")
            .bind(reader)
            .fetch_one(&mut conn)
            .await
            .expect("the reader's link key")
            .get("link_key");
        let link = format!(
            "{}/unsubscribe?token={}",
            setup.base_url(),
            UnsubscribeToken::for_link_key(&key, &LinkKey::from_stored(link_key)).as_str()
        );
        let before = setup.copies().await.contains_key(reader);
        let response = client
            .post(&link)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .expect("one-click POST");
        assert_eq!(response.status(), 200);
        assert!(
            !before,
            "{reader} got the issue before leaving; the test is too slow"
        );
    }
    setup.wait_until_sent().await;
    let copies = setup.copies().await;
    let after: Vec<&String> = leaving.iter().filter(|r| copies.contains_key(*r)).collect();
    assert!(
        after.is_empty(),
        "readers who left still got the issue: {after:?}"
    );
    assert_eq!(copies.len(), 250);
    let counts = setup.delivery_counts().await;
    assert_eq!(counts.get("cancelled").copied(), Some(50), "{counts:?}");
}

/// Issue 13: a signup is answered only once its row is committed, so a
/// SIGKILL right after the answers loses none: the restarted process
/// handles every one and mails its confirmation.
async fn signups_answered_before_a_sigkill_are_confirmed_after_a_restart(backend: Backend) {
    const SIGNUPS: usize = 40;
    let setup = Setup::new(
        backend,
        0,
        &[
            ("HERALD_SIGNUP_RATE_PER_MINUTE", "100000"),
            // Confirmations the killed process had claimed come due again after this.
            ("HERALD_CLAIM_LEASE", "10s"),
        ],
    )
    .await;
    let server = setup.serve().await;
    let client = reqwest::Client::new();
    let url = format!("{}/subscriptions", setup.base_url());
    let emails: Vec<String> = (0..SIGNUPS)
        .map(|n| format!("answered{n:02}@example.com"))
        .collect();
    let answers = futures_util::future::join_all(emails.iter().map(|email| {
        client
            .post(&url)
            .form(&[("email", email.as_str()), ("website", "")])
            .send()
    }))
    .await;
    server.kill();
    for (email, answer) in emails.iter().zip(answers) {
        let answer = answer.expect("an answer before the kill");
        assert_eq!(answer.status(), 200, "the signup of {email}");
    }
    let _server = setup.serve().await;
    // A confirmation sent just before the kill may be sent again (the bound
    // on duplicates after a crash), so wait for each address, not a count.
    let deadline = tokio::time::Instant::now() + herald_process::SEND_WAIT;
    let missing = loop {
        let confirmed: HashSet<String> = setup
            .smtp
            .messages()
            .await
            .iter()
            .map(|message| mail::Mail::from_received(message).to)
            .collect();
        let missing: Vec<&String> = emails.iter().filter(|e| !confirmed.contains(*e)).collect();
        if missing.is_empty() || tokio::time::Instant::now() > deadline {
            break missing;
        }
        tokio::time::sleep(herald_process::POLL).await;
    };
    assert!(
        missing.is_empty(),
        "answered signups never confirmed: {missing:?}"
    );
}

on_both_databases!(
    signups_answered_before_a_sigkill_are_confirmed_after_a_restart,
    a_send_killed_mid_way_finishes_after_a_restart,
    an_smtp_outage_delays_but_loses_and_doubles_nothing,
    throttling_replies_are_retried_until_everything_is_delivered,
    refused_recipients_are_counted_and_the_send_finishes,
    a_reader_who_unsubscribes_mid_send_gets_nothing_after,
);
