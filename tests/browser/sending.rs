//! Sending to the list in a real browser: an admin imports the readers from a
//! CSV file; an editor opens the digest made of the sample article, presses
//! Send…, confirms on the next page, and watches the progress reach "sent"
//! on the issue page, kept current by its script, without reloading it.

use herald::accounts::Role;
use serde_json::json;

use super::driver::{xpath_literal, Browser};
use super::support::admin::TEST_PASSWORD;
use super::support::{Backend, TestApp};
use super::{digest_of_the_article, has_class};

/// Enough readers to watch the bar move at the rate below (about three seconds).
const READERS: usize = 24;

async fn sign_in(browser: &Browser, app: &TestApp, email: &str) {
    browser.goto(&app.url("/admin/login")).await;
    browser.wait_for_heading("Sign in").await;
    browser.fill("email", email).await;
    browser.fill("password", TEST_PASSWORD).await;
    browser.press("Sign in").await;
    browser.wait_for_heading("Dashboard").await;
}

/// The text of the progress field `name` on the issue page.
async fn field(browser: &Browser, name: &str) -> String {
    browser
        .wait_for(&format!(
            "//*[@id='send-progress']//*[@data-field={}]",
            xpath_literal(name)
        ))
        .await
        .text()
        .await
        .expect("the field's text")
        .trim()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editor_sends_the_digest_to_an_imported_list_and_watches_it_go_out() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.send_rate = Some(8.try_into().expect("non-zero"));
    })
    .await;
    let admin = app.create_user("admin@example.com", Role::Admin).await;
    let editor = app.create_user("editor@example.com", Role::Editor).await;
    let readers: Vec<String> = (1..=READERS)
        .map(|n| format!("reader{n:02}@example.com"))
        .collect();
    let folder = tempfile::tempdir().expect("temporary folder");
    let csv = folder.path().join("readers.csv");
    let rows: String = readers
        .iter()
        .enumerate()
        .map(|(n, email)| format!("{email},Reader {}\n", n + 1))
        .collect();
    std::fs::write(&csv, format!("email,name\n{rows}")).expect("write the CSV file");

    // The digest, made through the API as a CMS would.
    let digest = digest_of_the_article();
    let token = app.api_token(Role::Editor).await;
    let response = app
        .api(reqwest::Method::POST, "/api/v1/issues", &token)
        .json(&json!({
            "subject": digest.subject,
            "preheader": digest.preheader,
            "intro": digest.intro,
            "items": digest.items.iter().map(|story| json!({
                "title": story.title,
                "url": story.url,
                "source": story.source,
                "date": story.date,
                "summary": story.summary,
            })).collect::<Vec<_>>(),
        }))
        .send()
        .await
        .expect("create the issue");
    assert_eq!(response.status(), 201);

    // The admin imports the list, with the readers' consent on record.
    sign_in(&browser, &app, &admin.email).await;
    browser.goto(&app.url("/admin/subscribers/import")).await;
    browser.wait_for_heading("Import subscribers").await;
    browser
        .wait_for("//input[@id='file']")
        .await
        .send_keys(&csv.display().to_string())
        .await
        .expect("choose the CSV file");
    browser
        .wait_for("//input[@name='confirmed']")
        .await
        .click()
        .await
        .expect("tick the consent box");
    browser
        .fill("consent_note", "Signed up on paper at the book fair")
        .await;
    browser.press("Check the file").await;
    // The dry run shows what would happen; nothing is imported before the
    // second press.
    browser
        .wait_for(&format!("//li[contains(., '{READERS} new')]"))
        .await;
    assert_eq!(app.db.count("subscribers").await, 0);
    browser
        .press(&format!("Import {READERS} new subscribers"))
        .await;
    browser
        .wait_for(&format!(
            "//p[{}][contains(., '{READERS} added')]",
            has_class("notice")
        ))
        .await;
    browser.press("Log out").await;
    browser.wait_for_heading("Sign in").await;

    // The editor sends it.
    sign_in(&browser, &app, &editor.email).await;
    browser.follow("Issues").await;
    browser.wait_for_heading("Issues").await;
    browser.follow(digest.subject).await;
    browser.wait_for_heading(digest.subject).await;
    let issue_path = browser.current_path().await;
    browser.follow("Send…").await;
    browser.wait_for_heading("Send this issue").await;
    // Looking at the confirmation sends nothing.
    assert_eq!(app.db.count("deliveries").await, 0);
    browser.screenshot("send-confirm").await;
    browser
        .press(&format!("Send now to {READERS} subscribers"))
        .await;
    browser.wait_for_heading(digest.subject).await;
    assert_eq!(browser.current_path().await, issue_path);
    assert_eq!(field(&browser, "total").await, READERS.to_string());

    // A mark on the page's window: a reload would wipe it.
    browser
        .client
        .execute(
            "window.heraldMark = 'still the same page'; return true;",
            Vec::new(),
        )
        .await
        .expect("mark the page");
    browser.screenshot("send-in-progress").await;
    browser
        .wait_for("//*[@id='send-progress']//*[@data-field='status'][normalize-space()='sent']")
        .await;
    let mark = browser
        .client
        .execute("return window.heraldMark || null;", Vec::new())
        .await
        .expect("read the mark");
    assert_eq!(
        mark,
        json!("still the same page"),
        "the page was reloaded rather than kept current by its script"
    );
    assert_eq!(field(&browser, "sent").await, READERS.to_string());
    assert_eq!(field(&browser, "queued").await, "0");
    assert_eq!(field(&browser, "failed").await, "0");
    assert_eq!(field(&browser, "percent").await, "100");
    assert!(!field(&browser, "finished").await.is_empty());
    let rate = field(&browser, "rate").await;
    assert!(rate.ends_with("a second on average"), "rate: {rate}");
    // Nothing left to pause or cancel.
    for label in ["Pause", "Resume"] {
        let button = browser
            .wait_for(&format!(
                "//button[normalize-space()={}]",
                xpath_literal(label)
            ))
            .await;
        assert!(
            !button.is_displayed().await.expect("visibility"),
            "{label} still shows"
        );
    }
    browser.screenshot("sending").await;

    for reader in &readers {
        let copies = app.mails_to(reader).await;
        assert_eq!(copies.len(), 1, "{reader} got {} copies", copies.len());
        assert_eq!(copies[0].subject, digest.subject);
    }

    browser.close().await;
}
