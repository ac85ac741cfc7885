//! Mail from the signup outbox (confirmations, welcomes), sent by the same
//! workers as issue copies and ahead of them.

use std::time::Duration;

use super::Engine;
use crate::delivery::outbox::{self, ClaimedMail, MailKind};
use crate::mail::{ConfirmationEmail, SendError, WelcomeEmail};
use crate::store::{millis, now_millis};
use crate::subscriptions::{SubscriberEmail, SubscriberName, SubscriberStatus, TokenSeed};
use crate::telemetry;

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
            Err(AttemptError::Send(SendError::Permanent(why))) => MailOutcome::Failed(why),
            Err(AttemptError::Undeliverable(why)) => MailOutcome::Failed(why),
            Err(AttemptError::Store(error)) => {
                MailOutcome::Retry(format!("database error: {error}"))
            }
            Err(error @ AttemptError::Stopping) => MailOutcome::Retry(error.to_string()),
        };
        let now = now_millis();
        let kind = MailKind::parse(&mail.kind).map_or("unknown", MailKind::as_str);
        let pool = self.store.pool();
        let recorded = match outcome {
            MailOutcome::Sent => {
                metrics::counter!(telemetry::MESSAGES_SENT, "kind" => kind).increment(1);
                tracing::info!("mail sent");
                outbox::mark_sent(pool, mail.id, now).await
            }
            MailOutcome::Released => outbox::release(pool, mail.id, now).await,
            MailOutcome::Retry(why) if now < mail.expires_at => {
                metrics::counter!(telemetry::MESSAGES_RETRIED, "kind" => kind).increment(1);
                let delay = self.settings.retry.delay_after(mail.attempts);
                tracing::warn!(error = %why, retry_in = ?delay, "mail not sent, will retry");
                outbox::mark_retry(pool, mail.id, now + millis(delay), &why).await
            }
            MailOutcome::Retry(why) => {
                metrics::counter!(telemetry::MESSAGES_FAILED, "kind" => kind).increment(1);
                tracing::error!(error = %why, "mail not sent before it expired; giving up");
                let why = format!("gave up, expired before it could be sent: {why}");
                outbox::mark_failed(pool, mail.id, now, &why).await
            }
            MailOutcome::Failed(why) => {
                metrics::counter!(telemetry::MESSAGES_FAILED, "kind" => kind).increment(1);
                tracing::error!(error = %why, "mail refused for good");
                outbox::mark_failed(pool, mail.id, now, &why).await
            }
        };
        if let Err(error) = recorded {
            // The claim lapses and the mail is tried again: at worst a duplicate, never a loss.
            tracing::error!(%error, "cannot record the outcome of a mail");
        }
    }

    async fn attempt_mail(&self, mail: &ClaimedMail) -> Result<(), AttemptError> {
        let kind = MailKind::parse(&mail.kind).ok_or_else(|| {
            AttemptError::Undeliverable(format!("unknown mail kind {:?}", mail.kind))
        })?;
        let subscriber = self
            .subscriptions
            .subscriber(mail.subscriber_id)
            .await?
            .ok_or_else(|| AttemptError::Undeliverable("subscriber was deleted".into()))?;
        let wanted_status = match kind {
            MailKind::Confirmation => SubscriberStatus::Pending,
            MailKind::Welcome => SubscriberStatus::Confirmed,
        };
        if subscriber.status != wanted_status {
            return Err(AttemptError::Undeliverable(format!(
                "subscriber is {} now; the {} mail no longer applies",
                subscriber.status,
                kind.as_str()
            )));
        }
        let email = SubscriberEmail::parse(&subscriber.email)
            .map_err(|e| AttemptError::Undeliverable(format!("stored address is invalid: {e}")))?;
        let name = subscriber
            .name
            .as_deref()
            .and_then(|n| SubscriberName::parse(n).ok().flatten());
        let identity = &self.settings.identity;
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
                    confirm_url: &confirm_url,
                    expires_in: Duration::from_millis(
                        u64::try_from(mail.expires_at - now_millis()).unwrap_or(0),
                    ),
                }
                .build(identity)
            }
            MailKind::Welcome => {
                let unsubscribe_url = self.unsubscribe_url(subscriber.id);
                WelcomeEmail {
                    to: &email,
                    name: name.as_ref(),
                    unsubscribe_url: &unsubscribe_url,
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
        self.mailer.send(&message).await?;
        metrics::histogram!(telemetry::SEND_DURATION, "kind" => kind.as_str())
            .record(started.elapsed().as_secs_f64());
        Ok(())
    }
}
