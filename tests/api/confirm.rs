//! Confirming: a GET changes nothing, the POST confirms once, bad links explain themselves.

use std::time::Duration;

use crate::on_both_databases;
use crate::support::{token_of, Backend, TestApp};

async fn opening_the_link_shows_a_confirm_button_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let link = app.sign_up_and_get_link("scanner@example.com").await;
    for _ in 0..3 {
        // Mail scanners open links, sometimes several times.
        let response = app.get(&link).await;
        assert_eq!(response.status(), 200);
        let page = response.text().await.expect("body");
        assert!(page.contains(r#"action="/subscriptions/confirm""#));
        assert!(page.contains(">Confirm</button>"));
        assert!(page.contains(&token_of(&link)));
    }
    assert_eq!(
        app.subscriber_status("scanner@example.com")
            .await
            .as_deref(),
        Some("pending")
    );
    let response = app.confirm(&link).await;
    assert!(response
        .text()
        .await
        .expect("body")
        .contains("You are subscribed"));
    assert_eq!(
        app.subscriber_status("scanner@example.com")
            .await
            .as_deref(),
        Some("confirmed")
    );
}

async fn confirming_sends_a_welcome_mail_with_list_unsubscribe_headers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let link = app.sign_up_and_get_link("welcome@example.com").await;
    app.confirm(&link).await;
    let welcome = app.next_mail_to("welcome@example.com", 1).await;
    assert!(
        welcome.subject.starts_with("Welcome"),
        "subject: {}",
        welcome.subject
    );
    let unsubscribe = welcome.unsubscribe_link(&app.address);
    // The link's text says where it goes.
    assert!(
        welcome
            .html
            .contains(">Unsubscribe from The Daily Herald</a>"),
        "{}",
        welcome.html
    );
    assert_eq!(
        welcome.header("List-Unsubscribe"),
        Some(format!("<{unsubscribe}>").as_str())
    );
    assert_eq!(
        welcome.header("List-Unsubscribe-Post"),
        Some("List-Unsubscribe=One-Click")
    );
}

async fn a_second_click_on_a_used_link_says_already_subscribed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let link = app.sign_up_and_get_link("twice@example.com").await;
    app.confirm(&link).await;
    let token = token_of(&link);
    let response = app
        .post_form("/subscriptions/confirm", &[("token", &token)])
        .await;
    assert_eq!(response.status(), 200);
    let page = response.text().await.expect("body");
    assert!(
        page.contains("You&#39;re already subscribed")
            || page.contains("You're already subscribed"),
        "{page}"
    );
    assert!(!page.contains("already been used"));
    let response = app.get(&link).await;
    assert_eq!(response.status(), 200);
    assert!(response
        .text()
        .await
        .expect("body")
        .contains("already subscribed"));
}

async fn a_used_link_of_a_reader_who_left_is_gone_and_offers_to_sign_up_again(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let link = app.sign_up_and_get_link("twice@example.com").await;
    app.confirm(&link).await;
    let welcome = app.next_mail_to("twice@example.com", 1).await;
    let unsubscribe = welcome.unsubscribe_link(&app.address);
    assert_eq!(app.post_form(&unsubscribe, &[]).await.status(), 200);
    let response = app
        .post_form("/subscriptions/confirm", &[("token", &token_of(&link))])
        .await;
    assert_eq!(response.status(), 410);
    let page = response.text().await.expect("body");
    assert!(page.contains("already been used"));
    assert!(!page.contains("already subscribed"));
    assert!(page.contains(r#"href="/""#), "offers to sign up again");
    assert_eq!(app.get(&link).await.status(), 410);
}

async fn an_expired_link_is_gone(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.confirmation_ttl = Duration::from_secs(1);
    })
    .await;
    let link = app.sign_up_and_get_link("late@example.com").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(app.get(&link).await.status(), 410);
    let response = app
        .post_form("/subscriptions/confirm", &[("token", &token_of(&link))])
        .await;
    assert_eq!(response.status(), 410);
    assert!(response.text().await.expect("body").contains("expired"));
    assert_eq!(
        app.subscriber_status("late@example.com").await.as_deref(),
        Some("pending")
    );
    // Signing up again gives a fresh link that works.
    let fresh = app.sign_up_and_get_link("late@example.com").await;
    app.confirm(&fresh).await;
}

async fn unknown_or_malformed_links_get_400(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let well_formed_unknown = "A".repeat(43);
    for token in [
        well_formed_unknown.as_str(),
        "short",
        "",
        "../../etc/passwd",
    ] {
        let response = app
            .post_form("/subscriptions/confirm", &[("token", token)])
            .await;
        assert_eq!(response.status(), 400, "token {token:?}");
        let page = response.text().await.expect("body");
        assert!(page.contains("does not work"));
        assert!(page.contains(r#"href="/""#), "offers to sign up again");
    }
    assert_eq!(app.get("/subscriptions/confirm").await.status(), 400);
    assert_eq!(
        app.get(&format!(
            "/subscriptions/confirm?token={well_formed_unknown}"
        ))
        .await
        .status(),
        400
    );
}

async fn a_link_from_before_unsubscribing_cannot_bring_the_address_back(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.sign_up_and_get_link("undecided@example.com").await;
    let second = app.sign_up_and_get_link("undecided@example.com").await;
    app.confirm(&first).await;
    let welcome = app.next_mail_to("undecided@example.com", 2).await;
    let unsubscribe = welcome.unsubscribe_link(&app.address);
    assert_eq!(app.post_form(&unsubscribe, &[]).await.status(), 200);
    let response = app
        .post_form("/subscriptions/confirm", &[("token", &token_of(&second))])
        .await;
    assert_eq!(response.status(), 410);
    assert_eq!(
        app.subscriber_status("undecided@example.com")
            .await
            .as_deref(),
        Some("unsubscribed")
    );
}

on_both_databases!(
    opening_the_link_shows_a_confirm_button_and_changes_nothing,
    confirming_sends_a_welcome_mail_with_list_unsubscribe_headers,
    a_second_click_on_a_used_link_says_already_subscribed,
    a_used_link_of_a_reader_who_left_is_gone_and_offers_to_sign_up_again,
    an_expired_link_is_gone,
    unknown_or_malformed_links_get_400,
    a_link_from_before_unsubscribing_cannot_bring_the_address_back,
);
