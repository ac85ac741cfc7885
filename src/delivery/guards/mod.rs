//! Pause guards: a send pauses itself when, after at least 1,000 copies
//! tried, too many of them came back as hard bounces or complaints, before a
//! relay or a mailbox provider suspends the sender. The state lives on the
//! issue row, so every worker process and every restart sees the same.

mod queries;

use crate::config::{format_rate, Percent};
use crate::format::thousands;
use crate::store::{now_millis, Store};

/// Copies a rate is judged over, at least: below this a handful of bounces
/// from a small list would stop it for nothing.
pub const MIN_COPIES_TRIED: i64 = 1_000;

/// The two limits, from `HERALD_PAUSE_BOUNCE_RATE` and `HERALD_PAUSE_COMPLAINT_RATE`.
#[derive(Debug, Clone, Copy)]
pub struct PauseGuards {
    pub bounce_rate: Percent,
    pub complaint_rate: Percent,
}

/// Which guard paused a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    BounceRate,
    ComplaintRate,
}

impl Guard {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BounceRate => "bounce-rate",
            Self::ComplaintRate => "complaint-rate",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "bounce-rate" => Some(Self::BounceRate),
            "complaint-rate" => Some(Self::ComplaintRate),
            _ => None,
        }
    }
}

/// What a guard counts for one issue: copies tried (sent, or failed for
/// good), and the hard bounces and complaints recorded against its copies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuardCounts {
    pub tried: i64,
    pub hard: i64,
    pub complaints: i64,
}

/// Where each guard starts counting: zero, or where the send stood when an
/// editor resumed it over that guard's pause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuardStart {
    pub bounce_from_tried: i64,
    pub bounce_from_hard: i64,
    pub complaint_from_tried: i64,
    pub complaint_from_complaints: i64,
}

impl PauseGuards {
    /// Judges issue `issue_id` and pauses it if a rate passed its limit
    /// (only while it is sending: a pause by an editor or another process
    /// stands). Returns the reason when this call paused it.
    #[tracing::instrument(skip(self, store))]
    pub async fn check(&self, store: &Store, issue_id: i64) -> Result<Option<String>, sqlx::Error> {
        let mut conn = store.pool().acquire().await?;
        let Some(start) = queries::guard_start(&mut conn, issue_id).await? else {
            return Ok(None);
        };
        let (hard, complaints) = queries::reports(&mut conn, issue_id).await?;
        // Counting the copies tried reads every row of the send: only worth
        // it once there are enough reports to pass a limit over 1,000 copies.
        let bounces_since = hard - start.bounce_from_hard;
        let complaints_since = complaints - start.complaint_from_complaints;
        if !self
            .bounce_rate
            .is_passed_by(bounces_since, MIN_COPIES_TRIED)
            && !self
                .complaint_rate
                .is_passed_by(complaints_since, MIN_COPIES_TRIED)
        {
            return Ok(None);
        }
        let counts = GuardCounts {
            tried: queries::copies_tried(&mut conn, issue_id).await?,
            hard,
            complaints,
        };
        let Some((guard, reason)) = self.judge(counts, start) else {
            return Ok(None);
        };
        drop(conn);
        let paused = queries::pause_for(
            store.pool(),
            issue_id,
            guard.as_str(),
            &reason,
            now_millis(),
        )
        .await?;
        if paused {
            tracing::warn!(issue_id, guard = guard.as_str(), %reason, "send paused itself");
        }
        Ok(paused.then_some(reason))
    }

    /// The guard whose rate passed its limit, with the sentence editors read.
    pub fn judge(&self, counts: GuardCounts, start: GuardStart) -> Option<(Guard, String)> {
        let bounce_tried = counts.tried - start.bounce_from_tried;
        let bounces = counts.hard - start.bounce_from_hard;
        if bounce_tried >= MIN_COPIES_TRIED && self.bounce_rate.is_passed_by(bounces, bounce_tried)
        {
            return Some((
                Guard::BounceRate,
                reason(
                    "hard-bounce",
                    bounces,
                    bounce_tried,
                    "HERALD_PAUSE_BOUNCE_RATE",
                    self.bounce_rate,
                ),
            ));
        }
        let complaint_tried = counts.tried - start.complaint_from_tried;
        let complaints = counts.complaints - start.complaint_from_complaints;
        if complaint_tried >= MIN_COPIES_TRIED
            && self
                .complaint_rate
                .is_passed_by(complaints, complaint_tried)
        {
            return Some((
                Guard::ComplaintRate,
                reason(
                    "complaint",
                    complaints,
                    complaint_tried,
                    "HERALD_PAUSE_COMPLAINT_RATE",
                    self.complaint_rate,
                ),
            ));
        }
        None
    }
}

/// `paused itself: hard-bounce rate 6.1 % (73 of 1,200 copies) passes
/// HERALD_PAUSE_BOUNCE_RATE 5 %`.
fn reason(what: &str, count: i64, tried: i64, setting: &str, limit: Percent) -> String {
    #[allow(clippy::cast_precision_loss)]
    let rate = count as f64 * 100.0 / tried as f64;
    format!(
        "paused itself: {what} rate {} % ({} of {} copies) passes {setting} {limit}",
        format_rate(rate),
        thousands(count),
        thousands(tried),
    )
}

/// Moves a paused send back to sending; when a guard paused it, that guard
/// starts counting afresh from here, so the rate the editor chose to resume
/// over does not pause it again. False when the issue was not paused.
pub async fn resume(
    conn: &mut sqlx::AnyConnection,
    issue_id: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let Some(guard) = queries::paused_by(conn, issue_id).await? else {
        return Ok(false);
    };
    if let Some(guard) = guard.as_deref().and_then(Guard::parse) {
        let tried = queries::copies_tried(conn, issue_id).await?;
        let (hard, complaints) = queries::reports(conn, issue_id).await?;
        match guard {
            Guard::BounceRate => queries::restart_bounce_guard(conn, issue_id, tried, hard).await?,
            Guard::ComplaintRate => {
                queries::restart_complaint_guard(conn, issue_id, tried, complaints).await?;
            }
        }
    }
    queries::resume(conn, issue_id, now).await
}

/// Why a paused send paused itself; None when an editor paused it.
pub async fn pause_reason(
    conn: &mut sqlx::AnyConnection,
    issue_id: i64,
) -> Result<Option<String>, sqlx::Error> {
    queries::pause_reason(conn, issue_id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guards() -> PauseGuards {
        PauseGuards {
            bounce_rate: Percent::new(5.0).expect("valid"),
            complaint_rate: Percent::new(0.3).expect("valid"),
        }
    }

    fn counts(tried: i64, hard: i64, complaints: i64) -> GuardCounts {
        GuardCounts {
            tried,
            hard,
            complaints,
        }
    }

    #[test]
    fn below_a_thousand_copies_nothing_pauses() {
        assert_eq!(
            guards().judge(counts(999, 500, 100), GuardStart::default()),
            None
        );
    }

    #[test]
    fn each_rate_pauses_above_its_limit_and_says_why() {
        let start = GuardStart::default();
        assert_eq!(guards().judge(counts(1_000, 50, 3), start), None);
        let (guard, reason) = guards().judge(counts(1_200, 73, 0), start).expect("paused");
        assert_eq!(guard, Guard::BounceRate);
        assert_eq!(
            reason,
            "paused itself: hard-bounce rate 6.1 % (73 of 1,200 copies) passes \
             HERALD_PAUSE_BOUNCE_RATE 5 %"
        );
        let (guard, reason) = guards().judge(counts(1_000, 0, 4), start).expect("paused");
        assert_eq!(guard, Guard::ComplaintRate);
        assert!(
            reason.contains("complaint rate 0.4 % (4 of 1,000 copies)"),
            "{reason}"
        );
    }

    #[test]
    fn a_resumed_guard_counts_only_what_came_after() {
        let start = GuardStart {
            bounce_from_tried: 1_200,
            bounce_from_hard: 73,
            ..GuardStart::default()
        };
        // 20 more bounces over 800 more copies: the rate passed is behind it.
        assert_eq!(guards().judge(counts(2_000, 93, 0), start), None);
        // A fresh thousand copies with too many bounces pauses it again.
        assert!(guards().judge(counts(2_200, 124, 0), start).is_some());
        // The other guard still counts from the start of the send.
        assert_eq!(
            guards().judge(counts(2_000, 93, 7), start).map(|(g, _)| g),
            Some(Guard::ComplaintRate)
        );
    }
}
