//! The public archive (`/issues`, `/issues/{id}`) and the Atom feed.

use serde_json::json;

use crate::issues::{assert_inert, create_with_api, hostile_issue, mark_sent, shows_escaped};
use crate::on_both_databases;
use crate::support::{Backend, TestApp};

fn issue(subject: &str) -> serde_json::Value {
    json!({
        "subject": subject,
        "preheader": format!("About {subject}"),
        "intro": "Hello *readers*.",
        "items": [{
            "title": format!("Story of {subject}"),
            "url": "https://example.com/story",
            "source": "CTM News",
            "date": "2019-03-28",
            "summary": "What **happened**."
        }]
    })
}

async fn the_archive_shows_only_sent_issues(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let draft = create_with_api(&app, &issue("Draft digest")).await;
    let older = create_with_api(&app, &issue("Older digest")).await;
    let newer = create_with_api(&app, &issue("Newer digest")).await;
    mark_sent(&app, older, 1_700_000_000_000).await;
    mark_sent(&app, newer, 1_700_600_000_000).await;

    let response = app.get("/issues").await;
    assert_eq!(response.status(), 200);
    let page = response.text().await.expect("page");
    assert!(page.find("Newer digest") < page.find("Older digest"));
    assert!(page.contains("Older digest") && page.contains("2023-11-14"));
    assert!(!page.contains("Draft digest"));

    let response = app.get(&format!("/issues/{newer}")).await;
    assert_eq!(response.status(), 200);
    let page = response.text().await.expect("page");
    assert!(page.contains(r#"<h1 class="subject">Newer digest</h1>"#));
    assert!(page.contains("Story of Newer digest</a>"));
    assert!(page.contains("CTM News · 28 March 2019"));
    assert!(page.contains("What <strong>happened</strong>."));
    assert!(page.contains("Hello <em>readers</em>."));
    // Nobody's personal links on a public page.
    assert!(!page.contains("unsubscribe"));
    assert!(!page.contains("token="));

    for path in [format!("/issues/{draft}"), "/issues/999999".to_owned()] {
        assert_eq!(app.get(&path).await.status(), 404, "{path}");
    }
}

async fn the_feed_is_valid_atom_of_sent_issues(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.get("/feed.atom").await;
    assert_eq!(response.status(), 200);
    let empty = feed_rs::parser::parse(response.bytes().await.expect("body").as_ref())
        .expect("an empty feed parses");
    assert!(empty.entries.is_empty());

    create_with_api(&app, &issue("Draft digest")).await;
    let sent = create_with_api(&app, &issue("Sent digest")).await;
    mark_sent(&app, sent, 1_700_000_000_000).await;
    let response = app.get("/feed.atom").await;
    assert_eq!(
        response.headers()["content-type"],
        "application/atom+xml; charset=utf-8"
    );
    let feed = feed_rs::parser::parse(response.bytes().await.expect("body").as_ref())
        .expect("the feed parses");
    assert_eq!(feed.feed_type, feed_rs::model::FeedType::Atom);
    assert_eq!(
        feed.title.map(|t| t.content).as_deref(),
        Some("The Daily Herald")
    );
    assert_eq!(feed.entries.len(), 1);
    let entry = &feed.entries[0];
    assert_eq!(
        entry.title.as_ref().map(|t| t.content.as_str()),
        Some("Sent digest")
    );
    assert_eq!(
        entry.links[0].href,
        format!("{}/issues/{sent}", app.address)
    );
    assert_eq!(
        entry.updated.map(|d| d.timestamp_millis()),
        Some(1_700_000_000_000)
    );
    let body = entry
        .content
        .as_ref()
        .and_then(|c| c.body.clone())
        .expect("the entry has content");
    assert!(body.contains("Story of Sent digest</a>"));
    assert!(body.contains("<strong>happened</strong>"));
}

async fn script_in_an_issue_is_inert_in_the_archive_and_the_feed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = create_with_api(&app, &hostile_issue()).await;
    mark_sent(&app, id, 1_700_000_000_000).await;

    for path in ["/issues".to_owned(), format!("/issues/{id}")] {
        let page = app.get(&path).await.text().await.expect("page");
        assert_inert(&page);
        assert!(
            shows_escaped(&page, "<script>alert("),
            "{path} shows the text escaped"
        );
    }
    let xml = app.get("/feed.atom").await.text().await.expect("feed");
    let feed = feed_rs::parser::parse(xml.as_bytes()).expect("the feed parses");
    let entry = &feed.entries[0];
    assert_eq!(
        entry.title.as_ref().map(|t| t.content.as_str()),
        Some("<script>alert('subject')</script> Hostile")
    );
    let body = entry
        .content
        .as_ref()
        .and_then(|c| c.body.clone())
        .expect("content");
    assert_inert(&body);
    assert!(!body.contains("<script>alert"));
}

/// The pages people share are styled like the mail and let readers sign up
/// at the top and the bottom.
async fn archive_pages_are_styled_and_offer_signup_at_top_and_bottom(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let sent = create_with_api(&app, &issue("Styled digest")).await;
    mark_sent(&app, sent, 1_700_000_000_000).await;
    for path in ["/issues".to_owned(), format!("/issues/{sent}")] {
        let response = app.get(&path).await;
        assert_eq!(response.status(), 200, "{path}");
        let page = response.text().await.expect("page");
        assert!(page.contains(r#"<link rel="stylesheet" href="/assets/herald.css">"#));
        assert!(page.contains(r#"<main class="card archive">"#), "{path}");
        assert_eq!(
            page.matches(r#"<form class="signup-inline" method="post" action="/subscriptions""#)
                .count(),
            2,
            "{path}: a signup form at the top and the bottom"
        );
        for place in ["top", "bottom"] {
            assert!(page.contains(&format!(
                r#"<label for="signup-{place}-email">Email address</label>"#
            )));
        }
        let first_form = page.find("signup-inline").expect("a form");
        let heading = page.find("<h1").expect("a heading");
        assert!(
            first_form < heading,
            "{path}: the first form is above the heading"
        );
    }
    let page = app
        .get(&format!("/issues/{sent}"))
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains(r#"<h2 class="item-title">"#));
    assert!(page.contains("Read “Story of Styled digest” at example.com"));

    // The archive's form signs up like the signup page.
    let response = app
        .post_form(
            "/subscriptions",
            &[("email", "sharer@example.com"), ("website", "")],
        )
        .await;
    assert_eq!(response.status(), 200);
    app.signups_handled().await;
    assert_eq!(
        app.subscriber_status("sharer@example.com").await.as_deref(),
        Some("pending")
    );

    let css = app
        .get("/assets/herald.css")
        .await
        .text()
        .await
        .expect("css");
    assert!(css.contains(".item-title { margin: 0 0 4px; font-size: 20px"));
    assert!(css.contains(".archive h1.subject, .archive h1 { font-size: 26px"));
}

on_both_databases!(
    archive_pages_are_styled_and_offer_signup_at_top_and_bottom,
    the_archive_shows_only_sent_issues,
    the_feed_is_valid_atom_of_sent_issues,
    script_in_an_issue_is_inert_in_the_archive_and_the_feed,
);
