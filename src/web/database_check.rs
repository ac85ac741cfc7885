//! The database check behind `/health`, made at most once a second and
//! shared by every worker. A load balancer polling every few seconds sees a
//! fresh answer each time, while a flood of `/health` requests costs the
//! database one round trip a second instead of one each (16,700 req/s with a
//! check per request, against actix-web's 65,000 on the same machine).
//!
//! A failure still shows within a second: the cheap signs (the SQLite file
//! gone, a write failed moments ago) are read on every request, a check that
//! fails is reported as soon as it returns, and one still running after a
//! second counts as a failure.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::store::Store;

use super::error::error_chain;

/// How long a check's answer is reused.
const FRESH_FOR: Duration = Duration::from_secs(1);
/// How long a check may run before `/health` reports the database as not answering.
const ANSWER_WITHIN: Duration = Duration::from_secs(1);
/// How long the check itself waits for the database before it gives up.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The last check's answer and the one under way.
#[derive(Default)]
pub struct DatabaseCheck {
    state: Mutex<CheckState>,
}

#[derive(Default)]
struct CheckState {
    last: Option<LastCheck>,
    running_since: Option<Instant>,
}

struct LastCheck {
    at: Instant,
    answered: bool,
}

/// What a `/health` request reports.
pub enum Verdict {
    Ok,
    Unavailable,
}

impl DatabaseCheck {
    /// The database's state, checking it when the last check is over a
    /// second old and no other request is already doing so.
    pub async fn verdict(self: &Arc<Self>, store: &Store) -> Verdict {
        if store.known_failure().is_some() {
            return Verdict::Unavailable;
        }
        let now = Instant::now();
        let start_check = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(since) = state.running_since {
                if now.duration_since(since) > ANSWER_WITHIN {
                    return Verdict::Unavailable;
                }
                if let Some(last) = &state.last {
                    return verdict_of(last);
                }
                // The very first check is under way: wait for it below.
                false
            } else if let Some(last) = state
                .last
                .as_ref()
                .filter(|last| now.duration_since(last.at) < FRESH_FOR)
            {
                return verdict_of(last);
            } else {
                state.running_since = Some(now);
                true
            }
        };
        if start_check {
            return self.check_now(store).await;
        }
        // Only the first requests of a process come here; they wait for the
        // first check rather than answer without one.
        loop {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            match (&state.last, state.running_since) {
                (Some(last), _) => return verdict_of(last),
                (None, Some(since)) if since.elapsed() > ANSWER_WITHIN => {
                    return Verdict::Unavailable
                }
                (None, Some(_)) => {}
                (None, None) => return Verdict::Unavailable,
            }
        }
    }

    /// Runs the check in a task of its own, so that it completes and clears
    /// `running_since` even when the request that started it goes away.
    async fn check_now(self: &Arc<Self>, store: &Store) -> Verdict {
        let check = Arc::clone(self);
        let store = store.clone();
        let task = tokio::spawn(async move {
            let answered = match store.ping(CHECK_TIMEOUT).await {
                Ok(()) => true,
                Err(error) => {
                    tracing::error!(error = %error_chain(&error), "health check: database unavailable");
                    false
                }
            };
            let mut state = check.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.running_since = None;
            let last = LastCheck {
                at: Instant::now(),
                answered,
            };
            let verdict = verdict_of(&last);
            state.last = Some(last);
            verdict
        });
        // A check that hangs (a server gone silent) must not hold this
        // request past the second either; the task goes on to its timeout.
        match tokio::time::timeout(ANSWER_WITHIN, task).await {
            Ok(Ok(verdict)) => verdict,
            Ok(Err(_)) | Err(_) => Verdict::Unavailable,
        }
    }
}

fn verdict_of(last: &LastCheck) -> Verdict {
    if last.answered {
        Verdict::Ok
    } else {
        Verdict::Unavailable
    }
}
