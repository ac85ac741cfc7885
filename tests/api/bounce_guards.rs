//! Pause guards (issue 12, item 5): a send pauses itself when, after 1,000
//! copies tried, too many came back as hard bounces or complaints. The
//! copies go through the real engine to the test SMTP server; the reports
//! come back through `Intake::ingest`, as DSNs and ARF reports addressed to
//! the copies' own VERP return paths.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use herald::accounts::Role;
use herald::bounces::{Intake, Outcome, ReturnPath};
use herald::config::SecretKey;
use herald::subscriptions::SubscriberStatus;
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::on_both_databases;
use crate::support::{Backend, TestApp, MAIL_WAIT, TEST_SECRET};

const BOUNCE_ADDRESS: &str = "bounces@news.example.org";
/// Rate of the test sends: slow enough that a guard can stop a 2,000-copy
/// send before its end (8 s), fast enough to keep the test short.
const SEND_RATE: u32 = 250;
/// How long a send may take to pause itself once past 1,000 copies.
const PAUSE_WAIT: Duration = Duration::from_secs(20);

async fn app_sending_slowly(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |config| {
        config.bounce_address = Some(BOUNCE_ADDRESS.parse().expect("an address"));
        config.send_rate = Some(SEND_RATE.try_into().expect("non-zero"));
    })
    .await
}

/// An editor's view of the send, through the API.
struct Editor {
    token: String,
    issue: i64,
}

impl Editor {
    /// `readers` confirmed readers and an issue sent to them.
    async fn send_to(app: &TestApp, readers: usize) -> Self {
        app.add_subscribers(readers, SubscriberStatus::Confirmed, "reader")
            .await;
        let issue =
            crate::issues::create_with_api(app, &json!({"subject": "Guarded", "intro": "Hello."}))
                .await;
        let editor = Self {
            token: app.api_token(Role::Editor).await,
            issue,
        };
        assert_eq!(editor.control(app, "send").await.status(), 202);
        editor
    }

    async fn control(&self, app: &TestApp, action: &str) -> reqwest::Response {
        app.api(
            Method::POST,
            &format!("/api/v1/issues/{}/{action}", self.issue),
            &self.token,
        )
        .send()
        .await
        .expect("a send control")
    }

    async fn progress(&self, app: &TestApp) -> Value {
        app.api(
            Method::GET,
            &format!("/api/v1/issues/{}/progress", self.issue),
            &self.token,
        )
        .send()
        .await
        .expect("progress")
        .json()
        .await
        .expect("JSON")
    }

    /// The progress once the send is `status`; fails after `wait`.
    async fn wait_for(&self, app: &TestApp, status: &str, wait: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let progress = self.progress(app).await;
            if progress["status"] == status {
                return progress;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "not {status} after {wait:?}: {progress}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Reports taken in the way every channel hands them over.
async fn intake(app: &TestApp) -> Intake {
    let store = herald::store::Store::connect(&app.db.url, 2)
        .await
        .expect("open the test database");
    Intake::new(
        store,
        Arc::new(SecretKey::from_secret(&SecretString::from(TEST_SECRET))),
        Some(ReturnPath::new(BOUNCE_ADDRESS.parse().expect("an address"))),
        5,
    )
}

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/bounces/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `fixture` as it comes back about the copy sent with envelope sender
/// `verp` to `reader`, with its own Message-ID `n`.
fn report(fixture_text: &str, verp: &str, reader: &str, n: usize) -> String {
    fixture_text
        .replace(
            "bounces+abcdefghijklmnopqrstuvwxyz23456@news.example.org",
            verp,
        )
        .replace("reader@example.org", reader)
        .replace("<dsn-hard-1@", &format!("<guard-hard-{n}@"))
        .replace("<arf-0001@", &format!("<guard-arf-{n}@"))
}

/// Takes in `count` reports from `fixture` about the first copies that arrive.
async fn report_first_copies(app: &TestApp, fixture_name: &str, count: usize) {
    let copies = app.smtp.wait_for_messages(count, MAIL_WAIT).await;
    let intake = intake(app).await;
    let text = fixture(fixture_name);
    for (n, copy) in copies.iter().take(count).enumerate() {
        let reader = &copy.rcpt_to[0];
        let outcome = intake
            .ingest(report(&text, &copy.mail_from, reader, n).as_bytes(), None)
            .await
            .expect("the database takes the report");
        assert!(
            matches!(outcome, Outcome::Handled { .. }),
            "{fixture_name} about {reader}: {outcome}"
        );
    }
}

/// `herald issue status ID`, the real binary on the test database.
fn cli_status(app: &TestApp, issue: i64) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["issue", "status", &issue.to_string()])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &app.db.url)
        .env("HERALD_SECRET", TEST_SECRET)
        .env("RUST_LOG", "warn")
        .output()
        .expect("herald issue status ran");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn a_send_over_the_bounce_rate_pauses_itself_says_why_and_resumes(backend: Backend) {
    let app = app_sending_slowly(backend).await;
    let readers = 2_000;
    let editor = Editor::send_to(&app, readers).await;
    // 110 hard bounces: over 5 % of anything up to 2,000 copies, so the
    // send must stop as soon as 1,000 copies are tried, and before its end.
    report_first_copies(&app, "postfix-user-unknown.eml", 110).await;

    let paused = editor.wait_for(&app, "paused", PAUSE_WAIT).await;
    let reason = paused["pause_reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        reason.starts_with("paused itself: hard-bounce rate ")
            && reason.contains(" copies) passes HERALD_PAUSE_BOUNCE_RATE 5 %"),
        "{paused}"
    );
    let sent_when_paused = paused["counts"]["sent"].as_i64().expect("a count");
    assert!(
        (1_000..2_000).contains(&sent_when_paused),
        "paused after 1,000 copies and before the end: {paused}"
    );
    // Nothing more goes out while it is paused.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let settled = app.smtp.messages().await.len();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        app.smtp.messages().await.len(),
        settled,
        "copies went out while paused"
    );

    // The issue page and the command line say why, in the same words.
    let admin = app.sign_in_as(Role::Editor).await;
    let (status, page) = admin
        .get_page(&format!("/admin/issues/{}", editor.issue))
        .await;
    assert_eq!(status, 200);
    assert!(page.contains(&reason), "the page does not say why:\n{page}");
    let printed = cli_status(&app, editor.issue);
    assert!(
        printed.contains(&format!("Issue {}: {reason}", editor.issue))
            && printed.contains(": paused"),
        "{printed}"
    );

    // Resuming is the editor's choice, and the rate it was resumed over
    // does not stop it again: every reader gets the issue, once.
    assert_eq!(editor.control(&app, "resume").await.status(), 200);
    let sent = editor.wait_for(&app, "sent", Duration::from_secs(30)).await;
    assert_eq!(sent["pause_reason"], Value::Null, "{sent}");
    let copies = app.smtp.messages().await;
    assert_eq!(copies.len(), readers);
    let mut readers_reached: Vec<&String> = copies.iter().map(|c| &c.rcpt_to[0]).collect();
    readers_reached.sort();
    readers_reached.dedup();
    assert_eq!(readers_reached.len(), readers, "a reader got two copies");
}

async fn a_send_over_the_complaint_rate_pauses_itself(backend: Backend) {
    let app = app_sending_slowly(backend).await;
    let editor = Editor::send_to(&app, 2_000).await;
    // 8 complaints: over 0.3 % of anything up to 2,000 copies.
    report_first_copies(&app, "arf-abuse.eml", 8).await;
    let paused = editor.wait_for(&app, "paused", PAUSE_WAIT).await;
    let reason = paused["pause_reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("paused itself: complaint rate ")
            && reason.ends_with(" copies) passes HERALD_PAUSE_COMPLAINT_RATE 0.3 %"),
        "{paused}"
    );
    assert!(
        paused["counts"]["sent"].as_i64().expect("a count") < 2_000,
        "{paused}"
    );
    // The editor may also end the send instead of resuming it.
    assert_eq!(editor.control(&app, "cancel").await.status(), 200);
}

async fn below_a_thousand_copies_no_rate_pauses_a_send(backend: Backend) {
    let app = app_sending_slowly(backend).await;
    let readers = 900;
    let editor = Editor::send_to(&app, readers).await;
    // 13 % hard bounces and 1 % complaints, but over 900 copies only.
    report_first_copies(&app, "postfix-user-unknown.eml", 120).await;
    let complaints = app.smtp.messages().await;
    let intake = intake(&app).await;
    let arf = fixture("arf-abuse.eml");
    for (n, copy) in complaints.iter().skip(120).take(9).enumerate() {
        intake
            .ingest(
                report(&arf, &copy.mail_from, &copy.rcpt_to[0], n).as_bytes(),
                None,
            )
            .await
            .expect("the database takes the report");
    }
    let sent = editor.wait_for(&app, "sent", Duration::from_secs(30)).await;
    assert_eq!(sent["counts"]["sent"], json!(readers), "{sent}");
    assert_eq!(sent["pause_reason"], Value::Null);
}

on_both_databases!(
    a_send_over_the_bounce_rate_pauses_itself_says_why_and_resumes,
    a_send_over_the_complaint_rate_pauses_itself,
    below_a_thousand_copies_no_rate_pauses_a_send,
);
