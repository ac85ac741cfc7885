//! Builds the whole application from a `Config`: store, mailer, background
//! sender and HTTP server. Tests start this very application on port 0.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use utoipa::OpenApi;
use utoipa_actix_web::AppExt as _;

use crate::accounts::Accounts;
use crate::audit::AuditLog;
use crate::bounces::{Intake, MailboxReader, MailboxSetupError, ReturnPath};
use crate::config::{Config, SecretKey, SecretKeyError};
use crate::delivery::{
    DeliverySignals, Engine, EngineHandle, EngineSettings, PauseGuards, RetryPolicy, Sends,
};
use crate::fields::Fields;
use crate::mail::{MailIdentity, Mailer, MailerError};
use crate::reports::Reports;
use crate::segments::Segments;
use crate::store::{Store, StoreError};
use crate::subscriptions::{SignupPolicy, Subscriptions};
use crate::suppressions::Suppressions;
use crate::topics::Topics;
use crate::web::{self as http, AppState, SignupLimiter, Site};
use crate::webhooks::Webhooks;

/// How long in-flight mail may take to finish when the server stops.
const SENDER_STOP_GRACE: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    SecretKey(#[from] SecretKeyError),
    #[error(transparent)]
    Mailer(#[from] MailerError),
    #[error("DATABASE_URL: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Mailbox(#[from] MailboxSetupError),
    #[error("HERALD_BIND: cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
}

impl StartupError {
    /// 2 for a setting that cannot work as given, 1 for anything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::SecretKey(_) | Self::Mailer(_) | Self::Mailbox(_) | Self::Bind { .. } => 2,
            Self::Store(StoreError::Connect(_) | StoreError::File { .. }) => 2,
            Self::Store(_) => 1,
        }
    }
}

pub struct Application {
    port: u16,
    server: Server,
    store: Store,
    /// None for `serve --no-worker`: other processes send.
    engine: Option<EngineHandle>,
    /// Handles queued signups where the engine runs; None with `--no-worker`.
    signup_desk: Option<JoinHandle<()>>,
    /// Reads `HERALD_BOUNCE_MAILBOX` where the engine runs, when it is set.
    mailbox_reader: Option<JoinHandle<()>>,
    stop_sender: watch::Sender<bool>,
    limiter_sweeper: JoinHandle<()>,
    mailer_description: String,
}

impl Application {
    /// Opens and migrates the database, then binds `config.bind`; with
    /// `Sending::Elsewhere` it serves pages only and leaves sending to
    /// `herald worker` processes on the same database.
    pub async fn build(config: Config, sending: Sending) -> Result<Self, StartupError> {
        let listener = TcpListener::bind(config.bind).map_err(|source| StartupError::Bind {
            address: config.bind.to_string(),
            source,
        })?;
        Self::build_serving(config, listener, sending).await
    }

    /// Web and sending in one process, on `listener` (tests bind port 0).
    pub async fn build_with_listener(
        config: Config,
        listener: TcpListener,
    ) -> Result<Self, StartupError> {
        Self::build_serving(config, listener, Sending::InThisProcess).await
    }

    async fn build_serving(
        config: Config,
        listener: TcpListener,
        sending: Sending,
    ) -> Result<Self, StartupError> {
        let services = Services::open(&config).await?;
        crate::web::set_page_language(&config.language);
        for warning in config
            .deprecations()
            .iter()
            .chain(&config.startup_warnings())
        {
            tracing::warn!("{warning}");
        }
        let mailbox_reader = match sending {
            Sending::InThisProcess => services.mailbox_reader(&config)?,
            Sending::Elsewhere => None,
        };
        let (stop_sender, stop_signal) = watch::channel(false);
        let (engine, signup_desk) = match sending {
            Sending::InThisProcess => (
                Some(services.start_engine(&config, stop_signal.clone())),
                Some(services.start_signup_desk(stop_signal.clone())),
            ),
            Sending::Elsewhere => (None, None),
        };
        let mailbox_reader = mailbox_reader.map(|reader| tokio::spawn(reader.run(stop_signal)));
        let Services {
            store,
            key,
            mailer,
            subscriptions,
            signals,
        } = services;

        let identity = identity_of(&config);
        let session_key = key.clone();
        let secure_cookies = config.base_url.is_https();
        let state = web::Data::new(AppState {
            site: Site {
                newsletter_name: config.newsletter_name.clone(),
            },
            store: store.clone(),
            config: Arc::new(config.clone()),
            mailer: mailer.clone(),
            identity: identity.clone(),
            accounts: Accounts::new(store.clone()),
            audit: AuditLog::new(store.clone()),
            subscriptions,
            suppressions: Suppressions::new(store.clone(), key.clone()),
            topics: Topics::new(store.clone()),
            fields: Fields::new(store.clone()),
            segments: Segments::new(store.clone()),
            sends: Sends::new(store.clone(), signals),
            reports: Reports::new(store.clone()),
            signup_limiter: SignupLimiter::per_minute(config.signup_rate_per_minute),
            webhooks: Arc::new(Webhooks::new(
                config.webhooks.clone(),
                store.clone(),
                Intake::new(
                    store.clone(),
                    key.clone(),
                    config.bounce_address.clone().map(ReturnPath::new),
                    config.soft_bounce_limit.get(),
                ),
            )),
            database_check: Arc::default(),
            dashboard_figures: Arc::default(),
        });
        let limiter_sweeper = tokio::spawn({
            let state = state.clone();
            async move {
                let mut every_minute = tokio::time::interval(Duration::from_secs(60));
                loop {
                    every_minute.tick().await;
                    state.signup_limiter.forget_idle_clients();
                }
            }
        });

        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind {
                address: config.bind.to_string(),
                source,
            })?
            .port();
        let cors_origins = config.cors_allowed_origins.clone();
        let server = HttpServer::new(move || {
            let (app, api_document) = App::new()
                .wrap(http::security_headers(secure_cookies))
                .wrap(http::admin::session_middleware(
                    &session_key,
                    secure_cookies,
                ))
                .wrap(from_fn(http::log_request))
                .app_data(state.clone())
                .into_utoipa_app()
                .openapi(http::api::ApiDoc::openapi())
                .service(utoipa_actix_web::scope("/api/v1").configure(http::api::routes))
                .split_for_parts();
            app.app_data(web::Data::new(api_document))
                .configure(|cfg| http::routes(cfg, &cors_origins))
        })
        .disable_signals()
        .shutdown_timeout(10)
        .listen(listener)
        .map_err(|source| StartupError::Bind {
            address: config.bind.to_string(),
            source,
        })?
        .run();

        Ok(Self {
            port,
            server,
            store,
            engine,
            signup_desk,
            mailbox_reader,
            stop_sender,
            limiter_sweeper,
            mailer_description: mailer.describe(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn mailer_description(&self) -> &str {
        &self.mailer_description
    }

    /// Stops the server gracefully when called (signals, tests).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until the server is stopped, then lets the sender finish the mail
    /// in flight and closes the database.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        let _ = self.stop_sender.send(true);
        self.limiter_sweeper.abort();
        if let Some(desk) = self.signup_desk {
            stop_signup_desk(desk).await;
        }
        if let Some(reader) = self.mailbox_reader {
            stop_mailbox_reader(reader).await;
        }
        if let Some(engine) = self.engine {
            if tokio::time::timeout(SENDER_STOP_GRACE, engine.finished())
                .await
                .is_err()
            {
                tracing::warn!(
                    "the delivery engine did not stop in time; unsent mail stays queued"
                );
            }
        }
        self.store.close().await;
        served
    }
}

/// Whether `herald serve` sends mail itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sending {
    InThisProcess,
    /// `--no-worker`: `herald worker` processes on the same database send.
    Elsewhere,
}

pub(crate) fn identity_of(config: &Config) -> MailIdentity {
    MailIdentity::from_config(config)
}

/// What both `serve` and `worker` run on: the migrated store, the key, the
/// mailer and the subscriber side.
struct Services {
    store: Store,
    key: Arc<SecretKey>,
    mailer: Arc<Mailer>,
    subscriptions: Subscriptions,
    signals: Arc<DeliverySignals>,
}

impl Services {
    async fn open(config: &Config) -> Result<Self, StartupError> {
        // The database first: a start that cannot open it leaves no files behind.
        let store = Store::connect(&config.database_url, config.database_max_connections).await?;
        store.migrate().await?;
        let key = Arc::new(SecretKey::load_or_create(
            config.secret.as_ref(),
            &config.secret_file,
        )?);
        let mailer = Arc::new(Mailer::from_config(config)?);
        // Installed before anything counts, so no early event is lost.
        crate::telemetry::prometheus();
        let signals = Arc::new(DeliverySignals::new());
        let subscriptions = Subscriptions::new(
            store.clone(),
            key.clone(),
            SignupPolicy {
                confirmation_ttl: config.confirmation_ttl,
                confirmations_per_day: config.confirmations_per_day,
                confirmation_min_interval: config.confirmation_min_interval,
            },
            signals.clone(),
        );
        Ok(Self {
            store,
            key,
            mailer,
            subscriptions,
            signals,
        })
    }

    /// Next to the engine: the processes that send also handle the signups the
    /// web answered (`subscriptions::signup_desk`).
    fn start_signup_desk(&self, stop: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(self.subscriptions.clone().run_signup_desk(stop))
    }

    /// The reader of `HERALD_BOUNCE_MAILBOX`, when it is set; started
    /// beside the engine.
    fn mailbox_reader(&self, config: &Config) -> Result<Option<MailboxReader>, StartupError> {
        let Some(url) = &config.bounce_mailbox else {
            return Ok(None);
        };
        let intake = Intake::new(
            self.store.clone(),
            self.key.clone(),
            config.bounce_address.clone().map(ReturnPath::new),
            config.soft_bounce_limit.get(),
        );
        Ok(Some(MailboxReader::new(
            url.clone(),
            config.bounce_mailbox_ca_file.as_deref(),
            intake,
            config.bounce_mailbox_poll_interval,
        )?))
    }

    fn start_engine(&self, config: &Config, stop: watch::Receiver<bool>) -> EngineHandle {
        Engine::start(
            self.store.clone(),
            self.subscriptions.clone(),
            self.mailer.clone(),
            self.key.clone(),
            EngineSettings {
                identity: identity_of(config),
                retry: RetryPolicy {
                    min_delay: config.retry_min_delay,
                    max_delay: config.retry_max_delay,
                    horizon: config.retry_horizon,
                    max_attempts: config.retry_max_attempts.get(),
                },
                concurrency: config.send_concurrency,
                rate: config.send_rate,
                bounce_after_failures: config.bounce_after_failures,
                return_path: config.bounce_address.clone().map(ReturnPath::new),
                claim_lease: config.claim_lease,
                pause_guards: PauseGuards {
                    bounce_rate: config.pause_bounce_rate,
                    complaint_rate: config.pause_complaint_rate,
                },
            },
            self.signals.clone(),
            stop,
        )
    }
}

/// `herald worker`: the delivery engine without the web server, for a second
/// process on a shared PostgreSQL database (or a machine that only sends).
pub struct Worker {
    store: Store,
    engine: EngineHandle,
    signup_desk: JoinHandle<()>,
    mailbox_reader: Option<JoinHandle<()>>,
    stop_sender: watch::Sender<bool>,
    mailer_description: String,
}

impl Worker {
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let services = Services::open(&config).await?;
        let mailbox_reader = services.mailbox_reader(&config)?;
        let (stop_sender, stop_signal) = watch::channel(false);
        let engine = services.start_engine(&config, stop_signal.clone());
        let signup_desk = services.start_signup_desk(stop_signal.clone());
        let mailbox_reader = mailbox_reader.map(|reader| tokio::spawn(reader.run(stop_signal)));
        Ok(Self {
            store: services.store,
            engine,
            signup_desk,
            mailbox_reader,
            stop_sender,
            mailer_description: services.mailer.describe(),
        })
    }

    pub fn mailer_description(&self) -> &str {
        &self.mailer_description
    }

    /// Stops taking new work, lets the messages in flight finish, closes the database.
    pub async fn stop(self) {
        let _ = self.stop_sender.send(true);
        stop_signup_desk(self.signup_desk).await;
        if let Some(reader) = self.mailbox_reader {
            stop_mailbox_reader(reader).await;
        }
        if tokio::time::timeout(SENDER_STOP_GRACE, self.engine.finished())
            .await
            .is_err()
        {
            tracing::warn!("the delivery engine did not stop in time; unsent mail stays queued");
        }
        self.store.close().await;
    }
}

/// Waits for the signup desk to handle what was answered before the stop;
/// whatever it cannot finish in time stays queued for the next start.
async fn stop_signup_desk(desk: JoinHandle<()>) {
    if tokio::time::timeout(SENDER_STOP_GRACE, desk).await.is_err() {
        tracing::warn!("the signup desk did not stop in time; queued signups stay queued");
    }
}

/// The reader stops at once when asked; a report it was applying is rolled
/// back and its message read again next time.
async fn stop_mailbox_reader(reader: JoinHandle<()>) {
    if tokio::time::timeout(SENDER_STOP_GRACE, reader)
        .await
        .is_err()
    {
        tracing::warn!("the bounce mailbox reader did not stop in time");
    }
}
