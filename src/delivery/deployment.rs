//! SQL of what several sending processes on one database share besides the
//! queue: who is alive (`senders`), for dividing the concurrency, and the next
//! free send time (`send_pacing`), for the deployment-wide rate.

use sqlx::{AnyPool, Row};

use crate::store::Dialect;

/// A process that sends, as the others see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    pub id: String,
    pub host: String,
    pub pid: i64,
    pub started_at: i64,
    pub seen_at: i64,
}

/// Records that `sender` is alive at `now` (creating its row if it is new,
/// or if the others forgot it while it could not reach the database).
pub async fn heartbeat(pool: &AnyPool, sender: &Sender, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO senders (id, host, pid, started_at, seen_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
    )
    .bind(&sender.id)
    .bind(&sender.host)
    .bind(sender.pid)
    .bind(sender.started_at)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

/// Forgets senders not seen since `seen_before`, then lists the rest, oldest first.
pub async fn live_senders(pool: &AnyPool, seen_before: i64) -> Result<Vec<Sender>, sqlx::Error> {
    sqlx::query("DELETE FROM senders WHERE seen_at < $1")
        .bind(seen_before)
        .execute(pool)
        .await?;
    sqlx::query("SELECT id, host, pid, started_at, seen_at FROM senders ORDER BY started_at, id")
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| {
            Ok(Sender {
                id: row.try_get("id")?,
                host: row.try_get("host")?,
                pid: row.try_get("pid")?,
                started_at: row.try_get("started_at")?,
                seen_at: row.try_get("seen_at")?,
            })
        })
        .collect()
}

/// A stopping process leaves at once, so the others take its share now.
pub async fn leave(pool: &AnyPool, sender_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM senders WHERE id = $1")
        .bind(sender_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Books `span_micros` of send time for this process: the deployment's next
/// free moment moves forward by that much (starting no earlier than
/// `now_micros`, so idle time is not saved up into a burst). Returns the
/// start of the booked span.
pub async fn book_send_time(
    pool: &AnyPool,
    dialect: Dialect,
    now_micros: i64,
    span_micros: i64,
) -> Result<i64, sqlx::Error> {
    let later_of = match dialect {
        Dialect::Postgres => "GREATEST",
        Dialect::Sqlite => "MAX",
    };
    let end: i64 = sqlx::query(&format!(
        "UPDATE send_pacing SET next_free_at = {later_of}(next_free_at, $1) + $2 \
         WHERE id = 1 RETURNING next_free_at"
    ))
    .bind(now_micros)
    .bind(span_micros)
    .fetch_one(pool)
    .await?
    .try_get("next_free_at")?;
    Ok(end - span_micros)
}
