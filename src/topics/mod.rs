//! Topics (issue 14, item 1): the newsletters of one site that readers choose
//! among, and who is in which. Admins define them; signups, imports and the
//! API put readers in them through the functions here; SQL in `queries.rs`.
//!
//! A membership is in effect while its subscriber is confirmed, so a pending
//! reader's topics are exactly what their one confirmation covers.

pub mod domain;
pub(crate) mod queries;

use std::collections::BTreeSet;

use sqlx::AnyConnection;

use crate::store::{now_millis, Store};

pub use domain::{
    TopicDefinition, TopicDescription, TopicInputError, TopicName, TopicSlug, Visibility,
    MAX_DESCRIPTION_LENGTH, MAX_SLUG_LENGTH, MAX_TOPIC_NAME_LENGTH,
};

/// A topic as stored.
#[derive(Debug, Clone)]
pub struct Topic {
    pub id: i64,
    pub slug: TopicSlug,
    pub name: String,
    pub description: String,
    pub visibility: Visibility,
    pub on_by_default: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// Confirmed readers, when they were counted.
    pub readers: Option<i64>,
}

impl Topic {
    pub fn is_public(&self) -> bool {
        self.visibility == Visibility::Public
    }
}

/// How a reader came into a topic, kept with the membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipSource {
    /// The signup form or `POST /subscriptions`.
    Signup,
    /// A CSV import.
    Import,
    /// An admin's add, on the subscriber pages or through the API.
    Admin,
}

impl MembershipSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Signup => "signup",
            Self::Import => "import",
            Self::Admin => "admin",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("there is no such topic")]
    NotFound,
    #[error("the slug {0} is taken by another topic")]
    SlugTaken(TopicSlug),
    /// Signups, imports and issues need somewhere to go.
    #[error("the last topic cannot be deleted: every reader is in at least one topic, so create another one first")]
    LastTopic,
    /// Who was meant to get an issue stays on record.
    #[error("{topic} cannot be deleted: {issues} issue(s) went or go to it; make it private to take it off the signup form instead")]
    HasIssues { topic: TopicSlug, issues: i64 },
    /// Slugs an issue was addressed to that are no topic.
    #[error("there is no topic {}", quoted(.0))]
    Unknown(Vec<String>),
    #[error("database error: {0}")]
    Store(#[from] sqlx::Error),
}

/// Slugs a signup named that no reader may choose: unknown, or private.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", unknown_topics_message(.0))]
pub struct UnknownTopics(pub Vec<String>);

/// `"a", "b"`
fn quoted(slugs: &[String]) -> String {
    let quoted: Vec<String> = slugs.iter().map(|slug| format!("\"{slug}\"")).collect();
    quoted.join(", ")
}

fn unknown_topics_message(slugs: &[String]) -> String {
    let quoted: Vec<String> = slugs.iter().map(|slug| format!("\"{slug}\"")).collect();
    match quoted.as_slice() {
        [one] => format!("There is no topic {one} to subscribe to."),
        _ => format!("There are no topics {} to subscribe to.", quoted.join(", ")),
    }
}

/// The topics a signup chose, as ids of public topics; empty: none chosen
/// (the ones on by default then).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicChoice(Vec<i64>);

impl TopicChoice {
    pub fn ids(&self) -> &[i64] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `"3 5"`, as a queued signup keeps it; None when nothing was chosen.
    pub fn to_stored(&self) -> Option<String> {
        if self.0.is_empty() {
            return None;
        }
        let ids: Vec<String> = self.0.iter().map(i64::to_string).collect();
        Some(ids.join(" "))
    }

    /// Read back from a queued signup; what does not parse is left out.
    pub fn from_stored(stored: Option<&str>) -> Self {
        Self(
            stored
                .unwrap_or("")
                .split_whitespace()
                .filter_map(|id| id.parse().ok())
                .collect(),
        )
    }
}

/// The topics a signup joins: the chosen ones that are still public, or if
/// none is (nothing chosen, or what was chosen has gone since), the ones on
/// by default. `topics` is every topic.
pub fn resolve_choice<'a>(topics: &'a [Topic], choice: &TopicChoice) -> Vec<&'a Topic> {
    let chosen: Vec<&Topic> = topics
        .iter()
        .filter(|topic| topic.is_public() && choice.ids().contains(&topic.id))
        .collect();
    if !chosen.is_empty() {
        return chosen;
    }
    topics.iter().filter(|topic| topic.on_by_default).collect()
}

/// `"daily weekly"`: how an event names the topics it covers.
pub fn event_topics<'a>(slugs: impl IntoIterator<Item = &'a TopicSlug>) -> Option<String> {
    let slugs: BTreeSet<&str> = slugs.into_iter().map(TopicSlug::as_str).collect();
    (!slugs.is_empty()).then(|| slugs.into_iter().collect::<Vec<_>>().join(" "))
}

#[derive(Clone)]
pub struct Topics {
    store: Store,
}

impl Topics {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Every topic by name, with its confirmed readers counted.
    #[tracing::instrument(skip_all)]
    pub async fn list(&self) -> Result<Vec<Topic>, sqlx::Error> {
        let mut conn = self.store.pool().acquire().await?;
        queries::list_with_readers(&mut conn).await
    }

    /// Every topic by name, without counting readers.
    #[tracing::instrument(skip_all)]
    pub async fn all(&self) -> Result<Vec<Topic>, sqlx::Error> {
        let mut conn = self.store.pool().acquire().await?;
        queries::list(&mut conn).await
    }

    /// The topics a reader may choose, by name.
    #[tracing::instrument(skip_all)]
    pub async fn public(&self) -> Result<Vec<Topic>, sqlx::Error> {
        let mut conn = self.store.pool().acquire().await?;
        let topics = queries::list(&mut conn).await?;
        Ok(topics.into_iter().filter(Topic::is_public).collect())
    }

    #[tracing::instrument(skip_all)]
    pub async fn get(&self, id: i64) -> Result<Topic, TopicError> {
        let mut conn = self.store.pool().acquire().await?;
        queries::find(&mut conn, id)
            .await?
            .ok_or(TopicError::NotFound)
    }

    /// The public topics `raw` names, as a signup keeps them; every slug
    /// that is not one is reported at once (case and spaces aside).
    #[tracing::instrument(skip_all)]
    pub async fn choose(&self, raw: &[String]) -> Result<TopicChoice, TopicChoiceError> {
        if raw.is_empty() {
            return Ok(TopicChoice::default());
        }
        let topics = self.public().await?;
        let (ids, unknown) = resolve_slugs(&topics, raw);
        if !unknown.is_empty() {
            return Err(TopicChoiceError::Unknown(UnknownTopics(unknown)));
        }
        Ok(TopicChoice(ids))
    }

    #[tracing::instrument(skip_all)]
    pub async fn create(&self, definition: &TopicDefinition) -> Result<Topic, TopicError> {
        let mut tx = self.store.begin_write().await?;
        let id = queries::insert(&mut tx, definition, now_millis())
            .await?
            .ok_or_else(|| TopicError::SlugTaken(definition.slug.clone()))?;
        let topic = queries::find(&mut tx, id)
            .await?
            .ok_or(TopicError::NotFound)?;
        tx.commit().await?;
        tracing::info!(topic = %definition.slug, "topic created");
        Ok(topic)
    }

    /// Replaces a topic's definition; its readers stay in it.
    #[tracing::instrument(skip_all)]
    pub async fn update(&self, id: i64, definition: &TopicDefinition) -> Result<Topic, TopicError> {
        let mut tx = self.store.begin_write().await?;
        if queries::slug_holder(&mut tx, &definition.slug, Some(id))
            .await?
            .is_some()
        {
            return Err(TopicError::SlugTaken(definition.slug.clone()));
        }
        match queries::update(&mut tx, id, definition, now_millis()).await {
            Ok(true) => {}
            Ok(false) => return Err(TopicError::NotFound),
            // Taken by a concurrent change since we looked.
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
                return Err(TopicError::SlugTaken(definition.slug.clone()));
            }
            Err(error) => return Err(error.into()),
        }
        let topic = queries::find(&mut tx, id)
            .await?
            .ok_or(TopicError::NotFound)?;
        tx.commit().await?;
        Ok(topic)
    }

    /// Deletes a topic and its memberships; never the last one.
    #[tracing::instrument(skip_all)]
    pub async fn delete(&self, id: i64) -> Result<Topic, TopicError> {
        let mut tx = self.store.begin_write().await?;
        let topic = queries::find(&mut tx, id)
            .await?
            .ok_or(TopicError::NotFound)?;
        if queries::count(&mut tx).await? <= 1 {
            return Err(TopicError::LastTopic);
        }
        let issues = queries::issues_addressed(&mut tx, id).await?;
        if issues > 0 {
            return Err(TopicError::HasIssues {
                topic: topic.slug,
                issues,
            });
        }
        queries::delete(&mut tx, id).await?;
        tx.commit().await?;
        tracing::info!(topic = %topic.slug, "topic deleted");
        Ok(topic)
    }
}

impl Topics {
    /// The topics issue `issue_id` goes to, by name.
    #[tracing::instrument(skip_all)]
    pub async fn of_issue(&self, issue_id: i64) -> Result<Vec<Topic>, sqlx::Error> {
        let mut conn = self.store.pool().acquire().await?;
        queries::of_issue(&mut conn, issue_id).await
    }

    /// The ids of the topics (public or private: editors may write to any)
    /// that `raw` names; every slug that is none is reported at once.
    #[tracing::instrument(skip_all)]
    pub async fn for_issue(&self, raw: &[String]) -> Result<Vec<i64>, TopicError> {
        let mut conn = self.store.pool().acquire().await?;
        let topics = queries::list(&mut conn).await?;
        let (ids, unknown) = resolve_slugs(&topics, raw);
        if !unknown.is_empty() {
            return Err(TopicError::Unknown(unknown));
        }
        Ok(ids)
    }

    /// Addresses issue `issue_id` to `topic_ids` (at least one), in the
    /// caller's transaction; the caller checked the issue is a draft.
    pub async fn address_issue_in(
        conn: &mut AnyConnection,
        dialect: crate::store::Dialect,
        issue_id: i64,
        topic_ids: &[i64],
    ) -> Result<(), sqlx::Error> {
        queries::address_issue(conn, dialect, issue_id, topic_ids).await
    }
}

/// Why a signup's topics were refused.
#[derive(Debug, thiserror::Error)]
pub enum TopicChoiceError {
    #[error(transparent)]
    Unknown(#[from] UnknownTopics),
    #[error("database error: {0}")]
    Store(#[from] sqlx::Error),
}

/// Puts new subscribers in the topics on by default, in the caller's
/// transaction (imports, admin and API adds, samples); returns their slugs, for the
/// event that records the addition.
pub async fn join_defaults(
    conn: &mut AnyConnection,
    dialect: crate::store::Dialect,
    subscriber_ids: &[i64],
    source: MembershipSource,
    at: i64,
) -> Result<Option<String>, sqlx::Error> {
    queries::join_defaults(conn, dialect, subscriber_ids, source, at).await?;
    let topics = queries::list(conn).await?;
    Ok(event_topics(
        topics
            .iter()
            .filter(|topic| topic.on_by_default)
            .map(|topic| &topic.slug),
    ))
}

/// The ids, sorted and each once, of the topics among `topics` that `raw`
/// names, and the slugs that name none of them (each once, as given).
fn resolve_slugs(topics: &[Topic], raw: &[String]) -> (Vec<i64>, Vec<String>) {
    let mut ids = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    for slug in raw {
        let found = TopicSlug::parse(slug)
            .ok()
            .and_then(|slug| topics.iter().find(|topic| topic.slug == slug));
        match found {
            Some(topic) => ids.push(topic.id),
            None if !unknown.contains(slug) => unknown.push(slug.clone()),
            None => {}
        }
    }
    ids.sort_unstable();
    ids.dedup();
    (ids, unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(id: i64, slug: &str, visibility: Visibility, on_by_default: bool) -> Topic {
        Topic {
            id,
            slug: TopicSlug::parse(slug).expect("valid"),
            name: slug.to_owned(),
            description: String::new(),
            visibility,
            on_by_default,
            created_at: 0,
            updated_at: 0,
            readers: None,
        }
    }

    #[test]
    fn nothing_chosen_means_the_topics_on_by_default() {
        let topics = [
            topic(1, "daily", Visibility::Public, true),
            topic(2, "weekly", Visibility::Public, false),
            topic(3, "press", Visibility::Private, false),
        ];
        let slugs = |choice: &TopicChoice| -> Vec<String> {
            resolve_choice(&topics, choice)
                .iter()
                .map(|t| t.slug.to_string())
                .collect()
        };
        assert_eq!(slugs(&TopicChoice::default()), ["daily"]);
        assert_eq!(slugs(&TopicChoice::from_stored(Some("2"))), ["weekly"]);
        // A private topic is never joined by choice, nor a deleted one.
        assert_eq!(slugs(&TopicChoice::from_stored(Some("3 9"))), ["daily"]);
    }

    #[test]
    fn a_choice_survives_the_queue() {
        let choice = TopicChoice(vec![2, 5]);
        assert_eq!(choice.to_stored().as_deref(), Some("2 5"));
        assert_eq!(
            TopicChoice::from_stored(choice.to_stored().as_deref()),
            choice
        );
        assert_eq!(TopicChoice::default().to_stored(), None);
    }

    #[test]
    fn unknown_topics_are_named() {
        assert_eq!(
            UnknownTopics(vec!["nope".into()]).to_string(),
            "There is no topic \"nope\" to subscribe to."
        );
        assert_eq!(
            UnknownTopics(vec!["a".into(), "b".into()]).to_string(),
            "There are no topics \"a\", \"b\" to subscribe to."
        );
    }
}
