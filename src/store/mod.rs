//! Storage: one connection pool over SQLite or PostgreSQL, chosen at run time by
//! `DATABASE_URL`. Queries go through sqlx's `Any` driver in SQL both engines
//! accept (`$1` placeholders, `RETURNING`, `ON CONFLICT`, integer timestamps), so
//! each is written once, next to the capability that owns it; `Dialect` marks
//! the few places where the engines really differ.

mod backup;
mod bulk;
pub mod copy;
mod loopback;
mod placeholders;
pub mod recently_counted;
mod sqlite_file;
pub mod timestamps;
mod write_turn;
mod writes;

pub use backup::{backup_sqlite, Backup, BackupError};
pub use bulk::BulkWriter;
pub use placeholders::Placeholders;
pub(crate) use sqlite_file::create_new_private;

use sqlite_file::{create_private, DatabaseFile, SchemaLock};
pub use write_turn::{Urgency, WriteTurn, WriteTurns};
pub use writes::WriteTransaction;
use writes::{release_if_clean, WriteHealth, WriteState};

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, ConnectOptions, Connection, Executor, Transaction};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("cannot create or lock the database file {path}: {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot migrate the database: {0}")]
    Migrate(#[source] MigrateError),
    #[error("the database file {0} was deleted or replaced")]
    FileGone(String),
    #[error("the database did not answer within {0:?}")]
    Timeout(Duration),
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error("database writes fail: {0}")]
    WritesFail(#[source] sqlx::Error),
    #[error("database writes failed moments ago (is the disk full?)")]
    WritesFailing,
}

#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
    /// The SQLite file, watched by the health check: a deleted file keeps
    /// working through open handles while every write is lost at restart.
    sqlite_file: Option<DatabaseFile>,
    writes: Arc<WriteHealth>,
    /// SQLite only: see [`Store::write_turn`].
    write_turn: Option<WriteTurns>,
}

impl Store {
    /// Opens the database named by `url`, creating an SQLite file (in WAL mode) when missing.
    #[tracing::instrument(name = "store_connect", skip(url))]
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let (dialect, url, sqlite_file) = if url.starts_with("sqlite:") {
            let url = with_create_mode(url);
            let file = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
                .map_err(StoreError::Connect)?
                .get_filename()
                .to_path_buf();
            let file = (file.as_os_str() != ":memory:").then_some(file);
            (Dialect::Sqlite, url, file)
        } else {
            (Dialect::Postgres, url.to_owned(), None)
        };
        let mut options = AnyConnectOptions::from_str(&url).map_err(StoreError::Connect)?;

        if dialect == Dialect::Postgres {
            // One connection first: the pool would only say that it timed
            // out, where this says why (refused, unknown host, bad password).
            let plain = match loopback::plain_text_first(&url) {
                Some(plain) => {
                    Some(AnyConnectOptions::from_str(&plain).map_err(StoreError::Connect)?)
                }
                None => None,
            };
            match plain {
                Some(plain) if probe(&plain).await.is_ok() => options = plain,
                _ => probe(&options).await.map_err(StoreError::Connect)?,
            }
        }
        if let (Dialect::Sqlite, Some(file)) = (dialect, &sqlite_file) {
            if !url.contains("mode=ro") {
                // Only where SQLite itself would create the file (not `mode=rw`),
                // and only when it is not there yet: on POSIX, closing any
                // descriptor of a file drops every lock this process holds on
                // it, so opening an open database here would strip another
                // Store's SQLite locks in this process, and a second process
                // (`herald bounces ingest`) could then have its write undone.
                if url.contains("mode=rwc") && !file.exists() {
                    create_private(file).map_err(|source| file_error(file, source))?;
                }
                // WAL is a property of the file; switching needs an exclusive
                // lock that SQLite's busy timeout does not wait for, so one
                // process at a time does it, on a lone connection, before the
                // pool opens more.
                let _lock = SchemaLock::acquire(file)
                    .await
                    .map_err(|source| file_error(file, source))?;
                let mut conn = options.connect().await.map_err(StoreError::Connect)?;
                conn.execute("PRAGMA journal_mode = WAL")
                    .await
                    .map_err(StoreError::Connect)?;
                conn.close().await.map_err(StoreError::Connect)?;
            }
        }

        let writes = Arc::new(WriteHealth::default());
        let released = writes.clone();
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            // A PostgreSQL connection can die with the server; an SQLite one
            // cannot, and its ping is a round trip to the connection's thread
            // on every acquire.
            .test_before_acquire(dialect == Dialect::Postgres)
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if dialect == Dialect::Sqlite {
                        // Durable at every checkpoint, and far fewer fsyncs than FULL.
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                    }
                    Ok(())
                })
            })
            .after_release(move |conn, _meta| {
                let writes = released.clone();
                Box::pin(async move { release_if_clean(conn, &writes).await })
            })
            .connect_with(options)
            .await
            .map_err(StoreError::Connect)?;
        let sqlite_file = sqlite_file.map(DatabaseFile::opened);
        Ok(Self {
            pool,
            dialect,
            sqlite_file,
            writes,
            write_turn: (dialect == Dialect::Sqlite).then(Default::default),
        })
    }

    #[tracing::instrument(skip(self))]
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = match self.dialect {
            Dialect::Sqlite => &SQLITE_MIGRATIONS,
            Dialect::Postgres => &POSTGRES_MIGRATIONS,
        };
        // Two processes migrating a fresh SQLite file at once would both
        // create the tables; on SQLite they take turns under the lock file
        // (which spans the whole run, `-- no-transaction` migrations too, and
        // the upgrade steps after them). PostgreSQL's migrator takes an
        // advisory lock of its own.
        let _lock = match &self.sqlite_file {
            Some(file) => Some(
                SchemaLock::acquire(&file.path)
                    .await
                    .map_err(|source| file_error(&file.path, source))?,
            ),
            None => None,
        };
        migrator
            .run(&self.pool)
            .await
            .map_err(StoreError::Migrate)?;
        // The steps SQL cannot do, queued by the migrations in `upgrade_steps`.
        crate::subscriptions::upgrade::normalise_stored_addresses(self).await?;
        Ok(())
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// A transaction that will write. On SQLite it takes the write lock at
    /// `BEGIN`, so it waits its turn instead of failing with SQLITE_BUSY when it
    /// upgrades from reading to writing.
    pub async fn begin_write(&self) -> Result<WriteTransaction<'static>, sqlx::Error> {
        let conn: PoolConnection<Any> = self.pool.acquire().await?;
        let statement = match self.dialect {
            Dialect::Sqlite => Some("BEGIN IMMEDIATE".into()),
            Dialect::Postgres => None,
        };
        let transaction = Transaction::begin(conn, statement)
            .await
            .inspect_err(|error| {
                if is_storage_failure(error) {
                    self.writes.failed(error);
                }
            })?;
        Ok(WriteTransaction::new(transaction, self.writes.clone()))
    }

    /// A turn at SQLite's one write lock for background work (the signup
    /// desk, the delivery engine), see [`write_turn`]. PostgreSQL locks
    /// rows: `None` there.
    pub async fn write_turn(&self) -> Option<WriteTurn> {
        match &self.write_turn {
            Some(turns) => Some(turns.take(Urgency::Background).await),
            None => None,
        }
    }

    /// A turn for a write a visitor's request waits on (the signup intake):
    /// it goes before the background writers waiting.
    pub async fn visitor_write_turn(&self) -> Option<WriteTurn> {
        match &self.write_turn {
            Some(turns) => Some(turns.take(Urgency::Visitor).await),
            None => None,
        }
    }

    /// The turns behind [`Store::write_turn`], for a writer that takes its
    /// turn in another task.
    pub fn write_turns(&self) -> Option<WriteTurns> {
        self.write_turn.clone()
    }

    /// Notes a write made outside [`Store::begin_write`] that failed: a
    /// storage failure keeps `/health` at 503 as a failed commit does.
    pub fn note_write_error(&self, error: &sqlx::Error) {
        if is_storage_failure(error) {
            self.writes.failed(error);
        }
    }

    /// A while after a write failed for a storage reason: whether one succeeds now.
    /// The probe writes the database header's user version (SQLite) or takes
    /// a transaction id (PostgreSQL), so it needs the space a write needs.
    async fn probe_writes(&self) -> Result<(), sqlx::Error> {
        let mut tx = self.begin_write().await?;
        match self.dialect {
            Dialect::Sqlite => {
                let version: i64 = sqlx::query_scalar("PRAGMA user_version")
                    .fetch_one(&mut *tx)
                    .await?;
                tx.execute(format!("PRAGMA user_version = {version}").as_str())
                    .await?;
            }
            Dialect::Postgres => {
                tx.execute("SELECT txid_current()").await?;
            }
        }
        tx.commit().await
    }

    /// What is known to be wrong without asking the database: the SQLite
    /// file deleted or replaced, or a write that failed moments ago. A `stat`
    /// and a lock, cheap enough for every `/health` request, which therefore
    /// reports these at once however long its last full check is kept.
    pub fn known_failure(&self) -> Option<StoreError> {
        if let Some(file) = &self.sqlite_file {
            if !file.is_intact() {
                return Some(StoreError::FileGone(file.path.display().to_string()));
            }
        }
        match self.writes.state() {
            WriteState::Failing => Some(StoreError::WritesFailing),
            WriteState::Succeeding | WriteState::Unknown => None,
        }
    }

    /// Whether the database answers, for `/health`.
    pub async fn ping(&self, within: Duration) -> Result<(), StoreError> {
        if let Some(failure) = self.known_failure() {
            return Err(failure);
        }
        let query = async {
            match self.writes.state() {
                WriteState::Succeeding => {}
                WriteState::Failing => return Err(StoreError::WritesFailing),
                WriteState::Unknown => {
                    return self.probe_writes().await.map_err(StoreError::WritesFail)
                }
            }
            let mut conn = self.pool.acquire().await?;
            conn.ping().await.map_err(StoreError::Query)
        };
        match tokio::time::timeout(within, query).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Timeout(within)),
        }
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Takes a step a migration queued in `upgrade_steps` for Rust to do; false when
/// it is done already (or being done by another process, whose transaction
/// this one waits for). Deleted in the caller's transaction, so a step that
/// fails stays queued for the next start.
pub async fn take_upgrade_step(
    conn: &mut sqlx::AnyConnection,
    name: &str,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM upgrade_steps WHERE name = $1")
        .bind(name)
        .execute(conn)
        .await?
        .rows_affected()
        == 1)
}

fn file_error(path: &std::path::Path, source: std::io::Error) -> StoreError {
    StoreError::File {
        path: path.display().to_string(),
        source,
    }
}

/// SQLite must create the file on the first start; keep any mode the user chose.
/// Opens one connection and closes it.
async fn probe(options: &AnyConnectOptions) -> Result<(), sqlx::Error> {
    options.connect().await?.close().await
}

fn with_create_mode(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// Milliseconds since the Unix epoch: the one time format in every table.
pub fn now_millis() -> i64 {
    let elapsed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
}

pub fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// True when `error` is a unique-key violation: a conflict for the caller, not a failure.
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// True when `error` says the database cannot be reached right now (a
/// restart, a network cut, an exhausted pool) rather than that the query was
/// wrong: worth waiting out, and a 503 for a web request.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        // Out of space: waiting out too (writes resume once space returns).
        sqlx::Error::Database(_) if is_storage_failure(error) => true,
        // SQLSTATE classes 08 (connection exception) and 57P (operator
        // intervention: shutdown, crash, still starting up), and 53300 (too many connections).
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || code.starts_with("57P") || code == "53300"
        }),
        _ => false,
    }
}

/// True when `error` says the database could not store a write: the disk
/// (or SQLite's page limit) is full, or the storage failed (SQLite's
/// `SQLITE_FULL` and `SQLITE_IOERR` families; PostgreSQL's `disk_full`,
/// `io_error` and `out_of_memory`).
pub fn is_storage_failure(error: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = error else {
        return false;
    };
    let Some(code) = db.code() else {
        return false;
    };
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        // Extended result codes: the primary code is the low byte.
        return code
            .parse::<i64>()
            .is_ok_and(|code| matches!(code & 0xff, 10 | 13));
    }
    matches!(code.as_ref(), "53100" | "58030" | "53200")
}

/// Whether anything in `error`'s chain of causes is the database being unreachable.
pub fn unavailable_in(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(sqlx) = error.downcast_ref::<sqlx::Error>() {
            if is_unavailable(sqlx) {
                return true;
            }
        }
        cause = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_database_is_a_storage_failure_and_a_conflict_is_not() {
        let store = Store::connect("sqlite::memory:", 1)
            .await
            .expect("an in-memory database");
        let mut conn = store.pool().acquire().await.expect("a connection");
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)")
            .await
            .expect("create a table");
        conn.execute("INSERT INTO t (id) VALUES (1)")
            .await
            .expect("a first row");
        let conflict = conn
            .execute("INSERT INTO t (id) VALUES (1)")
            .await
            .expect_err("the same id twice");
        assert!(!is_storage_failure(&conflict), "{conflict}");
        assert!(!is_unavailable(&conflict), "{conflict}");

        // The database may not grow: as full as a full disk makes it.
        conn.execute("PRAGMA max_page_count = 1")
            .await
            .expect("limit the pages");
        let full = conn
            .execute("INSERT INTO t (b) VALUES (randomblob(100000))")
            .await
            .expect_err("a row larger than the database may grow");
        assert!(is_storage_failure(&full), "{full}");
        assert!(is_unavailable(&full), "a full disk is waited out: {full}");
    }
}
