//! Password reset by mail: a one-use link, kept only as a hash, that works
//! for an hour. Asking for one answers the same whether or not the address
//! has an account; the links are rate-limited per account and per client.

use std::time::Duration;

use super::{password, queries, AccountError, Accounts, LoginError, NewPassword, User};
use crate::config::{random_token, token_hash};
use crate::store::{millis, now_millis};

/// How long a reset link works.
pub const RESET_LINK_TTL: Duration = Duration::from_secs(60 * 60);
/// Links sent to one account within `RESET_LINK_TTL`; more requests send nothing.
pub const RESETS_PER_ACCOUNT: i64 = 3;

/// What a request for a reset link leads to; the visitor sees the same page either way.
pub enum ResetRequest {
    /// Mail this link's secret to the account.
    Send { user: User, token: String },
    /// No enabled account has the address, or it was sent enough links this hour.
    Nothing,
}

/// Without the link's secret: it belongs in the mail, never in a log.
impl std::fmt::Debug for ResetRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Send { user, .. } => f
                .debug_struct("Send")
                .field("user_id", &user.id)
                .finish_non_exhaustive(),
            Self::Nothing => f.write_str("Nothing"),
        }
    }
}

impl Accounts {
    /// A reset link for `email`, if an enabled account has it. Each request
    /// counts against `client` like a failed sign-in (5 in 15 minutes), so
    /// nobody can use the form to flood inboxes or probe addresses quickly.
    #[tracing::instrument(skip_all)]
    pub async fn request_password_reset(
        &self,
        email: &str,
        client: &str,
    ) -> Result<ResetRequest, LoginError> {
        self.reserve_attempt(&[&format!("reset:{client}")]).await?;
        let now = now_millis();
        // Accounts are stored as parsed (an international domain as
        // punycode); an address that does not parse has no account.
        let Ok(email) = Self::parse_email(email) else {
            return Ok(ResetRequest::Nothing);
        };
        let mut tx = self.store.begin_write().await?;
        let user = queries::find_user_by_email(&mut tx, &email).await?;
        let Some(user) = user.filter(|user| !user.disabled) else {
            return Ok(ResetRequest::Nothing);
        };
        let since = now - millis(RESET_LINK_TTL);
        if queries::password_resets_since(&mut tx, user.id, since).await? >= RESETS_PER_ACCOUNT {
            tracing::info!(
                user_id = user.id,
                "reset link withheld: enough sent this hour"
            );
            return Ok(ResetRequest::Nothing);
        }
        // 256 random bits; the database keeps only their SHA-256.
        let token = random_token();
        queries::insert_password_reset(
            &mut tx,
            user.id,
            &token_hash(&token),
            now,
            now + millis(RESET_LINK_TTL),
        )
        .await?;
        queries::forget_password_resets(&mut tx, now - millis(Duration::from_secs(24 * 3600)))
            .await?;
        tx.commit().await?;
        Ok(ResetRequest::Send { user, token })
    }

    /// The account a reset link would set a password for, while the link
    /// works; changes nothing.
    pub async fn password_reset_account(&self, token: &str) -> Result<Option<User>, sqlx::Error> {
        let mut conn = self.store.pool().acquire().await?;
        let Some(user_id) =
            queries::live_password_reset(&mut conn, &token_hash(token.trim()), now_millis())
                .await?
        else {
            return Ok(None);
        };
        Ok(queries::find_user(&mut conn, user_id)
            .await?
            .filter(|user| !user.disabled))
    }

    /// Sets the password of the link's account and spends the link (and
    /// every other link of the account); all its sessions end. Two-factor
    /// sign-in stays as it was. `ResetLinkInvalid` when the link was used,
    /// expired or never sent.
    #[tracing::instrument(skip_all)]
    pub async fn reset_password_with_link(
        &self,
        token: &str,
        new: NewPassword,
    ) -> Result<User, AccountError> {
        // Hashed before the transaction: a busy hasher leaves the link usable.
        let hash = password::hash(new.secret().clone()).await?;
        let now = now_millis();
        let mut tx = self.store.begin_write().await?;
        let user_id = queries::use_password_reset(&mut tx, &token_hash(token.trim()), now)
            .await?
            .ok_or(AccountError::ResetLinkInvalid)?;
        let user = queries::find_user(&mut tx, user_id)
            .await?
            .filter(|user| !user.disabled)
            .ok_or(AccountError::ResetLinkInvalid)?;
        queries::set_password(&mut tx, user_id, &hash, now).await?;
        queries::delete_sessions_of(&mut tx, user_id).await?;
        queries::spend_password_resets_of(&mut tx, user_id, now).await?;
        tx.commit().await?;
        Ok(user)
    }
}
