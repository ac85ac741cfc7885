//! Bounces heard at send time: the relay's 5xx to a reader's copy, read by
//! the same classifier as the reports that come back by mail. A dead address
//! bounces its reader after one copy; a policy refusal never bounces anyone;
//! anything else counts, three in a row. Each refusal is kept in
//! `bounce_reports` beside the reports that come back later.

use serde_json::json;
use sqlx::Row;

use herald::subscriptions::SubscriberStatus;

use super::event_notes;
use crate::on_both_databases;
use crate::support::{Backend, TestApp, MAIL_WAIT};

const REFUSED: &str = "reader001@example.com";
const WELCOMED: &str = "reader002@example.com";

/// Two confirmed readers; the relay answers the first's RCPT TO with `reply`.
async fn two_readers_one_refused_with(app: &TestApp, reply: &str) {
    app.add_subscribers(2, SubscriberStatus::Confirmed, "reader")
        .await;
    app.smtp.reject_recipient_with(REFUSED, reply);
}

async fn send_issue(app: &TestApp, subject: &str) -> i64 {
    crate::issues::send_with_api(app, &json!({"subject": subject, "intro": "Hello."})).await
}

/// The send-time report of `issue` about `email`: (class, status, issue_id).
async fn send_time_report(
    app: &TestApp,
    issue: i64,
    email: &str,
) -> Option<(String, Option<String>, Option<i64>)> {
    let subscriber = app.db.subscriber_id(email).await;
    let mut conn = app.db.connect().await;
    sqlx::query("SELECT class, status, issue_id FROM bounce_reports WHERE report_key = $1")
        .bind(format!("smtp:{issue}:{subscriber}"))
        .fetch_optional(&mut conn)
        .await
        .expect("query bounce_reports")
        .map(|row| (row.get("class"), row.get("status"), row.get("issue_id")))
}

/// How the copy of `issue` to `email` ended: (status, failure).
async fn delivery(app: &TestApp, issue: i64, email: &str) -> (String, Option<String>) {
    let subscriber = app.db.subscriber_id(email).await;
    let mut conn = app.db.connect().await;
    let row = sqlx::query(
        "SELECT status, failure FROM deliveries WHERE issue_id = $1 AND subscriber_id = $2",
    )
    .bind(issue)
    .bind(subscriber)
    .fetch_one(&mut conn)
    .await
    .expect("the delivery row");
    (row.get("status"), row.get("failure"))
}

async fn copies_to(app: &TestApp, email: &str) -> usize {
    app.smtp
        .messages()
        .await
        .iter()
        .filter(|message| message.rcpt_to == [email.to_owned()])
        .count()
}

async fn a_dead_address_at_rcpt_bounces_its_reader_after_one_copy(backend: Backend) {
    // The default of three refusals in a row stands: a 5.1.1 needs one.
    let app = TestApp::spawn(backend).await;
    two_readers_one_refused_with(
        &app,
        "550 5.1.1 <reader001@example.com>: Recipient address rejected: User unknown in local recipient table",
    )
    .await;

    let issue = send_issue(&app, "One copy is enough").await;

    assert_eq!(
        app.subscriber_status(REFUSED).await.as_deref(),
        Some("bounced")
    );
    let notes = event_notes(&app, REFUSED, "bounced").await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].contains("550 5.1.1") && notes[0].contains("User unknown"),
        "the event carries the relay's words: {notes:?}"
    );
    assert_eq!(
        delivery(&app, issue, REFUSED).await,
        ("failed".to_owned(), Some("hard".to_owned()))
    );
    assert_eq!(
        send_time_report(&app, issue, REFUSED).await,
        Some(("hard".to_owned(), Some("5.1.1".to_owned()), Some(issue)))
    );
    assert_eq!(
        app.subscriber_status(WELCOMED).await.as_deref(),
        Some("confirmed")
    );
    assert_eq!(send_time_report(&app, issue, WELCOMED).await, None);
    app.smtp.wait_for_messages(1, MAIL_WAIT).await;
    assert_eq!(copies_to(&app, WELCOMED).await, 1);

    // A bounced reader is not in the next issue's queue at all.
    let next = send_issue(&app, "The next one").await;
    let queued: i64 = {
        let mut conn = app.db.connect().await;
        sqlx::query_scalar("SELECT COUNT(*) FROM deliveries WHERE issue_id = $1")
            .bind(next)
            .fetch_one(&mut conn)
            .await
            .expect("count deliveries")
    };
    assert_eq!(queued, 1, "only the confirmed reader is queued");
}

async fn a_policy_refusal_fails_the_copy_and_never_bounces_the_reader(backend: Backend) {
    // One refusal in a row would bounce a reader, were this one counted.
    let app = TestApp::spawn_with(backend, |config| {
        config.bounce_after_failures = 1.try_into().expect("non-zero");
    })
    .await;
    two_readers_one_refused_with(
        &app,
        "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
    )
    .await;

    let mut issues = Vec::new();
    for subject in ["Blocked once", "Blocked twice"] {
        let issue = send_issue(&app, subject).await;
        assert_eq!(
            app.subscriber_status(REFUSED).await.as_deref(),
            Some("confirmed"),
            "not the reader's fault"
        );
        assert_eq!(
            delivery(&app, issue, REFUSED).await,
            ("failed".to_owned(), Some("policy".to_owned()))
        );
        assert_eq!(
            send_time_report(&app, issue, REFUSED).await,
            Some(("policy".to_owned(), Some("5.7.1".to_owned()), Some(issue)))
        );
        issues.push(issue);
    }
    assert!(event_notes(&app, REFUSED, "bounced").await.is_empty());
    assert_eq!(
        app.db.count("bounce_reports").await,
        2,
        "one report per refused copy, none for the delivered ones"
    );
}

async fn a_full_mailbox_counts_as_soft_and_three_in_a_row_bounce(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    two_readers_one_refused_with(&app, "552 5.2.2 <reader001@example.com>: Mailbox full").await;

    for (n, subject) in ["First", "Second", "Third"].into_iter().enumerate() {
        let issue = send_issue(&app, subject).await;
        assert_eq!(
            delivery(&app, issue, REFUSED).await,
            ("failed".to_owned(), Some("permanent".to_owned()))
        );
        assert_eq!(
            send_time_report(&app, issue, REFUSED).await,
            Some(("soft".to_owned(), Some("5.2.2".to_owned()), Some(issue)))
        );
        let expected = if n < 2 { "confirmed" } else { "bounced" };
        assert_eq!(
            app.subscriber_status(REFUSED).await.as_deref(),
            Some(expected),
            "after {} refused copies",
            n + 1
        );
    }
    let notes = event_notes(&app, REFUSED, "bounced").await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].starts_with("3 refusals in a row") && notes[0].contains("5.2.2"),
        "{notes:?}"
    );
    assert_eq!(
        app.subscriber_status(WELCOMED).await.as_deref(),
        Some("confirmed")
    );
}

async fn a_refused_sender_is_never_the_readers_fault(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.bounce_after_failures = 1.try_into().expect("non-zero");
    })
    .await;
    app.add_subscribers(2, SubscriberStatus::Confirmed, "reader")
        .await;
    // Herald has no credentials: every MAIL FROM gets `530 5.7.0`.
    app.smtp.require_auth("herald", "s3cret");

    let issue = send_issue(&app, "Nobody's fault but ours").await;

    for reader in [REFUSED, WELCOMED] {
        assert_eq!(
            app.subscriber_status(reader).await.as_deref(),
            Some("confirmed")
        );
        assert_eq!(
            delivery(&app, issue, reader).await,
            ("failed".to_owned(), Some("policy".to_owned()))
        );
        let report = send_time_report(&app, issue, reader).await;
        assert_eq!(report.map(|(class, _, _)| class).as_deref(), Some("policy"));
    }
}

on_both_databases!(
    a_dead_address_at_rcpt_bounces_its_reader_after_one_copy,
    a_policy_refusal_fails_the_copy_and_never_bounces_the_reader,
    a_full_mailbox_counts_as_soft_and_three_in_a_row_bounce,
    a_refused_sender_is_never_the_readers_fault,
);
