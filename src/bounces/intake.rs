//! Taking in one message that came back: read it, find the reader it is
//! about, and apply what it says, once. Every channel (today `herald
//! bounces ingest`) hands its messages here.

use std::fmt;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::classify::{inspect, BounceClass, Inspected, Report};
use super::queries;
use super::verp::{ReturnPath, ReturnTarget};
use crate::config::{secret_hex, SecretKey};
use crate::store::{millis, now_millis, Store};
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
        let now = now_millis();
        let since = now - millis(WINDOW);
        let dialect = self.store.dialect();
        let mut tx = self.store.begin_write().await?;
        let attribution = self
            .attribute(&mut tx, &inspected, report, envelope_recipient, since)
            .await?;
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
            if !queries::record_report(&mut tx, &report_key, "ignored", None, None, None, now)
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
            &report_key,
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
        let effect = match report.class {
            BounceClass::Hard => left_or_not(
                Subscriptions::mark_bounced(
                    &mut tx,
                    dialect,
                    &self.key,
                    subscriber_id,
                    &reason,
                    now,
                )
                .await?,
                Effect::Bounced,
            ),
            BounceClass::Complaint => left_or_not(
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
            BounceClass::Soft => {
                let count = queries::soft_bounces_since(&mut tx, subscriber_id, since).await?;
                if count >= i64::from(self.soft_bounce_limit) {
                    let reason = format!("{count} soft bounces in 30 days; the last: {reason}");
                    left_or_not(
                        Subscriptions::mark_bounced(
                            &mut tx,
                            dialect,
                            &self.key,
                            subscriber_id,
                            &reason,
                            now,
                        )
                        .await?,
                        Effect::Bounced,
                    )
                } else {
                    Effect::Counted {
                        soft: Some((count, self.soft_bounce_limit)),
                    }
                }
            }
            BounceClass::Policy | BounceClass::Delayed | BounceClass::AutoReply => {
                Effect::Counted { soft: None }
            }
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

    /// The VERP token: exact, and unforgeable. A message to the bounce
    /// mailbox with a token that does not check out is refused outright,
    /// since anyone can write one; so is one without a token while VERP is
    /// on, because every real report then comes back to a tokened address,
    /// and a report naming a reader's address is easy to forge. Only with
    /// VERP off is the report's recipient taken, if Herald mailed that
    /// address lately.
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
            return Ok(if saw_token {
                Attribution::UnknownToken
            } else {
                Attribution::NoToken
            });
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
    match class {
        BounceClass::Hard => "hard",
        BounceClass::Soft => "soft",
        BounceClass::Policy => "policy",
        BounceClass::Delayed => "delayed",
        BounceClass::AutoReply => "auto-reply",
        BounceClass::Complaint => "complaint",
    }
}

/// The report's Message-ID, or a hash of the whole message without one
/// (or with one too long to be a real one).
fn report_key(inspected: &Inspected, raw: &[u8]) -> String {
    match &inspected.message_id {
        Some(id) if !id.is_empty() && id.len() <= 250 => format!("message-id:{id}"),
        _ => format!("sha256:{}", secret_hex(&Sha256::digest(raw))),
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
