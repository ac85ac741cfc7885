//! Server-side admin sessions. The session cookie carries only a random key;
//! the database keeps its SHA-256 with the account and the last activity, so
//! the server can end a session: at sign-out, after the idle timeout, on a
//! password change, a disable, a removal, or "sign out everywhere". Ids play
//! no part: a key never repeats, whatever happens to the account it named.

use std::time::Duration;

use super::{queries, AccountError, Accounts, User};
use crate::config::{random_token, token_hash};
use crate::store::{millis, now_millis};

/// Activity is written back at most this often (or a tenth of the idle
/// timeout, if shorter), not on every page view.
const TOUCH_INTERVAL: Duration = Duration::from_secs(60);

impl Accounts {
    /// A new session for `user_id`; the key goes into the cookie, and is not kept.
    pub async fn start_session(&self, user_id: i64, idle: Duration) -> Result<String, sqlx::Error> {
        let key = random_token();
        let now = now_millis();
        let mut tx = self.store.begin_write().await?;
        queries::forget_idle_sessions(&mut tx, now - millis(idle)).await?;
        queries::insert_session(&mut tx, &token_hash(&key), user_id, now).await?;
        tx.commit().await?;
        Ok(key)
    }

    /// The enabled account signed in with `key`, if the session is live;
    /// records the activity. A session idle for longer than `idle` ends.
    pub async fn session_user(
        &self,
        key: &str,
        idle: Duration,
    ) -> Result<Option<User>, sqlx::Error> {
        let key_hash = token_hash(key);
        let now = now_millis();
        let mut conn = self.store.pool().acquire().await?;
        let Some((user, last_seen)) = queries::session_user(&mut conn, &key_hash).await? else {
            return Ok(None);
        };
        if user.disabled || now - last_seen > millis(idle) {
            queries::delete_session(&mut conn, &key_hash).await?;
            return Ok(None);
        }
        if now - last_seen >= millis(TOUCH_INTERVAL.min(idle / 10)) {
            queries::touch_session(&mut conn, &key_hash, now).await?;
        }
        Ok(Some(user))
    }

    /// Ends the session of `key` (sign-out); a copy of the cookie no longer works.
    pub async fn end_session(&self, key: &str) -> Result<(), sqlx::Error> {
        let mut conn = self.store.pool().acquire().await?;
        queries::delete_session(&mut conn, &token_hash(key)).await
    }

    /// Ends every session of the account, wherever it was signed in; how many.
    #[tracing::instrument(skip_all, fields(user_id))]
    pub async fn end_all_sessions(&self, user_id: i64) -> Result<u64, AccountError> {
        let mut tx = self.store.begin_write().await?;
        queries::find_user(&mut tx, user_id)
            .await?
            .ok_or(AccountError::NotFound)?;
        let ended = queries::delete_sessions_of(&mut tx, user_id).await?;
        tx.commit().await?;
        tracing::info!(sessions = ended, "signed out everywhere");
        Ok(ended)
    }
}
