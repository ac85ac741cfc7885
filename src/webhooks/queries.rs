//! The SQL of the webhooks: the signatures already used, so that a
//! captured call replayed is refused.

use std::time::Duration;

use crate::store::millis;

/// Records `nonce` of `provider`; false when it was recorded before. Forgets
/// nonces older than `max_age`, past which their calls are refused as stale.
pub async fn first_use(
    pool: &sqlx::AnyPool,
    provider: &str,
    nonce: &str,
    now: i64,
    max_age: Duration,
) -> Result<bool, sqlx::Error> {
    sqlx::query("DELETE FROM webhook_nonces WHERE received_at < $1")
        .bind(now - 2 * millis(max_age))
        .execute(pool)
        .await?;
    let done = sqlx::query(
        "INSERT INTO webhook_nonces (provider, nonce, received_at) VALUES ($1, $2, $3) \
         ON CONFLICT (provider, nonce) DO NOTHING",
    )
    .bind(provider)
    .bind(nonce)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Forgets `nonce`, for a call that failed on Herald's side and will be
/// retried by its provider with the same signature.
pub async fn forget(pool: &sqlx::AnyPool, provider: &str, nonce: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM webhook_nonces WHERE provider = $1 AND nonce = $2")
        .bind(provider)
        .bind(nonce)
        .execute(pool)
        .await?;
    Ok(())
}
