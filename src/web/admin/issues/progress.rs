//! The send's progress on the issue page: what the page shows, the same as
//! JSON for the small script that keeps the page current while the send goes
//! on, and the script itself.

use actix_web::http::header;
use actix_web::{get, web, HttpResponse};
use serde::Serialize;

use super::{control_failure, PageError};
use crate::delivery::deliveries::{DeliveryCounts, FailedDelivery};
use crate::delivery::SendProgress;
use crate::format::thousands;
use crate::issues::IssueStatus;
use crate::store::timestamps;
use crate::web::admin::auth::SignedIn;
use crate::web::AppState;

/// Failed copies listed on the page; the count says how many there are in all.
const FAILURES_SHOWN: i64 = 10;

/// A send as the issue page shows it. The JSON form carries the same fields,
/// already worded, so the script only copies text into the page.
#[derive(Debug, Clone, Serialize)]
pub struct ProgressView {
    pub status: &'static str,
    /// The section's heading: what the send is doing now, or how it ended.
    pub heading: &'static str,
    /// One line saying where the send stands, in words: "Cancelled after 23 of 50".
    pub summary: String,
    /// What the end time is called: "Finished", or "Cancelled".
    pub ended_label: &'static str,
    /// Going out or paused: the page keeps asking until it is over.
    pub live: bool,
    pub total: i64,
    pub queued: i64,
    pub retrying: i64,
    pub sent: i64,
    pub failed: i64,
    pub cancelled: i64,
    /// The filled part of the bar: copies with an outcome (sent, failed or
    /// cancelled), of the total; for a cancelled send, only the copies that
    /// were attempted, so the part that never went out stays grey.
    pub percent: i64,
    pub rate: String,
    pub time_left: String,
    pub started: String,
    pub finished: String,
    /// Why the send paused itself (a pause guard); empty otherwise.
    pub pause_reason: String,
    pub failures: Vec<FailureRow>,
}

/// One failed copy: who, when, and what the mail server said.
#[derive(Debug, Clone, Serialize)]
pub struct FailureRow {
    pub subscriber_id: i64,
    pub email: String,
    pub when: String,
    pub reason: String,
}

impl From<FailedDelivery> for FailureRow {
    fn from(failed: FailedDelivery) -> Self {
        let kind = failed.failure.unwrap_or_else(|| "failed".to_owned());
        Self {
            subscriber_id: failed.subscriber_id,
            email: failed
                .email
                .unwrap_or_else(|| "(erased subscriber)".to_owned()),
            when: failed
                .failed_at
                .map(timestamps::date_time)
                .unwrap_or_default(),
            reason: match failed.reply {
                Some(reply) => format!("{kind}: {reply}"),
                None => kind,
            },
        }
    }
}

impl ProgressView {
    fn new(progress: &SendProgress, failures: Vec<FailedDelivery>) -> Self {
        let counts = progress.counts;
        let done = counts.sent + counts.failed + counts.cancelled;
        let filled = match progress.status {
            IssueStatus::Cancelled => counts.sent + counts.failed,
            _ => done,
        };
        let percent = match counts.total {
            0 if progress.status == IssueStatus::Sent => 100,
            0 => 0,
            total => filled * 100 / total,
        };
        let time_left = match (progress.status, progress.seconds_left) {
            (IssueStatus::Paused, _) => "paused".to_owned(),
            (IssueStatus::Sending, Some(seconds)) => format!("about {}", duration(seconds)),
            _ => "—".to_owned(),
        };
        Self {
            status: progress.status.as_str(),
            heading: heading(progress.status),
            summary: summary(progress.status, &counts, percent),
            ended_label: match progress.status {
                IssueStatus::Cancelled => "Cancelled",
                _ => "Finished",
            },
            live: matches!(progress.status, IssueStatus::Sending | IssueStatus::Paused),
            total: counts.total,
            queued: counts.queued,
            retrying: counts.retrying,
            sent: counts.sent,
            failed: counts.failed,
            cancelled: counts.cancelled,
            percent,
            rate: rate(progress, done),
            time_left,
            started: progress
                .started_at
                .map(timestamps::date_time)
                .unwrap_or_default(),
            finished: progress
                .finished_at
                .map(timestamps::date_time)
                .unwrap_or_default(),
            pause_reason: progress.pause_reason.clone().unwrap_or_default(),
            failures: failures.into_iter().map(FailureRow::from).collect(),
        }
    }
}

fn heading(status: IssueStatus) -> &'static str {
    match status {
        IssueStatus::Draft | IssueStatus::Sending => "Sending",
        IssueStatus::Paused => "Paused",
        IssueStatus::Sent => "Sent",
        IssueStatus::Cancelled => "Cancelled",
    }
}

/// Where the send stands in one line. Once it is over, it says how it
/// ended rather than a percentage: a cancelled send is not "100% done".
fn summary(status: IssueStatus, counts: &DeliveryCounts, percent: i64) -> String {
    let of = format!("{} of {}", thousands(counts.sent), thousands(counts.total));
    let failed = match counts.failed {
        0 => String::new(),
        n => format!(", {} failed", thousands(n)),
    };
    match status {
        IssueStatus::Draft | IssueStatus::Sending => format!("{percent}% done: {of} sent{failed}"),
        IssueStatus::Paused => format!("Paused after {of}{failed}"),
        IssueStatus::Sent => format!("Sent: {of}{failed}"),
        IssueStatus::Cancelled => format!("Cancelled after {of}{failed}"),
    }
}

/// The rate while the send goes out; once it is sent, the average over the
/// whole send, which says more than the zero of a finished one.
fn rate(progress: &SendProgress, done: i64) -> String {
    match (progress.status, progress.started_at, progress.finished_at) {
        (IssueStatus::Sent, Some(started), Some(finished)) => {
            #[allow(clippy::cast_precision_loss)]
            let average = done as f64 * 1000.0 / (finished - started).max(1) as f64;
            format!("{average:.1} a second on average")
        }
        (IssueStatus::Sending, _, _) => format!("{:.1} a second", progress.rate_per_second),
        _ => "—".to_owned(),
    }
}

/// `45 s`, `3 min 05 s`, `2 h 10 min`: whole seconds, rounded up.
fn duration(seconds: f64) -> String {
    // Saturating: a NaN or negative reading shows as 0 s.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let whole = seconds.ceil() as u64;
    match whole {
        0..=59 => format!("{whole} s"),
        60..=3599 => format!("{} min {:02} s", whole / 60, whole % 60),
        _ => format!("{} h {:02} min", whole / 3600, whole % 3600 / 60),
    }
}

/// How the send of issue `id` stands, with its latest failures.
pub(super) async fn progress_view(state: &AppState, id: i64) -> Result<ProgressView, PageError> {
    let progress = state
        .sends
        .progress(id)
        .await
        .map_err(|e| control_failure(state, e))?;
    // Listing failures reads the issue's copies again; skip it when there are none.
    let failures = if progress.counts.failed > 0 {
        state
            .sends
            .latest_failures(id, FAILURES_SHOWN)
            .await
            .map_err(|e| PageError::Web(e.into()))?
    } else {
        Vec::new()
    };
    Ok(ProgressView::new(&progress, failures))
}

/// The progress as JSON, for `progress.js`.
#[get("/{id:\\d+}/progress")]
#[tracing::instrument(name = "issue_progress_json", skip_all)]
pub(super) async fn progress_json(
    state: web::Data<AppState>,
    _me: SignedIn,
    id: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let view = progress_view(&state, *id).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(view))
}

#[get("/progress.js")]
pub(super) async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(include_str!("../../../../assets/progress.js"))
}

#[cfg(test)]
mod tests {
    use super::{duration, rate, ProgressView};
    use crate::delivery::deliveries::DeliveryCounts;
    use crate::delivery::SendProgress;
    use crate::issues::IssueStatus;

    fn progress(status: IssueStatus, finished_at: Option<i64>) -> SendProgress {
        SendProgress {
            issue_id: 1,
            status,
            counts: DeliveryCounts::default(),
            rate_per_second: 2.5,
            seconds_left: None,
            started_at: Some(10_000),
            pause_reason: None,
            finished_at,
        }
    }

    #[test]
    fn the_rate_is_the_current_one_while_sending_and_the_average_once_sent() {
        assert_eq!(
            rate(&progress(IssueStatus::Sending, None), 6),
            "2.5 a second"
        );
        assert_eq!(
            rate(&progress(IssueStatus::Sent, Some(13_000)), 24),
            "8.0 a second on average"
        );
        assert_eq!(rate(&progress(IssueStatus::Paused, None), 6), "—");
        assert_eq!(rate(&progress(IssueStatus::Cancelled, None), 6), "—");
    }

    #[test]
    fn a_cancelled_send_says_how_far_it_got_and_leaves_the_rest_unfilled() {
        let mut cancelled = progress(IssueStatus::Cancelled, Some(20_000));
        cancelled.counts = DeliveryCounts {
            total: 50,
            sent: 23,
            cancelled: 27,
            ..DeliveryCounts::default()
        };
        let view = ProgressView::new(&cancelled, Vec::new());
        assert_eq!(view.heading, "Cancelled");
        assert_eq!(view.summary, "Cancelled after 23 of 50");
        assert_eq!(view.percent, 46);
        assert_eq!(view.ended_label, "Cancelled");
        assert!(!view.finished.is_empty());
        assert!(!view.live);

        let mut sent = progress(IssueStatus::Sent, Some(20_000));
        sent.counts = DeliveryCounts {
            total: 50,
            sent: 48,
            failed: 2,
            ..DeliveryCounts::default()
        };
        let view = ProgressView::new(&sent, Vec::new());
        assert_eq!(view.heading, "Sent");
        assert_eq!(view.summary, "Sent: 48 of 50, 2 failed");
        assert_eq!(view.percent, 100);
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(0.2), "1 s");
        assert_eq!(duration(59.0), "59 s");
        assert_eq!(duration(185.0), "3 min 05 s");
        assert_eq!(duration(7_800.0), "2 h 10 min");
        assert_eq!(duration(f64::NAN), "0 s");
    }
}
