//! Sending an issue to the list through the API: one copy per confirmed
//! subscriber with the list headers; pause, resume, cancel; 5xx and 454
//! replies; a reader leaving mid-send; confirmations ahead of bulk copies.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use herald::accounts::Role;
use herald::config::SecretKey;
use herald::store::Store;
use herald::subscriptions::{LinkKey, SubscriberStatus, UnsubscribeToken};
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::on_both_databases;
use crate::support::{Backend, Mail, SmtpMode, TestApp, MAIL_WAIT};

/// How long a send of a few dozen copies may take in these tests.
const SEND_WAIT: Duration = Duration::from_secs(30);

fn reader(n: usize) -> String {
    format!("reader{n:03}@example.com")
}

struct Sender {
    token: String,
}

impl Sender {
    async fn new(app: &TestApp) -> Self {
        Self {
            token: app.api_token(Role::Editor).await,
        }
    }

    async fn call(
        &self,
        app: &TestApp,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = app.api(method, path, &self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("API request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn create_issue(&self, app: &TestApp) -> i64 {
        let (status, issue) = self
            .call(
                app,
                Method::POST,
                "/api/v1/issues",
                Some(json!({
                    "subject": "This week: Venezuela",
                    "intro": "Hello *readers*.",
                    "items": [{
                        "title": "Russian military arrive in Venezuela",
                        "url": "https://ctmnews.example/2019/03/28/venezuela",
                        "summary": "Specialists, says Moscow. Ünïcödé survives the trip."
                    }]
                })),
            )
            .await;
        assert_eq!(status, 201, "{issue}");
        issue["id"].as_i64().expect("id")
    }

    async fn control(&self, app: &TestApp, issue: i64, step: &str) -> (u16, Value) {
        self.call(
            app,
            Method::POST,
            &format!("/api/v1/issues/{issue}/{step}"),
            None,
        )
        .await
    }

    async fn progress(&self, app: &TestApp, issue: i64) -> Value {
        let (status, progress) = self
            .call(
                app,
                Method::GET,
                &format!("/api/v1/issues/{issue}/progress"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{progress}");
        progress
    }

    /// Waits until the send is over (sent or cancelled) and returns the progress.
    async fn finished(&self, app: &TestApp, issue: i64) -> Value {
        let deadline = tokio::time::Instant::now() + SEND_WAIT;
        loop {
            let progress = self.progress(app, issue).await;
            if progress["status"] == "sent" || progress["status"] == "cancelled" {
                let tallied = app.db.tallied_counts(issue).await;
                for (name, n) in [
                    ("sent", tallied.sent),
                    ("failed", tallied.failed),
                    ("cancelled", tallied.cancelled),
                ] {
                    assert_eq!(progress["counts"][name], n, "{name}: {progress}");
                }
                return progress;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the send did not finish within {SEND_WAIT:?}: {progress}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Copies of the issue received so far, by recipient.
async fn copies_by_reader(app: &TestApp) -> HashMap<String, Vec<Mail>> {
    let mut by_reader: HashMap<String, Vec<Mail>> = HashMap::new();
    for message in app.smtp.messages().await {
        let mail = Mail::from_received(&message);
        if mail.subject.contains("Venezuela") {
            by_reader.entry(mail.to.clone()).or_default().push(mail);
        }
    }
    by_reader
}

/// An app sending an issue to `readers` confirmed subscribers at `rate` a
/// second, once `arrived` copies have arrived; with the readers' addresses.
async fn send_under_way(
    backend: Backend,
    readers: usize,
    rate: u32,
    arrived: usize,
) -> (TestApp, Sender, i64, Vec<String>) {
    let app = TestApp::spawn_with(backend, |config| {
        config.send_rate = Some(rate.try_into().expect("non-zero"));
    })
    .await;
    let addresses = app
        .add_subscribers(readers, SubscriberStatus::Confirmed, "reader")
        .await;
    let sender = Sender::new(&app).await;
    let issue = sender.create_issue(&app).await;
    assert_eq!(sender.control(&app, issue, "send").await.0, 202);
    app.smtp.wait_for_messages(arrived, MAIL_WAIT).await;
    (app, sender, issue, addresses)
}

fn header<'a>(mail: &'a Mail, name: &str) -> Option<&'a str> {
    mail.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

async fn every_confirmed_subscriber_gets_one_copy_with_the_list_headers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let confirmed = app
        .add_subscribers(30, SubscriberStatus::Confirmed, "reader")
        .await;
    app.add_subscribers(3, SubscriberStatus::Pending, "waiting")
        .await;
    app.add_subscribers(3, SubscriberStatus::Unsubscribed, "gone")
        .await;
    let sender = Sender::new(&app).await;
    let issue = sender.create_issue(&app).await;

    let (status, progress) = sender.control(&app, issue, "send").await;
    assert_eq!(status, 202, "{progress}");
    assert_eq!(progress["counts"]["total"], 30);
    let (again, refusal) = sender.control(&app, issue, "send").await;
    assert_eq!(again, 409, "a second send must be refused: {refusal}");
    assert!(refusal["error"].as_str().unwrap_or("").contains("already"));

    let progress = sender.finished(&app, issue).await;
    assert_eq!(progress["status"], "sent", "{progress}");
    assert_eq!(progress["counts"]["sent"], 30, "{progress}");
    assert!(progress["finished_at"].is_string());

    let copies = copies_by_reader(&app).await;
    let expected: HashSet<String> = confirmed.iter().cloned().collect();
    let got: HashSet<String> = copies.keys().cloned().collect();
    assert_eq!(
        got, expected,
        "exactly the confirmed subscribers get the issue"
    );
    let key = SecretKey::from_secret(&SecretString::from(
        "test-secret-that-is-long-enough-0123456789",
    ));
    let mut message_ids = HashSet::new();
    for (address, mails) in &copies {
        assert_eq!(mails.len(), 1, "{address} got {} copies", mails.len());
        let mail = &mails[0];
        assert_eq!(mail.rcpt_to, vec![address.clone()]);
        assert!(mail.text.contains("Russian military arrive in Venezuela"));
        assert!(
            mail.text.contains("Ünïcödé survives the trip."),
            "{}",
            mail.text
        );
        assert!(mail.html.contains("<strong>") || mail.html.contains("<em>readers</em>"));
        assert_eq!(
            header(mail, "List-Id"),
            Some("\"The Daily Herald\" <the-daily-herald.localhost>")
        );
        assert_eq!(
            header(mail, "List-Unsubscribe-Post"),
            Some("List-Unsubscribe=One-Click")
        );
        assert!(header(mail, "Date").is_some());
        let message_id = header(mail, "Message-ID").expect("a Message-ID");
        assert!(
            message_id.starts_with(&format!("<issue-{issue}."))
                && message_id.ends_with("@localhost>"),
            "{message_id}"
        );
        message_ids.insert(message_id.to_owned());

        // The link in the header, the text and the HTML is this reader's own.
        let list_unsubscribe = header(mail, "List-Unsubscribe").expect("List-Unsubscribe");
        let link = list_unsubscribe
            .trim_start_matches('<')
            .trim_end_matches('>');
        assert!(
            mail.text.contains(link),
            "the text part has the reader's link"
        );
        // In HTML the `&` before the issue's number is written `&amp;`.
        assert!(
            mail.html.contains(&link.replace('&', "&amp;")),
            "the HTML part has the reader's link"
        );
        // The link names the issue, for the issue's report of who left.
        assert!(link.ends_with(&format!("&issue={issue}")), "{link}");
        let token = crate::support::token_of(link);
        let token = token.as_str();
        assert!(
            UnsubscribeToken::verify(&key, token).is_some(),
            "{address}: the unsubscribe link is not signed by the key"
        );
    }
    assert_eq!(message_ids.len(), 30, "every copy has its own Message-ID");

    // Counted for the scraper (the recorder is shared by the tests of this process).
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    let sent_copies: f64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("herald_messages_sent_total{kind=\"issue\"} "))
        .and_then(|value| value.trim().parse().ok())
        .expect("herald_messages_sent_total for issues");
    assert!(sent_copies >= 30.0, "{sent_copies}");
    assert!(metrics.contains("herald_send_duration_seconds_bucket{kind=\"issue\""));

    // Sending again after it is sent: still refused.
    let (status, _) = sender.control(&app, issue, "send").await;
    assert_eq!(status, 409);
}

async fn pause_holds_the_send_and_resume_finishes_it(backend: Backend) {
    let (app, sender, issue, _) = send_under_way(backend, 50, 20, 5).await;

    let (status, paused) = sender.control(&app, issue, "pause").await;
    assert_eq!(status, 200, "{paused}");
    assert_eq!(paused["status"], "paused");
    // Within a second nothing more goes out.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let at_pause = app.smtp.messages().await.len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        app.smtp.messages().await.len(),
        at_pause,
        "mail kept going out while paused"
    );
    assert!(
        at_pause < 50,
        "the send finished before the pause: {at_pause}"
    );
    assert_eq!(sender.control(&app, issue, "pause").await.0, 409);

    let (status, resumed) = sender.control(&app, issue, "resume").await;
    assert_eq!(status, 200, "{resumed}");
    let progress = sender.finished(&app, issue).await;
    assert_eq!(progress["status"], "sent");
    assert_eq!(progress["counts"]["sent"], 50);
    let copies = copies_by_reader(&app).await;
    assert_eq!(copies.len(), 50);
    assert!(
        copies.values().all(|mails| mails.len() == 1),
        "nobody got two copies"
    );
}

async fn cancel_stops_the_send_and_marks_the_rest_cancelled(backend: Backend) {
    let (app, sender, issue, _) = send_under_way(backend, 50, 20, 5).await;

    let (status, cancelled) = sender.control(&app, issue, "cancel").await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let progress = sender.progress(&app, issue).await;
    let sent = progress["counts"]["sent"].as_i64().expect("sent");
    let not_sent = progress["counts"]["cancelled"].as_i64().expect("cancelled");
    assert_eq!(progress["counts"]["queued"], 0, "{progress}");
    assert_eq!(sent + not_sent, 50, "{progress}");
    assert!(not_sent > 0, "{progress}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        copies_by_reader(&app).await.len() as i64,
        sent,
        "what arrived is what is counted as sent"
    );
    let tallied = app.db.tallied_counts(issue).await;
    assert_eq!((tallied.sent, tallied.total), (sent, 50));
    assert_eq!(sender.control(&app, issue, "resume").await.0, 409);
}

/// The test server refuses with `550 5.1.1`: the address is dead, so one
/// refused copy bounces its reader (with the default of three in a row for
/// refusals that do not say so).
async fn refused_recipients_fail_and_bounce_while_the_rest_go_out(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_subscribers(20, SubscriberStatus::Confirmed, "reader")
        .await;
    for n in [3, 7, 11] {
        app.smtp.reject_recipient(&reader(n), 550);
    }
    let sender = Sender::new(&app).await;
    let issue = sender.create_issue(&app).await;
    assert_eq!(sender.control(&app, issue, "send").await.0, 202);
    let progress = sender.finished(&app, issue).await;
    assert_eq!(progress["status"], "sent", "{progress}");
    assert_eq!(progress["counts"]["sent"], 17, "{progress}");
    assert_eq!(progress["counts"]["failed"], 3, "{progress}");
    assert_eq!(copies_by_reader(&app).await.len(), 17);
    for n in [3, 7, 11] {
        assert_eq!(
            app.subscriber_status(&reader(n)).await.as_deref(),
            Some("bounced"),
            "{} was refused for good",
            reader(n)
        );
    }
    assert_eq!(
        app.subscriber_status(&reader(4)).await.as_deref(),
        Some("confirmed")
    );
}

async fn throttled_messages_are_retried_until_all_are_delivered(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_subscribers(30, SubscriberStatus::Confirmed, "reader")
        .await;
    app.smtp.set_mode(SmtpMode::ThrottleEvery(3));
    let sender = Sender::new(&app).await;
    let issue = sender.create_issue(&app).await;
    assert_eq!(sender.control(&app, issue, "send").await.0, 202);
    // Every third message is refused with 454 throughout: the retries land
    // between the refusals.
    let progress = sender.finished(&app, issue).await;
    assert_eq!(progress["status"], "sent", "{progress}");
    assert_eq!(progress["counts"]["sent"], 30, "{progress}");
    assert_eq!(progress["counts"]["failed"], 0, "{progress}");
    let copies = copies_by_reader(&app).await;
    assert_eq!(copies.len(), 30);
    assert!(copies.values().all(|mails| mails.len() == 1));
    let mut conn = app.db.connect().await;
    let attempts: i64 = sqlx::query_scalar(
        "SELECT CAST(SUM(attempts) AS BIGINT) FROM deliveries WHERE issue_id = $1",
    )
    .bind(issue)
    .fetch_one(&mut conn)
    .await
    .expect("count attempts");
    assert!(
        attempts >= 40,
        "only {attempts} attempts for 30 copies: nothing was throttled"
    );
}

async fn a_reader_who_leaves_mid_send_gets_nothing_more(backend: Backend) {
    let (app, sender, issue, readers) = send_under_way(backend, 60, 20, 3).await;

    // The last reader in the queue leaves with the one-click POST of RFC 8058.
    let leaving = readers.last().expect("a reader").clone();
    let store = Store::connect(&app.db.url, 1)
        .await
        .expect("open the test database");
    let link_key: String =
        sqlx::query_scalar::<_, String>("SELECT link_key FROM subscribers WHERE email = $1")
            .bind(&leaving)
            .fetch_one(store.pool())
            .await
            .expect("the leaving reader's link key");
    store.close().await;
    let key = SecretKey::from_secret(&SecretString::from(
        "test-secret-that-is-long-enough-0123456789",
    ));
    let link = app.url(&format!(
        "/unsubscribe?token={}",
        UnsubscribeToken::for_link_key(&key, &LinkKey::from_stored(link_key)).as_str()
    ));
    let arrived: Vec<String> = app
        .smtp
        .messages()
        .await
        .iter()
        .map(|m| m.rcpt_to.join(","))
        .collect();
    assert!(
        !copies_by_reader(&app).await.contains_key(&leaving),
        "the test reader {leaving} got the issue before leaving: {arrived:?}"
    );
    let response = reqwest::Client::new()
        .post(&link)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .expect("one-click POST");
    assert_eq!(response.status(), 200);

    let progress = sender.finished(&app, issue).await;
    assert_eq!(progress["counts"]["sent"], 59, "{progress}");
    assert_eq!(progress["counts"]["cancelled"], 1, "{progress}");
    let copies = copies_by_reader(&app).await;
    assert!(
        !copies.contains_key(&leaving),
        "{leaving} left but got the issue"
    );
    assert_eq!(copies.len(), 59);
}

/// Erasing a reader deletes their copies with them: one still queued, and
/// one they already got. The progress counts lose both, and nothing else.
async fn erasing_readers_takes_their_copies_off_the_progress(backend: Backend) {
    let (app, sender, issue, readers) = send_under_way(backend, 30, 20, 3).await;
    let admin = app.api_token(Role::Admin).await;
    let erase = |email: String| {
        let app = &app;
        let admin = &admin;
        async move {
            let id = app.db.subscriber_id(&email).await;
            let response = app
                .api(Method::DELETE, &format!("/api/v1/subscribers/{id}"), admin)
                .send()
                .await
                .expect("DELETE a subscriber");
            assert_eq!(response.status(), 204, "erasing {email}");
        }
    };
    let waiting = readers.last().expect("a reader").clone();
    assert!(!copies_by_reader(&app).await.contains_key(&waiting));
    erase(waiting).await;
    let progress = sender.finished(&app, issue).await;
    assert_eq!(progress["counts"]["sent"], 29, "{progress}");
    let first = copies_by_reader(&app)
        .await
        .into_keys()
        .min()
        .expect("a copy arrived");
    erase(first).await;
    let progress = sender.progress(&app, issue).await;
    assert_eq!(progress["counts"]["sent"], 28, "{progress}");
    assert_eq!(progress["counts"]["total"], 28, "{progress}");
    let tallied = app.db.tallied_counts(issue).await;
    assert_eq!((tallied.sent, tallied.total), (28, 28));
}

/// While an issue goes out, the dashboard's figures are counted every few
/// seconds rather than at each view, and it says when; once the send is
/// over they are counted at each view again.
async fn the_dashboard_says_when_its_figures_were_counted_during_a_send(backend: Backend) {
    let (app, sender, issue, _) = send_under_way(backend, 40, 20, 3).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let confirmed =
        |n: usize| format!("<div class=\"n\">{n}</div><div class=\"label\">confirmed</div>");

    let (status, dashboard) = admin.get_page("/admin").await;
    assert_eq!(status, 200);
    assert!(
        dashboard.contains("An issue is going out: these figures were counted at"),
        "{dashboard}"
    );
    assert!(dashboard.contains(&confirmed(40)), "{dashboard}");

    app.add_subscribers(1, SubscriberStatus::Confirmed, "late")
        .await;
    sender.finished(&app, issue).await;
    let (_, dashboard) = admin.get_page("/admin").await;
    assert!(
        !dashboard.contains("these figures were counted at"),
        "{dashboard}"
    );
    assert!(dashboard.contains(&confirmed(41)), "{dashboard}");
}

async fn a_confirmation_goes_out_ahead_of_a_bulk_send(backend: Backend) {
    let (app, sender, issue, _) = send_under_way(backend, 60, 20, 3).await;

    assert_eq!(app.sign_up("newcomer@example.com", "").await.status(), 200);
    let confirmation = app.next_mail_to("newcomer@example.com", 0).await;
    assert!(confirmation.text.contains("/subscriptions/confirm?token="));
    let progress = sender.progress(&app, issue).await;
    assert_eq!(
        progress["status"], "sending",
        "the confirmation waited for the whole send: {progress}"
    );
    sender.finished(&app, issue).await;
}

async fn a_restart_mid_send_finishes_it_without_duplicates(backend: Backend) {
    let (app, _, issue, _) = send_under_way(backend, 50, 25, 5).await;

    let app = app.restart().await;
    let sender = Sender::new(&app).await;
    let progress = sender.finished(&app, issue).await;
    assert_eq!(progress["status"], "sent", "{progress}");
    assert_eq!(progress["counts"]["sent"], 50, "{progress}");
    let copies = copies_by_reader(&app).await;
    assert_eq!(copies.len(), 50);
    assert!(
        copies.values().all(|mails| mails.len() == 1),
        "a graceful restart sent something twice"
    );
}

/// An issue with no intro and no items is refused by the API, the send page
/// and the send button alike; nothing is queued and it stays a draft.
async fn an_issue_with_nothing_to_read_is_never_sent(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_subscribers(5, SubscriberStatus::Confirmed, "reader")
        .await;
    let sender = Sender::new(&app).await;
    let (status, issue) = sender
        .call(
            &app,
            Method::POST,
            "/api/v1/issues",
            Some(json!({"subject": "Nothing yet", "intro": "  ", "items": []})),
        )
        .await;
    assert_eq!(status, 201, "{issue}");
    let issue = issue["id"].as_i64().expect("id");

    let (status, refusal) = sender.control(&app, issue, "send").await;
    assert_eq!(status, 422, "{refusal}");
    assert!(
        refusal["error"]
            .as_str()
            .is_some_and(|e| e.contains("no intro and no items")),
        "{refusal}"
    );

    let editor = app.sign_in_as(Role::Editor).await;
    let (status, page) = editor
        .get_page(&format!("/admin/issues/{issue}/send"))
        .await;
    assert_eq!(status, 409);
    assert!(page.contains("no intro and no items"), "{page}");
    assert!(
        !page.contains("Send now"),
        "the send page offers to send: {page}"
    );
    let response = editor
        .post_form(&format!("/admin/issues/{issue}/send"), &[])
        .await;
    assert_eq!(response.status(), 409);

    assert_eq!(sender.progress(&app, issue).await["status"], "draft");
    assert_eq!(app.db.count("deliveries").await, 0, "nothing was queued");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        copies_by_reader(&app).await.is_empty(),
        "nobody got the empty issue"
    );
}

on_both_databases!(
    an_issue_with_nothing_to_read_is_never_sent,
    every_confirmed_subscriber_gets_one_copy_with_the_list_headers,
    pause_holds_the_send_and_resume_finishes_it,
    cancel_stops_the_send_and_marks_the_rest_cancelled,
    refused_recipients_fail_and_bounce_while_the_rest_go_out,
    throttled_messages_are_retried_until_all_are_delivered,
    a_reader_who_leaves_mid_send_gets_nothing_more,
    erasing_readers_takes_their_copies_off_the_progress,
    the_dashboard_says_when_its_figures_were_counted_during_a_send,
    a_confirmation_goes_out_ahead_of_a_bulk_send,
    a_restart_mid_send_finishes_it_without_duplicates,
);
