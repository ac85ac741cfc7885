//! Password hashing with argon2id (OWASP parameters: 19 MiB, 2 passes, 1 lane),
//! off the async runtime: one hash takes tens of milliseconds of CPU.
//!
//! Memory is bounded, whatever the load. Hashes run on one dedicated thread
//! per core, each reusing one block buffer for every hash it computes, and a
//! request waits for a free thread for at most `QUEUE_WAIT`, then gives up with
//! `HashError::Busy` (the login page answers 503 with Retry-After). Before,
//! every hash allocated its own 19 MiB on the blocking pool: 150 concurrent
//! sign-ins took the server from 19 MB to 781 MB, and even one hash at a time
//! grew the heap by most of 19 MiB per thread the blocking pool had used.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("cannot hash the password: {0}")]
    Hash(String),
    #[error("the password hashing threads are not running: {0}")]
    Stopped(String),
    #[error("Too many sign-ins at once. Try again in a few seconds.")]
    Busy,
}

/// How long a hash waits for a free hashing thread before the request is turned away.
pub const QUEUE_WAIT: Duration = Duration::from_secs(3);

fn params() -> Params {
    Params::new(19 * 1024, 2, 1, None).expect("OWASP argon2id parameters are valid")
}

/// Work for a hashing thread, given that thread's block buffer.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// The hashing threads: a queue they take jobs from, and one permit per
/// thread, so no job waits in the queue behind a busy thread.
struct Pool {
    jobs: mpsc::Sender<Job>,
    free: Arc<Semaphore>,
}

fn pool() -> Result<&'static Pool, HashError> {
    static POOL: OnceLock<Result<Pool, String>> = OnceLock::new();
    POOL.get_or_init(start_pool)
        .as_ref()
        .map_err(|e| HashError::Stopped(e.clone()))
}

fn start_pool() -> Result<Pool, String> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let (jobs, queue) = mpsc::channel::<Job>();
    let queue = Arc::new(Mutex::new(queue));
    for n in 0..threads {
        let queue = queue.clone();
        std::thread::Builder::new()
            .name(format!("password-hash-{n}"))
            .spawn(move || {
                let mut memory = Vec::new();
                loop {
                    let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
                    let Ok(job) = job else { return };
                    // A panicking job loses its answer (the caller sees
                    // `Stopped`), not the thread.
                    let _ = std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut memory)));
                }
            })
            .map_err(|e| format!("cannot start a hashing thread: {e}"))?;
    }
    Ok(Pool {
        jobs,
        free: Arc::new(Semaphore::new(threads)),
    })
}

/// Runs `work` on a hashing thread once one is free, waiting at most `QUEUE_WAIT`.
async fn on_hashing_thread<T: Send + 'static>(
    work: impl FnOnce(&mut Vec<Block>) -> Result<T, HashError> + Send + 'static,
) -> Result<T, HashError> {
    let pool = pool()?;
    let permit: OwnedSemaphorePermit =
        tokio::time::timeout(QUEUE_WAIT, pool.free.clone().acquire_owned())
            .await
            .map_err(|_| HashError::Busy)?
            .map_err(|_| HashError::Busy)?;
    let (answer, answered) = oneshot::channel();
    let job: Job = Box::new(move |memory| {
        let result = work(memory);
        // Free again only once the work is done, even if the caller left.
        drop(permit);
        let _ = answer.send(result);
    });
    pool.jobs
        .send(job)
        .map_err(|_| HashError::Stopped("the job queue is closed".into()))?;
    answered
        .await
        .map_err(|_| HashError::Stopped("a hashing job failed".into()))?
}

/// argon2 into `out`, in `memory` (grown once to the size `params` need).
fn argon2_into(
    memory: &mut Vec<Block>,
    params: Params,
    version: Version,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), HashError> {
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    Argon2::new(Algorithm::Argon2id, version, params)
        .hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
        .map_err(|e| HashError::Hash(e.to_string()))
}

/// The PHC string of a new argon2id hash of `password` with a random salt.
fn hash_in(memory: &mut Vec<Block>, password: &[u8]) -> Result<String, HashError> {
    let failed = |e: argon2::password_hash::Error| HashError::Hash(e.to_string());
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_buffer = [0u8; 64];
    let salt_bytes = salt
        .as_salt()
        .decode_b64(&mut salt_buffer)
        .map_err(failed)?;
    let params = params();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2_into(
        memory,
        params.clone(),
        Version::V0x13,
        password,
        salt_bytes,
        &mut out,
    )?;
    let hash = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(failed)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(failed)?),
    };
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string `stored` (argon2id only).
fn verify_in(memory: &mut Vec<Block>, password: &[u8], stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    if parsed.algorithm != argon2::ARGON2ID_IDENT {
        return false;
    }
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let version = parsed
        .version
        .and_then(|v| Version::try_from(v).ok())
        .unwrap_or(Version::V0x13);
    let mut salt_buffer = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_buffer) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    if argon2_into(memory, params, version, password, salt_bytes, &mut out).is_err() {
        return false;
    }
    // Output compares in constant time.
    Output::new(&out).is_ok_and(|actual| actual == expected)
}

pub async fn hash(password: SecretString) -> Result<String, HashError> {
    on_hashing_thread(move |memory| hash_in(memory, password.expose_secret().as_bytes())).await
}

/// Checks `password` against `stored`; with no stored hash (unknown user) it
/// checks against a fixed dummy hash, so both cases take the same time.
pub async fn verify(password: SecretString, stored: Option<String>) -> Result<bool, HashError> {
    on_hashing_thread(move |memory| {
        let known = stored.is_some();
        let stored = match stored {
            Some(stored) => stored,
            None => dummy_hash(memory)?,
        };
        let matches = verify_in(memory, password.expose_secret().as_bytes(), &stored);
        Ok(known && matches)
    })
    .await
}

fn dummy_hash(memory: &mut Vec<Block>) -> Result<String, HashError> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(dummy) = DUMMY.get() {
        return Ok(dummy.clone());
    }
    let dummy = hash_in(memory, b"no user has this password")?;
    Ok(DUMMY.get_or_init(|| dummy).clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordVerifier;

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
        assert!(!verify(SecretString::from("wrong"), Some(stored.clone()))
            .await
            .expect("verify"));
        assert!(
            !verify(SecretString::from("no user has this password"), None)
                .await
                .expect("verify")
        );
        // The reference implementation agrees with the hash, both ways.
        let parsed = PasswordHash::new(&stored).expect("a PHC string");
        assert!(Argon2::default()
            .verify_password(b"correct horse battery", &parsed)
            .is_ok());
        let reference = {
            use argon2::password_hash::PasswordHasher;
            let salt = SaltString::generate(&mut OsRng);
            Argon2::new(Algorithm::Argon2id, Version::V0x13, params())
                .hash_password(b"made elsewhere", &salt)
                .expect("reference hash")
                .to_string()
        };
        assert!(
            verify(SecretString::from("made elsewhere"), Some(reference))
                .await
                .expect("verify")
        );
    }
}
