//! `/metrics`: Prometheus text a scraper can read, counting what happened.
//! The recorder is one per process and tests run side by side, so figures are
//! checked as "at least" and as growth, never as exact totals.

use crate::on_both_databases;
use crate::support::{Backend, TestApp};

/// The value of the sample `name` (with its labels, as written), if present.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
}

async fn scrape(app: &TestApp) -> String {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    response.text().await.expect("body")
}

async fn metrics_count_signups_confirmations_mail_and_unsubscribes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let before = scrape(&app).await;
    let unsubscribe = app.subscribed_reader("counted@example.com").await;
    assert_eq!(app.post_form(&unsubscribe, &[]).await.status(), 200);
    let bot = app
        .post_form(
            "/subscriptions",
            &[("email", "bot@example.com"), ("website", "spam")],
        )
        .await;
    assert_eq!(bot.status(), 200);
    let after = scrape(&app).await;

    for (name, at_least) in [
        (
            r#"herald_signups_total{outcome="confirmation_queued"}"#,
            1.0,
        ),
        ("herald_confirmations_total", 1.0),
        ("herald_unsubscribes_total", 1.0),
        (r#"herald_signups_dropped_total{reason="honeypot"}"#, 1.0),
        (r#"herald_messages_sent_total{kind="confirmation"}"#, 1.0),
        (r#"herald_messages_sent_total{kind="welcome"}"#, 1.0),
        (
            r#"herald_send_duration_seconds_count{kind="confirmation"}"#,
            1.0,
        ),
    ] {
        let now = sample(&after, name).unwrap_or_else(|| panic!("{name} missing from:\n{after}"));
        let then = sample(&before, name).unwrap_or(0.0);
        assert!(now - then >= at_least, "{name} went from {then} to {now}");
    }
    assert!(after.contains("# TYPE herald_send_duration_seconds histogram"));
    assert!(sample(&after, "herald_outbox_queue_depth").is_some());
    assert!(sample(&after, "herald_delivery_queue_depth").is_some());
}

async fn failed_and_retried_mail_is_counted_by_kind(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.smtp.reject_recipient("refused@example.com", 550);
    app.smtp.reject_recipient("later@example.com", 451);
    assert_eq!(app.sign_up("refused@example.com", "").await.status(), 200);
    assert_eq!(app.sign_up("later@example.com", "").await.status(), 200);
    app.mails_after_quiet_period().await;
    let text = scrape(&app).await;
    for name in [
        r#"herald_messages_failed_total{kind="confirmation"}"#,
        r#"herald_messages_retried_total{kind="confirmation"}"#,
    ] {
        assert!(
            sample(&text, name).is_some_and(|v| v >= 1.0),
            "{name} in:\n{text}"
        );
    }
}

on_both_databases!(
    metrics_count_signups_confirmations_mail_and_unsubscribes,
    failed_and_retried_mail_is_counted_by_kind,
);
