//! Hearing back: with `HERALD_BOUNCE_ADDRESS` set, every copy and signup mail
//! leaves with its own VERP envelope sender, which names that very message
//! to Herald and to nobody else; `herald bounces ingest` (the real binary)
//! reads what comes back and applies it once.

mod send_time;

use std::io::Write;
use std::process::{Command, Stdio};

use sqlx::Row;

use herald::bounces::{ReturnPath, ReturnTarget};
use herald::config::SecretKey;
use secrecy::SecretString;
use serde_json::json;

use crate::on_both_databases;

mod bad_input;
use crate::support::{Backend, TestApp, MAIL_WAIT, TEST_SECRET};

const BOUNCE_ADDRESS: &str = "bounces@news.example.org";

async fn app_with_bounce_address(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |config| {
        config.bounce_address = Some(BOUNCE_ADDRESS.parse().expect("an address"));
    })
    .await
}

/// Creates an issue and sends it through the API; waits until it is sent.
async fn send_an_issue(app: &TestApp) -> i64 {
    crate::issues::send_with_api(app, &json!({"subject": "Return paths", "intro": "Hello."})).await
}

async fn each_mail_leaves_with_a_verp_sender_that_names_it(backend: Backend) {
    let app = app_with_bounce_address(backend).await;
    let reader = "reader@example.org";
    app.subscribed_reader(reader).await;
    let issue_id = send_an_issue(&app).await;
    let subscriber_id = app.db.subscriber_id(reader).await;

    let received = app.smtp.wait_for_messages(3, MAIL_WAIT).await;
    let key = SecretKey::from_secret(&SecretString::from(TEST_SECRET));
    let return_path = ReturnPath::new(BOUNCE_ADDRESS.parse().expect("an address"));
    let targets: Vec<ReturnTarget> = received
        .iter()
        .map(|message| {
            assert_eq!(message.rcpt_to, vec![reader.to_owned()]);
            assert!(
                message.mail_from.starts_with("bounces+")
                    && message.mail_from.ends_with("@news.example.org"),
                "MAIL FROM:<{}>",
                message.mail_from
            );
            let headers = String::from_utf8_lossy(&message.data);
            let from = headers
                .lines()
                .find(|line| line.starts_with("From:"))
                .expect("a From header");
            assert!(
                !from.contains("bounces"),
                "the From header stays the newsletter's: {from}"
            );
            return_path
                .target_of(&key, &message.mail_from)
                .unwrap_or_else(|| panic!("{} names no message", message.mail_from))
        })
        .collect();
    assert_eq!(
        targets,
        vec![
            ReturnTarget::Confirmation { subscriber_id },
            ReturnTarget::Welcome { subscriber_id },
            ReturnTarget::IssueCopy {
                issue_id,
                subscriber_id
            },
        ]
    );

    let other_key = SecretKey::from_secret(&SecretString::from(
        "another-secret-that-is-long-enough-0123456789",
    ));
    assert_eq!(
        return_path.target_of(&other_key, &received[2].mail_from),
        None,
        "only the key that made a token reads it"
    );
}

async fn without_a_bounce_address_the_envelope_sender_is_the_from_address(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.subscribed_reader("reader@example.org").await;
    let received = app.smtp.wait_for_messages(2, MAIL_WAIT).await;
    assert_eq!(received[0].mail_from, app.config.from.email.to_string());
    let header = list_unsubscribe(&received[1].data);
    assert!(
        header.starts_with("<http") && !header.contains("mailto:"),
        "no mailto without a bounce mailbox: {header}"
    );
}

/// `List-Unsubscribe` of a captured message, unfolded.
fn list_unsubscribe(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data).replace("\r\n ", " ");
    text.lines()
        .find_map(|line| line.strip_prefix("List-Unsubscribe: "))
        .unwrap_or_else(|| panic!("no List-Unsubscribe in {text}"))
        .to_owned()
}

/// The welcome and every copy offer a `mailto:` beside the https link; a
/// mail to it takes the reader off the list, once.
async fn a_mail_to_the_list_unsubscribe_address_takes_the_reader_off_once(backend: Backend) {
    let app = app_with_bounce_address(backend).await;
    let reader = "reader@example.org";
    app.subscribed_reader(reader).await;
    send_an_issue(&app).await;
    let subscriber_id = app.db.subscriber_id(reader).await;
    let received = app.smtp.wait_for_messages(3, MAIL_WAIT).await;
    let key = SecretKey::from_secret(&SecretString::from(TEST_SECRET));
    let return_path = ReturnPath::new(BOUNCE_ADDRESS.parse().expect("an address"));
    let mut mailtos = Vec::new();
    for message in &received[1..] {
        let header = list_unsubscribe(&message.data);
        let (https, mailto) = header
            .split_once(", ")
            .unwrap_or_else(|| panic!("one entry only: {header}"));
        assert!(https.starts_with("<http"), "the web link first: {header}");
        let address = mailto
            .strip_prefix("<mailto:")
            .and_then(|rest| rest.strip_suffix('>'))
            .unwrap_or_else(|| panic!("no mailto: {header}"));
        assert_eq!(
            return_path.target_of(&key, address),
            Some(ReturnTarget::Unsubscribe { subscriber_id })
        );
        mailtos.push(address.to_owned());
    }
    assert_eq!(mailtos[0], mailtos[1], "one address per reader");
    assert_ne!(
        mailtos[0], received[2].mail_from,
        "not the copy's return path"
    );

    let request = format!(
        "From: {reader}\r\nTo: {}\r\nSubject: unsubscribe\r\n\
         Message-ID: <leave-1@example.org>\r\n\r\nunsubscribe\r\n",
        mailtos[0]
    );
    let outcome = ingest(&app, &request);
    assert_eq!(
        (outcome.stdout.as_str(), outcome.code),
        (
            "unsubscribe by mail: reader@example.org unsubscribed",
            Some(0)
        )
    );
    assert_eq!(
        app.subscriber_status(reader).await.as_deref(),
        Some("unsubscribed")
    );
    assert_eq!(ingest(&app, &request).stdout, "duplicate: already handled");
}

/// The address the hand-written fixtures were sent from and about.
const FIXTURE_VERP: &str = "bounces+abcdefghijklmnopqrstuvwxyz23456@news.example.org";
const FIXTURE_READER: &str = "reader@example.org";

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/bounces/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A fixture as if it came back from `verp` about `reader`.
fn report_about(name: &str, verp: &str, reader: &str) -> String {
    fixture(name)
        .replace(FIXTURE_VERP, verp)
        .replace(FIXTURE_READER, reader)
}

/// What `herald bounces ingest` printed, and its exit code.
struct Ingested {
    stdout: String,
    code: Option<i32>,
}

/// Runs the real binary on `message` through standard input, as an MTA's
/// pipe transport does.
fn ingest_with(database_url: &str, bounce_address: Option<&str>, message: &[u8]) -> Ingested {
    let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
    command
        .args(["bounces", "ingest"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env("HERALD_SECRET", TEST_SECRET)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(address) = bounce_address {
        command.env("HERALD_BOUNCE_ADDRESS", address);
    }
    let mut child = command.spawn().expect("start herald bounces ingest");
    let mut stdin = child.stdin.take().expect("stdin");
    let message = message.to_vec();
    let writer = std::thread::spawn(move || {
        // A closed pipe is the command's business; the exit code tells.
        let _ = stdin.write_all(&message);
    });
    let output = child.wait_with_output().expect("herald bounces ingest ran");
    writer.join().expect("the writer thread");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    Ingested {
        stdout: String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        code: output.status.code(),
    }
}

fn ingest(app: &TestApp, message: &str) -> Ingested {
    ingest_with(&app.db.url, Some(BOUNCE_ADDRESS), message.as_bytes())
}

/// Two confirmed readers and one issue sent to them; the envelope sender
/// of each reader's copy.
async fn two_readers_sent_an_issue(app: &TestApp) -> (String, String) {
    app.add_subscribers(
        2,
        herald::subscriptions::SubscriberStatus::Confirmed,
        "reader",
    )
    .await;
    send_an_issue(app).await;
    let received = app.smtp.wait_for_messages(2, MAIL_WAIT).await;
    let sender_to = |reader: &str| {
        received
            .iter()
            .find(|message| message.rcpt_to == [reader.to_owned()])
            .map(|message| message.mail_from.clone())
            .unwrap_or_else(|| panic!("no copy to {reader}"))
    };
    (
        sender_to("reader001@example.com"),
        sender_to("reader002@example.com"),
    )
}

async fn event_notes(app: &TestApp, email: &str, kind: &str) -> Vec<String> {
    let mut conn = app.db.connect().await;
    sqlx::query(
        "SELECT e.note FROM subscriber_events e JOIN subscribers s ON s.id = e.subscriber_id \
         WHERE s.email = $1 AND e.kind = $2 ORDER BY e.id",
    )
    .bind(email)
    .bind(kind)
    .fetch_all(&mut conn)
    .await
    .expect("query events")
    .iter()
    .map(|row| row.get::<Option<String>, _>("note").unwrap_or_default())
    .collect()
}

async fn a_hard_bounce_bounces_its_reader_once_and_nobody_else(backend: Backend) {
    let app = app_with_bounce_address(backend).await;
    let (verp, _) = two_readers_sent_an_issue(&app).await;
    let dsn = report_about("postfix-user-unknown.eml", &verp, "reader001@example.com");

    let first = ingest(&app, &dsn);
    assert_eq!(first.code, Some(0), "{}", first.stdout);
    assert!(
        first
            .stdout
            .starts_with("hard bounce: reader001@example.com bounced (5.1.1 550 5.1.1"),
        "{}",
        first.stdout
    );
    assert_eq!(
        app.subscriber_status("reader001@example.com")
            .await
            .as_deref(),
        Some("bounced")
    );
    let notes = event_notes(&app, "reader001@example.com", "bounced").await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("User unknown"), "{notes:?}");
    assert_eq!(
        app.subscriber_status("reader002@example.com")
            .await
            .as_deref(),
        Some("confirmed")
    );

    let again = ingest(&app, &dsn);
    assert_eq!(again.code, Some(0));
    assert_eq!(again.stdout, "duplicate: already handled");
    assert_eq!(app.db.count("bounce_reports").await, 1);
    assert_eq!(
        event_notes(&app, "reader001@example.com", "bounced")
            .await
            .len(),
        1
    );
}

async fn a_forged_or_foreign_token_changes_nothing(backend: Backend) {
    let app = app_with_bounce_address(backend).await;
    let (verp, _) = two_readers_sent_an_issue(&app).await;
    let subscriber_id = app.db.subscriber_id("reader001@example.com").await;
    // A token the right shape, made with another key, for the right reader.
    let other_key = SecretKey::from_secret(&SecretString::from(
        "another-secret-that-is-long-enough-0123456789",
    ));
    let foreign = ReturnPath::new(BOUNCE_ADDRESS.parse().expect("an address"))
        .sender_for(&other_key, ReturnTarget::Welcome { subscriber_id })
        .expect("a sender")
        .to_string();
    let mut altered = verp.clone().into_bytes();
    let position = "bounces+".len() + 3;
    altered[position] = if altered[position] == b'a' {
        b'b'
    } else {
        b'a'
    };
    let altered = String::from_utf8(altered).expect("ascii");
    for (n, forged) in [foreign, altered].iter().enumerate() {
        let dsn = report_about("postfix-user-unknown.eml", forged, "reader001@example.com")
            .replace("dsn-hard-1@", &format!("forged-{n}@"));
        let outcome = ingest(&app, &dsn);
        assert_eq!(outcome.code, Some(0));
        assert_eq!(outcome.stdout, "ignored: unknown return token", "{forged}");
    }
    // Sent to the plain bounce mailbox about an address Herald never mailed.
    let stranger = report_about(
        "postfix-user-unknown.eml",
        BOUNCE_ADDRESS,
        "stranger@example.net",
    );
    assert_eq!(ingest(&app, &stranger).stdout, "ignored: no return token");
    assert_eq!(
        app.subscriber_status("reader001@example.com")
            .await
            .as_deref(),
        Some("confirmed")
    );
}

async fn soft_bounces_count_and_the_fifth_bounces(backend: Backend) {
    let app = app_with_bounce_address(backend).await;
    let (verp, _) = two_readers_sent_an_issue(&app).await;
    for n in 1..=5 {
        let dsn = report_about("expired.eml", &verp, "reader001@example.com")
            .replace("dsn-expired-1@", &format!("dsn-expired-{n}@"));
        let outcome = ingest(&app, &dsn);
        assert_eq!(outcome.code, Some(0));
        let status = app.subscriber_status("reader001@example.com").await;
        if n < 5 {
            assert_eq!(
                outcome.stdout,
                format!(
                    "soft bounce: reader001@example.com counted ({n} of 5 in 30 days) \
                     (4.4.7 421 4.4.7 Message expired: could not connect for 5 days)"
                )
            );
            assert_eq!(status.as_deref(), Some("confirmed"));
        } else {
            assert!(
                outcome
                    .stdout
                    .starts_with("soft bounce: reader001@example.com bounced"),
                "{}",
                outcome.stdout
            );
            assert_eq!(status.as_deref(), Some("bounced"));
        }
    }
}

async fn a_complaint_unsubscribes_its_reader(backend: Backend) {
    let app = app_with_bounce_address(backend).await;
    let (verp, _) = two_readers_sent_an_issue(&app).await;
    let arf = report_about("arf-abuse.eml", &verp, "reader001@example.com");
    let outcome = ingest(&app, &arf);
    assert_eq!(outcome.code, Some(0));
    assert_eq!(
        outcome.stdout,
        "complaint: reader001@example.com unsubscribed (feedback-type abuse)"
    );
    assert_eq!(
        app.subscriber_status("reader001@example.com")
            .await
            .as_deref(),
        Some("unsubscribed")
    );
    assert_eq!(
        event_notes(&app, "reader001@example.com", "complaint")
            .await
            .len(),
        1
    );
    // Policy refusals, delays and out-of-office answers only count.
    for (name, line) in [
        (
            "spamhaus-policy.eml",
            "policy bounce: reader002@example.com counted",
        ),
        ("delayed.eml", "delayed: reader002@example.com counted"),
    ] {
        let (_, verp_2) = senders_of_the_copies_sent(&app).await;
        let report = report_about(name, &verp_2, "reader002@example.com");
        let outcome = ingest(&app, &report);
        assert!(outcome.stdout.starts_with(line), "{}", outcome.stdout);
    }
    assert_eq!(
        app.subscriber_status("reader002@example.com")
            .await
            .as_deref(),
        Some("confirmed")
    );
}

/// The envelope senders of the two readers' copies already sent.
async fn senders_of_the_copies_sent(app: &TestApp) -> (String, String) {
    let received = app.smtp.messages().await;
    let sender_to = |reader: &str| {
        received
            .iter()
            .find(|message| message.rcpt_to == [reader.to_owned()])
            .map(|message| message.mail_from.clone())
            .unwrap_or_else(|| panic!("no copy to {reader}"))
    };
    (
        sender_to("reader001@example.com"),
        sender_to("reader002@example.com"),
    )
}

async fn without_a_token_the_final_recipient_of_a_recent_copy_is_attributed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (from, _) = two_readers_sent_an_issue(&app).await;
    let dsn = report_about("sendmail-vague-status.eml", &from, "reader001@example.com");
    let outcome = ingest_with(&app.db.url, None, dsn.as_bytes());
    assert!(
        outcome
            .stdout
            .starts_with("hard bounce: reader001@example.com bounced (5.1.1"),
        "{}",
        outcome.stdout
    );
    // About an address Herald never mailed: nobody's report.
    let stranger = report_about("postfix-user-unknown.eml", &from, "stranger@example.net");
    assert_eq!(
        ingest_with(&app.db.url, None, stranger.as_bytes()).stdout,
        "ignored: no attribution"
    );
    assert_eq!(
        app.subscriber_status("reader002@example.com")
            .await
            .as_deref(),
        Some("confirmed")
    );
}

/// With VERP on, a report without a token is not taken on its word, even
/// when it names a reader Herald just mailed: anyone can write one.
async fn with_verp_on_a_report_without_a_token_changes_nothing(backend: Backend) {
    let app = app_with_bounce_address(backend).await;
    two_readers_sent_an_issue(&app).await;
    let dsn = report_about(
        "sendmail-vague-status.eml",
        BOUNCE_ADDRESS,
        "reader001@example.com",
    );
    let outcome = ingest(&app, &dsn);
    assert_eq!(outcome.stdout, "ignored: no return token");
    assert_eq!(outcome.code, Some(0));
    assert_eq!(
        app.subscriber_status("reader001@example.com")
            .await
            .as_deref(),
        Some("confirmed")
    );
}

async fn garbage_and_oversized_messages_are_ignored(backend: Backend) {
    let app = app_with_bounce_address(backend).await;
    let garbage: Vec<u8> = (0..100_000u32)
        .map(|n| (n.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let outcome = ingest_with(&app.db.url, Some(BOUNCE_ADDRESS), &garbage);
    assert_eq!(
        (outcome.code, outcome.stdout.as_str()),
        (Some(0), "ignored: not a bounce")
    );
    let mut huge = fixture("postfix-user-unknown.eml").into_bytes();
    huge.resize(10 * 1024 * 1024 + 1, b'x');
    let outcome = ingest_with(&app.db.url, Some(BOUNCE_ADDRESS), &huge);
    assert_eq!(
        (outcome.code, outcome.stdout.as_str()),
        (Some(0), "ignored: too large")
    );
    assert_eq!(app.db.count("bounce_reports").await, 0);
}

/// The Message-ID header of a captured message.
fn message_id_of(message: &crate::support::smtp_server::ReceivedMessage) -> String {
    crate::support::mail::Mail::from_received(message)
        .header("Message-ID")
        .expect("a Message-ID")
        .to_owned()
}

/// Every mail to a reader carries a Message-ID that names it to Herald
/// alone; a copy's is the same on every attempt, signup mails' are unique.
async fn message_ids_name_their_mail_with_or_without_verp(backend: Backend) {
    for bounce_address in [None, Some(BOUNCE_ADDRESS)] {
        let app = TestApp::spawn_with(backend, |config| {
            config.bounce_address = bounce_address.map(|a| a.parse().expect("an address"));
        })
        .await;
        let reader = "reader@example.org";
        app.subscribed_reader(reader).await;
        let issue_id = send_an_issue(&app).await;
        let subscriber_id = app.db.subscriber_id(reader).await;
        let received = app.smtp.wait_for_messages(3, MAIL_WAIT).await;
        let key = SecretKey::from_secret(&SecretString::from(TEST_SECRET));
        let ids: Vec<String> = received.iter().map(message_id_of).collect();
        let named: Vec<Option<ReturnTarget>> = ids
            .iter()
            .map(|id| herald::bounces::target_of_message_id(&key, id))
            .collect();
        assert_eq!(
            named,
            vec![
                Some(ReturnTarget::Confirmation { subscriber_id }),
                Some(ReturnTarget::Welcome { subscriber_id }),
                Some(ReturnTarget::IssueCopy {
                    issue_id,
                    subscriber_id
                }),
            ],
            "{ids:?}"
        );
        assert!(
            ids[2].starts_with(&format!("<issue-{issue_id}.")),
            "{}",
            ids[2]
        );
        let other_key = SecretKey::from_secret(&SecretString::from(
            "another-secret-that-is-long-enough-0123456789",
        ));
        assert_eq!(
            herald::bounces::target_of_message_id(&other_key, &ids[2]),
            None
        );
    }
}

/// An ARF report a feedback loop mails to the plain bounce address (no
/// token) is about the copy whose keyed Message-ID it quotes; a forged
/// Message-ID changes nothing.
async fn a_complaint_without_a_token_is_attributed_by_the_keyed_message_id(backend: Backend) {
    let app = app_with_bounce_address(backend).await;
    two_readers_sent_an_issue(&app).await;
    let received = app.smtp.messages().await;
    let copy_to = |reader: &str| {
        received
            .iter()
            .find(|message| message.rcpt_to == [reader.to_owned()])
            .map(message_id_of)
            .unwrap_or_else(|| panic!("no copy to {reader}"))
    };
    let original = copy_to("reader001@example.com");
    let fixture_original = "<issue-42.0123456789abcdef01234567@news.example.org>";

    // The forgery first: right shape, one character changed, and it names
    // reader002 as the complainer.
    let mut forged = copy_to("reader002@example.com").into_bytes();
    // Inside the token, which follows `<issue-N.`.
    let position = forged.iter().position(|b| *b == b'.').expect("a dot") + 3;
    forged[position] = if forged[position] == b'a' { b'b' } else { b'a' };
    let forged = String::from_utf8(forged).expect("ascii");
    let arf = report_about("arf-abuse.eml", BOUNCE_ADDRESS, "reader002@example.com")
        .replace(fixture_original, &forged)
        .replace("arf-0001@", "arf-forged@");
    assert_eq!(ingest(&app, &arf).stdout, "ignored: no return token");
    assert_eq!(
        app.subscriber_status("reader002@example.com")
            .await
            .as_deref(),
        Some("confirmed")
    );

    // The genuine one, whatever address it claims the complaint is about.
    let arf = report_about("arf-abuse.eml", BOUNCE_ADDRESS, "someone@example.net")
        .replace(fixture_original, &original);
    let outcome = ingest(&app, &arf);
    assert_eq!(
        (outcome.stdout.as_str(), outcome.code),
        (
            "complaint: reader001@example.com unsubscribed (feedback-type abuse)",
            Some(0)
        )
    );
    assert_eq!(
        app.subscriber_status("reader001@example.com")
            .await
            .as_deref(),
        Some("unsubscribed")
    );
    assert_eq!(
        app.subscriber_status("reader002@example.com")
            .await
            .as_deref(),
        Some("confirmed")
    );
    assert_eq!(ingest(&app, &arf).stdout, "duplicate: already handled");
}

/// Without VERP, a bounce quoting the keyed Message-ID (here of the
/// confirmation mail, in text/rfc822-headers) is that mail's, before any
/// Final-Recipient it names.
async fn without_verp_the_keyed_message_id_comes_before_the_final_recipient(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.sign_up("pending@example.org", "").await;
    app.add_subscribers(
        1,
        herald::subscriptions::SubscriberStatus::Confirmed,
        "reader",
    )
    .await;
    send_an_issue(&app).await;
    let received = app.smtp.wait_for_messages(2, MAIL_WAIT).await;
    let confirmation = received
        .iter()
        .find(|message| message.rcpt_to == ["pending@example.org".to_owned()])
        .expect("the confirmation mail");
    let dsn = report_about(
        "sendmail-vague-status.eml",
        app.config.from.email.as_ref(),
        "reader001@example.com",
    )
    .replace(
        "<issue-42.0123456789abcdef01234567@news.example.org>",
        &message_id_of(confirmation),
    );
    let outcome = ingest_with(&app.db.url, None, dsn.as_bytes());
    assert!(
        outcome
            .stdout
            .starts_with("hard bounce: pending@example.org bounced (5.1.1"),
        "{}",
        outcome.stdout
    );
    assert_eq!(
        app.subscriber_status("reader001@example.com")
            .await
            .as_deref(),
        Some("confirmed")
    );
}

#[test]
fn an_unreachable_database_asks_the_mta_to_try_again() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a port")
        .port();
    let url = format!("postgres://postgres@127.0.0.1:{closed}/herald");
    let outcome = ingest_with(
        &url,
        Some(BOUNCE_ADDRESS),
        fixture("postfix-user-unknown.eml").as_bytes(),
    );
    assert_eq!(outcome.code, Some(75), "EX_TEMPFAIL");
    assert_eq!(outcome.stdout, "");
}

on_both_databases!(
    each_mail_leaves_with_a_verp_sender_that_names_it,
    without_a_bounce_address_the_envelope_sender_is_the_from_address,
    with_verp_on_a_report_without_a_token_changes_nothing,
    a_mail_to_the_list_unsubscribe_address_takes_the_reader_off_once,
    a_hard_bounce_bounces_its_reader_once_and_nobody_else,
    a_forged_or_foreign_token_changes_nothing,
    soft_bounces_count_and_the_fifth_bounces,
    a_complaint_unsubscribes_its_reader,
    without_a_token_the_final_recipient_of_a_recent_copy_is_attributed,
    garbage_and_oversized_messages_are_ignored,
    message_ids_name_their_mail_with_or_without_verp,
    a_complaint_without_a_token_is_attributed_by_the_keyed_message_id,
    without_verp_the_keyed_message_id_comes_before_the_final_recipient,
);
