//! Outgoing mail: the transport (SMTP, or `.eml` files in the outbox folder when
//! no SMTP server is configured) and the messages Herald writes.

mod confirmation;
mod dkim;
mod files;
mod headers;
mod pool;
mod relay;
mod relay_status;
mod tls;
mod transaction;
mod welcome;

use std::future::Future;
use std::sync::Arc;

use lettre::address::Envelope;
use lettre::message::{Mailbox, MessageBuilder, MultiPart};
use lettre::Message;
use secrecy::ExposeSecret;

pub use confirmation::ConfirmationEmail;
pub use dkim::{DkimKey, DkimKeyError, DkimSignError, DkimSigner};
pub use headers::{ListUnsubscribe, ListUnsubscribePost};
pub use relay_status::RelayStatus;
pub use welcome::WelcomeEmail;

use crate::config::{BaseUrl, Config};
use crate::subscriptions::{SubscriberEmail, SubscriberName};
use files::OutboxDir;
use pool::SmtpPool;
use relay::Relay;
use tls::ExtraRoots;

/// Who the mail is from and what the reader is told about the sender.
#[derive(Debug, Clone)]
pub struct MailIdentity {
    pub from: Mailbox,
    pub newsletter_name: String,
    pub postal_address: String,
    /// The public URL: named in the footer, and the base of every link.
    pub site_url: BaseUrl,
}

impl MailIdentity {
    /// A message from us to `to`, with a fresh Message-ID and the date.
    pub fn message_to(&self, to: Mailbox) -> MessageBuilder {
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .message_id(None)
    }
}

/// The recipient as a mailbox; both parts were validated, so no header injection is possible.
pub fn recipient(email: &SubscriberEmail, name: Option<&SubscriberName>) -> Mailbox {
    Mailbox::new(name.map(|n| n.as_str().to_owned()), email.to_address())
}

/// A multipart/alternative message: plain text first, HTML preferred by clients that can.
fn two_part(
    message: MessageBuilder,
    text: &impl askama::Template,
    html: &impl askama::Template,
) -> Result<Message, MailBuildError> {
    Ok(message.multipart(MultiPart::alternative_plain_html(
        text.render()?,
        html.render()?,
    ))?)
}

#[derive(Debug, thiserror::Error)]
pub enum MailBuildError {
    #[error("cannot render the mail: {0}")]
    Template(#[from] askama::Error),
    #[error("cannot build the mail: {0}")]
    Message(#[from] lettre::error::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    /// The URL itself is never repeated: it may hold a password.
    #[error("SMTP_URL: cannot be used: {0}")]
    SmtpUrl(String),
    #[error("HERALD_SMTP_CA_FILE: {path} {problem}")]
    SmtpCaFile { path: String, problem: String },
    /// The key itself is never repeated.
    #[error("DKIM_PRIVATE_KEY: {0}")]
    DkimKey(#[from] DkimKeyError),
    #[error("HERALD_OUTBOX_DIR: cannot create {path}: {source}")]
    OutboxDir {
        path: String,
        source: std::io::Error,
    },
}

/// How a send went, as far as retrying is concerned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Try again later: 4xx replies, connection and I/O errors, timeouts.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// The server refused for good (5xx): retrying cannot help.
    #[error("permanent failure: {0}")]
    Permanent(String),
}

impl SendError {
    /// The same failure, said to be about `what`.
    fn about(self, what: &str) -> Self {
        match self {
            Self::Transient(text) => Self::Transient(format!("{what}: {text}")),
            Self::Permanent(text) => Self::Permanent(format!("{what}: {text}")),
        }
    }
}

/// Where mail goes, and the DKIM signature it gets on the way.
pub struct Mailer {
    transport: Transport,
    /// Shared with the blocking threads that sign.
    dkim: Option<Arc<DkimSigner>>,
}

enum Transport {
    Smtp(SmtpPool),
    Files(OutboxDir),
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Mailer {
    /// SMTP when `smtp_url` is set, through a pool of at most
    /// `send_concurrency` sessions; else `.eml` files in `outbox_dir`
    /// (created if needed). Signs with DKIM when `dkim` is set.
    pub fn from_config(config: &Config) -> Result<Self, MailerError> {
        let dkim = config
            .dkim
            .as_ref()
            .map(DkimSigner::new)
            .transpose()?
            .map(Arc::new);
        let transport = match &config.smtp_url {
            Some(url) => {
                let roots = match &config.smtp_ca_file {
                    Some(path) => {
                        ExtraRoots::load(path).map_err(|problem| MailerError::SmtpCaFile {
                            path: path.display().to_string(),
                            problem,
                        })?
                    }
                    None => ExtraRoots::default(),
                };
                let relay =
                    Relay::from_url(url.expose_secret(), &roots).map_err(MailerError::SmtpUrl)?;
                Transport::Smtp(SmtpPool::new(
                    relay,
                    config.send_concurrency.get(),
                    config.smtp_messages_per_connection,
                ))
            }
            None => {
                let dir = &config.outbox_dir;
                Transport::Files(OutboxDir::create(dir).map_err(|source| {
                    MailerError::OutboxDir {
                        path: dir.display().to_string(),
                        source,
                    }
                })?)
            }
        };
        Ok(Self { transport, dkim })
    }

    /// Where mail goes, without credentials, for the start-up message.
    pub fn describe(&self) -> String {
        match &self.transport {
            Transport::Smtp(pool) => format!("SMTP server {}", pool.relay_name()),
            Transport::Files(outbox) => format!(".eml files in {}", outbox.path().display()),
        }
    }

    /// The SMTP relay's reachability; `None` when mail goes to files.
    pub fn relay_status(&self) -> Option<&RelayStatus> {
        match &self.transport {
            Transport::Smtp(pool) => Some(pool.relay_status()),
            Transport::Files(_) => None,
        }
    }

    /// Whether the relay is known to be unreachable right now.
    pub fn relay_is_unreachable(&self) -> bool {
        self.relay_status().is_some_and(RelayStatus::is_unreachable)
    }

    /// Tries to open a session with the relay (kept for the next message);
    /// the relay's status follows. Files are always reachable.
    pub async fn probe_relay(&self) -> Result<(), SendError> {
        match &self.transport {
            Transport::Smtp(pool) => pool.probe().await,
            Transport::Files(_) => Ok(()),
        }
    }

    /// The message as it goes on the wire, with a DKIM signature per key
    /// when DKIM is configured. [`Mailer::send`] does this itself; call it
    /// for a message that goes out through [`Mailer::send_raw`].
    ///
    /// Signing is a private-key operation per key (an RSA-2048 one takes
    /// about 0.6 ms of CPU with ring), so it runs on tokio's blocking threads:
    /// the async workers keep driving SMTP sessions meanwhile.
    pub async fn signed(&self, message: Message) -> Result<Vec<u8>, DkimSignError> {
        let Some(signer) = &self.dkim else {
            return Ok(message.formatted());
        };
        let signer = Arc::clone(signer);
        match tokio::task::spawn_blocking(move || signer.sign(&message.formatted())).await {
            Ok(signed) => signed,
            Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
            Err(_) => Err(DkimSignError::Interrupted),
        }
    }

    /// Signs (when DKIM is configured) and sends.
    #[tracing::instrument(name = "mail_send", skip_all)]
    pub async fn send(&self, message: &Message) -> Result<String, SendError> {
        let envelope = message.envelope().clone();
        let signed = self
            .signed(message.clone())
            .await
            .map_err(|error| SendError::Permanent(error.to_string()))?;
        self.send_raw(&envelope, &signed).await
    }

    /// Sends a message already formatted as bytes, as it is (no signature is
    /// added); on success, the server's reply (or where the file went).
    pub async fn send_raw(&self, envelope: &Envelope, message: &[u8]) -> Result<String, SendError> {
        self.send_raw_when(envelope, message, std::future::ready(()))
            .await
    }

    /// `send_raw`, but the message itself goes out only once `ready` is done;
    /// the envelope (MAIL, RCPT, DATA) goes first. The delivery engine waits
    /// here for the previous copy's outcome to be committed, so that wait
    /// overlaps a round trip with the relay instead of adding to it.
    pub async fn send_raw_when(
        &self,
        envelope: &Envelope,
        message: &[u8],
        ready: impl Future<Output = ()>,
    ) -> Result<String, SendError> {
        match &self.transport {
            Transport::Smtp(pool) => pool.send(envelope, message, ready).await,
            Transport::Files(outbox) => {
                ready.await;
                outbox
                    .write(message)
                    .await
                    .map(|id| format!("written as {id}.eml"))
            }
        }
    }
}
