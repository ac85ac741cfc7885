//! The SQL of reports. A receiving domain is the part of the stored address
//! after its `@` (stored lower-cased); a row whose reader was erased has no
//! address, and comes back as NULL for the caller to name.

use sqlx::{AnyConnection, Row};

use crate::store::Dialect;

/// The domain of `s.email`, NULL when `s` is missing: the one place the
/// engines differ here (SQLite has `instr`, PostgreSQL `strpos`).
fn domain_of(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "lower(substr(s.email, instr(s.email, '@') + 1))",
        Dialect::Postgres => "lower(substr(s.email, strpos(s.email, '@') + 1))",
    }
}

/// The issue's status; None when there is no such issue.
pub async fn issue_status(
    conn: &mut AnyConnection,
    issue_id: i64,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT status FROM issues WHERE id = $1")
        .bind(issue_id)
        .fetch_optional(conn)
        .await
}

/// Copies of the issue the relay took, per domain. An erased reader's copies
/// went with their delivery rows and are not counted.
pub async fn sent_by_domain(
    conn: &mut AnyConnection,
    dialect: Dialect,
    issue_id: i64,
) -> Result<Vec<(Option<String>, i64)>, sqlx::Error> {
    let sql = format!(
        "SELECT {domain} AS domain, COUNT(*) AS n \
         FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id \
         WHERE d.issue_id = $1 AND d.status = 'sent' GROUP BY {domain}",
        domain = domain_of(dialect)
    );
    pairs(sqlx::query(&sql).bind(issue_id).fetch_all(conn).await?)
}

/// Bounces and complaints about copies of the issue, per domain and class.
pub async fn reports_by_domain(
    conn: &mut AnyConnection,
    dialect: Dialect,
    issue_id: i64,
) -> Result<Vec<(Option<String>, String, i64)>, sqlx::Error> {
    let sql = format!(
        "SELECT {domain} AS domain, r.class AS class, COUNT(*) AS n \
         FROM bounce_reports r LEFT JOIN subscribers s ON s.id = r.subscriber_id \
         WHERE r.issue_id = $1 AND r.class IN ('hard', 'soft', 'policy', 'complaint') \
         GROUP BY {domain}, r.class",
        domain = domain_of(dialect)
    );
    sqlx::query(&sql)
        .bind(issue_id)
        .fetch_all(conn)
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.try_get("domain")?,
                row.try_get("class")?,
                row.try_get("n")?,
            ))
        })
        .collect()
}

/// Readers who left with the unsubscribe link of their copy, per domain.
pub async fn unsubscribes_by_domain(
    conn: &mut AnyConnection,
    dialect: Dialect,
    issue_id: i64,
) -> Result<Vec<(Option<String>, i64)>, sqlx::Error> {
    let sql = format!(
        "SELECT {domain} AS domain, COUNT(*) AS n \
         FROM issue_unsubscribes u LEFT JOIN subscribers s ON s.id = u.subscriber_id \
         WHERE u.issue_id = $1 GROUP BY {domain}",
        domain = domain_of(dialect)
    );
    pairs(sqlx::query(&sql).bind(issue_id).fetch_all(conn).await?)
}

/// Policy bounces received since `since`, per domain, most first.
pub async fn policy_by_domain(
    conn: &mut AnyConnection,
    dialect: Dialect,
    since: i64,
    limit: i64,
) -> Result<Vec<(Option<String>, i64)>, sqlx::Error> {
    let sql = format!(
        "SELECT {domain} AS domain, COUNT(*) AS n \
         FROM bounce_reports r LEFT JOIN subscribers s ON s.id = r.subscriber_id \
         WHERE r.class = 'policy' AND r.received_at >= $1 \
         GROUP BY {domain} ORDER BY n DESC, domain LIMIT $2",
        domain = domain_of(dialect)
    );
    pairs(
        sqlx::query(&sql)
            .bind(since)
            .bind(limit)
            .fetch_all(conn)
            .await?,
    )
}

pub async fn totals_by_class(conn: &mut AnyConnection) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query(
        "SELECT class, COUNT(*) AS n FROM bounce_reports \
         WHERE class IN ('hard', 'soft', 'policy', 'complaint') GROUP BY class",
    )
    .fetch_all(conn)
    .await?
    .iter()
    .map(|row| Ok((row.try_get("class")?, row.try_get("n")?)))
    .collect()
}

/// Records an unsubscribe from a copy of `issue_id`, once per reader and
/// issue; false when the reader was sent no copy of it.
pub async fn record_unsubscribe(
    conn: &mut AnyConnection,
    issue_id: i64,
    subscriber_id: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "INSERT INTO issue_unsubscribes (issue_id, subscriber_id, unsubscribed_at) \
         SELECT d.issue_id, d.subscriber_id, $3 FROM deliveries d \
         WHERE d.issue_id = $1 AND d.subscriber_id = $2 AND d.status = 'sent' \
           AND NOT EXISTS (SELECT 1 FROM issue_unsubscribes u \
                           WHERE u.issue_id = $1 AND u.subscriber_id = $2)",
    )
    .bind(issue_id)
    .bind(subscriber_id)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

fn pairs(rows: Vec<sqlx::any::AnyRow>) -> Result<Vec<(Option<String>, i64)>, sqlx::Error> {
    rows.iter()
        .map(|row| Ok((row.try_get("domain")?, row.try_get("n")?)))
        .collect()
}
