//! Things a session set aside for its next step, too big for the session
//! cookie (4 KB): a removed item to undo, an uploaded CSV awaiting its import.
//! The session keeps only a random ticket; the thing stays in this process's
//! memory for a while. Losing it on a restart costs one "undo" or one upload,
//! which the page then asks for again.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A bounded shelf: the oldest things fall off when it is full (by count,
/// or by the weight of what it holds) or when they have waited longer than
/// `keep`.
pub struct Shelf<T> {
    things: Mutex<VecDeque<(String, Instant, T)>>,
    capacity: usize,
    keep: Duration,
    budget: usize,
    weigh: fn(&T) -> usize,
}

fn weightless<T>(_: &T) -> usize {
    0
}

impl<T: Clone> Shelf<T> {
    pub const fn new(capacity: usize, keep: Duration) -> Self {
        Self::weighed(capacity, keep, usize::MAX, weightless::<T>)
    }

    /// A shelf that also keeps the total `weigh` of its things under `budget`.
    pub const fn weighed(
        capacity: usize,
        keep: Duration,
        budget: usize,
        weigh: fn(&T) -> usize,
    ) -> Self {
        Self {
            things: Mutex::new(VecDeque::new()),
            capacity,
            keep,
            budget,
            weigh,
        }
    }

    /// Puts `thing` on the shelf; the ticket to get it back.
    pub fn put(&self, thing: T) -> String {
        let ticket = crate::config::random_token();
        let mut things = self.lock();
        self.expire(&mut things);
        let weight = (self.weigh)(&thing);
        while things.len() >= self.capacity
            || things
                .iter()
                .map(|(_, _, t)| (self.weigh)(t))
                .sum::<usize>()
                .saturating_add(weight)
                > self.budget
        {
            if things.pop_front().is_none() {
                break;
            }
        }
        things.push_back((ticket.clone(), Instant::now(), thing));
        ticket
    }

    /// A copy of what `ticket` holds, left on the shelf.
    pub fn peek(&self, ticket: &str) -> Option<T> {
        let mut things = self.lock();
        self.expire(&mut things);
        things
            .iter()
            .find(|(t, _, _)| t == ticket)
            .map(|(_, _, thing)| thing.clone())
    }

    /// What `ticket` holds, taken off the shelf: a second take finds nothing.
    pub fn take(&self, ticket: &str) -> Option<T> {
        let mut things = self.lock();
        self.expire(&mut things);
        let at = things.iter().position(|(t, _, _)| t == ticket)?;
        things.remove(at).map(|(_, _, thing)| thing)
    }

    fn expire(&self, things: &mut VecDeque<(String, Instant, T)>) {
        while things
            .front()
            .is_some_and(|(_, at, _)| at.elapsed() > self.keep)
        {
            things.pop_front();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(String, Instant, T)>> {
        // A panic while holding the lock leaves a usable queue behind.
        self.things
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_gives_its_thing_back_once() {
        let shelf = Shelf::new(2, Duration::from_secs(60));
        let ticket = shelf.put("a".to_owned());
        assert_eq!(shelf.peek(&ticket).as_deref(), Some("a"));
        assert_eq!(shelf.take(&ticket).as_deref(), Some("a"));
        assert_eq!(shelf.take(&ticket), None);
    }

    #[test]
    fn the_oldest_things_fall_off_past_the_weight_budget() {
        let shelf = Shelf::weighed(10, Duration::from_secs(60), 10, |t: &usize| *t);
        let first = shelf.put(6);
        let second = shelf.put(3);
        let third = shelf.put(4);
        assert_eq!(shelf.peek(&first), None);
        assert_eq!(shelf.peek(&second), Some(3));
        assert_eq!(shelf.peek(&third), Some(4));
    }

    #[test]
    fn the_oldest_thing_falls_off_a_full_shelf() {
        let shelf = Shelf::new(2, Duration::from_secs(60));
        let first = shelf.put(1);
        let second = shelf.put(2);
        let third = shelf.put(3);
        assert_eq!(shelf.peek(&first), None);
        assert_eq!(shelf.peek(&second), Some(2));
        assert_eq!(shelf.peek(&third), Some(3));
    }
}
