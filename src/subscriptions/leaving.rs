//! Leaving by a reader's link (issue 14, item 2): the one-click link of an
//! issue's copy leaves the issue's topics only; the link without an issue
//! (older mail, the welcome mail) or with `all=1` leaves everything. A reader
//! left in no topic at all is unsubscribed altogether.

use super::{
    queries, RequestOrigin, SubscriberRecord, SubscriberStatus, SubscriptionError, Subscriptions,
};
use crate::delivery::deliveries;
use crate::store::now_millis;
use crate::telemetry;
use crate::topics::{self, queries as topic_queries, Topic};

/// What a reader's unsubscribe link does when its button is pressed.
#[derive(Debug, Clone)]
pub enum Leave {
    /// Off the list: unsubscribed.
    Everything,
    /// Out of these topics (the issue's that they are in), still on the list
    /// in their others.
    Topics(Vec<Topic>),
    /// They are in none of the issue's topics (any more): nothing to leave
    /// but everything.
    AlreadyLeft(Vec<Topic>),
}

/// What a press of the button did.
#[derive(Debug, Clone)]
pub enum Left {
    Everything,
    Topics(Vec<Topic>),
    /// Nothing changed: the reader had left those topics already.
    AlreadyLeft(Vec<Topic>),
}

impl Subscriptions {
    /// The reader an unsubscribe link is for (on the list: pending or
    /// confirmed) and what its button would do; `None` when they are no
    /// longer on the list.
    #[tracing::instrument(skip_all)]
    pub async fn unsubscribe_plan(
        &self,
        raw_token: &str,
        issue_id: Option<i64>,
        all: bool,
    ) -> Result<Option<(SubscriberRecord, Leave)>, SubscriptionError> {
        let target = self.verify_unsubscribe(raw_token)?;
        let mut conn = self.store.pool().acquire().await?;
        let Some(subscriber) = Self::find_unsubscribe_target(&mut conn, &target).await? else {
            return Ok(None);
        };
        if !matches!(
            subscriber.status,
            SubscriberStatus::Pending | SubscriberStatus::Confirmed
        ) {
            return Ok(None);
        }
        let leave = plan(&mut conn, &subscriber, issue_id, all).await?;
        Ok(Some((subscriber, leave)))
    }

    /// Does what [`Subscriptions::unsubscribe_plan`] says, each change an
    /// event with `origin` and the topics it covers: leaving topics is a
    /// `topics_left` event, and unsent copies of issues whose topics the
    /// reader is no longer in are cancelled; leaving everything takes the
    /// reader off the list at once (unsent mail dropped, open confirmation
    /// links withdrawn). Doing it twice is harmless. `issue_id` is the issue
    /// whose copy the link came in, if it says: it decides the topics, and
    /// the issue's report counts the leaving when the reader was sent a copy.
    #[tracing::instrument(skip_all)]
    pub async fn unsubscribe(
        &self,
        raw_token: &str,
        issue_id: Option<i64>,
        all: bool,
        origin: &RequestOrigin,
    ) -> Result<Left, SubscriptionError> {
        // Checked before the transaction: a forged link takes no write lock.
        let target = self.verify_unsubscribe(raw_token)?;
        let now = now_millis();
        let mut tx = self.store.begin_write().await?;
        let Some(subscriber) = Self::find_unsubscribe_target(&mut tx, &target).await? else {
            return Ok(Left::Everything);
        };
        let id = subscriber.id;
        match plan(&mut tx, &subscriber, issue_id, all).await? {
            Leave::AlreadyLeft(topics) => Ok(Left::AlreadyLeft(topics)),
            Leave::Topics(topics) => {
                let ids: Vec<i64> = topics.iter().map(|topic| topic.id).collect();
                topic_queries::leave(&mut tx, id, &ids).await?;
                let named = topics::event_topics(topics.iter().map(|topic| &topic.slug));
                queries::record_event_about(
                    &mut tx,
                    id,
                    "topics_left",
                    named.as_deref(),
                    origin,
                    now,
                )
                .await?;
                let issues =
                    deliveries::cancel_outside_topics(&mut tx, id, "the subscriber left the topic")
                        .await?;
                if let Some(issue_id) = issue_id {
                    crate::reports::Reports::record_unsubscribe(&mut tx, issue_id, id, now).await?;
                }
                tx.commit().await?;
                self.signals.left_issues(id, &issues);
                metrics::counter!(telemetry::UNSUBSCRIBES).increment(1);
                Ok(Left::Topics(topics))
            }
            Leave::Everything => {
                let mine = topic_queries::slugs_of(&mut tx, id).await?;
                let left = Self::take_off_list(&mut tx, &subscriber, now).await?;
                if left {
                    // The evidence names what they left: every topic they were in.
                    let named = topics::event_topics(&mine);
                    queries::record_event_about(
                        &mut tx,
                        id,
                        "unsubscribed",
                        named.as_deref(),
                        origin,
                        now,
                    )
                    .await?;
                    if let Some(issue_id) = issue_id {
                        crate::reports::Reports::record_unsubscribe(&mut tx, issue_id, id, now)
                            .await?;
                    }
                }
                tx.commit().await?;
                if left {
                    self.signals.departed(id);
                    metrics::counter!(telemetry::UNSUBSCRIBES).increment(1);
                }
                Ok(Left::Everything)
            }
        }
    }
}

/// What the link does for `subscriber`: with an issue (and not `all`), a
/// confirmed reader leaves the issue's topics they are in, or everything
/// when those are all their topics. An issue that names no topic (not a
/// number Herald wrote) leaves everything: the reader asked to leave.
async fn plan(
    conn: &mut sqlx::AnyConnection,
    subscriber: &SubscriberRecord,
    issue_id: Option<i64>,
    all: bool,
) -> Result<Leave, sqlx::Error> {
    let Some(issue_id) = issue_id.filter(|_| !all) else {
        return Ok(Leave::Everything);
    };
    if subscriber.status != SubscriberStatus::Confirmed {
        return Ok(Leave::Everything);
    }
    let of_issue = topic_queries::of_issue(conn, issue_id).await?;
    if of_issue.is_empty() {
        return Ok(Leave::Everything);
    }
    let mine = topic_queries::of_subscriber(conn, subscriber.id).await?;
    let leaving: Vec<Topic> = mine
        .iter()
        .filter(|topic| of_issue.iter().any(|t| t.id == topic.id))
        .cloned()
        .collect();
    Ok(if leaving.is_empty() {
        Leave::AlreadyLeft(of_issue)
    } else if leaving.len() == mine.len() {
        Leave::Everything
    } else {
        Leave::Topics(leaving)
    })
}
