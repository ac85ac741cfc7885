//! Every SQL statement of accounts, written once for both engines.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::domain::{Role, User};
use crate::store::Dialect;

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

pub async fn insert_api_token(
    conn: &mut AnyConnection,
    name: &str,
    role: Role,
    token_hash: &str,
    owner: &User,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query(
        "INSERT INTO api_tokens (name, role, token_hash, created_at, owner_id, owner_email) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(name)
    .bind(role.as_str())
    .bind(token_hash)
    .bind(now)
    .bind(owner.id)
    .bind(&owner.email)
    .fetch_one(conn)
    .await?
    .try_get("id")
}

/// The role of a live API token, recording its use. A token with an owner
/// works only while the owner's account exists and is enabled (disabling or
/// removing it revokes the token too; this is the second lock on that door).
/// Tokens from before owners were recorded have neither column set.
pub async fn use_api_token(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: i64,
) -> Result<Option<(i64, Role)>, sqlx::Error> {
    let Some(row) = sqlx::query(
        "UPDATE api_tokens SET last_used_at = $2 \
         WHERE token_hash = $1 AND revoked_at IS NULL \
           AND (owner_email IS NULL OR EXISTS ( \
                SELECT 1 FROM users WHERE users.id = api_tokens.owner_id AND users.disabled_at IS NULL)) \
         RETURNING id, role",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(conn)
    .await?
    else {
        return Ok(None);
    };
    let role: String = row.try_get("role")?;
    Ok(Some((
        row.try_get("id")?,
        role.parse()
            .map_err(|e: String| sqlx::Error::Decode(e.into()))?,
    )))
}

#[derive(Debug, Clone)]
pub struct ApiTokenRecord {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked: bool,
    /// Who made it; `None` for tokens made before owners were recorded.
    pub owner_email: Option<String>,
    /// False once the owner's account is removed.
    pub owner_exists: bool,
}

pub async fn list_api_tokens(conn: &mut AnyConnection) -> Result<Vec<ApiTokenRecord>, sqlx::Error> {
    sqlx::query(
        "SELECT id, name, role, created_at, last_used_at, revoked_at, owner_id, owner_email \
         FROM api_tokens ORDER BY id DESC",
    )
    .fetch_all(conn)
    .await?
    .iter()
    .map(|row| {
        let role: String = row.try_get("role")?;
        Ok(ApiTokenRecord {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            role: role
                .parse()
                .map_err(|e: String| sqlx::Error::Decode(e.into()))?,
            created_at: row.try_get("created_at")?,
            last_used_at: row.try_get("last_used_at")?,
            revoked: row.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
            owner_email: row.try_get("owner_email")?,
            owner_exists: row.try_get::<Option<i64>, _>("owner_id")?.is_some(),
        })
    })
    .collect()
}

pub async fn revoke_api_token(
    conn: &mut AnyConnection,
    id: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let updated =
        sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(conn)
            .await?;
    Ok(updated.rows_affected() == 1)
}

/// Revokes every live token `user_id` made; how many.
pub async fn revoke_api_tokens_of(
    conn: &mut AnyConnection,
    user_id: i64,
    now: i64,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE api_tokens SET revoked_at = $2 WHERE owner_id = $1 AND revoked_at IS NULL",
    )
    .bind(user_id)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected())
}

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

/// An account's two-factor state: the secret (pending or in force), whether it
/// is in force, and the last time step a code was used for.
pub struct TotpState {
    pub secret: Option<String>,
    pub enabled: bool,
    pub last_step: Option<i64>,
}

pub async fn totp_state(
    conn: &mut AnyConnection,
    user_id: i64,
) -> Result<Option<TotpState>, sqlx::Error> {
    sqlx::query("SELECT totp_secret, totp_enabled_at, totp_last_step FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(conn)
        .await?
        .map(|row| {
            Ok(TotpState {
                secret: row.try_get("totp_secret")?,
                enabled: row.try_get::<Option<i64>, _>("totp_enabled_at")?.is_some(),
                last_step: row.try_get("totp_last_step")?,
            })
        })
        .transpose()
}

/// A new secret waiting to be confirmed; never replaces one in force.
pub async fn set_pending_totp_secret(
    conn: &mut AnyConnection,
    user_id: i64,
    secret: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET totp_secret = $2, totp_last_step = NULL \
         WHERE id = $1 AND totp_enabled_at IS NULL",
    )
    .bind(user_id)
    .bind(secret)
    .execute(conn)
    .await
    .map(drop)
}

pub async fn enable_totp(
    conn: &mut AnyConnection,
    user_id: i64,
    step: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET totp_enabled_at = $2, totp_last_step = $3 WHERE id = $1")
        .bind(user_id)
        .bind(now)
        .bind(step)
        .execute(conn)
        .await
        .map(drop)
}

pub async fn disable_totp(conn: &mut AnyConnection, user_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET totp_secret = NULL, totp_enabled_at = NULL, totp_last_step = NULL \
         WHERE id = $1",
    )
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    delete_recovery_codes(conn, user_id).await
}

/// Records `step` as used; false when it (or a later one) was used already.
pub async fn use_totp_step(
    conn: &mut AnyConnection,
    user_id: i64,
    step: i64,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE users SET totp_last_step = $2 \
         WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
    )
    .bind(user_id)
    .bind(step)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

pub async fn delete_recovery_codes(
    conn: &mut AnyConnection,
    user_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await
        .map(drop)
}

pub async fn insert_recovery_code(
    conn: &mut AnyConnection,
    user_id: i64,
    code_hash: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)")
        .bind(user_id)
        .bind(code_hash)
        .bind(now)
        .execute(conn)
        .await
        .map(drop)
}

/// Uses up an unused recovery code of the account; false when there is none.
pub async fn use_recovery_code(
    conn: &mut AnyConnection,
    user_id: i64,
    code_hash: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE recovery_codes SET used_at = $3 \
         WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
    )
    .bind(user_id)
    .bind(code_hash)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected()
        > 0)
}

/// Recovery codes of the account not used yet.
pub async fn unused_recovery_codes(
    conn: &mut AnyConnection,
    user_id: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query("SELECT COUNT(*) AS n FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL")
        .bind(user_id)
        .fetch_one(conn)
        .await?
        .try_get("n")
}
