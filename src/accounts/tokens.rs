//! Bearer tokens of the JSON API. Each has an owner, the account that made
//! it; disabling or removing that account revokes it.

use super::{queries, AccountError, Accounts, ApiPrincipal, ApiTokenRecord, Role};
use crate::config::{random_token, token_hash};
use crate::store::now_millis;

impl Accounts {
    /// A new API token owned by `owner_id`, an enabled account whose role is
    /// at least `role`. The secret is returned once and only its hash is kept.
    #[tracing::instrument(skip_all, fields(role = %role, owner_id))]
    pub async fn create_api_token(
        &self,
        name: &str,
        role: Role,
        owner_id: i64,
    ) -> Result<(i64, String), AccountError> {
        let token = format!("hrld_{}", random_token());
        let mut tx = self.store.begin_write().await?;
        let owner = queries::find_user(&mut tx, owner_id)
            .await?
            .filter(|owner| !owner.disabled)
            .ok_or_else(|| AccountError::OwnerUnknown(format!("account {owner_id}")))?;
        if role == Role::Admin && !owner.is_admin() {
            return Err(AccountError::RoleAboveOwner);
        }
        let id = queries::insert_api_token(
            &mut tx,
            name.trim(),
            role,
            &token_hash(&token),
            token_prefix(&token),
            &owner,
            now_millis(),
        )
        .await?;
        tx.commit().await?;
        Ok((id, token))
    }

    /// Who is calling with `token`, if it is live.
    pub async fn api_principal(&self, token: &str) -> Result<Option<ApiPrincipal>, sqlx::Error> {
        let mut conn = self.store.pool().acquire().await?;
        Ok(
            queries::use_api_token(&mut conn, &token_hash(token.trim()), now_millis())
                .await?
                .map(|(token_id, role)| ApiPrincipal { token_id, role }),
        )
    }

    pub async fn api_tokens(&self) -> Result<Vec<ApiTokenRecord>, sqlx::Error> {
        let mut conn = self.store.pool().acquire().await?;
        queries::list_api_tokens(&mut conn).await
    }

    pub async fn revoke_api_token(&self, id: i64) -> Result<bool, sqlx::Error> {
        let mut tx = self.store.begin_write().await?;
        let revoked = queries::revoke_api_token(&mut tx, id, now_millis()).await?;
        tx.commit().await?;
        Ok(revoked)
    }
}

/// How much of a token the tokens page shows: "hrld_" and six of its 43
/// random characters, enough to tell two tokens apart, far too little to
/// guess the remaining 222 bits.
pub const TOKEN_PREFIX_CHARS: usize = 11;

fn token_prefix(token: &str) -> &str {
    token.get(..TOKEN_PREFIX_CHARS).unwrap_or(token)
}
