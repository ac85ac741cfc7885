//! One connection held for a bulk job (an import of a million rows): its
//! write transactions one after another, and on SQLite a page cache large
//! enough for the index pages a batch touches and statement journals kept in
//! memory, which the pool's other connections do not get.

use sqlx::pool::PoolConnection;
use sqlx::{Any, Executor, Transaction};

use super::{Dialect, Store, WriteTransaction};

/// The SQLite page cache of a bulk job, in KiB. SQLite's default is 2 MB;
/// each row an import adds lands on a random page of the link-key index and
/// of the address index, so a batch of 50,000 rows dirties tens of thousands
/// of pages: with the default, SQLite kept reading them back from the file
/// and writing them out again (the kernel's page copies were 62 % of a
/// million-row import's CPU time).
const BULK_CACHE_KIB: u32 = 128 * 1024;

/// WAL pages (4 KiB) between the bulk connection's checkpoints: 64 MB.
const BULK_CHECKPOINT_PAGES: u32 = 16 * 1024;

/// A connection of the pool kept for one bulk job; see the module doc.
pub struct BulkWriter {
    conn: PoolConnection<Any>,
    store: Store,
}

impl Store {
    /// A connection for a bulk job. Dropped, it is closed rather than handed
    /// back to the pool with its large cache (SQLite); the pool opens a new
    /// one when it needs it.
    pub async fn bulk_writer(&self) -> Result<BulkWriter, sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        if self.dialect == Dialect::Sqlite {
            conn.close_on_drop();
            conn.execute(format!("PRAGMA cache_size = -{BULK_CACHE_KIB}").as_str())
                .await?;
            // A multi-row insert keeps a statement journal: the old content
            // of every page it touches, so that a failing row can undo the
            // statement alone. On disk (SQLite's default) that journal was
            // a temporary file rewritten by every statement, 690 MB of
            // writes for 300,000 rows, more than the WAL and the database
            // together; in memory it is a copy into the heap, freed after
            // the statement.
            conn.execute("PRAGMA temp_store = MEMORY").await?;
            // A checkpoint after each 4 MB of WAL (the default) copied the
            // same index pages into the database again and again, once for
            // each batch that touched them; every 64 MB, most of a batch's
            // rewrites of a page reach the database as one.
            conn.execute(format!("PRAGMA wal_autocheckpoint = {BULK_CHECKPOINT_PAGES}").as_str())
                .await?;
        }
        Ok(BulkWriter {
            conn,
            store: self.clone(),
        })
    }
}

impl BulkWriter {
    /// A write transaction on this connection, as [`Store::begin_write`]
    /// opens one: `BEGIN IMMEDIATE` on SQLite, its failures noted for `/health`.
    pub async fn begin_write(&mut self) -> Result<WriteTransaction<'_>, sqlx::Error> {
        let statement = match self.store.dialect {
            Dialect::Sqlite => Some("BEGIN IMMEDIATE".into()),
            Dialect::Postgres => None,
        };
        let transaction = Transaction::begin(&mut *self.conn, statement)
            .await
            .inspect_err(|error| self.store.note_write_error(error))?;
        Ok(WriteTransaction::new(
            transaction,
            self.store.writes.clone(),
        ))
    }
}
