//! Readers' own ways out and in (issue 14, items 2 and 3): one-click
//! unsubscribe leaves the issue's topics only, each topic has its own
//! List-Id, the footer's three links; the preference centre (name, topics),
//! download my data, and erase me confirmed by mail.

use std::time::Duration;

use herald::accounts::Role;
use herald::config::SecretKey;
use herald::subscriptions::{LinkKey, SubscriberStatus, UnsubscribeToken};
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{json, Value};
use sqlx::Row;

use crate::on_both_databases;
use crate::support::{token_of, Backend, Mail, TestApp, MAIL_WAIT, TEST_SECRET};

/// A confirmed reader in the default topic and in `topics` (public ones,
/// added by signing up again); returns their token.
async fn reader_in(app: &TestApp, email: &str, topics: &[&str]) -> String {
    let link = app.subscribed_reader(email).await;
    if !topics.is_empty() {
        let response = app
            .post_json("/subscriptions", &json!({"email": email, "topics": topics}))
            .await;
        assert_eq!(response.status(), 200);
        app.signups_handled().await;
    }
    token_of(&link)
}

/// A confirmed reader in `topics` only, chosen at signup.
async fn reader_only_in(app: &TestApp, email: &str, topics: &[&str]) {
    let response = app
        .post_json("/subscriptions", &json!({"email": email, "topics": topics}))
        .await;
    assert_eq!(response.status(), 200);
    app.signups_handled().await;
    let link = app
        .next_mail_to(email, 0)
        .await
        .confirmation_link(&app.address);
    app.confirm(&link).await;
}

async fn topics_of(app: &TestApp, email: &str) -> Vec<String> {
    let mut conn = app.db.connect().await;
    sqlx::query(
        "SELECT t.slug FROM subscriber_topics m JOIN topics t ON t.id = m.topic_id \
         JOIN subscribers s ON s.id = m.subscriber_id \
         WHERE lower(s.email) = lower($1) ORDER BY t.slug",
    )
    .bind(email)
    .fetch_all(&mut conn)
    .await
    .expect("memberships")
    .iter()
    .map(|row| row.get("slug"))
    .collect()
}

/// (kind, topics, ip) of an address's events, oldest first.
async fn events_of(app: &TestApp, email: &str) -> Vec<(String, Option<String>, Option<String>)> {
    let mut conn = app.db.connect().await;
    sqlx::query(
        "SELECT e.kind, e.topics, e.ip FROM subscriber_events e \
         JOIN subscribers s ON s.id = e.subscriber_id \
         WHERE lower(s.email) = lower($1) ORDER BY e.id",
    )
    .bind(email)
    .fetch_all(&mut conn)
    .await
    .expect("events")
    .iter()
    .map(|row| (row.get("kind"), row.get("topics"), row.get("ip")))
    .collect()
}

/// Creates an issue to `topics`, sends it and waits until it is sent.
async fn send_issue(app: &TestApp, subject: &str, topics: &[&str]) -> i64 {
    let token = app.api_token(Role::Editor).await;
    let response = app
        .api(Method::POST, "/api/v1/issues", &token)
        .json(&json!({"subject": subject, "intro": "Hello.", "items": [], "topics": topics}))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 201);
    let issue: Value = response.json().await.expect("JSON");
    let id = issue["id"].as_i64().expect("id");
    let response = app
        .api(Method::POST, &format!("/api/v1/issues/{id}/send"), &token)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 202);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let progress: Value = app
            .api(
                Method::GET,
                &format!("/api/v1/issues/{id}/progress"),
                &token,
            )
            .send()
            .await
            .expect("progress")
            .json()
            .await
            .expect("JSON");
        if progress["status"] == "sent" {
            return id;
        }
        assert!(tokio::time::Instant::now() < deadline, "{progress}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The copies of `subject` that reached `email`.
async fn copies_of(app: &TestApp, email: &str, subject: &str) -> Vec<Mail> {
    app.mails_to(email)
        .await
        .into_iter()
        .filter(|mail| mail.subject == subject)
        .collect()
}

/// The copy of `subject` to `email`, waiting for it.
async fn copy_of(app: &TestApp, email: &str, subject: &str) -> Mail {
    let deadline = tokio::time::Instant::now() + MAIL_WAIT;
    loop {
        if let Some(mail) = copies_of(app, email, subject).await.pop() {
            return mail;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {subject} to {email}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The one-click URL of `List-Unsubscribe`.
fn one_click_url(mail: &Mail) -> String {
    let header = mail.header("List-Unsubscribe").expect("List-Unsubscribe");
    header
        .split('<')
        .find_map(|part| part.split('>').next().filter(|url| url.starts_with("http")))
        .expect("an https URL")
        .to_owned()
}

async fn one_click(app: &TestApp, url: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url} on {}: {e}", app.address))
}

async fn one_click_leaves_the_issues_topic_and_the_reader_keeps_the_others(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_topic("daily", "Daily", json!({})).await;
    app.create_topic("weekly", "Weekly", json!({})).await;
    let both = "both@example.com";
    reader_in(&app, both, &["daily", "weekly"]).await;
    let other = "daily-only@example.com";
    reader_only_in(&app, other, &["daily"]).await;

    send_issue(&app, "Daily one", &["daily"]).await;
    let daily = copy_of(&app, both, "Daily one").await;
    let daily_list_id = daily.header("List-Id").expect("List-Id").to_owned();
    assert!(daily_list_id.contains("<daily."), "{daily_list_id}");

    let response = one_click(&app, &one_click_url(&daily)).await;
    assert_eq!(response.status(), 200);
    assert!(response
        .text()
        .await
        .expect("page")
        .contains("You have left “Daily”"));
    assert_eq!(
        app.subscriber_status(both).await.as_deref(),
        Some("confirmed")
    );
    assert_eq!(topics_of(&app, both).await, ["newsletter", "weekly"]);
    let (kind, topics, _) = events_of(&app, both).await.pop().expect("an event");
    assert_eq!(
        (kind.as_str(), topics.as_deref()),
        ("topics_left", Some("daily"))
    );

    send_issue(&app, "Weekly one", &["weekly"]).await;
    let weekly = copy_of(&app, both, "Weekly one").await;
    let weekly_list_id = weekly.header("List-Id").expect("List-Id");
    assert!(weekly_list_id.contains("<weekly."), "{weekly_list_id}");
    assert_ne!(weekly_list_id, daily_list_id);

    send_issue(&app, "Daily two", &["daily"]).await;
    copy_of(&app, other, "Daily two").await;
    assert!(
        copies_of(&app, both, "Daily two").await.is_empty(),
        "left Daily"
    );

    // The daily-only reader leaves their last topic: unsubscribed altogether.
    let theirs = copy_of(&app, other, "Daily two").await;
    let response = one_click(&app, &one_click_url(&theirs)).await;
    assert_eq!(response.status(), 200);
    assert!(response
        .text()
        .await
        .expect("page")
        .contains("You are unsubscribed"));
    assert_eq!(
        app.subscriber_status(other).await.as_deref(),
        Some("unsubscribed")
    );
    let (kind, topics, _) = events_of(&app, other).await.pop().expect("an event");
    assert_eq!(kind, "unsubscribed");
    assert_eq!(topics.as_deref(), Some("daily"));
}

async fn the_footer_offers_leave_this_topic_leave_everything_and_preferences(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_topic("weekly", "Weekly", json!({})).await;
    let email = "footer@example.com";
    let token = reader_in(&app, email, &["weekly"]).await;
    send_issue(&app, "Weekly", &["weekly"]).await;
    let mail = copy_of(&app, email, "Weekly").await;
    // The default topic keeps the site's List-Id; other topics nest under it.
    let list_id = mail.header("List-Id").expect("List-Id");
    assert!(list_id.contains("<weekly."), "{list_id}");

    let base = &app.address;
    let leave_topic = mail.link_starting_with(&format!("{base}/unsubscribe?token={token}&issue="));
    let leave_all = mail.link_starting_with(&format!("{base}/unsubscribe?token={token}&all=1"));
    let preferences = mail.link_starting_with(&format!("{base}/preferences?token={token}"));
    assert!(
        mail.text.contains("To leave “Weekly” with one click"),
        "{}",
        mail.text
    );
    assert_eq!(one_click_url(&mail), leave_topic);

    let page = app.get(&leave_topic).await.text().await.expect("page");
    assert!(page.contains(">Leave “Weekly”</button>"), "{page}");
    let page = app.get(&leave_all).await.text().await.expect("page");
    assert!(page.contains(">Leave everything</button>"), "{page}");
    let response = app.get(&preferences).await;
    assert_eq!(response.status(), 200);
    assert!(response
        .text()
        .await
        .expect("page")
        .contains("Your preferences"));

    // The GETs changed nothing; the leave-everything button does.
    assert_eq!(topics_of(&app, email).await, ["newsletter", "weekly"]);
    let action = page
        .split(r#"action=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the form's action")
        .replace("&amp;", "&");
    let response = app.post_form(&action, &[]).await;
    assert!(response
        .text()
        .await
        .expect("page")
        .contains("You are unsubscribed"));
    assert_eq!(
        app.subscriber_status(email).await.as_deref(),
        Some("unsubscribed")
    );
}

/// The token of a reader's links, made as Herald makes it.
async fn token_for(app: &TestApp, email: &str) -> String {
    let mut conn = app.db.connect().await;
    let link_key: String = sqlx::query("SELECT link_key FROM subscribers WHERE email = $1")
        .bind(email)
        .fetch_one(&mut conn)
        .await
        .expect("the reader")
        .get("link_key");
    let key = SecretKey::from_secret(&SecretString::from(TEST_SECRET));
    UnsubscribeToken::for_link_key(&key, &LinkKey::from_stored(link_key))
        .as_str()
        .to_owned()
}

async fn the_preference_centre_changes_name_and_topics_with_evidence(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_topic("weekly", "Weekly", json!({})).await;
    let press = app
        .create_topic("press", "Press list", json!({"visibility": "private"}))
        .await;
    app.create_topic("secret", "Secret", json!({"visibility": "private"}))
        .await;
    let email = "prefs@example.com";
    let token = reader_in(&app, email, &[]).await;
    let id = app.db.subscriber_id(email).await;
    let mut conn = app.db.connect().await;
    sqlx::query(
        "INSERT INTO subscriber_topics (subscriber_id, topic_id, joined_at, source) \
         VALUES ($1, $2, 0, 'admin')",
    )
    .bind(id)
    .bind(press)
    .execute(&mut conn)
    .await
    .expect("into the private topic");

    let url = format!("/preferences?token={token}");
    let response = app.get(&url).await;
    assert_eq!(response.status(), 200);
    let page = response.text().await.expect("page");
    assert!(page.contains(r#"value="newsletter" checked"#), "{page}");
    assert!(page.contains(r#"value="weekly">"#), "{page}");
    // A private topic the reader is in can be left; one they are not in is not offered.
    assert!(page.contains(r#"value="press" checked"#), "{page}");
    assert!(!page.contains("secret"), "{page}");

    // A topic not offered: refused by name, nothing changes.
    let response = app
        .post_form(&url, &[("name", "Ann"), ("topics", "secret")])
        .await;
    assert_eq!(response.status(), 422);
    assert!(response.text().await.expect("page").contains("secret"));
    assert_eq!(topics_of(&app, email).await, ["newsletter", "press"]);

    let response = app
        .post_form(
            &url,
            &[
                ("name", "Ann Reader"),
                ("topics", "weekly"),
                ("topics", "press"),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
    let page = response.text().await.expect("page");
    assert!(page.contains("Your preferences are saved."), "{page}");
    assert!(page.contains(r#"value="Ann Reader""#));
    assert_eq!(topics_of(&app, email).await, ["press", "weekly"]);
    let events = events_of(&app, email).await;
    let recent: Vec<(&str, Option<&str>)> = events
        .iter()
        .skip(2)
        .map(|(kind, topics, _)| (kind.as_str(), topics.as_deref()))
        .collect();
    assert_eq!(
        recent,
        [
            ("name_changed", None),
            ("topics_joined", Some("weekly")),
            ("topics_left", Some("newsletter")),
        ]
    );
    assert!(events
        .iter()
        .skip(2)
        .all(|(_, _, ip)| ip.as_deref() == Some("127.0.0.1")));

    // Unticking everything leaves everything.
    let response = app.post_form(&url, &[("name", "Ann Reader")]).await;
    assert!(response
        .text()
        .await
        .expect("page")
        .contains("You are unsubscribed"));
    assert_eq!(
        app.subscriber_status(email).await.as_deref(),
        Some("unsubscribed")
    );
    let page = app.get(&url).await.text().await.expect("page");
    assert!(
        page.contains("You are not subscribed") && page.contains("Sign up again"),
        "{page}"
    );
}

async fn pending_unknown_and_forged_tokens_get_clear_pages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.sign_up_and_get_link("pending@example.com").await;
    let token = token_for(&app, "pending@example.com").await;
    let response = app.get(&format!("/preferences?token={token}")).await;
    assert_eq!(response.status(), 200);
    assert!(response
        .text()
        .await
        .expect("page")
        .contains("Confirm your address first"));
    // A pending reader's form post changes nothing.
    let response = app
        .post_form(&format!("/preferences?token={token}"), &[("name", "X")])
        .await;
    assert_eq!(response.status(), 200);

    for bad in ["", "garbage", &format!("{}x", &token[..token.len() - 1])] {
        for path in ["/preferences", "/preferences/data"] {
            let response = app.get(&format!("{path}?token={bad}")).await;
            assert_eq!(response.status(), 400, "{path} {bad}");
        }
        let response = app
            .post_form(
                &format!("/preferences?token={bad}"),
                &[("topics", "newsletter")],
            )
            .await;
        assert_eq!(response.status(), 400);
        let response = app
            .post_form(&format!("/preferences/erase?token={bad}"), &[])
            .await;
        assert_eq!(response.status(), 400);
    }
}

async fn download_my_data_is_a_json_file_of_everything_held(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = "data@example.com";
    let token = reader_in(&app, email, &[]).await;
    send_issue(&app, "What we sent", &["newsletter"]).await;
    copy_of(&app, email, "What we sent").await;
    // An internal field an admin filled in is held about the reader too.
    let admin = app.api_token(Role::Admin).await;
    let created = app
        .api(Method::POST, "/api/v1/fields", &admin)
        .json(&json!({"key": "seats", "label": "Seats", "type": "number"}))
        .send()
        .await
        .expect("POST /api/v1/fields");
    assert_eq!(created.status(), 201);
    let id = app.db.subscriber_id(email).await;
    let patched = app
        .api(Method::PATCH, &format!("/api/v1/subscribers/{id}"), &admin)
        .json(&json!({"fields": {"seats": 12}}))
        .send()
        .await
        .expect("PATCH the reader's fields");
    assert_eq!(patched.status(), 200);

    let response = app.get(&format!("/preferences/data?token={token}")).await;
    assert_eq!(response.status(), 200);
    let disposition = response
        .headers()
        .get("Content-Disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    let data: Value = response.json().await.expect("JSON");
    assert_eq!(data["profile"]["email"], email);
    assert_eq!(data["profile"]["status"], "confirmed");
    assert_eq!(data["profile"]["fields"], json!({"seats": 12}));
    assert_eq!(data["topics"][0]["slug"], "newsletter");
    let kinds: Vec<&str> = data["consent_events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|event| event["kind"].as_str())
        .collect();
    // The admin's change of a field is part of the history too.
    assert_eq!(kinds, ["signed_up", "confirmed", "fields_changed"]);
    assert_eq!(data["consent_events"][1]["topics"], json!(["newsletter"]));
    assert_eq!(data["issues_received"][0]["subject"], "What we sent");
    assert_eq!(data["issues_received"][0]["status"], "sent");
}

async fn erase_me_is_confirmed_by_mail_and_erases_as_an_admin_would(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = "erase@example.com";
    let token = reader_in(&app, email, &[]).await;
    let id = app.db.subscriber_id(email).await;
    let already = app.mails_to(email).await.len();

    let response = app
        .post_form(&format!("/preferences/erase?token={token}"), &[])
        .await;
    assert_eq!(response.status(), 200);
    assert!(response
        .text()
        .await
        .expect("page")
        .contains("Check your inbox"));
    // Asking changes nothing yet.
    assert_eq!(
        app.subscriber_status(email).await.as_deref(),
        Some("confirmed")
    );
    let mail = app.next_mail_to(email, already).await;
    let link = mail.link_starting_with(&format!("{}/preferences/erasure?token=", app.address));

    let response = app.get(&link).await;
    assert_eq!(response.status(), 200);
    assert!(response
        .text()
        .await
        .expect("page")
        .contains(">Erase me</button>"));
    assert_eq!(app.db.count("subscribers").await, 1, "a GET erases nothing");

    let forged = format!("{}/preferences/erasure?token={token}", app.address);
    assert_eq!(app.post_form(&forged, &[]).await.status(), 400);

    let response = app.post_form(&link, &[]).await;
    assert_eq!(response.status(), 200);
    assert!(response
        .text()
        .await
        .expect("page")
        .contains("Your data is erased"));
    assert_eq!(app.subscriber_status(email).await, None);
    let mut conn = app.db.connect().await;
    let audit = sqlx::query(
        "SELECT actor_kind, target, detail FROM audit_events WHERE action = 'subscriber_erased'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("the erasure is in the audit log");
    assert_eq!(audit.get::<String, _>("actor_kind"), "visitor");
    assert_eq!(
        audit.get::<String, _>("target"),
        format!("subscriber #{id}")
    );

    // The link, and the reader's own, die with the row.
    assert_eq!(app.post_form(&link, &[]).await.status(), 410);
    let response = app.get(&format!("/preferences?token={token}")).await;
    assert_eq!(response.status(), 400);
}

/// The send-time guarantee for topics: a reader who leaves the issue's
/// topic while it goes out gets nothing after, though still on the list.
async fn a_reader_who_leaves_the_topic_mid_send_gets_nothing_more(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.send_rate = Some(20.try_into().expect("non-zero"));
    })
    .await;
    let readers = app
        .add_subscribers(60, SubscriberStatus::Confirmed, "reader")
        .await;
    let weekly = app.create_topic("weekly", "Weekly", json!({})).await;
    let leaving = readers.last().expect("a reader").clone();
    let id = app.db.subscriber_id(&leaving).await;
    let mut conn = app.db.connect().await;
    sqlx::query(
        "INSERT INTO subscriber_topics (subscriber_id, topic_id, joined_at, source) \
         VALUES ($1, $2, 0, 'admin')",
    )
    .bind(id)
    .bind(weekly)
    .execute(&mut conn)
    .await
    .expect("into weekly too");
    let token = app.api_token(Role::Editor).await;
    let response = app
        .api(Method::POST, "/api/v1/issues", &token)
        .json(&json!({"subject": "Slow", "intro": "Hello.", "items": [], "topics": ["newsletter"]}))
        .send()
        .await
        .expect("POST");
    let issue = response.json::<Value>().await.expect("JSON")["id"]
        .as_i64()
        .expect("id");
    let response = app
        .api(
            Method::POST,
            &format!("/api/v1/issues/{issue}/send"),
            &token,
        )
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 202);
    app.smtp.wait_for_messages(3, MAIL_WAIT).await;
    assert!(
        app.mails_to(&leaving).await.is_empty(),
        "sent before leaving"
    );

    let link = app.url(&format!(
        "/unsubscribe?token={}&issue={issue}",
        token_for(&app, &leaving).await
    ));
    let response = one_click(&app, &link).await;
    assert_eq!(response.status(), 200);
    assert_eq!(topics_of(&app, &leaving).await, ["weekly"]);
    assert_eq!(
        app.subscriber_status(&leaving).await.as_deref(),
        Some("confirmed")
    );

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let progress = loop {
        let progress: Value = app
            .api(
                Method::GET,
                &format!("/api/v1/issues/{issue}/progress"),
                &token,
            )
            .send()
            .await
            .expect("progress")
            .json()
            .await
            .expect("JSON");
        if progress["status"] == "sent" {
            break progress;
        }
        assert!(tokio::time::Instant::now() < deadline, "{progress}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(progress["counts"]["sent"], 59, "{progress}");
    assert_eq!(progress["counts"]["cancelled"], 1, "{progress}");
    assert!(
        app.mails_to(&leaving).await.is_empty(),
        "{leaving} left but got it"
    );
}

async fn admins_read_and_set_a_subscribers_topics_through_the_api(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_topic("weekly", "Weekly", json!({})).await;
    app.create_topic("press", "Press", json!({"visibility": "private"}))
        .await;
    let email = "api-topics@example.com";
    reader_in(&app, email, &[]).await;
    let id = app.db.subscriber_id(email).await;
    let admin = app.api_token(Role::Admin).await;
    let path = format!("/api/v1/subscribers/{id}/topics");

    let response = app
        .api(Method::GET, &path, &admin)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["topics"], json!(["newsletter"]));

    for (topics, why) in [
        (json!([]), "at least one topic"),
        (json!(["nope"]), "\"nope\""),
    ] {
        let response = app
            .api(Method::PUT, &path, &admin)
            .json(&json!({ "topics": topics }))
            .send()
            .await
            .expect("PUT");
        assert_eq!(response.status(), 422);
        let error: Value = response.json().await.expect("JSON");
        assert_eq!(error["field"], "topics");
        assert!(
            error["error"].as_str().is_some_and(|e| e.contains(why)),
            "{error}"
        );
    }
    let response = app
        .api(Method::PUT, &path, &admin)
        .json(&json!({"topics": ["press", "weekly"]}))
        .send()
        .await
        .expect("PUT");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["topics"], json!(["press", "weekly"]));
    assert_eq!(topics_of(&app, email).await, ["press", "weekly"]);
    let events = events_of(&app, email).await;
    let recent: Vec<(&str, Option<&str>)> = events
        .iter()
        .skip(2)
        .map(|(kind, topics, _)| (kind.as_str(), topics.as_deref()))
        .collect();
    assert_eq!(
        recent,
        [
            ("topics_joined", Some("press weekly")),
            ("topics_left", Some("newsletter"))
        ]
    );
    let response = app
        .api(Method::GET, "/api/v1/subscribers/999999/topics", &admin)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 404);
}

on_both_databases!(
    admins_read_and_set_a_subscribers_topics_through_the_api,
    a_reader_who_leaves_the_topic_mid_send_gets_nothing_more,
    one_click_leaves_the_issues_topic_and_the_reader_keeps_the_others,
    the_footer_offers_leave_this_topic_leave_everything_and_preferences,
    the_preference_centre_changes_name_and_topics_with_evidence,
    pending_unknown_and_forged_tokens_get_clear_pages,
    download_my_data_is_a_json_file_of_everything_held,
    erase_me_is_confirmed_by_mail_and_erases_as_an_admin_would,
);
