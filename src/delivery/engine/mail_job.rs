//! Mail from the signup outbox (confirmations, welcomes), sent by the same
//! workers as issue copies and ahead of them.

use std::time::Duration;

use super::mail_recorder::{MailRecord, Written};
use super::Engine;
use crate::bounces::{message_id_for, ReturnTarget};
use crate::delivery::outbox::{ClaimedMail, MailKind};
use crate::mail::{ConfirmationEmail, ErasureEmail, SendError, WelcomeEmail};
use crate::store::{millis, now_millis};
use crate::subscriptions::{
    ErasureToken, SubscriberEmail, SubscriberName, SubscriberStatus, TokenSeed,
};
use crate::telemetry;

/// The longest wait between tries at recording an outcome the database
/// cannot take yet.
const HOLD_RETRY: Duration = Duration::from_secs(1);

/// The row change that records a mail's outcome.
enum MailOutcome {
    Sent,
    /// Not tried (the relay cannot be reached): back in the queue, due at once,
    /// the attempt not counted.
    Released,
    Retry(String),
    Failed(String),
}

#[derive(Debug, thiserror::Error)]
enum AttemptError {
    #[error(transparent)]
    Send(#[from] SendError),
    #[error("{0}")]
    Undeliverable(String),
    #[error(transparent)]
    Store(#[from] sqlx::Error),
    #[error("the process stopped before it could send")]
    Stopping,
    #[error("the mail relay cannot be reached")]
    RelayUnreachable,
}

impl Engine {
    #[tracing::instrument(skip_all, fields(outbox_id = mail.id, attempt = mail.attempts))]
    pub(super) async fn deliver_mail(&self, mail: ClaimedMail) {
        let outcome = match self.attempt_mail(&mail).await {
            Ok(()) => MailOutcome::Sent,
            Err(AttemptError::RelayUnreachable) => MailOutcome::Released,
            Err(AttemptError::Send(SendError::Transient(_)))
                if self.mailer.relay_is_unreachable() =>
            {
                MailOutcome::Released
            }
            Err(AttemptError::Send(SendError::Transient(why))) => MailOutcome::Retry(why),
            Err(AttemptError::Send(SendError::Permanent(why) | SendError::Unsupported(why))) => {
                MailOutcome::Failed(why)
            }
            Err(AttemptError::Send(SendError::Refused(refusal))) => {
                MailOutcome::Failed(refusal.to_string())
            }
            Err(AttemptError::Undeliverable(why)) => MailOutcome::Failed(why),
            Err(AttemptError::Store(error)) => {
                MailOutcome::Retry(format!("database error: {error}"))
            }
            Err(error @ AttemptError::Stopping) => MailOutcome::Retry(error.to_string()),
        };
        let now = now_millis();
        let kind = MailKind::parse(&mail.kind).map_or("unknown", MailKind::as_str);
        let record = match outcome {
            MailOutcome::Sent => {
                metrics::counter!(telemetry::MESSAGES_SENT, "kind" => kind).increment(1);
                tracing::info!("mail sent");
                MailRecord::Sent
            }
            MailOutcome::Released => MailRecord::Released,
            MailOutcome::Retry(why) if now < mail.expires_at => {
                metrics::counter!(telemetry::MESSAGES_RETRIED, "kind" => kind).increment(1);
                let delay = self.settings.retry.delay_after(mail.attempts);
                tracing::warn!(error = %why, retry_in = ?delay, "mail not sent, will retry");
                MailRecord::Retry {
                    at: now + millis(delay),
                    why,
                }
            }
            MailOutcome::Retry(why) => {
                metrics::counter!(telemetry::MESSAGES_FAILED, "kind" => kind).increment(1);
                tracing::error!(error = %why, "mail not sent before it expired; giving up");
                MailRecord::Failed(format!("gave up, expired before it could be sent: {why}"))
            }
            MailOutcome::Failed(why) => {
                metrics::counter!(telemetry::MESSAGES_FAILED, "kind" => kind).increment(1);
                tracing::error!(error = %why, "mail refused for good");
                MailRecord::Failed(why)
            }
        };
        self.record_mail(mail.id, record, now).await;
    }

    /// Writes a mail's outcome. While the database cannot take it (down, or
    /// its disk full) the worker holds it and tries again, sending nothing
    /// else meanwhile: a mail that went out but is not marked sent would go
    /// out again. Other errors give the outcome up to the claim's end: at
    /// worst a duplicate, never a loss.
    async fn record_mail(&self, id: i64, record: MailRecord, now: i64) {
        let mut waits = 0u32;
        loop {
            match self.mail_recorder.record(id, record.clone(), now).await {
                Written::Yes => return,
                Written::Unavailable(error) if !self.is_stopping() => {
                    if waits == 0 {
                        tracing::warn!(%error, "cannot record the outcome of a mail yet; holding it until the database takes it");
                    }
                    waits += 1;
                    tokio::time::sleep(
                        HOLD_RETRY.min(Duration::from_millis(100 * u64::from(waits))),
                    )
                    .await;
                }
                Written::Unavailable(error) | Written::Failed(error) => {
                    tracing::error!(%error, "cannot record the outcome of a mail");
                    return;
                }
            }
        }
    }

    async fn attempt_mail(&self, mail: &ClaimedMail) -> Result<(), AttemptError> {
        let kind = MailKind::parse(&mail.kind).ok_or_else(|| {
            AttemptError::Undeliverable(format!("unknown mail kind {:?}", mail.kind))
        })?;
        let subscriber = mail
            .subscriber
            .as_ref()
            .ok_or_else(|| AttemptError::Undeliverable("subscriber was deleted".into()))?;
        let wanted_status = match kind {
            MailKind::Confirmation => Some(SubscriberStatus::Pending),
            MailKind::Welcome => Some(SubscriberStatus::Confirmed),
            // Whoever is on record may be erased, on the list or not.
            MailKind::Erasure => None,
        };
        if wanted_status.is_some_and(|wanted| subscriber.status != wanted) {
            return Err(AttemptError::Undeliverable(format!(
                "subscriber is {} now; the {} mail no longer applies",
                subscriber.status,
                kind.as_str()
            )));
        }
        let email = SubscriberEmail::parse_any_domain(&subscriber.email)
            .map_err(|e| AttemptError::Undeliverable(format!("stored address is invalid: {e}")))?;
        let name = subscriber
            .name
            .as_deref()
            .and_then(|n| SubscriberName::parse(n).ok().flatten());
        let identity = &self.settings.identity;
        let subscriber_id = mail.subscriber_id;
        let target = match kind {
            MailKind::Confirmation => ReturnTarget::Confirmation { subscriber_id },
            // A bounce of it says what a welcome's would: the address is dead.
            MailKind::Welcome | MailKind::Erasure => ReturnTarget::Welcome { subscriber_id },
        };
        let message_id = message_id_for(&self.key, target, &identity.sender_domain());
        let message = match kind {
            MailKind::Confirmation => {
                let seed = mail
                    .token_seed
                    .clone()
                    .map(TokenSeed::from_stored)
                    .ok_or_else(|| {
                        AttemptError::Undeliverable("the link material is gone".into())
                    })?;
                let token = self.subscriptions.confirmation_token_for(&seed);
                let confirm_url = identity
                    .site_url
                    .join(&format!("/subscriptions/confirm?token={}", token.as_str()));
                ConfirmationEmail {
                    to: &email,
                    name: name.as_ref(),
                    message_id,
                    confirm_url: &confirm_url,
                    expires_in: Duration::from_millis(
                        u64::try_from(mail.expires_at - now_millis()).unwrap_or(0),
                    ),
                }
                .build(identity)
            }
            MailKind::Welcome => {
                let link_key = subscriber.link_key.as_ref().ok_or_else(|| {
                    AttemptError::Undeliverable(
                        "the subscriber has no link key for an unsubscribe link".into(),
                    )
                })?;
                let unsubscribe_url = self.unsubscribe_url(link_key);
                let preferences_url = self.preferences_url(link_key);
                let unsubscribe_mailto = self.unsubscribe_mailto(mail.subscriber_id);
                WelcomeEmail {
                    to: &email,
                    name: name.as_ref(),
                    message_id,
                    unsubscribe_url: &unsubscribe_url,
                    preferences_url: &preferences_url,
                    unsubscribe_mailto: unsubscribe_mailto.as_deref(),
                }
                .build(identity)
            }
            MailKind::Erasure => {
                let link_key = subscriber.link_key.as_ref().ok_or_else(|| {
                    AttemptError::Undeliverable("the subscriber has no link key".into())
                })?;
                // The link expires with the mail: one date for both.
                let token = ErasureToken::new(&self.key, link_key, mail.expires_at);
                let erase_url = identity
                    .site_url
                    .join(&format!("/preferences/erasure?token={}", token.as_str()));
                ErasureEmail {
                    to: &email,
                    name: name.as_ref(),
                    message_id,
                    erase_url: &erase_url,
                }
                .build(identity)
            }
        }
        .map_err(|e| AttemptError::Undeliverable(e.to_string()))?;
        if !self.wait_for_rate().await {
            return Err(AttemptError::Stopping);
        }
        if self.mailer.relay_is_unreachable() {
            return Err(AttemptError::RelayUnreachable);
        }
        let started = std::time::Instant::now();
        let envelope = self.envelope_for(message.envelope(), target);
        self.mailer.send_with_envelope(&envelope, &message).await?;
        metrics::histogram!(telemetry::SEND_DURATION, "kind" => kind.as_str())
            .record(started.elapsed().as_secs_f64());
        Ok(())
    }
}
