//! The SQL of two-factor sign-in: the secret, the last step used, recovery codes.

use sqlx::{AnyConnection, Row};

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
