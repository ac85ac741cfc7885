//! `HERALD_SEND_CONCURRENCY` for the whole deployment: every sending process
//! beats a heartbeat into `senders`, and the live ones divide the
//! concurrency among themselves, oldest first for the remainder. A process
//! that dies stops beating and its share goes to the others.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use super::{stop_asked, until_stop_asked};
use crate::delivery::deployment::{self, Sender};
use crate::store::{millis, now_millis, Store};

const HEARTBEAT: Duration = Duration::from_secs(1);
/// A sender silent this long is taken for dead. Several heartbeats, so a
/// slow moment is not mistaken for death.
const FORGET_AFTER: Duration = Duration::from_secs(5);

/// The slots this process may send through at once.
pub(super) struct Share {
    store: Store,
    me: Sender,
    total: usize,
    slots: Arc<Semaphore>,
    /// Slots to give back as soon as the messages using them are done.
    owed: AtomicUsize,
    /// How many slots it holds (in use or not). The dispatcher claims no
    /// work while the share is nothing.
    held: watch::Sender<usize>,
}

/// One slot; dropping it returns the slot unless the process owes it back.
pub(super) struct Slot {
    permit: Option<OwnedSemaphorePermit>,
    share: Arc<Share>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            let owed = self
                .share
                .owed
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |owed| {
                    owed.checked_sub(1)
                });
            if owed.is_ok() {
                permit.forget();
            }
        }
    }
}

impl Share {
    pub(super) fn new(store: Store, total: usize) -> Arc<Self> {
        let me = Sender {
            id: format!("{:016x}", rand::random::<u64>()),
            host: hostname(),
            pid: i64::from(std::process::id()),
            started_at: now_millis(),
            seen_at: now_millis(),
        };
        Arc::new(Self {
            store,
            me,
            total,
            slots: Arc::new(Semaphore::new(0)),
            owed: AtomicUsize::new(0),
            held: watch::channel(0).0,
        })
    }

    pub(super) async fn slot(self: &Arc<Self>) -> Slot {
        let permit = self.slots.clone().acquire_owned().await.ok();
        Slot {
            permit,
            share: self.clone(),
        }
    }

    /// Lets every worker waiting for a slot go on: the process is stopping
    /// and they only hand their work back.
    pub(super) fn stop_waiting(&self) {
        self.slots.close();
    }

    /// Waits until this process holds at least one slot.
    pub(super) async fn wait_for_a_slot(&self) {
        let mut held = self.held.subscribe();
        let _ = held.wait_for(|held| *held > 0).await;
    }

    /// Beats the heartbeat and follows the deployment until `stop` turns
    /// true, then leaves the table so the others take the share at once.
    pub(super) async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut first = true;
        while !stop_asked(&stop) {
            match self.look_around().await {
                Ok(live) => {
                    // A newcomer waits one heartbeat before taking its share
                    // from others, so they have lowered theirs by then.
                    if first && live.len() > 1 {
                        first = false;
                        tokio::select! {
                            () = tokio::time::sleep(HEARTBEAT + HEARTBEAT / 2) => {}
                            () = until_stop_asked(&mut stop) => {}
                        }
                        continue;
                    }
                    first = false;
                    self.resize(share_of(&self.me.id, &live, self.total));
                }
                // Keep the share it has: the others cannot change theirs either.
                Err(error) => tracing::warn!(%error, "cannot reach the senders table"),
            }
            tokio::select! {
                () = tokio::time::sleep(HEARTBEAT) => {}
                () = until_stop_asked(&mut stop) => {}
            }
        }
        if let Err(error) = deployment::leave(self.store.pool(), &self.me.id).await {
            tracing::warn!(%error, "cannot remove this process from the senders table");
        }
    }

    async fn look_around(&self) -> Result<Vec<Sender>, sqlx::Error> {
        let now = now_millis();
        deployment::heartbeat(self.store.pool(), &self.me, now).await?;
        deployment::live_senders(self.store.pool(), now - millis(FORGET_AFTER)).await
    }

    /// Only the heartbeat task resizes, so `held` cannot change meanwhile.
    fn resize(&self, wanted: usize) {
        let granted = *self.held.borrow();
        if wanted > granted {
            let mut more = wanted - granted;
            // Slots still owed back are simply kept.
            while more > 0
                && self
                    .owed
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |o| o.checked_sub(1))
                    .is_ok()
            {
                more -= 1;
            }
            self.slots.add_permits(more);
        } else if wanted < granted {
            let fewer = granted - wanted;
            let forgotten = self.slots.forget_permits(fewer);
            self.owed.fetch_add(fewer - forgotten, Ordering::SeqCst);
        }
        if wanted != granted {
            tracing::info!(
                slots = wanted,
                of = self.total,
                "this process's share of the send concurrency"
            );
        }
        self.held.send_replace(wanted);
    }
}

/// `total` divided among `live` senders (oldest first); the first ones get
/// one more each while the remainder lasts. A sender not in the list gets
/// nothing until its heartbeat lands.
fn share_of(me: &str, live: &[Sender], total: usize) -> usize {
    let Some(rank) = live.iter().position(|sender| sender.id == me) else {
        return 0;
    };
    let count = live.len();
    total / count + usize::from(rank < total % count)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn senders(n: usize) -> Vec<Sender> {
        (0..n)
            .map(|i| Sender {
                id: format!("s{i}"),
                host: "h".into(),
                pid: 1,
                started_at: i64::try_from(i).unwrap_or(0),
                seen_at: 0,
            })
            .collect()
    }

    #[test]
    fn the_shares_add_up_to_the_whole() {
        for total in 1..20 {
            for n in 1..6 {
                let live = senders(n);
                let sum: usize = live.iter().map(|s| share_of(&s.id, &live, total)).sum();
                assert_eq!(sum, total, "{total} among {n}");
            }
        }
        let live = senders(3);
        assert_eq!(share_of("s0", &live, 8), 3);
        assert_eq!(share_of("s2", &live, 8), 2);
        assert_eq!(share_of("stranger", &live, 8), 0);
    }
}
