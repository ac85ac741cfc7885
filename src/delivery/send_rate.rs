//! The sending rate on the progress page, from the sent count at each read.
//! Counting the copies sent in the last seconds took an index on `sent_at`,
//! kept up by every copy sent, and a count of up to a window's worth of
//! rows a read; the difference between two reads of the tallies costs
//! neither.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// The window the rate is measured over.
const WINDOW_MILLIS: i64 = 10_000;
/// Two reads closer than this tell too little about the rate.
const SHORTEST_SPAN_MILLIS: i64 = 1_000;
/// Samples closer together than this are not kept: the window holds at most
/// forty, however often the progress is read.
const SAMPLE_SPACING_MILLIS: i64 = 250;
/// Issues followed at once before the oldest samples are dropped.
const MOST_ISSUES: usize = 256;

/// The sent count of each sending issue at its recent progress reads.
#[derive(Debug, Default)]
pub struct SendRates {
    samples: Mutex<HashMap<i64, VecDeque<(i64, i64)>>>,
}

impl SendRates {
    /// Copies a second that issue `issue_id` has been sending at, with `sent`
    /// copies sent at `now`: over the last seconds when an earlier read in
    /// this process saw them, else since the send started.
    pub fn observe(&self, issue_id: i64, now: i64, sent: i64, started_at: Option<i64>) -> f64 {
        let mut all = self
            .samples
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if all.len() >= MOST_ISSUES && !all.contains_key(&issue_id) {
            all.clear();
        }
        let samples = all.entry(issue_id).or_default();
        while samples
            .front()
            .is_some_and(|&(at, _)| now - at > WINDOW_MILLIS)
        {
            samples.pop_front();
        }
        let (since, sent_then) = match samples.front() {
            Some(&(at, then)) if now - at >= SHORTEST_SPAN_MILLIS => (at, then),
            _ => match started_at {
                Some(started) => (started.min(now - SHORTEST_SPAN_MILLIS), 0),
                None => (now, sent),
            },
        };
        if samples
            .back()
            .is_none_or(|&(at, _)| now - at >= SAMPLE_SPACING_MILLIS)
        {
            samples.push_back((now, sent));
        }
        #[allow(clippy::cast_precision_loss)]
        let rate = if now > since {
            (sent - sent_then).max(0) as f64 * 1000.0 / (now - since) as f64
        } else {
            0.0
        };
        rate
    }

    /// Forgets an issue that is no longer sending.
    pub fn forget(&self, issue_id: i64) {
        self.samples
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&issue_id);
    }
}

#[cfg(test)]
mod tests {
    use super::SendRates;

    #[test]
    fn the_first_read_averages_since_the_start() {
        let rates = SendRates::default();
        assert_eq!(rates.observe(1, 20_000, 1_000, Some(10_000)), 100.0);
    }

    #[test]
    fn later_reads_measure_the_last_seconds() {
        let rates = SendRates::default();
        rates.observe(1, 100_000, 1_000, Some(0));
        // 2,000 more copies in the 2 s since the last read.
        assert_eq!(rates.observe(1, 102_000, 3_000, Some(0)), 1_000.0);
        // Past the window, the oldest read no longer counts.
        rates.observe(1, 111_000, 4_000, Some(0));
        assert_eq!(rates.observe(1, 112_000, 4_000, Some(0)), 100.0);
    }

    #[test]
    fn reads_close_together_keep_the_earlier_sample() {
        let rates = SendRates::default();
        rates.observe(1, 10_000, 0, Some(10_000));
        assert_eq!(
            rates.observe(1, 10_100, 10, Some(10_000)),
            10.0 * 1000.0 / 1000.0
        );
        assert_eq!(rates.observe(1, 11_000, 500, Some(10_000)), 500.0);
    }
}
