//! Issue 14, item 8, in a real browser: a reader picks two topics on the
//! form, confirms, opens the preference centre from the welcome mail, leaves
//! one topic and downloads their data.

use serde_json::{json, Value};
use sqlx::Row;

use super::driver::Browser;
use super::support::{Backend, TestApp};

/// The slugs of the topics `email` is in, in order.
async fn topics_of(app: &TestApp, email: &str) -> Vec<String> {
    let mut conn = app.db.connect().await;
    sqlx::query(
        "SELECT t.slug FROM subscriber_topics m JOIN topics t ON t.id = m.topic_id \
         JOIN subscribers s ON s.id = m.subscriber_id WHERE s.email = $1 ORDER BY t.slug",
    )
    .bind(email)
    .fetch_all(&mut conn)
    .await
    .expect("the reader's topics")
    .iter()
    .map(|row| row.get("slug"))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_picks_two_topics_leaves_one_in_the_preference_centre_and_downloads_their_data() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create_topic("daily", "Daily digest", json!({})).await;
    app.create_topic("business", "Business weekly", json!({}))
        .await;
    let email = "reader@example.com";

    browser.goto(&app.url("/")).await;
    browser
        .wait_for_heading("Subscribe to the newsletter")
        .await;
    browser.fill("email", email).await;
    // The default topic comes ticked; this reader wants the two others only.
    for slug in ["newsletter", "daily", "business"] {
        browser
            .wait_for(&format!("//input[@id='topic-{slug}']"))
            .await
            .click()
            .await
            .expect("tick or untick the topic");
    }
    browser.screenshot("signup-two-topics").await;
    browser.press("Subscribe").await;
    browser.wait_for_heading("Check your inbox").await;
    app.signups_handled().await;

    let confirmation = app
        .next_mail_to(email, 0)
        .await
        .confirmation_link(&app.address);
    browser.goto(&confirmation).await;
    browser.wait_for_heading("Confirm your subscription").await;
    browser.press("Confirm").await;
    browser.wait_for_heading("You are subscribed").await;
    // Both chosen topics, and not the default one unticked on the form.
    assert_eq!(topics_of(&app, email).await, ["business", "daily"]);

    let welcome = app.next_mail_to(email, 1).await;
    let preferences = welcome.link_starting_with(&format!("{}/preferences?token=", app.address));
    browser.goto(&preferences).await;
    browser.wait_for_heading("Your preferences").await;
    for slug in ["daily", "business"] {
        let ticked = browser
            .wait_for(&format!("//input[@id='topic-{slug}']"))
            .await
            .prop("checked")
            .await
            .expect("read the box");
        assert_eq!(ticked.as_deref(), Some("true"), "{slug} should be ticked");
    }
    browser
        .wait_for("//input[@id='topic-business']")
        .await
        .click()
        .await
        .expect("untick Business weekly");
    browser.press("Save").await;
    browser.wait_for("//p[@role='status']").await;
    browser.screenshot("preference-centre").await;
    assert_eq!(topics_of(&app, email).await, ["daily"]);
    assert_eq!(
        app.subscriber_status(email).await.as_deref(),
        Some("confirmed"),
        "leaving one topic is not leaving everything"
    );

    let download = browser
        .wait_for("//a[normalize-space()='Download my data']")
        .await
        .attr("href")
        .await
        .expect("read the link")
        .expect("the link has an address");
    let response = app
        .client
        .get(app.url(&download))
        .send()
        .await
        .expect("download my data");
    assert_eq!(response.status(), 200);
    let data: Value = response.json().await.expect("a JSON file");
    assert_eq!(data["profile"]["email"], email);
    let slugs: Vec<&str> = data["topics"]
        .as_array()
        .expect("topics")
        .iter()
        .filter_map(|topic| topic["slug"].as_str())
        .collect();
    assert_eq!(slugs, ["daily"]);
    let left = data["consent_events"]
        .as_array()
        .expect("events")
        .iter()
        .any(|event| event["kind"] == "topics_left" && event["topics"] == json!(["business"]));
    assert!(left, "the data names leaving Business weekly: {data}");

    browser.close().await;
}
