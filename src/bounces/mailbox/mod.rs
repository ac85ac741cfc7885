//! The bounce mailbox (`HERALD_BOUNCE_MAILBOX`): the worker logs in over
//! TLS, hands every message in the folder to the [`Intake`], moves each one
//! it took to `Herald/Handled`, then waits in IDLE (or polls) for more. A
//! broken connection or a refused login is logged and retried with backoff;
//! the intake's record of handled reports keeps any message from counting
//! twice, across restarts and across workers reading the same mailbox.

mod connection;
mod session;

use std::convert::Infallible;
use std::path::Path;
use std::time::Duration;

use tokio::sync::watch;
use tokio_rustls::rustls::pki_types::ServerName;

use super::Intake;
use crate::config::MailboxUrl;
use crate::mail::ExtraRoots;
pub use connection::MailboxError;
use connection::Tls;
pub use session::HANDLED_KEYWORD;

/// The first wait after a failure; doubled on each failure in a row.
const FIRST_RETRY: Duration = Duration::from_secs(2);
/// The longest wait between attempts: a mailbox whose password was fixed
/// is read again within minutes.
const LAST_RETRY: Duration = Duration::from_secs(300);
/// Servers may end an IDLE after 30 minutes of silence (RFC 2177): renewed
/// well before.
const IDLE_RENEWAL: Duration = Duration::from_secs(25 * 60);

/// A setting the mailbox reader cannot start with.
#[derive(Debug, thiserror::Error)]
pub enum MailboxSetupError {
    #[error("HERALD_BOUNCE_MAILBOX_CA_FILE: {path} {problem}")]
    CaFile { path: String, problem: String },
    #[error("HERALD_BOUNCE_MAILBOX: {0}")]
    Url(String),
}

pub struct MailboxReader {
    url: MailboxUrl,
    tls: Tls,
    intake: Intake,
    poll_interval: Duration,
}

impl MailboxReader {
    pub fn new(
        url: MailboxUrl,
        ca_file: Option<&Path>,
        intake: Intake,
        poll_interval: Duration,
    ) -> Result<Self, MailboxSetupError> {
        let roots = match ca_file {
            Some(path) => ExtraRoots::load(path).map_err(|problem| MailboxSetupError::CaFile {
                path: path.display().to_string(),
                problem,
            })?,
            None => ExtraRoots::default(),
        };
        let connector = roots.connector().map_err(MailboxSetupError::Url)?;
        let server_name = ServerName::try_from(url.host.clone()).map_err(|_| {
            MailboxSetupError::Url("the host is neither a DNS name nor an IP address".into())
        })?;
        Ok(Self {
            url,
            tls: Tls {
                connector,
                server_name,
            },
            intake,
            poll_interval,
        })
    }

    /// Reads the mailbox until `stop` turns true; never gives up before.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut retry = FIRST_RETRY;
        loop {
            let ended = tokio::select! {
                ended = self.read(&mut retry) => ended,
                () = stop_requested(&mut stop) => return,
            };
            let Err(error) = ended;
            tracing::warn!(
                mailbox = %self.url,
                %error,
                retry_in = ?retry,
                "bounce mailbox: cannot read it; trying again"
            );
            tokio::select! {
                () = tokio::time::sleep(retry) => {}
                () = stop_requested(&mut stop) => return,
            }
            retry = (retry * 2).min(LAST_RETRY);
        }
    }

    /// One session, from login until it breaks. A session that got as far
    /// as reading the folder resets the backoff.
    async fn read(&self, retry: &mut Duration) -> Result<Infallible, MailboxError> {
        let mut session = connection::open(&self.url, &self.tls).await?;
        let capabilities = connection::within(session.capabilities()).await??;
        let disposal = session::prepare_disposal(&mut session, &capabilities).await?;
        let offers_idle = capabilities.has_str("IDLE");
        connection::within(session.select(&self.url.folder))
            .await?
            .map_err(|source| MailboxError::Folder {
                folder: self.url.folder.clone(),
                source,
            })?;
        tracing::info!(
            mailbox = %self.url,
            waiting = if offers_idle { "IDLE" } else { "polling" },
            handled = %disposal.describe(),
            "bounce mailbox: reading"
        );
        loop {
            let drained = session::drain(&mut session, &self.intake, &disposal).await?;
            *retry = FIRST_RETRY;
            if offers_idle && !drained.deferred {
                session = session::idle(session, IDLE_RENEWAL).await?;
            } else {
                tokio::time::sleep(self.poll_interval).await;
            }
        }
    }
}

async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    // A dropped sender is a stop too.
    let _ = stop.wait_for(|stopped| *stopped).await;
}
