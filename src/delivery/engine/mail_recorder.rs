//! Group commit of signup-mail outcomes (confirmations, welcomes).
//!
//! Each mail's outcome used to be its own write, made on the pool outside the
//! store's write turn: on SQLite, a signup's group commit that met one of
//! them slept in the busy handler (1, 2, 5, 10 ms …), which set the signups'
//! p99 under load (herald-bench signups, docs/performance.md). Workers now
//! hand their outcome to one task, which writes what has gathered in one
//! statement (successes) or one transaction, in its turn, and tells each
//! worker how it went. A worker still takes its next job only after its
//! mail's outcome is written, so a crash repeats at most one mail per worker.

use tokio::sync::{mpsc, oneshot};

use super::WriteGate;
use crate::delivery::outbox;
use crate::store::{is_unavailable, now_millis, Store};

/// Outcomes written together at most.
const MAX_GROUP: usize = 256;

/// What becomes of a claimed mail.
#[derive(Debug, Clone)]
pub(super) enum MailRecord {
    Sent,
    /// Given back untried: the relay cannot be reached.
    Released,
    Retry {
        at: i64,
        why: String,
    },
    Failed(String),
}

/// How writing an outcome went.
#[derive(Debug)]
pub(super) enum Written {
    Yes,
    /// The database cannot be reached; the caller may hand the outcome in again.
    Unavailable(String),
    Failed(String),
}

struct Entry {
    outbox_id: i64,
    record: MailRecord,
    /// When the outcome was known.
    at: i64,
    written: oneshot::Sender<Written>,
}

/// Where workers hand in mail outcomes. Cheap to clone.
#[derive(Clone)]
pub(super) struct MailRecorder {
    entries: mpsc::Sender<Entry>,
}

impl MailRecorder {
    /// Starts the writing task; it ends once every clone is dropped.
    pub(super) fn start(
        store: Store,
        write_gate: WriteGate,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (entries, incoming) = mpsc::channel(MAX_GROUP * 2);
        let task = tokio::spawn(write_groups(store, write_gate, incoming));
        (Self { entries }, task)
    }

    /// Writes `record` for the mail, with whatever other outcomes are waiting.
    pub(super) async fn record(&self, outbox_id: i64, record: MailRecord, at: i64) -> Written {
        let (written, answer) = oneshot::channel();
        let entry = Entry {
            outbox_id,
            record,
            at,
            written,
        };
        if self.entries.send(entry).await.is_err() {
            return Written::Failed("the mail recorder has stopped".into());
        }
        answer
            .await
            .unwrap_or_else(|_| Written::Failed("the mail recorder has stopped".into()))
    }
}

async fn write_groups(store: Store, write_gate: WriteGate, mut incoming: mpsc::Receiver<Entry>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while incoming.recv_many(&mut group, MAX_GROUP).await > 0 {
        match write_group(&store, &write_gate, &group).await {
            Ok(()) => {
                for entry in group.drain(..) {
                    let _ = entry.written.send(Written::Yes);
                }
            }
            Err(error) if is_unavailable(&error) => {
                for entry in group.drain(..) {
                    let _ = entry.written.send(Written::Unavailable(error.to_string()));
                }
            }
            // Written one by one, so that each worker hears of its own row's error.
            Err(_) => {
                for entry in group.drain(..) {
                    let written = match write_group(
                        &store,
                        &write_gate,
                        std::slice::from_ref(&entry),
                    )
                    .await
                    {
                        Ok(()) => Written::Yes,
                        Err(error) if is_unavailable(&error) => {
                            Written::Unavailable(error.to_string())
                        }
                        Err(error) => Written::Failed(error.to_string()),
                    };
                    let _ = entry.written.send(written);
                }
            }
        }
    }
}

async fn write_group(
    store: &Store,
    write_gate: &WriteGate,
    group: &[Entry],
) -> Result<(), sqlx::Error> {
    let sent: Vec<i64> = group
        .iter()
        .filter(|entry| matches!(entry.record, MailRecord::Sent))
        .map(|entry| entry.outbox_id)
        .collect();
    let now = now_millis();
    let _turn = write_gate.turn().await;
    if sent.len() == group.len() {
        // The usual group: one statement, atomic on its own.
        let mut conn = store.pool().acquire().await?;
        return outbox::mark_sent(&mut conn, store.dialect(), &sent, now).await;
    }
    let mut tx = store.begin_write().await?;
    outbox::mark_sent(&mut tx, store.dialect(), &sent, now).await?;
    for entry in group {
        match &entry.record {
            MailRecord::Sent => {}
            MailRecord::Released => outbox::release(&mut tx, entry.outbox_id, entry.at).await?,
            MailRecord::Retry { at, why } => {
                outbox::mark_retry(&mut tx, entry.outbox_id, *at, why).await?;
            }
            MailRecord::Failed(why) => {
                outbox::mark_failed(&mut tx, entry.outbox_id, entry.at, why).await?;
            }
        }
    }
    tx.commit().await
}
