//! What the rest of the process tells the delivery engine without a database
//! round trip: mail was queued (wake up), and a subscriber left, the list or
//! the topics of some issues (stop any copy a worker already holds for them).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// A departure matters only while a copy claimed before it may still be in
/// memory; claims last far less than this.
const DEPARTURE_MEMORY: Duration = Duration::from_secs(600);

#[derive(Debug, Default)]
pub struct DeliverySignals {
    queued: Notify,
    departed: Mutex<HashMap<i64, Instant>>,
    /// (subscriber, issue): left every topic the issue goes to.
    left: Mutex<HashMap<(i64, i64), Instant>>,
}

impl DeliverySignals {
    pub fn new() -> Self {
        Self::default()
    }

    /// Mail or a send was queued: the engine looks at once instead of at its next poll.
    pub fn mail_queued(&self) {
        self.queued.notify_one();
    }

    pub async fn wait_for_mail(&self) {
        self.queued.notified().await;
    }

    /// Subscriber `id` unsubscribed, bounced or was erased; called after the
    /// change is committed. Their queued rows are already cancelled in the
    /// database; this catches the copies workers hold in memory.
    pub fn departed(&self, id: i64) {
        let now = Instant::now();
        let mut departed = self.departed.lock().unwrap_or_else(PoisonError::into_inner);
        departed.retain(|_, at| now.duration_since(*at) < DEPARTURE_MEMORY);
        departed.insert(id, now);
    }

    /// Subscriber `id` left the topics of `issues` and is in none of
    /// them now (still on the list); called after the change is committed.
    /// Their queued copies of those issues are already cancelled.
    pub fn left_issues(&self, id: i64, issues: &[i64]) {
        let now = Instant::now();
        let mut left = self.left.lock().unwrap_or_else(PoisonError::into_inner);
        left.retain(|_, at| now.duration_since(*at) < DEPARTURE_MEMORY);
        for issue in issues {
            left.insert((id, *issue), now);
        }
    }

    pub fn has_left(&self, id: i64, issue: i64) -> bool {
        let left = self.left.lock().unwrap_or_else(PoisonError::into_inner);
        // Nearly always empty: no lock held longer than a look.
        !left.is_empty() && left.contains_key(&(id, issue))
    }

    pub fn has_departed(&self, id: i64) -> bool {
        self.departed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(&id)
    }
}
