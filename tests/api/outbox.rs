//! The outbox: a signup never waits on SMTP; mail goes out once SMTP answers,
//! even across a restart; `.eml` files when no SMTP server is configured.

use std::time::{Duration, Instant};

use secrecy::SecretString;

use crate::on_both_databases;
use crate::support::{Backend, Mail, SmtpMode, TestApp, MAIL_WAIT};

async fn signup_does_not_wait_for_smtp_and_mail_arrives_when_it_is_back(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.smtp.stop().await;
    let started = Instant::now();
    let response = app.sign_up("patient@example.com", "").await;
    assert_eq!(response.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the signup waited {:?} on a dead SMTP server",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    app.smtp.restart().await;
    let mail = app.next_mail_to("patient@example.com", 0).await;
    let link = mail.confirmation_link(&app.address);
    app.confirm(&link).await;
    let _welcome = app.next_mail_to("patient@example.com", 1).await;
    assert_eq!(
        app.mails_to("patient@example.com").await.len(),
        2,
        "the confirmation went out exactly once"
    );
}

async fn queued_mail_survives_a_restart_and_arrives_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.smtp.stop().await;
    assert_eq!(app.sign_up("restart@example.com", "").await.status(), 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let app = app.restart().await;
    app.smtp.restart().await;
    let mail = app.next_mail_to("restart@example.com", 0).await;
    mail.confirmation_link(&app.address);
    app.mails_after_quiet_period().await;
    assert_eq!(app.mails_to("restart@example.com").await.len(), 1);
}

async fn temporary_refusals_are_retried(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.smtp.set_mode(SmtpMode::RejectTransient);
    assert_eq!(
        app.sign_up("greylisted@example.com", "").await.status(),
        200
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(app.mails_to("greylisted@example.com").await.is_empty());
    app.smtp.set_mode(SmtpMode::Accept);
    app.next_mail_to("greylisted@example.com", 0).await;
    app.mails_after_quiet_period().await;
    assert_eq!(app.mails_to("greylisted@example.com").await.len(), 1);
}

async fn a_permanent_refusal_fails_that_mail_and_others_still_go(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.smtp.reject_recipient("nobody@example.com", 550);
    assert_eq!(app.sign_up("nobody@example.com", "").await.status(), 200);
    assert_eq!(app.sign_up("somebody@example.com", "").await.status(), 200);
    app.next_mail_to("somebody@example.com", 0).await;
    app.mails_after_quiet_period().await;
    assert!(app.mails_to("nobody@example.com").await.is_empty());
    let mut conn = app.db.connect().await;
    let failed: i64 = sqlx::Row::get(
        &sqlx::query("SELECT COUNT(*) AS n FROM outbox WHERE failed_at IS NOT NULL AND last_error LIKE '%550%'")
            .fetch_one(&mut conn)
            .await
            .expect("query outbox"),
        "n",
    );
    assert_eq!(
        failed, 1,
        "the refused mail is recorded as failed, not retried forever"
    );
}

async fn smtp_credentials_in_the_url_are_used(backend: Backend) {
    let app = TestApp::spawn_with(backend, |_| {}).await;
    app.smtp.require_auth("herald", "s3cret");
    let mut config = app.config.clone();
    config.smtp_url = Some(SecretString::from(format!(
        "smtp://herald:s3cret@127.0.0.1:{}",
        app.smtp.port()
    )));
    let mut app = app;
    app.config = config;
    let app = app.restart().await;
    assert_eq!(app.sign_up("authed@example.com", "").await.status(), 200);
    let received = app.smtp.wait_for_messages(1, MAIL_WAIT).await;
    assert_eq!(received[0].auth_user.as_deref(), Some("herald"));
}

async fn without_smtp_mail_is_written_as_eml_files_with_a_working_link(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| config.smtp_url = None).await;
    assert_eq!(app.sign_up("files@example.com", "Fay").await.status(), 200);
    let outbox = app.config.outbox_dir.clone();
    let deadline = Instant::now() + MAIL_WAIT;
    let file = loop {
        let found = std::fs::read_dir(&outbox)
            .expect("the outbox folder exists")
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .find(|path| path.extension().is_some_and(|ext| ext == "eml"));
        if let Some(file) = found {
            break file;
        }
        assert!(
            Instant::now() < deadline,
            "no .eml file in {}",
            outbox.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mail = Mail::parse(&std::fs::read(&file).expect("read the .eml file"));
    assert_eq!(mail.to, "files@example.com");
    assert!(mail.subject.contains("Confirm"));
    let link = mail.confirmation_link(&app.address);
    app.confirm(&link).await;
    assert_eq!(
        app.subscriber_status("files@example.com").await.as_deref(),
        Some("confirmed")
    );
    assert!(
        app.smtp.messages().await.is_empty(),
        "nothing went over SMTP"
    );
}

on_both_databases!(
    signup_does_not_wait_for_smtp_and_mail_arrives_when_it_is_back,
    queued_mail_survives_a_restart_and_arrives_once,
    temporary_refusals_are_retried,
    a_permanent_refusal_fails_that_mail_and_others_still_go,
    smtp_credentials_in_the_url_are_used,
    without_smtp_mail_is_written_as_eml_files_with_a_working_link,
);
