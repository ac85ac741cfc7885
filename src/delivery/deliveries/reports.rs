//! What the delivery queue says about a send, a subscriber or the whole
//! queue: the progress counts, the history, the failures, the gauge.

use sqlx::{AnyConnection, AnyPool, Row};

/// Copies not yet sent nor given up, for the queue-depth gauge; from the
/// tallies, so that a scrape during a million-copy send reads a few rows.
pub async fn queue_depth(pool: &AnyPool) -> Result<i64, sqlx::Error> {
    sqlx::query(
        "SELECT CAST(COALESCE(SUM(queued + retrying), 0) AS BIGINT) AS n FROM delivery_tallies",
    )
    .fetch_one(pool)
    .await?
    .try_get("n")
}

/// How the copies of one issue stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    pub total: i64,
    /// Waiting for a first attempt or in flight.
    pub queued: i64,
    /// Waiting to try again after a temporary failure.
    pub retrying: i64,
    pub sent: i64,
    pub failed: i64,
    pub cancelled: i64,
}

/// How the copies of `issue_id` stand, from the tallies: a few rows,
/// whatever the number of copies.
pub async fn counts(
    conn: &mut AnyConnection,
    issue_id: i64,
) -> Result<DeliveryCounts, sqlx::Error> {
    super::tallies::totals(conn, issue_id).await
}

/// Copies of `issue_id` with an outcome from the relay: sent, or failed for
/// good; from the tallies.
pub async fn copies_tried(conn: &mut AnyConnection, issue_id: i64) -> Result<i64, sqlx::Error> {
    let counts = super::tallies::totals(conn, issue_id).await?;
    Ok(counts.sent + counts.failed)
}

/// The same counts as [`counts`] by reading every copy of the issue: the
/// oracle the tests and `herald-bench progress` hold the tallies to. Never
/// on a request's path.
#[doc(hidden)]
pub async fn counts_by_scan(
    conn: &mut AnyConnection,
    issue_id: i64,
) -> Result<DeliveryCounts, sqlx::Error> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS total, \
             COALESCE(SUM(CASE WHEN status = 'queued' AND reply IS NULL THEN 1 ELSE 0 END), 0) AS queued, \
             COALESCE(SUM(CASE WHEN status = 'queued' AND reply IS NOT NULL THEN 1 ELSE 0 END), 0) AS retrying, \
             COALESCE(SUM(CASE WHEN status = 'sent' THEN 1 ELSE 0 END), 0) AS sent, \
             COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0) AS failed, \
             COALESCE(SUM(CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END), 0) AS cancelled \
         FROM deliveries WHERE issue_id = $1",
    )
    .bind(issue_id)
    .fetch_one(conn)
    .await?;
    Ok(DeliveryCounts {
        total: row.try_get("total")?,
        queued: row.try_get("queued")?,
        retrying: row.try_get("retrying")?,
        sent: row.try_get("sent")?,
        failed: row.try_get("failed")?,
        cancelled: row.try_get("cancelled")?,
    })
}

/// One issue as one subscriber got it, for their history.
#[derive(Debug, Clone)]
pub struct ReceivedIssue {
    pub issue_id: i64,
    pub subject: String,
    pub status: String,
    pub attempts: i64,
    pub sent_at: Option<i64>,
    pub failed_at: Option<i64>,
    pub failure: Option<String>,
    /// The server's reply, or the last error.
    pub reply: Option<String>,
}

pub async fn for_subscriber(
    conn: &mut AnyConnection,
    subscriber_id: i64,
    limit: i64,
) -> Result<Vec<ReceivedIssue>, sqlx::Error> {
    sqlx::query(
        "SELECT d.issue_id, i.subject, d.status, d.attempts, d.sent_at, d.failed_at, d.failure, d.reply \
         FROM deliveries d JOIN issues i ON i.id = d.issue_id \
         WHERE d.subscriber_id = $1 ORDER BY d.issue_id DESC LIMIT $2",
    )
    .bind(subscriber_id)
    .bind(limit)
    .fetch_all(conn)
    .await?
    .iter()
    .map(|row| {
        Ok(ReceivedIssue {
            issue_id: row.try_get("issue_id")?,
            subject: row.try_get("subject")?,
            status: row.try_get("status")?,
            attempts: row.try_get("attempts")?,
            sent_at: row.try_get("sent_at")?,
            failed_at: row.try_get("failed_at")?,
            failure: row.try_get("failure")?,
            reply: row.try_get("reply")?,
        })
    })
    .collect()
}

/// How many copies a send started now would queue: the confirmed subscribers,
/// as `queue_issue` picks them.
pub async fn recipient_count(conn: &mut AnyConnection, issue_id: i64) -> Result<i64, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT COUNT(*) AS n FROM subscribers WHERE status = 'confirmed' AND {} AND {}",
        crate::topics::queries::IN_ISSUE_TOPICS,
        crate::suppressions::NOT_SUPPRESSED
    ))
    .bind(issue_id)
    .fetch_one(conn)
    .await?
    .try_get("n")
}

/// A copy of an issue that failed for good, for the editor watching the send.
#[derive(Debug, Clone)]
pub struct FailedDelivery {
    pub subscriber_id: i64,
    /// None when the subscriber row is gone.
    pub email: Option<String>,
    pub failed_at: Option<i64>,
    pub failure: Option<String>,
    /// The server's refusal, or the last error.
    pub reply: Option<String>,
}

/// The latest `limit` failed copies of `issue_id`, newest first.
pub async fn latest_failures(
    conn: &mut AnyConnection,
    issue_id: i64,
    limit: i64,
) -> Result<Vec<FailedDelivery>, sqlx::Error> {
    sqlx::query(
        "SELECT d.subscriber_id, s.email, d.failed_at, d.failure, d.reply \
         FROM deliveries d LEFT JOIN subscribers s ON s.id = d.subscriber_id \
         WHERE d.issue_id = $1 AND d.status = 'failed' \
         ORDER BY d.failed_at DESC, d.id DESC LIMIT $2",
    )
    .bind(issue_id)
    .bind(limit)
    .fetch_all(conn)
    .await?
    .iter()
    .map(|row| {
        Ok(FailedDelivery {
            subscriber_id: row.try_get("subscriber_id")?,
            email: row.try_get("email")?,
            failed_at: row.try_get("failed_at")?,
            failure: row.try_get("failure")?,
            reply: row.try_get("reply")?,
        })
    })
    .collect()
}
