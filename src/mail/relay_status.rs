//! Whether the SMTP relay can be reached. A session that cannot be opened
//! (connection refused, no answer, TLS failure, a 4xx greeting) marks the
//! relay unreachable; the delivery engine then stops taking mail and probes
//! the relay with backoff until a session opens again. One warning when the
//! outage starts and one line when it ends, whatever the queue holds.

use std::time::{Duration, Instant};

use tokio::sync::watch;

pub struct RelayStatus {
    /// `Some(since)` while the relay cannot be reached.
    down_since: watch::Sender<Option<Instant>>,
}

impl RelayStatus {
    pub(super) fn new() -> Self {
        Self {
            down_since: watch::Sender::new(None),
        }
    }

    pub fn is_unreachable(&self) -> bool {
        self.down_since.borrow().is_some()
    }

    /// How long the relay has been unreachable, if it is.
    pub fn unreachable_for(&self) -> Option<Duration> {
        self.down_since.borrow().map(|since| since.elapsed())
    }

    pub(super) fn mark_unreachable(&self, relay: &str, error: &str) {
        let started = self.down_since.send_if_modified(|down| {
            if down.is_some() {
                return false;
            }
            *down = Some(Instant::now());
            true
        });
        if started {
            tracing::warn!(
                relay,
                error,
                "the mail relay cannot be reached; mail waits in the queue and the relay is tried again, at most a minute apart"
            );
        }
    }

    pub(super) fn mark_reachable(&self, relay: &str) {
        let mut outage = None;
        self.down_since.send_if_modified(|down| {
            outage = down.take().map(|since| since.elapsed());
            outage.is_some()
        });
        if let Some(outage) = outage {
            tracing::info!(
                relay,
                outage_seconds = outage.as_secs(),
                "the mail relay answers again; sending resumes"
            );
        }
    }

    /// Done once the relay is unreachable.
    pub async fn until_unreachable(&self) {
        let mut receiver = self.down_since.subscribe();
        let _ = receiver.wait_for(Option::is_some).await;
    }

    /// Done once the relay is reachable (at once if it is).
    pub async fn until_reachable(&self) {
        let mut receiver = self.down_since.subscribe();
        let _ = receiver.wait_for(Option::is_none).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn an_outage_starts_once_and_ends_when_the_relay_answers() {
        let status = Arc::new(RelayStatus::new());
        assert!(!status.is_unreachable());
        status.until_reachable().await;

        status.mark_unreachable("smtp://relay:25", "connection refused");
        tokio::time::sleep(Duration::from_millis(20)).await;
        let since = status.unreachable_for().expect("an outage");
        status.mark_unreachable("smtp://relay:25", "connection refused");
        assert!(
            status.unreachable_for().expect("still down") >= since,
            "a second failure does not restart the outage"
        );
        status.until_unreachable().await;

        let waiter = tokio::spawn({
            let status = status.clone();
            async move { status.until_reachable().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "the relay is still down");
        status.mark_reachable("smtp://relay:25");
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .expect("the wait ends when the relay answers")
            .expect("the waiting task");
        assert!(!status.is_unreachable());
        assert!(status.unreachable_for().is_none());
    }
}
