//! Builds the whole application from a `Config`: store, mailer, background
//! sender and HTTP server. Tests start this very application on port 0.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use utoipa::OpenApi;
use utoipa_actix_web::AppExt as _;

use crate::accounts::Accounts;
use crate::config::{Config, SecretKey, SecretKeyError};
use crate::delivery::{OutboxSender, RetryPolicy, SenderSettings};
use crate::mail::{MailIdentity, Mailer, MailerError};
use crate::store::{Store, StoreError};
use crate::subscriptions::{SignupPolicy, Subscriptions};
use crate::web::{self as http, AppState, SignupLimiter, Site};

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
            Self::SecretKey(_) | Self::Mailer(_) | Self::Bind { .. } => 2,
            Self::Store(StoreError::Connect(_)) => 2,
            Self::Store(_) => 1,
        }
    }
}

pub struct Application {
    port: u16,
    server: Server,
    store: Store,
    sender: JoinHandle<()>,
    stop_sender: watch::Sender<bool>,
    limiter_sweeper: JoinHandle<()>,
    mailer_description: String,
}

impl Application {
    /// Opens and migrates the database, then binds `config.bind`.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let listener = TcpListener::bind(config.bind).map_err(|source| StartupError::Bind {
            address: config.bind.to_string(),
            source,
        })?;
        Self::build_with_listener(config, listener).await
    }

    pub async fn build_with_listener(
        config: Config,
        listener: TcpListener,
    ) -> Result<Self, StartupError> {
        // The database first: a start that cannot open it leaves no files behind.
        let store = Store::connect(&config.database_url, config.database_max_connections).await?;
        store.migrate().await?;
        let key = Arc::new(SecretKey::load_or_create(
            config.secret.as_ref(),
            &config.secret_file,
        )?);
        let mailer = Arc::new(Mailer::from_config(&config)?);

        // Installed before anything counts, so no early event is lost.
        crate::telemetry::prometheus();
        let outbox_ready = Arc::new(Notify::new());
        let subscriptions = Subscriptions::new(
            store.clone(),
            key.clone(),
            SignupPolicy {
                confirmation_ttl: config.confirmation_ttl,
                confirmations_per_day: config.confirmations_per_day,
                confirmation_min_interval: config.confirmation_min_interval,
            },
            outbox_ready.clone(),
        );

        let (stop_sender, stop_signal) = watch::channel(false);
        let sender = OutboxSender::new(
            store.clone(),
            subscriptions.clone(),
            mailer.clone(),
            SenderSettings {
                identity: MailIdentity {
                    from: config.from.clone(),
                    newsletter_name: config.newsletter_name.clone(),
                    postal_address: config.postal_address.clone(),
                    site_url: config.base_url.clone(),
                },
                retry: RetryPolicy {
                    min_delay: config.retry_min_delay,
                    max_delay: config.retry_max_delay,
                },
                concurrency: config.send_concurrency,
                rate: config.send_rate,
            },
            outbox_ready,
        );
        let sender = tokio::spawn(sender.run(stop_signal));

        let identity = MailIdentity {
            from: config.from.clone(),
            newsletter_name: config.newsletter_name.clone(),
            postal_address: config.postal_address.clone(),
            site_url: config.base_url.clone(),
        };
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
            subscriptions,
            signup_limiter: SignupLimiter::per_minute(config.signup_rate_per_minute),
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
                .wrap(http::security_headers())
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
            sender,
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
        if tokio::time::timeout(SENDER_STOP_GRACE, self.sender)
            .await
            .is_err()
        {
            tracing::warn!("the outbox sender did not stop in time; unsent mail stays queued");
        }
        self.store.close().await;
        served
    }
}
