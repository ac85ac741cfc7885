//! Herald as real processes for the tests that need them: a database with
//! confirmed readers and one issue, a test SMTP server, and `herald serve`,
//! `herald worker` and one-shot commands started against them.

use std::collections::{HashMap, HashSet};
use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use herald::issues::{HeaderInput, IssueContent, Issues, ItemInput};
use herald::store::{now_millis, Store};
use herald::subscriptions::admin::{insert_samples, SampleSubscriber};
use herald::subscriptions::{SubscriberEmail, SubscriberName, SubscriberStatus};
use sqlx::Row;
use tokio::time::Instant;

use crate::database::{Backend, TestDatabase};
use crate::mail::Mail;
use crate::smtp_server::TestSmtpServer;

pub const SECRET: &str = "guarantees-secret-that-is-long-enough-0123456789";
pub const ISSUE_SUBJECT: &str = "Guaranteed digest";
pub const READY_WAIT: Duration = Duration::from_secs(30);
/// A send of a few thousand copies by a debug build, beside other tests.
pub const SEND_WAIT: Duration = Duration::from_secs(240);
pub const POLL: Duration = Duration::from_millis(100);

/// A database with confirmed readers and one issue, an SMTP server, and the
/// environment `herald` runs with.
pub struct Setup {
    pub db: TestDatabase,
    pub smtp: TestSmtpServer,
    pub port: u16,
    pub issue: i64,
    pub readers: Vec<String>,
    pub extra_env: Vec<(String, String)>,
}

impl Setup {
    pub async fn new(backend: Backend, readers: usize, extra_env: &[(&str, &str)]) -> Setup {
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
        let article = include_str!("../../fixtures/article.txt");
        let paragraphs: Vec<&str> = article
            .split("\n\n")
            .filter(|p| !p.trim().is_empty())
            .take(4)
            .collect();
        let content = IssueContent::parse(
            &HeaderInput {
                subject: ISSUE_SUBJECT.into(),
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

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn command(&self, args: &[&str]) -> Command {
        self.command_with(args, &[])
    }

    /// `herald args` with the setup's environment, plus `env` on top.
    pub fn command_with(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
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
            .envs(env.iter().copied())
            .stdin(Stdio::null());
        command
    }

    /// Starts `herald serve` and waits until it answers.
    pub async fn serve(&self) -> Server {
        self.serve_with(&["serve"], &[]).await
    }

    /// Starts `herald args` (`serve` with options) and waits until it answers.
    pub async fn serve_with(&self, args: &[&str], env: &[(&str, &str)]) -> Server {
        let child = self
            .command_with(args, env)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start herald serve");
        let server = Server { child };
        wait_until_healthy(&reqwest::Client::new(), &self.base_url()).await;
        server
    }

    /// Starts `herald worker` with `env` on top of the setup's environment.
    pub fn worker(&self, env: &[(&str, &str)]) -> Server {
        let child = self
            .command_with(&["worker"], env)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start herald worker");
        Server { child }
    }

    /// Runs a one-shot `herald` command to its end.
    pub async fn run(&self, args: &[&str]) -> Output {
        let mut command = self.command(args);
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        tokio::task::spawn_blocking(move || command.output().expect("run herald"))
            .await
            .expect("the command thread")
    }

    pub async fn send_issue(&self) {
        let output = self.run(&["issue", "send", &self.issue.to_string()]).await;
        assert!(
            output.status.success(),
            "herald issue send failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    pub async fn issue_status(&self) -> String {
        let mut conn = self.db.connect().await;
        sqlx::query("SELECT status FROM issues WHERE id = $1")
            .bind(self.issue)
            .fetch_one(&mut conn)
            .await
            .expect("read the issue")
            .get("status")
    }

    pub async fn wait_until_sent(&self) {
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

    /// Waits until the issue is sent, then checks that every reader's
    /// delivery is recorded `sent`.
    pub async fn wait_until_all_recorded_sent(&self) {
        self.wait_until_sent().await;
        let counts = self.delivery_counts().await;
        assert_eq!(
            counts.get("sent").copied(),
            Some(self.readers.len() as i64),
            "{counts:?}"
        );
    }

    /// (status, count) of the issue's deliveries.
    /// Called once the send stands still, it also holds the progress tallies
    /// to a count of every copy.
    pub async fn delivery_counts(&self) -> HashMap<String, i64> {
        self.db.tallied_counts(self.issue).await;
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
    pub async fn copies(&self) -> HashMap<String, Vec<Mail>> {
        copies_by_reader(&[&self.smtp]).await
    }

    pub async fn wait_for_messages(&self, n: usize) {
        self.smtp.wait_for_messages(n, SEND_WAIT).await;
    }

    /// Every reader got the issue exactly once, each copy with a Message-ID of its own.
    pub async fn assert_each_reader_got_one_copy(&self) {
        let copies = self.copies().await;
        assert_exactly_once(&self.readers, &copies);
    }

    /// After a crash: every reader got the issue, and a reader who got it
    /// more than once got the same message (one Message-ID). Returns how
    /// many copies were repeats.
    pub async fn assert_all_delivered_and_count_repeats(&self) -> usize {
        let copies = self.copies().await;
        let missing = self
            .readers
            .iter()
            .filter(|r| !copies.contains_key(*r))
            .count();
        assert_eq!(missing, 0, "{missing} readers never got the issue");
        let mut repeats = 0;
        for (reader, mails) in &copies {
            if mails.len() > 1 {
                repeats += mails.len() - 1;
                let ids: HashSet<Option<&str>> =
                    mails.iter().map(|m| header(m, "Message-ID")).collect();
                assert_eq!(
                    ids.len(),
                    1,
                    "{reader}'s copies carry different Message-IDs: {ids:?}"
                );
            }
        }
        repeats
    }
}

pub struct Server {
    pub child: Child,
}

impl Server {
    /// SIGKILL: no chance to finish anything.
    pub fn kill(mut self) {
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

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("its address")
        .port()
}

pub fn header<'a>(mail: &'a Mail, name: &str) -> Option<&'a str> {
    mail.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Copies of the setup's issue received at `servers`, by reader.
pub async fn copies_by_reader(servers: &[&TestSmtpServer]) -> HashMap<String, Vec<Mail>> {
    let mut by_reader: HashMap<String, Vec<Mail>> = HashMap::new();
    for server in servers {
        for message in server.messages().await {
            let mail = Mail::from_received(&message);
            if mail.subject == ISSUE_SUBJECT {
                by_reader.entry(mail.to.clone()).or_default().push(mail);
            }
        }
    }
    by_reader
}

/// Every one of `readers` has exactly one copy, and every copy its own Message-ID.
pub fn assert_exactly_once(readers: &[String], copies: &HashMap<String, Vec<Mail>>) {
    let missing: Vec<&String> = readers
        .iter()
        .filter(|r| !copies.contains_key(*r))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "readers without the issue, e.g. {missing:?}"
    );
    let twice: Vec<(&String, usize)> = copies
        .iter()
        .filter(|(_, mails)| mails.len() > 1)
        .map(|(reader, mails)| (reader, mails.len()))
        .take(5)
        .collect();
    assert!(
        twice.is_empty(),
        "readers who got the issue twice: {twice:?}"
    );
    let ids: HashSet<Option<&str>> = copies
        .values()
        .flatten()
        .map(|mail| header(mail, "Message-ID"))
        .collect();
    assert_eq!(
        ids.len(),
        readers.len(),
        "each copy carries a Message-ID of its own"
    );
}

/// Waits until the `herald serve` at `base_url` answers `/health` with 200.
pub async fn wait_until_healthy(client: &reqwest::Client, base_url: &str) {
    let deadline = Instant::now() + READY_WAIT;
    loop {
        let health = client.get(format!("{base_url}/health")).send().await;
        if health.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "herald serve did not start within {READY_WAIT:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}
