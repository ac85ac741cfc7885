//! Password hashing with argon2id (OWASP parameters: 19 MiB, 2 passes, 1 lane),
//! always off the async runtime: one hash takes tens of milliseconds of CPU.
//!
//! At most one hash per core runs at a time. Unbounded, a burst of logins
//! held 19 MiB each at once (150 concurrent sign-ins took the server from 19 MB
//! to 781 MB); the rest wait in line for up to `QUEUE_WAIT`, then give up with
//! `HashError::Busy`, which the login page answers with 503 and Retry-After.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("cannot hash the password: {0}")]
    Hash(String),
    #[error("the hashing task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("Too many sign-ins at once. Try again in a few seconds.")]
    Busy,
}

/// How long a hash waits for a free core before the request is turned away.
pub const QUEUE_WAIT: Duration = Duration::from_secs(3);

/// One permit per core: the bound on concurrent argon2 runs, and so on the
/// memory they hold (19 MiB each).
fn hashing_slots() -> Arc<Semaphore> {
    static SLOTS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    SLOTS
        .get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
            Arc::new(Semaphore::new(cores))
        })
        .clone()
}

/// Runs `work` on the blocking pool once a hashing slot is free. The slot goes
/// with the work, so a request dropped mid-hash (the client left) frees it only
/// when the hash is done.
async fn with_slot<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, HashError> + Send + 'static,
) -> Result<T, HashError> {
    let slot = tokio::time::timeout(QUEUE_WAIT, hashing_slots().acquire_owned())
        .await
        .map_err(|_| HashError::Busy)?
        .map_err(|_| HashError::Busy)?;
    tokio::task::spawn_blocking(move || {
        let result = work();
        drop(slot);
        result
    })
    .await?
}

fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("OWASP argon2id parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub async fn hash(password: SecretString) -> Result<String, HashError> {
    with_slot(move || {
        let salt = SaltString::generate(&mut OsRng);
        hasher()
            .hash_password(password.expose_secret().as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| HashError::Hash(e.to_string()))
    })
    .await
}

/// Checks `password` against `stored`; with no stored hash (unknown user) it
/// checks against a fixed dummy hash, so both cases take the same time.
pub async fn verify(password: SecretString, stored: Option<String>) -> Result<bool, HashError> {
    with_slot(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| dummy_hash().to_owned());
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return Ok(false);
        };
        let matches = hasher()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok();
        Ok(known && matches)
    })
    .await
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        hasher()
            .hash_password(b"no user has this password", &salt)
            .map(|hash| hash.to_string())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_unknown_users_never_match() {
        let stored = hash(SecretString::from("correct horse battery"))
            .await
            .expect("hash");
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify(
            SecretString::from("correct horse battery"),
            Some(stored.clone())
        )
        .await
        .expect("verify"));
        assert!(!verify(SecretString::from("wrong"), Some(stored))
            .await
            .expect("verify"));
        assert!(
            !verify(SecretString::from("no user has this password"), None)
                .await
                .expect("verify")
        );
    }
}
