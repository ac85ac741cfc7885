//! Upgrades keep everything: a database written by an earlier release (kept in
//! `tests/fixtures/upgrade/RELEASE/`, made by `scripts/make-upgrade-fixture.py`
//! with that release's binary) is opened by today's `herald serve`. Every row
//! is still there, the accounts and the API token still sign in, and every link
//! that release mailed still does what it did, for the reader it was made for
//! and nobody else. Runs on SQLite and on PostgreSQL.

#[path = "api/support/database.rs"]
#[allow(dead_code)]
mod database;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde::Deserialize;
use sqlx::{Executor, Row};

use database::{Backend, TestDatabase};

/// Every release whose database must keep working; add each new one here.
const RELEASES: &[&str] = &["0.1.0", "0.2.0"];

macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if super::database::postgres_is_configured() {
                        super::$name(super::Backend::Postgres).await
                    }
                }
            )*
        }
    };
}

on_both_databases!(every_row_and_every_mailed_link_survive_the_upgrade);

#[derive(Debug, Deserialize)]
struct Manifest {
    release: String,
    postgres_schema: String,
    sqlite: Written,
    postgres: Written,
}

/// What the fixture's release wrote and mailed on one engine.
#[derive(Debug, Deserialize)]
struct Written {
    base_url: String,
    secret: String,
    admin: Account,
    editor: Account,
    api_token: String,
    statuses: BTreeMap<String, String>,
    erased: String,
    sent_issue: IssueRef,
    draft_issue: IssueRef,
    unsubscribe_links: BTreeMap<String, String>,
    confirmation_links: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct Account {
    email: String,
    password: String,
}

#[derive(Debug, Deserialize)]
struct IssueRef {
    id: i64,
    subject: String,
}

/// Tables whose rows are the newsroom's data; each must keep every row.
const KEPT_TABLES: &[&str] = &[
    "subscribers",
    "subscriber_events",
    "confirmation_tokens",
    "outbox",
    "users",
    "api_tokens",
    "erasure_counts",
    "issues",
    "issue_items",
    "deliveries",
];

fn fixture_dir(release: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/upgrade/{release}"))
}

fn manifest(release: &str) -> Manifest {
    let text = std::fs::read_to_string(fixture_dir(release).join("manifest.json"))
        .expect("the fixture's manifest.json");
    serde_json::from_str(&text).expect("a well-formed manifest")
}

/// Puts the release's database where the test database is.
async fn restore(db: &TestDatabase, release: &str, manifest: &Manifest) {
    match db.backend {
        Backend::Sqlite => {
            let file = db.dir.path().join("herald.db");
            std::fs::copy(fixture_dir(release).join("herald.db"), &file)
                .expect("copy the SQLite fixture");
        }
        Backend::Postgres => {
            let dump = std::fs::read_to_string(fixture_dir(release).join("postgres.sql"))
                .expect("the PostgreSQL fixture");
            let schema = db
                .url
                .rsplit("search_path%3D")
                .next()
                .expect("a test schema in the URL")
                .to_owned();
            // psql's meta-commands (\restrict) are not SQL; the schema is the test's own.
            let sql: String = dump
                .lines()
                .filter(|line| !line.starts_with('\\'))
                .map(|line| line.replace(&manifest.postgres_schema, &schema) + "\n")
                .collect::<String>()
                .replace(&format!("CREATE SCHEMA {schema};"), "");
            let mut conn = db.connect().await;
            conn.execute(sqlx::raw_sql(&sql))
                .await
                .expect("load the PostgreSQL fixture");
        }
    }
}

async fn row_counts(db: &TestDatabase) -> BTreeMap<&'static str, i64> {
    let mut counts = BTreeMap::new();
    for table in KEPT_TABLES {
        counts.insert(*table, db.count(table).await);
    }
    counts
}

struct Herald {
    child: Child,
    port: u16,
    http: reqwest::Client,
    base_url: String,
}

impl Herald {
    async fn start(db: &TestDatabase, written: &Written) -> Herald {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_herald"))
            .arg("serve")
            .current_dir(db.dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &db.url)
            .env("HERALD_SECRET", &written.secret)
            .env("HERALD_BASE_URL", &written.base_url)
            .env("HERALD_BIND", format!("127.0.0.1:{port}"))
            .env("HERALD_OUTBOX_DIR", db.dir.path().join("outbox"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start herald serve");
        let herald = Herald {
            child,
            port,
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("HTTP client"),
            base_url: written.base_url.clone(),
        };
        for _ in 0..300 {
            if let Ok(response) = herald.http.get(herald.url("/health")).send().await {
                if response.status().is_success() {
                    return herald;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("herald serve did not become healthy on the upgraded database");
    }

    /// A path, or a link as the old release mailed it (its base URL swapped for ours).
    fn url(&self, path_or_link: &str) -> String {
        let path = path_or_link
            .strip_prefix(&self.base_url)
            .unwrap_or(path_or_link);
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn get(&self, path_or_link: &str) -> (u16, String) {
        let response = self
            .http
            .get(self.url(path_or_link))
            .send()
            .await
            .expect("GET");
        (
            response.status().as_u16(),
            response.text().await.expect("body"),
        )
    }

    async fn post_form(&self, path_or_link: &str, fields: &[(&str, &str)]) -> (u16, String) {
        let response = self
            .http
            .post(self.url(path_or_link))
            .form(fields)
            .send()
            .await
            .expect("POST");
        (
            response.status().as_u16(),
            response.text().await.expect("body"),
        )
    }

    async fn api(&self, token: &str, path: &str) -> (u16, serde_json::Value) {
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("API GET");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }

    async fn statuses(&self, token: &str) -> BTreeMap<String, String> {
        let (status, list) = self.api(token, "/api/v1/subscribers?limit=500").await;
        assert_eq!(status, 200, "the old API token lists the subscribers");
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|s| {
                (
                    s["email"].as_str().unwrap_or_default().to_owned(),
                    s["status"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// Signs in through the login form as a person would, in a browser of
    /// its own; true when the dashboard then opens.
    async fn signs_in(&self, account: &Account) -> bool {
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("HTTP client");
        let page = browser
            .get(self.url("/admin/login"))
            .send()
            .await
            .expect("GET /admin/login")
            .text()
            .await
            .expect("login page");
        let csrf = page
            .split("name=\"csrf_token\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a CSRF token on the login page")
            .to_owned();
        let login = browser
            .post(self.url("/admin/login"))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("email", account.email.as_str()),
                ("password", account.password.as_str()),
            ])
            .send()
            .await
            .expect("POST /admin/login");
        let dashboard = browser
            .get(self.url("/admin"))
            .send()
            .await
            .expect("GET /admin");
        login.status().as_u16() == 303 && dashboard.status().as_u16() == 200
    }
}

impl Drop for Herald {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn token_of(link: &str) -> String {
    link.split("token=")
        .nth(1)
        .expect("a token in the link")
        .to_owned()
}

async fn every_row_and_every_mailed_link_survive_the_upgrade(backend: Backend) {
    for release in RELEASES {
        let manifest = manifest(release);
        let written = match backend {
            Backend::Sqlite => &manifest.sqlite,
            Backend::Postgres => &manifest.postgres,
        };
        let db = TestDatabase::create(backend).await;
        restore(&db, release, &manifest).await;
        let before = row_counts(&db).await;
        // The fixture was written days or months ago; its confirmation links
        // are as fresh as on the day they were mailed for this test.
        db.connect()
            .await
            .execute("UPDATE confirmation_tokens SET expires_at = expires_at + 100000000000")
            .await
            .expect("move the confirmation links' expiry ahead");

        let herald = Herald::start(&db, written).await;
        let context = format!("upgrade from {} on {backend:?}", manifest.release);

        let after = row_counts(&db).await;
        assert_eq!(before, after, "{context}: every row is kept");

        // Accounts and the API token.
        assert!(
            herald.signs_in(&written.admin).await,
            "{context}: the admin signs in"
        );
        assert!(
            herald.signs_in(&written.editor).await,
            "{context}: the editor signs in"
        );
        assert_eq!(
            herald.statuses(&written.api_token).await,
            written.statuses,
            "{context}: every subscriber, in the state the old release left"
        );

        // Issues: the archive and the draft.
        let (status, page) = herald
            .get(&format!("/issues/{}", written.sent_issue.id))
            .await;
        assert_eq!(status, 200, "{context}: the sent issue is in the archive");
        assert!(
            page.contains(&written.sent_issue.subject),
            "{context}: {page}"
        );
        let (status, draft) = herald
            .api(
                &written.api_token,
                &format!("/api/v1/issues/{}", written.draft_issue.id),
            )
            .await;
        assert_eq!(status, 200, "{context}: the draft is still there");
        assert_eq!(draft["subject"], written.draft_issue.subject.as_str());

        // The sent issue's progress, counted from tallies the upgrade made
        // out of its copies (issue 13), as the old release's count had it.
        let sent = written.sent_issue.id;
        let tallied = db.tallied_counts(sent).await;
        assert!(tallied.sent > 0, "{context}: {tallied:?}");
        let (status, progress) = herald
            .api(
                &written.api_token,
                &format!("/api/v1/issues/{sent}/progress"),
            )
            .await;
        assert_eq!(status, 200, "{context}: {progress}");
        assert_eq!(
            progress["counts"]["sent"], tallied.sent,
            "{context}: {progress}"
        );
        assert_eq!(
            progress["counts"]["total"], tallied.total,
            "{context}: {progress}"
        );
        assert_eq!(draft["status"], "draft");

        // A newcomer after the upgrade: the erased reader's mailed link must
        // neither name nor unsubscribe them.
        let newcomer = "newcomer@example.com";
        let (status, _) = herald
            .post_form("/subscriptions", &[("email", newcomer), ("name", "")])
            .await;
        assert_eq!(status, 200, "{context}: a new signup works");
        // The answer comes first; the signup is recorded right after.
        let mut waited = 0;
        while !herald
            .statuses(&written.api_token)
            .await
            .contains_key(newcomer)
        {
            assert!(waited < 100, "{context}: the newcomer was never recorded");
            tokio::time::sleep(Duration::from_millis(100)).await;
            waited += 1;
        }
        let erased_link = &written.unsubscribe_links[&written.erased];
        let (_, page) = herald.get(erased_link).await;
        assert!(
            !page.contains(newcomer),
            "{context}: the erased reader's link shows the newcomer"
        );
        herald
            .post_form(erased_link, &[("List-Unsubscribe", "One-Click")])
            .await;
        let mut expected = written.statuses.clone();
        expected.insert(newcomer.to_owned(), "pending".to_owned());
        assert_eq!(
            herald.statuses(&written.api_token).await,
            expected,
            "{context}: the erased reader's link changes nobody"
        );

        // The pending reader's confirmation link confirms them.
        let link = &written.confirmation_links["pending@example.com"];
        let (status, _) = herald
            .post_form("/subscriptions/confirm", &[("token", &token_of(link))])
            .await;
        assert!(
            status < 400,
            "{context}: the mailed confirmation link works ({status})"
        );
        expected.insert("pending@example.com".to_owned(), "confirmed".to_owned());
        assert_eq!(
            herald.statuses(&written.api_token).await,
            expected,
            "{context}"
        );

        // Each reader's mailed unsubscribe link shows them, and unsubscribes them alone.
        for (address, link) in &written.unsubscribe_links {
            if expected.get(address).map(String::as_str) != Some("confirmed") {
                continue;
            }
            let (status, page) = herald.get(link).await;
            assert_eq!(status, 200, "{context}: {address}'s link");
            assert!(
                page.contains(address.as_str()),
                "{context}: {address}'s link names them"
            );
            let (status, _) = herald
                .post_form(link, &[("List-Unsubscribe", "One-Click")])
                .await;
            assert_eq!(status, 200, "{context}: {address} unsubscribes");
            expected.insert(address.clone(), "unsubscribed".to_owned());
            assert_eq!(
                herald.statuses(&written.api_token).await,
                expected,
                "{context}: {address}'s link unsubscribed them alone"
            );
        }
        let rows = db
            .connect()
            .await
            .fetch_one("SELECT COUNT(*) AS n FROM subscribers WHERE status = 'unsubscribed'")
            .await
            .expect("count")
            .get::<i64, _>("n");
        assert_eq!(
            rows as usize,
            expected.values().filter(|s| *s == "unsubscribed").count()
        );
    }
}
