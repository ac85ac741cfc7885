//! Sending an issue to the list, as editors drive it: start (draft → sending,
//! with a delivery row per confirmed subscriber, in one transaction), pause,
//! resume, cancel, and the progress they watch.

use std::sync::Arc;

use super::deliveries::{self, DeliveryCounts, FailedDelivery, ReceivedIssue};
use super::send_rate::SendRates;
use super::{guards, DeliverySignals};
use crate::issues::queries as issue_queries;
use crate::issues::{IssueStatus, RenderError, RenderedIssue};
use crate::mail::MailIdentity;
use crate::store::{now_millis, Store};

#[derive(Debug, thiserror::Error)]
pub enum SendControlError {
    #[error("There is no such issue.")]
    NotFound,
    /// The issue is not in a state that allows the step; says which it is in.
    #[error("{0}")]
    Conflict(String),
    /// Nothing to read: no intro and no items.
    #[error("This issue has no intro and no items, so there is nothing to send: write an intro or add an item first.")]
    Empty,
    /// A personalisation tag names a field that is gone or internal now.
    #[error("{0}")]
    Invalid(crate::issues::InvalidInput),
    #[error("the issue cannot be rendered: {0}")]
    Render(#[from] RenderError),
    #[error("database error: {0}")]
    Store(#[from] sqlx::Error),
}

/// How a send stands.
#[derive(Debug, Clone)]
pub struct SendProgress {
    pub issue_id: i64,
    pub status: IssueStatus,
    pub counts: DeliveryCounts,
    /// Messages per second over the last few seconds.
    pub rate_per_second: f64,
    /// At the current rate; None when nothing is moving or nothing is left.
    pub seconds_left: Option<f64>,
    pub started_at: Option<i64>,
    /// Why a paused send paused itself (a pause guard); None when an editor
    /// paused it, or it is not paused.
    pub pause_reason: Option<String>,
    /// When it was sent, or cancelled (a cancelled issue changes no more).
    pub finished_at: Option<i64>,
}

impl SendProgress {
    /// True once nothing more will happen on its own.
    pub fn is_finished(&self) -> bool {
        matches!(self.status, IssueStatus::Sent | IssueStatus::Cancelled)
    }
}

#[derive(Debug, Clone)]
pub struct Sends {
    store: Store,
    signals: Arc<DeliverySignals>,
    rates: Arc<SendRates>,
}

impl Sends {
    pub fn new(store: Store, signals: Arc<DeliverySignals>) -> Self {
        Self {
            store,
            signals,
            rates: Arc::default(),
        }
    }

    /// Sends issue `id` to every confirmed subscriber; returns how many copies
    /// were queued. A second press, or a second editor at the same moment,
    /// gets `Conflict`: the status moves from draft only once.
    #[tracing::instrument(skip_all, fields(issue_id = id))]
    pub async fn start(
        &self,
        id: i64,
        sent_by: &str,
        identity: &MailIdentity,
    ) -> Result<u64, SendControlError> {
        // Rendering now refuses an issue that cannot go out before anything changes.
        let issue = {
            let mut conn = self.store.pool().acquire().await?;
            let issue = issue_queries::find_issue(&mut conn, id)
                .await?
                .ok_or(SendControlError::NotFound)?;
            // A field may have turned internal, or gone, since the issue was saved.
            match crate::issues::check_field_tags(&mut conn, &crate::issues::issue_sources(&issue))
                .await
            {
                Ok(()) => {}
                Err(crate::issues::IssueError::Invalid(invalid)) => {
                    return Err(SendControlError::Invalid(invalid))
                }
                Err(crate::issues::IssueError::Store(error)) => return Err(error.into()),
                Err(other) => return Err(SendControlError::Conflict(other.to_string())),
            }
            issue
        };
        if issue.status != IssueStatus::Draft {
            return Err(already(issue.status));
        }
        if !issue.has_content() {
            return Err(SendControlError::Empty);
        }
        RenderedIssue::render_blocking(&issue, identity).await?;

        let now = now_millis();
        let mut tx = self.store.begin_write().await?;
        let moved = sqlx::query(
            "UPDATE issues SET status = 'sending', send_started_at = $2, sent_by = $3, updated_at = $2 \
             WHERE id = $1 AND status = 'draft'",
        )
        .bind(id)
        .bind(now)
        .bind(sent_by)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved == 0 {
            drop(tx);
            return Err(self.conflict_or_missing(id).await);
        }
        let queued = deliveries::queue_issue(&mut tx, id, now).await?;
        tx.commit().await?;
        tracing::info!(queued, "issue send started");
        self.signals.mail_queued();
        Ok(queued)
    }

    /// Stops a send from taking more messages; those in flight finish.
    #[tracing::instrument(skip_all, fields(issue_id = id))]
    pub async fn pause(&self, id: i64) -> Result<(), SendControlError> {
        self.move_status(id, IssueStatus::Sending, IssueStatus::Paused)
            .await?;
        tracing::info!("issue send paused");
        Ok(())
    }

    /// Sends on. Over a pause guard's pause this is the editor's choice,
    /// and that guard counts afresh from here (see `guards::resume`).
    #[tracing::instrument(skip_all, fields(issue_id = id))]
    pub async fn resume(&self, id: i64) -> Result<(), SendControlError> {
        let mut tx = self.store.begin_write().await?;
        if !guards::resume(&mut tx, id, now_millis()).await? {
            drop(tx);
            return Err(self.conflict_or_missing(id).await);
        }
        tx.commit().await?;
        tracing::info!("issue send resumed");
        self.signals.mail_queued();
        Ok(())
    }

    /// Stops a send for good; the copies not yet sent are marked cancelled.
    #[tracing::instrument(skip_all, fields(issue_id = id))]
    pub async fn cancel(&self, id: i64) -> Result<u64, SendControlError> {
        let now = now_millis();
        let mut tx = self.store.begin_write().await?;
        let moved = sqlx::query(
            "UPDATE issues SET status = 'cancelled', updated_at = $2 \
             WHERE id = $1 AND status IN ('sending', 'paused')",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved == 0 {
            drop(tx);
            return Err(self.conflict_or_missing(id).await);
        }
        let cancelled = deliveries::cancel_for_issue(&mut tx, id).await?;
        tx.commit().await?;
        tracing::info!(cancelled, "issue send cancelled");
        Ok(cancelled)
    }

    pub async fn progress(&self, id: i64) -> Result<SendProgress, SendControlError> {
        let mut conn = self.store.pool().acquire().await?;
        let row = issue_queries::send_times(&mut conn, id)
            .await?
            .ok_or(SendControlError::NotFound)?;
        let counts = deliveries::counts(&mut conn, id).await?;
        let rate_per_second = if row.status == IssueStatus::Sending {
            self.rates
                .observe(id, now_millis(), counts.sent, row.started_at)
        } else {
            self.rates.forget(id);
            0.0
        };
        let remaining = counts.queued + counts.retrying;
        #[allow(clippy::cast_precision_loss)]
        let seconds_left =
            (rate_per_second > 0.0 && remaining > 0).then(|| remaining as f64 / rate_per_second);
        let pause_reason = match row.status {
            IssueStatus::Paused => guards::pause_reason(&mut conn, id).await?,
            _ => None,
        };
        Ok(SendProgress {
            issue_id: id,
            status: row.status,
            counts,
            rate_per_second,
            seconds_left,
            started_at: row.started_at,
            pause_reason,
            finished_at: match row.status {
                IssueStatus::Cancelled => Some(row.updated_at),
                _ => row.sent_at,
            },
        })
    }

    /// True while some issue is going out.
    pub async fn any_sending(&self) -> Result<bool, sqlx::Error> {
        Ok(!deliveries::sending_issues(self.store.pool())
            .await?
            .is_empty())
    }

    /// The issues a subscriber was sent, newest first, with each outcome.
    pub async fn received_by(
        &self,
        subscriber_id: i64,
        limit: i64,
    ) -> Result<Vec<ReceivedIssue>, sqlx::Error> {
        let mut conn = self.store.pool().acquire().await?;
        deliveries::for_subscriber(&mut conn, subscriber_id, limit).await
    }

    /// How many confirmed subscribers a send of issue `id` started now would
    /// go to: those in any of its topics, once each.
    pub async fn recipient_count(&self, id: i64) -> Result<i64, sqlx::Error> {
        let mut conn = self.store.pool().acquire().await?;
        deliveries::recipient_count(&mut conn, id).await
    }

    /// The latest copies of issue `id` that failed for good, newest first.
    pub async fn latest_failures(
        &self,
        id: i64,
        limit: i64,
    ) -> Result<Vec<FailedDelivery>, sqlx::Error> {
        let mut conn = self.store.pool().acquire().await?;
        deliveries::latest_failures(&mut conn, id, limit).await
    }

    async fn move_status(
        &self,
        id: i64,
        from: IssueStatus,
        to: IssueStatus,
    ) -> Result<(), SendControlError> {
        let moved = sqlx::query(
            "UPDATE issues SET status = $3, updated_at = $4 WHERE id = $1 AND status = $2",
        )
        .bind(id)
        .bind(from.as_str())
        .bind(to.as_str())
        .bind(now_millis())
        .execute(self.store.pool())
        .await?
        .rows_affected();
        if moved == 0 {
            return Err(self.conflict_or_missing(id).await);
        }
        Ok(())
    }

    async fn conflict_or_missing(&self, id: i64) -> SendControlError {
        let found = async {
            let mut conn = self.store.pool().acquire().await?;
            issue_queries::send_times(&mut conn, id).await
        }
        .await;
        match found {
            Ok(Some(row)) => already(row.status),
            Ok(None) => SendControlError::NotFound,
            Err(error) => error.into(),
        }
    }
}

fn already(status: IssueStatus) -> SendControlError {
    SendControlError::Conflict(match status {
        IssueStatus::Draft => "This issue is a draft: it is not being sent.".to_owned(),
        IssueStatus::Sending => "This issue is already being sent.".to_owned(),
        IssueStatus::Paused => "This issue's send is paused.".to_owned(),
        IssueStatus::Sent => "This issue was already sent.".to_owned(),
        IssueStatus::Cancelled => "This issue's send was cancelled.".to_owned(),
    })
}
