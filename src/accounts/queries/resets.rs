//! The SQL of password resets by mail.

use sqlx::{AnyConnection, Row};

pub async fn insert_password_reset(
    conn: &mut AnyConnection,
    user_id: i64,
    token_hash: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO password_resets (user_id, token_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(user_id)
    .bind(token_hash)
    .bind(now)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Links sent to `user_id` since `since`, used or not.
pub async fn password_resets_since(
    conn: &mut AnyConnection,
    user_id: i64,
    since: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query("SELECT COUNT(*) AS n FROM password_resets WHERE user_id = $1 AND created_at > $2")
        .bind(user_id)
        .bind(since)
        .fetch_one(conn)
        .await?
        .try_get("n")
}

/// The account a live link (unused, not expired) belongs to; reads only.
pub async fn live_password_reset(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query(
        "SELECT user_id FROM password_resets \
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(conn)
    .await?
    .map(|row| row.try_get("user_id"))
    .transpose()
}

/// Spends a live link: its account, or `None` when it was used, expired or
/// never sent. Two tabs posting the same link: one wins.
pub async fn use_password_reset(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query(
        "UPDATE password_resets SET used_at = $2 \
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING user_id",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(conn)
    .await?
    .map(|row| row.try_get("user_id"))
    .transpose()
}

/// A new password makes every other link of the account worthless.
pub async fn spend_password_resets_of(
    conn: &mut AnyConnection,
    user_id: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE password_resets SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL")
        .bind(user_id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Links past their hour and a day of grace are of no use, not even to count.
pub async fn forget_password_resets(
    conn: &mut AnyConnection,
    before: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM password_resets WHERE expires_at < $1")
        .bind(before)
        .execute(conn)
        .await?;
    Ok(())
}
