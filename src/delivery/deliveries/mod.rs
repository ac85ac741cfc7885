//! SQL of the delivery queue: one row per (issue, subscriber), snapshotted when
//! an issue is sent, claimed in batches, and marked with its outcome. What the
//! queue tells editors and admins is in `reports`.

mod reports;
mod tallies;

pub use reports::{
    copies_tried, counts, counts_by_scan, for_subscriber, latest_failures, queue_depth,
    recipient_count, DeliveryCounts, FailedDelivery, ReceivedIssue,
};

use sqlx::{AnyConnection, AnyPool, Row};

use crate::bounces::BounceClass;
use crate::store::{Dialect, Placeholders};
use crate::suppressions;
use crate::topics::queries as topic_queries;

/// Queues a copy of `issue_id` for every confirmed subscriber in any of its
/// topics (one copy each, however many of them they are in) whom the
/// suppression list does not hold back, and starts the issue's progress
/// tallies with their count; the caller's transaction makes it one step with
/// the issue's move to `sending`.
pub async fn queue_issue(
    conn: &mut AnyConnection,
    issue_id: i64,
    now: i64,
) -> Result<u64, sqlx::Error> {
    let queued = sqlx::query(&format!(
        "INSERT INTO deliveries (issue_id, subscriber_id, status, queued_at, next_attempt_at) \
         SELECT $1, id, 'queued', $2, $2 FROM subscribers \
         WHERE status = 'confirmed' AND {} AND {}",
        topic_queries::IN_ISSUE_TOPICS,
        suppressions::NOT_SUPPRESSED
    ))
    .bind(issue_id)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    tallies::start(conn, issue_id, i64::try_from(queued).unwrap_or(i64::MAX)).await?;
    Ok(queued)
}

/// A delivery claimed for sending, with what the message needs of its reader.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: i64,
    pub subscriber_id: i64,
    /// Counting this one.
    pub attempts: i64,
    pub queued_at: i64,
    /// None when the subscriber row is gone.
    pub email: Option<String>,
    pub name: Option<String>,
    pub subscriber_status: Option<String>,
    /// What the reader's unsubscribe link is made from, read with the claim
    /// so that no copy costs a query of its own.
    pub link_key: Option<String>,
    /// The reader's public field values, loaded for the whole batch when
    /// the issue uses them (see `fields_for`).
    pub fields: Option<crate::issues::render::FieldTexts>,
}

/// Claims up to `limit` due deliveries of `issue_id` until `lease_until`: the
/// claim moves `next_attempt_at` to the lease's end, so no other worker sees
/// the rows until then, and a worker that dies leaves them to come due again.
/// On PostgreSQL, `SKIP LOCKED` lets several processes claim side by side.
pub async fn claim(
    conn: &mut AnyConnection,
    dialect: Dialect,
    issue_id: i64,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<ClaimedDelivery>, sqlx::Error> {
    let skip_locked = match dialect {
        Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
        Dialect::Sqlite => "",
    };
    let sql = format!(
        "UPDATE deliveries SET next_attempt_at = $3, attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM deliveries \
             WHERE issue_id = $1 AND status = 'queued' AND next_attempt_at <= $2 \
             ORDER BY next_attempt_at, id LIMIT $4 {skip_locked}) \
         RETURNING id, subscriber_id, attempts, queued_at, \
             (SELECT email FROM subscribers s WHERE s.id = deliveries.subscriber_id) AS email, \
             (SELECT name FROM subscribers s WHERE s.id = deliveries.subscriber_id) AS name, \
             (SELECT status FROM subscribers s WHERE s.id = deliveries.subscriber_id) AS subscriber_status, \
             (SELECT link_key FROM subscribers s WHERE s.id = deliveries.subscriber_id) AS link_key"
    );
    let rows = sqlx::query(&sql)
        .bind(issue_id)
        .bind(now)
        .bind(lease_until)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    // RETURNING follows no ORDER BY; the queue order is the subscribers' order.
    let mut claimed = rows
        .iter()
        .map(|row| {
            Ok(ClaimedDelivery {
                id: row.try_get("id")?,
                subscriber_id: row.try_get("subscriber_id")?,
                attempts: row.try_get("attempts")?,
                queued_at: row.try_get("queued_at")?,
                email: row.try_get("email")?,
                name: row.try_get("name")?,
                subscriber_status: row.try_get("subscriber_status")?,
                link_key: row.try_get("link_key")?,
                fields: None,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    claimed.sort_unstable_by_key(|delivery| delivery.id);
    Ok(claimed)
}

/// Loads the public field values of a claimed batch's readers in one
/// query, for an issue whose copies use them. Internal fields are never
/// loaded, so no tag can show one.
pub async fn load_fields(
    conn: &mut AnyConnection,
    dialect: Dialect,
    batch: &mut [ClaimedDelivery],
) -> Result<(), sqlx::Error> {
    let public: Vec<crate::fields::Field> = crate::fields::queries::list(conn, false)
        .await?
        .into_iter()
        .filter(crate::fields::Field::is_public)
        .collect();
    let ids: Vec<i64> = batch.iter().map(|d| d.subscriber_id).collect();
    let mut values = crate::fields::values_of(conn, dialect, &public, &ids).await?;
    for delivery in batch {
        let texts = values
            .remove(&delivery.subscriber_id)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(field, value)| Some((field.key().as_str().to_owned(), value?)))
            .map(|(key, value)| (key, crate::issues::render::personal::field_text(&value)))
            .collect();
        delivery.fields = Some(texts);
    }
    Ok(())
}

/// Extends a claim still held: the queued rows of `issue_id` that carry the
/// claim's mark, `next_attempt_at = lease_until`, move to `renewed_until`. A
/// row whose outcome is recorded, or that another worker took over after the
/// lease ran out, no longer carries the mark and is left alone. Returns how
/// many rows the claim still holds.
pub async fn renew_claim(
    pool: &AnyPool,
    issue_id: i64,
    lease_until: i64,
    renewed_until: i64,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE deliveries SET next_attempt_at = $3 \
         WHERE issue_id = $1 AND status = 'queued' AND next_attempt_at = $2",
    )
    .bind(issue_id)
    .bind(lease_until)
    .bind(renewed_until)
    .execute(pool)
    .await?
    .rows_affected())
}

/// Why a delivery failed for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The server refused it (5xx) for a reason not known to be the
    /// address's: counted, and `HERALD_BOUNCE_AFTER_FAILURES` in a row
    /// bounce the reader.
    Permanent,
    /// The server named the address dead (5.1.1 and the like): the reader
    /// is bounced at once.
    Hard,
    /// The server refused the sender or the content (5.7.x, a blocklist, a
    /// refused MAIL FROM): not the reader's doing, so never a bounce.
    Policy,
    /// Still failing temporarily when the retry horizon or attempts ran out.
    Expired,
    /// The message could not be made: the stored address or subscriber no longer fit.
    Undeliverable,
}

impl Failure {
    /// How a refusal the classifier read as `class` fails its copy.
    pub fn of_refusal(class: BounceClass) -> Self {
        match class {
            BounceClass::Hard => Self::Hard,
            BounceClass::Policy => Self::Policy,
            _ => Self::Permanent,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Permanent => "permanent",
            Self::Hard => "hard",
            Self::Policy => "policy",
            Self::Expired => "expired",
            Self::Undeliverable => "undeliverable",
        }
    }
}

/// What became of one claimed delivery.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The server took it; its reply.
    Sent {
        reply: String,
    },
    /// Try again at `at`.
    Retry {
        at: i64,
        error: String,
    },
    Failed {
        failure: Failure,
        error: String,
    },
    /// The relay refused the copy (5xx) in its transaction; `class` is what
    /// the bounce classifier read in its reply. Failed, and recorded as a
    /// send-time bounce report.
    Refused {
        class: BounceClass,
        /// The RFC 3463 code of the reply, `5.1.1`, when it has one.
        status: Option<String>,
        error: String,
    },
    /// The reader left or the issue was cancelled while it waited.
    Cancelled {
        why: &'static str,
    },
    /// Not attempted (the send was paused, or the process is stopping): due
    /// again at once, and the attempt does not count.
    Released,
}

/// Records `outcome` of delivery `id`. Only a queued row changes, so an
/// outcome arriving after a cancel or after another worker finished the row
/// changes nothing, except `Sent`, which is the truth whatever came before.
pub async fn record(
    conn: &mut AnyConnection,
    dialect: Dialect,
    id: i64,
    outcome: &Outcome,
    now: i64,
) -> Result<(), sqlx::Error> {
    let query = match outcome {
        Outcome::Sent { reply } => {
            return record_sent(conn, dialect, &[(id, reply.as_str())], now).await;
        }
        Outcome::Retry { at, error } => sqlx::query(
            "UPDATE deliveries SET next_attempt_at = $2, reply = $3 \
             WHERE id = $1 AND status = 'queued'",
        )
        .bind(id)
        .bind(*at)
        .bind(error.as_str()),
        Outcome::Failed { failure, error } => record_failed(id, *failure, error, now),
        Outcome::Refused { class, error, .. } => {
            record_failed(id, Failure::of_refusal(*class), error, now)
        }
        Outcome::Cancelled { why } => sqlx::query(
            "UPDATE deliveries SET status = 'cancelled', reply = $2 \
             WHERE id = $1 AND status = 'queued'",
        )
        .bind(id)
        .bind(*why),
        Outcome::Released => sqlx::query(
            "UPDATE deliveries SET next_attempt_at = $2, attempts = attempts - 1 \
             WHERE id = $1 AND status = 'queued'",
        )
        .bind(id)
        .bind(now),
    };
    query.execute(conn).await?;
    Ok(())
}

fn record_failed<'q>(
    id: i64,
    failure: Failure,
    error: &'q str,
    now: i64,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    sqlx::query(
        "UPDATE deliveries SET status = 'failed', failed_at = $2, failure = $3, reply = $4 \
         WHERE id = $1 AND status = 'queued'",
    )
    .bind(id)
    .bind(now)
    .bind(failure.as_str())
    .bind(error)
}

/// Marks many deliveries sent, each with the server's reply, in one statement
/// per thousand: the recorder's groups are mostly successes.
pub async fn record_sent(
    conn: &mut AnyConnection,
    dialect: Dialect,
    sent: &[(i64, &str)],
    now: i64,
) -> Result<(), sqlx::Error> {
    for chunk in sent.chunks(1_000) {
        // Placeholders in the order they appear: SQLite binds `?` by position.
        let mut placeholders = Placeholders::new(dialect);
        let values: Vec<String> = chunk.iter().map(|_| placeholders.row(2)).collect();
        let sent_at = placeholders.one();
        let sql = format!(
            "WITH sent (id, reply) AS (VALUES {}) \
             UPDATE deliveries SET status = 'sent', sent_at = {sent_at}, reply = sent.reply, \
                 failure = NULL \
             FROM sent WHERE deliveries.id = sent.id",
            values.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for (id, reply) in chunk {
            query = query.bind(*id).bind(*reply);
        }
        query.bind(now).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Cancels what is still queued for a subscriber who left; a copy a worker
/// holds right now is stopped by the engine's departures list.
pub async fn cancel_for_subscriber(
    conn: &mut AnyConnection,
    subscriber_id: i64,
    why: &str,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE deliveries SET status = 'cancelled', reply = $2 \
         WHERE subscriber_id = $1 AND status = 'queued'",
    )
    .bind(subscriber_id)
    .bind(why)
    .execute(conn)
    .await?
    .rows_affected())
}

/// Cancels what is still queued for a subscriber of issues none of whose
/// topics they are in any more (they left some topics, in the caller's
/// transaction); returns those issues, for the copies workers hold now.
pub async fn cancel_outside_topics(
    conn: &mut AnyConnection,
    subscriber_id: i64,
    why: &str,
) -> Result<Vec<i64>, sqlx::Error> {
    let rows = sqlx::query(
        "UPDATE deliveries SET status = 'cancelled', reply = $2 \
         WHERE subscriber_id = $1 AND status = 'queued' \
           AND NOT EXISTS (SELECT 1 FROM subscriber_topics m \
               JOIN issue_topics it ON it.topic_id = m.topic_id \
               WHERE it.issue_id = deliveries.issue_id AND m.subscriber_id = $1) \
         RETURNING issue_id",
    )
    .bind(subscriber_id)
    .bind(why)
    .fetch_all(conn)
    .await?;
    let mut issues: Vec<i64> = rows
        .iter()
        .map(|row| row.try_get("issue_id"))
        .collect::<Result<_, _>>()?;
    issues.sort_unstable();
    issues.dedup();
    Ok(issues)
}

/// Cancels every delivery of an issue still queued.
pub async fn cancel_for_issue(conn: &mut AnyConnection, issue_id: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE deliveries SET status = 'cancelled', reply = 'the send was cancelled' \
         WHERE issue_id = $1 AND status = 'queued'",
    )
    .bind(issue_id)
    .execute(conn)
    .await?
    .rows_affected())
}

/// Issues going out now, oldest send first.
pub async fn sending_issues(pool: &AnyPool) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query("SELECT id FROM issues WHERE status = 'sending' ORDER BY send_started_at, id")
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| row.try_get("id"))
        .collect()
}

/// The earliest time a delivery of a sending issue comes due.
pub async fn next_due_at(pool: &AnyPool) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query(
        "SELECT MIN(d.next_attempt_at) AS due FROM deliveries d \
         JOIN issues i ON i.id = d.issue_id \
         WHERE i.status = 'sending' AND d.status = 'queued'",
    )
    .fetch_one(pool)
    .await?
    .try_get("due")
}

/// Moves a sending issue whose every delivery has an outcome to `sent`.
/// True when it did.
pub async fn finish_if_done(pool: &AnyPool, issue_id: i64, now: i64) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE issues SET status = 'sent', sent_at = $2, updated_at = $2 \
         WHERE id = $1 AND status = 'sending' \
           AND NOT EXISTS (SELECT 1 FROM deliveries WHERE issue_id = $1 AND status = 'queued')",
    )
    .bind(issue_id)
    .bind(now)
    .execute(pool)
    .await?
    .rows_affected()
        == 1)
}

/// Refusals (5xx) of a subscriber's copies not known to be about their
/// address (`failure = 'permanent'`; not policy ones) since the last copy
/// that went out.
pub async fn permanent_failures_in_a_row(
    conn: &mut AnyConnection,
    subscriber_id: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query(
        "SELECT COUNT(*) AS n FROM deliveries \
         WHERE subscriber_id = $1 AND status = 'failed' AND failure = 'permanent' \
           AND failed_at > COALESCE((SELECT MAX(sent_at) FROM deliveries \
                                     WHERE subscriber_id = $1 AND status = 'sent'), 0)",
    )
    .bind(subscriber_id)
    .fetch_one(conn)
    .await?
    .try_get("n")
}
