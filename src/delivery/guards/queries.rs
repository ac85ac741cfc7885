//! The SQL of the pause guards: what they count, and the issue row's pause
//! reason and counting starts.

use sqlx::{AnyConnection, AnyPool, Row};

use super::GuardStart;

/// Where each guard of a sending or paused issue starts counting.
pub async fn guard_start(
    conn: &mut AnyConnection,
    issue_id: i64,
) -> Result<Option<GuardStart>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT bounce_guard_from_tried, bounce_guard_from_hard, \
             complaint_guard_from_tried, complaint_guard_from_complaints \
         FROM issues WHERE id = $1",
    )
    .bind(issue_id)
    .fetch_optional(conn)
    .await?;
    row.map(|row| {
        Ok(GuardStart {
            bounce_from_tried: row.try_get("bounce_guard_from_tried")?,
            bounce_from_hard: row.try_get("bounce_guard_from_hard")?,
            complaint_from_tried: row.try_get("complaint_guard_from_tried")?,
            complaint_from_complaints: row.try_get("complaint_guard_from_complaints")?,
        })
    })
    .transpose()
}

/// Hard bounces and complaints recorded against the copies of `issue_id`,
/// by every channel (reports by mail, and refusals at send time).
pub async fn reports(conn: &mut AnyConnection, issue_id: i64) -> Result<(i64, i64), sqlx::Error> {
    let row = sqlx::query(
        "SELECT COALESCE(SUM(CASE WHEN class = 'hard' THEN 1 ELSE 0 END), 0) AS hard, \
             COALESCE(SUM(CASE WHEN class = 'complaint' THEN 1 ELSE 0 END), 0) AS complaints \
         FROM bounce_reports WHERE issue_id = $1 AND class IN ('hard', 'complaint')",
    )
    .bind(issue_id)
    .fetch_one(conn)
    .await?;
    Ok((row.try_get("hard")?, row.try_get("complaints")?))
}

/// Copies of `issue_id` with an outcome from the relay: sent, or failed for good.
pub async fn copies_tried(conn: &mut AnyConnection, issue_id: i64) -> Result<i64, sqlx::Error> {
    crate::delivery::deliveries::copies_tried(conn, issue_id).await
}

/// Pauses a sending issue with the guard and reason; false when it was not
/// sending (paused, cancelled or done meanwhile, here or in another process).
pub async fn pause_for(
    pool: &AnyPool,
    issue_id: i64,
    guard: &str,
    reason: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE issues SET status = 'paused', pause_guard = $2, pause_reason = $3, updated_at = $4 \
         WHERE id = $1 AND status = 'sending'",
    )
    .bind(issue_id)
    .bind(guard)
    .bind(reason)
    .bind(now)
    .execute(pool)
    .await?
    .rows_affected()
        == 1)
}

/// The guard that paused `issue_id` (`Some(None)` for an editor's pause);
/// None when it is not paused.
pub async fn paused_by(
    conn: &mut AnyConnection,
    issue_id: i64,
) -> Result<Option<Option<String>>, sqlx::Error> {
    let row = sqlx::query("SELECT pause_guard FROM issues WHERE id = $1 AND status = 'paused'")
        .bind(issue_id)
        .fetch_optional(conn)
        .await?;
    row.map(|row| row.try_get("pause_guard")).transpose()
}

pub async fn restart_bounce_guard(
    conn: &mut AnyConnection,
    issue_id: i64,
    tried: i64,
    hard: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE issues SET bounce_guard_from_tried = $2, bounce_guard_from_hard = $3 WHERE id = $1",
    )
    .bind(issue_id)
    .bind(tried)
    .bind(hard)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn restart_complaint_guard(
    conn: &mut AnyConnection,
    issue_id: i64,
    tried: i64,
    complaints: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE issues SET complaint_guard_from_tried = $2, complaint_guard_from_complaints = $3 \
         WHERE id = $1",
    )
    .bind(issue_id)
    .bind(tried)
    .bind(complaints)
    .execute(conn)
    .await?;
    Ok(())
}

/// Paused → sending, the pause reason cleared; false when it was not paused.
pub async fn resume(
    conn: &mut AnyConnection,
    issue_id: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE issues SET status = 'sending', pause_guard = NULL, pause_reason = NULL, \
             updated_at = $2 \
         WHERE id = $1 AND status = 'paused'",
    )
    .bind(issue_id)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Why a paused issue paused itself; None for an editor's pause.
pub async fn pause_reason(
    conn: &mut AnyConnection,
    issue_id: i64,
) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query("SELECT pause_reason FROM issues WHERE id = $1 AND status = 'paused'")
        .bind(issue_id)
        .fetch_optional(conn)
        .await?;
    Ok(row
        .map(|row| row.try_get::<Option<String>, _>("pause_reason"))
        .transpose()?
        .flatten())
}
