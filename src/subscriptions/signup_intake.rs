//! Group commit for signup requests (issue 13).
//!
//! Each signup used to commit its own row: on SQLite one commit per request,
//! and every handler queued on SQLite's sleeping busy handler behind the
//! others and behind the desk. Now handlers hand their row to one intake
//! task per process, which writes every row waiting in one multi-row INSERT
//! (one statement, one commit) and only then answers each handler: an
//! answered signup is still a committed one, and a crash loses none.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{mpsc, oneshot, Semaphore};

use super::queries::{self, NewSignupRequest};
use crate::store::{Dialect, Store};

/// Rows per INSERT: seven values a row (980) keeps a group under the 999 parameters
/// older SQLite builds allow; at 8 connections groups stay far smaller.
const MAX_GROUP: usize = 140;
/// Handlers waiting to be written; past it they wait for room.
const QUEUE: usize = 4096;

struct Waiting {
    request: NewSignupRequest,
    answer: oneshot::Sender<Result<(), sqlx::Error>>,
}

/// The handlers' side of the intake task, started on first use and again if
/// its runtime went away.
#[derive(Clone)]
pub(super) struct SignupIntake {
    queue: Arc<Mutex<Option<mpsc::Sender<Waiting>>>>,
    /// Where the task runs: the runtime that built the app (it lives as long
    /// as the process serves), not one of actix-web's worker runtimes, which
    /// stop one by one at shutdown while other workers still answer.
    runtime: Option<tokio::runtime::Handle>,
}

impl SignupIntake {
    pub(super) fn new() -> Self {
        Self {
            queue: Arc::default(),
            runtime: tokio::runtime::Handle::try_current().ok(),
        }
    }

    /// Writes `request` with whatever other requests are waiting; returns once
    /// it is committed.
    pub(super) async fn write(
        &self,
        store: &Store,
        request: NewSignupRequest,
    ) -> Result<(), sqlx::Error> {
        let (answer, answered) = oneshot::channel();
        let queue = self.sender(store);
        let waiting = Waiting { request, answer };
        let waiting = match queue.send(waiting).await {
            Ok(()) => match answered.await {
                Ok(result) => return result,
                // The intake's runtime stopped (shutdown) with our row
                // unanswered: it may or may not be written, and writing it
                // again could mail a second confirmation. The visitor is told
                // it failed and may try again.
                Err(_) => None,
            },
            Err(mpsc::error::SendError(waiting)) => Some(waiting),
        };
        let request = match waiting {
            Some(waiting) => waiting.request,
            None => return Err(sqlx::Error::PoolClosed),
        };
        write_one(store, &request).await
    }

    fn sender(&self, store: &Store) -> mpsc::Sender<Waiting> {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        match &*queue {
            Some(sender) if !sender.is_closed() => sender.clone(),
            _ => {
                let (sender, receiver) = mpsc::channel(QUEUE);
                let task = run(store.clone(), receiver);
                match &self.runtime {
                    Some(runtime) => drop(runtime.spawn(task)),
                    None => drop(tokio::spawn(task)),
                }
                *queue = Some(sender.clone());
                sender
            }
        }
    }
}

async fn run(store: Store, mut queue: mpsc::Receiver<Waiting>) {
    let writers = Arc::new(Semaphore::new(groups_at_once(store.dialect())));
    // A writer is free before the next group is taken: while all are busy,
    // rows gather in the queue into a larger group.
    while let Ok(writer) = writers.clone().acquire_owned().await {
        let mut group = Vec::with_capacity(MAX_GROUP);
        if queue.recv_many(&mut group, MAX_GROUP).await == 0 {
            return;
        }
        let store = store.clone();
        tokio::spawn(async move {
            write_group(&store, &mut group).await;
            drop(writer);
        });
    }
}

/// Groups written at the same time. SQLite has one writer, and its commits
/// cost no flush (WAL, synchronous = NORMAL); a PostgreSQL commit waits for
/// its WAL flush, and commits made together share one, so one group at a
/// time left the server idle between flushes.
fn groups_at_once(dialect: Dialect) -> usize {
    match dialect {
        Dialect::Sqlite => 1,
        Dialect::Postgres => 4,
    }
}

/// Writes the group in one statement and answers each handler; when that
/// fails, writes each row on its own so that each handler gets the error its
/// own row meets (a full disk, noted for `/health`).
async fn write_group(store: &Store, group: &mut Vec<Waiting>) {
    let written = {
        let _turn = store.visitor_write_turn().await;
        match store.pool().acquire().await {
            Ok(mut conn) => {
                let requests: Vec<&NewSignupRequest> =
                    group.iter().map(|waiting| &waiting.request).collect();
                queries::insert_signup_requests(&mut conn, store.dialect(), &requests).await
            }
            Err(error) => Err(error),
        }
    };
    match written {
        Ok(()) => {
            for waiting in group.drain(..) {
                let _ = waiting.answer.send(Ok(()));
            }
        }
        Err(error) => {
            store.note_write_error(&error);
            tracing::warn!(%error, rows = group.len(), "a group of signups failed; writing each alone");
            for waiting in group.drain(..) {
                let result = write_one(store, &waiting.request).await;
                let _ = waiting.answer.send(result);
            }
        }
    }
}

/// One row in one autocommit INSERT; a storage failure reaches `/health`.
async fn write_one(store: &Store, request: &NewSignupRequest) -> Result<(), sqlx::Error> {
    let _turn = store.visitor_write_turn().await;
    let mut conn = store.pool().acquire().await?;
    queries::insert_signup_requests(&mut conn, store.dialect(), &[request])
        .await
        .inspect_err(|error| store.note_write_error(error))
}
