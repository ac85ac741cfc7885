//! While the relay cannot be reached, the engine claims nothing and probes
//! it: after 1 s, then twice as long each time, at most a minute apart. Mail
//! already claimed goes back to the queue untried, its attempt not counted.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::{stop_asked, until_stop_asked, Engine};

const FIRST_PROBE: Duration = Duration::from_secs(1);
/// "Up to once a minute": an outage costs one connection a minute.
const LONGEST_PROBE_INTERVAL: Duration = Duration::from_secs(60);

impl Engine {
    /// Probes the relay whenever it is unreachable, until the engine stops.
    pub(super) async fn watch_relay(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let Some(status) = self.mailer.relay_status() else {
            return;
        };
        while !stop_asked(&shutdown) {
            tokio::select! {
                () = status.until_unreachable() => {}
                () = until_stop_asked(&mut shutdown) => return,
            }
            let mut wait = FIRST_PROBE;
            while status.is_unreachable() {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = until_stop_asked(&mut shutdown) => return,
                }
                // The outcome is the relay's status, which the probe sets.
                let _ = self.mailer.probe_relay().await;
                wait = (wait * 2).min(LONGEST_PROBE_INTERVAL);
            }
        }
    }

    /// Done at once while the relay is reachable (or mail goes to files).
    pub(super) async fn until_relay_reachable(&self) {
        if let Some(status) = self.mailer.relay_status() {
            status.until_reachable().await;
        }
    }
}
