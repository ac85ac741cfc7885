//! Every page a visitor, an editor or an admin can reach, checked in the real
//! Chromium by axe-core: no serious or critical violation on any of them,
//! error states included. And at phone width no admin page scrolls sideways:
//! its tables fit the screen.

use std::time::Duration;

use herald::accounts::Role;
use reqwest::Method;
use serde_json::{json, Value};

use super::axe::Axe;
use super::digest_of_the_article;
use super::driver::Browser;
use super::support::admin::TEST_PASSWORD;
use super::support::{Backend, TestApp};

/// A phone's viewport (an iPhone 12–15, in CSS pixels), with room for the
/// browser's frame.
const PHONE: (u32, u32) = (390, 844);
const DESKTOP: (u32, u32) = (1440, 1100);

/// What the walk found, page by page.
#[derive(Default)]
struct Findings(Vec<String>);

impl Findings {
    /// Runs the checker on the page the browser shows now, named `page`.
    async fn check(&mut self, browser: &Browser, axe: &Axe, page: &str) {
        for violation in axe.violations(browser).await {
            self.0.push(format!("{page}: {violation}"));
        }
    }

    /// Opens `path`, checks it at desktop width, then (for admin pages) that
    /// it does not scroll sideways on a phone.
    async fn visit(&mut self, browser: &Browser, axe: &Axe, app: &TestApp, path: &str) {
        browser.goto(&app.url(path)).await;
        self.check(browser, axe, path).await;
        if path.starts_with("/admin") {
            self.fits_a_phone(browser, path).await;
        }
    }

    async fn fits_a_phone(&mut self, browser: &Browser, page: &str) {
        resize(browser, PHONE).await;
        let widths = browser
            .client
            .execute(
                "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];",
                Vec::new(),
            )
            .await
            .expect("measure the page");
        let (scroll, client) = (widths[0].as_u64(), widths[1].as_u64());
        if scroll > client {
            self.0.push(format!(
                "{page}: at phone width the page is {scroll:?} px wide in a {client:?} px screen (it scrolls sideways)"
            ));
        }
        resize(browser, DESKTOP).await;
    }
}

async fn resize(browser: &Browser, (width, height): (u32, u32)) {
    browser
        .client
        .set_window_size(width, height)
        .await
        .expect("resize the window");
}

async fn api(app: &TestApp, token: &str, method: Method, path: &str, body: Option<Value>) -> Value {
    let mut request = app.api(method, path, token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("API request");
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_passes_the_accessibility_checker() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let Some(axe) = Axe::load() else {
        browser.close().await;
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let admin = app.create_user("admin@example.com", Role::Admin).await;
    let unsubscribe_link = app.subscribed_reader("reader@example.com").await;
    let confirmation_link = app.sign_up_and_get_link("pending@example.com").await;
    let reader = app.db.subscriber_id("reader@example.com").await;
    let editor = app.create_user("editor@example.com", Role::Editor).await;

    let digest = digest_of_the_article();
    let issue = digest.as_json();
    let token = app.api_token(Role::Editor).await;
    let draft = api(
        &app,
        &token,
        Method::POST,
        "/api/v1/issues",
        Some(issue.clone()),
    )
    .await["id"]
        .as_i64()
        .expect("the draft's id");
    let sent = api(&app, &token, Method::POST, "/api/v1/issues", Some(issue)).await["id"]
        .as_i64()
        .expect("the sent issue's id");
    api(
        &app,
        &token,
        Method::POST,
        &format!("/api/v1/issues/{sent}/send"),
        None,
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while api(
        &app,
        &token,
        Method::GET,
        &format!("/api/v1/issues/{sent}/progress"),
        None,
    )
    .await["status"]
        != "sent"
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the send did not finish"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let token_id: i64 = sqlx::query_scalar("SELECT id FROM api_tokens ORDER BY id LIMIT 1")
        .fetch_one(&mut app.db.connect().await)
        .await
        .expect("the token's id");

    let mut findings = Findings::default();

    // The visitor's pages, with their error and outcome states.
    findings.visit(&browser, &axe, &app, "/").await;
    browser.fill("email", "not an address").await;
    browser.press("Subscribe").await;
    browser.wait_for("//*[@id='email-error']").await;
    findings.check(&browser, &axe, "/ (refused address)").await;
    browser.fill("email", "newcomer@gmial.com").await;
    browser.press("Subscribe").await;
    browser.wait_for("//*[@id='email-suggestion']").await;
    findings.check(&browser, &axe, "/ (a likely typo)").await;
    browser.press("Use newcomer@gmail.com").await;
    browser.wait_for_heading("Check your inbox").await;
    findings
        .check(&browser, &axe, "/subscriptions (check your inbox)")
        .await;
    browser.goto(&confirmation_link).await;
    browser.wait_for_heading("Confirm your subscription").await;
    findings
        .check(&browser, &axe, "/subscriptions/confirm")
        .await;
    browser.press("Confirm").await;
    browser.wait_for_heading("You are subscribed").await;
    findings
        .check(&browser, &axe, "/subscriptions/confirm (confirmed)")
        .await;
    browser.goto(&unsubscribe_link).await;
    findings.check(&browser, &axe, "/unsubscribe").await;
    browser
        .goto(&unsubscribe_link.replacen("/unsubscribe?", "/preferences?", 1))
        .await;
    browser.wait_for_heading("Your preferences").await;
    findings.check(&browser, &axe, "/preferences").await;
    for path in ["/issues", &format!("/issues/{sent}"), "/no-such-page"] {
        findings.visit(&browser, &axe, &app, path).await;
    }

    // The admin's pages.
    for path in [
        "/admin/login/forgot",
        "/admin/login/reset?token=not-a-token",
    ] {
        findings.visit(&browser, &axe, &app, path).await;
    }
    findings.visit(&browser, &axe, &app, "/admin/login").await;
    browser.fill("email", &admin.email).await;
    browser.fill("password", "not the password").await;
    browser.press("Sign in").await;
    browser.wait_for_heading("Sign in").await;
    findings
        .check(&browser, &axe, "/admin/login (wrong password)")
        .await;
    browser.fill("email", &admin.email).await;
    browser.fill("password", TEST_PASSWORD).await;
    browser.press("Sign in").await;
    browser.wait_for_heading("Dashboard").await;
    let admin_pages = [
        "/admin".to_owned(),
        "/admin/subscribers".to_owned(),
        format!("/admin/subscribers/{reader}"),
        "/admin/subscribers/import".to_owned(),
        "/admin/issues".to_owned(),
        "/admin/issues/new".to_owned(),
        format!("/admin/issues/{draft}"),
        format!("/admin/issues/{draft}/preview"),
        format!("/admin/issues/{draft}/send"),
        format!("/admin/issues/{draft}/delete"),
        format!("/admin/issues/{sent}"),
        format!("/admin/subscribers/{reader}/unsubscribe"),
        "/admin/users".to_owned(),
        format!("/admin/users/{}/remove", editor.id),
        "/admin/tokens".to_owned(),
        format!("/admin/tokens/{token_id}/revoke"),
        "/admin/account".to_owned(),
        "/admin/account/2fa/setup".to_owned(),
        "/admin/audit".to_owned(),
        "/admin/suppressions".to_owned(),
        "/admin/topics".to_owned(),
        "/admin/fields".to_owned(),
    ];
    for path in &admin_pages {
        findings.visit(&browser, &axe, &app, path).await;
    }
    // The import's dry run, with a repeat and a bad row to report.
    let folder = tempfile::tempdir().expect("temporary folder");
    let csv = folder.path().join("readers.csv");
    std::fs::write(
        &csv,
        "email,name\nann@example.com,Ann\nANN@example.com,Ann again\nnot-an-address,X\n",
    )
    .expect("write the CSV file");
    browser.goto(&app.url("/admin/subscribers/import")).await;
    browser
        .wait_for("//input[@id='file']")
        .await
        .send_keys(&csv.display().to_string())
        .await
        .expect("choose the CSV file");
    browser.press("Check the file").await;
    browser.wait_for("//li[contains(., '1 new')]").await;
    findings
        .check(&browser, &axe, "/admin/subscribers/import (dry run)")
        .await;
    // A removed item, with its undo offered.
    browser
        .goto(&app.url(&format!("/admin/issues/{draft}")))
        .await;
    browser.press("Remove item 1").await;
    browser.wait_for("//button[normalize-space()='Undo']").await;
    findings
        .check(&browser, &axe, "/admin/issues/{draft} (undo offered)")
        .await;
    // A form sent back with its errors.
    browser.goto(&app.url("/admin/issues/new")).await;
    browser.press("Create draft").await;
    findings
        .check(&browser, &axe, "/admin/issues/new (refused)")
        .await;

    browser.close().await;
    assert!(
        findings.0.is_empty(),
        "{} accessibility problems:\n{}",
        findings.0.len(),
        findings.0.join("\n")
    );
}

/// The admin's first stop for keyboard users: a link past the navigation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_pages_start_with_a_skip_link() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let admin = app.create_user("admin@example.com", Role::Admin).await;
    browser.goto(&app.url("/admin/login")).await;
    browser.fill("email", &admin.email).await;
    browser.fill("password", TEST_PASSWORD).await;
    browser.press("Sign in").await;
    browser.wait_for_heading("Dashboard").await;

    let first = browser
        .client
        .execute(
            "document.activeElement.blur(); \
             const all = [...document.querySelectorAll('a[href], button, input, select, textarea')]; \
             const first = all[0]; \
             return [first.textContent.trim(), first.getAttribute('href')];",
            Vec::new(),
        )
        .await
        .expect("find the first focusable element");
    assert_eq!(first, json!(["Skip to content", "#main"]));
    browser.close().await;
}
