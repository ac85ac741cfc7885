//! The SQL of server-side admin sessions.

use sqlx::{AnyConnection, Row};

use super::{user_of, USER_COLUMNS};
use crate::accounts::domain::User;

pub async fn insert_session(
    conn: &mut AnyConnection,
    key_hash: &str,
    user_id: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO admin_sessions (key_hash, user_id, created_at, last_seen_at) \
         VALUES ($1, $2, $3, $3)",
    )
    .bind(key_hash)
    .bind(user_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The account of a session and when the session was last used.
pub async fn session_user(
    conn: &mut AnyConnection,
    key_hash: &str,
) -> Result<Option<(User, i64)>, sqlx::Error> {
    let columns: Vec<String> = USER_COLUMNS
        .split(", ")
        .map(|c| format!("users.{c}"))
        .collect();
    let Some(row) = sqlx::query(&format!(
        "SELECT {}, admin_sessions.last_seen_at FROM admin_sessions \
         JOIN users ON users.id = admin_sessions.user_id WHERE admin_sessions.key_hash = $1",
        columns.join(", ")
    ))
    .bind(key_hash)
    .fetch_optional(conn)
    .await?
    else {
        return Ok(None);
    };
    Ok(Some((user_of(&row)?, row.try_get("last_seen_at")?)))
}

pub async fn touch_session(
    conn: &mut AnyConnection,
    key_hash: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE admin_sessions SET last_seen_at = $2 WHERE key_hash = $1")
        .bind(key_hash)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn delete_session(conn: &mut AnyConnection, key_hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM admin_sessions WHERE key_hash = $1")
        .bind(key_hash)
        .execute(conn)
        .await?;
    Ok(())
}

/// Ends every session of `user_id`; how many there were.
pub async fn delete_sessions_of(
    conn: &mut AnyConnection,
    user_id: i64,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM admin_sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await?
        .rows_affected())
}

/// Forgets sessions idle since before `before`; they can no longer be used.
pub async fn forget_idle_sessions(
    conn: &mut AnyConnection,
    before: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM admin_sessions WHERE last_seen_at < $1")
        .bind(before)
        .execute(conn)
        .await?;
    Ok(())
}
