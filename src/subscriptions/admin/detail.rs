//! One subscriber with their history: what happened, when, from where, and
//! any note kept with it (who vouched for an import's consent, which admin acted).

use super::super::admin_queries::{self, EventRow, SubscriberRow};
use super::super::Subscriptions;

/// One line of a subscriber's history.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    /// As stored: `signed_up`, `confirmed`, `unsubscribed`, `imported`, …
    pub kind: String,
    pub at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub note: Option<String>,
    /// The slugs of the topics the step covered, as they were then.
    pub topics: Vec<String>,
}

impl HistoryEntry {
    /// What happened, for people.
    pub fn description(&self) -> &str {
        match self.kind.as_str() {
            "signed_up" => "Signed up",
            "confirmed" => "Confirmed",
            "unsubscribed" => "Unsubscribed",
            "bounced" => "Bounced",
            "imported" if self.note.is_some() => "Imported as confirmed",
            "imported" => "Imported; confirmation mail sent",
            "added" if self.note.is_some() => "Added as confirmed",
            "added" => "Added; confirmation mail sent",
            "confirmation_resent" => "Confirmation mail sent again",
            "topics_added" => "Added topics (signed up again while confirmed)",
            "fields_changed" => "Custom fields changed",
            "topics_joined" => "Joined topics (preference centre)",
            "topics_left" => "Left topics",
            "name_changed" => "Changed their name (preference centre)",
            "erasure_requested" => "Asked to be erased (mail with a link sent)",
            other => other,
        }
    }
}

impl From<EventRow> for HistoryEntry {
    fn from(row: EventRow) -> Self {
        Self {
            kind: row.kind,
            at: row.at,
            ip: row.ip,
            user_agent: row.user_agent,
            note: row.note,
            topics: row
                .topics
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SubscriberDetail {
    pub subscriber: SubscriberRow,
    /// Oldest first.
    pub history: Vec<HistoryEntry>,
    /// The slugs of the topics they are in (in effect once confirmed).
    pub topics: Vec<String>,
    /// Every custom field, in form order, with their value if they have one.
    pub fields: crate::fields::ReaderValues,
}

impl Subscriptions {
    /// A subscriber and their history; `None` when there is no such subscriber.
    #[tracing::instrument(skip_all)]
    pub async fn detail(&self, id: i64) -> Result<Option<SubscriberDetail>, sqlx::Error> {
        let mut conn = self.store.pool().acquire().await?;
        let Some(subscriber) = admin_queries::find(&mut conn, id).await? else {
            return Ok(None);
        };
        let history = admin_queries::events(&mut conn, id)
            .await?
            .into_iter()
            .map(HistoryEntry::from)
            .collect();
        let topics = crate::topics::queries::slugs_of(&mut conn, id)
            .await?
            .iter()
            .map(ToString::to_string)
            .collect();
        let all_fields = crate::fields::queries::list(&mut conn, false).await?;
        let fields = crate::fields::values_of(&mut conn, self.store.dialect(), &all_fields, &[id])
            .await?
            .remove(&id)
            .unwrap_or_default();
        Ok(Some(SubscriberDetail {
            subscriber,
            history,
            topics,
            fields,
        }))
    }
}
