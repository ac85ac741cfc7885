//! Test sends are limited per account and per API token, and each one is
//! recorded: who, to whom, which issue, when.

use herald::accounts::Role;
use herald::issues::TEST_SENDS_PER_HOUR;
use reqwest::Method;
use serde_json::json;
use sqlx::Row;

use crate::issues::create_with_api;
use crate::on_both_databases;
use crate::support::{Backend, TestApp};

/// (user_id, api_token_id, recipient, issue_id, sent_at) of every test send, oldest first.
type TestSendRow = (Option<i64>, Option<i64>, String, i64, i64);

async fn test_sends(app: &TestApp) -> Vec<TestSendRow> {
    let mut conn = app.db.connect().await;
    sqlx::query(
        "SELECT user_id, api_token_id, recipient, issue_id, sent_at FROM test_sends ORDER BY id",
    )
    .fetch_all(&mut conn)
    .await
    .expect("read the test sends")
    .iter()
    .map(|row| {
        (
            row.get("user_id"),
            row.get("api_token_id"),
            row.get("recipient"),
            row.get("issue_id"),
            row.get("sent_at"),
        )
    })
    .collect()
}

async fn an_account_sends_twenty_test_copies_an_hour(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let issue = create_with_api(
        &app,
        &json!({"subject": "Weekly", "intro": "Hello", "items": []}),
    )
    .await;
    let editor = app.sign_in_as(Role::Editor).await;
    let path = format!("/admin/issues/{issue}/test");
    for n in 0..TEST_SENDS_PER_HOUR {
        let to = format!("tester{n}@example.com");
        let response = editor.post_form(&path, &[("to", &to)]).await;
        assert_eq!(response.status(), 303, "test send {n}");
    }
    let response = editor
        .post_form(&path, &[("to", "one-more@example.com")])
        .await;
    assert_eq!(response.status(), 429);
    let page = response.text().await.expect("page");
    assert!(
        page.contains("You have sent 20 test copies in the last hour, the most allowed."),
        "{page}"
    );
    assert_eq!(app.mails(20).await.len(), 20);
    assert!(app.mails_to("one-more@example.com").await.is_empty());

    // Another account has an allowance of its own.
    let admin = app.sign_in_as(Role::Admin).await;
    let response = admin
        .post_form(&path, &[("to", "admin-test@example.com")])
        .await;
    assert_eq!(response.status(), 303);

    let rows = test_sends(&app).await;
    assert_eq!(
        rows.len(),
        21,
        "each send is recorded, the refused one is not"
    );
    for (n, (user, token, to, issue_id, sent_at)) in rows.iter().take(20).enumerate() {
        assert_eq!(*user, Some(editor.user.id));
        assert_eq!(*token, None);
        assert_eq!(to, &format!("tester{n}@example.com"));
        assert_eq!(*issue_id, issue);
        assert!(*sent_at > 0);
    }
    assert_eq!(rows[20].0, Some(admin.user.id));
    assert_eq!(rows[20].2, "admin-test@example.com");
}

async fn an_api_token_sends_twenty_test_copies_an_hour(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let issue = create_with_api(
        &app,
        &json!({"subject": "Weekly", "intro": "Hello", "items": []}),
    )
    .await;
    let token = app.api_token(Role::Editor).await;
    let path = format!("/api/v1/issues/{issue}/test");
    for n in 0..TEST_SENDS_PER_HOUR {
        let response = app
            .api(Method::POST, &path, &token)
            .json(&json!({"to": format!("tester{n}@example.com")}))
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), 200, "test send {n}");
    }
    let response = app
        .api(Method::POST, &path, &token)
        .json(&json!({"to": "one-more@example.com"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds");
    assert!(retry_after > 0 && retry_after <= 3600, "{retry_after}");
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("20 test copies in the last hour")),
        "{body}"
    );
    assert!(app.mails_to("one-more@example.com").await.is_empty());

    // Another token has an allowance of its own.
    let other = app.api_token(Role::Editor).await;
    let response = app
        .api(Method::POST, &path, &other)
        .json(&json!({"to": "other-token@example.com"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 200);

    let rows = test_sends(&app).await;
    assert_eq!(rows.len(), 21);
    assert!(rows
        .iter()
        .all(|(user, token, ..)| user.is_none() && token.is_some()));
    let first_token = rows[0].1;
    assert!(rows[..20].iter().all(|row| row.1 == first_token));
    assert_ne!(rows[20].1, first_token);
    assert_eq!(rows[20].2, "other-token@example.com");
}

/// Requests at the same moment cannot pass the limit together: counting and
/// recording are one transaction, serialised per tester.
async fn parallel_test_sends_stop_at_the_limit(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let issue = create_with_api(
        &app,
        &json!({"subject": "Weekly", "intro": "Hello", "items": []}),
    )
    .await;
    let token = app.api_token(Role::Editor).await;
    let path = format!("/api/v1/issues/{issue}/test");
    let requests = (0..30).map(|n| {
        app.api(Method::POST, &path, &token)
            .json(&json!({"to": format!("parallel{n}@example.com")}))
            .send()
    });
    let statuses: Vec<u16> = futures_util::future::join_all(requests)
        .await
        .into_iter()
        .map(|response| response.expect("POST").status().as_u16())
        .collect();
    let sent = statuses.iter().filter(|s| **s == 200).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((sent, limited), (20, 10), "{statuses:?}");
    assert_eq!(test_sends(&app).await.len(), 20);
}

on_both_databases!(
    an_account_sends_twenty_test_copies_an_hour,
    an_api_token_sends_twenty_test_copies_an_hour,
    parallel_test_sends_stop_at_the_limit,
);
