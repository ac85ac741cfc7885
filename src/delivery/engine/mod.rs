//! The delivery engine: one dispatcher claims due work in batches (signup mail
//! first, then issue copies) under a renewed lease, workers send it over the
//! mailer's connection pool, and a recorder commits outcomes in groups.
//! `HERALD_SEND_CONCURRENCY` and `HERALD_SEND_RATE` hold for the whole
//! deployment: several processes on one database share them through it.

mod copy_job;
mod lease;
mod mail_job;
mod mail_recorder;
mod pacing;
mod recorder;
mod relay_watch;
mod share;
mod write_gate;

use std::collections::{HashMap, HashSet};
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use tokio::time::Instant;

use lettre::address::Envelope;
use tokio::sync::{mpsc, watch, Mutex};
use tokio::task::JoinSet;

use self::copy_job::CopyJob;
use self::lease::Leases;
use self::mail_recorder::MailRecorder;
use self::pacing::Pacer;
use self::recorder::{Committed, Recorder};
use self::share::Share;
use self::write_gate::WriteGate;
use super::deliveries::{self, Outcome};
use super::message::PreparedIssue;
use super::outbox::{self, ClaimedMail};
use super::{DeliverySignals, PauseGuards};
use crate::bounces::{ReturnPath, ReturnTarget};
use crate::config::SecretKey;
use crate::issues::{queries as issue_queries, RenderedIssue};
use crate::mail::{MailIdentity, Mailer};
use crate::store::{millis, now_millis, Store};
use crate::subscriptions::{LinkKey, Subscriptions};

const OUTBOX_BATCH: i64 = 64;
const COPY_BATCH: i64 = 256;
/// Upper bound on idle sleep, so work queued by another process is picked up.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// How often workers learn which issues are paused or cancelled.
const STATUS_POLL: Duration = Duration::from_millis(250);
/// How often a sending issue's bounce and complaint rates are judged, and
/// always before its first batch in this process (a start, a resume, a
/// restart): reports come back over minutes, so a second is soon enough, and
/// a judgement mostly costs one indexed count.
const GUARD_CHECK: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub min_delay: Duration,
    pub max_delay: Duration,
    /// Temporary failures this long after queueing become permanent.
    pub horizon: Duration,
    pub max_attempts: u32,
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

/// How the engine writes and paces mail.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub identity: MailIdentity,
    pub retry: RetryPolicy,
    /// SMTP sessions at once, for the whole deployment.
    pub concurrency: NonZeroUsize,
    /// Messages per second at most, for the whole deployment; `None` for no limit.
    pub rate: Option<NonZeroU32>,
    pub bounce_after_failures: NonZeroU32,
    /// `HERALD_BOUNCE_ADDRESS`: when set, each copy and signup mail carries
    /// its own VERP envelope sender, so a bounce names the copy.
    pub return_path: Option<ReturnPath>,
    /// How long a claim lasts unless renewed.
    pub claim_lease: Duration,
    /// The bounce and complaint rates above which a send pauses itself.
    pub pause_guards: PauseGuards,
}

enum Job {
    Mail(ClaimedMail),
    Copy(CopyJob),
}

pub struct Engine {
    store: Store,
    subscriptions: Subscriptions,
    mailer: Arc<Mailer>,
    key: Arc<SecretKey>,
    settings: EngineSettings,
    signals: Arc<DeliverySignals>,
    pacer: Option<Pacer>,
    share: Arc<Share>,
    leases: Leases,
    recorder: Recorder,
    mail_recorder: MailRecorder,
    write_gate: WriteGate,
    /// Issues whose status is `sending`, refreshed every `STATUS_POLL`.
    sending: RwLock<HashSet<i64>>,
    /// When each sending issue's pause guards were last judged here.
    guards_checked: Mutex<HashMap<i64, Instant>>,
    stopping: AtomicBool,
}

/// A running engine: stop it with the watch channel given to `start`, then await `finished`.
pub struct EngineHandle {
    task: tokio::task::JoinHandle<()>,
}

impl EngineHandle {
    pub async fn finished(self) {
        let _ = self.task.await;
    }
}

impl Engine {
    /// Spawns the dispatcher, workers and recorder; they run until `shutdown` turns true.
    pub fn start(
        store: Store,
        subscriptions: Subscriptions,
        mailer: Arc<Mailer>,
        key: Arc<SecretKey>,
        settings: EngineSettings,
        signals: Arc<DeliverySignals>,
        shutdown: watch::Receiver<bool>,
    ) -> EngineHandle {
        let write_gate = WriteGate::for_store(&store);
        let (recorder, recorder_task) = Recorder::start(
            store.clone(),
            write_gate.clone(),
            signals.clone(),
            key.clone(),
            i64::from(settings.bounce_after_failures.get()),
        );
        let (mail_recorder, mail_recorder_task) =
            MailRecorder::start(store.clone(), write_gate.clone());
        let pacer = settings
            .rate
            .map(|per_second| Pacer::new(store.clone(), write_gate.clone(), per_second.get()));
        let share = Share::new(store.clone(), settings.concurrency.get());
        let leases = Leases::new(store.clone(), settings.claim_lease);
        let engine = Arc::new(Self {
            store,
            subscriptions,
            mailer,
            key,
            settings,
            signals,
            pacer,
            share,
            leases,
            recorder,
            mail_recorder,
            write_gate,
            sending: RwLock::new(HashSet::new()),
            guards_checked: Mutex::new(HashMap::new()),
            stopping: AtomicBool::new(false),
        });
        let task = tokio::spawn(async move {
            engine.clone().run(shutdown).await;
            // Workers are done and the dispatcher dropped its channel: the
            // last `Recorder` clone goes with the engine, ending the recorder.
            drop(engine);
            let _ = recorder_task.await;
            let _ = mail_recorder_task.await;
        });
        EngineHandle { task }
    }

    async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(mailer = %self.mailer.describe(), "delivery engine started");
        let concurrency = self.settings.concurrency.get();
        let (jobs, queue) = mpsc::channel::<Job>(concurrency * 2);
        let queue = Arc::new(Mutex::new(queue));
        let mut workers = JoinSet::new();
        for _ in 0..concurrency {
            let (engine, queue) = (self.clone(), queue.clone());
            workers.spawn(async move { engine.work(&queue).await });
        }
        let status_poller = tokio::spawn(self.clone().poll_sending_issues());
        let share = tokio::spawn(self.share.clone().run(shutdown.clone()));
        let renewals = tokio::spawn({
            let (engine, shutdown) = (self.clone(), shutdown.clone());
            async move { engine.leases.renew_until_stopped(shutdown).await }
        });
        let relay_watch = tokio::spawn(self.clone().watch_relay(shutdown.clone()));
        let stop_watcher = tokio::spawn({
            let (engine, mut shutdown) = (self.clone(), shutdown.clone());
            async move {
                until_stop_asked(&mut shutdown).await;
                engine.stopping.store(true, Ordering::SeqCst);
            }
        });

        let mut prepared: HashMap<i64, Arc<PreparedIssue>> = HashMap::new();
        while !stop_asked(&shutdown) {
            // Work claimed without a slot to send it would sit out its lease,
            // and work claimed while the relay is down would only go back.
            tokio::select! {
                () = async {
                    self.until_relay_reachable().await;
                    self.share.wait_for_a_slot().await;
                } => {}
                () = until_stop_asked(&mut shutdown) => break,
            }
            let idle_for = match self.dispatch_round(&jobs, &mut prepared).await {
                Ok(0) => self.time_until_next_due().await,
                Ok(_) => continue,
                Err(error) => {
                    tracing::error!(%error, "delivery engine cannot read its queue");
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                () = self.signals.wait_for_mail() => {}
                () = tokio::time::sleep(idle_for) => {}
                () = until_stop_asked(&mut shutdown) => {}
            }
        }
        self.stopping.store(true, Ordering::SeqCst);
        self.share.stop_waiting();
        drop(jobs);
        while workers.join_next().await.is_some() {}
        status_poller.abort();
        relay_watch.abort();
        stop_watcher.abort();
        renewals.abort();
        let _ = share.await;
        tracing::info!("delivery engine stopped");
    }

    /// Claims one batch of signup mail and one batch of copies per sending
    /// issue and hands them to the workers; returns how many it claimed.
    async fn dispatch_round(
        &self,
        jobs: &mpsc::Sender<Job>,
        prepared: &mut HashMap<i64, Arc<PreparedIssue>>,
    ) -> Result<usize, sqlx::Error> {
        let now = now_millis();
        let mails = {
            let _turn = self.write_gate.turn().await;
            outbox::claim_due(
                self.store.pool(),
                self.store.dialect(),
                now,
                millis(self.leases.length()),
                OUTBOX_BATCH,
            )
            .await?
        };
        let mut claimed = mails.len();
        for mail in mails {
            if jobs.send(Job::Mail(mail)).await.is_err() {
                return Ok(claimed);
            }
        }

        let sending = deliveries::sending_issues(self.store.pool()).await?;
        self.set_sending(&sending);
        prepared.retain(|id, _| sending.contains(id));
        for issue_id in sending {
            if self.paused_by_a_guard(issue_id).await {
                prepared.remove(&issue_id);
                continue;
            }
            let issue = match prepared.get(&issue_id) {
                Some(issue) => issue.clone(),
                None => match self.prepare(issue_id).await {
                    Ok(Some(issue)) => {
                        let issue = Arc::new(issue);
                        prepared.insert(issue_id, issue.clone());
                        issue
                    }
                    Ok(None) => continue,
                    Err(error) => {
                        tracing::error!(issue_id, %error, "cannot prepare the issue for sending");
                        continue;
                    }
                },
            };
            let lease_until = self.leases.next_end();
            let mut batch = {
                let _turn = self.write_gate.turn().await;
                let mut conn = self.write_gate.connection(&self.store).await?;
                match deliveries::claim(
                    &mut conn,
                    self.store.dialect(),
                    issue_id,
                    now,
                    lease_until,
                    self.copy_batch_size(),
                )
                .await
                {
                    Ok(batch) => batch,
                    Err(error) => {
                        conn.discard();
                        return Err(error);
                    }
                }
            };
            if batch.is_empty() {
                if deliveries::finish_if_done(self.store.pool(), issue_id, now_millis()).await? {
                    tracing::info!(issue_id, "issue sent: every copy has an outcome");
                    prepared.remove(&issue_id);
                }
                continue;
            }
            claimed += batch.len();
            if issue.uses_fields() {
                // One query for the batch, before the claim is held; on
                // failure the claim runs out and the copies come due
                // again, never sent with defaults in place of values.
                let mut conn = self.store.pool().acquire().await?;
                deliveries::load_fields(&mut conn, self.store.dialect(), &mut batch).await?;
            }
            let lease = self.leases.hold(issue_id, lease_until);
            let mut batch = batch.into_iter();
            for delivery in batch.by_ref() {
                if self.is_stopping() {
                    self.recorder
                        .record(delivery.id, delivery.subscriber_id, Outcome::Released)
                        .await;
                    continue;
                }
                let job = Job::Copy(CopyJob {
                    issue: issue.clone(),
                    delivery,
                    lease: lease.clone(),
                });
                if jobs.send(job).await.is_err() {
                    break;
                }
            }
        }
        Ok(claimed)
    }

    /// Judges the issue's bounce and complaint rates when due; true when a
    /// guard paused it just now, so no more of it is claimed. An error
    /// leaves the send going: the next round judges again.
    async fn paused_by_a_guard(&self, issue_id: i64) -> bool {
        {
            let mut checked = self.guards_checked.lock().await;
            let sending = self.sending.read().unwrap_or_else(PoisonError::into_inner);
            checked.retain(|id, _| sending.contains(id));
            drop(sending);
            let now = Instant::now();
            match checked.get(&issue_id) {
                Some(last) if now.duration_since(*last) < GUARD_CHECK => return false,
                _ => checked.insert(issue_id, now),
            };
        }
        match self
            .settings
            .pause_guards
            .check(&self.store, issue_id)
            .await
        {
            Ok(paused) => paused.is_some(),
            Err(error) => {
                tracing::warn!(issue_id, %error, "cannot judge the send's bounce and complaint rates");
                false
            }
        }
    }

    /// At a limited rate, claim no more than a couple of seconds' worth: the
    /// rate is the deployment's, and a batch held here is one the other
    /// processes cannot send.
    fn copy_batch_size(&self) -> i64 {
        self.settings.rate.map_or(COPY_BATCH, |per_second| {
            (i64::from(per_second.get()) * 2).clamp(1, COPY_BATCH)
        })
    }

    async fn prepare(&self, issue_id: i64) -> Result<Option<PreparedIssue>, PrepareError> {
        let issue = {
            let mut conn = self.store.pool().acquire().await?;
            issue_queries::find_issue(&mut conn, issue_id).await?
        };
        let Some(issue) = issue else {
            return Ok(None);
        };
        let rendered = RenderedIssue::render_blocking(&issue, &self.settings.identity).await?;
        tracing::info!(
            issue_id,
            html_bytes = rendered.html_bytes(),
            "issue rendered for sending"
        );
        Ok(Some(PreparedIssue::new(
            issue_id,
            &rendered,
            &self.settings.identity,
        )))
    }

    async fn work(&self, queue: &Mutex<mpsc::Receiver<Job>>) {
        // The commit of this worker's last copy, awaited before the next one goes out.
        let mut previous = None;
        loop {
            let job = queue.lock().await.recv().await;
            // Held until the job is done: the deployment's concurrency.
            let _slot = self.share.slot().await;
            match job {
                Some(Job::Mail(mail)) => {
                    if let Some(previous) = previous.take() {
                        Committed::wait(previous).await;
                    }
                    self.deliver_mail(mail).await;
                }
                Some(Job::Copy(copy)) => previous = self.deliver_copy(copy, previous.take()).await,
                None => break,
            }
        }
        if let Some(previous) = previous {
            previous.wait().await;
        }
    }

    async fn poll_sending_issues(self: Arc<Self>) {
        let mut every = tokio::time::interval(STATUS_POLL);
        loop {
            every.tick().await;
            match deliveries::sending_issues(self.store.pool()).await {
                Ok(ids) => self.set_sending(&ids),
                Err(error) => tracing::warn!(%error, "cannot read which issues are sending"),
            }
        }
    }

    fn set_sending(&self, ids: &[i64]) {
        *self.sending.write().unwrap_or_else(PoisonError::into_inner) =
            ids.iter().copied().collect();
    }

    fn is_sending(&self, issue_id: i64) -> bool {
        self.sending
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&issue_id)
    }

    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// False when the process is stopping and the send time cannot be booked.
    async fn wait_for_rate(&self) -> bool {
        match &self.pacer {
            Some(pacer) => pacer.until_ready(|| self.is_stopping()).await,
            None => true,
        }
    }

    /// The envelope a message leaves with: its own `own` (the From address as
    /// sender), or, with a bounce address set, the VERP sender for `target`.
    fn envelope_for(&self, own: &Envelope, target: ReturnTarget) -> Envelope {
        let sender = self
            .settings
            .return_path
            .as_ref()
            .and_then(|path| path.sender_for(&self.key, target));
        match sender {
            Some(sender) => Envelope::new(Some(sender), own.to().to_vec()).unwrap_or(own.clone()),
            None => own.clone(),
        }
    }

    /// The bounce mailbox's address that unsubscribes this reader when
    /// mailed; none without `HERALD_BOUNCE_ADDRESS`.
    fn unsubscribe_mailto(&self, subscriber_id: i64) -> Option<String> {
        let path = self.settings.return_path.as_ref()?;
        path.sender_for(&self.key, ReturnTarget::Unsubscribe { subscriber_id })
            .map(|address| address.to_string())
    }

    /// The one-click unsubscribe link of a reader's copy of `issue_id`, from
    /// their token: it names the issue, so that it leaves the issue's topics
    /// and the issue's report counts who left from it.
    fn copy_unsubscribe_url(&self, token: &str, issue_id: i64) -> String {
        self.settings
            .identity
            .site_url
            .join(&format!("/unsubscribe?token={token}&issue={issue_id}"))
    }

    fn unsubscribe_url(&self, link_key: &LinkKey) -> String {
        self.reader_link(link_key, "/unsubscribe")
    }

    /// The preference centre takes the same keyed token as the unsubscribe page.
    fn preferences_url(&self, link_key: &LinkKey) -> String {
        self.reader_link(link_key, "/preferences")
    }

    fn reader_link(&self, link_key: &LinkKey, path: &str) -> String {
        let token = self.subscriptions.unsubscribe_token(link_key);
        self.settings
            .identity
            .site_url
            .join(&format!("{path}?token={}", token.as_str()))
    }

    async fn time_until_next_due(&self) -> Duration {
        let pool = self.store.pool();
        let (mail, copy) = tokio::join!(outbox::next_due_at(pool), deliveries::next_due_at(pool));
        let due = [mail.ok().flatten(), copy.ok().flatten()]
            .into_iter()
            .flatten()
            .min();
        match due {
            Some(due) => {
                let wait = u64::try_from(due - now_millis()).unwrap_or(0);
                Duration::from_millis(wait).clamp(Duration::from_millis(20), IDLE_POLL)
            }
            None => IDLE_POLL,
        }
    }
}

/// Whether the engine was asked to stop: `stop` is true, or whoever could
/// set it is gone.
fn stop_asked(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow() || stop.has_changed().is_err()
}

/// Done once the engine is asked to stop (see `stop_asked`).
async fn until_stop_asked(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

#[derive(Debug, thiserror::Error)]
enum PrepareError {
    #[error(transparent)]
    Store(#[from] sqlx::Error),
    #[error(transparent)]
    Render(#[from] crate::issues::RenderError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stops_at_the_ceiling() {
        let policy = RetryPolicy {
            min_delay: Duration::from_secs(5),
            max_delay: Duration::from_secs(900),
            horizon: Duration::from_secs(86_400),
            max_attempts: 100,
        };
        let first = policy.delay_after(1);
        assert!(first >= Duration::from_secs(4) && first <= Duration::from_secs(6));
        let fourth = policy.delay_after(4);
        assert!(fourth >= Duration::from_secs(32) && fourth <= Duration::from_secs(48));
        assert!(policy.delay_after(40) <= Duration::from_secs(1080));
    }
}
