//! International addresses (issue 11, item 9): a domain with non-ASCII
//! letters goes out as punycode in RCPT TO and To, so the copy is 7-bit and
//! needs no SMTPUTF8; a non-ASCII local part needs SMTPUTF8, and a relay
//! without it fails that copy at once with a clear reason instead of
//! retrying it until it expires. Readers' addresses with a non-ASCII local
//! part are refused at signup, so the one such address Herald sends with is
//! a From like `rédaction@…`.

use herald::subscriptions::admin::{insert_samples, SampleSubscriber};
use herald::subscriptions::{SubscriberEmail, SubscriberStatus};
use serde_json::json;

use crate::support::{Backend, Mail, TestApp};

const UNICODE_FROM: &str = "Rédaction <rédaction@example.com>";
const READER: &str = "reader@example.com";
const IDN_DOMAIN: &str = "jose@bücher.example";
const IDN_DOMAIN_ASCII: &str = "jose@xn--bcher-kva.example";

async fn add_readers(app: &TestApp, addresses: &[&str]) {
    let store = herald::store::Store::connect(&app.db.url, 2)
        .await
        .expect("open the test database");
    let rows: Vec<SampleSubscriber> = addresses
        .iter()
        .map(|address| SampleSubscriber {
            email: SubscriberEmail::parse(address).expect("a valid address"),
            name: None,
            status: SubscriberStatus::Confirmed,
            created_at: herald::store::now_millis(),
        })
        .collect();
    insert_samples(&store, &rows).await.expect("insert readers");
    store.close().await;
}

/// Sends a one-item issue to the list through the API and waits until the
/// send is over.
async fn send_an_issue(app: &TestApp) {
    crate::issues::send_with_api(
        app,
        &json!({
            "subject": "This week",
            "items": [{"title": "A story", "url": "https://example.org/story"}]
        }),
    )
    .await;
}

/// The delivery row of the copy to `email`: status, attempts, and what the relay said.
async fn delivery_of(app: &TestApp, email: &str) -> (String, i64, String) {
    let mut conn = app.db.connect().await;
    let row = sqlx::query(
        "SELECT d.status, d.attempts, COALESCE(d.reply, '') AS reply \
         FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id WHERE s.email = $1",
    )
    .bind(email)
    .fetch_one(&mut conn)
    .await
    .expect("the delivery row");
    use sqlx::Row;
    (row.get("status"), row.get("attempts"), row.get("reply"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idn_domain_goes_out_as_punycode_to_a_relay_without_smtputf8() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.smtp.without_smtputf8();
    add_readers(&app, &[IDN_DOMAIN]).await;
    send_an_issue(&app).await;

    let (status, attempts, reply) = delivery_of(&app, IDN_DOMAIN_ASCII).await;
    assert_eq!((status.as_str(), attempts), ("sent", 1), "{reply}");
    let copies = app.mails_to(IDN_DOMAIN_ASCII).await;
    assert_eq!(
        copies.len(),
        1,
        "the IDN reader gets the copy without SMTPUTF8"
    );
    let copy: &Mail = &copies[0];
    assert_eq!(copy.rcpt_to, [IDN_DOMAIN_ASCII]);
    assert!(copy.raw.is_ascii(), "the copy is 7-bit");
    assert!(
        copy.header("To")
            .is_some_and(|to| to.contains(IDN_DOMAIN_ASCII)),
        "{:?}",
        copy.header("To")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unicode_local_part_fails_at_once_and_clearly_where_the_relay_lacks_smtputf8() {
    let app = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.from = UNICODE_FROM.parse().expect("a mailbox");
    })
    .await;
    app.smtp.without_smtputf8();
    add_readers(&app, &[READER]).await;
    send_an_issue(&app).await;
    let (status, attempts, reply) = delivery_of(&app, READER).await;
    assert_eq!(status, "failed", "{reply}");
    assert_eq!(attempts, 1, "failed at once, not retried: {reply}");
    assert!(
        reply.contains("the relay does not support SMTPUTF8, which this address needs"),
        "{reply}"
    );
    assert!(app.mails_to(READER).await.is_empty());
    assert_eq!(
        app.subscriber_status(READER).await.as_deref(),
        Some("confirmed"),
        "the relay's shortcoming is not the reader's bounce"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unicode_local_part_goes_out_where_the_relay_offers_smtputf8() {
    let app = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.from = UNICODE_FROM.parse().expect("a mailbox");
    })
    .await;
    add_readers(&app, &[READER]).await;
    send_an_issue(&app).await;
    let (status, _, reply) = delivery_of(&app, READER).await;
    assert_eq!(status, "sent", "{reply}");
    let copies = app.mails_to(READER).await;
    assert_eq!(copies.len(), 1);
}
