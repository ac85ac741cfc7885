//! Accounts: editors and admins, their passwords, the first-run setup link,
//! sign-in and its throttling (`login`), the server-side admin sessions
//! (`sessions`), and the bearer tokens of the JSON API (`tokens`).

mod domain;
mod login;
mod password;
mod queries;
mod reset;
mod reset_mail;
mod sessions;
mod tokens;
mod two_factor;

use std::time::Duration;

use secrecy::SecretString;

use crate::config::{random_token, token_hash};
use crate::store::{is_unique_violation, millis, now_millis, Store};
use crate::subscriptions::SubscriberEmail;

pub use domain::{NewPassword, PasswordError, Role, User, MIN_PASSWORD_LENGTH};
pub use login::SignInsLeft;
pub use password::{HashError, QUEUE_WAIT as HASH_QUEUE_WAIT};
pub use queries::ApiTokenRecord;
pub use reset::{ResetRequest, RESETS_PER_ACCOUNT, RESET_LINK_TTL};
pub use reset_mail::PasswordResetEmail;
pub use two_factor::{Enrolment, TwoFactorError, RECOVERY_CODE_COUNT};

/// How long the first-run setup link works.
pub const SETUP_LINK_TTL: Duration = Duration::from_secs(60 * 60);
/// Failed logins counted per account and per client address…
pub const LOGIN_FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// …and how many of them lock the door for the rest of the window.
pub const LOGIN_FAILURE_LIMIT: i64 = 5;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("An account with this email address exists already.")]
    EmailTaken,
    #[error("That is not a valid email address: {0}")]
    InvalidEmail(String),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error("The current password is not right.")]
    WrongPassword,
    #[error("This would leave no active admin; make another admin first.")]
    LastAdmin,
    #[error("No such account.")]
    NotFound,
    #[error("This setup link is unknown, used or expired.")]
    SetupLinkInvalid,
    #[error("This password reset link is used, expired or unknown. Ask for a new one.")]
    ResetLinkInvalid,
    #[error("A token's owner must be an existing, enabled account: {0}")]
    OwnerUnknown(String),
    #[error("An editor cannot own an admin token; choose the editor role or an admin owner.")]
    RoleAboveOwner,
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error("database error: {0}")]
    Store(#[from] sqlx::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown address, wrong password or disabled account: one answer for all.
    #[error("The email address or the password is not right.")]
    Rejected,
    #[error("Too many failed logins. Try again in {} minutes.", .retry_after.as_secs().div_ceil(60))]
    Throttled { retry_after: Duration },
    /// Every hashing slot stayed busy for `HASH_QUEUE_WAIT`; nothing was counted.
    #[error("Too many sign-ins at once. Try again in a few seconds.")]
    Busy,
    #[error(transparent)]
    Account(#[from] AccountError),
}

impl From<sqlx::Error> for LoginError {
    fn from(error: sqlx::Error) -> Self {
        Self::Account(AccountError::Store(error))
    }
}

impl From<HashError> for LoginError {
    fn from(error: HashError) -> Self {
        match error {
            HashError::Busy => Self::Busy,
            other => Self::Account(AccountError::Hash(other)),
        }
    }
}

/// An API caller: which token, with which role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiPrincipal {
    pub token_id: i64,
    pub role: Role,
}

/// Inserts an account and reads it back; a taken address is `EmailTaken`, not a failure.
async fn insert_user(
    conn: &mut sqlx::AnyConnection,
    email: &str,
    role: Role,
    password_hash: &str,
    now: i64,
) -> Result<User, AccountError> {
    let id = queries::insert_user(conn, email, role, password_hash, now)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                AccountError::EmailTaken
            } else {
                e.into()
            }
        })?;
    queries::find_user(conn, id)
        .await?
        .ok_or(AccountError::NotFound)
}

#[derive(Clone)]
pub struct Accounts {
    store: Store,
}

impl Accounts {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    fn parse_email(raw: &str) -> Result<String, AccountError> {
        // Staff accounts may live on a local domain (admin@intranet).
        SubscriberEmail::parse_any_domain(raw)
            .map(|email| email.as_str().to_owned())
            .map_err(|e| AccountError::InvalidEmail(e.to_string()))
    }

    pub async fn admin_exists(&self) -> Result<bool, sqlx::Error> {
        let mut conn = self.store.pool().acquire().await?;
        Ok(queries::count_active_admins(&mut conn).await? > 0)
    }

    /// A one-time link secret for creating the first admin; only its hash is kept.
    pub async fn create_setup_token(&self) -> Result<String, sqlx::Error> {
        let token = random_token();
        let now = now_millis();
        let mut conn = self.store.pool().acquire().await?;
        queries::insert_setup_token(
            &mut conn,
            &token_hash(&token),
            now,
            now + millis(SETUP_LINK_TTL),
        )
        .await?;
        Ok(token)
    }

    pub async fn setup_token_is_valid(&self, token: &str) -> Result<bool, sqlx::Error> {
        let mut conn = self.store.pool().acquire().await?;
        queries::setup_token_is_valid(&mut conn, &token_hash(token), now_millis()).await
    }

    /// Uses the setup link to create the first admin, in one transaction: a
    /// link works once, and only while no admin exists.
    #[tracing::instrument(skip_all)]
    pub async fn create_first_admin(
        &self,
        token: &str,
        email: &str,
        password: NewPassword,
    ) -> Result<User, AccountError> {
        let email = Self::parse_email(email)?;
        let hash = password::hash(password.secret().clone()).await?;
        let now = now_millis();
        let mut tx = self.store.begin_write().await?;
        if queries::count_active_admins(&mut tx).await? > 0
            || !queries::use_setup_token(&mut tx, &token_hash(token), now).await?
        {
            return Err(AccountError::SetupLinkInvalid);
        }
        let user = insert_user(&mut tx, &email, Role::Admin, &hash, now).await?;
        tx.commit().await?;
        tracing::info!(user_id = user.id, "first admin created");
        Ok(user)
    }

    #[tracing::instrument(skip_all, fields(role = %role))]
    pub async fn create_user(
        &self,
        email: &str,
        role: Role,
        password: NewPassword,
    ) -> Result<User, AccountError> {
        let email = Self::parse_email(email)?;
        let hash = password::hash(password.secret().clone()).await?;
        let mut tx = self.store.begin_write().await?;
        let user = insert_user(&mut tx, &email, role, &hash, now_millis()).await?;
        tx.commit().await?;
        Ok(user)
    }

    pub async fn user(&self, id: i64) -> Result<Option<User>, sqlx::Error> {
        let mut conn = self.store.pool().acquire().await?;
        queries::find_user(&mut conn, id).await
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>, sqlx::Error> {
        let mut conn = self.store.pool().acquire().await?;
        queries::find_user_by_email(&mut conn, email.trim()).await
    }

    pub async fn users(&self) -> Result<Vec<User>, sqlx::Error> {
        let mut conn = self.store.pool().acquire().await?;
        queries::list_users(&mut conn).await
    }

    /// Changes one's own password; the current one must be given.
    #[tracing::instrument(skip_all, fields(user_id))]
    pub async fn change_password(
        &self,
        user_id: i64,
        current: SecretString,
        new: NewPassword,
    ) -> Result<(), AccountError> {
        let stored = {
            let mut conn = self.store.pool().acquire().await?;
            queries::password_hash_of(&mut conn, user_id).await?
        };
        if stored.is_none() {
            return Err(AccountError::NotFound);
        }
        if !password::verify(current, stored).await? {
            return Err(AccountError::WrongPassword);
        }
        self.reset_password(user_id, new).await
    }

    /// Sets a password (an admin's reset); all the user's sessions end.
    #[tracing::instrument(skip_all, fields(user_id))]
    pub async fn reset_password(&self, user_id: i64, new: NewPassword) -> Result<(), AccountError> {
        let hash = password::hash(new.secret().clone()).await?;
        let mut tx = self.store.begin_write().await?;
        queries::find_user(&mut tx, user_id)
            .await?
            .ok_or(AccountError::NotFound)?;
        queries::set_password(&mut tx, user_id, &hash, now_millis()).await?;
        queries::delete_sessions_of(&mut tx, user_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Disables or enables an account; never the last active admin. Disabling
    /// ends the account's sessions and revokes its API tokens for good
    /// (enabling it again brings neither back).
    #[tracing::instrument(skip_all, fields(user_id))]
    pub async fn set_disabled(&self, user_id: i64, disabled: bool) -> Result<(), AccountError> {
        let now = now_millis();
        let mut tx = self.store.begin_write().await?;
        // Locked before reading the account: a concurrent disable of another
        // admin must finish first, so this one counts what it left.
        let active_admins = queries::lock_active_admins(&mut tx, self.store.dialect()).await?;
        let user = queries::find_user(&mut tx, user_id)
            .await?
            .ok_or(AccountError::NotFound)?;
        if disabled && user.is_admin() && !user.disabled && active_admins <= 1 {
            return Err(AccountError::LastAdmin);
        }
        queries::set_disabled(&mut tx, user_id, disabled.then_some(now), now).await?;
        if disabled {
            queries::delete_sessions_of(&mut tx, user_id).await?;
            let revoked = queries::revoke_api_tokens_of(&mut tx, user_id, now).await?;
            tracing::info!(revoked_tokens = revoked, "account disabled");
        }
        tx.commit().await?;
        Ok(())
    }

    /// Removes an account; never the last active admin. Its sessions end and
    /// its API tokens are revoked (the tokens page keeps who made them).
    #[tracing::instrument(skip_all, fields(user_id))]
    pub async fn remove(&self, user_id: i64) -> Result<(), AccountError> {
        let now = now_millis();
        let mut tx = self.store.begin_write().await?;
        let active_admins = queries::lock_active_admins(&mut tx, self.store.dialect()).await?;
        let user = queries::find_user(&mut tx, user_id)
            .await?
            .ok_or(AccountError::NotFound)?;
        if user.is_admin() && !user.disabled && active_admins <= 1 {
            return Err(AccountError::LastAdmin);
        }
        let revoked = queries::revoke_api_tokens_of(&mut tx, user_id, now).await?;
        queries::delete_sessions_of(&mut tx, user_id).await?;
        queries::delete_user(&mut tx, user_id).await?;
        tx.commit().await?;
        tracing::info!(revoked_tokens = revoked, "account removed");
        Ok(())
    }
}
