//! The visitor's side in a real browser (issue 17): a mistyped address gets a
//! suggestion used with one click; "check your inbox" shows the address with a
//! way back; the archive is styled with a signup form; unknown pages are a
//! styled 404 with a way home.

use sqlx::Executor;

use super::digest_of_the_article;
use super::driver::Browser;
use super::support::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typo_is_caught_and_corrected_with_one_click() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;

    browser.goto(&app.url("/")).await;
    browser
        .wait_for_heading("Subscribe to the newsletter")
        .await;
    browser.fill("email", "jane@gmial.com").await;
    browser.fill("name", "Jane").await;
    browser.press("Subscribe").await;
    browser
        .wait_for("//p[@id='email-suggestion'][contains(., 'Did you mean')]")
        .await;
    assert!(browser
        .text()
        .await
        .contains("Did you mean jane@gmail.com?"));
    assert_eq!(browser.value_of("name").await, "Jane", "the name is kept");
    browser.screenshot("signup-suggestion").await;
    assert_eq!(app.db.count("subscribers").await, 0, "nothing stored yet");

    browser.press("Use jane@gmail.com").await;
    browser.wait_for_heading("Check your inbox").await;
    let page = browser.text().await;
    assert!(page.contains("We sent a link to jane@gmail.com"), "{page}");
    browser.screenshot("check-your-inbox-address").await;
    app.signups_handled().await;
    assert_eq!(
        app.subscriber_status("jane@gmail.com").await.as_deref(),
        Some("pending")
    );

    // Wrong after all: back to the form with the address filled in.
    browser
        .follow("Wrong address? Correct it on the signup form")
        .await;
    browser
        .wait_for_heading("Subscribe to the newsletter")
        .await;
    assert_eq!(browser.value_of("email").await, "jane@gmail.com");

    // No dot in the domain: refused, and the fix is one press away.
    browser.fill("email", "jane.doe@gmail").await;
    browser.press("Subscribe").await;
    browser.wait_for("//p[@id='email-error']").await;
    browser.press("Use jane.doe@gmail.com").await;
    browser.wait_for_heading("Check your inbox").await;
    assert!(browser
        .text()
        .await
        .contains("We sent a link to jane.doe@gmail.com"));

    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_archive_is_styled_with_a_signup_form_and_unknown_pages_are_a_styled_404() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let digest = digest_of_the_article();
    let id = crate::create_digest(&app, &digest).await;
    let mut conn = app.db.connect().await;
    conn.execute(
        sqlx::query("UPDATE issues SET status = 'sent', sent_at = $1 WHERE id = $2")
            .bind(1_553_760_000_000_i64)
            .bind(id),
    )
    .await
    .expect("mark the issue sent");

    browser.goto(&app.url(&format!("/issues/{id}"))).await;
    browser.wait_for_heading(digest.subject).await;
    // Styled like the mail: the item titles are smaller than the issue's.
    let size = |xpath: &'static str| {
        let browser = &browser;
        async move {
            let element = browser.wait_for(xpath).await;
            let size = element.css_value("font-size").await.expect("font size");
            size.trim_end_matches("px").parse::<f64>().expect("pixels")
        }
    };
    let title = size("//h1").await;
    let item = size("//h2[contains(@class, 'item-title')]").await;
    assert!(item < title, "item titles {item}px, issue title {title}px");
    let forms = browser
        .wait_for("//form[contains(@class, 'signup-inline')]")
        .await;
    assert!(forms.is_displayed().await.expect("displayed"));
    browser.screenshot_full_page("archive").await;

    // The form at the top signs the reader up.
    browser.fill("signup-top-email", "sharer@example.com").await;
    browser.press("Subscribe").await;
    browser.wait_for_heading("Check your inbox").await;
    app.signups_handled().await;
    assert_eq!(
        app.subscriber_status("sharer@example.com").await.as_deref(),
        Some("pending")
    );

    browser.goto(&app.url("/no/such/page")).await;
    browser.wait_for_heading("Page not found").await;
    browser.screenshot("not-found").await;
    browser.follow("Read past issues").await;
    browser.wait_for_heading("Past issues").await;

    browser.close().await;
}
