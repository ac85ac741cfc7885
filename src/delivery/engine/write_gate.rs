//! How the engine's writers (the dispatcher's claims, the recorders' groups,
//! the pacer) reach the database.
//!
//! SQLite has one writer at a time and a writer that finds the file locked
//! sleeps in the busy handler (1, 2, 5, 10 ms …). The engine's writers take
//! turns instead, waking the moment the one before is done. PostgreSQL locks
//! rows, so there they run side by side.
//!
//! On SQLite the claims and the groups of sent copies also go over one
//! connection kept for them. In WAL mode a connection drops its whole page
//! cache when another connection committed since its last read, and the pool
//! hands its connections out in turn: every claim and group re-read the
//! queue's pages from the file (`_copy_to_iter` and cache truncation were a
//! fifth of the SQLite threads' time, perf, herald-bench). A connection that
//! is the only writer keeps its cache.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::store::{Dialect, Store, Urgency, WriteTurn, WriteTurns};

#[derive(Clone)]
pub(super) struct WriteGate {
    turns: Option<WriteTurns>,
    /// SQLite only: the connection the engine's busiest writes share; opened
    /// on first use, and again after one of its statements failed.
    kept: Option<Arc<Mutex<Option<AnyConnection>>>>,
}

impl WriteGate {
    pub(super) fn for_store(store: &Store) -> Self {
        Self {
            // The store's turns, shared with the signup intake and desk of this process.
            turns: store.write_turns(),
            kept: (store.dialect() == Dialect::Sqlite).then(|| Arc::new(Mutex::new(None))),
        }
    }

    pub(super) async fn turn(&self) -> Option<WriteTurn> {
        match &self.turns {
            Some(turns) => Some(turns.take(Urgency::Background).await),
            None => None,
        }
    }

    /// A connection for a write made under [`WriteGate::turn`]: the kept one
    /// on SQLite, any of the pool's on PostgreSQL.
    pub(super) async fn connection(&self, store: &Store) -> Result<WriterConnection, sqlx::Error> {
        let Some(kept) = &self.kept else {
            return Ok(WriterConnection::Pooled(store.pool().acquire().await?));
        };
        let mut slot = kept.clone().lock_owned().await;
        if slot.is_none() {
            // Out of the pool's count: the pool may open another in its place.
            *slot = Some(store.pool().acquire().await?.detach());
        }
        Ok(WriterConnection::Kept(KeptConnection(slot)))
    }
}

pub(super) enum WriterConnection {
    Pooled(PoolConnection<Any>),
    Kept(KeptConnection),
}

/// The kept connection, held; never empty while held.
pub(super) struct KeptConnection(OwnedMutexGuard<Option<AnyConnection>>);

impl WriterConnection {
    /// After a failed statement the connection may be left in a state the
    /// next writer must not inherit: the kept one is closed and opened anew.
    pub(super) fn discard(self) {
        if let Self::Kept(KeptConnection(mut slot)) = self {
            *slot = None;
        }
    }
}

impl Deref for WriterConnection {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        match self {
            Self::Pooled(conn) => conn,
            Self::Kept(KeptConnection(slot)) => match slot.as_ref() {
                Some(conn) => conn,
                None => unreachable!("a kept connection is opened before it is handed out"),
            },
        }
    }
}

impl DerefMut for WriterConnection {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            Self::Pooled(conn) => conn,
            Self::Kept(KeptConnection(slot)) => match slot.as_mut() {
                Some(conn) => conn,
                None => unreachable!("a kept connection is opened before it is handed out"),
            },
        }
    }
}
