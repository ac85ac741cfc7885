//! Personalisation (issue 14, item 7): an issue's Markdown names the
//! reader's name and public fields with fallbacks; each copy shows its own
//! reader's values (escaped in HTML, plain in text) or the fallback, the
//! issue still rendered once; tags that name an internal or unknown field,
//! malformed tags and tags in the subject are refused with 422 naming them.

use herald::accounts::Role;
use reqwest::Method;
use serde_json::{json, Value};

use crate::on_both_databases;
use crate::support::{Backend, TestApp};

const INTRO: &str = "Hello {{ name | default(\"reader\") }}!\n\n\
                     News from {{fields.city|default(\"your town\")}}; member: {{ fields.member }}.";

async fn create_field(app: &TestApp, body: Value) {
    let token = app.api_token(Role::Admin).await;
    let response = app
        .api(Method::POST, "/api/v1/fields", &token)
        .json(&body)
        .send()
        .await
        .expect("POST /api/v1/fields");
    assert_eq!(response.status(), 201, "creating {body}");
}

/// City (public text), member (public yes/no), notes (internal text).
async fn create_the_fields(app: &TestApp) {
    create_field(
        app,
        json!({"key": "city", "label": "City", "type": "text", "visibility": "public"}),
    )
    .await;
    create_field(
        app,
        json!({"key": "member", "label": "Member", "type": "yes_no", "visibility": "public"}),
    )
    .await;
    create_field(
        app,
        json!({"key": "notes", "label": "Notes", "type": "text", "visibility": "internal"}),
    )
    .await;
}

async fn add_reader(app: &TestApp, body: Value) {
    let token = app.api_token(Role::Admin).await;
    let mut body = body;
    body["status"] = json!("confirmed");
    body["consent_note"] = json!("asked at the fair");
    let response = app
        .api(Method::POST, "/api/v1/subscribers", &token)
        .json(&body)
        .send()
        .await
        .expect("POST /api/v1/subscribers");
    assert_eq!(response.status(), 201, "adding {body}");
}

async fn each_copy_shows_its_readers_values_or_the_fallback(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    create_the_fields(&app).await;
    add_reader(
        &app,
        json!({"email": "ann@example.com", "name": "<b>Ann</b>",
               "fields": {"city": "Lyon & Co", "member": true, "notes": "secret"}}),
    )
    .await;
    add_reader(&app, json!({"email": "bob@example.com"})).await;
    crate::issues::send_with_api(
        &app,
        &json!({
            "subject": "Personal",
            "intro": INTRO,
            "items": [{"title": "A story", "url": "https://example.org/story",
                       "summary": "Picked for {{ name }} in {{ fields.city }}."}]
        }),
    )
    .await;

    let ann = app.mails_to("ann@example.com").await;
    assert_eq!(ann.len(), 1);
    let ann = &ann[0];
    assert!(ann.text.contains("Hello <b>Ann</b>!"), "{}", ann.text);
    assert!(
        ann.text.contains("News from Lyon & Co; member: yes."),
        "{}",
        ann.text
    );
    assert!(
        ann.text.contains("Picked for <b>Ann</b> in Lyon & Co."),
        "{}",
        ann.text
    );
    assert!(
        ann.html.contains("Hello &lt;b&gt;Ann&lt;/b&gt;!"),
        "{}",
        ann.html
    );
    assert!(!ann.html.contains("<b>Ann</b>"), "the name is escaped");
    assert!(ann.html.contains("News from Lyon &amp; Co; member: yes."));
    assert!(!ann.text.contains("secret") && !ann.html.contains("secret"));
    assert!(!ann.text.contains("HERALDTAG") && !ann.html.contains("HERALDTAG"));

    let bob = app.mails_to("bob@example.com").await;
    assert_eq!(bob.len(), 1);
    let bob = &bob[0];
    assert!(bob.text.contains("Hello reader!"), "{}", bob.text);
    assert!(
        bob.text.contains("News from your town; member: ."),
        "{}",
        bob.text
    );
    assert!(bob.text.contains("Picked for  in ."), "{}", bob.text);
    assert!(bob.html.contains("Hello reader!"), "{}", bob.html);
    // Each copy's footer still carries its own reader's link.
    assert_ne!(
        ann.unsubscribe_link(&app.address),
        bob.unsubscribe_link(&app.address)
    );

    // The archive knows no reader: it shows the fallbacks.
    let page = reqwest::get(app.url("/issues"))
        .await
        .expect("archive")
        .text()
        .await
        .expect("page");
    let id = page
        .split("/issues/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a link to the issue")
        .to_owned();
    let page = reqwest::get(app.url(&format!("/issues/{id}")))
        .await
        .expect("issue")
        .text()
        .await
        .expect("page");
    assert!(page.contains("Hello reader!"), "{page}");
    assert!(!page.contains("HERALDTAG"), "{page}");
}

async fn tags_naming_internal_or_unknown_fields_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    create_the_fields(&app).await;
    let token = app.api_token(Role::Editor).await;
    for (body, field, words) in [
        (
            json!({"subject": "S", "intro": "Hi\n\n{{ fields.notes }}"}),
            "intro",
            vec!["{{ fields.notes }}", "line 3", "internal field notes"],
        ),
        (
            json!({"subject": "S", "intro": "Hi {{ fields.nope | default(\"x\") }}"}),
            "intro",
            vec!["{{ fields.nope | default(\"x\") }}", "line 1", "no field"],
        ),
        (
            json!({"subject": "S", "intro": "Hi {{ nmae }}"}),
            "intro",
            vec!["{{ nmae }}", "line 1"],
        ),
        (
            json!({"subject": "S", "intro": "Hi", "items": [{"title": "T", "url": "https://example.org/",
                   "summary": "For {{ fields.notes }}"}]}),
            "items[0].summary",
            vec!["internal field notes"],
        ),
        (
            json!({"subject": "Hi {{ name }}", "intro": "Hi"}),
            "subject",
            vec!["cannot hold personalisation tags"],
        ),
    ] {
        let response = app
            .api(Method::POST, "/api/v1/issues", &token)
            .json(&body)
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), 422, "{body}");
        let error: Value = response.json().await.expect("JSON");
        assert_eq!(error["field"], field, "{error}");
        for word in words {
            assert!(
                error["error"].as_str().is_some_and(|e| e.contains(word)),
                "{word} not in {error}"
            );
        }
    }
    assert_eq!(app.db.count("issues").await, 0);

    // The editor's pages show the same error under the intro, never a 500.
    let editor = app.sign_in_as(Role::Editor).await;
    let response = editor
        .post_form(
            "/admin/issues",
            &[
                ("subject", "S"),
                ("preheader", ""),
                ("intro", "Hi {{ fields.notes }}"),
            ],
        )
        .await;
    assert_eq!(response.status(), 422);
    let page = response.text().await.expect("page");
    assert!(
        crate::issues::shows_escaped(&page, "internal field notes"),
        "{page}"
    );
    assert_eq!(app.db.count("issues").await, 0);
    let draft = crate::issues::create_draft(&editor, "S", "Hi").await;
    let response = editor
        .post_form(
            &format!("/admin/issues/{draft}"),
            &[
                ("subject", "S"),
                ("preheader", ""),
                ("intro", "Hi {{ fields.nope }}"),
            ],
        )
        .await;
    assert_eq!(response.status(), 422);
    let page = response.text().await.expect("page");
    assert!(page.contains("no field"), "{page}");

    // A field made internal after the issue was saved stops the send.
    let id = crate::issues::create_with_api(
        &app,
        &json!({"subject": "S", "intro": "In {{ fields.city }}"}),
    )
    .await;
    let admin = app.api_token(Role::Admin).await;
    let fields: Value = app
        .api(Method::GET, "/api/v1/fields", &admin)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    let city = fields
        .as_array()
        .or_else(|| fields["items"].as_array())
        .and_then(|all| all.iter().find(|f| f["key"] == "city"))
        .and_then(|f| f["id"].as_i64())
        .expect("the city field");
    let response = app
        .api(Method::PUT, &format!("/api/v1/fields/{city}"), &admin)
        .json(&json!({"key": "city", "label": "City", "type": "text", "visibility": "internal"}))
        .send()
        .await
        .expect("PUT");
    assert_eq!(response.status(), 200);
    let response = app
        .api(Method::POST, &format!("/api/v1/issues/{id}/send"), &token)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 422);
    let error: Value = response.json().await.expect("JSON");
    assert!(
        error["error"]
            .as_str()
            .is_some_and(|e| e.contains("{{ fields.city }}")),
        "{error}"
    );
    assert_eq!(app.db.count("deliveries").await, 0);
}

async fn the_preview_shows_a_sample_reader(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    create_the_fields(&app).await;
    let id = crate::issues::create_with_api(&app, &json!({"subject": "S", "intro": INTRO})).await;
    let editor = app.sign_in_as(Role::Editor).await;
    let (status, page) = editor
        .get_page(&format!("/admin/issues/{id}/preview.html"))
        .await;
    assert_eq!(status, 200);
    assert!(page.contains("Hello Sample Reader!"), "{page}");
    assert!(page.contains("News from your town; member: ."), "{page}");
}

on_both_databases!(
    each_copy_shows_its_readers_values_or_the_fallback,
    tags_naming_internal_or_unknown_fields_are_refused,
    the_preview_shows_a_sample_reader,
);
