//! Outgoing mail: the transport (SMTP, or `.eml` files in the outbox folder when
//! no SMTP server is configured) and the messages Herald writes.

mod confirmation;
mod headers;
mod welcome;

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::{Mailbox, MessageBuilder, MultiPart};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};

pub use confirmation::ConfirmationEmail;
pub use headers::{ListUnsubscribe, ListUnsubscribePost};
pub use welcome::WelcomeEmail;

use crate::config::BaseUrl;
use crate::subscriptions::{SubscriberEmail, SubscriberName};

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
    #[error("HERALD_OUTBOX_DIR: cannot create {path}: {source}")]
    OutboxDir {
        path: String,
        source: std::io::Error,
    },
}

/// How a send went, as far as retrying is concerned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Try again later: 4xx replies, connection and I/O errors.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// The server refused for good (5xx): retrying cannot help.
    #[error("permanent failure: {0}")]
    Permanent(String),
}

pub enum Mailer {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        server: String,
    },
    Files {
        transport: AsyncFileTransport<Tokio1Executor>,
        dir: PathBuf,
    },
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Mailer {
    /// SMTP when `smtp_url` is set, else `.eml` files in `outbox_dir` (created if needed).
    pub fn from_config(
        smtp_url: Option<&SecretString>,
        outbox_dir: &Path,
        max_connections: usize,
    ) -> Result<Self, MailerError> {
        match smtp_url {
            Some(url) => {
                let url = url.expose_secret();
                let server = url::Url::parse(url)
                    .ok()
                    .map(|u| {
                        format!(
                            "{}://{}:{}",
                            u.scheme(),
                            u.host_str().unwrap_or(""),
                            u.port().map_or_else(|| "default".into(), |p| p.to_string())
                        )
                    })
                    .unwrap_or_default();
                let pool = PoolConfig::new()
                    .max_size(u32::try_from(max_connections).unwrap_or(u32::MAX))
                    .idle_timeout(Duration::from_secs(30));
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| MailerError::SmtpUrl(e.to_string()))?
                    .timeout(Some(Duration::from_secs(30)))
                    .pool_config(pool)
                    .build();
                Ok(Self::Smtp { transport, server })
            }
            None => {
                std::fs::create_dir_all(outbox_dir).map_err(|source| MailerError::OutboxDir {
                    path: outbox_dir.display().to_string(),
                    source,
                })?;
                Ok(Self::Files {
                    transport: AsyncFileTransport::new(outbox_dir),
                    dir: outbox_dir.to_path_buf(),
                })
            }
        }
    }

    /// Where mail goes, without credentials, for the start-up message.
    pub fn describe(&self) -> String {
        match self {
            Self::Smtp { server, .. } => format!("SMTP server {server}"),
            Self::Files { dir, .. } => format!(".eml files in {}", dir.display()),
        }
    }

    #[tracing::instrument(name = "mail_send", skip_all)]
    pub async fn send(&self, message: &Message) -> Result<String, SendError> {
        self.send_raw(message.envelope(), &message.formatted())
            .await
    }

    /// Sends a message already formatted as bytes; on success, the server's
    /// reply (or where the file went).
    pub async fn send_raw(
        &self,
        envelope: &lettre::address::Envelope,
        message: &[u8],
    ) -> Result<String, SendError> {
        match self {
            Self::Smtp { transport, .. } => transport
                .send_raw(envelope, message)
                .await
                .map(|response| {
                    format!(
                        "{} {}",
                        response.code(),
                        response.message().collect::<Vec<_>>().join(" ")
                    )
                })
                .map_err(|e| {
                    if e.is_permanent() {
                        SendError::Permanent(e.to_string())
                    } else {
                        SendError::Transient(e.to_string())
                    }
                }),
            Self::Files { transport, .. } => transport
                .send_raw(envelope, message)
                .await
                .map(|id| format!("written as {id}.eml"))
                .map_err(|e| SendError::Transient(e.to_string())),
        }
    }
}
