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
    super::sign_in(browser, app, email, TEST_PASSWORD).await;
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
    super::create_digest(&app, &digest).await;

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
    assert_eq!(
        field(&browser, "summary").await,
        format!("Sent: {READERS} of {READERS}")
    );
    assert_eq!(field(&browser, "heading").await, "Sent");
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

/// Whether the page's title starts with "Error: ".
async fn title(browser: &Browser) -> String {
    browser.client.title().await.expect("the page title")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_send_page_checks_first_and_asks_for_the_number_of_readers() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    // No SMTP_URL: mail only goes to files, and every page that matters says so.
    let app = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.smtp_url = None;
        config.postal_address = String::new();
        config.send_confirm_above = Some(2);
        // As without HERALD_FROM: the newsletter's name at the placeholder.
        config.from = "The Daily Herald <newsletter@localhost>"
            .parse()
            .expect("a mailbox");
    })
    .await;
    let admin = app.create_user("admin@example.com", Role::Admin).await;

    sign_in(&browser, &app, &admin.email).await;
    browser
        .wait_for("//*[@id='mail-not-delivered'][contains(., 'SMTP_URL')]")
        .await;
    browser
        .wait_for("//h2[normalize-space()='Getting started']")
        .await;
    browser
        .wait_for("//li[.//strong[normalize-space()='SMTP']]/span[normalize-space()='Missing']")
        .await;
    browser.screenshot("dashboard-first-run").await;
    fits_a_phone(&browser, "dashboard-first-run-phone").await;

    // An issue with nothing to read cannot be sent: the checklist says why
    // and there is no Send button.
    let token = app.api_token(Role::Editor).await;
    let empty = app
        .api(reqwest::Method::POST, "/api/v1/issues", &token)
        .json(&json!({ "subject": "Nothing yet", "intro": "" }))
        .send()
        .await
        .expect("create the empty issue");
    assert_eq!(empty.status(), 201);
    let empty: serde_json::Value = empty.json().await.expect("JSON");
    let empty = empty["id"].as_i64().expect("an id");
    app.add_subscribers(
        3,
        herald::subscriptions::SubscriberStatus::Confirmed,
        "reader",
    )
    .await;
    browser
        .goto(&app.url(&format!("/admin/issues/{empty}/send")))
        .await;
    browser.wait_for_heading("Send this issue").await;
    browser
        .wait_for("//li[.//strong[normalize-space()='Subject and content']]/span[normalize-space()='Missing']")
        .await;
    let page = browser.text().await;
    assert!(!page.contains("Send now"), "{page}");
    browser.screenshot("send-empty-refused").await;

    // A real issue: the checklist warns (no test copy, no postal address)
    // but lets it go, once the number of readers is typed.
    let response = app
        .api(reqwest::Method::POST, "/api/v1/issues", &token)
        .json(&json!({
            "subject": "Weekly digest",
            "intro": "Hello readers.",
            "items": [{ "title": "A story", "url": "https://example.com/story" }],
        }))
        .send()
        .await
        .expect("create the issue");
    assert_eq!(response.status(), 201);
    let issue: serde_json::Value = response.json().await.expect("JSON");
    let issue = issue["id"].as_i64().expect("an id");
    browser
        .goto(&app.url(&format!("/admin/issues/{issue}/send")))
        .await;
    browser.wait_for_heading("Send this issue").await;
    browser
        .wait_for(
            "//li[.//strong[normalize-space()='Postal address']]/span[normalize-space()='Warning']",
        )
        .await;
    browser
        .wait_for("//li[.//strong[normalize-space()='A test copy since the last change']]/span[normalize-space()='Warning']")
        .await;
    browser.wait_for("//*[@id='mail-not-delivered']").await;
    browser.fill("confirm_count", "30").await;
    browser.press("Send now to 3 subscribers").await;
    browser
        .wait_for("//p[@id='confirm_count-error'][contains(., 'not the number of readers')]")
        .await;
    assert!(title(&browser).await.starts_with("Error: "));
    assert_eq!(browser.value_of("confirm_count").await, "30");
    let focused = browser
        .client
        .execute(
            "return document.activeElement && document.activeElement.id;",
            Vec::new(),
        )
        .await
        .expect("read the focus");
    assert_eq!(
        focused,
        json!("confirm_count"),
        "the bad field has the focus"
    );
    assert_eq!(app.db.count("deliveries").await, 0);
    browser.screenshot_full_page("send-checklist").await;

    // At phone width the checklist and the form fit: nothing runs off the side.
    fits_a_phone(&browser, "send-checklist-phone").await;

    browser.fill("confirm_count", "3").await;
    browser.press("Send now to 3 subscribers").await;
    browser.wait_for_heading("Weekly digest").await;
    browser
        .wait_for("//p[contains(@class, 'flash')][contains(., 'Sending started')]")
        .await;
    assert_eq!(app.db.count("deliveries").await, 3);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_send_shows_how_far_it_got_with_and_without_script() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    // The web side only: nothing sends, so the test decides what went out.
    let mut app = TestApp::spawn_web_only(Backend::Sqlite).await;
    let editor = app.create_user("editor@example.com", Role::Editor).await;
    app.add_subscribers(
        50,
        herald::subscriptions::SubscriberStatus::Confirmed,
        "reader",
    )
    .await;
    let token = app.api_token(Role::Editor).await;
    let response = app
        .api(reqwest::Method::POST, "/api/v1/issues", &token)
        .json(&json!({
            "subject": "Stopped halfway",
            "intro": "Hello readers.",
            "items": [{ "title": "A story", "url": "https://example.com/story" }],
        }))
        .send()
        .await
        .expect("create the issue");
    assert_eq!(response.status(), 201);
    let issue: serde_json::Value = response.json().await.expect("JSON");
    let issue = issue["id"].as_i64().expect("an id");
    let started = app
        .api(
            reqwest::Method::POST,
            &format!("/api/v1/issues/{issue}/send"),
            &token,
        )
        .send()
        .await
        .expect("start the send");
    assert!(started.status().is_success(), "{}", started.status());

    sign_in(&browser, &app, &editor.email).await;
    browser
        .goto(&app.url(&format!("/admin/issues/{issue}")))
        .await;
    browser.wait_for_heading("Stopped halfway").await;
    assert_eq!(field(&browser, "heading").await, "Sending");
    browser
        .client
        .execute("window.heraldMark = 'same page'; return true;", Vec::new())
        .await
        .expect("mark the page");

    // 23 copies go out, then the send is cancelled (as another editor would).
    app.db.record_sent(issue, 23).await;
    let cancelled = app
        .api(
            reqwest::Method::POST,
            &format!("/api/v1/issues/{issue}/cancel"),
            &token,
        )
        .send()
        .await
        .expect("cancel the send");
    assert!(cancelled.status().is_success(), "{}", cancelled.status());

    // The script shows the end without a reload.
    browser
        .wait_for("//*[@id='send-progress']//*[@data-field='summary'][normalize-space()='Cancelled after 23 of 50']")
        .await;
    let mark = browser
        .client
        .execute("return window.heraldMark || null;", Vec::new())
        .await
        .expect("read the mark");
    assert_eq!(mark, json!("same page"), "the page was reloaded");
    let script_view = progress_view(&browser).await;
    browser.screenshot("progress-cancelled").await;

    // The page as the server renders it says the same.
    browser
        .goto(&app.url(&format!("/admin/issues/{issue}")))
        .await;
    browser.wait_for_heading("Stopped halfway").await;
    let server_view = progress_view(&browser).await;
    assert_eq!(script_view, server_view);
    assert_eq!(server_view[0], "Cancelled");
    assert_eq!(server_view[1], "Cancelled after 23 of 50");
    assert_eq!(server_view[2], "46");
    assert_eq!(server_view[3], "bar-cancelled");
    assert_eq!(server_view[4], "Cancelled");
    assert!(!server_view[5].is_empty(), "no end time");

    // Cancelled is not the end of the text: it can go out again as a copy.
    browser.goto(&app.url("/admin/issues")).await;
    browser.wait_for_heading("Issues").await;
    fits_a_phone(&browser, "issues-phone").await;
    browser.press(&format!("Duplicate issue {issue}")).await;
    browser.wait_for_heading("Copy of Stopped halfway").await;
    browser
        .wait_for(&format!(
            "//p[contains(@class, 'flash')][contains(., 'a copy of issue {issue}')]"
        ))
        .await;
    browser.close().await;
    app.stop().await;
}

/// Heading, summary, bar value and class, end label and end time of the
/// progress section, as shown.
async fn progress_view(browser: &Browser) -> Vec<String> {
    let bar = browser.wait_for("//*[@id='send-progress']//progress").await;
    vec![
        field(browser, "heading").await,
        field(browser, "summary").await,
        bar.attr("value").await.expect("value").unwrap_or_default(),
        bar.attr("class").await.expect("class").unwrap_or_default(),
        field(browser, "ended_label").await,
        field(browser, "finished").await,
    ]
}

/// Checks at phone width (390 px) that nothing runs off the side of the
/// page, which a reader on a phone could not reach; saves a screenshot.
async fn fits_a_phone(browser: &Browser, screenshot: &str) {
    let (width, height) = browser.client.get_window_size().await.expect("window size");
    browser
        .client
        .set_window_size(390, 844)
        .await
        .expect("phone width");
    // How far the page runs over, then the elements that reach past the edge.
    let overflow = browser
        .client
        .execute(
            "var w = document.documentElement.clientWidth; \
             var out = [document.documentElement.scrollWidth - w]; \
             document.querySelectorAll('body *').forEach(function (e) { \
               var r = e.getBoundingClientRect(); \
               if (r.right > w + 1) { out.push(e.tagName + '.' + e.className + ':' + Math.round(r.right)); } \
             }); \
             return out.join(' ');",
            Vec::new(),
        )
        .await
        .expect("measure the page");
    let text = overflow.as_str().unwrap_or_default().to_owned();
    assert!(
        text.split(' ')
            .next()
            .and_then(|n| n.parse::<i64>().ok())
            .is_some_and(|n| n <= 0),
        "{screenshot}: the page runs off a phone's screen (px over, then the elements): {text}"
    );
    browser.screenshot_full_page(screenshot).await;
    browser
        .client
        .set_window_size(
            u32::try_from(width).unwrap_or(1440),
            u32::try_from(height).unwrap_or(900),
        )
        .await
        .expect("back to the desktop width");
}
