//! Group commit of delivery outcomes: workers hand in an outcome and wait until
//! it is durable; the recorder writes whatever has gathered meanwhile in one
//! transaction. A worker takes its next message only after its last outcome is
//! committed, so a crash can repeat at most one message per worker. On
//! PostgreSQL several groups are written at once (see `groups_at_once`).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot::error::TryRecvError;
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::WriteGate;
use crate::bounces::send_time;
use crate::config::SecretKey;
use crate::delivery::deliveries::{self, Failure, Outcome};
use crate::delivery::DeliverySignals;
use crate::store::{is_unavailable, now_millis, Dialect, Store};
use crate::subscriptions::Subscriptions;

/// Outcomes written in one transaction at most.
const MAX_GROUP: usize = 512;
/// Tries at writing one group before its outcomes are given up to the lease,
/// for errors other than the database being unreachable.
const WRITE_TRIES: u32 = 5;
/// The longest wait between tries while the database is unreachable.
const UNAVAILABLE_RETRY: Duration = Duration::from_secs(1);

struct Record {
    delivery_id: i64,
    subscriber_id: i64,
    outcome: Outcome,
    committed: oneshot::Sender<()>,
}

/// Done once an outcome handed to the recorder is committed, and with it
/// every outcome the same worker handed in before (see [`Recorder::submit`]).
pub struct Committed {
    /// This outcome's commit and those of the worker's earlier outcomes that
    /// were still being written when it was handed in.
    pending: Vec<oneshot::Receiver<()>>,
}

impl Committed {
    /// Also done when the recorder is gone: nothing more can be waited for.
    pub async fn wait(self) {
        for commit in self.pending {
            let _ = commit.await;
        }
    }
}

/// Where workers hand in outcomes. Cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    records: mpsc::Sender<Record>,
}

impl Recorder {
    /// Starts the writing task; it ends once every `Recorder` clone is dropped
    /// and the last group is written.
    pub fn start(
        store: Store,
        write_gate: WriteGate,
        signals: Arc<DeliverySignals>,
        key: Arc<SecretKey>,
        bounce_after_failures: i64,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (records, incoming) = mpsc::channel(MAX_GROUP * 2);
        let task = tokio::spawn(write_groups(
            store,
            write_gate,
            signals,
            key,
            bounce_after_failures,
            incoming,
        ));
        (Self { records }, task)
    }

    /// Records `outcome` and waits until it is committed (or given up after
    /// repeated database errors: the claim then lapses and the message is
    /// tried again, which can repeat it but never loses it).
    pub async fn record(&self, delivery_id: i64, subscriber_id: i64, outcome: Outcome) {
        self.submit(delivery_id, subscriber_id, outcome, None)
            .await
            .wait()
            .await;
    }

    /// Hands `outcome` in without waiting for it to be committed. `before` is
    /// the worker's previous outcome if it may not be committed yet: on
    /// PostgreSQL groups are written side by side and may commit out of
    /// order, so the answer waits for both.
    pub async fn submit(
        &self,
        delivery_id: i64,
        subscriber_id: i64,
        outcome: Outcome,
        before: Option<Committed>,
    ) -> Committed {
        let (committed, done) = oneshot::channel();
        let record = Record {
            delivery_id,
            subscriber_id,
            outcome,
            committed,
        };
        let _ = self.records.send(record).await;
        let mut pending = before.map(|before| before.pending).unwrap_or_default();
        // Commits already done are dropped, so a worker whose copies keep
        // not going out does not pile them up.
        pending.retain_mut(|commit| matches!(commit.try_recv(), Err(TryRecvError::Empty)));
        pending.push(done);
        Committed { pending }
    }
}

/// Groups written at the same time. SQLite has one writer and its commits
/// cost no flush, so one at a time. On PostgreSQL, writing four at once let
/// outcomes share WAL flushes and sped the send 1.4–1.6× on a machine whose
/// flushes were slow under other load; on a quiet machine it made groups
/// smaller and each copy dearer, and one at a time was faster (6,246–6,818
/// msg/s against 5,206–5,690, PostgreSQL at 51–54 % of the CPU against
/// 60–61 %; `herald-bench --database …`, 2026-11-29). Raise it where the
/// database's flushes are slow and its CPU is not the limit.
fn groups_at_once(dialect: Dialect) -> usize {
    match dialect {
        Dialect::Sqlite | Dialect::Postgres => 1,
    }
}

async fn write_groups(
    store: Store,
    write_gate: WriteGate,
    signals: Arc<DeliverySignals>,
    key: Arc<SecretKey>,
    bounce_after_failures: i64,
    mut incoming: mpsc::Receiver<Record>,
) {
    let at_once = groups_at_once(store.dialect());
    let writers = Arc::new(Semaphore::new(at_once));
    // A writer is free before the next group is taken: while all are busy,
    // outcomes gather into a larger group.
    while let Ok(writer) = writers.clone().acquire_owned().await {
        let mut group = Vec::with_capacity(MAX_GROUP);
        if incoming.recv_many(&mut group, MAX_GROUP).await == 0 {
            break;
        }
        let (store, write_gate, signals, key) = (
            store.clone(),
            write_gate.clone(),
            signals.clone(),
            key.clone(),
        );
        tokio::spawn(async move {
            write_until_done(
                &store,
                &write_gate,
                &signals,
                &key,
                group,
                bounce_after_failures,
            )
            .await;
            drop(writer);
        });
    }
    // The last groups are written before the recorder counts as ended.
    let _ = writers
        .acquire_many(u32::try_from(at_once).unwrap_or(u32::MAX))
        .await;
}

/// Writes `group`, trying again while the database is unreachable, then
/// answers every outcome in it.
async fn write_until_done(
    store: &Store,
    write_gate: &WriteGate,
    signals: &DeliverySignals,
    key: &SecretKey,
    group: Vec<Record>,
    bounce_after_failures: i64,
) {
    let mut tries = 0;
    let mut waits = 0u32;
    loop {
        match write_group(store, write_gate, key, &group, bounce_after_failures).await {
            Ok(bounced) => {
                for subscriber_id in bounced {
                    signals.departed(subscriber_id);
                }
                if waits > 0 {
                    tracing::info!("the database is back; delivery outcomes recorded");
                }
                break;
            }
            // These messages went out: giving their outcomes up would send
            // them again. The workers wait here too, as each waits for its
            // last outcome before sending on, so nothing more goes out.
            Err(error) if is_unavailable(&error) => {
                if waits == 0 {
                    tracing::warn!(%error, "the database is unreachable; holding delivery outcomes until it is back");
                }
                waits += 1;
                tokio::time::sleep(
                    UNAVAILABLE_RETRY.min(Duration::from_millis(100 * u64::from(waits))),
                )
                .await;
            }
            Err(error) => {
                tries += 1;
                if tries >= WRITE_TRIES {
                    tracing::error!(
                        %error,
                        outcomes = group.len(),
                        "cannot record delivery outcomes; their claims will lapse and they go again"
                    );
                    break;
                }
                tracing::warn!(%error, "cannot record delivery outcomes yet; trying again");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(tries))).await;
            }
        }
    }
    for record in group {
        let _ = record.committed.send(());
    }
}

/// Writes one group; returns the subscribers it marked bounced.
async fn write_group(
    store: &Store,
    write_gate: &WriteGate,
    key: &SecretKey,
    group: &[Record],
    bounce_after_failures: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    let now = now_millis();
    let (sent, others): (Vec<&Record>, Vec<&Record>) = group
        .iter()
        .partition(|record| matches!(record.outcome, Outcome::Sent { .. }));
    let sent: Vec<(i64, &str)> = sent
        .iter()
        .filter_map(|record| match &record.outcome {
            Outcome::Sent { reply } => Some((record.delivery_id, reply.as_str())),
            _ => None,
        })
        .collect();
    let _turn = write_gate.turn().await;
    if others.is_empty() {
        // The usual group: one statement, atomic on its own, and no
        // BEGIN/COMMIT round trips (a group of successes took 1.3 ms with them).
        let mut conn = write_gate.connection(store).await?;
        if let Err(error) = deliveries::record_sent(&mut conn, store.dialect(), &sent, now).await {
            conn.discard();
            return Err(error);
        }
        return Ok(Vec::new());
    }
    let mut tx = store.begin_write().await?;
    deliveries::record_sent(&mut tx, store.dialect(), &sent, now).await?;
    for record in &others {
        deliveries::record(
            &mut tx,
            store.dialect(),
            record.delivery_id,
            &record.outcome,
            now,
        )
        .await?;
    }
    let mut bounced = Vec::new();
    for record in group {
        let reason = match &record.outcome {
            Outcome::Refused {
                class,
                status,
                error,
            } => {
                send_time::record_refusal(
                    &mut tx,
                    record.delivery_id,
                    *class,
                    status.as_deref(),
                    now,
                )
                .await?;
                match Failure::of_refusal(*class) {
                    // The relay named the address dead: no second try.
                    Failure::Hard => Some(format!("refused at send time: {error}")),
                    Failure::Permanent => {
                        refused_too_often(&mut tx, record, error, bounce_after_failures).await?
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        let Some(reason) = reason else {
            continue;
        };
        if Subscriptions::mark_bounced(
            &mut tx,
            store.dialect(),
            key,
            record.subscriber_id,
            &reason,
            now,
        )
        .await?
        {
            tracing::info!(subscriber_id = record.subscriber_id, "subscriber bounced");
            bounced.push(record.subscriber_id);
        }
    }
    tx.commit().await?;
    Ok(bounced)
}

/// The reason to bounce the reader of `record`, whose copy was refused for a
/// reason not known to be their address's, once `bounce_after_failures` of
/// their copies in a row were.
async fn refused_too_often(
    conn: &mut sqlx::AnyConnection,
    record: &Record,
    error: &str,
    bounce_after_failures: i64,
) -> Result<Option<String>, sqlx::Error> {
    let in_a_row = deliveries::permanent_failures_in_a_row(conn, record.subscriber_id).await?;
    Ok((in_a_row >= bounce_after_failures)
        .then(|| format!("{in_a_row} refusals in a row; last: {error}")))
}
