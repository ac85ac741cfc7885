//! Reports (issue 12, item 7): an issue's copies sent, bounces by class,
//! complaints and unsubscribes per receiving domain, on the issue page and
//! in the API; policy refusals per domain on the admins' dashboard; and the
//! bounce and complaint counters of /metrics. Reports come back through
//! `Intake::ingest` to the copies' VERP return paths; the unsubscribe is the
//! one-click link of the reader's copy.

use std::sync::Arc;

use herald::accounts::Role;
use herald::bounces::{Intake, Outcome, ReturnPath};
use herald::config::SecretKey;
use herald::subscriptions::admin::{insert_samples, SampleSubscriber};
use herald::subscriptions::{SubscriberEmail, SubscriberName, SubscriberStatus};
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::on_both_databases;
use crate::support::smtp_server::ReceivedMessage;
use crate::support::{Backend, Mail, TestApp, MAIL_WAIT, TEST_SECRET};

const BOUNCE_ADDRESS: &str = "bounces@news.example.org";

const READERS: [&str; 6] = [
    "ann@gmail.com",
    "bob@gmail.com",
    "cyd@gmail.com",
    "dee@outlook.com",
    "eve@outlook.com",
    "fay@example.org",
];

async fn add_readers(app: &TestApp) {
    let store = herald::store::Store::connect(&app.db.url, 2)
        .await
        .expect("open the test database");
    let rows: Vec<SampleSubscriber> = READERS
        .iter()
        .map(|email| SampleSubscriber {
            email: SubscriberEmail::parse(email).expect("valid"),
            name: SubscriberName::parse("A Reader").expect("valid"),
            status: SubscriberStatus::Confirmed,
            created_at: herald::store::now_millis(),
        })
        .collect();
    insert_samples(&store, &rows).await.expect("insert readers");
    store.close().await;
}

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/bounces/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The report in `fixture_name` about `reader`'s copy, taken in.
async fn report_about(intake: &Intake, raw: &[ReceivedMessage], fixture_name: &str, reader: &str) {
    let copy = raw
        .iter()
        .find(|copy| copy.rcpt_to == [reader.to_owned()])
        .unwrap_or_else(|| panic!("no copy to {reader}"));
    let text = fixture(fixture_name)
        .replace(
            "bounces+abcdefghijklmnopqrstuvwxyz23456@news.example.org",
            &copy.mail_from,
        )
        .replace("reader@example.org", reader);
    let outcome = intake
        .ingest(text.as_bytes(), None)
        .await
        .expect("the database takes the report");
    assert!(
        matches!(outcome, Outcome::Handled { .. }),
        "{fixture_name} about {reader}: {outcome}"
    );
}

fn row<'a>(report: &'a Value, domain: &str) -> &'a Value {
    report["domains"]
        .as_array()
        .expect("domains")
        .iter()
        .find(|row| row["domain"] == domain)
        .unwrap_or_else(|| panic!("no {domain} in {report}"))
}

/// The value of the sample `name` (labels as written) in Prometheus text.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
}

async fn the_report_counts_each_class_per_receiving_domain(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.bounce_address = Some(BOUNCE_ADDRESS.parse().expect("an address"));
    })
    .await;
    add_readers(&app).await;
    let issue =
        crate::issues::send_with_api(&app, &json!({"subject": "Counted", "intro": "Hello."})).await;
    let raw = app.smtp.wait_for_messages(READERS.len(), MAIL_WAIT).await;
    let copies: Vec<Mail> = raw.iter().map(Mail::from_received).collect();

    let store = herald::store::Store::connect(&app.db.url, 2)
        .await
        .expect("open the test database");
    let intake = Intake::new(
        store,
        Arc::new(SecretKey::from_secret(&SecretString::from(TEST_SECRET))),
        Some(ReturnPath::new(BOUNCE_ADDRESS.parse().expect("an address"))),
        5,
    );
    report_about(&intake, &raw, "postfix-user-unknown.eml", "ann@gmail.com").await;
    report_about(&intake, &raw, "mailbox-full.eml", "bob@gmail.com").await;
    report_about(&intake, &raw, "expired.eml", "cyd@gmail.com").await;
    report_about(&intake, &raw, "spamhaus-policy.eml", "dee@outlook.com").await;
    report_about(&intake, &raw, "arf-abuse.eml", "eve@outlook.com").await;

    // Fay leaves with the one-click link of her copy, which names the issue.
    let fay = copies
        .iter()
        .find(|mail| mail.to == "fay@example.org")
        .expect("Fay's copy");
    let link = fay.unsubscribe_link(&app.address);
    assert!(link.ends_with(&format!("&issue={issue}")), "{link}");
    // The page the link opens carries the issue on to its button.
    let page = app
        .get(&link)
        .await
        .text()
        .await
        .expect("the unsubscribe page");
    assert!(page.contains(&format!("&amp;issue={issue}\">")), "{page}");
    let left = app
        .client
        .post(&link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .expect("one-click unsubscribe");
    assert_eq!(left.status(), 200);
    assert_eq!(
        app.subscriber_status("fay@example.org").await.as_deref(),
        Some("unsubscribed")
    );
    // The same link again, and one naming an issue she was not sent, count nothing more.
    let token = crate::support::token_of(&link);
    for again in [
        link.clone(),
        app.url(&format!("/unsubscribe?token={token}&issue={}", issue + 1)),
    ] {
        assert_eq!(
            app.client
                .post(&again)
                .send()
                .await
                .expect("again")
                .status(),
            200
        );
    }

    // Cyd is erased: her soft bounce counts under "(erased)", her copy with her.
    let admin_token = app.api_token(Role::Admin).await;
    let cyd = app.db.subscriber_id("cyd@gmail.com").await;
    let erased = app
        .api(
            Method::DELETE,
            &format!("/api/v1/subscribers/{cyd}"),
            &admin_token,
        )
        .send()
        .await
        .expect("erase");
    assert_eq!(erased.status(), 204);

    let editor_token = app.api_token(Role::Editor).await;
    let response = app
        .api(
            Method::GET,
            &format!("/api/v1/issues/{issue}/report"),
            &editor_token,
        )
        .send()
        .await
        .expect("the report");
    assert_eq!(response.status(), 200);
    let report: Value = response.json().await.expect("JSON");
    let counts = |row: &Value| {
        [
            "sent",
            "hard",
            "soft",
            "policy",
            "complaints",
            "unsubscribes",
        ]
        .map(|field| row[field].as_i64().unwrap_or(-1))
    };
    assert_eq!(
        counts(row(&report, "gmail.com")),
        [2, 1, 1, 0, 0, 0],
        "{report}"
    );
    assert_eq!(
        counts(row(&report, "outlook.com")),
        [2, 0, 0, 1, 1, 0],
        "{report}"
    );
    assert_eq!(
        counts(row(&report, "example.org")),
        [1, 0, 0, 0, 0, 1],
        "{report}"
    );
    assert_eq!(
        counts(row(&report, "(erased)")),
        [0, 0, 1, 0, 0, 0],
        "{report}"
    );
    assert_eq!(counts(&report["totals"]), [5, 1, 2, 1, 1, 1], "{report}");
    assert_eq!(
        report["domains"].as_array().map(Vec::len),
        Some(4),
        "{report}"
    );
    let missing = app
        .api(Method::GET, "/api/v1/issues/999999/report", &editor_token)
        .send()
        .await
        .expect("a report of nothing");
    assert_eq!(missing.status(), 404);

    // The issue page shows the same table.
    let editor = app.sign_in_as(Role::Editor).await;
    let (status, page) = editor.get_page(&format!("/admin/issues/{issue}")).await;
    assert_eq!(status, 200);
    let table = page
        .split_once("Report by receiving domain")
        .map(|(_, rest)| rest)
        .expect("a report section on the issue page");
    for line in [
        "<th scope=\"row\">gmail.com</th><td>2</td><td>1</td><td>1</td><td>0</td><td>0</td><td>0</td>",
        "<th scope=\"row\">outlook.com</th><td>2</td><td>0</td><td>0</td><td>1</td><td>1</td><td>0</td>",
        "<th scope=\"row\">example.org</th><td>1</td><td>0</td><td>0</td><td>0</td><td>0</td><td>1</td>",
        "<th scope=\"row\">(erased)</th><td>0</td><td>0</td><td>1</td><td>0</td><td>0</td><td>0</td>",
    ] {
        assert!(table.contains(line), "{line} missing from:\n{table}");
    }

    // Policy refusals per domain: on an admin's dashboard, not an editor's.
    let (_, dashboard) = editor.get_page("/admin").await;
    assert!(!dashboard.contains("Policy refusals by receiving domain"));
    let admin = app.sign_in_as(Role::Admin).await;
    let (_, dashboard) = admin.get_page("/admin").await;
    assert!(
        dashboard.contains("<th scope=\"row\">outlook.com</th><td>1</td>"),
        "{dashboard}"
    );

    // /metrics counts what this deployment took in, whatever took it in. The
    // recorder is one per process and a counter never goes down, so beside
    // other tests' databases these are floors.
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    for (name, value) in [
        (r#"herald_bounces_total{class="hard"}"#, 1.0),
        (r#"herald_bounces_total{class="soft"}"#, 2.0),
        (r#"herald_bounces_total{class="policy"}"#, 1.0),
        ("herald_complaints_total", 1.0),
    ] {
        let found = sample(&metrics, name).unwrap_or_else(|| panic!("{name} missing:\n{metrics}"));
        assert!(found >= value, "{name} is {found}, below {value}");
    }
}

on_both_databases!(the_report_counts_each_class_per_receiving_domain);
