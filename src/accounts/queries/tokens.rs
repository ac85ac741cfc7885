//! The SQL of API tokens and their owners.

use sqlx::{AnyConnection, Row};

use crate::accounts::domain::{Role, User};

pub async fn insert_api_token(
    conn: &mut AnyConnection,
    name: &str,
    role: Role,
    token_hash: &str,
    token_prefix: &str,
    owner: &User,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query(
        "INSERT INTO api_tokens (name, role, token_hash, created_at, owner_id, owner_email, token_prefix) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(name)
    .bind(role.as_str())
    .bind(token_hash)
    .bind(now)
    .bind(owner.id)
    .bind(&owner.email)
    .bind(token_prefix)
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
    /// The token's first characters; `None` for tokens made before they were kept.
    pub prefix: Option<String>,
}

pub async fn list_api_tokens(conn: &mut AnyConnection) -> Result<Vec<ApiTokenRecord>, sqlx::Error> {
    sqlx::query(
        "SELECT id, name, role, created_at, last_used_at, revoked_at, owner_id, owner_email, \
         token_prefix FROM api_tokens ORDER BY id DESC",
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
            prefix: row.try_get("token_prefix")?,
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
