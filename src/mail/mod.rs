//! Outgoing mail: the transport (SMTP, or `.eml` files in the outbox folder when
//! no SMTP server is configured) and the messages Herald writes.

mod confirmation;
mod dkim;
mod erasure;
mod files;
mod headers;
mod list_id;
mod pool;
mod refusal;
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
pub use erasure::ErasureEmail;
pub use headers::{KindHeaders, ListUnsubscribe, ListUnsubscribePost, MailKind, UnsubscribeLinks};
pub use list_id::ListId;
pub use refusal::{Refusal, Stage};
pub use relay_status::RelayStatus;
pub use welcome::WelcomeEmail;

use crate::config::{BaseUrl, Config, Language};
use crate::subscriptions::{SubscriberEmail, SubscriberName};
use files::OutboxDir;
use pool::SmtpPool;
use relay::Relay;
pub use tls::ExtraRoots;

/// Who the mail is from and what the reader is told about the sender.
#[derive(Debug, Clone)]
pub struct MailIdentity {
    pub from: Mailbox,
    pub newsletter_name: String,
    pub postal_address: String,
    /// The public URL: named in the footer, and the base of every link.
    pub site_url: BaseUrl,
    /// Where replies go, when not to `from`.
    pub reply_to: Option<Mailbox>,
    /// The `lang` of the HTML parts and the `Content-Language` of every mail.
    pub language: Language,
}

impl MailIdentity {
    pub fn from_config(config: &Config) -> Self {
        Self {
            from: config.from.clone(),
            newsletter_name: config.newsletter_name.clone(),
            postal_address: config.postal_address.clone(),
            site_url: config.base_url.clone(),
            reply_to: config.reply_to.clone(),
            language: config.language.clone(),
        }
    }

    /// A message from us to `to`, with a fresh Message-ID and the headers of
    /// its kind; `unsubscribe` for a mail from the list (the welcome).
    pub fn message_to(
        &self,
        to: Mailbox,
        kind: MailKind,
        unsubscribe: Option<UnsubscribeLinks<'_>>,
    ) -> MessageBuilder {
        self.message_to_with_id(to, None, kind, unsubscribe)
    }

    /// As `message_to`, with `message_id` (`<…@domain>`) when the caller
    /// made one that names the mail to bounce intake; a random one without.
    pub fn message_to_with_id(
        &self,
        to: Mailbox,
        message_id: Option<String>,
        kind: MailKind,
        unsubscribe: Option<UnsubscribeLinks<'_>>,
    ) -> MessageBuilder {
        let domain = self.sender_domain();
        let message_id = message_id.unwrap_or_else(|| {
            format!(
                "<{}@{domain}>",
                crate::config::secret_hex(&rand::random::<[u8; 16]>())
            )
        });
        let headers = KindHeaders::new(self, &domain, kind);
        self.message_with(to, message_id, &headers, unsubscribe)
    }

    /// A message from us to `to` with the given Message-ID (`<…@domain>`)
    /// and the headers of its kind, made once for many messages.
    pub fn message_with(
        &self,
        to: Mailbox,
        message_id: String,
        headers: &KindHeaders,
        unsubscribe: Option<UnsubscribeLinks<'_>>,
    ) -> MessageBuilder {
        let mut message = Message::builder()
            .from(ascii_domain_mailbox(self.from.clone()))
            .to(ascii_domain_mailbox(to))
            .message_id(Some(message_id));
        if let Some(reply_to) = &self.reply_to {
            message = message.reply_to(reply_to.clone());
        }
        headers.add_to(message, unsubscribe)
    }

    /// The From address's domain in ASCII: the right side of every
    /// Message-ID (never this machine's host name) and the sender of
    /// `List-Id` and `Feedback-ID`.
    pub fn sender_domain(&self) -> String {
        let domain = self.from.email.domain();
        if domain.is_ascii() {
            domain.to_ascii_lowercase()
        } else {
            idna::domain_to_ascii(domain).unwrap_or_else(|_| "localhost".to_owned())
        }
    }
}

/// The mailbox with its domain as punycode (the A-label), so the header and
/// the envelope stay ASCII and need no SMTPUTF8 for an international domain.
/// A non-ASCII local part has no ASCII form and is left as it is.
pub(crate) fn ascii_domain_mailbox(mailbox: Mailbox) -> Mailbox {
    let domain = mailbox.email.domain();
    if domain.is_ascii() {
        return mailbox;
    }
    let Ok(ascii) = idna::domain_to_ascii(domain) else {
        return mailbox;
    };
    match lettre::Address::new(mailbox.email.user(), ascii) {
        Ok(email) => Mailbox::new(mailbox.name, email),
        Err(_) => mailbox,
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
    /// The server refused for good (5xx) outside a message's transaction
    /// (a greeting, EHLO or AUTH refused): retrying cannot help.
    #[error("permanent failure: {0}")]
    Permanent(String),
    /// The relay refused this message for good (5xx) at MAIL FROM, RCPT TO
    /// or DATA: retrying cannot help, and the reply says why.
    #[error("permanent failure: {0}")]
    Refused(Refusal),
    /// The relay lacks an extension this message needs (SMTPUTF8 for a
    /// non-ASCII address): no attempt can succeed until the relay changes,
    /// and the reader is not at fault, so it must not count as a bounce.
    #[error("the relay cannot take this message: {0}")]
    Unsupported(String),
}

impl SendError {
    /// The same failure, said to be about `what`.
    fn about(self, what: &str) -> Self {
        match self {
            Self::Transient(text) => Self::Transient(format!("{what}: {text}")),
            Self::Permanent(text) => Self::Permanent(format!("{what}: {text}")),
            Self::Unsupported(text) => Self::Unsupported(format!("{what}: {text}")),
            // The relay's own words about this message.
            Self::Refused(refusal) => Self::Refused(refusal),
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
        self.signed_bytes(message.formatted()).await
    }

    /// [`Mailer::signed`] for a message already formatted.
    pub async fn signed_bytes(&self, message: Vec<u8>) -> Result<Vec<u8>, DkimSignError> {
        let Some(signer) = &self.dkim else {
            return Ok(message);
        };
        let signer = Arc::clone(signer);
        match tokio::task::spawn_blocking(move || signer.sign(&message)).await {
            Ok(signed) => signed,
            Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
            Err(_) => Err(DkimSignError::Interrupted),
        }
    }

    /// Signs (when DKIM is configured) and sends.
    pub async fn send(&self, message: &Message) -> Result<String, SendError> {
        self.send_with_envelope(message.envelope(), message).await
    }

    /// Signs (when DKIM is configured) and sends with `envelope` instead of
    /// the message's own: a VERP sender (src/bounces/verp.rs).
    #[tracing::instrument(name = "mail_send", skip_all)]
    pub async fn send_with_envelope(
        &self,
        envelope: &Envelope,
        message: &Message,
    ) -> Result<String, SendError> {
        let signed = self
            .signed(message.clone())
            .await
            .map_err(|error| SendError::Permanent(error.to_string()))?;
        self.send_raw(envelope, &signed).await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_international_domain_becomes_its_a_label_and_the_rest_stays() {
        let mailbox: Mailbox = "José <jose@bücher.example>".parse().expect("a mailbox");
        let ascii = ascii_domain_mailbox(mailbox);
        assert_eq!(ascii.email.to_string(), "jose@xn--bcher-kva.example");
        assert_eq!(ascii.name.as_deref(), Some("José"));
        let local: Mailbox = "renée@example.com".parse().expect("a mailbox");
        assert_eq!(
            ascii_domain_mailbox(local).email.to_string(),
            "renée@example.com"
        );
    }
}
