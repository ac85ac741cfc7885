//! The journeys people make, in a real headless Chromium: a visitor signs up
//! and confirms; the first admin sets Herald up and signs in; an editor
//! composes a digest, previews it and sends a test; an editor sends the digest
//! to an imported list and watches it go out. Each test starts the real
//! application (on SQLite: the API suite covers both databases), its own test
//! SMTP server and its own browser, and leaves screenshots in
//! `target/screenshots/`.

#[path = "api/support/mod.rs"]
#[allow(unused_imports)]
mod support;

#[path = "browser/driver.rs"]
mod driver;

#[path = "browser/axe.rs"]
mod axe;

#[path = "browser/accessibility.rs"]
mod accessibility;

#[path = "browser/accounts.rs"]
mod accounts;

#[path = "browser/sending.rs"]
mod sending;

#[path = "browser/two_factor.rs"]
mod two_factor;

#[path = "browser/visitor.rs"]
mod visitor;

#[path = "browser/composer.rs"]
mod composer;

#[path = "browser/import.rs"]
mod import;

#[path = "browser/preferences.rs"]
mod preferences;

use driver::{xpath_literal, Browser};
use herald::accounts::Role;
use support::admin::TEST_PASSWORD;
use support::{Backend, TestApp};

/// The look-and-feel fixture, a copy of `shared/samples/article.txt`.
const ARTICLE: &str = include_str!("fixtures/article.txt");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visitor_signs_up_and_confirms_in_a_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let email = "ada@example.com";

    browser.goto(&app.url("/")).await;
    browser
        .wait_for_heading("Subscribe to the newsletter")
        .await;
    browser.screenshot("signup").await;

    // A mistyped address: the form comes back with the error beside the field
    // and nothing the visitor typed is lost.
    browser.fill("email", "ada.example.com").await;
    browser.fill("name", "Ada Lovelace").await;
    browser.press("Subscribe").await;
    let error = browser
        .wait_for("//div[contains(@class, 'field')][.//input[@id='email']]/p[@id='email-error']")
        .await;
    assert!(
        !error.text().await.expect("error text").trim().is_empty(),
        "the email error says nothing"
    );
    assert_eq!(browser.value_of("email").await, "ada.example.com");
    assert_eq!(browser.value_of("name").await, "Ada Lovelace");
    // The page says so in its title, and the cursor waits in the bad field.
    assert!(browser
        .client
        .title()
        .await
        .expect("title")
        .starts_with("Error: "));
    let focused = browser
        .client
        .execute("return document.activeElement.id;", Vec::new())
        .await
        .expect("the focused element");
    assert_eq!(focused, serde_json::json!("email"));
    browser.screenshot("signup-error").await;
    assert_eq!(
        app.db.count("subscribers").await,
        0,
        "a bad address was stored"
    );

    browser.fill("email", email).await;
    browser.press("Subscribe").await;
    browser.wait_for_heading("Check your inbox").await;
    browser.screenshot("check-your-inbox").await;

    let link = app
        .next_mail_to(email, 0)
        .await
        .confirmation_link(&app.address);
    browser.goto(&link).await;
    browser.wait_for_heading("Confirm your subscription").await;
    // Opening the link alone confirms nothing: mail scanners open links too.
    assert_eq!(
        app.subscriber_status(email).await.as_deref(),
        Some("pending")
    );
    browser.press("Confirm").await;
    browser.wait_for_heading("You are subscribed").await;
    browser.screenshot("subscribed").await;
    assert_eq!(
        app.subscriber_status(email).await.as_deref(),
        Some("confirmed")
    );

    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_admin_sets_up_and_signs_in() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let token = app
        .accounts()
        .await
        .create_setup_token()
        .await
        .expect("create a setup token");
    // Readers for the dashboard to count: two confirmed, one still pending.
    app.subscribed_reader("reader1@example.com").await;
    app.subscribed_reader("reader2@example.com").await;
    app.sign_up_and_get_link("reader3@example.com").await;
    let email = "grace@example.com";
    let password = "a long and winding passphrase";

    browser
        .goto(&app.url(&format!("/admin/setup?token={token}")))
        .await;
    browser.wait_for_heading("Create the first admin").await;
    browser.screenshot("setup").await;
    browser.fill("email", email).await;
    browser.fill("password", password).await;
    browser.press("Create admin account").await;
    browser.wait_for_heading("Dashboard").await;
    assert_eq!(browser.current_path().await, "/admin");
    assert!(
        browser.text().await.contains(email),
        "the dashboard does not show who is signed in"
    );
    assert_eq!(stat(&browser, "confirmed").await, "2");
    assert_eq!(stat(&browser, "pending").await, "1");
    browser.screenshot("dashboard").await;

    browser.press("Log out").await;
    browser.wait_for_heading("Sign in").await;
    // Signed out for real: the dashboard sends the browser back to the login.
    browser.goto(&app.url("/admin")).await;
    browser.wait_for_heading("Sign in").await;
    assert!(browser.current_path().await.starts_with("/admin/login"));

    // The setup link worked once; now it is spent.
    browser
        .goto(&app.url(&format!("/admin/setup?token={token}")))
        .await;
    browser
        .wait_for_heading("This setup link no longer works")
        .await;

    browser.goto(&app.url("/admin/login")).await;
    browser.wait_for_heading("Sign in").await;
    browser.fill("email", email).await;
    browser.fill("password", password).await;
    browser.press("Sign in").await;
    browser.wait_for_heading("Dashboard").await;
    assert_eq!(browser.current_path().await, "/admin");

    browser.close().await;
}

/// What an editor types into the composer: a digest made of the sample article.
struct Digest {
    subject: &'static str,
    preheader: &'static str,
    intro: String,
    items: [Story; 2],
}

struct Story {
    title: String,
    url: &'static str,
    source: String,
    date: &'static str,
    summary: String,
}

impl Digest {
    /// The digest as the API takes it (`POST /api/v1/issues`).
    fn as_json(&self) -> serde_json::Value {
        serde_json::json!({
            "subject": self.subject,
            "preheader": self.preheader,
            "intro": self.intro,
            "items": self.items.iter().map(|story| serde_json::json!({
                "title": story.title,
                "url": story.url,
                "source": story.source,
                "date": story.date,
                "summary": story.summary,
            })).collect::<Vec<_>>(),
        })
    }
}

/// Makes the digest a draft through the API, as a CMS would, and returns its id.
async fn create_digest(app: &TestApp, digest: &Digest) -> i64 {
    let token = app.api_token(Role::Editor).await;
    let response = app
        .api(reqwest::Method::POST, "/api/v1/issues", &token)
        .json(&digest.as_json())
        .send()
        .await
        .expect("create the issue");
    assert_eq!(response.status(), 201);
    response.json::<serde_json::Value>().await.expect("JSON")["id"]
        .as_i64()
        .expect("the issue's id")
}

/// Signs in on the login page and waits for the dashboard.
async fn sign_in(browser: &Browser, app: &TestApp, email: &str, password: &str) {
    browser.goto(&app.url("/admin/login")).await;
    browser.wait_for_heading("Sign in").await;
    browser.fill("email", email).await;
    browser.fill("password", password).await;
    browser.press("Sign in").await;
    browser.wait_for_heading("Dashboard").await;
}

/// The article as an editor would cut it up: its background paragraph as the
/// intro, its news as the first item, the quotes as the second.
fn digest_of_the_article() -> Digest {
    let paragraphs: Vec<&str> = ARTICLE
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let source = paragraphs[0].trim_start_matches('•').trim().to_owned();
    let dateline = paragraphs
        .iter()
        .position(|p| p.starts_with("CTM News |"))
        .expect("the article has a dateline");
    assert!(
        paragraphs[dateline].contains("28th March 2019"),
        "the fixture's dateline changed"
    );
    // [2] is the photo credit; [3..6] the news; [6..9] the quotes; [9] the background.
    let background = paragraphs[dateline - 1];
    let experts = paragraphs[dateline - 2];
    let second_title = experts
        .trim_matches(['"', '“', '”'])
        .split(',')
        .next()
        .expect("a sentence")
        .trim_end_matches(['"', '”'])
        .to_owned();
    Digest {
        subject: "This week: Russian specialists in Caracas",
        preheader: "What Moscow says its soldiers are doing in Venezuela",
        intro: format!("Good morning. **The background:** {background}"),
        items: [
            Story {
                title: paragraphs[1].to_owned(),
                url: "https://ctmnews.example/2019/03/28/russian-military-venezuela",
                source: source.clone(),
                date: "2019-03-28",
                summary: paragraphs[3..6].join("\n\n"),
            },
            Story {
                title: second_title,
                url: "https://ctmnews.example/2019/03/28/moscow-military-technical-cooperation",
                source,
                date: "2019-03-28",
                summary: paragraphs[6..dateline - 1].join("\n\n"),
            },
        ],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editor_composes_previews_and_sends_a_test() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let editor = app.create_user("editor@example.com", Role::Editor).await;
    let digest = digest_of_the_article();
    let proofreader = "proofreader@example.com";

    sign_in(&browser, &app, &editor.email, TEST_PASSWORD).await;
    // Composing is editors' work; the admin pages are not even offered.
    let nav = browser
        .wait_for("//header//nav")
        .await
        .text()
        .await
        .expect("nav");
    assert!(
        nav.contains("Issues") && !nav.contains("Users"),
        "nav: {nav}"
    );

    browser.follow("Issues").await;
    browser.wait_for_heading("Issues").await;
    browser.follow("Compose a new issue").await;
    browser.wait_for_heading("New issue").await;
    browser.fill("subject", digest.subject).await;
    browser.fill("preheader", digest.preheader).await;
    browser.fill("intro", &digest.intro).await;
    browser.press("Create draft").await;
    browser.wait_for_heading(digest.subject).await;
    let composer = browser.current_path().await;
    assert!(
        composer
            .strip_prefix("/admin/issues/")
            .is_some_and(|id| id.parse::<i64>().is_ok()),
        "the new draft opened at {composer}"
    );
    assert_eq!(browser.value_of("intro").await, digest.intro);

    for (number, story) in digest.items.iter().enumerate() {
        browser.fill("new-title", &story.title).await;
        browser.fill("new-url", story.url).await;
        browser.fill("new-source", &story.source).await;
        browser.fill("new-date", story.date).await;
        browser.fill("new-summary", &story.summary).await;
        browser.press("Add item").await;
        // The list shows the item in its place once the page is back.
        browser
            .wait_for(&format!(
                "//ol[contains(@class, 'items')]/li[{}]//a[normalize-space()={}]",
                number + 1,
                xpath_literal(&story.title)
            ))
            .await;
    }
    assert_eq!(
        browser.value_of("new-title").await,
        "",
        "the add form is empty again"
    );
    browser.screenshot_full_page("composer").await;

    browser.follow("Preview and send a test").await;
    browser
        .wait_for_heading(&format!("Preview: {}", digest.subject))
        .await;
    let [first, second] = &digest.items;
    // The plain-text part, beside the HTML one: both items, in order.
    let text = browser
        .wait_for("//pre[contains(@class, 'plain')]")
        .await
        .text()
        .await
        .expect("the plain-text part");
    // The text part is wrapped at 78 columns; compare the words.
    let text = words(&text);
    let first_at = text
        .find(&words(&first.title))
        .expect("item 1 in the text part");
    let second_at = text
        .find(&words(&second.title))
        .expect("item 2 in the text part");
    assert!(first_at < second_at, "the items are out of order:\n{text}");
    assert!(text.contains(first.url), "no link to item 1 in:\n{text}");
    // The HTML part, in its sandboxed frame, as a mail client would show it.
    browser
        .wait_for("//iframe")
        .await
        .enter_frame()
        .await
        .expect("enter the preview frame");
    browser
        .wait_for(&format!(
            "//a[normalize-space()={}]",
            xpath_literal(&second.title)
        ))
        .await;
    browser
        .wait_for("//strong[normalize-space()='The background:']")
        .await;
    browser
        .client
        .enter_parent_frame()
        .await
        .expect("leave the preview frame");
    browser.screenshot("preview").await;

    browser.fill("to", proofreader).await;
    browser.press("Send a test").await;
    browser
        .wait_for(&format!(
            "//p[contains(@class, 'notice')][contains(., {})]",
            xpath_literal(&format!("A test copy went to {proofreader}"))
        ))
        .await;
    let mail = app.next_mail_to(proofreader, 0).await;
    assert_eq!(mail.subject, format!("[Test] {}", digest.subject));
    let mail_text = words(&mail.text);
    for story in &digest.items {
        assert!(
            mail_text.contains(&words(&story.title)),
            "the test copy lacks {:?}",
            story.title
        );
    }
    assert!(
        mail.html.contains(second.url),
        "no link to item 2 in the HTML part"
    );
    browser.screenshot("test-sent").await;

    browser.close().await;
}

/// `text` with every run of white space made one space.
fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The number on the dashboard card labelled `label`.
async fn stat(browser: &Browser, label: &str) -> String {
    let xpath = format!(
        "//*[{}][*[{} and normalize-space()={}]]/*[{}]",
        has_class("stat"),
        has_class("label"),
        xpath_literal(label),
        has_class("n"),
    );
    browser
        .wait_for(&xpath)
        .await
        .text()
        .await
        .expect("the card's number")
        .trim()
        .to_owned()
}

/// An XPath test for an element carrying the CSS class `class`.
fn has_class(class: &str) -> String {
    format!("contains(concat(' ', normalize-space(@class), ' '), ' {class} ')")
}
