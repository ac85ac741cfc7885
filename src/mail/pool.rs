//! Herald's pool of SMTP sessions with the relay.
//!
//! At most `max_connections` sessions are open at once (a caller waits for a
//! free one); an idle session carries the next message; a session is closed
//! with QUIT after `messages_per_connection` messages or [`IDLE_TIMEOUT`]
//! unused, and dropped after a broken exchange. A refused message (a 4xx or
//! 5xx reply) leaves the session usable once RSET clears the transaction.

use std::future::Future;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use tokio::sync::Semaphore;
use tokio::time::{timeout, Instant};

use super::relay::Relay;
use super::relay_status::RelayStatus;
use super::transaction::{reset, transaction, After};
use super::SendError;

/// Opening a session: TCP, TLS, greeting, EHLO, STARTTLS and AUTH together.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// One message from `MAIL FROM` to the reply after the closing dot.
const SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// QUIT, and RSET after a refusal.
pub(super) const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
/// Relays drop silent sessions after a few minutes; leave well before.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
const REAP_INTERVAL: Duration = Duration::from_secs(5);

pub struct SmtpPool {
    shared: Arc<Shared>,
}

struct Shared {
    relay: Relay,
    status: RelayStatus,
    /// One permit per session that may be open. A session is opened, used
    /// and closed only under a permit; an idle one holds none, but one is
    /// opened only when none is idle, so the total never exceeds the permits.
    permits: Semaphore,
    idle: Mutex<Idle>,
    messages_per_connection: u32,
}

#[derive(Default)]
struct Idle {
    /// Most recently used last: it is taken first, so under light load the
    /// others age out.
    sessions: Vec<Session>,
    reaper_running: bool,
}

struct Session {
    connection: AsyncSmtpConnection,
    /// The relay takes MAIL, RCPT and DATA in one write.
    pipelining: bool,
    messages: u32,
    idle_since: Instant,
}

impl SmtpPool {
    pub fn new(relay: Relay, max_connections: usize, messages_per_connection: NonZeroU32) -> Self {
        Self {
            shared: Arc::new(Shared {
                relay,
                status: RelayStatus::new(),
                permits: Semaphore::new(max_connections.clamp(1, Semaphore::MAX_PERMITS)),
                idle: Mutex::new(Idle::default()),
                messages_per_connection: messages_per_connection.get(),
            }),
        }
    }

    pub fn relay_name(&self) -> &str {
        self.shared.relay.name()
    }

    pub fn relay_status(&self) -> &RelayStatus {
        &self.shared.status
    }

    /// Opens a session and keeps it idle for the next message: whether the
    /// relay can be reached now. The relay's status follows.
    pub async fn probe(&self) -> Result<(), SendError> {
        let shared = &self.shared;
        let _permit = shared
            .permits
            .acquire()
            .await
            .map_err(|_| SendError::Transient("the SMTP pool is closed".into()))?;
        let session = shared.open().await?;
        shared.put_back(session).await;
        Ok(())
    }

    /// Sends one message, its content once `ready` is done; on success, the relay's reply.
    pub async fn send(
        &self,
        envelope: &Envelope,
        message: &[u8],
        ready: impl Future<Output = ()>,
    ) -> Result<String, SendError> {
        let mut ready = Some(ready);
        let shared = &self.shared;
        let _permit = shared
            .permits
            .acquire()
            .await
            .map_err(|_| SendError::Transient("the SMTP pool is closed".into()))?;
        loop {
            let (mut session, reused) = match shared.take_idle().await {
                Some(session) => (session, true),
                None => (shared.open().await?, false),
            };
            let outcome = timeout(
                SEND_TIMEOUT,
                transaction(
                    &mut session.connection,
                    session.pipelining,
                    envelope,
                    message,
                    &mut ready,
                ),
            )
            .await;
            match outcome {
                Ok(Ok(reply)) => {
                    session.messages += 1;
                    shared.put_back(session).await;
                    return Ok(reply);
                }
                // Dropping the session closes the socket mid-exchange.
                Err(_) => {
                    return Err(SendError::Transient(format!(
                        "{}: no reply within {}s",
                        shared.relay.name(),
                        SEND_TIMEOUT.as_secs()
                    )))
                }
                Ok(Err(failure)) => match failure.after {
                    After::LostBeforeStart if reused => continue,
                    After::LostBeforeStart | After::Lost => {
                        // The session died under this message: ask the relay
                        // at once whether it still answers, so that an outage
                        // is known (and the copy waits untried, as every copy
                        // does during one) before this copy's outcome is
                        // decided, rather than costing it an attempt.
                        if let Ok(fresh) = shared.open().await {
                            shared.put_back(fresh).await;
                        }
                        return Err(failure.error.about(shared.relay.name()));
                    }
                    After::InStep => {
                        session.messages += 1;
                        if reset(&mut session.connection).await {
                            shared.put_back(session).await;
                        }
                        return Err(failure.error);
                    }
                },
            }
        }
    }
}

impl Shared {
    /// A new session; a temporary failure to open one (refused, no answer,
    /// TLS, a 4xx greeting) marks the relay unreachable, a session opened
    /// marks it reachable.
    async fn open(&self) -> Result<Session, SendError> {
        let opened = timeout(CONNECT_TIMEOUT, self.relay.open())
            .await
            .unwrap_or_else(|_| {
                Err(SendError::Transient(format!(
                    "{}: no session within {}s",
                    self.relay.name(),
                    CONNECT_TIMEOUT.as_secs()
                )))
            });
        let (connection, pipelining) = match opened {
            Ok(opened) => {
                self.status.mark_reachable(self.relay.name());
                opened
            }
            Err(error) => {
                if let SendError::Transient(text) = &error {
                    self.status.mark_unreachable(self.relay.name(), text);
                }
                return Err(error);
            }
        };
        Ok(Session {
            connection,
            pipelining,
            messages: 0,
            idle_since: Instant::now(),
        })
    }

    /// The most recently used idle session; sessions idle too long are closed
    /// on the way (the caller's permit covers them: they were counted).
    async fn take_idle(&self) -> Option<Session> {
        let mut expired = Vec::new();
        let session = {
            let mut idle = lock(&self.idle);
            loop {
                match idle.sessions.pop() {
                    Some(session) if session.idle_since.elapsed() >= IDLE_TIMEOUT => {
                        expired.push(session);
                    }
                    other => break other,
                }
            }
        };
        for session in expired {
            quit(session).await;
        }
        session
    }

    async fn put_back(self: &Arc<Self>, mut session: Session) {
        if session.messages >= self.messages_per_connection || session.connection.has_broken() {
            quit(session).await;
            return;
        }
        session.idle_since = Instant::now();
        let mut idle = lock(&self.idle);
        idle.sessions.push(session);
        if !idle.reaper_running {
            idle.reaper_running = true;
            tokio::spawn(reap(Arc::downgrade(self)));
        }
    }
}

/// Closes sessions left idle for [`IDLE_TIMEOUT`]; ends when none is idle
/// (the next parked session starts another) or when the pool is gone.
async fn reap(pool: Weak<Shared>) {
    loop {
        tokio::time::sleep(REAP_INTERVAL).await;
        let Some(shared) = pool.upgrade() else {
            return;
        };
        // One at a time, each under a permit, so no sender opens a
        // replacement while the old session is still saying QUIT. When every
        // permit is busy, the senders take idle sessions themselves.
        while let Ok(_permit) = shared.permits.try_acquire() {
            let expired = {
                let mut idle = lock(&shared.idle);
                // The oldest first: sessions are parked at the end.
                match idle.sessions.first() {
                    Some(oldest) if oldest.idle_since.elapsed() >= IDLE_TIMEOUT => {
                        Some(idle.sessions.remove(0))
                    }
                    _ => None,
                }
            };
            match expired {
                Some(session) => quit(session).await,
                None => break,
            }
        }
        // Decided under the lock `put_back` takes: a session parked now is
        // either seen here or starts a new reaper.
        let mut idle = lock(&shared.idle);
        if idle.sessions.is_empty() {
            idle.reaper_running = false;
            return;
        }
    }
}

async fn quit(mut session: Session) {
    let _ = timeout(COMMAND_TIMEOUT, session.connection.quit()).await;
}

/// A panic elsewhere must not stop the mail.
fn lock(idle: &Mutex<Idle>) -> MutexGuard<'_, Idle> {
    idle.lock().unwrap_or_else(PoisonError::into_inner)
}
