//! One reader's copy of an issue: checked against pauses and departures at the
//! last moment, built from the prepared issue, sent, and its outcome recorded.

use std::sync::Arc;

use lettre::message::Mailbox;

use super::lease::Lease;
use super::recorder::Committed;
use super::Engine;
use crate::bounces::{classify_reply, BounceClass, ReturnTarget};
use crate::delivery::deliveries::{ClaimedDelivery, Failure, Outcome};
use crate::delivery::message::{Copy, PreparedIssue};
use crate::mail::{DkimSignError, Refusal, SendError, Stage};
use crate::store::{millis, now_millis};
use crate::subscriptions::{LinkKey, SubscriberEmail, SubscriberName};
use crate::telemetry;

const KIND: &str = "issue";

pub(super) struct CopyJob {
    pub issue: Arc<PreparedIssue>,
    pub delivery: ClaimedDelivery,
    /// The claim it came in; renewed while copies of it are held.
    pub lease: Arc<Lease>,
}

impl Engine {
    #[tracing::instrument(skip_all, fields(issue_id = job.issue.issue_id(), delivery_id = job.delivery.id))]
    /// `previous` is the commit of this worker's last outcome: the copy's
    /// content goes out only after it, so at most one copy per worker is ever
    /// sent but not yet recorded. Returns the commit of this copy's outcome.
    pub(super) async fn deliver_copy(
        &self,
        job: CopyJob,
        mut previous: Option<Committed>,
    ) -> Option<Committed> {
        let Some(outcome) = self.attempt_copy(&job, &mut previous).await else {
            // Nothing to hand in: the last outcome is still the one to wait for.
            return previous;
        };
        match &outcome {
            Outcome::Sent { .. } => {
                metrics::counter!(telemetry::MESSAGES_SENT, "kind" => KIND).increment(1);
            }
            Outcome::Retry { error, .. } => {
                tracing::warn!(%error, "copy not sent, will retry");
                metrics::counter!(telemetry::MESSAGES_RETRIED, "kind" => KIND).increment(1);
            }
            Outcome::Failed { error, failure } => {
                tracing::warn!(%error, failure = failure.as_str(), "copy failed");
                metrics::counter!(telemetry::MESSAGES_FAILED, "kind" => KIND).increment(1);
            }
            Outcome::Refused { error, class, .. } => {
                tracing::warn!(%error, class = class.as_str(), "copy refused");
                metrics::counter!(telemetry::MESSAGES_FAILED, "kind" => KIND).increment(1);
            }
            Outcome::Cancelled { .. } | Outcome::Released => {}
        }
        // `previous` is still here when the copy did not go out (it is
        // taken only to send): this outcome's commit then answers for both.
        Some(
            self.recorder
                .submit(
                    job.delivery.id,
                    job.delivery.subscriber_id,
                    outcome,
                    previous,
                )
                .await,
        )
    }

    /// None when the copy must be left to its claim's end.
    async fn attempt_copy(
        &self,
        job: &CopyJob,
        previous: &mut Option<Committed>,
    ) -> Option<Outcome> {
        let delivery = &job.delivery;
        if self.is_stopping() || !self.is_sending(job.issue.issue_id()) {
            return Some(Outcome::Released);
        }
        // Near the claim's end another worker may take the copy over, and
        // sending it here could double it: it is left to them.
        if now_millis() > job.lease.until() - self.leases.margin() {
            return None;
        }
        if delivery.subscriber_status.as_deref() != Some("confirmed")
            || self.signals.has_departed(delivery.subscriber_id)
            || self
                .signals
                .has_left(delivery.subscriber_id, job.issue.issue_id())
        {
            return Some(Outcome::Cancelled {
                why: "the subscriber left",
            });
        }
        let to = match recipient(delivery) {
            Ok(to) => to,
            Err(error) => {
                return Some(Outcome::Failed {
                    failure: Failure::Undeliverable,
                    error,
                })
            }
        };
        let Some(link_key) = delivery.link_key.clone().map(LinkKey::from_stored) else {
            // Only a row without a key (written by hand, past the trigger) gets here.
            return Some(Outcome::Failed {
                failure: Failure::Undeliverable,
                error: "the subscriber has no link key for an unsubscribe link".to_owned(),
            });
        };
        let token = self.subscriptions.unsubscribe_token(&link_key);
        let unsubscribe_url = self.copy_unsubscribe_url(token.as_str(), job.issue.issue_id());
        let unsubscribe_mailto = self.unsubscribe_mailto(delivery.subscriber_id);
        let copy = job.issue.copy(
            &self.settings.identity,
            &self.key,
            &Copy {
                to,
                subscriber_id: delivery.subscriber_id,
                unsubscribe_url: &unsubscribe_url,
                token: token.as_str(),
                unsubscribe_mailto: unsubscribe_mailto.as_deref(),
                name: delivery.name.as_deref().map(str::trim),
                fields: delivery.fields.as_ref(),
            },
        );
        let copy = match copy {
            Ok(copy) => copy,
            Err(error) => {
                return Some(Outcome::Failed {
                    failure: Failure::Undeliverable,
                    error: format!("cannot build the message: {error}"),
                })
            }
        };
        let envelope = self.envelope_for(
            &copy.envelope,
            ReturnTarget::IssueCopy {
                issue_id: job.issue.issue_id(),
                subscriber_id: delivery.subscriber_id,
            },
        );
        let signed = match self.mailer.signed_bytes(copy.bytes).await {
            Ok(signed) => signed,
            Err(DkimSignError::Interrupted) => return Some(Outcome::Released),
            Err(error) => {
                return Some(Outcome::Failed {
                    failure: Failure::Undeliverable,
                    error: error.to_string(),
                })
            }
        };
        if !self.wait_for_rate().await {
            return Some(Outcome::Released);
        }
        // The last moment: a reader who left (the list, or every topic of
        // the issue) while this copy waited gets nothing.
        if self.signals.has_departed(delivery.subscriber_id)
            || self
                .signals
                .has_left(delivery.subscriber_id, job.issue.issue_id())
        {
            return Some(Outcome::Cancelled {
                why: "the subscriber left",
            });
        }
        // The relay went down since this copy was claimed: it goes back untried.
        if self.mailer.relay_is_unreachable() {
            return Some(Outcome::Released);
        }
        let started = std::time::Instant::now();
        let previous = previous.take();
        let sent = self
            .mailer
            .send_raw_when(&envelope, &signed, async {
                if let Some(previous) = previous {
                    previous.wait().await;
                }
            })
            .await;
        metrics::histogram!(telemetry::SEND_DURATION, "kind" => KIND)
            .record(started.elapsed().as_secs_f64());
        Some(match sent {
            Ok(reply) => Outcome::Sent { reply },
            // A session refused at its opening (a greeting, EHLO or AUTH:
            // `535` for wrong credentials) is the sender's, never the reader's.
            Err(SendError::Permanent(error)) => Outcome::Failed {
                failure: Failure::Policy,
                error,
            },
            Err(SendError::Refused(refusal)) => refused(&refusal),
            // Undeliverable, not Permanent: the reader's address is not the
            // problem, so they must not be marked bounced for it.
            Err(SendError::Unsupported(error)) => Outcome::Failed {
                failure: Failure::Undeliverable,
                error,
            },
            // The relay cannot be reached: not this copy's failure, and no attempt.
            Err(SendError::Transient(_)) if self.mailer.relay_is_unreachable() => Outcome::Released,
            Err(SendError::Transient(error)) => {
                let now = now_millis();
                let retry = &self.settings.retry;
                let out_of_attempts = delivery.attempts >= i64::from(retry.max_attempts);
                let out_of_time = now - delivery.queued_at >= millis(retry.horizon);
                if out_of_attempts || out_of_time {
                    Outcome::Failed {
                        failure: Failure::Expired,
                        error: format!("gave up after {} attempts: {error}", delivery.attempts),
                    }
                } else {
                    Outcome::Retry {
                        at: now + millis(retry.delay_after(delivery.attempts)),
                        error,
                    }
                }
            }
        })
    }
}

/// A copy the relay refused, read by the bounce classifier. A refused
/// MAIL FROM is about the sender whatever the reply says, so it is policy;
/// at RCPT TO or DATA the reply's code and words decide.
fn refused(refusal: &Refusal) -> Outcome {
    let reading = classify_reply(refusal.code, &refusal.text);
    let class = match refusal.stage {
        Stage::Sender => BounceClass::Policy,
        Stage::Recipient | Stage::Data => reading.class,
    };
    Outcome::Refused {
        class,
        status: reading.status,
        error: refusal.to_string(),
    }
}

/// The stored address and name, through the parsers that keep header injection out.
fn recipient(delivery: &ClaimedDelivery) -> Result<Mailbox, String> {
    let email = delivery
        .email
        .as_deref()
        .ok_or_else(|| "the subscriber was erased".to_owned())?;
    let email = SubscriberEmail::parse_any_domain(email)
        .map_err(|e| format!("stored address is invalid: {e}"))?;
    let name = delivery
        .name
        .as_deref()
        .and_then(|n| SubscriberName::parse(n).ok().flatten());
    Ok(crate::mail::recipient(&email, name.as_ref()))
}
