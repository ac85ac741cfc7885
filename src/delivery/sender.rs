//! The background sender: claims due mail from the outbox, sends it with
//! bounded concurrency and rate, and records each outcome.

use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{watch, Notify};

use super::outbox::{self, ClaimedMail, MailKind};
use crate::mail::{ConfirmationEmail, MailIdentity, Mailer, SendError, WelcomeEmail};
use crate::store::{millis, now_millis, Store};
use crate::subscriptions::{
    SubscriberEmail, SubscriberName, SubscriberStatus, Subscriptions, TokenSeed,
};
use crate::telemetry;

/// How long a claimed mail stays ours; after that another sender may take it.
const CLAIM_LEASE: Duration = Duration::from_secs(60);
const BATCH_SIZE: i64 = 64;
/// Upper bound on idle sleep, so mail queued by another process is picked up.
const IDLE_POLL: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub min_delay: Duration,
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// Exponential backoff with ±20 % jitter, so retries after an outage spread out.
    fn delay_after(&self, attempts: i64) -> Duration {
        let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        let base = self
            .min_delay
            .saturating_mul(2u32.saturating_pow(exponent))
            .min(self.max_delay);
        base.mul_f64(rand::random_range(0.8..1.2))
    }
}

enum Outcome {
    Sent,
    Retry(String),
    Failed(String),
}

/// How the sender writes and paces mail.
#[derive(Debug, Clone)]
pub struct SenderSettings {
    pub identity: MailIdentity,
    pub retry: RetryPolicy,
    pub concurrency: NonZeroUsize,
    /// Messages per second at most; `None` for no limit.
    pub rate: Option<NonZeroU32>,
}

pub struct OutboxSender {
    store: Store,
    subscriptions: Subscriptions,
    mailer: Arc<Mailer>,
    settings: SenderSettings,
    rate: Option<DefaultDirectRateLimiter>,
    ready: Arc<Notify>,
}

impl OutboxSender {
    pub fn new(
        store: Store,
        subscriptions: Subscriptions,
        mailer: Arc<Mailer>,
        settings: SenderSettings,
        ready: Arc<Notify>,
    ) -> Self {
        let rate = settings
            .rate
            .map(|per_second| RateLimiter::direct(Quota::per_second(per_second)));
        Self {
            store,
            subscriptions,
            mailer,
            settings,
            rate,
            ready,
        }
    }

    /// Sends until `shutdown` turns true; mail in flight is finished first.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(mailer = %self.mailer.describe(), "outbox sender started");
        while !*shutdown.borrow() {
            let idle_for = match self.send_due_batch().await {
                Ok(0) => self.time_until_next_due().await,
                Ok(_) => continue,
                Err(error) => {
                    tracing::error!(%error, "outbox sender cannot read the queue");
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                () = self.ready.notified() => {}
                () = tokio::time::sleep(idle_for) => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!("outbox sender stopped");
    }

    async fn time_until_next_due(&self) -> Duration {
        match outbox::next_due_at(self.store.pool()).await {
            Ok(Some(due)) => {
                let wait = u64::try_from(due - now_millis()).unwrap_or(0);
                Duration::from_millis(wait).clamp(Duration::from_millis(100), IDLE_POLL)
            }
            _ => IDLE_POLL,
        }
    }

    async fn send_due_batch(&self) -> Result<usize, sqlx::Error> {
        let claimed = outbox::claim_due(
            self.store.pool(),
            now_millis(),
            millis(CLAIM_LEASE),
            BATCH_SIZE,
        )
        .await?;
        let count = claimed.len();
        futures_util::stream::iter(claimed)
            .for_each_concurrent(self.settings.concurrency.get(), |mail| self.deliver(mail))
            .await;
        Ok(count)
    }

    #[tracing::instrument(skip_all, fields(outbox_id = mail.id, attempt = mail.attempts))]
    async fn deliver(&self, mail: ClaimedMail) {
        let outcome = match self.attempt(&mail).await {
            Ok(()) => Outcome::Sent,
            Err(AttemptError::Send(SendError::Transient(why))) => Outcome::Retry(why),
            Err(AttemptError::Send(SendError::Permanent(why))) => Outcome::Failed(why),
            Err(AttemptError::Undeliverable(why)) => Outcome::Failed(why),
            Err(AttemptError::Store(error)) => Outcome::Retry(format!("database error: {error}")),
        };
        let now = now_millis();
        let kind = MailKind::parse(&mail.kind).map_or("unknown", MailKind::as_str);
        match &outcome {
            Outcome::Sent => metrics::counter!(telemetry::MESSAGES_SENT, "kind" => kind),
            Outcome::Retry(_) if now < mail.expires_at => {
                metrics::counter!(telemetry::MESSAGES_RETRIED, "kind" => kind)
            }
            Outcome::Retry(_) | Outcome::Failed(_) => {
                metrics::counter!(telemetry::MESSAGES_FAILED, "kind" => kind)
            }
        }
        .increment(1);
        let recorded = match outcome {
            Outcome::Sent => {
                tracing::info!("mail sent");
                outbox::mark_sent(self.store.pool(), mail.id, now).await
            }
            Outcome::Retry(why) if now < mail.expires_at => {
                let delay = self.settings.retry.delay_after(mail.attempts);
                tracing::warn!(error = %why, retry_in = ?delay, "mail not sent, will retry");
                outbox::mark_retry(self.store.pool(), mail.id, now + millis(delay), &why).await
            }
            Outcome::Retry(why) => {
                tracing::error!(error = %why, "mail not sent before it expired; giving up");
                let why = format!("gave up, expired before it could be sent: {why}");
                outbox::mark_failed(self.store.pool(), mail.id, now, &why).await
            }
            Outcome::Failed(why) => {
                tracing::error!(error = %why, "mail refused for good");
                outbox::mark_failed(self.store.pool(), mail.id, now, &why).await
            }
        };
        if let Err(error) = recorded {
            // The claim lapses and the mail is tried again: at worst a duplicate, never a loss.
            tracing::error!(%error, "cannot record the outcome of a mail");
        }
    }

    async fn attempt(&self, mail: &ClaimedMail) -> Result<(), AttemptError> {
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
                let confirm_url = self
                    .settings
                    .identity
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
                .build(&self.settings.identity)
            }
            MailKind::Welcome => {
                let token = self.subscriptions.unsubscribe_token(subscriber.id);
                let unsubscribe_url = self
                    .settings
                    .identity
                    .site_url
                    .join(&format!("/unsubscribe?token={}", token.as_str()));
                WelcomeEmail {
                    to: &email,
                    name: name.as_ref(),
                    unsubscribe_url: &unsubscribe_url,
                }
                .build(&self.settings.identity)
            }
        }
        .map_err(|e| AttemptError::Undeliverable(e.to_string()))?;
        if let Some(rate) = &self.rate {
            rate.until_ready().await;
        }
        let started = std::time::Instant::now();
        self.mailer.send(&message).await?;
        metrics::histogram!(telemetry::SEND_DURATION, "kind" => kind.as_str())
            .record(started.elapsed().as_secs_f64());
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
enum AttemptError {
    #[error(transparent)]
    Send(#[from] SendError),
    #[error("{0}")]
    Undeliverable(String),
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stops_at_the_ceiling() {
        let policy = RetryPolicy {
            min_delay: Duration::from_secs(5),
            max_delay: Duration::from_secs(900),
        };
        let first = policy.delay_after(1);
        assert!(first >= Duration::from_secs(4) && first <= Duration::from_secs(6));
        let fourth = policy.delay_after(4);
        assert!(fourth >= Duration::from_secs(32) && fourth <= Duration::from_secs(48));
        assert!(policy.delay_after(40) <= Duration::from_secs(1080));
    }
}
