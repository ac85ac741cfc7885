//! Issues: the composer in the admin pages, the test send, sending from the
//! admin pages, and the API.
//! Helpers here are shared with the archive tests.

mod api;
mod composer;
mod personalisation;
mod send_safety;
mod sending_ui;

use herald::accounts::Role;
use serde_json::json;
use sqlx::Executor;

use crate::support::admin::AdminBrowser;
use crate::support::TestApp;

/// Creates a draft through the "new issue" form; returns its id.
pub async fn create_draft(admin: &AdminBrowser, subject: &str, intro: &str) -> i64 {
    let response = admin
        .post_form(
            "/admin/issues",
            &[("subject", subject), ("preheader", ""), ("intro", intro)],
        )
        .await;
    assert_eq!(response.status(), 303, "the draft was not created");
    let location = response.headers()["location"]
        .to_str()
        .expect("ascii location")
        .to_owned();
    location
        .strip_prefix("/admin/issues/")
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("unexpected location {location}"))
}

/// Adds an item through the composer's "add an item" form. A redirect
/// (post/redirect/get) is followed as a browser would: the status is the
/// POST's, the page the one it led to.
pub async fn add_item(
    admin: &AdminBrowser,
    issue: i64,
    fields: &[(&str, &str)],
) -> (reqwest::StatusCode, String) {
    let response = admin
        .post_form(&format!("/admin/issues/{issue}/items"), fields)
        .await;
    follow(admin, response).await
}

/// The status of a composer POST and the page it shows: the page it
/// redirected to, or the page it answered with.
pub async fn follow(
    admin: &AdminBrowser,
    response: reqwest::Response,
) -> (reqwest::StatusCode, String) {
    let status = response.status();
    if status == reqwest::StatusCode::SEE_OTHER {
        let location = location_of(&response);
        let path = location.split('#').next().unwrap_or_default();
        let (_, page) = admin.get_page(path).await;
        (status, page)
    } else {
        (status, response.text().await.expect("page"))
    }
}

/// Where a redirect points, fragment included.
pub fn location_of(response: &reqwest::Response) -> String {
    response.headers()["location"]
        .to_str()
        .expect("ascii location")
        .to_owned()
}

/// The list of items on a composer page, without the messages above it.
pub fn item_list(page: &str) -> &str {
    page.find("<ol class=\"items\"")
        .map_or("", |at| &page[at..])
}

/// The item ids on a composer page, in their order.
pub fn item_ids(page: &str) -> Vec<i64> {
    page.split("<li id=\"item-")
        .skip(1)
        .filter_map(|rest| rest.split('"').next()?.parse().ok())
        .collect()
}

/// Marks an issue sent, as the sending work will.
pub async fn mark_sent(app: &TestApp, issue: i64, sent_at: i64) {
    let mut conn = app.db.connect().await;
    let result = conn
        .execute(
            sqlx::query("UPDATE issues SET status = 'sent', sent_at = $1 WHERE id = $2")
                .bind(sent_at)
                .bind(issue),
        )
        .await
        .expect("mark the issue sent");
    assert_eq!(result.rows_affected(), 1);
}

/// Creates an issue through the API with an editor's token; returns its id.
pub async fn create_with_api(app: &TestApp, body: &serde_json::Value) -> i64 {
    let token = app.api_token(Role::Editor).await;
    let response = app
        .api(reqwest::Method::POST, "/api/v1/issues", &token)
        .json(body)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.expect("JSON");
    body["id"].as_i64().expect("an id")
}

/// Creates an issue through the API, sends it to the list and waits (up to
/// 30 s) until the send is over; returns its id.
pub async fn send_with_api(app: &TestApp, body: &serde_json::Value) -> i64 {
    let issue = create_with_api(app, body).await;
    let token = app.api_token(Role::Editor).await;
    let path = format!("/api/v1/issues/{issue}");
    let sent = app
        .api(reqwest::Method::POST, &format!("{path}/send"), &token)
        .send()
        .await
        .expect("send");
    assert_eq!(sent.status(), 202);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let progress: serde_json::Value = app
            .api(reqwest::Method::GET, &format!("{path}/progress"), &token)
            .send()
            .await
            .expect("progress")
            .json()
            .await
            .expect("JSON");
        if progress["status"] == "sent" {
            return issue;
        }
        assert!(tokio::time::Instant::now() < deadline, "{progress}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// An issue whose every field tries to run script.
pub fn hostile_issue() -> serde_json::Value {
    json!({
        "subject": "<script>alert('subject')</script> Hostile",
        "preheader": "<img src=x onerror=alert('pre')>",
        "intro": "Intro <script>alert('intro')</script> <img src=x onerror=alert('img')> [click](javascript:alert('link')) <a href=\"javascript:alert('a')\" onclick=\"alert('c')\">x</a>",
        "items": [{
            "title": "<script>alert('title')</script>Item",
            "url": "https://example.com/?q=\"><script>alert('url')</script>",
            "source": "\"><svg onload=alert('source')>",
            "summary": "<iframe src=\"https://evil.example\"></iframe><b onmouseover=\"alert('b')\">bold</b>"
        }]
    })
}

/// The attributes of a tag's inside (`a href="x" rel=y`), as (name, value).
fn attributes(tag: &str) -> Vec<(String, String)> {
    let mut attributes = Vec::new();
    let mut rest = tag.trim_start_matches(|c: char| !c.is_whitespace());
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
        if rest.is_empty() {
            return attributes;
        }
        let name_end = rest
            .find(|c: char| c.is_whitespace() || c == '=')
            .unwrap_or(rest.len());
        let name = rest[..name_end].to_lowercase();
        rest = rest[name_end..].trim_start();
        let mut value = String::new();
        if let Some(after) = rest.strip_prefix('=') {
            let after = after.trim_start();
            let (found, remaining) = match after.chars().next() {
                Some(quote @ ('"' | '\'')) => {
                    let body = &after[1..];
                    let end = body.find(quote).unwrap_or(body.len());
                    (&body[..end], body.get(end + 1..).unwrap_or_default())
                }
                _ => {
                    let end = after.find(char::is_whitespace).unwrap_or(after.len());
                    (&after[..end], &after[end..])
                }
            };
            value = found.to_owned();
            rest = remaining;
        }
        attributes.push((name, value));
    }
}

/// Whether `page` shows `text` as text: escaped the way askama (`&#60;`) or
/// html5ever (`&lt;`) writes it.
pub fn shows_escaped(page: &str, text: &str) -> bool {
    let named = text.replace('<', "&lt;").replace('>', "&gt;");
    let numeric = text
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('\'', "&#39;");
    page.contains(&named) || page.contains(&numeric)
}

/// No tag of `html` runs script: no `<script>` but Herald's own script files,
/// no `<svg>`, no frame but the composer's own sandboxed preview, no `on…` handler, no `javascript:` URL.
/// Escaped text holds no `<`.
pub fn assert_inert(html: &str) {
    for tag in html.split('<').skip(1) {
        let tag = tag.split('>').next().unwrap_or_default();
        let name = tag
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_lowercase();
        let attributes = attributes(tag);
        let own_preview = name == "iframe"
            && attributes.iter().any(|(a, _)| a == "sandbox")
            && attributes
                .iter()
                .any(|(a, v)| a == "src" && v.starts_with("/admin/issues/"));
        // Herald's own files: the CSP allows script from the site itself only.
        let own_script = name == "script"
            && attributes.iter().any(|(a, v)| {
                a == "src"
                    && (v.starts_with("/assets/")
                        || v == "/admin/issues/progress.js"
                        || v == "/admin/issues/composer.js")
            });
        assert!(
            own_preview
                || own_script
                || !matches!(
                    name.as_str(),
                    "script" | "iframe" | "svg" | "object" | "embed"
                ),
            "<{tag}> survived in:\n{html}"
        );
        for (attribute, value) in attributes {
            assert!(
                !attribute.starts_with("on"),
                "an event handler survived: <{tag}>"
            );
            if matches!(attribute.as_str(), "href" | "src" | "action" | "formaction") {
                assert!(
                    !value.trim().to_lowercase().starts_with("javascript:"),
                    "a javascript: URL survived: <{tag}>"
                );
            }
        }
    }
}
