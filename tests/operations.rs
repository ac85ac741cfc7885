//! Running Herald on SQLite for years, through the real `herald` executable:
//! a relay that is down for a minute under a large queue, a backup taken
//! while an issue goes out, and a disk that fills up and frees again.

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

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sqlx::{ConnectOptions, Connection, Row, SqliteConnection};
use tokio::time::Instant;

use database::Backend;
use herald_process::{wait_until_healthy, Setup, POLL};

/// `herald serve` with its log lines collected as they come.
struct LoggedServer {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl LoggedServer {
    async fn start(setup: &Setup, env: &[(&str, &str)]) -> LoggedServer {
        let mut child = setup
            .command_with(&["serve"], env)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start herald serve");
        let lines = Arc::new(Mutex::new(Vec::new()));
        for pipe in [
            Box::new(child.stdout.take().expect("piped")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("piped")),
        ] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { return };
                    lock(&lines).push(line);
                }
            });
        }
        wait_until_healthy(&reqwest::Client::new(), &setup.base_url()).await;
        LoggedServer { child, lines }
    }

    fn lines_since(&self, from: usize) -> Vec<String> {
        lock(&self.lines)[from..].to_vec()
    }

    async fn wait_for_line(&self, needle: &str, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        loop {
            if let Some(at) = lock(&self.lines).iter().position(|l| l.contains(needle)) {
                return at;
            }
            assert!(
                Instant::now() < deadline,
                "herald never logged {needle:?}; it logged:\n{}",
                lock(&self.lines).join("\n")
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// CPU time the process has used so far (user and system).
    fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("read /proc/PID/stat");
        // Fields after the command name, which ends with the last ')'.
        let fields: Vec<&str> = stat[stat.rfind(')').expect("a command name") + 2..]
            .split(' ')
            .collect();
        // utime and stime are fields 14 and 15 of the whole line.
        let ticks: u64 =
            fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
        let per_second: u64 = Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100);
        Duration::from_millis(ticks * 1000 / per_second)
    }
}

impl Drop for LoggedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn open_sqlite(file: &Path) -> SqliteConnection {
    sqlx::sqlite::SqliteConnectOptions::new()
        .filename(file)
        .connect()
        .await
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", file.display()))
}

async fn count(conn: &mut SqliteConnection, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Row counts of every table.
async fn table_counts(conn: &mut SqliteConnection) -> HashMap<String, i64> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("the table list");
    let mut counts = HashMap::new();
    for table in tables {
        let n = count(conn, &format!("SELECT COUNT(*) FROM \"{table}\"")).await;
        counts.insert(table, n);
    }
    counts
}

fn sqlite_file(setup: &Setup) -> PathBuf {
    let url = setup.db.url.trim_start_matches("sqlite://");
    PathBuf::from(url.split('?').next().unwrap_or(url))
}

// ---------------------------------------------------------------------------
// 21. The relay is down under a large queue
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// 22. Backups
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_mid_send_holds_every_row_and_restores() {
    const READERS: usize = 3_000;
    let setup = Setup::new(
        Backend::Sqlite,
        READERS,
        &[
            ("HERALD_SEND_RATE", "200"),
            ("HERALD_SEND_CONCURRENCY", "4"),
        ],
    )
    .await;
    let server = setup.serve().await;
    setup.send_issue().await;
    setup.wait_for_messages(200).await;

    let backup = setup.db.dir.path().join("backup.db");
    let backup_arg = backup.to_str().expect("a UTF-8 path");
    let sent_before = setup.smtp.messages().await.len() as i64;
    let output = setup.run(&["db", "backup", backup_arg]).await;
    let sent_after = setup.smtp.messages().await.len() as i64;
    assert!(
        output.status.success(),
        "herald db backup failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_ne!(
        setup.issue_status().await,
        "sent",
        "the backup was not mid-send"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup)
            .expect("the backup")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the backup has mode {mode:o}");
    }

    // Every row: the live database's counts, taken while the send goes on,
    // equal the backup's for every table (a send changes rows, not their number).
    let mut copy = open_sqlite(&backup).await;
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut copy)
        .await
        .expect("integrity_check");
    assert_eq!(integrity, "ok");
    let mut live = open_sqlite(&sqlite_file(&setup)).await;
    let (copied, now) = (table_counts(&mut copy).await, table_counts(&mut live).await);
    assert_eq!(copied, now, "row counts: backup vs live");
    assert_eq!(copied.get("subscribers").copied(), Some(READERS as i64));
    assert_eq!(copied.get("deliveries").copied(), Some(READERS as i64));
    // A consistent queue: each copy is sent or still to go, and no more are
    // marked sent than the relay had taken when the backup ended, nor fewer
    // than it had taken before, less those in flight (4 workers).
    let sent = count(
        &mut copy,
        "SELECT COUNT(*) FROM deliveries WHERE status = 'sent'",
    )
    .await;
    let queued = count(
        &mut copy,
        "SELECT COUNT(*) FROM deliveries WHERE status = 'queued'",
    )
    .await;
    assert_eq!(sent + queued, READERS as i64);
    assert!(
        (sent_before - 4..=sent_after).contains(&sent),
        "the backup says {sent} sent; the relay had {sent_before} before and {sent_after} after"
    );
    let status: String = sqlx::query_scalar("SELECT status FROM issues")
        .fetch_one(&mut copy)
        .await
        .expect("the issue");
    assert_eq!(status, "sending");
    let _ = copy.close().await;
    let _ = live.close().await;

    // Never overwritten; PostgreSQL is pointed at pg_dump.
    let size = std::fs::metadata(&backup).expect("the backup").len();
    let again = setup.run(&["db", "backup", backup_arg]).await;
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert_eq!(std::fs::metadata(&backup).expect("the backup").len(), size);
    let mut postgres = setup.command_with(
        &["db", "backup", "elsewhere.db"],
        &[("DATABASE_URL", "postgres://herald@127.0.0.1:1/herald")],
    );
    let refused = postgres.output().expect("run herald db backup");
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("pg_dump"));
    assert!(!setup.db.dir.path().join("elsewhere.db").exists());

    // Restoring as documented: stop, replace the file, remove the old
    // -wal and -shm, start. The send picks up where the backup left it.
    server.kill();
    let file = sqlite_file(&setup);
    std::fs::rename(&backup, &file).expect("put the backup in place");
    for suffix in ["-wal", "-shm"] {
        let mut name = file.clone().into_os_string();
        name.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
    let _server = setup.serve().await;
    setup.wait_until_sent().await;
    let copies = setup.copies().await;
    let missing = setup
        .readers
        .iter()
        .filter(|r| !copies.contains_key(*r))
        .count();
    assert_eq!(missing, 0, "readers without the issue after the restore");
}

// ---------------------------------------------------------------------------
// 27. A full disk
// ---------------------------------------------------------------------------

/// A tmpfs of `size` mounted on a new directory; unmounted when dropped.
struct SmallFilesystem {
    dir: tempfile::TempDir,
}

impl SmallFilesystem {
    fn mount(size: &str) -> Option<SmallFilesystem> {
        let dir = tempfile::tempdir().expect("a mount point");
        let mounted = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(SmallFilesystem { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallFilesystem {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_and_herald_recovers_once_space_returns() {
    let Some(disk) = SmallFilesystem::mount("6m") else {
        eprintln!("note: a_full_disk_answers_503… needs to mount a tmpfs (root); not run here");
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must be able to mount a tmpfs"
        );
        return;
    };
    let setup = Setup::new(Backend::Sqlite, 1, &[]).await;
    let database = disk.path().join("herald.db");
    let url = format!("sqlite://{}", database.display());
    let _server = setup
        .serve_with(
            &["serve"],
            &[
                ("DATABASE_URL", &url),
                ("HERALD_SIGNUP_RATE_PER_MINUTE", "1000000"),
            ],
        )
        .await;
    // Leave a few hundred kilobytes: the signups fill the rest.
    let filler = disk.path().join("filler");
    let free = fs_free_bytes(disk.path());
    std::fs::write(
        &filler,
        vec![0u8; (free.saturating_sub(400 * 1024)) as usize],
    )
    .expect("write the filler");

    let client = reqwest::Client::new();
    let base = setup.base_url();
    let sign_up = |n: usize| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            client
                .post(format!("{base}/subscriptions"))
                .form(&[("email", format!("flood{n:06}@example.com"))])
                .send()
                .await
                .expect("POST /subscriptions")
                .status()
                .as_u16()
        }
    };
    let mut accepted = Vec::new();
    let mut refused = 0;
    let mut n = 0;
    while refused < 20 {
        n += 1;
        assert!(n < 50_000, "the disk never filled");
        match sign_up(n).await {
            200 => accepted.push(format!("flood{n:06}@example.com")),
            status => {
                // The database cannot take it now: try again later.
                assert_eq!(status, 503, "signup {n} on a full disk");
                refused += 1;
            }
        }
    }
    assert!(!accepted.is_empty(), "no signup fitted on the disk");
    let health = client
        .get(format!("{base}/health"))
        .send()
        .await
        .expect("GET /health");
    assert_eq!(health.status(), 503, "/health while writes fail");

    // Space returns; Herald recovers without a restart.
    std::fs::remove_file(&filler).expect("remove the filler");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let health = client
            .get(format!("{base}/health"))
            .send()
            .await
            .expect("GET /health");
        if health.status() == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "/health still answers {}",
            health.status()
        );
        tokio::time::sleep(POLL).await;
    }
    for m in 0..50 {
        let status = sign_up(100_000 + m).await;
        assert_eq!(status, 200, "signup after space returned");
        accepted.push(format!("flood{:06}@example.com", 100_000 + m));
    }

    // Every signup that was accepted gets its confirmation, once.
    let messages = setup
        .smtp
        .wait_for_messages(accepted.len(), Duration::from_secs(60))
        .await;
    let mut by_reader: HashMap<String, usize> = HashMap::new();
    for message in &messages {
        for rcpt in &message.rcpt_to {
            *by_reader.entry(rcpt.clone()).or_default() += 1;
        }
    }
    let missing: Vec<_> = accepted
        .iter()
        .filter(|a| !by_reader.contains_key(*a))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "accepted signups without mail: {missing:?}"
    );
    let twice: Vec<_> = by_reader.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(twice.is_empty(), "confirmations sent twice: {twice:?}");
}

fn fs_free_bytes(path: &Path) -> u64 {
    let output = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(path)
        .output()
        .expect("run df");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .expect("df's answer")
}
