//! Abuse rules: per-client rate limit, per-address mail cap, honeypot, body size.

use std::time::Duration;

use serde_json::json;

use crate::on_both_databases;
use crate::support::{Backend, TestApp};

async fn too_many_signups_from_one_client_get_429_with_retry_after(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.signup_rate_per_minute = 3.try_into().expect("non-zero");
    })
    .await;
    for n in 0..3 {
        let response = app.sign_up(&format!("r{n}@example.com"), "").await;
        assert_eq!(response.status(), 200);
    }
    let response = app.sign_up("r3@example.com", "").await;
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("Retry-After is a number of seconds");
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    let page = response.text().await.expect("body");
    assert!(
        page.contains("Too many signups came from your network"),
        "{page}"
    );
    // Plain words with the right plural, never "in 1 seconds".
    assert!(
        page.contains("try again in a second.")
            || page.contains("try again in a minute.")
            || (2..60).any(|n| page.contains(&format!("try again in {n} seconds."))),
        "{page}"
    );
    assert!(
        page.contains(r#"<a href="/">Back to the signup form</a>"#),
        "{page}"
    );

    let response = app
        .post_json("/subscriptions", &json!({"email": "r4@example.com"}))
        .await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert!(body["error"]
        .as_str()
        .is_some_and(|e| e.contains("Too many")));
    assert_eq!(
        app.db.count("subscribers").await,
        3,
        "refused signups store nothing"
    );
}

async fn one_address_gets_at_most_three_confirmation_mails_a_day(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.confirmations_per_day = 3;
        config.confirmation_min_interval = Duration::ZERO;
    })
    .await;
    let mut answers = Vec::new();
    for _ in 0..6 {
        let response = app.sign_up("victim@example.com", "").await;
        answers.push((response.status(), response.text().await.expect("body")));
    }
    assert!(
        answers.iter().all(|answer| answer == &answers[0]),
        "same answer every time"
    );
    app.mails_after_quiet_period().await;
    assert_eq!(app.mails_to("victim@example.com").await.len(), 3);
}

async fn confirmation_mails_to_one_address_are_spaced_out(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.confirmations_per_day = 3;
        config.confirmation_min_interval = Duration::from_secs(600);
    })
    .await;
    for _ in 0..3 {
        assert_eq!(app.sign_up("spaced@example.com", "").await.status(), 200);
    }
    app.mails_after_quiet_period().await;
    assert_eq!(app.mails_to("spaced@example.com").await.len(), 1);
}

async fn a_filled_honeypot_is_answered_like_success_and_dropped(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let human = app.sign_up("human@example.com", "").await;
    let human_page = human.text().await.expect("body");
    let bot = app
        .post_form(
            "/subscriptions",
            &[
                ("email", "bot@example.com"),
                ("name", "Bot"),
                ("website", "http://spam.example"),
            ],
        )
        .await;
    assert_eq!(bot.status(), 200);
    // The same page but for the address it shows back.
    assert_eq!(
        bot.text()
            .await
            .expect("body")
            .replace("bot@example.com", "ADDRESS")
            .replace("bot%40example.com", "ADDRESS"),
        human_page
            .replace("human@example.com", "ADDRESS")
            .replace("human%40example.com", "ADDRESS")
    );
    let json_bot = app
        .post_json(
            "/subscriptions",
            &json!({"email": "bot2@example.com", "website": "x"}),
        )
        .await;
    assert_eq!(json_bot.status(), 200);
    app.mails_after_quiet_period().await;
    assert!(app.mails_to("bot@example.com").await.is_empty());
    assert!(app.mails_to("bot2@example.com").await.is_empty());
    assert_eq!(app.subscriber_status("bot@example.com").await, None);
    assert_eq!(app.db.count("subscribers").await, 1);
}

async fn oversized_bodies_get_413(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| config.max_body_bytes = 1024).await;
    let padding = "x".repeat(2000);
    let response = app
        .post_form(
            "/subscriptions",
            &[("email", "big@example.com"), ("name", &padding)],
        )
        .await;
    assert_eq!(response.status(), 413);
    let response = app
        .post_json(
            "/subscriptions",
            &json!({"email": "big@example.com", "name": padding}),
        )
        .await;
    assert_eq!(response.status(), 413);
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert!(body["error"]
        .as_str()
        .is_some_and(|e| e.contains("1024 bytes")));
    assert_eq!(app.db.count("subscribers").await, 0);
    // The service is still there.
    assert_eq!(app.sign_up("small@example.com", "").await.status(), 200);
}

on_both_databases!(
    too_many_signups_from_one_client_get_429_with_retry_after,
    one_address_gets_at_most_three_confirmation_mails_a_day,
    confirmation_mails_to_one_address_are_spaced_out,
    a_filled_honeypot_is_answered_like_success_and_dropped,
    oversized_bodies_get_413,
);
