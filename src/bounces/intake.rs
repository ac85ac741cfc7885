//! Taking in one message that came back: read it, find the reader it is
//! about, and apply what it says, once. Every channel hands its messages
//! here (`herald bounces ingest`), or its events (the provider webhooks).

use std::fmt;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::classify::{inspect, BounceClass, Inspected, Report};
use super::message_id::target_of_message_id;
use super::queries;
use super::verp::{ReturnPath, ReturnTarget};
use crate::config::{secret_hex, SecretKey};
use crate::store::{millis, now_millis, Store, WriteTransaction};
use crate::subscriptions::Subscriptions;

/// Larger messages are not read: a bounce with its original is a few
/// hundred kilobytes at most, and this bounds the work anyone can cause.
pub const MAX_MESSAGE_SIZE: usize = 10 * 1024 * 1024;

/// How far back a Final-Recipient is matched against the mail Herald sent,
/// and the window soft bounces are counted in (issue 12).
const WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);

/// The longest diagnostic kept with an event or printed.
const DIAGNOSTIC_LIMIT: usize = 300;

pub struct Intake {
    store: Store,
    key: std::sync::Arc<SecretKey>,
    return_path: Option<ReturnPath>,
    soft_bounce_limit: u32,
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Handled {
        class: BounceClass,
        email: String,
        effect: Effect,
        detail: Option<String>,
    },
    Ignored(Ignored),
    /// A report with this Message-ID (or these bytes) was handled before.
    Duplicate,
    /// Mail to a reader's `List-Unsubscribe` address.
    UnsubscribedByMail {
        email: String,
        effect: Effect,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Bounced,
    Unsubscribed,
    /// The reader had already left the list; nothing changed.
    AlreadyOff,
    /// Recorded and counted; for a soft bounce, how many of the limit.
    Counted {
        soft: Option<(i64, u32)>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    TooLarge,
    NotABounce,
    /// No VERP token, and no recipient Herald mailed lately.
    NoAttribution,
    /// Sent to the bounce mailbox with a token Herald did not make.
    UnknownToken,
    /// VERP is on and the report carries no token: anyone can write a
    /// report naming an address Herald mailed, so none is taken on its word.
    NoToken,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Handled {
                class,
                email,
                effect,
                detail,
            } => {
                write!(f, "{}: {email} ", class.as_str())?;
                match effect {
                    Effect::Bounced => f.write_str("bounced")?,
                    Effect::Unsubscribed => f.write_str("unsubscribed")?,
                    Effect::AlreadyOff => f.write_str("already off the list")?,
                    Effect::Counted {
                        soft: Some((count, limit)),
                    } => write!(f, "counted ({count} of {limit} in 30 days)")?,
                    Effect::Counted { soft: None } => f.write_str("counted")?,
                }
                match detail {
                    Some(detail) => write!(f, " ({detail})"),
                    None => Ok(()),
                }
            }
            Self::Ignored(why) => f.write_str(match why {
                Ignored::TooLarge => "ignored: too large",
                Ignored::NotABounce => "ignored: not a bounce",
                Ignored::NoAttribution => "ignored: no attribution",
                Ignored::UnknownToken => "ignored: unknown return token",
                Ignored::NoToken => "ignored: no return token",
            }),
            Self::Duplicate => f.write_str("duplicate: already handled"),
            Self::UnsubscribedByMail { email, effect } => match effect {
                Effect::AlreadyOff => {
                    write!(f, "unsubscribe by mail: {email} already off the list")
                }
                _ => write!(f, "unsubscribe by mail: {email} unsubscribed"),
            },
        }
    }
}

/// One event a provider reported by webhook, read into a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderEvent {
    /// `ses`, `postmark`, `mailgun`, `sendgrid`.
    pub provider: &'static str,
    /// The provider's own id of the event, unique per provider.
    pub event_id: String,
    pub report: Report,
}

/// Who a report is about.
enum Attribution {
    Copy(ReturnTarget),
    Recipient(i64),
    UnknownToken,
    NoToken,
    Nobody,
}

impl Intake {
    pub fn new(
        store: Store,
        key: std::sync::Arc<SecretKey>,
        return_path: Option<ReturnPath>,
        soft_bounce_limit: u32,
    ) -> Self {
        Self {
            store,
            key,
            return_path,
            soft_bounce_limit,
        }
    }

    /// Reads `raw` and applies it. `envelope_recipient` is the address the
    /// MTA delivered it to, when it says (a pipe's `${original_recipient}`).
    /// An error is the database's: nothing was applied, so the caller may
    /// hand the same message in again.
    #[tracing::instrument(skip_all, fields(size = raw.len()))]
    pub async fn ingest(
        &self,
        raw: &[u8],
        envelope_recipient: Option<&str>,
    ) -> Result<Outcome, sqlx::Error> {
        if raw.len() > MAX_MESSAGE_SIZE {
            return Ok(Outcome::Ignored(Ignored::TooLarge));
        }
        let inspected = inspect(raw);
        if let Some(subscriber_id) = self.unsubscribe_request(&inspected, envelope_recipient) {
            return self
                .unsubscribe_by_mail(subscriber_id, &report_key(&inspected, raw))
                .await;
        }
        let Some(report) = &inspected.report else {
            return Ok(Outcome::Ignored(Ignored::NotABounce));
        };
        let report_key = report_key(&inspected, raw);
        let since = now_millis() - millis(WINDOW);
        let mut tx = self.store.begin_write().await?;
        let attribution = self
            .attribute(&mut tx, &inspected, report, envelope_recipient, since)
            .await?;
        self.apply(tx, &report_key, report, attribution).await
    }

    /// Applies one event a provider reported by webhook (already
    /// authenticated, so its recipient may be believed): attributed by the
    /// keyed Message-ID of the original it names, else by the recipient if
    /// Herald mailed that address in the last 30 days. Each event once, by
    /// its provider's id.
    #[tracing::instrument(skip_all, fields(provider = event.provider))]
    pub async fn apply_event(&self, event: &ProviderEvent) -> Result<Outcome, sqlx::Error> {
        let report_key = bounded_key(&format!("{}:{}", event.provider, event.event_id));
        let since = now_millis() - millis(WINDOW);
        let mut tx = self.store.begin_write().await?;
        let attribution = match self.keyed_original(&event.report) {
            Some(target) => Attribution::Copy(target),
            None => match &event.report.recipient {
                Some(recipient) => {
                    match queries::recently_mailed(&mut tx, recipient, since).await? {
                        Some(id) => Attribution::Recipient(id),
                        None => Attribution::Nobody,
                    }
                }
                None => Attribution::Nobody,
            },
        };
        self.apply(tx, &report_key, &event.report, attribution)
            .await
    }

    /// The effect of `report` on the reader `attribution` names, recorded
    /// under `report_key` in the same transaction, so it happens once.
    async fn apply(
        &self,
        mut tx: WriteTransaction<'static>,
        report_key: &str,
        report: &Report,
        attribution: Attribution,
    ) -> Result<Outcome, sqlx::Error> {
        let now = now_millis();
        let since = now - millis(WINDOW);
        let dialect = self.store.dialect();
        let (subscriber_id, issue_id) = match attribution {
            Attribution::Copy(target) => (
                Some(target.subscriber_id()),
                match target {
                    ReturnTarget::IssueCopy { issue_id, .. } => Some(issue_id),
                    _ => None,
                },
            ),
            Attribution::Recipient(id) => (Some(id), None),
            Attribution::UnknownToken | Attribution::NoToken | Attribution::Nobody => (None, None),
        };
        let email = match subscriber_id {
            Some(id) => queries::email_of(&mut tx, id).await?,
            None => None,
        };
        let (Some(subscriber_id), Some(email)) = (subscriber_id, email) else {
            // Counted as ignored, once; nothing about any reader changes.
            if !queries::record_report(&mut tx, report_key, "ignored", None, None, None, now)
                .await?
            {
                return Ok(Outcome::Duplicate);
            }
            tx.commit().await?;
            return Ok(Outcome::Ignored(match attribution {
                Attribution::UnknownToken => Ignored::UnknownToken,
                Attribution::NoToken => Ignored::NoToken,
                _ => Ignored::NoAttribution,
            }));
        };
        let recorded = queries::record_report(
            &mut tx,
            report_key,
            class_name(report.class),
            Some(subscriber_id),
            issue_id,
            report.status.as_deref(),
            now,
        )
        .await?;
        if !recorded {
            return Ok(Outcome::Duplicate);
        }
        let detail = detail_of(report);
        let reason = detail
            .clone()
            .unwrap_or_else(|| report.class.as_str().to_owned());
        // Why the reader leaves as `bounced`, when they do: a hard bounce, or
        // the soft one that reaches the limit.
        let mut soft = None;
        let bounce_reason = match report.class {
            BounceClass::Hard => Some(reason.clone()),
            BounceClass::Soft => {
                let count = queries::soft_bounces_since(&mut tx, subscriber_id, since).await?;
                if count >= i64::from(self.soft_bounce_limit) {
                    Some(format!(
                        "{count} soft bounces in 30 days; the last: {reason}"
                    ))
                } else {
                    soft = Some((count, self.soft_bounce_limit));
                    None
                }
            }
            _ => None,
        };
        let effect = match (report.class, bounce_reason) {
            (_, Some(bounce_reason)) => left_or_not(
                Subscriptions::mark_bounced(
                    &mut tx,
                    dialect,
                    &self.key,
                    subscriber_id,
                    &bounce_reason,
                    now,
                )
                .await?,
                Effect::Bounced,
            ),
            (BounceClass::Complaint, None) => left_or_not(
                Subscriptions::mark_complained(
                    &mut tx,
                    dialect,
                    &self.key,
                    subscriber_id,
                    &reason,
                    now,
                )
                .await?,
                Effect::Unsubscribed,
            ),
            _ => Effect::Counted { soft },
        };
        tx.commit().await?;
        tracing::info!(
            subscriber_id,
            class = class_name(report.class),
            "bounce report handled"
        );
        Ok(Outcome::Handled {
            class: report.class,
            email,
            effect,
            detail,
        })
    }

    /// The mail a report's returned original was, by its keyed Message-ID;
    /// a Message-ID Herald did not make names nothing.
    fn keyed_original(&self, report: &Report) -> Option<ReturnTarget> {
        target_of_message_id(&self.key, report.original_message_id.as_deref()?)
    }

    /// The reader whose `List-Unsubscribe` address this message was sent
    /// to, whatever it says: RFC 2369 asks nothing more of the mail.
    fn unsubscribe_request(
        &self,
        inspected: &Inspected,
        envelope_recipient: Option<&str>,
    ) -> Option<i64> {
        let path = self.return_path.as_ref()?;
        envelope_recipient
            .into_iter()
            .chain(inspected.addressed_to.iter().map(String::as_str))
            .find_map(|candidate| match path.target_of(&self.key, candidate)? {
                ReturnTarget::Unsubscribe { subscriber_id } => Some(subscriber_id),
                _ => None,
            })
    }

    /// Takes the reader off the list, once per message.
    async fn unsubscribe_by_mail(
        &self,
        subscriber_id: i64,
        report_key: &str,
    ) -> Result<Outcome, sqlx::Error> {
        let now = now_millis();
        let mut tx = self.store.begin_write().await?;
        let Some(email) = queries::email_of(&mut tx, subscriber_id).await? else {
            return Ok(Outcome::Ignored(Ignored::NoAttribution));
        };
        if !queries::record_report(
            &mut tx,
            report_key,
            "unsubscribe",
            Some(subscriber_id),
            None,
            None,
            now,
        )
        .await?
        {
            return Ok(Outcome::Duplicate);
        }
        let left = Subscriptions::mark_unsubscribed_by_mail(
            &mut tx,
            self.store.dialect(),
            subscriber_id,
            now,
        )
        .await?;
        tx.commit().await?;
        tracing::info!(subscriber_id, "unsubscribed by mail");
        Ok(Outcome::UnsubscribedByMail {
            email,
            effect: left_or_not(left, Effect::Unsubscribed),
        })
    }

    /// In this order: the VERP token, exact and unforgeable; the keyed
    /// Message-ID of the returned original, as unforgeable; and, only with
    /// VERP off, the report's recipient if Herald mailed that address lately.
    /// A message to the bounce mailbox with a token that does not check out
    /// is refused outright, since anyone can write one; so is one with
    /// neither a token nor a keyed Message-ID while VERP is on, because every
    /// real bounce then comes back to a tokened address, and a report naming
    /// a reader's address is easy to forge. (Feedback loops that mail a
    /// registered address without the token still quote the original's
    /// Message-ID, which only its reader and Herald know.)
    async fn attribute(
        &self,
        conn: &mut sqlx::AnyConnection,
        inspected: &Inspected,
        report: &Report,
        envelope_recipient: Option<&str>,
        since: i64,
    ) -> Result<Attribution, sqlx::Error> {
        if let Some(path) = &self.return_path {
            let candidates = envelope_recipient
                .into_iter()
                .chain(inspected.addressed_to.iter().map(String::as_str));
            let mut saw_token = false;
            for candidate in candidates {
                if let Some(target) = path.target_of(&self.key, candidate) {
                    return Ok(Attribution::Copy(target));
                }
                saw_token |= path.carries_token(candidate);
            }
            if saw_token {
                return Ok(Attribution::UnknownToken);
            }
        }
        if let Some(target) = self.keyed_original(report) {
            return Ok(Attribution::Copy(target));
        }
        if self.return_path.is_some() {
            return Ok(Attribution::NoToken);
        }
        let Some(recipient) = &report.recipient else {
            return Ok(Attribution::Nobody);
        };
        Ok(
            match queries::recently_mailed(conn, recipient, since).await? {
                Some(id) => Attribution::Recipient(id),
                None => Attribution::Nobody,
            },
        )
    }
}

fn left_or_not(left: bool, effect: Effect) -> Effect {
    if left {
        effect
    } else {
        Effect::AlreadyOff
    }
}

fn class_name(class: BounceClass) -> &'static str {
    class.key()
}

/// The report's Message-ID, or a hash of the whole message without one
/// (or with one too long to be a real one).
fn report_key(inspected: &Inspected, raw: &[u8]) -> String {
    match &inspected.message_id {
        Some(id) if !id.is_empty() && id.len() <= 250 => format!("message-id:{id}"),
        _ => format!("sha256:{}", secret_hex(&Sha256::digest(raw))),
    }
}

/// `key`, or a hash of it when it is too long to be an honest id: a
/// provider's payload sets it, and the column is indexed.
fn bounded_key(key: &str) -> String {
    if key.len() <= 250 {
        key.to_owned()
    } else {
        format!("sha256:{}", secret_hex(&Sha256::digest(key.as_bytes())))
    }
}

/// `5.1.1 550 5.1.1 <…>: User unknown`, one line of printable text, bounded:
/// it comes from a remote server and goes into events and MTA logs.
fn detail_of(report: &Report) -> Option<String> {
    let joined = [report.status.as_deref(), report.diagnostic.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let clean: String = joined
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(DIAGNOSTIC_LIMIT)
        .collect();
    let clean = clean.trim();
    (!clean.is_empty()).then(|| clean.to_owned())
}
