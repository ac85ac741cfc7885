//! `herald db backup FILE`: a consistent copy of a live SQLite database,
//! taken with `VACUUM INTO` inside one read transaction, so it holds every
//! row committed before it started and nothing written after, while Herald
//! goes on serving and sending.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use super::create_new_private;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "DATABASE_URL names a PostgreSQL database; back it up with pg_dump \
         (e.g. `pg_dump --format=custom --file=herald.dump \"$DATABASE_URL\"`, restored with pg_restore)"
    )]
    Postgres,
    #[error("DATABASE_URL: {0}")]
    Url(#[source] sqlx::Error),
    #[error("{0} already exists; a backup never overwrites a file (choose a new name)")]
    Exists(String),
    #[error("cannot create {path}: {source}")]
    Create {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the database: {0}")]
    Open(#[source] sqlx::Error),
    #[error("the backup failed: {0}")]
    Copy(#[source] sqlx::Error),
    #[error("the backup does not read back cleanly: {0}")]
    Check(String),
}

impl BackupError {
    /// 2 when the command cannot work as given, 1 when the copy failed.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Postgres | Self::Url(_) | Self::Exists(_) | Self::Create { .. } => 2,
            Self::Open(_) | Self::Copy(_) | Self::Check(_) => 1,
        }
    }
}

/// What was written.
#[derive(Debug)]
pub struct Backup {
    pub file: PathBuf,
    pub bytes: u64,
}

/// Copies the SQLite database at `url` into `target`, a file that must not
/// exist; the copy is checked (`PRAGMA quick_check`) before this returns. A
/// failed backup leaves no file behind.
pub async fn backup_sqlite(url: &str, target: &Path) -> Result<Backup, BackupError> {
    if !url.starts_with("sqlite:") {
        return Err(BackupError::Postgres);
    }
    // The database must exist: a backup never creates one.
    let source = SqliteConnectOptions::from_str(url)
        .map_err(BackupError::Url)?
        .create_if_missing(false);
    // Created here, private and empty (VACUUM INTO accepts an empty file),
    // so that the check for an existing file and the creation are one step.
    create_new_private(target).map_err(|source| match source.kind() {
        std::io::ErrorKind::AlreadyExists => BackupError::Exists(target.display().to_string()),
        _ => BackupError::Create {
            path: target.display().to_string(),
            source,
        },
    })?;
    let copied = copy_into(source, target).await;
    if copied.is_err() {
        let _ = std::fs::remove_file(target);
    }
    copied?;
    let bytes = std::fs::metadata(target).map(|m| m.len()).unwrap_or(0);
    Ok(Backup {
        file: target.to_path_buf(),
        bytes,
    })
}

async fn copy_into(source: SqliteConnectOptions, target: &Path) -> Result<(), BackupError> {
    let target_name = target
        .to_str()
        .ok_or_else(|| BackupError::Check("the backup's path is not UTF-8".into()))?;
    let mut conn = source.connect().await.map_err(BackupError::Open)?;
    sqlx::query("VACUUM INTO $1")
        .bind(target_name)
        .execute(&mut conn)
        .await
        .map_err(BackupError::Copy)?;
    conn.close().await.map_err(BackupError::Open)?;

    let mut copy = SqliteConnectOptions::new()
        .filename(target)
        .read_only(true)
        .connect()
        .await
        .map_err(|e| BackupError::Check(e.to_string()))?;
    let verdict: String = sqlx::query_scalar("PRAGMA quick_check")
        .fetch_one(&mut copy)
        .await
        .map_err(|e| BackupError::Check(e.to_string()))?;
    let _ = copy.close().await;
    if verdict != "ok" {
        return Err(BackupError::Check(verdict));
    }
    Ok(())
}
