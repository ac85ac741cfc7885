//! The preference centre (issue 14, item 3): a reader, by the keyed link in
//! every mail (their unsubscribe token), changes their name and topics. No
//! login: the token is the proof. Each change is an event with the request's
//! origin and the topics it covers, as every subscription change is.

use super::{
    queries, RequestOrigin, SubscriberName, SubscriberRecord, SubscriberStatus, SubscriptionError,
    Subscriptions,
};
use crate::delivery::deliveries;
use crate::store::now_millis;
use crate::topics::{self, queries as topic_queries, MembershipSource, Topic, UnknownTopics};

/// One topic as the preference centre offers it.
#[derive(Debug, Clone)]
pub struct TopicPreference {
    pub topic: Topic,
    /// The reader is in it.
    pub member: bool,
}

/// What the preference centre shows a reader.
#[derive(Debug, Clone)]
pub struct Preferences {
    pub subscriber: SubscriberRecord,
    /// The public topics, and the private ones the reader is in (which they
    /// may leave but not join), by name.
    pub topics: Vec<TopicPreference>,
}

/// What a save of the preference centre did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreferenceChange {
    /// Saved (perhaps nothing had changed).
    Saved,
    /// Every topic unticked: off the list, as leaving everything.
    Unsubscribed,
    /// The reader is not confirmed (pending, or left): nothing changed.
    NotConfirmed(SubscriberStatus),
}

#[derive(Debug, thiserror::Error)]
pub enum PreferenceError {
    #[error(transparent)]
    Subscription(#[from] SubscriptionError),
    #[error(transparent)]
    UnknownTopics(#[from] UnknownTopics),
}

impl From<sqlx::Error> for PreferenceError {
    fn from(error: sqlx::Error) -> Self {
        Self::Subscription(error.into())
    }
}

impl Subscriptions {
    /// The reader a preference link is for, with their topics; `None` when
    /// the row is gone (erased).
    #[tracing::instrument(skip_all)]
    pub async fn preferences(
        &self,
        raw_token: &str,
    ) -> Result<Option<Preferences>, SubscriptionError> {
        let target = self.verify_unsubscribe(raw_token)?;
        let mut conn = self.store.pool().acquire().await?;
        let Some(subscriber) = Self::find_unsubscribe_target(&mut conn, &target).await? else {
            return Ok(None);
        };
        let all = topic_queries::list(&mut conn).await?;
        let mine = topic_queries::of_subscriber(&mut conn, subscriber.id).await?;
        Ok(Some(Preferences {
            subscriber,
            topics: offered(all, &mine),
        }))
    }

    /// Saves a confirmed reader's name and topics: `chosen` are the slugs
    /// ticked, among the public topics and the private ones they are in
    /// (any other is refused, naming it, and nothing changes). Topics joined
    /// need no new confirmation (the address is confirmed); unticking every
    /// topic leaves everything.
    #[tracing::instrument(skip_all)]
    pub async fn save_preferences(
        &self,
        raw_token: &str,
        name: Option<&SubscriberName>,
        chosen: &[String],
        origin: &RequestOrigin,
    ) -> Result<PreferenceChange, PreferenceError> {
        let target = self.verify_unsubscribe(raw_token)?;
        let now = now_millis();
        let mut tx = self.store.begin_write().await?;
        let Some(subscriber) = Self::find_unsubscribe_target(&mut tx, &target).await? else {
            return Err(SubscriptionError::InvalidUnsubscribeLink.into());
        };
        if subscriber.status != SubscriberStatus::Confirmed {
            return Ok(PreferenceChange::NotConfirmed(subscriber.status));
        }
        let id = subscriber.id;
        let all = topic_queries::list(&mut tx).await?;
        let mine = topic_queries::of_subscriber(&mut tx, id).await?;
        let offered = offered(all, &mine);
        let mut wanted: Vec<&Topic> = Vec::new();
        let mut unknown: Vec<String> = Vec::new();
        for raw in chosen {
            let found = topics::TopicSlug::parse(raw)
                .ok()
                .and_then(|slug| offered.iter().find(|offer| offer.topic.slug == slug));
            match found {
                Some(offer) if !wanted.iter().any(|t| t.id == offer.topic.id) => {
                    wanted.push(&offer.topic)
                }
                Some(_) => {}
                None if !unknown.contains(raw) => unknown.push(raw.clone()),
                None => {}
            }
        }
        if !unknown.is_empty() {
            return Err(UnknownTopics(unknown).into());
        }
        if wanted.is_empty() {
            // Nothing ticked: the reader leaves everything, as the link does.
            drop(tx);
            self.unsubscribe(raw_token, None, true, origin).await?;
            return Ok(PreferenceChange::Unsubscribed);
        }

        if subscriber.name.as_deref() != name.map(SubscriberName::as_str) {
            queries::set_name(&mut tx, id, name, now).await?;
            queries::record_event(&mut tx, id, "name_changed", origin, now).await?;
        }
        let joining: Vec<&Topic> = wanted
            .iter()
            .copied()
            .filter(|topic| topic.is_public() && !mine.iter().any(|m| m.id == topic.id))
            .collect();
        let leaving: Vec<&Topic> = mine
            .iter()
            .filter(|topic| !wanted.iter().any(|w| w.id == topic.id))
            .collect();
        // "signup": the reader's own choice, as on the form.
        let change = TopicChange {
            joining: &joining,
            leaving: &leaving,
            source: MembershipSource::Signup,
            origin,
            note: None,
        };
        let cancelled = self.change_topics_in(&mut tx, id, &change, now).await?;
        tx.commit().await?;
        self.signals.left_issues(id, &cancelled);
        Ok(PreferenceChange::Saved)
    }
}

/// Topics a reader joins and leaves in one change, and its evidence.
struct TopicChange<'a> {
    joining: &'a [&'a Topic],
    leaving: &'a [&'a Topic],
    source: MembershipSource,
    origin: &'a RequestOrigin,
    /// Who did it, when not the reader.
    note: Option<&'a str>,
}

impl Subscriptions {
    /// Applies `change` in the caller's transaction: a `topics_joined` and a
    /// `topics_left` event naming the topics, and the reader's queued copies
    /// of issues none of whose topics they are in any more cancelled.
    /// Returns those issues, for [`crate::delivery::DeliverySignals::left_issues`]
    /// once committed.
    async fn change_topics_in(
        &self,
        conn: &mut sqlx::AnyConnection,
        id: i64,
        change: &TopicChange<'_>,
        now: i64,
    ) -> Result<Vec<i64>, sqlx::Error> {
        let dialect = self.store.dialect();
        if !change.joining.is_empty() {
            let pairs: Vec<(i64, i64)> =
                change.joining.iter().map(|topic| (id, topic.id)).collect();
            topic_queries::join(conn, dialect, &pairs, change.source, now).await?;
            let named = topics::event_topics(change.joining.iter().map(|topic| &topic.slug));
            let event = ("topics_joined", change.note, named.as_deref());
            super::admin_queries::record_events_about(
                conn,
                dialect,
                &[id],
                event,
                change.origin,
                now,
            )
            .await?;
        }
        if change.leaving.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = change.leaving.iter().map(|topic| topic.id).collect();
        topic_queries::leave(conn, id, &ids).await?;
        let named = topics::event_topics(change.leaving.iter().map(|topic| &topic.slug));
        let event = ("topics_left", change.note, named.as_deref());
        super::admin_queries::record_events_about(conn, dialect, &[id], event, change.origin, now)
            .await?;
        deliveries::cancel_outside_topics(conn, id, "the subscriber left the topic").await
    }

    /// An admin sets the topics of subscriber `id` (public or private) to
    /// exactly `slugs`, at least one; `note` says who, for the history.
    /// Returns the slugs they are in now.
    #[tracing::instrument(skip_all)]
    pub async fn set_topics(
        &self,
        id: i64,
        slugs: &[String],
        note: &str,
    ) -> Result<Vec<topics::TopicSlug>, SetTopicsError> {
        let now = now_millis();
        let mut tx = self.store.begin_write().await?;
        if queries::find_by_id(&mut tx, id).await?.is_none() {
            return Err(SetTopicsError::NotFound);
        }
        let all = topic_queries::list(&mut tx).await?;
        let mut wanted: Vec<&Topic> = Vec::new();
        let mut unknown: Vec<String> = Vec::new();
        for raw in slugs {
            let found = topics::TopicSlug::parse(raw)
                .ok()
                .and_then(|slug| all.iter().find(|topic| topic.slug == slug));
            match found {
                Some(topic) if !wanted.iter().any(|t| t.id == topic.id) => wanted.push(topic),
                Some(_) => {}
                None if !unknown.contains(raw) => unknown.push(raw.clone()),
                None => {}
            }
        }
        if !unknown.is_empty() {
            return Err(SetTopicsError::Unknown(unknown));
        }
        if wanted.is_empty() {
            return Err(SetTopicsError::Empty);
        }
        let mine = topic_queries::of_subscriber(&mut tx, id).await?;
        let joining: Vec<&Topic> = wanted
            .iter()
            .copied()
            .filter(|topic| !mine.iter().any(|m| m.id == topic.id))
            .collect();
        let leaving: Vec<&Topic> = mine
            .iter()
            .filter(|topic| !wanted.iter().any(|w| w.id == topic.id))
            .collect();
        let change = TopicChange {
            joining: &joining,
            leaving: &leaving,
            source: MembershipSource::Admin,
            origin: &RequestOrigin::default(),
            note: Some(note),
        };
        let cancelled = self.change_topics_in(&mut tx, id, &change, now).await?;
        let now_in = topic_queries::slugs_of(&mut tx, id).await?;
        tx.commit().await?;
        self.signals.left_issues(id, &cancelled);
        Ok(now_in)
    }

    /// The slugs of the topics subscriber `id` is in; `None` when there is no such subscriber.
    #[tracing::instrument(skip_all)]
    pub async fn topics_of(&self, id: i64) -> Result<Option<Vec<topics::TopicSlug>>, sqlx::Error> {
        let mut conn = self.store.pool().acquire().await?;
        if queries::find_by_id(&mut conn, id).await?.is_none() {
            return Ok(None);
        }
        Ok(Some(topic_queries::slugs_of(&mut conn, id).await?))
    }
}

/// Why an admin's change of a subscriber's topics was refused.
#[derive(Debug, thiserror::Error)]
pub enum SetTopicsError {
    #[error("There is no such subscriber.")]
    NotFound,
    #[error("there is no topic {}", .0.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", "))]
    Unknown(Vec<String>),
    /// Leaving every topic is leaving the list: unsubscribe them instead.
    #[error("a subscriber is in at least one topic; to take them off the list, unsubscribe them")]
    Empty,
    #[error("database error: {0}")]
    Store(#[from] sqlx::Error),
}

/// The public topics and the private ones among `mine`, by name, each
/// marked whether the reader is in it.
fn offered(all: Vec<Topic>, mine: &[Topic]) -> Vec<TopicPreference> {
    all.into_iter()
        .filter_map(|topic| {
            let member = mine.iter().any(|m| m.id == topic.id);
            (topic.is_public() || member).then_some(TopicPreference { topic, member })
        })
        .collect()
}

/// Everything Herald holds about a reader, for "download my data" (GDPR
/// articles 15 and 20): a JSON document a person can read and another
/// service can take in.
#[derive(Debug, serde::Serialize)]
pub struct PersonalData {
    pub profile: Profile,
    /// The topics they are in.
    pub topics: Vec<Membership>,
    /// Every change of their subscription, with its evidence, oldest first.
    pub consent_events: Vec<ConsentEvent>,
    /// The issues sent (or meant to be sent) to them, newest first.
    pub issues_received: Vec<IssueReceived>,
    pub exported_at: String,
}

#[derive(Debug, serde::Serialize)]
pub struct Profile {
    pub email: String,
    pub name: Option<String>,
    pub status: String,
    pub subscribed_since: String,
    /// Every custom field they have a value in, internal ones too: article
    /// 15 covers all that is held about them.
    pub fields: std::collections::BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, serde::Serialize)]
pub struct Membership {
    pub slug: String,
    pub name: String,
    pub joined_at: String,
    /// `signup`, `import`, `admin` or `upgrade`.
    pub source: String,
}

#[derive(Debug, serde::Serialize)]
pub struct ConsentEvent {
    pub kind: String,
    pub at: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub note: Option<String>,
    pub topics: Vec<String>,
}

#[derive(Debug, serde::Serialize)]
pub struct IssueReceived {
    pub issue_id: i64,
    pub subject: String,
    /// `sent`, `queued`, `failed` or `cancelled`.
    pub status: String,
    pub sent_at: Option<String>,
}

/// Copies listed in an export: years of a weekly letter, with room.
const MAX_ISSUES_EXPORTED: i64 = 10_000;

impl Subscriptions {
    /// Everything held about the reader a preference link is for; `None`
    /// when the row is gone.
    #[tracing::instrument(skip_all)]
    pub async fn personal_data(
        &self,
        raw_token: &str,
    ) -> Result<Option<PersonalData>, SubscriptionError> {
        use crate::store::timestamps::rfc3339;
        let target = self.verify_unsubscribe(raw_token)?;
        let mut conn = self.store.pool().acquire().await?;
        let Some(subscriber) = Self::find_unsubscribe_target(&mut conn, &target).await? else {
            return Ok(None);
        };
        let Some(row) = super::admin_queries::find(&mut conn, subscriber.id).await? else {
            return Ok(None);
        };
        let topics = topic_queries::memberships_of(&mut conn, subscriber.id)
            .await?
            .into_iter()
            .map(|(slug, name, joined_at, source)| Membership {
                slug,
                name,
                joined_at: rfc3339(joined_at),
                source,
            })
            .collect();
        let consent_events = super::admin_queries::events(&mut conn, subscriber.id)
            .await?
            .into_iter()
            .map(|event| ConsentEvent {
                kind: event.kind,
                at: rfc3339(event.at),
                ip: event.ip,
                user_agent: event.user_agent,
                note: event.note,
                topics: event
                    .topics
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect(),
            })
            .collect();
        let all_fields = crate::fields::queries::list(&mut conn, false).await?;
        let fields = crate::fields::values_of(
            &mut conn,
            self.store.dialect(),
            &all_fields,
            &[subscriber.id],
        )
        .await?
        .remove(&subscriber.id)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(field, value)| Some((field.key().to_string(), value?.to_json())))
        .collect();
        let issues_received =
            deliveries::for_subscriber(&mut conn, subscriber.id, MAX_ISSUES_EXPORTED)
                .await?
                .into_iter()
                .map(|copy| IssueReceived {
                    issue_id: copy.issue_id,
                    subject: copy.subject,
                    status: copy.status,
                    sent_at: copy.sent_at.map(rfc3339),
                })
                .collect();
        Ok(Some(PersonalData {
            profile: Profile {
                email: super::domain::display_address(&row.email).into_owned(),
                name: row.name,
                status: row.status.to_string(),
                subscribed_since: rfc3339(row.created_at),
                fields,
            },
            topics,
            consent_events,
            issues_received,
            exported_at: rfc3339(now_millis()),
        }))
    }
}

/// How long the link of an erasure mail works (and the mail may wait to go).
pub const ERASURE_LINK_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);

/// Erasure mails a reader may ask for in a day: enough for a lost mail or
/// two, too few to make the form a way to mail-bomb anyone.
const ERASURE_MAILS_PER_DAY: i64 = 3;

/// Why an erasure link does not erase.
#[derive(Debug, thiserror::Error)]
pub enum ErasureLinkError {
    #[error("this erasure link is not one we sent")]
    Invalid,
    #[error("this erasure link has expired")]
    Expired,
    /// The reader is gone already: erased, by this link or otherwise.
    #[error("there is nothing left to erase")]
    Gone,
    #[error(transparent)]
    Admin(#[from] super::admin::AdminError),
    #[error("database error: {0}")]
    Store(#[from] sqlx::Error),
}

impl Subscriptions {
    /// Queues the mail whose link erases the reader a preference link is
    /// for, with an `erasure_requested` event; false when today's mails of
    /// the kind were sent already (nothing queued).
    #[tracing::instrument(skip_all)]
    pub async fn request_erasure(
        &self,
        raw_token: &str,
        origin: &RequestOrigin,
    ) -> Result<bool, SubscriptionError> {
        use crate::delivery::outbox::{self, MailKind};
        const DAY_MILLIS: i64 = 24 * 60 * 60 * 1000;
        let target = self.verify_unsubscribe(raw_token)?;
        let now = now_millis();
        let mut tx = self.store.begin_write().await?;
        let Some(subscriber) = Self::find_unsubscribe_target(&mut tx, &target).await? else {
            return Err(SubscriptionError::InvalidUnsubscribeLink);
        };
        let (queued, _) =
            outbox::queued_since(&mut tx, MailKind::Erasure, subscriber.id, now - DAY_MILLIS)
                .await?;
        if queued >= ERASURE_MAILS_PER_DAY {
            return Ok(false);
        }
        let expires_at = now + crate::store::millis(ERASURE_LINK_TTL);
        outbox::enqueue(
            &mut tx,
            MailKind::Erasure,
            subscriber.id,
            None,
            now,
            expires_at,
        )
        .await?;
        queries::record_event(&mut tx, subscriber.id, "erasure_requested", origin, now).await?;
        tx.commit().await?;
        self.signals.mail_queued();
        Ok(true)
    }

    /// The reader an erasure link names, if it still works: the page that
    /// shows its button checks this, and changes nothing.
    #[tracing::instrument(skip_all)]
    pub async fn erasure_target(
        &self,
        raw_token: &str,
    ) -> Result<SubscriberRecord, ErasureLinkError> {
        let (link_key, expires_at) =
            super::ErasureToken::verify(&self.key, raw_token).ok_or(ErasureLinkError::Invalid)?;
        if expires_at <= now_millis() {
            return Err(ErasureLinkError::Expired);
        }
        let mut conn = self.store.pool().acquire().await?;
        queries::find_by_link_key(&mut conn, &link_key)
            .await?
            .ok_or(ErasureLinkError::Gone)
    }

    /// Erases the reader an erasure link names, as an admin's erasure does
    /// (the same function); returns their former id for the audit log.
    #[tracing::instrument(skip_all)]
    pub async fn erase_by_link(&self, raw_token: &str) -> Result<i64, ErasureLinkError> {
        let subscriber = self.erasure_target(raw_token).await?;
        match self.erase(subscriber.id).await {
            Ok(()) => Ok(subscriber.id),
            // Erased by a second click a moment ago.
            Err(super::admin::AdminError::NotFound) => Err(ErasureLinkError::Gone),
            Err(other) => Err(other.into()),
        }
    }
}
