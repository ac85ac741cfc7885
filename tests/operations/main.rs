//! Running Herald on SQLite for years, through the real `herald` executable:
//! a relay that is down for a minute under a large queue, a backup taken
//! while an issue goes out, and a disk that fills up and frees again.

#[path = "../api/support/database.rs"]
#[allow(dead_code)]
mod database;
#[path = "../api/support/mail.rs"]
#[allow(dead_code)]
mod mail;
#[path = "../api/support/smtp_server.rs"]
#[allow(dead_code)]
mod smtp_server;

#[path = "../api/support/herald_process.rs"]
#[allow(dead_code)]
mod herald_process;
#[path = "../api/support/logged_server.rs"]
mod logged_server;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sqlx::{ConnectOptions, SqliteConnection};

use herald_process::Setup;

mod backup;
mod full_disk;
mod relay_outage;

pub use logged_server::LoggedServer;

pub async fn open_sqlite(file: &Path) -> SqliteConnection {
    sqlx::sqlite::SqliteConnectOptions::new()
        .filename(file)
        .connect()
        .await
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", file.display()))
}

pub async fn count(conn: &mut SqliteConnection, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Row counts of every table.
pub async fn table_counts(conn: &mut SqliteConnection) -> HashMap<String, i64> {
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

pub fn sqlite_file(setup: &Setup) -> PathBuf {
    let url = setup.db.url.trim_start_matches("sqlite://");
    PathBuf::from(url.split('?').next().unwrap_or(url))
}
