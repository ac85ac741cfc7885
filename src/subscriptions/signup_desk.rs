//! Signups answered without looking at the address (issue 10, item 12).
//!
//! The answer to `POST /subscriptions` must not tell a confirmed address from
//! a new one, in its words or in its timing. So the handler does the same work
//! for every address — validate, write one row to `signup_requests`, answer —
//! and everything that depends on the address's state (look it up, insert or
//! update the subscriber, queue the confirmation within the per-address
//! limits) happens here, in the background, after the answer is gone. The desk
//! runs wherever the delivery engine runs (`serve`, `worker`), takes requests
//! in batches, and deletes them in the transaction that handles them, so a
//! request is handled once even with several processes, and a crash leaves it
//! queued, not lost. The handler's row is written by the intake
//! (`signup_intake`), together with the rows of other signups arriving at the
//! same moment, which does not look at the address either.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;

use super::{
    admin_queries, queries, LinkKey, RequestOrigin, SignupOutcome, SubscriberEmail, SubscriberName,
    SubscriberStatus, Subscriptions,
};
use crate::fields::{self, CheckedValues};
use crate::store::now_millis;
use crate::suppressions;
use crate::telemetry;
use crate::topics::{self, queries as topic_queries, MembershipSource, TopicChoice};

/// Requests handled per transaction. On SQLite the desk holds the store's
/// write turn for a whole batch while new signups wait for theirs
/// (`signup_intake`). A batch of new addresses costs a few statements
/// whatever its size (`sign_up_batch`); one request at a time, 200 held the
/// turn for tens of milliseconds and set the signups' p99.
const BATCH: i64 = 200;
/// How often the desk looks without being woken: for requests another process
/// took in, or left behind by a crash.
const POLL: Duration = Duration::from_secs(1);
/// While signups keep arriving (one in the last [`BURST_QUIET`]), the desk
/// handles at most [`BURST_BATCH`] requests every [`BURST_PAUSE`] (500 a
/// second) and leaves the rest queued, durable, for the moment arrivals stop.
/// Each signup's background work (the desk, then its confirmation built and
/// sent) costs about as much CPU as its answer, on the same cores as the web
/// workers: done as the signups arrive, it halved the rate a burst was
/// answered at (herald-bench signups, docs/performance.md). A site that
/// takes fewer than 500 signups a second never waits.
const BURST_BATCH: i64 = 100;
const BURST_PAUSE: Duration = Duration::from_millis(200);
const BURST_QUIET: Duration = Duration::from_millis(250);
/// A request that has waited this long is handled at full speed, burst or
/// not: under a burst that never ends, confirmations lag by this much, not
/// without bound.
const BURST_MAX_LAG: Duration = Duration::from_secs(30);
/// A pause after a wake-up, so that requests arriving together are handled
/// together: the write lock the desk takes then does not follow each signup
/// on its own, which would let the next request's timing hint at the last
/// one's address.
const GATHER: Duration = Duration::from_millis(25);

impl Subscriptions {
    /// What the signup handler does for every valid signup, whatever the
    /// address's state: one row written, the desk woken.
    #[tracing::instrument(skip_all)]
    pub async fn request_signup(
        &self,
        email: &SubscriberEmail,
        name: Option<&SubscriberName>,
        topics: &TopicChoice,
        field_values: &CheckedValues,
        origin: &RequestOrigin,
    ) -> Result<(), sqlx::Error> {
        let request = queries::NewSignupRequest {
            email: email.as_str().to_owned(),
            name: name.map(|name| name.as_str().to_owned()),
            origin: origin.clone(),
            received_at: now_millis(),
            topic_ids: topics.to_stored(),
            field_values: field_values.to_stored(),
        };
        // Committed (with whatever other signups arrived meanwhile) before the
        // handler answers; a storage failure reaches `/health`.
        self.signup_intake.write(&self.store, request).await?;
        self.last_signup_at.store(now_millis(), Ordering::Relaxed);
        self.signup_queued.notify_one();
        Ok(())
    }

    /// Handles queued signup requests until none is left; returns how many.
    pub async fn handle_signup_requests(&self) -> Result<u64, sqlx::Error> {
        let mut handled = 0;
        loop {
            let batch = self.handle_batch(BATCH).await?;
            handled += batch.handled;
            if batch.handled < BATCH as u64 {
                return Ok(handled);
            }
        }
    }

    /// Handles queued requests as [`Subscriptions::handle_signup_requests`]
    /// does, but during a burst of signups one batch of [`BURST_BATCH`] at
    /// most: true when it stopped there with requests left.
    async fn handle_paced_signup_requests(&self) -> Result<bool, sqlx::Error> {
        loop {
            let burst = now_millis() - self.last_signup_at.load(Ordering::Relaxed)
                < crate::store::millis(BURST_QUIET);
            let limit = if burst { BURST_BATCH } else { BATCH };
            let batch = self.handle_batch(limit).await?;
            if batch.handled < limit as u64 {
                // The queue is empty (or was a moment ago).
                return Ok(false);
            }
            let lag = batch
                .oldest_received_at
                .map_or(0, |oldest| now_millis() - oldest);
            if burst && lag < crate::store::millis(BURST_MAX_LAG) {
                return Ok(true);
            }
        }
    }

    /// Handles up to `limit` queued requests in one transaction.
    async fn handle_batch(&self, limit: i64) -> Result<Batch, sqlx::Error> {
        let _turn = self.store.write_turn().await;
        let mut tx = self.store.begin_write().await?;
        let requests = queries::take_signup_requests(&mut tx, limit).await?;
        if requests.is_empty() {
            return Ok(Batch::default());
        }
        let outcomes = self.sign_up_batch(&mut tx, &requests).await?;
        tx.commit().await?;
        let batch = Batch {
            handled: requests.len() as u64,
            oldest_received_at: requests.iter().map(|request| request.received_at).min(),
        };
        if outcomes.contains(&SignupOutcome::ConfirmationQueued) {
            self.signals.mail_queued();
        }
        for outcome in outcomes {
            tracing::info!(?outcome, "signup handled");
            let label = match outcome {
                SignupOutcome::ConfirmationQueued => "confirmation_queued",
                SignupOutcome::ConfirmationWithheld => "confirmation_withheld",
                SignupOutcome::AlreadyConfirmed => "already_confirmed",
                SignupOutcome::TopicsAdded => "topics_added",
                SignupOutcome::Suppressed => "suppressed",
            };
            metrics::counter!(telemetry::SIGNUPS, "outcome" => label).increment(1);
        }
        Ok(batch)
    }

    /// Handles a batch of queued requests in the caller's transaction, with
    /// the outcome `sign_up_in` would give each in turn. New addresses (the
    /// usual case) go in a few statements for the whole batch, since each
    /// statement is a hand-off to SQLite's connection thread made while new
    /// signups wait for the write turn; any other request (an address
    /// already listed, a second request for one in this batch, one that is
    /// not ASCII and so may fold differently in SQL) goes through
    /// `sign_up_in` afterwards, in arrival order.
    async fn sign_up_batch(
        &self,
        tx: &mut sqlx::AnyConnection,
        requests: &[queries::SignupRequest],
    ) -> Result<Vec<SignupOutcome>, sqlx::Error> {
        let dialect = self.store.dialect();
        // A handful of rows, read once a batch: what each signup's choice means now.
        let topics = topic_queries::list(tx).await?;
        let custom_fields = fields::queries::list(tx, false).await?;
        let queued: Vec<QueuedSignup> = requests
            .iter()
            .filter_map(|request| QueuedSignup::parse(request, &custom_fields))
            .collect();
        let emails: Vec<&SubscriberEmail> = queued.iter().map(|signup| &signup.email).collect();
        let suppressed = suppressions::suppressed_among(tx, dialect, &self.key, &emails).await?;
        let candidates: Vec<String> = queued
            .iter()
            .enumerate()
            .filter(|(index, signup)| !suppressed.contains(index) && signup.is_ascii())
            .map(|(_, signup)| signup.address())
            .collect();
        let listed = queries::listed_addresses(tx, dialect, &candidates).await?;

        let mut seen = HashSet::new();
        let mut fresh = Vec::new();
        let mut others = Vec::new();
        for (index, signup) in queued.iter().enumerate() {
            if suppressed.contains(&index) {
                continue;
            }
            let address = signup.address();
            if signup.is_ascii() && !listed.contains(&address) && seen.insert(address) {
                fresh.push(signup);
            } else {
                others.push(signup);
            }
        }

        let link_keys: Vec<LinkKey> = fresh.iter().map(|_| LinkKey::generate()).collect();
        let rows: Vec<admin_queries::NewSubscriberRow> = fresh
            .iter()
            .zip(&link_keys)
            .map(|(signup, link_key)| admin_queries::NewSubscriberRow {
                email: signup.email.as_str(),
                name: signup.name.as_ref().map(SubscriberName::as_str),
                status: SubscriberStatus::Pending,
                created_at: signup.at,
                link_key: link_key.as_str(),
            })
            .collect();
        let inserted: HashMap<String, i64> = admin_queries::insert_listing(tx, dialect, &rows)
            .await?
            .into_iter()
            .map(|(id, address)| (address, id))
            .collect();
        let mut events = Vec::with_capacity(fresh.len());
        let mut memberships = Vec::with_capacity(fresh.len());
        let mut values = Vec::new();
        let mut confirmations = Vec::with_capacity(fresh.len());
        let mut outcomes = Vec::with_capacity(queued.len());
        outcomes.resize(suppressed.len(), SignupOutcome::Suppressed);
        for signup in &fresh {
            match inserted.get(&signup.address()) {
                Some(&id) => {
                    let joining = topics::resolve_choice(&topics, &signup.choice);
                    memberships.extend(joining.iter().map(|topic| (id, topic.id)));
                    if !signup.values.is_empty() {
                        values.push((id, &signup.values));
                    }
                    events.push(queries::SignupEvent {
                        subscriber_id: id,
                        at: signup.at,
                        origin: &signup.origin,
                        topics: topics::event_topics(joining.iter().map(|topic| &topic.slug)),
                    });
                    confirmations.push(self.new_confirmation(id, signup.at));
                    outcomes.push(SignupOutcome::ConfirmationQueued);
                }
                // Listed by another process since we looked: as if we came second.
                None => outcomes.push(SignupOutcome::ConfirmationWithheld),
            }
        }
        // Dated by the batch, not each signup: the event keeps when each chose.
        let now = now_millis();
        topic_queries::join(tx, dialect, &memberships, MembershipSource::Signup, now).await?;
        fields::write_many(tx, dialect, &values).await?;
        queries::record_signup_events(tx, dialect, &events).await?;
        self.send_confirmations(tx, &confirmations).await?;

        for signup in others {
            let outcome = self
                .sign_up_in(
                    tx,
                    &signup.email,
                    signup.name.as_ref(),
                    &signup.choice,
                    &topics,
                    &signup.values,
                    &signup.origin,
                    signup.at,
                )
                .await?;
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    /// The desk's loop: handles requests when woken or every [`POLL`], until `stop`.
    pub async fn run_signup_desk(self, mut stop: watch::Receiver<bool>) {
        loop {
            let paced = self
                .handle_paced_signup_requests()
                .await
                .unwrap_or_else(|error| {
                    tracing::warn!(%error, "cannot handle queued signups; will try again");
                    false
                });
            let pause = if paced { BURST_PAUSE } else { POLL };
            tokio::select! {
                () = self.signup_queued.notified(), if !paced => {
                    tokio::time::sleep(GATHER).await;
                }
                () = tokio::time::sleep(pause) => {}
                () = stop_asked(&mut stop) => {
                    // What was answered before the stop is handled before the process goes.
                    if let Err(error) = self.handle_signup_requests().await {
                        tracing::warn!(%error, "queued signups stay queued for the next start");
                    }
                    return;
                }
            }
        }
    }
}

/// What one transaction of the desk handled.
#[derive(Default)]
struct Batch {
    handled: u64,
    /// When the longest-waiting of them was received.
    oldest_received_at: Option<i64>,
}

/// A queued request whose address still parses.
struct QueuedSignup {
    email: SubscriberEmail,
    name: Option<SubscriberName>,
    origin: RequestOrigin,
    /// When the visitor signed up: the consent evidence is dated then.
    at: i64,
    choice: TopicChoice,
    /// The custom fields' values, as the fields are now.
    values: CheckedValues,
}

impl QueuedSignup {
    /// Parsed before it was queued; a row that no longer parses was not
    /// written by this release and is dropped with a note.
    fn parse(request: &queries::SignupRequest, custom_fields: &[fields::Field]) -> Option<Self> {
        let Ok(email) = SubscriberEmail::parse(&request.email) else {
            tracing::warn!(
                request_id = request.id,
                "queued signup with an invalid address dropped"
            );
            return None;
        };
        let name = request
            .name
            .as_deref()
            .and_then(|name| SubscriberName::parse(name).ok().flatten());
        Some(Self {
            email,
            name,
            origin: RequestOrigin {
                ip: request.ip.clone(),
                user_agent: request.user_agent.clone(),
            },
            at: request.received_at,
            choice: TopicChoice::from_stored(request.topic_ids.as_deref()),
            values: CheckedValues::from_stored(custom_fields, request.field_values.as_deref()),
        })
    }

    fn is_ascii(&self) -> bool {
        self.email.as_str().is_ascii()
    }

    /// The address as SQL's `lower()` folds it, for an ASCII address.
    fn address(&self) -> String {
        self.email.as_str().to_ascii_lowercase()
    }
}

/// Done once `stop` is true, or whoever could set it is gone.
async fn stop_asked(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}
