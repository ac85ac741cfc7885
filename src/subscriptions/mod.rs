//! The subscriber side: signing up (double opt-in), confirming and leaving,
//! with the lifecycle of DESIGN.md and the consent evidence of each step.

pub mod admin;
mod admin_queries;
pub mod domain;
mod leaving;
mod preferences;
mod queries;
mod signup_desk;
mod signup_intake;
pub mod stats;
mod tokens;
pub mod upgrade;

use std::sync::Arc;
use std::time::Duration;

use crate::config::SecretKey;
use crate::delivery::outbox::{self, MailKind};
use crate::delivery::{deliveries, DeliverySignals};
use crate::fields::{self, CheckedValues};
use crate::store::{millis, now_millis, Store};
use crate::suppressions;
use crate::telemetry;
use crate::topics::{self, queries as topic_queries, MembershipSource, Topic, TopicChoice};

pub use domain::{SubscriberEmail, SubscriberName, SubscriberStatus};
pub use leaving::{Leave, Left};
pub use preferences::{
    ErasureLinkError, PersonalData, PreferenceChange, PreferenceError, Preferences, SetTopicsError,
    TopicPreference, ERASURE_LINK_TTL,
};
pub use queries::SubscriberRecord;
pub use tokens::{
    ConfirmationToken, ErasureToken, LinkKey, TokenSeed, UnsubscribeTarget, UnsubscribeToken,
};

/// A welcome mail that could not go out within a week is no longer welcome.
const WELCOME_MAIL_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Longest user agent kept as evidence; the rest says nothing a person needs.
const MAX_USER_AGENT_LENGTH: usize = 512;

/// Where a request came from, kept as consent evidence.
#[derive(Debug, Clone, Default)]
pub struct RequestOrigin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl RequestOrigin {
    pub fn new(ip: Option<String>, user_agent: Option<&str>) -> Self {
        let user_agent = user_agent.map(|ua| {
            ua.chars()
                .filter(|c| !c.is_control())
                .take(MAX_USER_AGENT_LENGTH)
                .collect()
        });
        Self { ip, user_agent }
    }
}

/// How a subscriber comes off the list.
#[derive(Debug, Clone, Copy)]
enum Leaving {
    Unsubscribed,
    Bounced,
}

/// Limits on confirmation mail, so that nobody can use the form to mail-bomb an address.
#[derive(Debug, Clone)]
pub struct SignupPolicy {
    pub confirmation_ttl: Duration,
    pub confirmations_per_day: u32,
    pub confirmation_min_interval: Duration,
}

/// What a signup did. The visitor sees the same answer for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignupOutcome {
    ConfirmationQueued,
    /// The per-address limit held the mail back.
    ConfirmationWithheld,
    AlreadyConfirmed,
    /// A confirmed reader chose topics they were not in: added, no mail.
    TopicsAdded,
    /// The address is on the suppression list: nothing stored, nothing sent.
    Suppressed,
}

/// Why a confirmation link does not work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenProblem {
    #[error("this confirmation link is not one we sent")]
    Unknown,
    #[error("this confirmation link has expired")]
    Expired,
    #[error("this confirmation link has already been used")]
    Used,
    #[error("this confirmation link was withdrawn when the address left the list")]
    Withdrawn,
}

#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    #[error(transparent)]
    Token(#[from] TokenProblem),
    #[error("the unsubscribe link is not one we sent")]
    InvalidUnsubscribeLink,
    #[error("cannot write the reader's data: {0}")]
    Export(String),
    #[error("database error: {0}")]
    Store(#[from] sqlx::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmOutcome {
    Confirmed,
    AlreadyConfirmed,
}

#[derive(Clone)]
pub struct Subscriptions {
    store: Store,
    key: Arc<SecretKey>,
    policy: SignupPolicy,
    signals: Arc<DeliverySignals>,
    /// Wakes the signup desk of this process when a request is queued.
    signup_queued: Arc<tokio::sync::Notify>,
    /// When this process last took a signup in: the desk paces itself while
    /// they keep coming (`signup_desk`).
    last_signup_at: Arc<std::sync::atomic::AtomicI64>,
    /// Writes signup requests in groups (`signup_intake`).
    signup_intake: signup_intake::SignupIntake,
}

impl Subscriptions {
    pub fn new(
        store: Store,
        key: Arc<SecretKey>,
        policy: SignupPolicy,
        signals: Arc<DeliverySignals>,
    ) -> Self {
        Self {
            store,
            key,
            policy,
            signals,
            signup_queued: Arc::new(tokio::sync::Notify::new()),
            last_signup_at: Arc::default(),
            signup_intake: signup_intake::SignupIntake::new(),
        }
    }

    /// Signs an address up, or up again, following the lifecycle: new or left →
    /// pending with a confirmation mail; pending → the mail again; confirmed →
    /// nothing, unless topics were chosen: those are added at once, with no
    /// confirmation (the address was confirmed already). Part of the caller's
    /// transaction; the mail is queued, never sent inline. The signup desk
    /// (`signup_desk`) calls it in the background. `topics` is every topic.
    #[allow(clippy::too_many_arguments)]
    async fn sign_up_in(
        &self,
        conn: &mut sqlx::AnyConnection,
        email: &SubscriberEmail,
        name: Option<&SubscriberName>,
        choice: &TopicChoice,
        topics: &[Topic],
        values: &CheckedValues,
        origin: &RequestOrigin,
        now: i64,
    ) -> Result<SignupOutcome, sqlx::Error> {
        // Before anything is read or written about the address: the visitor
        // got the usual answer already, and nothing must show it was refused.
        if suppressions::check_in(conn, &self.key, email)
            .await?
            .is_some()
        {
            return Ok(SignupOutcome::Suppressed);
        }
        let joining = topics::resolve_choice(topics, choice);
        let subscriber_id = match queries::find_by_email(conn, email).await? {
            Some(existing) => match existing.status {
                SubscriberStatus::Confirmed => {
                    return self
                        .add_topics_in(conn, existing.id, choice, topics, origin, now)
                        .await;
                }
                SubscriberStatus::Pending => existing.id,
                SubscriberStatus::Unsubscribed | SubscriberStatus::Bounced => {
                    queries::make_pending_again(conn, existing.id, name, now).await?;
                    // They left everything; they come back to what they choose now.
                    topic_queries::leave_all(conn, existing.id).await?;
                    existing.id
                }
            },
            None => match queries::insert_pending(conn, email, name, now).await? {
                Some(id) => id,
                // Inserted by a concurrent request between our read and write:
                // answer as if we had come second.
                None => return Ok(SignupOutcome::ConfirmationWithheld),
            },
        };
        // A pending reader who signs up again with other topics gets those
        // too: the one confirmation covers them all.
        let pairs: Vec<(i64, i64)> = joining.iter().map(|t| (subscriber_id, t.id)).collect();
        let dialect = self.store.dialect();
        topic_queries::join(conn, dialect, &pairs, MembershipSource::Signup, now).await?;
        // A confirmed reader's values are never changed by a signup (anyone
        // may sign up with anyone's address); a pending or returning one's
        // are, since the confirmation to come covers them.
        fields::write_values(conn, dialect, subscriber_id, values).await?;
        let named = topics::event_topics(joining.iter().map(|topic| &topic.slug));
        queries::record_event_about(
            conn,
            subscriber_id,
            "signed_up",
            named.as_deref(),
            origin,
            now,
        )
        .await?;
        self.queue_confirmation(conn, subscriber_id, now).await
    }

    /// A confirmed reader signing up again: the public topics they chose and
    /// are not in yet are added at once, with an event naming them; no mail.
    async fn add_topics_in(
        &self,
        conn: &mut sqlx::AnyConnection,
        subscriber_id: i64,
        choice: &TopicChoice,
        topics: &[Topic],
        origin: &RequestOrigin,
        now: i64,
    ) -> Result<SignupOutcome, sqlx::Error> {
        let pairs: Vec<(i64, i64)> = topics
            .iter()
            .filter(|topic| topic.is_public() && choice.ids().contains(&topic.id))
            .map(|topic| (subscriber_id, topic.id))
            .collect();
        let dialect = self.store.dialect();
        let added =
            topic_queries::join(conn, dialect, &pairs, MembershipSource::Signup, now).await?;
        if added.is_empty() {
            return Ok(SignupOutcome::AlreadyConfirmed);
        }
        let named = topics::event_topics(
            topics
                .iter()
                .filter(|topic| added.iter().any(|(_, id)| *id == topic.id))
                .map(|topic| &topic.slug),
        );
        queries::record_event_about(
            conn,
            subscriber_id,
            "topics_added",
            named.as_deref(),
            origin,
            now,
        )
        .await?;
        Ok(SignupOutcome::TopicsAdded)
    }

    /// Queues a confirmation mail for a pending subscriber unless the
    /// per-address limit holds it back; part of the caller's transaction.
    async fn queue_confirmation(
        &self,
        conn: &mut sqlx::AnyConnection,
        subscriber_id: i64,
        now: i64,
    ) -> Result<SignupOutcome, sqlx::Error> {
        if let Some(subscriber) = queries::find_by_id(conn, subscriber_id).await? {
            if let Ok(email) = SubscriberEmail::parse_any_domain(&subscriber.email) {
                if suppressions::check_in(conn, &self.key, &email)
                    .await?
                    .is_some()
                {
                    return Ok(SignupOutcome::Suppressed);
                }
            }
        }
        if self.may_send_confirmation(conn, subscriber_id, now).await? {
            self.send_confirmation(conn, subscriber_id, now).await?;
            Ok(SignupOutcome::ConfirmationQueued)
        } else {
            tracing::info!(
                subscriber_id,
                "confirmation mail withheld by the per-address limit"
            );
            Ok(SignupOutcome::ConfirmationWithheld)
        }
    }

    /// A confirmation link for a new subscriber, dated `at`, and the seed
    /// its mail derives it from.
    fn new_confirmation(&self, subscriber_id: i64, at: i64) -> admin_queries::NewConfirmation {
        let seed = TokenSeed::generate();
        admin_queries::NewConfirmation {
            subscriber_id,
            token_hash: ConfirmationToken::derive(&self.key, &seed).hash(),
            seed: seed.as_str().to_owned(),
            created_at: at,
            expires_at: at + millis(self.policy.confirmation_ttl),
        }
    }

    /// `send_confirmation` for many new subscribers in a few statements.
    async fn send_confirmations(
        &self,
        conn: &mut sqlx::AnyConnection,
        confirmations: &[admin_queries::NewConfirmation],
    ) -> Result<(), sqlx::Error> {
        admin_queries::insert_confirmations(conn, self.store.dialect(), confirmations).await
    }

    /// A new confirmation link and the mail that carries it, with no limit
    /// checked: for addresses that have had no mail yet (imports, the API).
    async fn send_confirmation(
        &self,
        conn: &mut sqlx::AnyConnection,
        subscriber_id: i64,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        let seed = TokenSeed::generate();
        let token = ConfirmationToken::derive(&self.key, &seed);
        let expires_at = now + millis(self.policy.confirmation_ttl);
        queries::insert_confirmation_token(conn, &token.hash(), subscriber_id, now, expires_at)
            .await?;
        outbox::enqueue(
            conn,
            MailKind::Confirmation,
            subscriber_id,
            Some(&seed),
            now,
            expires_at,
        )
        .await
    }

    async fn may_send_confirmation(
        &self,
        conn: &mut sqlx::AnyConnection,
        subscriber_id: i64,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        const DAY_MILLIS: i64 = 24 * 60 * 60 * 1000;
        let (queued, latest) =
            outbox::confirmations_queued_since(conn, subscriber_id, now - DAY_MILLIS).await?;
        let too_many = queued >= i64::from(self.policy.confirmations_per_day);
        let too_soon =
            latest.is_some_and(|at| now - at < millis(self.policy.confirmation_min_interval));
        Ok(!too_many && !too_soon)
    }

    /// Checks a confirmation link without using it (a GET must change nothing).
    #[tracing::instrument(skip_all)]
    pub async fn check_confirmation(
        &self,
        token: &ConfirmationToken,
    ) -> Result<ConfirmOutcome, SubscriptionError> {
        let mut conn = self.store.pool().acquire().await?;
        let record = queries::find_confirmation_token(&mut conn, &token.hash()).await?;
        Self::judge(record.as_ref(), now_millis())
    }

    /// Uses a confirmation link: pending → confirmed, with the evidence.
    #[tracing::instrument(skip_all)]
    pub async fn confirm(
        &self,
        token: &ConfirmationToken,
        origin: &RequestOrigin,
    ) -> Result<ConfirmOutcome, SubscriptionError> {
        let now = now_millis();
        let hash = token.hash();
        let mut tx = self.store.begin_write().await?;
        let record = queries::find_confirmation_token(&mut tx, &hash).await?;
        let outcome = Self::judge(record.as_ref(), now)?;
        let Some(record) = record else {
            return Err(TokenProblem::Unknown.into());
        };
        queries::use_confirmation_token(&mut tx, &hash, now).await?;
        if outcome == ConfirmOutcome::Confirmed {
            queries::set_status(
                &mut tx,
                record.subscriber_id,
                SubscriberStatus::Confirmed,
                now,
            )
            .await?;
            // The evidence names what the confirmation covers: the topics
            // chosen while the address was pending.
            let slugs = topic_queries::slugs_of(&mut tx, record.subscriber_id).await?;
            let named = topics::event_topics(&slugs);
            queries::record_event_about(
                &mut tx,
                record.subscriber_id,
                "confirmed",
                named.as_deref(),
                origin,
                now,
            )
            .await?;
            let expires_at = now + millis(WELCOME_MAIL_TTL);
            outbox::enqueue(
                &mut tx,
                MailKind::Welcome,
                record.subscriber_id,
                None,
                now,
                expires_at,
            )
            .await?;
        }
        tx.commit().await?;
        if outcome == ConfirmOutcome::Confirmed {
            metrics::counter!(telemetry::CONFIRMATIONS).increment(1);
            self.signals.mail_queued();
        }
        Ok(outcome)
    }

    fn judge(
        record: Option<&queries::TokenRecord>,
        now: i64,
    ) -> Result<ConfirmOutcome, SubscriptionError> {
        let record = record.ok_or(TokenProblem::Unknown)?;
        if record.used_at.is_some() {
            // A second click on the link of a confirmed reader is no problem to report.
            return match record.status {
                SubscriberStatus::Confirmed => Ok(ConfirmOutcome::AlreadyConfirmed),
                _ => Err(TokenProblem::Used.into()),
            };
        }
        if record.expires_at <= now {
            return Err(TokenProblem::Expired.into());
        }
        match record.status {
            SubscriberStatus::Pending => Ok(ConfirmOutcome::Confirmed),
            SubscriberStatus::Confirmed => Ok(ConfirmOutcome::AlreadyConfirmed),
            SubscriberStatus::Unsubscribed | SubscriberStatus::Bounced => {
                Err(TokenProblem::Withdrawn.into())
            }
        }
    }

    /// The token of a subscriber's unsubscribe link, from their row's link key.
    pub fn unsubscribe_token(&self, link_key: &LinkKey) -> UnsubscribeToken {
        UnsubscribeToken::for_link_key(&self.key, link_key)
    }

    /// Whom a genuine unsubscribe token names.
    fn verify_unsubscribe(&self, raw_token: &str) -> Result<UnsubscribeTarget, SubscriptionError> {
        UnsubscribeToken::verify(&self.key, raw_token)
            .ok_or(SubscriptionError::InvalidUnsubscribeLink)
    }

    /// The subscriber a token names: by link key, or for an old-format link by
    /// id, only among the subscribers it can have been made for.
    async fn find_unsubscribe_target(
        conn: &mut sqlx::AnyConnection,
        target: &UnsubscribeTarget,
    ) -> Result<Option<SubscriberRecord>, sqlx::Error> {
        match target {
            UnsubscribeTarget::LinkKey(link_key) => queries::find_by_link_key(conn, link_key).await,
            UnsubscribeTarget::LegacyId(id) => queries::find_legacy_by_id(conn, *id).await,
        }
    }

    /// The subscriber an unsubscribe link is for; `None` when they are no longer on the list at all.
    #[tracing::instrument(skip_all)]
    pub async fn unsubscribe_target(
        &self,
        raw_token: &str,
    ) -> Result<Option<SubscriberRecord>, SubscriptionError> {
        let target = self.verify_unsubscribe(raw_token)?;
        let mut conn = self.store.pool().acquire().await?;
        Ok(Self::find_unsubscribe_target(&mut conn, &target).await?)
    }

    /// Pending or confirmed → unsubscribed, open confirmation links withdrawn,
    /// unsent mail dropped; the caller records the event. False when the
    /// subscriber was not on the list.
    async fn take_off_list(
        conn: &mut sqlx::AnyConnection,
        subscriber: &SubscriberRecord,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        Self::leave(conn, subscriber, Leaving::Unsubscribed, now).await
    }

    /// A subscriber whose address the mail server refused too often: bounced,
    /// with nothing more queued for them, and their address on the
    /// suppression list with `reason` (under `key`'s hash). The caller
    /// commits, then calls `departed`. False when they were not on the list
    /// any more.
    pub async fn mark_bounced(
        conn: &mut sqlx::AnyConnection,
        dialect: crate::store::Dialect,
        key: &SecretKey,
        id: i64,
        reason: &str,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let how = Leaving::Bounced;
        let suppress = Some((key, suppressions::Source::Bounce));
        Self::leave_with_event(conn, dialect, id, how, "bounced", reason, suppress, now).await
    }

    /// A reader who reported a copy as spam: unsubscribed at once, with a
    /// `complaint` event and their address on the suppression list, and
    /// never mailed again unless an admin takes it off and they sign up
    /// again. The caller commits. False when they were not on the list any more.
    pub async fn mark_complained(
        conn: &mut sqlx::AnyConnection,
        dialect: crate::store::Dialect,
        key: &SecretKey,
        id: i64,
        reason: &str,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let how = Leaving::Unsubscribed;
        let suppress = Some((key, suppressions::Source::Complaint));
        Self::leave_with_event(conn, dialect, id, how, "complaint", reason, suppress, now).await
    }

    /// The reader mailed the `mailto:` of their `List-Unsubscribe`: off the
    /// list at once, with an `unsubscribed` event saying how. False when
    /// they were not on the list.
    pub async fn mark_unsubscribed_by_mail(
        conn: &mut sqlx::AnyConnection,
        dialect: crate::store::Dialect,
        id: i64,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let (how, note) = (
            Leaving::Unsubscribed,
            "by mail to the List-Unsubscribe address",
        );
        Self::leave_with_event(conn, dialect, id, how, "unsubscribed", note, None, now).await
    }

    /// Off the list as `how` (a departure Herald decided, so no request
    /// origin goes with it), and the event `kind` with `note`; with
    /// `suppress`, the address goes on the suppression list with `note` as
    /// its reason. False when the reader was not on it.
    #[allow(clippy::too_many_arguments)]
    async fn leave_with_event(
        conn: &mut sqlx::AnyConnection,
        dialect: crate::store::Dialect,
        id: i64,
        how: Leaving,
        kind: &str,
        note: &str,
        suppress: Option<(&SecretKey, suppressions::Source)>,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let Some(subscriber) = queries::find_by_id(conn, id).await? else {
            return Ok(false);
        };
        if !Self::leave(conn, &subscriber, how, now).await? {
            return Ok(false);
        }
        if let Some((key, source)) = suppress {
            suppressions::record_departure(conn, key, &subscriber.email, source, note, now).await?;
        }
        admin_queries::record_events(
            conn,
            dialect,
            &[id],
            kind,
            &RequestOrigin::default(),
            Some(note),
            now,
        )
        .await?;
        Ok(true)
    }

    /// Pending or confirmed → `how`: open confirmation links withdrawn and
    /// unsent mail dropped. False when the subscriber was not on the list.
    async fn leave(
        conn: &mut sqlx::AnyConnection,
        subscriber: &SubscriberRecord,
        how: Leaving,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        if !matches!(
            subscriber.status,
            SubscriberStatus::Pending | SubscriberStatus::Confirmed
        ) {
            return Ok(false);
        }
        let id = subscriber.id;
        let (status, why) = match how {
            Leaving::Unsubscribed => (SubscriberStatus::Unsubscribed, "the subscriber left"),
            Leaving::Bounced => (SubscriberStatus::Bounced, "the address bounced"),
        };
        queries::set_status(conn, id, status, now).await?;
        queries::withdraw_confirmation_tokens(conn, id, now).await?;
        outbox::cancel_for_subscriber(conn, id, now).await?;
        deliveries::cancel_for_subscriber(conn, id, why).await?;
        Ok(true)
    }

    /// Tells the delivery engine that a subscriber left, after the change is committed.
    pub fn departed(&self, id: i64) {
        self.signals.departed(id);
    }

    pub fn confirmation_token_for(&self, seed: &TokenSeed) -> ConfirmationToken {
        ConfirmationToken::derive(&self.key, seed)
    }
}
