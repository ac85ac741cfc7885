//! Importing a CSV in a real browser: the consent note only with the consent
//! box, a dry run before anything is imported, and a refresh after the
//! import that imports nothing again.

use herald::accounts::Role;

use super::driver::Browser;
use super::has_class;
use super::support::admin::TEST_PASSWORD;
use super::support::{Backend, TestApp};

async fn sign_in(browser: &Browser, app: &TestApp, email: &str) {
    super::sign_in(browser, app, email, TEST_PASSWORD).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_is_checked_first_and_happens_once() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let admin = app.create_user("admin@example.com", Role::Admin).await;
    let folder = tempfile::tempdir().expect("temporary folder");
    let csv = folder.path().join("readers.csv");
    // Semicolons, as many spreadsheets save; one repeat and one bad address.
    std::fs::write(
        &csv,
        "email;name\nann@example.com;Ann\nbob@example.org;Bob\nANN@example.com;Ann again\nnot-an-address;X\ncarol@example.net;Carol\n",
    )
    .expect("write the CSV file");

    sign_in(&browser, &app, &admin.email).await;
    browser.goto(&app.url("/admin/subscribers/import")).await;
    browser.wait_for_heading("Import subscribers").await;
    // The consent note shows only with the consent box ticked.
    let note = browser.wait_for("//input[@id='consent_note']").await;
    assert!(!note.is_displayed().await.expect("visibility"));
    browser
        .wait_for("//input[@name='confirmed']")
        .await
        .click()
        .await
        .expect("tick the consent box");
    assert!(note.is_displayed().await.expect("visibility"));
    browser.fill("consent_note", "Signed up on paper").await;
    browser
        .wait_for("//input[@id='file']")
        .await
        .send_keys(&csv.display().to_string())
        .await
        .expect("choose the CSV file");
    browser.press("Check the file").await;

    browser.wait_for("//li[contains(., '3 new')]").await;
    let text = browser.text().await;
    for expected in [
        "File readers.csv (5 rows, separated by semicolon) is still selected",
        "1 repeated in the file",
        "1 invalid",
        "0 already on the list",
        "repeats line 2",
    ] {
        assert!(text.contains(expected), "{expected:?} in:\n{text}");
    }
    assert_eq!(app.db.count("subscribers").await, 0, "nothing imported yet");
    browser.screenshot_full_page("import-dry-run").await;

    browser.press("Import 3 new subscribers").await;
    browser
        .wait_for(&format!(
            "//p[{}][contains(., '3 added')]",
            has_class("notice")
        ))
        .await;
    assert_eq!(app.db.count("subscribers").await, 3);
    // A refresh of the page after the import imports nothing again.
    browser.client.refresh().await.expect("refresh");
    browser.wait_for_heading("Import subscribers").await;
    assert_eq!(app.db.count("subscribers").await, 3);

    browser.close().await;
}
