//! `herald db copy`: every row of one Herald database into another, empty one
//! (the way up from SQLite to PostgreSQL). Ids are kept, so links, tokens and
//! sessions made before go on working; the target is written in one
//! transaction, so a copy that fails leaves it empty.

mod rows;
mod tables;

pub use tables::{Column, ColumnType, Table, NOT_COPIED, SEEDED, TABLES};

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{Any, Row, Transaction};

use super::{Dialect, Store, StoreError};

/// Which of the two databases, named as on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    From,
    To,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::From => "--from",
            Self::To => "--to",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("--from and --to name the same database")]
    SameDatabase,
    #[error("--from: there is no database file {0}")]
    SourceMissing(String),
    #[error("--from: this is not a Herald database (it has no _sqlx_migrations table)")]
    NotHerald,
    #[error("{side}: {source}")]
    Open { side: Side, source: StoreError },
    #[error("{side}: {source}")]
    Migrate { side: Side, source: StoreError },
    #[error(
        "the target database already holds data ({table} has {}); copy into an empty database",
        rows_of(*.rows)
    )]
    TargetNotEmpty { table: &'static str, rows: u64 },
    #[error("cannot copy {table}: {source}")]
    Table {
        table: &'static str,
        source: sqlx::Error,
    },
    #[error(
        "{table}: {} read from the source, {} in the target; nothing was copied",
        rows_of(*.read),
        rows_of(*.written)
    )]
    CountMismatch {
        table: &'static str,
        read: u64,
        written: u64,
    },
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
}

impl CopyError {
    /// 2 when the databases given cannot be used as they are, 1 for a failure on the way.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::SameDatabase
            | Self::SourceMissing(_)
            | Self::NotHerald
            | Self::Open { .. }
            | Self::TargetNotEmpty { .. } => 2,
            Self::Migrate { .. }
            | Self::Table { .. }
            | Self::CountMismatch { .. }
            | Self::Query(_) => 1,
        }
    }
}

/// A table copied, its row count checked against the source's.
#[derive(Debug, Clone)]
pub struct TableCopied {
    pub table: &'static str,
    pub rows: u64,
}

#[derive(Debug)]
pub struct CopyReport {
    pub tables: Vec<TableCopied>,
    pub elapsed: Duration,
}

impl CopyReport {
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

/// Copies every table of [`TABLES`] from `from` into `to`, after migrating
/// both; `on_table` hears of each table as it is done. Refuses a target that
/// holds any row.
#[tracing::instrument(skip_all)]
pub async fn copy_database(
    from: &str,
    to: &str,
    mut on_table: impl FnMut(&TableCopied),
) -> Result<CopyReport, CopyError> {
    let started = Instant::now();
    if same_database(from, to) {
        return Err(CopyError::SameDatabase);
    }
    let source = open_source(from).await?;
    let copied = async {
        let target = open(to, Side::To).await?;
        let copied = copy_tables(&source, &target, &mut on_table).await;
        target.close().await;
        copied
    }
    .await;
    source.close().await;
    Ok(CopyReport {
        tables: copied?,
        elapsed: started.elapsed(),
    })
}

async fn copy_tables(
    source: &Store,
    target: &Store,
    on_table: &mut impl FnMut(&TableCopied),
) -> Result<Vec<TableCopied>, CopyError> {
    let mut written = target.begin_write().await?;
    for table in TABLES.iter().filter(|table| !SEEDED.contains(&table.name)) {
        let rows = rows::count(&mut written, table)
            .await
            .map_err(in_table(table))?;
        if rows > 0 {
            return Err(CopyError::TargetNotEmpty {
                table: table.name,
                rows,
            });
        }
    }
    // Nothing refers to the seeded rows yet: the tables that could are empty.
    for name in SEEDED {
        sqlx::query(&format!("DELETE FROM {name}"))
            .execute(&mut *written)
            .await?;
    }
    let mut read = begin_snapshot(source).await?;
    let mut copied = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        let rows = rows::copy_table(&mut read, &mut written, target.dialect(), table)
            .await
            .map_err(in_table(table))?;
        let (in_source, in_target) = (
            rows::count(&mut read, table)
                .await
                .map_err(in_table(table))?,
            rows::count(&mut written, table)
                .await
                .map_err(in_table(table))?,
        );
        if in_source != rows || in_target != rows {
            // Nothing should make them differ; if something does, the
            // transaction is dropped and the target stays empty.
            return Err(CopyError::CountMismatch {
                table: table.name,
                read: in_source,
                written: in_target,
            });
        }
        let done = TableCopied {
            table: table.name,
            rows,
        };
        on_table(&done);
        copied.push(done);
    }
    // Sequences are not transactional; moved last, a copy that failed on the
    // way leaves them where they were.
    if target.dialect() == Dialect::Postgres {
        for table in TABLES {
            let highest_ever = rows::highest_id_ever(&mut read, source.dialect(), table)
                .await
                .map_err(in_table(table))?;
            rows::move_identity_past_copied_ids(&mut written, table, highest_ever)
                .await
                .map_err(in_table(table))?;
        }
    }
    written.commit().await?;
    read.rollback().await?;
    Ok(copied)
}

fn in_table(table: &'static Table) -> impl FnOnce(sqlx::Error) -> CopyError {
    move |source| CopyError::Table {
        table: table.name,
        source,
    }
}

/// A read-only view of the source as of one moment, so the tables agree with
/// each other even if something writes to the source during the copy.
async fn begin_snapshot(store: &Store) -> Result<Transaction<'static, Any>, sqlx::Error> {
    let conn: PoolConnection<Any> = store.pool().acquire().await?;
    let statement = match store.dialect() {
        // In WAL mode a read transaction sees the database as of its first
        // read until it ends.
        Dialect::Sqlite => None,
        Dialect::Postgres => Some("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY".into()),
    };
    Transaction::begin(conn, statement).await
}

/// Opens the source without ever creating it: a mistyped SQLite path is an
/// error naming the path, not a new empty database copied into the target.
async fn open_source(url: &str) -> Result<Store, CopyError> {
    let Some(path) = sqlite_file(url) else {
        return open(url, Side::From).await;
    };
    if !path.is_file() {
        return Err(CopyError::SourceMissing(path.display().to_string()));
    }
    if url.contains("mode=") {
        return open(url, Side::From).await;
    }
    // Migrating writes, so it goes through a connection that may write but
    // not create; the rows are then read through one that cannot write.
    open(&with_mode(url, "rw"), Side::From).await?.close().await;
    Store::connect(&with_mode(url, "ro"), 2)
        .await
        .map_err(|source| CopyError::Open {
            side: Side::From,
            source,
        })
}

/// Connects and migrates; a source must already be a Herald database.
async fn open(url: &str, side: Side) -> Result<Store, CopyError> {
    let store = Store::connect(url, 2)
        .await
        .map_err(|source| CopyError::Open { side, source })?;
    if side == Side::From && !is_herald_database(&store).await? {
        store.close().await;
        return Err(CopyError::NotHerald);
    }
    store
        .migrate()
        .await
        .map_err(|source| CopyError::Migrate { side, source })?;
    Ok(store)
}

async fn is_herald_database(store: &Store) -> Result<bool, sqlx::Error> {
    let sql = match store.dialect() {
        Dialect::Sqlite => {
            "SELECT COUNT(*) AS n FROM sqlite_master \
             WHERE type = 'table' AND name = '_sqlx_migrations'"
        }
        Dialect::Postgres => {
            "SELECT COUNT(*) AS n FROM pg_catalog.pg_tables \
             WHERE tablename = '_sqlx_migrations' AND schemaname = current_schema()"
        }
    };
    let found: i64 = sqlx::query(sql)
        .fetch_one(store.pool())
        .await?
        .try_get("n")?;
    Ok(found > 0)
}

/// The file of an SQLite URL; `None` for other databases.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    if !url.starts_with("sqlite:") {
        return None;
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    Some(options.get_filename().to_path_buf())
}

fn same_database(from: &str, to: &str) -> bool {
    let canonical = |path: &Path| std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    match (sqlite_file(from), sqlite_file(to)) {
        (Some(from), Some(to)) => canonical(&from) == canonical(&to),
        (None, None) => from.trim() == to.trim(),
        _ => false,
    }
}

fn with_mode(url: &str, mode: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}mode={mode}")
}

/// `1 row`, `12 rows`.
fn rows_of(n: u64) -> String {
    crate::format::counted(n, "row", "rows")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::thousands;

    #[test]
    fn counts_are_written_with_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_000_123), "1,000,123");
        assert_eq!(rows_of(1), "1 row");
        assert_eq!(rows_of(12_000), "12,000 rows");
    }

    #[test]
    fn the_same_file_spelled_two_ways_is_the_same_database() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let file = dir.path().join("herald.db");
        std::fs::write(&file, b"").expect("a file");
        let plain = format!("sqlite://{}", file.display());
        let dotted = format!("sqlite://{}/./herald.db?mode=rwc", dir.path().display());
        assert!(same_database(&plain, &dotted));
        assert!(!same_database(&plain, "postgres://herald@localhost/herald"));
        assert!(same_database(
            "postgres://herald@localhost/herald",
            "postgres://herald@localhost/herald"
        ));
    }
}
