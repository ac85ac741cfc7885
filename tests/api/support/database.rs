//! A database of its own for each test: an SQLite file in a temporary folder,
//! or a fresh schema in the PostgreSQL named by `HERALD_TEST_POSTGRES_URL`,
//! dropped when the test ends.

use std::io::Write;
use std::sync::Once;

use sqlx::{AnyConnection, Connection, Executor, Row};
use tempfile::TempDir;

pub const POSTGRES_URL_VARIABLE: &str = "HERALD_TEST_POSTGRES_URL";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Whether the PostgreSQL half of the suite runs. Without the variable it is
/// left out with a note, except in CI, where its absence is a failure.
pub fn postgres_is_configured() -> bool {
    if std::env::var(POSTGRES_URL_VARIABLE).is_ok_and(|v| !v.is_empty()) {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false") {
        panic!(
            "{POSTGRES_URL_VARIABLE} must be set in CI: the PostgreSQL suite may not be skipped"
        );
    }
    static NOTE: Once = Once::new();
    NOTE.call_once(|| {
        // Straight to the terminal: the test harness captures eprintln! of a
        // passing test, and this note must be seen.
        let _ = writeln!(
            std::io::stderr(),
            "\nnote: PostgreSQL tests NOT run; set {POSTGRES_URL_VARIABLE} to run them\n"
        );
    });
    false
}

pub struct TestDatabase {
    pub backend: Backend,
    pub url: String,
    /// Holds the SQLite file, the outbox folder and the secret file.
    pub dir: TempDir,
    /// (server URL, schema) of a PostgreSQL test schema.
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> Self {
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().expect("temporary folder");
        match backend {
            Backend::Sqlite => Self {
                backend,
                url: format!("sqlite://{}", dir.path().join("herald.db").display()),
                dir,
                postgres: None,
            },
            Backend::Postgres => {
                let server = std::env::var(POSTGRES_URL_VARIABLE)
                    .unwrap_or_else(|_| panic!("{POSTGRES_URL_VARIABLE} is not set"));
                let schema = format!("herald_test_{:016x}", rand::random::<u64>());
                let mut conn = AnyConnection::connect(&server).await.unwrap_or_else(|e| {
                    panic!("cannot reach PostgreSQL at {POSTGRES_URL_VARIABLE}: {e}")
                });
                conn.execute(format!("CREATE SCHEMA {schema}").as_str())
                    .await
                    .expect("create the test schema");
                let separator = if server.contains('?') { '&' } else { '?' };
                Self {
                    backend,
                    url: format!("{server}{separator}options=-c%20search_path%3D{schema}"),
                    dir,
                    postgres: Some((server, schema)),
                }
            }
        }
    }

    /// Runs the repository's migrations up to `version` only: the database as
    /// an older release left it, for upgrade tests.
    pub async fn migrate_to(&self, version: i64) {
        let dialect = match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        };
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(dialect);
        let mut migrator = sqlx::migrate::Migrator::new(folder)
            .await
            .expect("read the migrations");
        let older: Vec<sqlx::migrate::Migration> = migrator
            .migrations
            .iter()
            .filter(|m| m.version <= version)
            .cloned()
            .collect();
        migrator.migrations = older.into();
        let url = match self.backend {
            Backend::Sqlite => format!("{}?mode=rwc", self.url),
            Backend::Postgres => self.url.clone(),
        };
        let mut conn = AnyConnection::connect(&url)
            .await
            .expect("create the test database");
        migrator
            .run(&mut conn)
            .await
            .expect("migrate to the older release");
    }

    /// A subscriber's id, by address as stored.
    pub async fn subscriber_id(&self, email: &str) -> i64 {
        let mut conn = self.connect().await;
        sqlx::query("SELECT id FROM subscribers WHERE lower(email) = lower($1)")
            .bind(email)
            .fetch_one(&mut conn)
            .await
            .expect("the subscriber exists")
            .get("id")
    }

    pub async fn connect(&self) -> AnyConnection {
        AnyConnection::connect(&self.url)
            .await
            .expect("connect to the test database")
    }

    pub async fn subscriber_status(&self, email: &str) -> Option<String> {
        let mut conn = self.connect().await;
        sqlx::query("SELECT status FROM subscribers WHERE lower(email) = lower($1)")
            .bind(email)
            .fetch_optional(&mut conn)
            .await
            .expect("query subscribers")
            .map(|row| row.get::<String, _>("status"))
    }

    /// The consent evidence recorded for an address: (kind, ip, user agent), oldest first.
    pub async fn events(&self, email: &str) -> Vec<(String, Option<String>, Option<String>)> {
        let mut conn = self.connect().await;
        sqlx::query(
            "SELECT e.kind, e.ip, e.user_agent FROM subscriber_events e \
             JOIN subscribers s ON s.id = e.subscriber_id \
             WHERE lower(s.email) = lower($1) ORDER BY e.id",
        )
        .bind(email)
        .fetch_all(&mut conn)
        .await
        .expect("query events")
        .iter()
        .map(|row| (row.get("kind"), row.get("ip"), row.get("user_agent")))
        .collect()
    }

    /// Marks the first `copies` queued copies of `issue_id` sent, with the
    /// statement the delivery engine records a sent copy with, for tests where nothing sends and the test decides what
    /// went out.
    pub async fn record_sent(&self, issue_id: i64, copies: i64) {
        use herald::delivery::deliveries;
        let dialect = match self.backend {
            Backend::Sqlite => herald::store::Dialect::Sqlite,
            Backend::Postgres => herald::store::Dialect::Postgres,
        };
        let mut conn = self.connect().await;
        let mut tx = conn.begin().await.expect("begin");
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM deliveries WHERE issue_id = $1 AND status = 'queued' ORDER BY id LIMIT $2",
        )
        .bind(issue_id)
        .bind(copies)
        .fetch_all(&mut *tx)
        .await
        .expect("the queued copies");
        let sent: Vec<(i64, &str)> = ids.iter().map(|&id| (id, "250 2.0.0 Ok")).collect();
        deliveries::record_sent(&mut tx, dialect, &sent, 1)
            .await
            .expect("record the copies sent");
        tx.commit().await.expect("commit");
    }

    /// The progress counts of issue `issue_id` as its tallies keep them,
    /// once they agree with a count of every copy. Only for a send that
    /// stands still (over, paused or cut off): copies moving between the two
    /// reads would differ.
    pub async fn tallied_counts(
        &self,
        issue_id: i64,
    ) -> herald::delivery::deliveries::DeliveryCounts {
        use herald::delivery::deliveries;
        let mut conn = self.connect().await;
        let tallied = deliveries::counts(&mut conn, issue_id)
            .await
            .expect("read the tallies");
        let scanned = deliveries::counts_by_scan(&mut conn, issue_id)
            .await
            .expect("count the copies");
        assert_eq!(
            tallied, scanned,
            "issue {issue_id}: the tallies (left) against a count of every copy (right)"
        );
        tallied
    }

    pub async fn count(&self, table: &str) -> i64 {
        let mut conn = self.connect().await;
        sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
            .fetch_one(&mut conn)
            .await
            .expect("count rows")
            .get("n")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((server, schema)) = self.postgres.take() else {
            return;
        };
        // Drop runs outside async code; a thread with its own runtime does the I/O.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let mut conn = AnyConnection::connect(&server).await?;
                conn.execute(format!("DROP SCHEMA IF EXISTS {schema} CASCADE").as_str())
                    .await
                    .map(drop)
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop a PostgreSQL test schema");
        }
    }
}
