//! Running tallies of an issue's copies by state (`delivery_tallies`), so
//! that a send's progress reads a handful of rows instead of counting every
//! copy. Triggers on `deliveries` keep them (migration 0022): every statement
//! that changes a copy's state changes the tallies in the same statement (SQLite)
//! or transaction (PostgreSQL), whoever wrote it. Only the start of a send,
//! which inserts the copies, writes them here.

use sqlx::{AnyConnection, Row};

use super::DeliveryCounts;

/// Counts the `queued` copies a send's start just inserted; the caller's
/// transaction holds both.
pub(super) async fn start(
    conn: &mut AnyConnection,
    issue_id: i64,
    queued: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO delivery_tallies (issue_id, slot, queued) VALUES ($1, 0, $2) \
         ON CONFLICT (issue_id, slot) DO UPDATE SET queued = delivery_tallies.queued + excluded.queued",
    )
    .bind(issue_id)
    .bind(queued)
    .execute(conn)
    .await?;
    Ok(())
}

/// The tallies of `issue_id`, summed over its slots.
pub(super) async fn totals(
    conn: &mut AnyConnection,
    issue_id: i64,
) -> Result<DeliveryCounts, sqlx::Error> {
    // SUM of a BIGINT is NUMERIC on PostgreSQL, which the Any driver cannot read.
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(queued), 0) AS BIGINT) AS queued, \
             CAST(COALESCE(SUM(retrying), 0) AS BIGINT) AS retrying, \
             CAST(COALESCE(SUM(sent), 0) AS BIGINT) AS sent, \
             CAST(COALESCE(SUM(failed), 0) AS BIGINT) AS failed, \
             CAST(COALESCE(SUM(cancelled), 0) AS BIGINT) AS cancelled \
         FROM delivery_tallies WHERE issue_id = $1",
    )
    .bind(issue_id)
    .fetch_one(conn)
    .await?;
    let queued: i64 = row.try_get("queued")?;
    let retrying: i64 = row.try_get("retrying")?;
    let sent: i64 = row.try_get("sent")?;
    let failed: i64 = row.try_get("failed")?;
    let cancelled: i64 = row.try_get("cancelled")?;
    Ok(DeliveryCounts {
        total: queued + retrying + sent + failed + cancelled,
        queued,
        retrying,
        sent,
        failed,
        cancelled,
    })
}
