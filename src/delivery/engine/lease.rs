//! Claims on issue copies last `HERALD_CLAIM_LEASE` and are renewed while
//! this process still holds copies of them, so a slow batch (a low send rate,
//! a slow relay) is never taken over by another worker, while a process that
//! dies leaves its claims to the others one lease later.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::watch;

use super::{stop_asked, until_stop_asked};
use crate::delivery::deliveries;
use crate::store::{millis, now_millis, Store};

/// One claimed batch: its rows carry `next_attempt_at = until` in the
/// database, the mark by which a renewal finds the rows still held.
pub(super) struct Lease {
    issue_id: i64,
    until: AtomicI64,
}

impl Lease {
    pub(super) fn until(&self) -> i64 {
        self.until.load(Ordering::SeqCst)
    }
}

/// The batches this process holds copies of; a batch whose last copy is
/// done drops out by itself (the registry keeps weak references).
pub(super) struct Leases {
    store: Store,
    length: Duration,
    held: Mutex<Vec<Weak<Lease>>>,
}

impl Leases {
    pub(super) fn new(store: Store, length: Duration) -> Self {
        Self {
            store,
            length,
            held: Mutex::new(Vec::new()),
        }
    }

    pub(super) fn length(&self) -> Duration {
        self.length
    }

    /// The end of a new claim's lease. A few random milliseconds keep two
    /// claims made in the same millisecond apart, as the mark must be ours.
    pub(super) fn next_end(&self) -> i64 {
        now_millis() + millis(self.length) + rand::random_range(0..1_000)
    }

    pub(super) fn hold(&self, issue_id: i64, until: i64) -> Arc<Lease> {
        let lease = Arc::new(Lease {
            issue_id,
            until: AtomicI64::new(until),
        });
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.retain(|lease| lease.strong_count() > 0);
        held.push(Arc::downgrade(&lease));
        lease
    }

    /// A copy must be sent well before its lease ends: closer than this, it
    /// is left for whoever claims it next.
    pub(super) fn margin(&self) -> i64 {
        millis(self.length / 4).min(5_000)
    }

    /// Renews every held lease at a third of its length until `stop`.
    pub(super) async fn renew_until_stopped(&self, mut stop: watch::Receiver<bool>) {
        while !stop_asked(&stop) {
            tokio::select! {
                () = tokio::time::sleep(self.length / 3) => {}
                () = until_stop_asked(&mut stop) => break,
            }
            self.renew_all().await;
        }
    }

    async fn renew_all(&self) {
        let leases: Vec<Arc<Lease>> = {
            let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
            held.retain(|lease| lease.strong_count() > 0);
            held.iter().filter_map(Weak::upgrade).collect()
        };
        for lease in leases {
            let old = lease.until();
            let new = self.next_end();
            match deliveries::renew_claim(self.store.pool(), lease.issue_id, old, new).await {
                Ok(_) => lease.until.store(new, Ordering::SeqCst),
                // The copies stop at the old lease's end; nothing is sent twice.
                Err(error) => tracing::warn!(%error, "cannot renew a claim"),
            }
        }
    }
}
