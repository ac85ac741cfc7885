//! Every SQL statement of accounts, written once for both engines.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::domain::{Role, User};
use crate::store::Dialect;

mod resets;
mod sessions;
mod tokens;
mod two_factor;

pub use resets::*;
pub use sessions::*;
pub use tokens::*;
pub use two_factor::*;

const USER_COLUMNS: &str =
    "id, email, role, disabled_at, session_epoch, created_at, totp_enabled_at";

fn user_of(row: &AnyRow) -> Result<User, sqlx::Error> {
    let role: String = row.try_get("role")?;
    Ok(User {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        role: role
            .parse()
            .map_err(|e: String| sqlx::Error::Decode(e.into()))?,
        disabled: row.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
        session_epoch: row.try_get("session_epoch")?,
        created_at: row.try_get("created_at")?,
        two_factor: row.try_get::<Option<i64>, _>("totp_enabled_at")?.is_some(),
    })
}

pub async fn count_active_admins(conn: &mut AnyConnection) -> Result<i64, sqlx::Error> {
    sqlx::query("SELECT COUNT(*) AS n FROM users WHERE role = 'admin' AND disabled_at IS NULL")
        .fetch_one(conn)
        .await?
        .try_get("n")
}

/// The active admins, counted under a lock that holds until the transaction
/// ends, for the last-admin rule. Two admins disabling each other at once on
/// PostgreSQL (READ COMMITTED) each counted two and both went through; with
/// the rows locked, the second waits for the first and counts again. On
/// SQLite the write transaction (BEGIN IMMEDIATE) already serialises them.
pub async fn lock_active_admins(
    conn: &mut AnyConnection,
    dialect: Dialect,
) -> Result<i64, sqlx::Error> {
    match dialect {
        Dialect::Sqlite => count_active_admins(conn).await,
        Dialect::Postgres => {
            let rows = sqlx::query(
                "SELECT id FROM users WHERE role = 'admin' AND disabled_at IS NULL FOR UPDATE",
            )
            .fetch_all(conn)
            .await?;
            Ok(i64::try_from(rows.len()).unwrap_or(i64::MAX))
        }
    }
}

pub async fn insert_user(
    conn: &mut AnyConnection,
    email: &str,
    role: Role,
    password_hash: &str,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query(
        "INSERT INTO users (email, role, password_hash, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $4) RETURNING id",
    )
    .bind(email)
    .bind(role.as_str())
    .bind(password_hash)
    .bind(now)
    .fetch_one(conn)
    .await?
    .try_get("id")
}

pub async fn find_user(conn: &mut AnyConnection, id: i64) -> Result<Option<User>, sqlx::Error> {
    sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(user_of)
        .transpose()
}

/// The user and their password hash, for a login.
pub async fn find_login(
    conn: &mut AnyConnection,
    email: &str,
) -> Result<Option<(User, String)>, sqlx::Error> {
    let Some(row) = sqlx::query(&format!(
        "SELECT {USER_COLUMNS}, password_hash FROM users WHERE lower(email) = lower($1)"
    ))
    .bind(email)
    .fetch_optional(conn)
    .await?
    else {
        return Ok(None);
    };
    Ok(Some((user_of(&row)?, row.try_get("password_hash")?)))
}

pub async fn find_user_by_email(
    conn: &mut AnyConnection,
    email: &str,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE lower(email) = lower($1)"
    ))
    .bind(email)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(user_of)
    .transpose()
}

pub async fn password_hash_of(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query("SELECT password_hash FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?
        .map(|row| row.try_get("password_hash"))
        .transpose()
}

pub async fn list_users(conn: &mut AnyConnection) -> Result<Vec<User>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users ORDER BY lower(email)"
    ))
    .fetch_all(conn)
    .await?
    .iter()
    .map(user_of)
    .collect()
}

/// Sets a new password and ends the user's other sessions.
pub async fn set_password(
    conn: &mut AnyConnection,
    id: i64,
    password_hash: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET password_hash = $2, session_epoch = session_epoch + 1, updated_at = $3 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(password_hash)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn set_disabled(
    conn: &mut AnyConnection,
    id: i64,
    disabled_at: Option<i64>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET disabled_at = $2, session_epoch = session_epoch + 1, updated_at = $3 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(disabled_at)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delete_user(conn: &mut AnyConnection, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn insert_setup_token(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO setup_tokens (token_hash, created_at, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(token_hash)
    .bind(now)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks a setup token used if it is valid now; true when it was.
pub async fn use_setup_token(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE setup_tokens SET used_at = $2 \
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(updated.rows_affected() == 1)
}

pub async fn setup_token_is_valid(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "SELECT 1 AS ok FROM setup_tokens WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(conn)
    .await?
    .is_some())
}

/// Serialises login attempts on PostgreSQL for the rest of the transaction, so
/// concurrent attempts count each other's reservations (SQLite's BEGIN
/// IMMEDIATE does so already). Readers are not blocked.
pub async fn lock_login_failures(
    conn: &mut AnyConnection,
    dialect: Dialect,
) -> Result<(), sqlx::Error> {
    if dialect == Dialect::Postgres {
        sqlx::query("LOCK TABLE login_failures IN SHARE ROW EXCLUSIVE MODE")
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Counts a failed login (or reserves one before the password is checked); its id.
pub async fn record_login_failure(
    conn: &mut AnyConnection,
    throttle_key: &str,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query("INSERT INTO login_failures (throttle_key, at) VALUES ($1, $2) RETURNING id")
        .bind(throttle_key)
        .bind(now)
        .fetch_one(conn)
        .await?
        .try_get("id")
}

/// Takes back a reservation: the login succeeded, or was never checked.
pub async fn delete_login_failure(conn: &mut AnyConnection, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_failures WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Failures for `throttle_key` since `since`, and the latest one.
pub async fn login_failures_since(
    conn: &mut AnyConnection,
    throttle_key: &str,
    since: i64,
) -> Result<(i64, Option<i64>), sqlx::Error> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, MAX(at) AS latest FROM login_failures \
         WHERE throttle_key = $1 AND at > $2",
    )
    .bind(throttle_key)
    .bind(since)
    .fetch_one(conn)
    .await?;
    Ok((row.try_get("n")?, row.try_get("latest")?))
}

pub async fn forget_login_failures(
    conn: &mut AnyConnection,
    before: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_failures WHERE at < $1")
        .bind(before)
        .execute(conn)
        .await?;
    Ok(())
}
