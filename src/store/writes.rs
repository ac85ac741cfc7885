//! Write transactions and whether writes currently succeed.
//!
//! A commit can fail for lack of space (a full disk, SQLite's `SQLITE_FULL`)
//! or an I/O error; SQLite then may roll the transaction back itself, and
//! sqlx's connection keeps counting it as open. Such a connection is closed
//! when it goes back to the pool (`release_if_clean`), so no later request
//! inherits it, and the failure is noted so that `/health` answers 503 until
//! a write succeeds again, no sooner than 10 s after the last failure.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::{Any, AnyConnection, Connection, Transaction};

/// How long a failed write keeps `/health` at 503, whatever succeeds
/// meanwhile. Past it, and while no write succeeds, `/health` tries a small
/// write itself: with the service out of a load balancer's rotation nothing
/// else would.
const FAILURE_MEMORY: Duration = Duration::from_secs(10);

/// When a write last failed for a storage reason, until one succeeds.
#[derive(Debug, Default)]
pub(super) struct WriteHealth {
    last_failure: Mutex<Option<Instant>>,
}

/// What `/health` makes of the writes.
pub(super) enum WriteState {
    Succeeding,
    /// A write failed moments ago.
    Failing,
    /// A write failed a while ago and none was tried since: worth a probe.
    Unknown,
}

impl WriteHealth {
    pub(super) fn state(&self) -> WriteState {
        match *self.last_failure() {
            None => WriteState::Succeeding,
            Some(at) if at.elapsed() < FAILURE_MEMORY => WriteState::Failing,
            Some(_) => WriteState::Unknown,
        }
    }

    fn last_failure(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.last_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A success clears a failure only once the failure is older than
    /// [`FAILURE_MEMORY`]: on a full disk SQLite still commits a small write
    /// that fits in a free page (a worker's heartbeat) while every signup
    /// fails, and `/health` must not answer 200 between two failed signups.
    pub(super) fn succeeded(&self) {
        let mut last_failure = self.last_failure();
        if last_failure.is_some_and(|at| at.elapsed() >= FAILURE_MEMORY) {
            *last_failure = None;
            tracing::info!("database writes succeed again");
        }
    }

    pub(super) fn failed(&self, error: &dyn std::fmt::Display) {
        if self.last_failure().replace(Instant::now()).is_none() {
            tracing::error!(%error, "database writes fail (is the disk full?); /health answers 503 until one succeeds");
        }
    }
}

/// A transaction from [`super::Store::begin_write`]: used as the connection
/// it runs on, and committed with [`WriteTransaction::commit`]. Dropped
/// without a commit, it rolls back.
pub struct WriteTransaction<'c> {
    transaction: Transaction<'c, Any>,
    health: Arc<WriteHealth>,
}

impl<'c> WriteTransaction<'c> {
    pub(super) fn new(transaction: Transaction<'c, Any>, health: Arc<WriteHealth>) -> Self {
        Self {
            transaction,
            health,
        }
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        let health = self.health;
        match self.transaction.commit().await {
            Ok(()) => {
                health.succeeded();
                Ok(())
            }
            Err(error) => {
                if super::is_storage_failure(&error) {
                    health.failed(&error);
                }
                Err(error)
            }
        }
    }
}

impl Deref for WriteTransaction<'_> {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.transaction
    }
}

impl DerefMut for WriteTransaction<'_> {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.transaction
    }
}

/// The pool's `after_release` check: a connection that still counts a
/// transaction once its queued rollback has run (the ping waits for it) is
/// one whose COMMIT or ROLLBACK failed; it is closed rather than handed to
/// the next caller, whose `BEGIN` would fail ("attempted to call begin_with
/// at non-zero transaction depth") until the process restarts.
pub(super) async fn release_if_clean(
    conn: &mut AnyConnection,
    health: &WriteHealth,
) -> Result<bool, sqlx::Error> {
    if !conn.is_in_transaction() {
        return Ok(true);
    }
    conn.ping().await?;
    if conn.is_in_transaction() {
        tracing::warn!("closing a database connection left inside a failed transaction");
        health.failed(&"a COMMIT or ROLLBACK failed");
        return Ok(false);
    }
    Ok(true)
}
