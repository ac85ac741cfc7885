//! Pages for what is not there or not allowed (issue 17): a styled HTML page
//! with the site's stylesheet and a way on, JSON under `/api/`.

use herald::accounts::Role;

use crate::on_both_databases;
use crate::support::{Backend, TestApp};

/// An HTML page in the site's style: the stylesheet, a heading, the name.
fn assert_styled_page(page: &str, what: &str) {
    assert!(page.starts_with("<!DOCTYPE html>"), "{what}: {page}");
    assert!(
        page.contains(r#"<link rel="stylesheet" href="/assets/herald.css">"#),
        "{what} uses the site's stylesheet: {page}"
    );
    assert!(page.contains("<h1>"), "{what}: {page}");
}

async fn an_unknown_url_anywhere_answers_a_styled_404_with_a_way_home(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in [
        "/no-such-page",
        "/issues/nope",
        "/admin/no-such-page",
        "/assets/missing.css",
        "/subscriptions/confirm/extra",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        let content_type = response.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(
            content_type.starts_with("text/html"),
            "{path}: {content_type}"
        );
        let page = response.text().await.expect("page");
        assert_styled_page(&page, path);
        assert!(page.contains("Page not found"), "{path}: {page}");
        assert!(page.contains(r#"<a href="/">Subscribe to The Daily Herald</a>"#));
        assert!(page.contains(r#"<a href="/issues">Read past issues</a>"#));
    }
}

async fn an_unknown_api_url_answers_json_404(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in ["/api/v1/no-such-thing", "/api/v2/issues", "/api/"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        let body: serde_json::Value = response.json().await.expect("a JSON body");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{path}: {body}"
        );
    }
}

async fn an_unknown_or_unsent_archive_entry_is_a_styled_404(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.get("/issues/424242").await;
    assert_eq!(response.status(), 404);
    let page = response.text().await.expect("page");
    assert_styled_page(&page, "unknown issue");
    assert!(page.contains("No such issue"));
    assert!(page.contains(r#"<a href="/issues">See all past issues</a>"#));
}

async fn an_editor_on_an_admin_page_gets_a_styled_403(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let editor = app.sign_in_as(Role::Editor).await;
    let response = editor.get("/admin/users").await;
    assert_eq!(response.status(), 403);
    let page = response.text().await.expect("page");
    assert_styled_page(&page, "403");
    assert!(page.contains("This page is for admins"));
    assert!(page.contains(r#"<a href="/admin">Back to the dashboard</a>"#));
}

on_both_databases!(
    an_unknown_url_anywhere_answers_a_styled_404_with_a_way_home,
    an_unknown_api_url_answers_json_404,
    an_unknown_or_unsent_archive_entry_is_a_styled_404,
    an_editor_on_an_admin_page_gets_a_styled_403,
);
