//! `herald db copy`, the way from SQLite up to PostgreSQL, through the real
//! executable: an SQLite database filled through Herald's own code paths is
//! copied into a PostgreSQL schema, and Herald serving the copy answers the
//! API, the archive and the feed byte for byte as it did on SQLite.

#[path = "api/support/database.rs"]
#[allow(dead_code)]
mod database;
#[path = "api/support/herald_process.rs"]
#[allow(dead_code)]
mod herald_process;
#[path = "api/support/mail.rs"]
#[allow(dead_code)]
mod mail;
#[path = "api/support/smtp_server.rs"]
#[allow(dead_code)]
mod smtp_server;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use herald::accounts::Accounts;
use herald::config::SecretKey;
use herald::delivery::DeliverySignals;
use herald::issues::{HeaderInput, IssueContent, Issues, ItemInput};
use herald::reports::Reports;
use herald::store::copy::TABLES;
use herald::store::{now_millis, Store};
use herald::subscriptions::admin::{insert_samples, SampleSubscriber};
use herald::subscriptions::{
    upgrade, RequestOrigin, SignupPolicy, SubscriberEmail, SubscriberName, SubscriberStatus,
    Subscriptions,
};
use secrecy::SecretString;
use sqlx::Row;
use tokio::time::Instant;

use database::{postgres_is_configured, Backend, TestDatabase};

const SECRET: &str = "db-copy-secret-that-is-long-enough-0123456789";
const PASSWORD: &str = "a long enough admin password";
/// What pages and feeds print as the site's address, whichever port serves
/// them, so the answers of two servers compare byte for byte.
const BASE_URL: &str = "http://news.example";
const READERS: usize = 300;
const READY_WAIT: Duration = Duration::from_secs(30);
const COMMAND_WAIT: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(100);

/// Names with what a naive copy mangles: accents, other scripts, quotes,
/// characters outside the Basic Multilingual Plane; every seventh has none.
const NAMES: &[&str] = &[
    "Zoë Dupré",
    "Łukasz Żółkiewski",
    "李小龍",
    "Ἀθηνᾶ Παλλάς",
    "Søren O'Brien",
    "Ada \"Countess\" Lovelace",
    "Émile 🎉 Smith",
    "Grace Smith",
];

fn herald(dir: &Path, database_url: &str, port: u16) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env("HERALD_SECRET", SECRET)
        .env("HERALD_BIND", format!("127.0.0.1:{port}"))
        .env("HERALD_BASE_URL", BASE_URL)
        .env("HERALD_OUTBOX_DIR", dir.join("outbox"))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    command
}

/// Runs a one-shot command to its end, killing it if it outlives `COMMAND_WAIT`.
async fn run(mut command: Command) -> Output {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start herald");
    let id = child.id();
    let waited = tokio::time::timeout(
        COMMAND_WAIT,
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await;
    match waited {
        Ok(output) => output.expect("the command thread").expect("run herald"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &id.to_string()])
                .status();
            panic!("herald did not finish within {COMMAND_WAIT:?}");
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("its address")
        .port()
}

/// A running `herald serve`, killed if the test ends without stopping it.
struct Server {
    child: Child,
    address: String,
    client: reqwest::Client,
}

impl Server {
    async fn start(dir: &Path, database_url: &str) -> Server {
        let port = free_port();
        let child = herald(dir, database_url, port)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start herald serve");
        let server = Server {
            child,
            address: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::builder()
                .user_agent("db-copy-test/1.0 (Ünïcode)")
                .redirect(reqwest::redirect::Policy::none())
                .pool_max_idle_per_host(0)
                .build()
                .expect("an HTTP client"),
        };
        herald_process::wait_until_healthy(&server.client, &server.address).await;
        server
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// (status, body) of GET `path`, with the API token when one is given.
    async fn get(&self, path: &str, token: Option<&str>) -> (u16, String) {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = response.status().as_u16();
        (status, response.text().await.expect("a body"))
    }

    async fn sign_up(&self, email: &str, name: &str) -> (u16, String) {
        let response = self
            .client
            .post(self.url("/subscriptions"))
            .form(&[("email", email), ("name", name)])
            .send()
            .await
            .expect("POST /subscriptions");
        let status = response.status().as_u16();
        (status, response.text().await.expect("a body"))
    }

    /// SIGTERM, as a service manager stops it, and wait for the exit.
    async fn stop(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let kill = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(kill.success());
        let deadline = Instant::now() + READY_WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for herald") {
                return status;
            }
            assert!(Instant::now() < deadline, "herald serve did not stop");
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An SQLite database with rows in every copied table, each made the way
/// Herald makes it. Returns the API token, the sent issue and the draft.
async fn populate(db: &TestDatabase) -> (String, i64, i64) {
    let dir = db.dir.path();
    let store = Store::connect(&db.url, 2).await.expect("open the database");
    store.migrate().await.expect("migrate");
    let start = now_millis() - 30 * 24 * 3600 * 1000;
    let readers: Vec<SampleSubscriber> = (1..=READERS)
        .map(|n| SampleSubscriber {
            email: SubscriberEmail::parse(&format!("reader{n:03}@example.com")).expect("valid"),
            name: if n.is_multiple_of(7) {
                None
            } else {
                SubscriberName::parse(NAMES[n % NAMES.len()]).expect("valid")
            },
            status: match n {
                n if n.is_multiple_of(25) => SubscriberStatus::Bounced,
                n if n.is_multiple_of(10) => SubscriberStatus::Unsubscribed,
                n if n.is_multiple_of(13) => SubscriberStatus::Pending,
                _ => SubscriberStatus::Confirmed,
            },
            created_at: start + i64::try_from(n).expect("small") * 60_000,
        })
        .collect();
    insert_samples(&store, &readers)
        .await
        .expect("insert readers");

    let issues = Issues::new(store.clone());
    let content = |subject: &str| {
        IssueContent::parse(
            &HeaderInput {
                subject: subject.into(),
                preheader: "Ünïcödé — “quoted” and ‘single’".into(),
                intro: "This week: *Zürich*, 東京 and a recipe for crème brûlée.".into(),
            },
            &[
                ItemInput {
                    title: "Straße & Co: what changed".into(),
                    url: "https://news.example/strasse?a=1&b=2".into(),
                    source: "Der Bote".into(),
                    date: "2025-03-28".into(),
                    summary: "First paragraph.\n\nSecond, with **bold** and `code`.".into(),
                },
                // No source, date or summary: NULL columns.
                ItemInput {
                    title: "A bare link".into(),
                    url: "https://example.org/bare".into(),
                    ..ItemInput::default()
                },
            ],
        )
        .expect("a valid issue")
    };
    let sent = issues
        .create(&content("Digest nº 1: café"))
        .await
        .expect("create an issue");
    let draft = issues
        .create(&content("Digest nº 2 (draft)"))
        .await
        .expect("create a draft");

    let accounts = Accounts::new(store.clone());
    accounts.create_setup_token().await.expect("a setup token");
    let rejected = accounts
        .log_in(
            "intruder@example.com",
            SecretString::from("wrong password".to_owned()),
            "192.0.2.7",
        )
        .await;
    assert!(rejected.is_err(), "an unknown account logged in");
    store.close().await;

    let added = run({
        let mut command = herald(dir, &db.url, free_port());
        command
            .args(["user", "add", "admin@example.com", "--role", "admin"])
            .env("HERALD_PASSWORD", PASSWORD);
        command
    })
    .await;
    assert!(added.status.success(), "user add: {}", text(&added.stderr));
    let created = run({
        let mut command = herald(dir, &db.url, free_port());
        command.args([
            "token",
            "create",
            "--name",
            "copy test",
            "--owner",
            "admin@example.com",
        ]);
        command
    })
    .await;
    assert!(
        created.status.success(),
        "token create: {}",
        text(&created.stderr)
    );
    let token = text(&created.stdout).trim().to_owned();

    let server = Server::start(dir, &db.url).await;
    let (status, _) = server
        .sign_up("nouveau@example.com", "Élodie Nouveau-Brûlé")
        .await;
    assert_eq!(status, 200, "a signup on SQLite");
    let erased = server
        .client
        .delete(server.url("/api/v1/subscribers/5"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("DELETE a subscriber");
    assert_eq!(erased.status(), 204, "erasing reader005");
    // The suppression list: a domain and an address, added as an admin would.
    for (value, reason) in [
        ("closed.example", "a domain that no longer takes mail"),
        ("Leser@Bücher.example", "asked by phone never to be mailed"),
    ] {
        let suppressed = server
            .client
            .post(server.url("/api/v1/suppressions"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"value": value, "reason": reason}))
            .send()
            .await
            .expect("POST a suppression");
        assert_eq!(suppressed.status(), 201, "suppressing {value}");
    }
    // Custom fields (issue 14, item 4): one of each kind, a signup that fills
    // the public ones, and an admin's change of a reader's internal ones.
    for field in [
        serde_json::json!({"key": "company", "label": "Société", "type": "text", "visibility": "public"}),
        serde_json::json!({"key": "plan", "label": "Plan", "type": "choice", "choices": ["Free", "Pro"], "visibility": "public"}),
        serde_json::json!({"key": "seats", "label": "Seats", "type": "number"}),
        serde_json::json!({"key": "renewal", "label": "Renewal", "type": "date"}),
        serde_json::json!({"key": "vip", "label": "VIP", "type": "yes_no"}),
    ] {
        let created = server
            .client
            .post(server.url("/api/v1/fields"))
            .bearer_auth(&token)
            .json(&field)
            .send()
            .await
            .expect("POST a field");
        assert_eq!(created.status(), 201, "creating {field}");
    }
    let signed_up = server
        .client
        .post(server.url("/subscriptions"))
        .json(&serde_json::json!({
            "email": "fields@example.com",
            "fields": {"company": "Café Ünïcödé", "plan": "pro"}
        }))
        .send()
        .await
        .expect("POST a signup with fields");
    assert_eq!(signed_up.status(), 200, "a signup with fields");
    let changed = server
        .client
        .patch(server.url("/api/v1/subscribers/7"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"fields": {"seats": 12.5, "renewal": "2026-01-31", "vip": true}}))
        .send()
        .await
        .expect("PATCH a subscriber's fields");
    assert_eq!(changed.status(), 200, "changing reader007's fields");
    // A saved segment (issue 14, item 5), as the API stores it.
    let segment = server
        .client
        .post(server.url("/api/v1/segments"))
        .bearer_auth(&token)
        .json(
            &serde_json::json!({"name": "Confirmed newsletter readers", "filter": {"conditions": [
                {"type": "status", "in": ["confirmed"]},
                {"type": "topics", "op": "any", "topics": [1]},
                {"type": "signed_up", "op": "after", "date": "2020-01-01"},
            ]}}),
        )
        .send()
        .await
        .expect("POST a segment");
    assert_eq!(segment.status(), 201, "saving a segment");
    let tested = server
        .client
        .post(server.url(&format!("/api/v1/issues/{draft}/test")))
        .bearer_auth(&token)
        .json(&serde_json::json!({"to": "tester@example.com"}))
        .send()
        .await
        .expect("POST a test send");
    assert_eq!(tested.status(), 200, "a test send (recorded in test_sends)");
    let send = run({
        let mut command = herald(dir, &db.url, free_port());
        command.args(["issue", "send", &sent.to_string(), "--wait"]);
        command
    })
    .await;
    assert!(
        send.status.success(),
        "issue send --wait: {} {}",
        text(&send.stdout),
        text(&send.stderr)
    );
    assert!(server.stop().await.success(), "herald serve on SQLite");
    // A soft bounce for a reader the send reached, taken in by the real
    // command (recorded in bounce_reports).
    let bounce = dir.join("bounce.eml");
    std::fs::write(
        &bounce,
        include_str!("fixtures/bounces/mailbox-full.eml")
            .replace("reader@example.org", "reader004@example.com"),
    )
    .expect("write the bounce");
    let ingested = run({
        let mut command = herald(dir, &db.url, free_port());
        command.arg("bounces").arg("ingest").arg(&bounce);
        command
    })
    .await;
    assert_eq!(
        text(&ingested.stdout).trim(),
        "soft bounce: reader004@example.com counted (1 of 5 in 30 days) \
         (5.2.2 552 5.2.2 The email account that you tried to reach is over quota.)",
        "{}",
        text(&ingested.stderr)
    );

    // Rows only some databases hold, made the way Herald makes them: an older
    // release's look-alike of another reader's address, reported by the
    // upgrade step (issue 10, item 11), and a signup answered while no process
    // handled signups (item 12; reader001 is confirmed, so handling it later
    // changes nothing on either side).
    let store = Store::connect(&db.url, 2).await.expect("open the database");
    sqlx::query("UPDATE subscribers SET email = 'reader002@ｅｘａｍｐｌｅ.com' WHERE id = 3")
        .execute(store.pool())
        .await
        .expect("store a look-alike as an older release did");
    sqlx::query("INSERT INTO upgrade_steps (name) VALUES ($1)")
        .bind(upgrade::NORMALISE_ADDRESSES)
        .execute(store.pool())
        .await
        .expect("queue the upgrade step");
    // Two-factor sign-in for the admin: a secret and its recovery codes.
    let accounts = Accounts::new(store.clone());
    let admin = accounts
        .user_by_email("admin@example.com")
        .await
        .expect("lookup")
        .expect("the admin");
    let enrolment = accounts
        .begin_two_factor(&admin, "Copy test")
        .await
        .expect("begin two-factor");
    let secret = totp_rs::Secret::Encoded(enrolment.secret_text.replace(' ', ""))
        .to_bytes()
        .expect("base32");
    let code = totp_rs::TOTP::new(
        totp_rs::Algorithm::SHA1,
        6,
        0,
        30,
        secret,
        None,
        String::new(),
    )
    .expect("TOTP")
    .generate_current()
    .expect("clock");
    accounts
        .confirm_two_factor(admin.id, "Copy test", &code)
        .await
        .expect("two-factor on");
    // A password reset link asked for by mail (issue 17).
    let reset = accounts
        .request_password_reset("admin@example.com", "192.0.2.9")
        .await
        .expect("a reset link");
    assert!(
        matches!(reset, herald::accounts::ResetRequest::Send { .. }),
        "{reset:?}"
    );
    // Two readers who left with the unsubscribe link of their copy of the
    // sent issue (issue 12, reports), recorded as the unsubscribe page does.
    let mut conn = store.pool().acquire().await.expect("a connection");
    for reader in [1, 2] {
        assert!(
            Reports::record_unsubscribe(&mut conn, sent, reader, now_millis())
                .await
                .expect("record an unsubscribe from a copy"),
            "reader {reader} was sent a copy"
        );
    }
    drop(conn);
    let report = upgrade::normalise_stored_addresses(&store)
        .await
        .expect("the upgrade step")
        .expect("it was queued");
    assert_eq!(report.look_alikes, 1);
    let subscriptions = Subscriptions::new(
        store.clone(),
        Arc::new(SecretKey::from_secret(&SecretString::from(SECRET))),
        SignupPolicy {
            confirmation_ttl: Duration::from_secs(3600),
            confirmations_per_day: 3,
            confirmation_min_interval: Duration::ZERO,
        },
        Arc::new(DeliverySignals::new()),
    );
    subscriptions
        .request_signup(
            &SubscriberEmail::parse("reader001@example.com").expect("valid"),
            None,
            &herald::topics::TopicChoice::default(),
            &queued_values(&store).await,
            &RequestOrigin::new(Some("192.0.2.8".into()), Some("db copy test")),
        )
        .await
        .expect("queue a signup");
    store.close().await;
    (token, sent, draft)
}

/// A public field's value, as a queued signup keeps it.
async fn queued_values(store: &Store) -> herald::fields::CheckedValues {
    let fields = herald::fields::Fields::new(store.clone())
        .all()
        .await
        .expect("the fields");
    let company = serde_json::json!("Queued & Co");
    herald::fields::check_values(
        &fields,
        &[(
            "company".to_owned(),
            herald::fields::RawValue::Json(&company),
        )],
        herald::fields::Scope::Signup,
    )
    .expect("a valid value")
}

async fn counts(db: &TestDatabase) -> BTreeMap<&'static str, i64> {
    let mut counts = BTreeMap::new();
    for table in TABLES {
        counts.insert(table.name, db.count(table.name).await);
    }
    counts
}

async fn copy(from: &TestDatabase, to: &TestDatabase) -> Output {
    run({
        let mut command = herald(from.dir.path(), &from.url, free_port());
        command.args(["db", "copy", "--from", &from.url, "--to", &to.url]);
        command
    })
    .await
}

/// What the API, the archive and the feed answer, by request.
async fn answers(
    server: &Server,
    token: &str,
    sent: i64,
    draft: i64,
) -> Vec<(String, u16, String)> {
    let mut paths: Vec<(String, bool)> = vec![
        ("/api/v1/subscribers?limit=500".into(), true),
        ("/api/v1/subscribers?status=pending".into(), true),
        ("/api/v1/subscribers?status=unsubscribed".into(), true),
        ("/api/v1/subscribers?status=bounced".into(), true),
        ("/api/v1/subscribers?q=reader1".into(), true),
        ("/api/v1/subscribers?q=smith".into(), true),
        ("/api/v1/subscribers/5".into(), true),
        ("/api/v1/subscribers/7".into(), true),
        ("/api/v1/fields".into(), true),
        ("/api/v1/subscribers/13".into(), true),
        (format!("/api/v1/subscribers/{}", READERS + 1), true),
        (format!("/api/v1/issues/{sent}"), true),
        (format!("/api/v1/issues/{draft}"), true),
        (format!("/api/v1/issues/{sent}/report"), true),
        ("/api/v1/segments".into(), true),
        ("/issues".into(), false),
        (format!("/issues/{sent}"), false),
        (format!("/issues/{draft}"), false),
        ("/feed.atom".into(), false),
        ("/".into(), false),
    ];
    // Keyset pages, each `next` taken from the page before.
    let mut next = Some("/api/v1/subscribers?limit=70".to_owned());
    let mut answers = Vec::new();
    while let Some(page) = next.take() {
        let (status, body) = server.get(&page, Some(token)).await;
        assert_eq!(status, 200, "GET {page}: {body}");
        let json: serde_json::Value = serde_json::from_str(&body).expect("a JSON page");
        next = json["next"]
            .as_i64()
            .map(|after| format!("/api/v1/subscribers?limit=70&after={after}"));
        answers.push((page, status, body));
    }
    for (path, with_token) in paths.drain(..) {
        let (status, body) = server.get(&path, with_token.then_some(token)).await;
        answers.push((path, status, body));
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_on_postgresql_answers_exactly_like_the_sqlite_original() {
    if !postgres_is_configured() {
        return;
    }
    let sqlite = TestDatabase::create(Backend::Sqlite).await;
    let postgres = TestDatabase::create(Backend::Postgres).await;
    let (token, sent, draft) = populate(&sqlite).await;
    let before = counts(&sqlite).await;
    let empty: Vec<&&str> = before
        .iter()
        .filter(|(_, rows)| **rows == 0)
        .map(|(table, _)| table)
        .collect();
    assert!(empty.is_empty(), "the test leaves tables empty: {empty:?}");

    let copied = copy(&sqlite, &postgres).await;
    let stdout = text(&copied.stdout);
    assert!(
        copied.status.success(),
        "herald db copy: {stdout}{}",
        text(&copied.stderr)
    );
    let total: i64 = before.values().sum();
    let summary = format!("Copied {} tables, {total} rows in ", before.len());
    assert!(stdout.contains(&summary), "{stdout}");
    assert!(
        !stdout.contains(SECRET) && !stdout.contains("search_path"),
        "{stdout}"
    );
    eprintln!("{stdout}");
    let printed: BTreeMap<String, i64> = stdout
        .lines()
        .filter_map(|line| {
            let (table, rows) = line.split_once(' ')?;
            let rows = rows.trim().replace(',', "").parse().ok()?;
            Some((table.to_owned(), rows))
        })
        .collect();
    let after = counts(&postgres).await;
    assert_eq!(before, after, "rows by table, SQLite and PostgreSQL");
    for (table, rows) in &before {
        assert_eq!(
            printed.get(*table),
            Some(rows),
            "the printed count of {table}"
        );
    }

    let dir = sqlite.dir.path();
    let on_sqlite = Server::start(dir, &sqlite.url).await;
    let expected = answers(&on_sqlite, &token, sent, draft).await;
    on_sqlite.stop().await;
    let on_postgres = Server::start(dir, &postgres.url).await;
    let actual = answers(&on_postgres, &token, sent, draft).await;
    assert_eq!(expected.len(), actual.len());
    for ((path, status, body), (_, copy_status, copy_body)) in expected.iter().zip(&actual) {
        assert_eq!(
            (status, body),
            (copy_status, copy_body),
            "GET {path}: SQLite, then the PostgreSQL copy"
        );
    }
    // The copied token works, and so does every page but two that are not
    // there on either: the erased reader and the draft's archive page.
    for (path, status, body) in &expected {
        let gone = *path == "/api/v1/subscribers/5" || *path == format!("/issues/{draft}");
        assert_eq!(*status, if gone { 404 } else { 200 }, "GET {path}: {body}");
    }

    // The identity sequences were moved past the copied ids: new rows on
    // PostgreSQL take the next ids instead of colliding.
    let (status, body) = on_postgres
        .sign_up("after-the-move@example.com", "Nach dem Umzug")
        .await;
    assert_eq!(status, 200, "a signup on the copy: {body}");
    let created = on_postgres
        .client
        .post(on_postgres.url("/api/v1/issues"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "subject": "First on PostgreSQL", "intro": "Hello." }))
        .send()
        .await
        .expect("POST /api/v1/issues");
    assert_eq!(created.status(), 201, "a new issue on the copy");
    let issue: serde_json::Value = created.json().await.expect("the issue");
    assert_eq!(issue["id"].as_i64(), Some(draft + 1));
    on_postgres.stop().await;
    let mut conn = postgres.connect().await;
    let id: i64 = sqlx::query("SELECT id FROM subscribers WHERE email = $1")
        .bind("after-the-move@example.com")
        .fetch_one(&mut conn)
        .await
        .expect("the new subscriber")
        .get("id");
    // After the readers, nouveau@ and fields@ (signed up on SQLite).
    assert_eq!(id, i64::try_from(READERS).expect("small") + 3);

    let counts_before_second_copy = counts(&postgres).await;
    let again = copy(&sqlite, &postgres).await;
    let stderr = text(&again.stderr);
    assert_eq!(again.status.code(), Some(2), "a second copy: {stderr}");
    assert!(
        stderr.contains("the target database already holds data (subscribers has 302 rows)"),
        "{stderr}"
    );
    assert_eq!(counts(&postgres).await, counts_before_second_copy);
}

#[tokio::test]
async fn a_missing_source_file_is_refused_and_not_created() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let missing = dir.path().join("herlad.db");
    let target = dir.path().join("target.db");
    let output = run({
        let mut command = herald(dir.path(), "sqlite://unused.db", free_port());
        command.args([
            "db",
            "copy",
            "--from",
            &format!("sqlite://{}", missing.display()),
            "--to",
            &format!("sqlite://{}", target.display()),
        ]);
        command
    })
    .await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("there is no database file {}", missing.display())),
        "{stderr}"
    );
    assert!(!missing.exists(), "the missing source was created");
    assert!(!target.exists(), "the target was created for nothing");
}

#[tokio::test]
async fn a_database_is_not_copied_onto_itself() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let store = Store::connect(&db.url, 1).await.expect("open the database");
    store.migrate().await.expect("migrate");
    store.close().await;
    let output = run({
        let mut command = herald(db.dir.path(), &db.url, free_port());
        command.args([
            "db",
            "copy",
            "--from",
            &db.url,
            "--to",
            "sqlite://./herald.db",
        ]);
        command
    })
    .await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--from and --to name the same database"),
        "{stderr}"
    );
}

/// Ids deleted on SQLite stay used on PostgreSQL: the copy carries SQLite's
/// record of the highest id ever handed out, not only the highest left.
#[tokio::test]
async fn ids_deleted_before_the_copy_are_not_handed_out_again() {
    if !postgres_is_configured() {
        return;
    }
    let sqlite = TestDatabase::create(Backend::Sqlite).await;
    let postgres = TestDatabase::create(Backend::Postgres).await;
    let store = Store::connect(&sqlite.url, 1).await.expect("open SQLite");
    store.migrate().await.expect("migrate");
    store.close().await;
    let insert = "INSERT INTO subscribers (email, status, created_at, updated_at) \
                  VALUES ($1, 'pending', 0, 0) RETURNING id";
    let mut conn = sqlite.connect().await;
    let mut last = 0;
    for email in ["one@example.com", "two@example.com", "three@example.com"] {
        last = sqlx::query(insert)
            .bind(email)
            .fetch_one(&mut conn)
            .await
            .expect("insert a subscriber")
            .get::<i64, _>("id");
    }
    sqlx::query("DELETE FROM subscribers WHERE id = $1")
        .bind(last)
        .execute(&mut conn)
        .await
        .expect("delete the newest subscriber");
    drop(conn);

    let copied = copy(&sqlite, &postgres).await;
    assert!(copied.status.success(), "{}", text(&copied.stderr));
    let mut conn = postgres.connect().await;
    let next: i64 = sqlx::query(insert)
        .bind("four@example.com")
        .fetch_one(&mut conn)
        .await
        .expect("insert on PostgreSQL")
        .get("id");
    assert!(next > last, "id {next} was handed out again on PostgreSQL");
}
