//! Turns at SQLite's one write lock among this process's busiest writers.
//!
//! A writer that finds the file locked sleeps in SQLite's busy handler (1, 2,
//! 5, 10 ms …), which gave signups a p99 in the hundreds of milliseconds. The
//! signup intake, the signup desk and the delivery engine take turns here
//! instead, each woken the moment the one before is done. A visitor waits on
//! the intake's turn while the others are background work, so the intake
//! goes before any background writer that is waiting: with a plain queue it
//! waited behind every claim and outcome group queued ahead of it (1.3–1.5 ms
//! a group of signups, herald-bench signups, docs/performance.md). The
//! intake takes one turn per group and asks for the next only after handing
//! this one on, so the background writers still get every other turn.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

/// Who waits on a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    /// A visitor's request waits for it (the signup intake).
    Visitor,
    /// Nobody is waiting on the page (the desk, the engine).
    Background,
}

/// The turns of one store. Cheap to clone.
#[derive(Clone, Default)]
pub struct WriteTurns {
    queue: Arc<Mutex<Queue>>,
}

#[derive(Default)]
struct Queue {
    held: bool,
    visitors: VecDeque<oneshot::Sender<()>>,
    background: VecDeque<oneshot::Sender<()>>,
}

impl std::fmt::Debug for WriteTurns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let queue = self.lock();
        f.debug_struct("WriteTurns")
            .field("held", &queue.held)
            .field("visitors", &queue.visitors.len())
            .field("background", &queue.background.len())
            .finish()
    }
}

/// A turn held; the next writer's begins when it is dropped.
pub struct WriteTurn {
    turns: WriteTurns,
}

impl Drop for WriteTurn {
    fn drop(&mut self) {
        self.turns.hand_over();
    }
}

impl WriteTurns {
    /// Waits for a turn: at once when nobody holds one, else after the
    /// waiting visitors and, for background work, after the background
    /// writers already waiting.
    pub async fn take(&self, urgency: Urgency) -> WriteTurn {
        let granted = {
            let mut queue = self.lock();
            if !queue.held {
                queue.held = true;
                return WriteTurn {
                    turns: self.clone(),
                };
            }
            let (grant, granted) = oneshot::channel();
            match urgency {
                Urgency::Visitor => queue.visitors.push_back(grant),
                Urgency::Background => queue.background.push_back(grant),
            }
            granted
        };
        Waiting {
            granted,
            turns: self.clone(),
            done: false,
        }
        .until_granted()
        .await
    }

    /// Passes the turn to the next writer waiting, or frees it.
    fn hand_over(&self) {
        let mut queue = self.lock();
        while let Some(next) = queue
            .visitors
            .pop_front()
            .or_else(|| queue.background.pop_front())
        {
            // A waiter that gave up has dropped its end: the next one gets it.
            if next.send(()).is_ok() {
                return;
            }
        }
        queue.held = false;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A writer in the queue. Dropped before it saw its turn (its task was
/// cancelled), it passes on a turn handed to it meanwhile.
struct Waiting {
    granted: oneshot::Receiver<()>,
    turns: WriteTurns,
    done: bool,
}

impl Waiting {
    async fn until_granted(mut self) -> WriteTurn {
        // Senders are dropped unsent only when their receiver is gone, and
        // this one is here: the wait ends with the turn.
        let _ = (&mut self.granted).await;
        self.done = true;
        WriteTurn {
            turns: self.turns.clone(),
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        self.granted.close();
        if self.granted.try_recv().is_ok() {
            self.turns.hand_over();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_waiting_visitor_goes_before_waiting_background_writers() {
        let turns = WriteTurns::default();
        let held = turns.take(Urgency::Background).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut waiting = Vec::new();
        for (name, urgency) in [
            ("background 1", Urgency::Background),
            ("background 2", Urgency::Background),
            ("visitor", Urgency::Visitor),
        ] {
            let (turns, order) = (turns.clone(), order.clone());
            waiting.push(tokio::spawn(async move {
                let _turn = turns.take(urgency).await;
                order.lock().unwrap().push(name);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }));
            // Queued in this order before the turn is handed on.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(held);
        for task in waiting {
            task.await.unwrap();
        }
        assert_eq!(
            *order.lock().unwrap(),
            ["visitor", "background 1", "background 2"]
        );
    }

    #[tokio::test]
    async fn a_writer_that_gives_up_waiting_does_not_keep_the_turn() {
        let turns = WriteTurns::default();
        let held = turns.take(Urgency::Background).await;
        let gave_up =
            tokio::time::timeout(Duration::from_millis(20), turns.take(Urgency::Visitor)).await;
        assert!(gave_up.is_err(), "the turn was held");
        drop(held);
        let next =
            tokio::time::timeout(Duration::from_secs(1), turns.take(Urgency::Background)).await;
        assert!(next.is_ok(), "the turn was freed");
    }
}
