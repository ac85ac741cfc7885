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

use std::collections::{HashMap, HashSet};
use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use herald::config::SecretKey;
use herald::issues::{HeaderInput, IssueContent, Issues, ItemInput};
use herald::store::{now_millis, Store};
use herald::subscriptions::admin::{insert_samples, SampleSubscriber};
use herald::subscriptions::{SubscriberEmail, SubscriberName, SubscriberStatus, UnsubscribeToken};
use secrecy::SecretString;
use sqlx::Row;
use tokio::time::Instant;

use database::{Backend, TestDatabase};
use mail::Mail;
use smtp_server::{SmtpMode, TestSmtpServer};

const SECRET: &str = "guarantees-secret-that-is-long-enough-0123456789";
const READY_WAIT: Duration = Duration::from_secs(30);
/// A send of a few thousand copies by a debug build, beside other tests.
const SEND_WAIT: Duration = Duration::from_secs(240);
const POLL: Duration = Duration::from_millis(100);

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

/// A database with confirmed readers and one issue, an SMTP server, and the
/// environment `herald` runs with.
struct Setup {
    db: TestDatabase,
    smtp: TestSmtpServer,
    port: u16,
    issue: i64,
    readers: Vec<String>,
    extra_env: Vec<(String, String)>,
}

impl Setup {
    async fn new(backend: Backend, readers: usize, extra_env: &[(&str, &str)]) -> Setup {
        let db = TestDatabase::create(backend).await;
        let store = Store::connect(&db.url, 2).await.expect("open the database");
        store.migrate().await.expect("migrate");
        let rows: Vec<SampleSubscriber> = (1..=readers)
            .map(|n| SampleSubscriber {
                email: SubscriberEmail::parse(&format!("reader{n:05}@example.com")).expect("valid"),
                name: SubscriberName::parse(&format!("Reader {n}")).expect("valid"),
                status: SubscriberStatus::Confirmed,
                created_at: now_millis(),
            })
            .collect();
        insert_samples(&store, &rows).await.expect("insert readers");
        let article = include_str!("fixtures/article.txt");
        let paragraphs: Vec<&str> = article
            .split("\n\n")
            .filter(|p| !p.trim().is_empty())
            .take(4)
            .collect();
        let content = IssueContent::parse(
            &HeaderInput {
                subject: "Guaranteed digest".into(),
                preheader: String::new(),
                intro: "This week's *news*.".into(),
            },
            &[ItemInput {
                title: "Russian military arrive in Venezuela".into(),
                url: "https://ctmnews.example/2019/03/28/venezuela".into(),
                source: "CTM News".into(),
                date: "2019-03-28".into(),
                summary: paragraphs.join("\n\n"),
            }],
        )
        .expect("a valid issue");
        let issue = Issues::new(store.clone())
            .create(&content)
            .await
            .expect("create the issue");
        store.close().await;
        Setup {
            db,
            smtp: TestSmtpServer::start().await,
            port: free_port(),
            issue,
            readers: rows.iter().map(|r| r.email.as_str().to_owned()).collect(),
            extra_env: extra_env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
        command
            .args(args)
            .current_dir(self.db.dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &self.db.url)
            .env("SMTP_URL", self.smtp.url())
            .env("HERALD_BIND", format!("127.0.0.1:{}", self.port))
            .env("HERALD_BASE_URL", self.base_url())
            .env("HERALD_SECRET", SECRET)
            .env("HERALD_RETRY_MIN_DELAY", "200ms")
            .env("HERALD_RETRY_MAX_DELAY", "2s")
            .env("RUST_LOG", "warn")
            .envs(self.extra_env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        command
    }

    /// Starts `herald serve` and waits until it answers.
    async fn serve(&self) -> Server {
        let child = self
            .command(&["serve"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start herald serve");
        let server = Server { child };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + READY_WAIT;
        loop {
            let health = client
                .get(format!("{}/health", self.base_url()))
                .send()
                .await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "herald serve did not start within {READY_WAIT:?}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Runs a one-shot `herald` command to its end.
    async fn run(&self, args: &[&str]) -> Output {
        let mut command = self.command(args);
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        tokio::task::spawn_blocking(move || command.output().expect("run herald"))
            .await
            .expect("the command thread")
    }

    async fn send_issue(&self) {
        let output = self.run(&["issue", "send", &self.issue.to_string()]).await;
        assert!(
            output.status.success(),
            "herald issue send failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    async fn issue_status(&self) -> String {
        let mut conn = self.db.connect().await;
        sqlx::query("SELECT status FROM issues WHERE id = $1")
            .bind(self.issue)
            .fetch_one(&mut conn)
            .await
            .expect("read the issue")
            .get("status")
    }

    async fn wait_until_sent(&self) {
        let deadline = Instant::now() + SEND_WAIT;
        loop {
            let status = self.issue_status().await;
            if status == "sent" {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the send did not finish within {SEND_WAIT:?}: status {status}, {} messages arrived",
                self.smtp.messages().await.len()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// (status, count) of the issue's deliveries.
    async fn delivery_counts(&self) -> HashMap<String, i64> {
        let mut conn = self.db.connect().await;
        sqlx::query(
            "SELECT status, COUNT(*) AS n FROM deliveries WHERE issue_id = $1 GROUP BY status",
        )
        .bind(self.issue)
        .fetch_all(&mut conn)
        .await
        .expect("count deliveries")
        .iter()
        .map(|row| (row.get("status"), row.get("n")))
        .collect()
    }

    /// Copies received, by reader.
    async fn copies(&self) -> HashMap<String, Vec<Mail>> {
        let mut by_reader: HashMap<String, Vec<Mail>> = HashMap::new();
        for message in self.smtp.messages().await {
            let mail = Mail::from_received(&message);
            if mail.subject == "Guaranteed digest" {
                by_reader.entry(mail.to.clone()).or_default().push(mail);
            }
        }
        by_reader
    }

    async fn wait_for_messages(&self, n: usize) {
        self.smtp.wait_for_messages(n, SEND_WAIT).await;
    }

    /// Every reader got the issue exactly once.
    async fn assert_each_reader_got_one_copy(&self) {
        let copies = self.copies().await;
        let missing: Vec<&String> = self
            .readers
            .iter()
            .filter(|r| !copies.contains_key(*r))
            .take(5)
            .collect();
        assert!(
            missing.is_empty(),
            "readers without the issue, e.g. {missing:?}"
        );
        let twice: Vec<&String> = copies
            .iter()
            .filter(|(_, mails)| mails.len() > 1)
            .map(|(reader, _)| reader)
            .take(5)
            .collect();
        assert!(
            twice.is_empty(),
            "readers who got the issue twice, e.g. {twice:?}"
        );
    }
}

struct Server {
    child: Child,
}

impl Server {
    /// SIGKILL: no chance to finish anything.
    fn kill(mut self) {
        self.child.kill().expect("kill herald");
        self.child.wait().expect("reap herald");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("its address")
        .port()
}

fn header<'a>(mail: &'a Mail, name: &str) -> Option<&'a str> {
    mail.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

async fn a_send_killed_mid_way_finishes_after_a_restart(backend: Backend) {
    const READERS: usize = 5_000;
    const CONCURRENCY: usize = 16;
    let setup = Setup::new(backend, READERS, &[("HERALD_SEND_CONCURRENCY", "16")]).await;
    let server = setup.serve().await;
    setup.send_issue().await;
    setup.wait_for_messages(1_000).await;
    server.kill();
    let at_kill = setup.smtp.messages().await.len();
    assert!(at_kill < READERS, "the send finished before the kill");

    let _server = setup.serve().await;
    setup.wait_until_sent().await;
    let counts = setup.delivery_counts().await;
    assert_eq!(
        counts.get("sent").copied(),
        Some(READERS as i64),
        "{counts:?}"
    );

    let copies = setup.copies().await;
    let missing = setup
        .readers
        .iter()
        .filter(|r| !copies.contains_key(*r))
        .count();
    assert_eq!(missing, 0, "{missing} readers never got the issue");
    let mut duplicates = 0;
    for (reader, mails) in &copies {
        if mails.len() > 1 {
            duplicates += mails.len() - 1;
            let ids: HashSet<Option<&str>> =
                mails.iter().map(|m| header(m, "Message-ID")).collect();
            assert_eq!(
                ids.len(),
                1,
                "{reader}'s copies carry different Message-IDs: {ids:?}"
            );
        }
    }
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
        let id: i64 = sqlx::query("SELECT id FROM subscribers WHERE email = $1")
            .bind(reader)
            .fetch_one(&mut conn)
            .await
            .expect("the reader's id")
            .get("id");
        let link = format!(
            "{}/unsubscribe?token={}",
            setup.base_url(),
            UnsubscribeToken::for_subscriber(&key, id).as_str()
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

on_both_databases!(
    a_send_killed_mid_way_finishes_after_a_restart,
    an_smtp_outage_delays_but_loses_and_doubles_nothing,
    throttling_replies_are_retried_until_everything_is_delivered,
    refused_recipients_are_counted_and_the_send_finishes,
    a_reader_who_unsubscribes_mid_send_gets_nothing_after,
);
