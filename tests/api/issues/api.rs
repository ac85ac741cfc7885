//! `/api/v1/issues`: create, read, edit while draft, test send.

use herald::accounts::Role;
use reqwest::Method;
use serde_json::{json, Value};

use super::{assert_inert, hostile_issue, mark_sent, shows_escaped};
use crate::on_both_databases;
use crate::support::{Backend, TestApp};

fn digest() -> Value {
    json!({
        "subject": "Weekly digest",
        "preheader": "Two stories this week",
        "intro": "Hello *readers*.",
        "items": [
            {
                "title": "Russian military arrive in Venezuela",
                "url": "https://ctmnews.example/2019/03/28/venezuela",
                "source": "CTM News",
                "date": "2019-03-28",
                "summary": "Specialists, says Moscow."
            },
            { "title": "A second story", "url": "https://example.com/second" }
        ]
    })
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut request = app.api(method, path, token);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

async fn an_editor_creates_reads_and_edits_a_draft(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.api_token(Role::Editor).await;
    let response = app
        .api(Method::POST, "/api/v1/issues", &token)
        .json(&digest())
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 201);
    let id = response.json::<Value>().await.expect("JSON")["id"]
        .as_i64()
        .expect("id");

    let (status, issue) = call(
        &app,
        Method::GET,
        &format!("/api/v1/issues/{id}"),
        &token,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(issue["status"], "draft");
    assert_eq!(issue["subject"], "Weekly digest");
    assert_eq!(issue["preheader"], "Two stories this week");
    assert_eq!(
        issue["counts"],
        json!({ "total": 0, "queued": 0, "retrying": 0, "sent": 0, "failed": 0, "cancelled": 0 })
    );
    assert_eq!(issue["items"][0]["date"], "2019-03-28");
    assert_eq!(issue["items"][0]["source"], "CTM News");
    assert_eq!(issue["items"][1]["title"], "A second story");
    assert_eq!(issue["items"][1]["source"], Value::Null);
    assert_eq!(issue["html_size_warning"], false);
    assert!(issue["html_bytes"].as_u64().expect("size") > 1000);

    let mut edited = digest();
    edited["subject"] = json!("Weekly digest, edited");
    edited["items"] = json!([{ "title": "Only story", "url": "https://example.com/only" }]);
    let (status, issue) = call(
        &app,
        Method::PUT,
        &format!("/api/v1/issues/{id}"),
        &token,
        Some(&edited),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(issue["subject"], "Weekly digest, edited");
    assert_eq!(issue["items"].as_array().map(Vec::len), Some(1));
    let (_, issue) = call(
        &app,
        Method::GET,
        &format!("/api/v1/issues/{id}"),
        &token,
        None,
    )
    .await;
    assert_eq!(issue["items"][0]["title"], "Only story");
}

async fn invalid_issues_get_422_naming_the_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.api_token(Role::Editor).await;
    let cases = [
        (json!({ "intro": "", "items": [] }), "subject"),
        (
            json!({ "subject": "Two\r\nBcc: x@example.com", "intro": "" }),
            "subject",
        ),
        (
            json!({ "subject": "x".repeat(201), "intro": "" }),
            "subject",
        ),
        (
            json!({ "subject": "S", "intro": "x".repeat(20_001) }),
            "intro",
        ),
        (
            json!({ "subject": "S", "intro": "", "items": [
                { "title": "ok", "url": "https://example.com" },
                { "title": "bad", "url": "javascript:alert(1)" }
            ] }),
            "items[1].url",
        ),
        (
            json!({ "subject": "S", "intro": "", "items": [{ "title": "t", "url": "https://example.com", "date": "28/03/2019" }] }),
            "items[0].date",
        ),
        (
            json!({ "subject": "S", "intro": "", "items": [{ "title": "", "url": "https://example.com" }] }),
            "items[0].title",
        ),
    ];
    for (body, field) in cases {
        let (status, error) = call(&app, Method::POST, "/api/v1/issues", &token, Some(&body)).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(error["field"], field, "{body}");
        assert!(error["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    let response = app
        .api(Method::POST, "/api/v1/issues", &token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 400);
    assert_eq!(app.db.count("issues").await, 0);
}

async fn unknown_issues_are_404_and_sent_ones_409(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.api_token(Role::Editor).await;
    for (method, path, body) in [
        (Method::GET, "/api/v1/issues/999999", None),
        (Method::GET, "/api/v1/issues/abc", None),
        (Method::PUT, "/api/v1/issues/999999", Some(digest())),
        (
            Method::POST,
            "/api/v1/issues/999999/test",
            Some(json!({ "to": "a@example.com" })),
        ),
    ] {
        let (status, error) = call(&app, method.clone(), path, &token, body.as_ref()).await;
        assert_eq!(status, 404, "{method} {path}");
        assert!(error["error"].is_string());
    }

    let (_, created) = call(
        &app,
        Method::POST,
        "/api/v1/issues",
        &token,
        Some(&digest()),
    )
    .await;
    let id = created["id"].as_i64().expect("id");
    mark_sent(&app, id, 1_700_000_000_000).await;
    let mut edited = digest();
    edited["subject"] = json!("Changed after sending");
    let (status, error) = call(
        &app,
        Method::PUT,
        &format!("/api/v1/issues/{id}"),
        &token,
        Some(&edited),
    )
    .await;
    assert_eq!(status, 409);
    assert!(error["error"]
        .as_str()
        .expect("message")
        .contains("Only drafts"));
    let (_, issue) = call(
        &app,
        Method::GET,
        &format!("/api/v1/issues/{id}"),
        &token,
        None,
    )
    .await;
    assert_eq!(issue["subject"], "Weekly digest");
    assert_eq!(issue["status"], "sent");
    assert_eq!(issue["sent_at"], "2023-11-14T22:13:20Z");
    assert_eq!(issue["items"].as_array().map(Vec::len), Some(2));
}

async fn a_test_copy_is_sent_through_the_api(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.api_token(Role::Editor).await;
    let (_, created) = call(
        &app,
        Method::POST,
        "/api/v1/issues",
        &token,
        Some(&hostile_issue()),
    )
    .await;
    let id = created["id"].as_i64().expect("id");
    let path = format!("/api/v1/issues/{id}/test");

    let (status, error) = call(
        &app,
        Method::POST,
        &path,
        &token,
        Some(&json!({ "to": "nobody" })),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(error["field"], "to");

    let (status, sent) = call(
        &app,
        Method::POST,
        &path,
        &token,
        Some(&json!({ "to": "Tester@Example.COM" })),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(sent["sent_to"], "Tester@example.com");
    let mail = app.next_mail_to("Tester@example.com", 0).await;
    assert_eq!(
        mail.subject,
        "[Test] <script>alert('subject')</script> Hostile"
    );
    assert_inert(&mail.html);
    assert!(!mail.html.contains("<script>alert"));
    assert!(shows_escaped(
        &mail.html,
        "<script>alert('title')</script>Item"
    ));
    assert!(!mail.text.contains("javascript:"));
    assert!(mail.header("List-Unsubscribe").is_some());
}

async fn tokens_are_required_and_editors_may_do_everything(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .client
        .post(app.url("/api/v1/issues"))
        .json(&digest())
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 401);
    let (status, _) = call(
        &app,
        Method::POST,
        "/api/v1/issues",
        "wrong-token",
        Some(&digest()),
    )
    .await;
    assert_eq!(status, 401);
    let admin = app.api_token(Role::Admin).await;
    let (status, created) = call(
        &app,
        Method::POST,
        "/api/v1/issues",
        &admin,
        Some(&digest()),
    )
    .await;
    assert_eq!(status, 201);
    let editor = app.api_token(Role::Editor).await;
    let id = created["id"].as_i64().expect("id");
    let (status, _) = call(
        &app,
        Method::PUT,
        &format!("/api/v1/issues/{id}"),
        &editor,
        Some(&digest()),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(app.db.count("issues").await, 1);
}

async fn the_openapi_document_describes_the_issue_routes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let document: Value = app
        .get("/api/v1/openapi.json")
        .await
        .json()
        .await
        .expect("JSON");
    let paths = &document["paths"];
    assert!(paths["/api/v1/issues"]["post"].is_object());
    assert!(paths["/api/v1/issues/{id}"]["get"].is_object());
    assert!(paths["/api/v1/issues/{id}"]["put"].is_object());
    assert!(paths["/api/v1/issues/{id}/test"]["post"].is_object());
    assert!(document["components"]["schemas"]["IssueBody"].is_object());
}

on_both_databases!(
    an_editor_creates_reads_and_edits_a_draft,
    invalid_issues_get_422_naming_the_field,
    unknown_issues_are_404_and_sent_ones_409,
    a_test_copy_is_sent_through_the_api,
    tokens_are_required_and_editors_may_do_everything,
    the_openapi_document_describes_the_issue_routes,
);
