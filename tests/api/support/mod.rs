//! Test support: start the real application on port 0 against its own
//! database (an SQLite file, or a PostgreSQL schema) and its own SMTP server,
//! and read mail the way a person would.

#![allow(dead_code)]

pub mod admin;
pub mod appending_proxy;
pub mod child;
pub mod database;
pub mod dovecot;
pub mod mail;
pub mod proxy;
pub mod smtp_server;

use std::collections::HashMap;
use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use herald::config::{BaseUrl, Config};
use herald::startup::Application;
use secrecy::SecretString;
use tokio::task::JoinHandle;

pub use database::{Backend, TestDatabase};
pub use mail::Mail;
pub use smtp_server::{SmtpMode, TestSmtpServer};

/// How long a test waits for mail that should arrive.
pub const MAIL_WAIT: Duration = Duration::from_secs(15);

/// Runs each named `async fn name(backend: Backend)` once on SQLite and once on
/// PostgreSQL, as `module::sqlite::name` and `module::postgres::name`.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if $crate::support::database::postgres_is_configured() {
                        super::$name($crate::support::Backend::Postgres).await
                    }
                }
            )*
        }
    };
}

pub struct TestApp {
    /// `http://127.0.0.1:PORT`, also the app's public base URL.
    pub address: String,
    pub smtp: TestSmtpServer,
    pub config: Config,
    pub client: reqwest::Client,
    handle: ServerHandle,
    task: Option<JoinHandle<std::io::Result<()>>>,
    // Dropped last: the app may still touch it while stopping.
    pub db: TestDatabase,
}

/// Settings tuned for tests: fast retries, generous limits unless a test sets its own.
fn test_config(db: &TestDatabase, smtp: &TestSmtpServer) -> Config {
    let mut config = Config::from_vars(&HashMap::new()).expect("default configuration is valid");
    config.database_url = db.url.clone();
    config.database_max_connections = 5;
    config.smtp_url = Some(SecretString::from(smtp.url()));
    config.outbox_dir = db.dir.path().join("outbox");
    config.secret = Some(SecretString::from(TEST_SECRET));
    config.secret_file = db.dir.path().join("herald.secret");
    config.newsletter_name = "The Daily Herald".into();
    config.postal_address = "1 Test Street, Testville".into();
    config.retry_min_delay = Duration::from_millis(100);
    config.retry_max_delay = Duration::from_millis(400);
    config.signup_rate_per_minute = 1000.try_into().expect("non-zero");
    config.confirmations_per_day = 100;
    config.confirmation_min_interval = Duration::ZERO;
    config
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Starts the app on a database prepared by the test (e.g. an older release's schema).
    pub async fn spawn_on(db: TestDatabase) -> Self {
        let smtp = TestSmtpServer::start().await;
        let config = test_config(&db, &smtp);
        Self::start(db, smtp, config, None).await
    }

    /// Starts the web side only (`herald serve --no-worker`): nothing in this
    /// process sends mail or handles queued signups; a [`herald::startup::Worker`]
    /// on the same database does.
    pub async fn spawn_web_only(backend: Backend) -> Self {
        let db = TestDatabase::create(backend).await;
        let smtp = TestSmtpServer::start().await;
        let mut config = test_config(&db, &smtp);
        config.bind = "127.0.0.1:0".parse().expect("an address");
        let app = Application::build(config.clone(), herald::startup::Sending::Elsewhere)
            .await
            .expect("the web side starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        config.base_url = BaseUrl::parse(&address).expect("valid base URL");
        let handle = app.handle();
        let task = tokio::spawn(app.run_until_stopped());
        Self {
            address,
            smtp,
            config,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .expect("HTTP client"),
            handle,
            task: Some(task),
            db,
        }
    }

    /// Starts the app after `configure` has adjusted the test configuration.
    pub async fn spawn_with(backend: Backend, configure: impl FnOnce(&mut Config)) -> Self {
        let db = TestDatabase::create(backend).await;
        let smtp = TestSmtpServer::start().await;
        let mut config = test_config(&db, &smtp);
        configure(&mut config);
        Self::start(db, smtp, config, None).await
    }

    async fn start(
        db: TestDatabase,
        smtp: TestSmtpServer,
        mut config: Config,
        port: Option<u16>,
    ) -> Self {
        let listener = bind(port);
        let port = listener.local_addr().expect("bound address").port();
        let address = format!("http://127.0.0.1:{port}");
        // The public URL is where the app listens, unless a test made it
        // https (as behind a TLS-terminating proxy).
        if !config.base_url.is_https() {
            config.base_url = BaseUrl::parse(&address).expect("valid base URL");
        }
        let app = Application::build_with_listener(config.clone(), listener)
            .await
            .expect("the application starts");
        let handle = app.handle();
        let task = tokio::spawn(app.run_until_stopped());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("herald-tests/1.0")
            .timeout(Duration::from_secs(30))
            .build()
            .expect("HTTP client");
        Self {
            address,
            smtp,
            config,
            client,
            handle,
            task: Some(task),
            db,
        }
    }

    /// Stops the process gracefully, as a restart would.
    pub async fn stop(&mut self) {
        self.handle.stop(true).await;
        if let Some(task) = self.task.take() {
            task.await
                .expect("server task did not panic")
                .expect("server stopped cleanly");
        }
    }

    /// Stops the app and starts it again on the same database, SMTP server and settings.
    pub async fn restart(mut self) -> Self {
        self.stop().await;
        let port = self.address.rsplit(':').next().and_then(|p| p.parse().ok());
        let TestApp {
            smtp, config, db, ..
        } = self;
        Self::start(db, smtp, config, port).await
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{}", self.address, path)
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("GET request")
    }

    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .form(fields)
            .send()
            .await
            .expect("POST request")
    }

    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("POST request")
    }

    /// Submits the signup form as a browser would, then waits until the
    /// background has handled it (the answer comes first: issue 10, item 12).
    pub async fn sign_up(&self, email: &str, name: &str) -> reqwest::Response {
        let response = self
            .post_form(
                "/subscriptions",
                &[("email", email), ("name", name), ("website", "")],
            )
            .await;
        self.signups_handled().await;
        response
    }

    /// Waits until no signup waits in the queue.
    pub async fn signups_handled(&self) {
        let deadline = tokio::time::Instant::now() + MAIL_WAIT;
        while self.db.count("signup_requests").await > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "signups still queued after {MAIL_WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until the SMTP server holds at least `count` messages; returns them all.
    pub async fn mails(&self, count: usize) -> Vec<Mail> {
        self.smtp
            .wait_for_messages(count, MAIL_WAIT)
            .await
            .iter()
            .map(Mail::from_received)
            .collect()
    }

    /// Mail that arrived for `address`, oldest first.
    pub async fn mails_to(&self, address: &str) -> Vec<Mail> {
        self.smtp
            .messages()
            .await
            .iter()
            .filter(|m| m.rcpt_to.iter().any(|r| r.eq_ignore_ascii_case(address)))
            .map(Mail::from_received)
            .collect()
    }

    /// Waits a moment for mail that must NOT come, then returns what did.
    pub async fn mails_after_quiet_period(&self) -> Vec<Mail> {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        self.smtp
            .messages()
            .await
            .iter()
            .map(Mail::from_received)
            .collect()
    }

    /// Waits for mail number `already + 1` to `address` and returns it.
    pub async fn next_mail_to(&self, address: &str, already: usize) -> Mail {
        let deadline = tokio::time::Instant::now() + MAIL_WAIT;
        loop {
            let mails = self.mails_to(address).await;
            if mails.len() > already {
                return mails[already].clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no new mail to {address} within {MAIL_WAIT:?} ({already} before)"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Signs up and waits for the confirmation mail; returns its link.
    pub async fn sign_up_and_get_link(&self, email: &str) -> String {
        let mut seen = self.mails_to(email).await.len();
        let response = self.sign_up(email, "").await;
        assert_eq!(response.status(), 200, "signup of {email} was not accepted");
        // Skip a welcome mail still on its way from an earlier confirmation.
        let prefix = format!("{}/subscriptions/confirm?token=", self.address);
        loop {
            let mail = self.next_mail_to(email, seen).await;
            if mail.find_link(&prefix).is_some() {
                return mail.confirmation_link(&self.address);
            }
            seen += 1;
        }
    }

    /// Signs up, confirms, and returns the unsubscribe link from the welcome mail.
    pub async fn subscribed_reader(&self, email: &str) -> String {
        let link = self.sign_up_and_get_link(email).await;
        let already = self.mails_to(email).await.len();
        self.confirm(&link).await;
        self.next_mail_to(email, already)
            .await
            .unsubscribe_link(&self.address)
    }

    /// Opens a confirmation link and presses its Confirm button.
    pub async fn confirm(&self, link: &str) -> reqwest::Response {
        let token = token_of(link);
        let response = self
            .post_form("/subscriptions/confirm", &[("token", &token)])
            .await;
        assert_eq!(response.status(), 200, "confirming {link} failed");
        response
    }

    pub async fn subscriber_status(&self, email: &str) -> Option<String> {
        self.db.subscriber_status(email).await
    }
}

fn bind(port: Option<u16>) -> TcpListener {
    if let Some(port) = port {
        // The port is normally free again at once; another test may have taken it.
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
            return listener;
        }
    }
    TcpListener::bind("127.0.0.1:0").expect("a free port")
}

/// The secret every test app signs with.
pub const TEST_SECRET: &str = "test-secret-that-is-long-enough-0123456789";

/// An unsubscribe token as releases before issue 10 made it, and mailed:
/// `base64url(id ‖ HMAC(key, id)[..16])`, the id in clear.
pub fn legacy_unsubscribe_token(id: i64) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let key = herald::config::SecretKey::from_secret(&SecretString::from(TEST_SECRET));
    let id = id.to_be_bytes();
    let tag = key.sign("herald unsubscribe token v1", &id);
    let mut bytes = id.to_vec();
    bytes.extend_from_slice(&tag[..16]);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The `token` query parameter of a link.
pub fn token_of(link: &str) -> String {
    let url = url::Url::parse(link).expect("a valid link");
    url.query_pairs()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .expect("the link carries a token")
}

impl TestApp {
    /// Adds `count` subscribers with `status` straight into the database,
    /// named Reader 1…, addressed `{prefix}001@example.com`…; returns the
    /// addresses in id order.
    /// One subscriber in `status`; returns their address.
    pub async fn add_subscriber(
        &self,
        status: herald::subscriptions::SubscriberStatus,
        prefix: &str,
    ) -> String {
        self.add_subscribers(1, status, prefix).await.remove(0)
    }

    pub async fn add_subscribers(
        &self,
        count: usize,
        status: herald::subscriptions::SubscriberStatus,
        prefix: &str,
    ) -> Vec<String> {
        use herald::subscriptions::admin::{insert_samples, SampleSubscriber};
        use herald::subscriptions::{SubscriberEmail, SubscriberName};
        let store = herald::store::Store::connect(&self.db.url, 2)
            .await
            .expect("open the test database");
        let rows: Vec<SampleSubscriber> = (1..=count)
            .map(|n| SampleSubscriber {
                email: SubscriberEmail::parse(&format!("{prefix}{n:03}@example.com"))
                    .expect("valid"),
                name: SubscriberName::parse(&format!("Reader {n}")).expect("valid"),
                status,
                created_at: herald::store::now_millis(),
            })
            .collect();
        insert_samples(&store, &rows)
            .await
            .expect("insert subscribers");
        store.close().await;
        rows.iter()
            .map(|row| row.email.as_str().to_owned())
            .collect()
    }
}
