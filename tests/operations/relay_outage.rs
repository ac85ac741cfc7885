//! 21. The relay is down for a minute under a queue of 20,000 mails.

use std::collections::HashMap;
use std::time::Duration;

use sqlx::Row;
use tokio::time::Instant;

use crate::database::Backend;
use crate::herald_process::Setup;
use crate::LoggedServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_down_for_a_minute_costs_no_attempts_and_every_mail_arrives_once() {
    const QUEUED: i64 = 20_000;
    const OUTAGE: Duration = Duration::from_secs(60);
    let setup = Setup::new(
        Backend::Sqlite,
        QUEUED as usize,
        &[("HERALD_SEND_CONCURRENCY", "16")],
    )
    .await;
    // 20,000 welcome mails in the signup outbox, due now.
    let mut conn = setup.db.connect().await;
    let now = herald::store::now_millis();
    sqlx::query(
        "INSERT INTO outbox (kind, subscriber_id, token_seed, created_at, expires_at, next_attempt_at) \
         SELECT 'welcome', id, NULL, $1, $2, $1 FROM subscribers",
    )
    .bind(now)
    .bind(now + 86_400_000)
    .execute(&mut conn)
    .await
    .expect("queue the mail");
    drop(conn);

    setup.smtp.stop().await;
    // The default log filter: every line an operator would see.
    let server = LoggedServer::start(&setup, &[("RUST_LOG", "info,sqlx=warn")]).await;
    let started_at = server
        .wait_for_line("the mail relay cannot be reached", Duration::from_secs(20))
        .await;
    let cpu_before = server.cpu_time();
    let outage_started = Instant::now();

    let client = reqwest::Client::new();
    let health: serde_json::Value = client
        .get(format!("{}/health", setup.base_url()))
        .send()
        .await
        .expect("GET /health")
        .json()
        .await
        .expect("a JSON body");
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["relay"], "unreachable", "{health}");
    let metrics = client
        .get(format!("{}/metrics", setup.base_url()))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("the metrics");
    assert!(metrics.contains("herald_relay_up 0"), "{metrics}");

    tokio::time::sleep(OUTAGE.saturating_sub(outage_started.elapsed())).await;
    let cpu = server.cpu_time() - cpu_before;
    let logged = server.lines_since(started_at + 1);
    let outage = outage_started.elapsed();
    assert!(
        cpu.as_secs_f64() < 0.05 * outage.as_secs_f64(),
        "herald used {cpu:?} of CPU during a {outage:?} outage"
    );
    assert!(
        logged.len() < 10,
        "herald logged {} lines during the outage:\n{}",
        logged.len(),
        logged.join("\n")
    );
    let attempts = {
        let mut conn = setup.db.connect().await;
        let row = sqlx::query(
            "SELECT COALESCE(SUM(attempts), 0) AS attempts, COUNT(*) AS waiting FROM outbox \
             WHERE sent_at IS NULL AND failed_at IS NULL",
        )
        .fetch_one(&mut conn)
        .await
        .expect("read the outbox");
        let waiting: i64 = row.get("waiting");
        assert_eq!(waiting, QUEUED, "every mail still waits");
        row.get::<i64, _>("attempts")
    };
    assert_eq!(attempts, 0, "no attempt counted against the mail");

    setup.smtp.restart().await;
    let back = Instant::now();
    let messages = setup
        .smtp
        .wait_for_messages(QUEUED as usize, Duration::from_secs(120))
        .await;
    eprintln!(
        "{QUEUED} mails arrived {:?} after the relay came back",
        back.elapsed()
    );
    let lines = server.lines_since(started_at + 1);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("the mail relay answers again")),
        "no line says that the outage ended"
    );
    let mut by_reader: HashMap<String, usize> = HashMap::new();
    for message in &messages {
        for rcpt in &message.rcpt_to {
            *by_reader.entry(rcpt.clone()).or_default() += 1;
        }
    }
    let twice: Vec<_> = by_reader.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(twice.is_empty(), "mail arrived twice: {twice:?}");
    assert_eq!(
        by_reader.len(),
        QUEUED as usize,
        "every reader got the mail"
    );
}
