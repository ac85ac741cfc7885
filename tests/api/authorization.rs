//! Who may do what: every admin page and every API route, tried anonymously,
//! as an editor, as an admin, and with a bad token.

use std::collections::BTreeSet;

use herald::accounts::Role;
use reqwest::Method;
use serde_json::json;

use crate::on_both_databases;
use crate::support::admin::cookie_client;
use crate::support::{Backend, TestApp};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Editors and admins.
    SignedIn,
    AdminOnly,
}

/// One admin request: method, path, form fields, and who may make it.
type AdminRow = (Method, String, Vec<(&'static str, String)>, Access);

/// `true` when the answer shows the caller was let through (whatever the
/// outcome). A refusal sends to the login page with `next`; signing out
/// everywhere, which was let through, ends there without it.
fn let_through(status: reqwest::StatusCode, location: Option<&str>) -> bool {
    let to_login = status == 303 && location.is_some_and(|l| l.starts_with("/admin/login?next="));
    !to_login && status != 401 && status != 403
}

async fn subscriber_id(app: &TestApp, email: &str) -> i64 {
    assert_eq!(app.sign_up(email, "").await.status(), 200);
    let mut conn = app.db.connect().await;
    sqlx::Row::get(
        &sqlx::query("SELECT id FROM subscribers WHERE email = $1")
            .bind(email)
            .fetch_one(&mut conn)
            .await
            .expect("the subscriber exists"),
        "id",
    )
}

/// A topic, created as an admin would.
async fn topic_id(app: &TestApp, slug: &str) -> i64 {
    let token = app.api_token(Role::Admin).await;
    let response = app
        .api(Method::POST, "/api/v1/topics", &token)
        .json(&json!({"slug": slug, "name": "Authorization table"}))
        .send()
        .await
        .expect("create a topic");
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.expect("JSON");
    body["id"].as_i64().expect("topic id")
}

/// A custom field, created as an admin would.
async fn field_id(app: &TestApp, key: &str) -> i64 {
    let token = app.api_token(Role::Admin).await;
    let response = app
        .api(Method::POST, "/api/v1/fields", &token)
        .json(&json!({"key": key, "label": "Authorization table", "type": "text"}))
        .send()
        .await
        .expect("create a field");
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.expect("JSON");
    body["id"].as_i64().expect("field id")
}

/// A segment, saved as an editor would.
async fn segment_id(app: &TestApp, name: &str) -> i64 {
    let token = app.api_token(Role::Editor).await;
    let response = app
        .api(Method::POST, "/api/v1/segments", &token)
        .json(&json!({"name": name, "filter": {"conditions": [{"type": "status", "in": ["confirmed"]}]}}))
        .send()
        .await
        .expect("save a segment");
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.expect("JSON");
    body["id"].as_i64().expect("segment id")
}

/// An entry of the suppression list, added as an admin would.
async fn suppression_id(app: &TestApp, value: &str) -> i64 {
    let token = app.api_token(Role::Admin).await;
    let response = app
        .api(Method::POST, "/api/v1/suppressions", &token)
        .json(&json!({"value": value, "reason": "authorization table"}))
        .send()
        .await
        .expect("add a suppression");
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.expect("JSON");
    body["id"].as_i64().expect("entry id")
}

async fn every_admin_page_checks_who_is_asking(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let editor = app.sign_in_as(Role::Editor).await;
    let anonymous = cookie_client();
    let subscriber = subscriber_id(&app, "listed@example.com").await;
    let victim = subscriber_id(&app, "erased@example.com").await;
    let suppression = suppression_id(&app, "suppressed@example.com").await;
    let topic = topic_id(&app, "table").await;
    let spare_topic = topic_id(&app, "spare").await;
    let field = field_id(&app, "table").await;
    let spare_field = field_id(&app, "spare").await;
    let segment = segment_id(&app, "Table").await;
    let spare_segment = segment_id(&app, "Spare").await;
    let spare_user = app.create_user("spare@example.com", Role::Editor).await.id;
    let (token_id, _) = app
        .accounts()
        .await
        .create_api_token("spare", Role::Editor, admin.user.id)
        .await
        .expect("token");
    let issue = {
        let token = app.api_token(Role::Editor).await;
        let response = app
            .api(Method::POST, "/api/v1/issues", &token)
            .json(&json!({"subject": "Weekly", "intro": "Hello", "items": [{"title": "One", "url": "https://example.com/1"}]}))
            .send()
            .await
            .expect("create an issue");
        assert_eq!(response.status(), 201);
        let body: serde_json::Value = response.json().await.expect("JSON");
        body["id"].as_i64().expect("issue id")
    };

    use Access::{AdminOnly, SignedIn};
    let rows: Vec<AdminRow> = vec![
        (Method::GET, "/admin".into(), vec![], SignedIn),
        (Method::GET, "/admin/account".into(), vec![], SignedIn),
        (
            Method::POST,
            "/admin/account/password".into(),
            vec![("current", "x".into()), ("new", "y".into())],
            SignedIn,
        ),
        // The list and each subscriber's history (with the addresses and
        // user agents of their consent) are for admins; editors see counts.
        (Method::GET, "/admin/subscribers".into(), vec![], AdminOnly),
        (
            Method::GET,
            format!("/admin/subscribers/{subscriber}"),
            vec![],
            AdminOnly,
        ),
        (
            Method::GET,
            "/admin/subscribers/export.csv".into(),
            vec![],
            AdminOnly,
        ),
        (
            Method::GET,
            "/admin/subscribers/import".into(),
            vec![],
            AdminOnly,
        ),
        (
            Method::POST,
            format!("/admin/subscribers/{subscriber}/resend"),
            vec![],
            AdminOnly,
        ),
        (
            Method::GET,
            format!("/admin/subscribers/{subscriber}/unsubscribe"),
            vec![],
            AdminOnly,
        ),
        (
            Method::POST,
            format!("/admin/subscribers/{subscriber}/unsubscribe"),
            vec![("confirm", "yes".into())],
            AdminOnly,
        ),
        (
            Method::POST,
            format!("/admin/subscribers/{victim}/erase"),
            vec![],
            AdminOnly,
        ),
        // The suppression list holds readers' addresses: admins manage it.
        (Method::GET, "/admin/suppressions".into(), vec![], AdminOnly),
        (
            Method::POST,
            "/admin/suppressions".into(),
            vec![
                ("value", "table.example".into()),
                ("reason", "authorization table".into()),
            ],
            AdminOnly,
        ),
        (
            Method::POST,
            format!("/admin/suppressions/{suppression}/remove"),
            vec![],
            AdminOnly,
        ),
        // Topics shape the whole list: admins manage them, as the list itself.
        (Method::GET, "/admin/topics".into(), vec![], AdminOnly),
        (
            Method::POST,
            "/admin/topics".into(),
            vec![
                ("slug", "from-the-table".into()),
                ("name", "From the table".into()),
                ("visibility", "public".into()),
            ],
            AdminOnly,
        ),
        (
            Method::GET,
            format!("/admin/topics/{topic}"),
            vec![],
            AdminOnly,
        ),
        (
            Method::POST,
            format!("/admin/topics/{topic}"),
            vec![
                ("slug", "table".into()),
                ("name", "Renamed".into()),
                ("visibility", "public".into()),
            ],
            AdminOnly,
        ),
        (
            Method::GET,
            format!("/admin/topics/{spare_topic}/delete"),
            vec![],
            AdminOnly,
        ),
        (
            Method::POST,
            format!("/admin/topics/{spare_topic}/delete"),
            vec![],
            AdminOnly,
        ),
        // Custom fields hold facts about readers: admins manage them.
        (Method::GET, "/admin/fields".into(), vec![], AdminOnly),
        (
            Method::POST,
            "/admin/fields".into(),
            vec![
                ("key", "from_the_table".into()),
                ("label", "From the table".into()),
                ("type", "text".into()),
                ("visibility", "internal".into()),
            ],
            AdminOnly,
        ),
        (
            Method::GET,
            format!("/admin/fields/{field}"),
            vec![],
            AdminOnly,
        ),
        (
            Method::POST,
            format!("/admin/fields/{field}"),
            vec![
                ("key", "table".into()),
                ("label", "Renamed".into()),
                ("type", "text".into()),
                ("visibility", "internal".into()),
            ],
            AdminOnly,
        ),
        (
            Method::GET,
            format!("/admin/fields/{spare_field}/delete"),
            vec![],
            AdminOnly,
        ),
        (
            Method::POST,
            format!("/admin/fields/{spare_field}/delete"),
            vec![],
            AdminOnly,
        ),
        (
            Method::POST,
            format!("/admin/subscribers/{subscriber}/fields"),
            vec![("fields[table]", "x".into())],
            AdminOnly,
        ),
        // Segments are for editors too: they will send to them.
        (Method::GET, "/admin/segments".into(), vec![], SignedIn),
        (Method::GET, "/admin/segments/new".into(), vec![], SignedIn),
        (
            Method::POST,
            "/admin/segments".into(),
            vec![
                ("name", "From the table".into()),
                ("status", "confirmed".into()),
            ],
            SignedIn,
        ),
        (
            Method::POST,
            "/admin/segments/count".into(),
            vec![("status", "confirmed".into())],
            SignedIn,
        ),
        (
            Method::GET,
            format!("/admin/segments/{segment}"),
            vec![],
            SignedIn,
        ),
        (
            Method::POST,
            format!("/admin/segments/{segment}"),
            vec![("name", "Renamed".into()), ("bounced", "any".into())],
            SignedIn,
        ),
        (
            Method::GET,
            format!("/admin/segments/{spare_segment}/delete"),
            vec![],
            SignedIn,
        ),
        (
            Method::POST,
            format!("/admin/segments/{spare_segment}/delete"),
            vec![],
            SignedIn,
        ),
        (Method::GET, "/admin/issues".into(), vec![], SignedIn),
        (Method::GET, "/admin/issues/new".into(), vec![], SignedIn),
        (
            Method::POST,
            "/admin/issues".into(),
            vec![("subject", "From the table".into()), ("intro", "Hi".into())],
            SignedIn,
        ),
        (
            Method::GET,
            format!("/admin/issues/{issue}"),
            vec![],
            SignedIn,
        ),
        (
            Method::POST,
            format!("/admin/issues/{issue}"),
            vec![("subject", "Weekly".into()), ("intro", "Hello".into())],
            SignedIn,
        ),
        (
            Method::POST,
            format!("/admin/issues/{issue}/items"),
            vec![
                ("title", "Two".into()),
                ("url", "https://example.com/2".into()),
            ],
            SignedIn,
        ),
        (
            Method::GET,
            format!("/admin/issues/{issue}/preview"),
            vec![],
            SignedIn,
        ),
        (
            Method::GET,
            format!("/admin/issues/{issue}/preview.html"),
            vec![],
            SignedIn,
        ),
        (
            Method::POST,
            format!("/admin/issues/{issue}/test"),
            vec![("to", "me@example.com".into())],
            SignedIn,
        ),
        // Sending is editors' work. The editor's press starts the send (to
        // nobody: no subscriber is confirmed), so the admin's gets 409: both
        // were let through.
        (
            Method::GET,
            format!("/admin/issues/{issue}/send"),
            vec![],
            SignedIn,
        ),
        // Editors address the issues they send.
        (
            Method::POST,
            format!("/admin/issues/{issue}/topics"),
            vec![("topics", "newsletter".into())],
            SignedIn,
        ),
        (
            Method::POST,
            format!("/admin/issues/{issue}/send"),
            vec![],
            SignedIn,
        ),
        (
            Method::GET,
            format!("/admin/issues/{issue}/progress"),
            vec![],
            SignedIn,
        ),
        (
            Method::POST,
            format!("/admin/issues/{issue}/pause"),
            vec![],
            SignedIn,
        ),
        (
            Method::POST,
            format!("/admin/issues/{issue}/resume"),
            vec![],
            SignedIn,
        ),
        (
            Method::GET,
            format!("/admin/issues/{issue}/cancel"),
            vec![],
            SignedIn,
        ),
        (
            Method::POST,
            format!("/admin/issues/{issue}/cancel"),
            vec![],
            SignedIn,
        ),
        (Method::GET, "/admin/users".into(), vec![], AdminOnly),
        (
            Method::POST,
            "/admin/users".into(),
            vec![
                ("email", "table@example.com".into()),
                ("role", "editor".into()),
                ("password", "long enough password".into()),
            ],
            AdminOnly,
        ),
        (
            Method::POST,
            format!("/admin/users/{spare_user}/disable"),
            vec![],
            AdminOnly,
        ),
        (
            Method::POST,
            format!("/admin/users/{spare_user}/enable"),
            vec![],
            AdminOnly,
        ),
        (
            Method::POST,
            format!("/admin/users/{spare_user}/password"),
            vec![("password", "another long password".into())],
            AdminOnly,
        ),
        (
            Method::POST,
            format!("/admin/users/{spare_user}/sessions/end"),
            vec![],
            AdminOnly,
        ),
        (
            Method::GET,
            format!("/admin/users/{spare_user}/remove"),
            vec![],
            AdminOnly,
        ),
        (
            Method::POST,
            format!("/admin/users/{spare_user}/remove"),
            vec![("confirm", "yes".into())],
            AdminOnly,
        ),
        (Method::GET, "/admin/tokens".into(), vec![], AdminOnly),
        (
            Method::POST,
            "/admin/tokens".into(),
            vec![("name", "table".into()), ("role", "editor".into())],
            AdminOnly,
        ),
        (
            Method::GET,
            format!("/admin/tokens/{token_id}/revoke"),
            vec![],
            AdminOnly,
        ),
        (
            Method::POST,
            format!("/admin/tokens/{token_id}/revoke"),
            vec![("confirm", "yes".into())],
            AdminOnly,
        ),
        (Method::GET, "/admin/audit".into(), vec![], AdminOnly),
        (Method::GET, "/admin/audit.csv".into(), vec![], AdminOnly),
        // Last: it signs the editor, then the admin, out everywhere.
        (
            Method::POST,
            "/admin/account/sessions/end".into(),
            vec![],
            SignedIn,
        ),
    ];

    for (method, path, fields, access) in rows {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        // Anonymous: a page sends them to sign in; a form is refused outright.
        let response = anonymous
            .request(method.clone(), app.url(&path))
            .form(&fields)
            .send()
            .await
            .expect("anonymous request");
        let location = response
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned);
        if method == Method::GET {
            assert_eq!(response.status(), 303, "anonymous {method} {path}");
            assert!(
                location
                    .as_deref()
                    .is_some_and(|l| l.starts_with("/admin/login")),
                "anonymous {method} {path}"
            );
        } else {
            assert_eq!(response.status(), 403, "anonymous {method} {path}");
        }

        for (who, browser) in [("editor", &editor), ("admin", &admin)] {
            let mut with_token = fields.clone();
            with_token.push(("csrf_token", &browser.csrf_token));
            let response = if method == Method::GET {
                browser.client.get(browser.url(&path)).send().await
            } else {
                browser
                    .client
                    .request(method.clone(), browser.url(&path))
                    .form(&with_token)
                    .send()
                    .await
            }
            .expect("request");
            let status = response.status();
            let location = response
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .map(str::to_owned);
            let allowed = who == "admin" || access == SignedIn;
            if allowed {
                assert!(
                    let_through(status, location.as_deref()),
                    "{who} {method} {path} was refused: {status}"
                );
            } else {
                assert_eq!(status, 403, "{who} {method} {path}");
            }
        }
    }
    // The editor's refused actions changed nothing: the spare user was removed by the admin only now.
    assert!(app
        .accounts()
        .await
        .user(spare_user)
        .await
        .expect("query")
        .is_none());
}

/// A route of the API: which calls may use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ApiAccess {
    Public,
    AnyToken,
    AdminToken,
}

async fn every_api_route_checks_the_token_and_is_documented(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.api_token(Role::Admin).await;
    let editor = app.api_token(Role::Editor).await;
    let subscriber = subscriber_id(&app, "api@example.com").await;
    let erased = subscriber_id(&app, "api-erased@example.com").await;
    let suppression = suppression_id(&app, "api-suppressed@example.com").await;
    let topic = topic_id(&app, "api-table").await;
    let spare_topic = topic_id(&app, "api-spare").await;
    let field = field_id(&app, "api_table").await;
    let spare_field = field_id(&app, "api_spare").await;
    let segment = segment_id(&app, "API table").await;
    let spare_segment = segment_id(&app, "API spare").await;
    let response = app
        .api(Method::POST, "/api/v1/issues", &admin)
        .json(&json!({"subject": "API", "intro": "Hi", "items": []}))
        .send()
        .await
        .expect("create an issue");
    assert_eq!(response.status(), 201);
    let issue = response.json::<serde_json::Value>().await.expect("JSON")["id"]
        .as_i64()
        .expect("id");

    use ApiAccess::{AdminToken, AnyToken, Public};
    let rows: Vec<(Method, &str, String, Option<serde_json::Value>, ApiAccess)> = vec![
        (
            Method::GET,
            "/api/v1/openapi.json",
            "/api/v1/openapi.json".into(),
            None,
            Public,
        ),
        // Reading the list or a subscriber takes an admin token, as the pages
        // are for admins. Adding a pending subscriber (double opt-in) does not.
        (
            Method::GET,
            "/api/v1/subscribers",
            "/api/v1/subscribers".into(),
            None,
            AdminToken,
        ),
        (
            Method::POST,
            "/api/v1/subscribers",
            "/api/v1/subscribers".into(),
            Some(json!({"email": "new-{who}@example.com"})),
            AnyToken,
        ),
        (
            Method::GET,
            "/api/v1/subscribers/{id}",
            format!("/api/v1/subscribers/{subscriber}"),
            None,
            AdminToken,
        ),
        (
            Method::DELETE,
            "/api/v1/subscribers/{id}",
            format!("/api/v1/subscribers/{erased}"),
            None,
            AdminToken,
        ),
        // A reader's topics are part of the subscriber: admin tokens only.
        (
            Method::GET,
            "/api/v1/subscribers/{id}/topics",
            format!("/api/v1/subscribers/{subscriber}/topics"),
            None,
            AdminToken,
        ),
        (
            Method::PUT,
            "/api/v1/subscribers/{id}/topics",
            format!("/api/v1/subscribers/{subscriber}/topics"),
            Some(json!({"topics": ["newsletter"]})),
            AdminToken,
        ),
        // The suppression list holds readers' addresses: admin tokens only.
        (
            Method::GET,
            "/api/v1/suppressions",
            "/api/v1/suppressions".into(),
            None,
            AdminToken,
        ),
        (
            Method::POST,
            "/api/v1/suppressions",
            "/api/v1/suppressions".into(),
            Some(json!({"value": "{who}.example", "reason": "table"})),
            AdminToken,
        ),
        (
            Method::DELETE,
            "/api/v1/suppressions/{id}",
            format!("/api/v1/suppressions/{suppression}"),
            None,
            AdminToken,
        ),
        // Anyone with a token reads topics (editors will address issues to
        // them); managing them takes an admin token.
        (
            Method::GET,
            "/api/v1/topics",
            "/api/v1/topics".into(),
            None,
            AnyToken,
        ),
        (
            Method::POST,
            "/api/v1/topics",
            "/api/v1/topics".into(),
            Some(json!({"slug": "{who}-topic", "name": "From the table"})),
            AdminToken,
        ),
        (
            Method::GET,
            "/api/v1/topics/{id}",
            format!("/api/v1/topics/{topic}"),
            None,
            AnyToken,
        ),
        (
            Method::PUT,
            "/api/v1/topics/{id}",
            format!("/api/v1/topics/{topic}"),
            Some(json!({"slug": "api-table", "name": "Renamed by {who}"})),
            AdminToken,
        ),
        (
            Method::DELETE,
            "/api/v1/topics/{id}",
            format!("/api/v1/topics/{spare_topic}"),
            None,
            AdminToken,
        ),
        // Fields, public or internal, are about the list: admin tokens only.
        (
            Method::GET,
            "/api/v1/fields",
            "/api/v1/fields".into(),
            None,
            AdminToken,
        ),
        (
            Method::POST,
            "/api/v1/fields",
            "/api/v1/fields".into(),
            Some(json!({"key": "{who}_field", "label": "From the table", "type": "text"})),
            AdminToken,
        ),
        (
            Method::GET,
            "/api/v1/fields/{id}",
            format!("/api/v1/fields/{field}"),
            None,
            AdminToken,
        ),
        (
            Method::PUT,
            "/api/v1/fields/{id}",
            format!("/api/v1/fields/{field}"),
            Some(json!({"key": "api_table", "label": "Renamed by {who}", "type": "text"})),
            AdminToken,
        ),
        (
            Method::DELETE,
            "/api/v1/fields/{id}",
            format!("/api/v1/fields/{spare_field}"),
            None,
            AdminToken,
        ),
        (
            Method::PATCH,
            "/api/v1/subscribers/{id}",
            format!("/api/v1/subscribers/{subscriber}"),
            Some(json!({"fields": {"api_table": "set by {who}"}})),
            AdminToken,
        ),
        // Segments: any token, as editors will send to them.
        (
            Method::GET,
            "/api/v1/segments",
            "/api/v1/segments".into(),
            None,
            AnyToken,
        ),
        (
            Method::POST,
            "/api/v1/segments",
            "/api/v1/segments".into(),
            Some(json!({"name": "{who} segment", "filter": {"conditions": [{"type": "bounced"}]}})),
            AnyToken,
        ),
        (
            Method::POST,
            "/api/v1/segments/count",
            "/api/v1/segments/count".into(),
            Some(json!({"filter": {"conditions": [{"type": "bounced"}]}})),
            AnyToken,
        ),
        (
            Method::GET,
            "/api/v1/segments/{id}",
            format!("/api/v1/segments/{segment}"),
            None,
            AnyToken,
        ),
        (
            Method::PUT,
            "/api/v1/segments/{id}",
            format!("/api/v1/segments/{segment}"),
            Some(
                json!({"name": "Renamed by {who}", "filter": {"conditions": [{"type": "bounced"}]}}),
            ),
            AnyToken,
        ),
        (
            Method::GET,
            "/api/v1/segments/{id}/count",
            format!("/api/v1/segments/{segment}/count"),
            None,
            AnyToken,
        ),
        (
            Method::DELETE,
            "/api/v1/segments/{id}",
            format!("/api/v1/segments/{spare_segment}"),
            None,
            AnyToken,
        ),
        (
            Method::POST,
            "/api/v1/issues",
            "/api/v1/issues".into(),
            Some(json!({"subject": "S", "intro": "I", "items": []})),
            AnyToken,
        ),
        (
            Method::GET,
            "/api/v1/issues/{id}",
            format!("/api/v1/issues/{issue}"),
            None,
            AnyToken,
        ),
        (
            Method::PUT,
            "/api/v1/issues/{id}",
            format!("/api/v1/issues/{issue}"),
            Some(json!({"subject": "S2", "intro": "I", "items": []})),
            AnyToken,
        ),
        (
            Method::POST,
            "/api/v1/issues/{id}/test",
            format!("/api/v1/issues/{issue}/test"),
            Some(json!({"to": "me@example.com"})),
            AnyToken,
        ),
        (
            Method::GET,
            "/api/v1/issues/{id}/progress",
            format!("/api/v1/issues/{issue}/progress"),
            None,
            AnyToken,
        ),
        (
            Method::GET,
            "/api/v1/issues/{id}/report",
            format!("/api/v1/issues/{issue}/report"),
            None,
            AnyToken,
        ),
        (
            Method::POST,
            "/api/v1/issues/{id}/send",
            format!("/api/v1/issues/{issue}/send"),
            None,
            AnyToken,
        ),
        (
            Method::POST,
            "/api/v1/issues/{id}/pause",
            format!("/api/v1/issues/{issue}/pause"),
            None,
            AnyToken,
        ),
        (
            Method::POST,
            "/api/v1/issues/{id}/resume",
            format!("/api/v1/issues/{issue}/resume"),
            None,
            AnyToken,
        ),
        (
            Method::POST,
            "/api/v1/issues/{id}/cancel",
            format!("/api/v1/issues/{issue}/cancel"),
            None,
            AnyToken,
        ),
    ];

    // The table covers exactly what the OpenAPI document describes, which is
    // built from the routes the router serves.
    let document: serde_json::Value = app
        .get("/api/v1/openapi.json")
        .await
        .json()
        .await
        .expect("OpenAPI JSON");
    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, operations)| {
            operations
                .as_object()
                .expect("operations")
                .keys()
                .map(move |method| (method.to_uppercase(), path.replace("{id:\\d+}", "{id}")))
        })
        .collect();
    let tabled: BTreeSet<(String, String)> = rows
        .iter()
        .map(|(method, template, _, _, _)| (method.as_str().to_owned(), (*template).to_owned()))
        .collect();
    assert_eq!(
        documented, tabled,
        "the authorization table and the OpenAPI document differ"
    );

    for (method, template, path, body, access) in rows {
        for (who, token) in [
            ("no token", None),
            ("bad token", Some("hrld_not-a-token")),
            ("editor", Some(editor.as_str())),
            ("admin", Some(admin.as_str())),
        ] {
            let mut request = app.client.request(method.clone(), app.url(&path));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            if let Some(body) = &body {
                let body = body.to_string().replace("{who}", &who.replace(' ', "-"));
                request = request
                    .header("Content-Type", "application/json")
                    .body(body);
            }
            let response = request.send().await.expect("API request");
            let status = response.status();
            let expected_refusal = match (access, who) {
                (Public, _) => None,
                (_, "no token" | "bad token") => Some(401),
                (AdminToken, "editor") => Some(403),
                _ => None,
            };
            match expected_refusal {
                Some(401) => {
                    assert_eq!(status, 401, "{who} {method} {template}");
                    assert!(
                        response.headers().contains_key("www-authenticate"),
                        "{who} {method} {template}"
                    );
                    let body: serde_json::Value = response.json().await.expect("JSON error");
                    assert!(body["error"].is_string());
                }
                Some(code) => assert_eq!(status, code, "{who} {method} {template}"),
                None => assert!(
                    status != 401 && status != 403,
                    "{who} {method} {template} was refused: {status}"
                ),
            }
        }
    }
}

/// Editors' pages link to nothing they may not open; admins' do.
async fn editors_see_no_links_they_cannot_use(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let issue = {
        let token = app.api_token(Role::Editor).await;
        let response = app
            .api(Method::POST, "/api/v1/issues", &token)
            .json(&json!({"subject": "Weekly", "intro": "Hello", "items": []}))
            .send()
            .await
            .expect("create an issue");
        response.json::<serde_json::Value>().await.expect("JSON")["id"]
            .as_i64()
            .expect("id")
    };
    let admin_only = [
        "/admin/subscribers",
        "/admin/suppressions",
        "/admin/topics",
        "/admin/fields",
        "/admin/users",
        "/admin/tokens",
    ];
    let editor = app.sign_in_as(Role::Editor).await;
    for path in [
        "/admin".to_owned(),
        "/admin/account".to_owned(),
        "/admin/issues".to_owned(),
        "/admin/issues/new".to_owned(),
        format!("/admin/issues/{issue}"),
        format!("/admin/issues/{issue}/preview"),
        format!("/admin/issues/{issue}/send"),
    ] {
        let (status, page) = editor.get_page(&path).await;
        assert_eq!(status, 200, "{path}");
        for link in admin_only {
            assert!(
                !page.contains(&format!("href=\"{link}")),
                "the editor's {path} links to {link}"
            );
        }
    }
    let admin = app.sign_in_as(Role::Admin).await;
    let (_, dashboard) = admin.get_page("/admin").await;
    for link in admin_only {
        assert!(dashboard.contains(&format!("href=\"{link}\"")), "{link}");
    }
}

async fn a_revoked_api_token_stops_working(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let accounts = app.accounts().await;
    let owner = app.create_user("owner@example.com", Role::Admin).await;
    let (id, token) = accounts
        .create_api_token("soon gone", Role::Admin, owner.id)
        .await
        .expect("token");
    let list = || app.api(Method::GET, "/api/v1/subscribers", &token).send();
    assert_eq!(list().await.expect("GET").status(), 200);
    assert!(accounts.revoke_api_token(id).await.expect("revoke"));
    assert_eq!(list().await.expect("GET").status(), 401);
}

on_both_databases!(
    every_admin_page_checks_who_is_asking,
    every_api_route_checks_the_token_and_is_documented,
    editors_see_no_links_they_cannot_use,
    a_revoked_api_token_stops_working,
);
