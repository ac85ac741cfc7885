//! Admin forms bigger than the CSRF check reads: 413 with a page that says
//! so, not "This form has expired".

use herald::accounts::Role;

use crate::on_both_databases;
use crate::support::{Backend, TestApp};

async fn a_form_over_the_limit_gets_413_with_a_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let editor = app.sign_in_as(Role::Editor).await;
    let huge = "x".repeat(600 * 1024);
    let response = editor
        .post_form("/admin/issues", &[("subject", "Big"), ("intro", &huge)])
        .await;
    assert_eq!(response.status(), 413);
    assert!(response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html")));
    let page = response.text().await.expect("page");
    assert!(page.contains("This form is too large"), "{page}");
    assert!(!page.contains("expired"), "{page}");
    assert_eq!(app.db.count("issues").await, 0);
}

/// Between actix's default body limit (256 KB) and the admin forms' limit the
/// form reaches its handler, which says what is wrong with it.
async fn a_large_form_under_the_limit_reaches_its_handler(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let editor = app.sign_in_as(Role::Editor).await;
    let large = "x".repeat(300 * 1024);
    let response = editor
        .post_form("/admin/issues", &[("subject", "Large"), ("intro", &large)])
        .await;
    let status = response.status();
    let page = response.text().await.expect("page");
    assert_ne!(status, 403, "{page}");
    assert!(!page.contains("This form has expired"), "{page}");
    assert!(
        page.contains("20,000") || page.contains("20000"),
        "the intro's limit is named: {page}"
    );
    assert_eq!(app.db.count("issues").await, 0);
}

on_both_databases!(
    a_form_over_the_limit_gets_413_with_a_page,
    a_large_form_under_the_limit_reaches_its_handler
);
