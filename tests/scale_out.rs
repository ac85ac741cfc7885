//! Several Herald processes on one PostgreSQL database, as real processes:
//! two workers and a web process send 20,000 copies exactly once and obey a
//! pause; a SIGKILLed worker's copies are finished by the other; three
//! workers share one rate and one concurrency; a PostgreSQL restart mid-send
//! is ridden out.
//!
//! Every worker sends with its own envelope sender (`HERALD_FROM`), so the
//! test SMTP server tells which process sent what. The tests run one at a
//! time: one of them restarts the PostgreSQL server every test here uses.

#[path = "api/support/database.rs"]
#[allow(dead_code)]
mod database;
#[path = "api/support/herald_process.rs"]
#[allow(dead_code)]
mod herald_process;
#[path = "api/support/mail.rs"]
#[allow(dead_code)]
mod mail;
#[path = "api/support/smtp_server.rs"]
#[allow(dead_code)]
mod smtp_server;

use std::collections::HashSet;
use std::process::Stdio;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use database::Backend;
use herald_process::{assert_exactly_once, Server, Setup};
use smtp_server::ReceivedMessage;

/// The PostgreSQL server is shared: the restart test must not pull it away
/// from under another test of this file.
static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

fn sender_env(n: usize) -> String {
    format!("Herald <worker{n}@example.com>")
}

fn sent_by(message: &ReceivedMessage, n: usize) -> bool {
    message.mail_from == format!("worker{n}@example.com")
}

/// A worker process with its own envelope sender and `env` on top.
fn worker(setup: &Setup, n: usize, env: &[(&str, &str)]) -> Server {
    let from = sender_env(n);
    let mut env = env.to_vec();
    env.push(("HERALD_FROM", &from));
    setup.worker(&env)
}

/// Skips (with a note) only outside CI when no PostgreSQL is configured.
fn postgres() -> bool {
    database::postgres_is_configured()
}

/// An admin account and a token it owns, as an operator makes them.
async fn api_token(setup: &Setup) -> String {
    let mut add = setup.command_with(
        &["user", "add", "ops@example.com", "--role", "admin"],
        &[("HERALD_PASSWORD", "a long enough password")],
    );
    let added = tokio::task::spawn_blocking(move || add.output().expect("run herald user add"))
        .await
        .expect("the command thread");
    assert!(added.status.success(), "herald user add failed");
    let output = setup
        .run(&[
            "token",
            "create",
            "--name",
            "scale-out",
            "--owner",
            "ops@example.com",
        ])
        .await;
    assert!(output.status.success(), "herald token create failed");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

async fn api_post(setup: &Setup, token: &str, path: &str) -> reqwest::StatusCode {
    reqwest::Client::new()
        .post(format!("{}/api/v1{path}", setup.base_url()))
        .bearer_auth(token)
        .send()
        .await
        .expect("the API answers")
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_and_a_web_process_send_twenty_thousand_copies_exactly_once() {
    if !postgres() {
        return;
    }
    let _alone = ONE_AT_A_TIME.lock().await;
    const READERS: usize = 20_000;
    let setup = Setup::new(
        Backend::Postgres,
        READERS,
        &[("HERALD_SEND_CONCURRENCY", "8")],
    )
    .await;
    let _web = setup.serve_with(&["serve", "--no-worker"], &[]).await;
    let _workers = [worker(&setup, 1, &[]), worker(&setup, 2, &[])];
    let token = api_token(&setup).await;
    let issue = setup.issue;

    assert_eq!(
        api_post(&setup, &token, &format!("/issues/{issue}/send")).await,
        202
    );
    setup.wait_for_messages(4_000).await;

    // A pause reaches both workers within two seconds.
    assert_eq!(
        api_post(&setup, &token, &format!("/issues/{issue}/pause")).await,
        200
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after_pause = setup.smtp.messages().await.len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let later = setup.smtp.messages().await.len();
    assert_eq!(
        later, after_pause,
        "copies still went out 2 s after the pause"
    );
    assert!(after_pause < READERS, "the send finished before the pause");
    assert_eq!(
        api_post(&setup, &token, &format!("/issues/{issue}/resume")).await,
        200
    );

    setup.wait_until_sent().await;
    let copies = setup.copies().await;
    assert_exactly_once(&setup.readers, &copies);
    let messages = setup.smtp.messages().await;
    for n in [1, 2] {
        let share = messages.iter().filter(|m| sent_by(m, n)).count();
        eprintln!("worker {n} sent {share} of {READERS}");
        assert!(
            share >= READERS / 5,
            "worker {n} sent only {share} of {READERS}: the workers did not share the send"
        );
    }
    let counts = setup.delivery_counts().await;
    assert_eq!(
        counts.get("sent").copied(),
        Some(READERS as i64),
        "{counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_s_copies_are_finished_by_the_other() {
    if !postgres() {
        return;
    }
    let _alone = ONE_AT_A_TIME.lock().await;
    const READERS: usize = 5_000;
    // Eight connections for the deployment: four for each worker.
    const KILLED_WORKER_SLOTS: usize = 4;
    let setup = Setup::new(
        Backend::Postgres,
        READERS,
        &[
            ("HERALD_SEND_CONCURRENCY", "8"),
            ("HERALD_CLAIM_LEASE", "5s"),
        ],
    )
    .await;
    let doomed = worker(&setup, 1, &[]);
    let _survivor = worker(&setup, 2, &[]);
    setup.send_issue().await;
    // Both under way, then one dies without a chance to finish anything.
    let deadline = Instant::now() + herald_process::SEND_WAIT;
    loop {
        let messages = setup.smtp.messages().await;
        if messages.iter().filter(|m| sent_by(m, 1)).count() >= 500
            && messages.iter().filter(|m| sent_by(m, 2)).count() >= 500
        {
            break;
        }
        assert!(Instant::now() < deadline, "the workers did not both send");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    doomed.kill();
    let at_kill = setup.smtp.messages().await.len();
    assert!(at_kill < READERS, "the send finished before the kill");

    setup.wait_until_all_recorded_sent().await;
    let duplicates = setup.assert_all_delivered_and_count_repeats().await;
    let copies = setup.copies().await;
    // A repeat is a copy the killed worker had sent but not recorded; the
    // survivor's own copies are never repeated.
    let messages = setup.smtp.messages().await;
    let doubled: HashSet<&String> = copies
        .iter()
        .filter(|(_, mails)| mails.len() > 1)
        .map(|(reader, _)| reader)
        .collect();
    for reader in &doubled {
        let by_killed = messages
            .iter()
            .filter(|m| m.rcpt_to.contains(reader) && sent_by(m, 1))
            .count();
        assert_eq!(
            by_killed, 1,
            "{reader}'s repeat was not the killed worker's"
        );
    }
    eprintln!("SIGKILL of one worker after {at_kill} of {READERS} copies: {duplicates} sent twice");
    assert!(
        duplicates <= KILLED_WORKER_SLOTS,
        "{duplicates} duplicates; only the killed worker's {KILLED_WORKER_SLOTS} messages in flight may repeat"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_share_one_rate_and_one_concurrency() {
    if !postgres() {
        return;
    }
    let _alone = ONE_AT_A_TIME.lock().await;
    const READERS: usize = 500;
    const RATE: usize = 100;
    const CONCURRENCY: usize = 6;
    let setup = Setup::new(
        Backend::Postgres,
        READERS,
        &[
            ("HERALD_SEND_RATE", "100"),
            ("HERALD_SEND_CONCURRENCY", "6"),
        ],
    )
    .await;
    let _workers = [
        worker(&setup, 1, &[]),
        worker(&setup, 2, &[]),
        worker(&setup, 3, &[]),
    ];
    // Each has joined and taken its share before the send starts.
    tokio::time::sleep(Duration::from_secs(3)).await;
    setup.send_issue().await;
    setup.wait_until_sent().await;
    let copies = setup.copies().await;
    assert_exactly_once(&setup.readers, &copies);

    let messages = setup.smtp.messages().await;
    for n in 1..=3 {
        let share = messages.iter().filter(|m| sent_by(m, n)).count();
        assert!(share > 0, "worker {n} sent nothing");
    }
    let first = messages
        .iter()
        .map(|m| m.received_at)
        .min()
        .expect("mail arrived");
    let last = messages
        .iter()
        .map(|m| m.received_at)
        .max()
        .expect("mail arrived");
    let span = last - first;
    // 500 at 100/s in total take about 5 s; three processes at 100/s each would take 1.7 s.
    let rate = (READERS - 1) as f64 / span.as_secs_f64();
    eprintln!(
        "three workers: {READERS} copies in {:.2} s, {rate:.0}/s; at most {} at once",
        span.as_secs_f64(),
        setup.smtp.most_concurrent_transactions()
    );
    // …and together they use it: the booked send times are not wasted.
    assert!(
        rate <= RATE as f64 * 1.1 && rate >= RATE as f64 * 0.6,
        "{rate:.0} messages/s with HERALD_SEND_RATE={RATE}"
    );
    let busiest_second = messages
        .iter()
        .map(|start| {
            messages
                .iter()
                .filter(|m| {
                    m.received_at >= start.received_at
                        && m.received_at < start.received_at + Duration::from_secs(1)
                })
                .count()
        })
        .max()
        .unwrap_or(0);
    assert!(
        busiest_second <= RATE + RATE / 10,
        "{busiest_second} copies within one second with HERALD_SEND_RATE={RATE}"
    );
    assert!(
        setup.smtp.most_concurrent_transactions() <= CONCURRENCY,
        "{} messages in flight at once with HERALD_SEND_CONCURRENCY={CONCURRENCY}",
        setup.smtp.most_concurrent_transactions()
    );
}

/// `pg_ctlcluster VERSION main ACTION` on the cluster serving 127.0.0.1:5432.
fn pg_ctlcluster(action: &str) -> Result<(), String> {
    let version = std::fs::read_dir("/etc/postgresql")
        .ok()
        .and_then(|mut versions| versions.next())
        .and_then(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .ok_or("no PostgreSQL cluster under /etc/postgresql")?;
    let status = std::process::Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &version, "main", action])
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run pg_ctlcluster: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("pg_ctlcluster {version} main {action}: {status}"))
    }
}

fn postgres_ctl(action: &str) {
    if let Err(problem) = pg_ctlcluster(action) {
        panic!("{problem}");
    }
}

/// Starts the PostgreSQL server again if a failing test left it stopped, so
/// the tests after it are not failed by the one that stopped it.
struct StartPostgresAfterwards;

impl Drop for StartPostgresAfterwards {
    fn drop(&mut self) {
        let ready = std::process::Command::new("pg_isready")
            .args(["-h", "127.0.0.1", "-p", "5432", "-q"])
            .status()
            .is_ok_and(|status| status.success());
        if !ready {
            if let Err(problem) = pg_ctlcluster("start") {
                eprintln!("cannot start PostgreSQL again: {problem}");
            }
        }
    }
}

/// Asks for pages until `stop` turns true; returns (path, status) of each answer.
fn ask_for_pages(
    base_url: String,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<Vec<(&'static str, Option<u16>, bool)>> {
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        let mut answers = Vec::new();
        while !*stop.borrow() {
            for path in ["/health", "/issues"] {
                let answer = client
                    .get(format!("{base_url}{path}"))
                    .timeout(Duration::from_secs(15))
                    .send()
                    .await;
                let (status, retry_after) = match answer {
                    Ok(response) => (
                        Some(response.status().as_u16()),
                        response.headers().contains_key("retry-after"),
                    ),
                    Err(_) => (None, false),
                };
                answers.push((path, status, retry_after));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        answers
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_mid_send_loses_nothing() {
    if !postgres() {
        return;
    }
    let _alone = ONE_AT_A_TIME.lock().await;
    const READERS: usize = 3_000;
    let setup = Setup::new(
        Backend::Postgres,
        READERS,
        &[
            ("HERALD_SEND_RATE", "150"),
            ("HERALD_SEND_CONCURRENCY", "8"),
            ("HERALD_CLAIM_LEASE", "20s"),
        ],
    )
    .await;
    let _web = setup.serve().await;
    let _worker = worker(&setup, 2, &[]);
    setup.send_issue().await;
    let _restarted = StartPostgresAfterwards;
    let (stop_asking, stop) = tokio::sync::watch::channel(false);
    let asking = ask_for_pages(setup.base_url(), stop);

    // A restart: a couple of seconds without the database.
    setup.wait_for_messages(600).await;
    let at_restart = setup.smtp.messages().await.len();
    tokio::task::spawn_blocking(|| postgres_ctl("restart"))
        .await
        .expect("the restart thread");
    // A longer stop, which requests cannot wait out.
    setup.wait_for_messages(at_restart + 600).await;
    tokio::task::spawn_blocking(|| postgres_ctl("stop"))
        .await
        .expect("the stop thread");
    let stopped_with = setup.smtp.messages().await.len();
    tokio::time::sleep(Duration::from_secs(7)).await;
    let sent_while_stopped = setup.smtp.messages().await.len() - stopped_with;
    tokio::task::spawn_blocking(|| postgres_ctl("start"))
        .await
        .expect("the start thread");

    setup.wait_until_sent().await;
    let _ = stop_asking.send(true);
    let answers = asking.await.expect("the page poller");
    let copies = setup.copies().await;
    assert_exactly_once(&setup.readers, &copies);
    let counts = setup.delivery_counts().await;
    assert_eq!(
        counts.get("sent").copied(),
        Some(READERS as i64),
        "{counts:?}"
    );

    let unavailable = answers
        .iter()
        .filter(|(_, status, _)| *status == Some(503))
        .count();
    eprintln!(
        "PostgreSQL restarted after {at_restart} and stopped after {stopped_with} of {READERS} copies; \
         {sent_while_stopped} went out while it was down; {unavailable} of {} requests answered 503",
        answers.len()
    );
    // Only the messages already handed to the relay may finish while the
    // database is down: a worker sends on only once its last outcome is recorded.
    assert!(
        sent_while_stopped <= 16,
        "{sent_while_stopped} copies went out while their outcomes could not be recorded"
    );
    let unexpected: Vec<_> = answers
        .iter()
        .filter(|(_, status, _)| !matches!(status, Some(200 | 503)))
        .collect();
    assert!(
        unexpected.is_empty(),
        "requests while PostgreSQL was away got neither 200 nor 503: {unexpected:?}"
    );
    assert!(
        unavailable > 0,
        "no request noticed that PostgreSQL was down"
    );
    assert!(
        answers
            .iter()
            .filter(|(_, status, _)| *status == Some(503))
            .all(|(_, _, retry_after)| *retry_after),
        "a 503 without Retry-After"
    );
    assert_eq!(
        answers.last().map(|(_, status, _)| *status),
        Some(Some(200)),
        "the web process did not recover"
    );
}
