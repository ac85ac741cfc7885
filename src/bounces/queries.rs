//! The SQL of bounce intake: the record of handled reports (those that
//! came back, and the refusals heard at send time), the soft-bounce count,
//! and the look-ups that attribute a report to a reader.

use sqlx::{AnyConnection, Row};

/// Records a handled report; false when one with this key was handled before.
pub async fn record_report(
    conn: &mut AnyConnection,
    report_key: &str,
    class: &str,
    subscriber_id: Option<i64>,
    issue_id: Option<i64>,
    status: Option<&str>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO bounce_reports (report_key, class, subscriber_id, issue_id, status, received_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (report_key) DO NOTHING",
    )
    .bind(report_key)
    .bind(class)
    .bind(subscriber_id)
    .bind(issue_id)
    .bind(status)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records the relay's refusal of the copy `delivery_id`, heard at send
/// time, as the report `smtp:ISSUE:SUBSCRIBER` of that issue and reader;
/// false when it was recorded before.
pub async fn record_send_time_refusal(
    conn: &mut AnyConnection,
    delivery_id: i64,
    class: &str,
    status: Option<&str>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    // `WHERE` also keeps SQLite from reading ON CONFLICT as a join's.
    let done = sqlx::query(
        "INSERT INTO bounce_reports (report_key, class, subscriber_id, issue_id, status, received_at) \
         SELECT 'smtp:' || d.issue_id || ':' || d.subscriber_id, $2, d.subscriber_id, d.issue_id, $3, $4 \
         FROM deliveries d WHERE d.id = $1 \
         ON CONFLICT (report_key) DO NOTHING",
    )
    .bind(delivery_id)
    .bind(class)
    .bind(status)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Soft bounces of `subscriber_id` received since `since` and after their
/// last successful delivery: the last copy sent that no report came back for.
pub async fn soft_bounces_since(
    conn: &mut AnyConnection,
    subscriber_id: i64,
    since: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM bounce_reports r \
         WHERE r.subscriber_id = $1 AND r.class = 'soft' AND r.received_at >= $2 \
           AND r.received_at > COALESCE(( \
               SELECT MAX(d.sent_at) FROM deliveries d \
               WHERE d.subscriber_id = $1 AND d.status = 'sent' \
                 AND NOT EXISTS ( \
                     SELECT 1 FROM bounce_reports b \
                     WHERE b.subscriber_id = d.subscriber_id AND b.issue_id = d.issue_id)), 0)",
    )
    .bind(subscriber_id)
    .bind(since)
    .fetch_one(conn)
    .await
}

/// The subscriber at `email` whom Herald sent a copy or signup mail to
/// since `since`; none for an address it did not mail.
pub async fn recently_mailed(
    conn: &mut AnyConnection,
    email: &str,
    since: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT s.id FROM subscribers s \
         WHERE lower(s.email) = lower($1) \
           AND (EXISTS (SELECT 1 FROM deliveries d \
                        WHERE d.subscriber_id = s.id AND d.sent_at >= $2) \
             OR EXISTS (SELECT 1 FROM outbox o \
                        WHERE o.subscriber_id = s.id AND o.sent_at >= $2)) \
         ORDER BY s.id LIMIT 1",
    )
    .bind(email)
    .bind(since)
    .fetch_optional(conn)
    .await
}

/// The stored address of a subscriber, for the outcome line.
pub async fn email_of(conn: &mut AnyConnection, id: i64) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query("SELECT email FROM subscribers WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.map(|row| row.try_get("email")).transpose()
}
