//! Sign-in: the password check and its throttle.
//!
//! An attempt is counted before its password is hashed, in the write
//! transaction that checks the limit: parallel guesses see each other, so no
//! more than `LOGIN_FAILURE_LIMIT` guesses per account and per client network
//! are ever hashed in a window. A right password takes its reservation back.

use std::time::Duration;

use secrecy::SecretString;

use super::{
    password, queries, Accounts, LoginError, User, LOGIN_FAILURE_LIMIT, LOGIN_FAILURE_WINDOW,
};
use crate::store::{millis, now_millis};

/// Failed sign-ins still allowed before the lock, per key of the throttle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInsLeft {
    /// For the email address typed (an account or not).
    pub address: i64,
    /// For the client's address or network.
    pub client: i64,
}

fn throttle_keys(email: &str, client: &str) -> (String, String) {
    (
        format!("account:{}", email.to_lowercase()),
        format!("client:{client}"),
    )
}

impl Accounts {
    /// Checks a login. Unknown addresses cost the same hashing time as wrong
    /// passwords; 5 attempts in 15 minutes for the account or for `client`
    /// (the caller's address, an IPv6 one cut to its /64) lock further
    /// attempts until the window has passed.
    #[tracing::instrument(skip_all)]
    pub async fn log_in(
        &self,
        email: &str,
        password: SecretString,
        client: &str,
    ) -> Result<User, LoginError> {
        let email = email.trim();
        let (account_key, client_key) = throttle_keys(email, client);
        let reservation = self.reserve_attempt(&[&account_key, &client_key]).await?;
        match self.check_password(email, password).await {
            Ok(Some(user)) => {
                self.take_back(&reservation).await?;
                Ok(user)
            }
            Ok(None) => {
                tracing::info!("login rejected");
                Err(LoginError::Rejected)
            }
            // Never checked: the attempt does not count against anyone.
            Err(error) => {
                self.take_back(&reservation).await?;
                Err(error)
            }
        }
    }

    /// How many more failed sign-ins lock the door, for the address typed
    /// and for `client`. The address is counted whether or not an account
    /// has it, so the answer says nothing about which accounts exist.
    pub async fn sign_ins_left(
        &self,
        email: &str,
        client: &str,
    ) -> Result<SignInsLeft, sqlx::Error> {
        let (account_key, client_key) = throttle_keys(email.trim(), client);
        let since = now_millis() - millis(LOGIN_FAILURE_WINDOW);
        let mut conn = self.store.pool().acquire().await?;
        let (account, _) = queries::login_failures_since(&mut conn, &account_key, since).await?;
        let (client, _) = queries::login_failures_since(&mut conn, &client_key, since).await?;
        Ok(SignInsLeft {
            address: (LOGIN_FAILURE_LIMIT - account).max(0),
            client: (LOGIN_FAILURE_LIMIT - client).max(0),
        })
    }

    /// The account if the password is right and the account enabled.
    async fn check_password(
        &self,
        email: &str,
        password: SecretString,
    ) -> Result<Option<User>, LoginError> {
        let found = {
            let mut conn = self.store.pool().acquire().await?;
            queries::find_login(&mut conn, email).await?
        };
        let (user, stored) = match found {
            Some((user, hash)) => (Some(user), Some(hash)),
            None => (None, None),
        };
        let matches = password::verify(password, stored).await?;
        Ok(user.filter(|user| matches && !user.disabled))
    }

    /// Counts one failure under each key, unless a key is at its limit already.
    pub(super) async fn reserve_attempt(&self, keys: &[&str]) -> Result<Vec<i64>, LoginError> {
        let now = now_millis();
        let since = now - millis(LOGIN_FAILURE_WINDOW);
        let mut tx = self.store.begin_write().await?;
        queries::lock_login_failures(&mut tx, self.store.dialect()).await?;
        for key in keys {
            let (failures, latest) = queries::login_failures_since(&mut tx, key, since).await?;
            if failures >= LOGIN_FAILURE_LIMIT {
                let until = latest.unwrap_or(now) + millis(LOGIN_FAILURE_WINDOW);
                let retry_after = Duration::from_millis(u64::try_from(until - now).unwrap_or(0));
                return Err(LoginError::Throttled { retry_after });
            }
        }
        let mut reservation = Vec::with_capacity(keys.len());
        for key in keys {
            reservation.push(queries::record_login_failure(&mut tx, key, now).await?);
        }
        queries::forget_login_failures(&mut tx, since).await?;
        tx.commit().await?;
        Ok(reservation)
    }

    pub(super) async fn take_back(&self, reservation: &[i64]) -> Result<(), LoginError> {
        let mut tx = self.store.begin_write().await?;
        for id in reservation {
            queries::delete_login_failure(&mut tx, *id).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
