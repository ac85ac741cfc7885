//! The bounce mailbox against a real Dovecot: reports put into its INBOX
//! with IMAP APPEND are read by the real `herald worker` with
//! `HERALD_BOUNCE_MAILBOX` set, applied once, and moved out of the way.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use crate::on_both_databases;
use crate::support::dovecot::{Dovecot, DovecotTls, MailboxClient, PASSWORD};
use crate::support::{Backend, TestApp, MAIL_WAIT, TEST_SECRET};

const BOUNCE_ADDRESS: &str = "bounces@news.example.org";
/// Dovecot's hierarchy separator here is `.`.
const HANDLED: &str = "Herald.Handled";
/// Long enough that only IDLE explains a message handled within the wait.
const NO_POLLING: &str = "1h";
/// How long a report may take to be applied once in the mailbox.
const APPLY_WAIT: Duration = Duration::from_secs(30);

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
fn report_about(name: &str, verp: &str, reader: &str) -> Vec<u8> {
    crlf(
        &fixture(name)
            .replace(FIXTURE_VERP, verp)
            .replace(FIXTURE_READER, reader),
    )
}

/// Line ends as IMAP carries them.
fn crlf(text: &str) -> Vec<u8> {
    text.replace("\r\n", "\n")
        .replace('\n', "\r\n")
        .into_bytes()
}

/// Two confirmed readers (reader001/002@example.com) and an issue sent to
/// them through the API; the envelope sender (VERP) of each one's copy.
async fn two_readers_sent_an_issue(app: &TestApp) -> (String, String) {
    app.add_subscribers(
        2,
        herald::subscriptions::SubscriberStatus::Confirmed,
        "reader",
    )
    .await;
    crate::issues::send_with_api(app, &json!({"subject": "Return paths", "intro": "Hello."})).await;
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

async fn app_with_two_readers(backend: Backend) -> (TestApp, String, String) {
    let app = TestApp::spawn_with(backend, |config| {
        config.bounce_address = Some(BOUNCE_ADDRESS.parse().expect("an address"));
    })
    .await;
    let (first, second) = two_readers_sent_an_issue(&app).await;
    (app, first, second)
}

/// `herald worker` reading the mailbox at `url`, its log kept.
struct MailboxWorker {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl MailboxWorker {
    fn start(app: &TestApp, dovecot: &Dovecot, url: &str) -> Self {
        Self::start_with(app, dovecot, url, &[])
    }

    fn start_logging(app: &TestApp, dovecot: &Dovecot, url: &str, rust_log: &str) -> Self {
        Self::start_with(app, dovecot, url, &[("RUST_LOG", rust_log)])
    }

    /// With `env` on top of the usual environment.
    fn start_with(app: &TestApp, dovecot: &Dovecot, url: &str, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
            .arg("worker")
            .current_dir(app.db.dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &app.db.url)
            .env("SMTP_URL", app.smtp.url())
            .env("HERALD_SECRET", TEST_SECRET)
            .env("HERALD_BOUNCE_ADDRESS", BOUNCE_ADDRESS)
            .env("HERALD_BOUNCE_MAILBOX", url)
            .env("HERALD_BOUNCE_MAILBOX_CA_FILE", &dovecot.ca_file)
            .env("HERALD_BOUNCE_MAILBOX_POLL_INTERVAL", NO_POLLING)
            .env("HERALD_LOG_FORMAT", "text")
            .env("RUST_LOG", "warn,herald=info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start herald worker");
        let log = Arc::new(Mutex::new(String::new()));
        // The worker logs to standard output; errors at start go to standard error.
        let stdout = child.stdout.take().expect("its stdout");
        let stderr = child.stderr.take().expect("its stderr");
        keep_lines(stdout, log.clone());
        keep_lines(stderr, log.clone());
        Self { child, log }
    }

    fn log(&self) -> String {
        self.log.lock().expect("the log").clone()
    }

    /// Waits until `needle` has been logged `times` times; returns the log.
    async fn wait_for_log(&self, needle: &str, times: usize) -> String {
        let deadline = Instant::now() + APPLY_WAIT;
        loop {
            let log = self.log();
            if log.matches(needle).count() >= times {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "{needle:?} not logged {times} times within {APPLY_WAIT:?}; the log:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, as a service manager stops it, and waits for the end.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().expect("the worker ends");
        assert!(status.success(), "the worker stopped with {status}");
    }
}

fn keep_lines(output: impl std::io::Read + Send + 'static, log: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(output).lines().map_while(Result::ok) {
            let mut log = log.lock().expect("the log");
            log.push_str(&line);
            log.push('\n');
        }
    });
}

impl Drop for MailboxWorker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_for_status(app: &TestApp, reader: &str, status: &str, worker: &MailboxWorker) {
    let deadline = Instant::now() + APPLY_WAIT;
    while app.subscriber_status(reader).await.as_deref() != Some(status) {
        assert!(
            Instant::now() < deadline,
            "{reader} not {status} within {APPLY_WAIT:?}; the worker's log:\n{}",
            worker.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_for_count(mailbox: &mut MailboxClient, folder: &str, count: u32) {
    let deadline = Instant::now() + APPLY_WAIT;
    loop {
        let now = mailbox.count(folder).await;
        if now == count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{folder} holds {now} messages, not {count}, after {APPLY_WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn bounced_events(app: &TestApp, reader: &str) -> usize {
    app.db
        .events(reader)
        .await
        .iter()
        .filter(|(kind, _, _)| kind == "bounced")
        .count()
}

/// Over imaps: a hard bounce and a reader's reply wait in the INBOX; the
/// worker bounces that reader and nobody else, moves both messages out,
/// handles a complaint that arrives while it idles, and a second worker
/// run does not apply the same report again.
async fn a_report_in_the_mailbox_is_applied_once_and_moved_out(backend: Backend) {
    let Some(dovecot) = Dovecot::start(DovecotTls::On).await else {
        return;
    };
    let (app, first_verp, second_verp) = app_with_two_readers(backend).await;
    let mut mailbox = dovecot.client().await;
    let hard_bounce = report_about(
        "postfix-user-unknown.eml",
        &first_verp,
        "reader001@example.com",
    );
    mailbox.append("INBOX", &hard_bounce).await;
    mailbox
        .append("INBOX", &crlf(&fixture("human-reply.eml")))
        .await;

    let worker = MailboxWorker::start(&app, &dovecot, &dovecot.imaps_url(PASSWORD));
    wait_for_status(&app, "reader001@example.com", "bounced", &worker).await;
    wait_for_count(&mut mailbox, "INBOX", 0).await;
    assert_eq!(mailbox.count(HANDLED).await, 2, "both messages moved");
    assert!(mailbox.folders().await.contains(&HANDLED.to_owned()));
    assert_eq!(
        app.subscriber_status("reader002@example.com")
            .await
            .as_deref(),
        Some("confirmed"),
        "only the reader the report is about"
    );
    assert_eq!(
        app.db.count("bounce_reports").await,
        1,
        "the reply is no report"
    );
    let log = worker.log();
    assert!(log.contains("IDLE"), "{log}");
    assert!(!log.contains(PASSWORD), "the password was logged:\n{log}");

    // The worker idles now; a complaint arriving is handled at once
    // (polling is an hour away).
    let complaint = report_about("arf-abuse.eml", &second_verp, "reader002@example.com");
    mailbox.append("INBOX", &complaint).await;
    wait_for_status(&app, "reader002@example.com", "unsubscribed", &worker).await;
    wait_for_count(&mut mailbox, "INBOX", 0).await;
    assert_eq!(mailbox.count(HANDLED).await, 3);

    // The same report once more (a relay that sent it twice, or a message
    // put back), read by the next worker run: nothing is applied twice.
    worker.stop();
    mailbox.append("INBOX", &hard_bounce).await;
    let worker = MailboxWorker::start(&app, &dovecot, &dovecot.imaps_url(PASSWORD));
    worker.wait_for_log("duplicate: already handled", 1).await;
    wait_for_count(&mut mailbox, "INBOX", 0).await;
    assert_eq!(mailbox.count(HANDLED).await, 4);
    assert_eq!(app.db.count("bounce_reports").await, 2);
    assert_eq!(bounced_events(&app, "reader001@example.com").await, 1);
    worker.stop();
}

/// Over imap:// with STARTTLS: a wrong password is logged (without the
/// password), retried, and changes nothing; the right one reads the report.
async fn over_starttls_a_wrong_password_changes_nothing_and_the_right_one_reads(backend: Backend) {
    let Some(dovecot) = Dovecot::start(DovecotTls::On).await else {
        return;
    };
    let (app, first_verp, _) = app_with_two_readers(backend).await;
    let mut mailbox = dovecot.client().await;
    let hard_bounce = report_about(
        "postfix-user-unknown.eml",
        &first_verp,
        "reader001@example.com",
    );
    mailbox.append("INBOX", &hard_bounce).await;

    let wrong = "not-the-password-7c1e";
    let mut worker = MailboxWorker::start(&app, &dovecot, &dovecot.imap_url(wrong));
    // Refused, then tried again after the backoff.
    let log = worker
        .wait_for_log(
            "the server refused the login of herald: [AUTHENTICATIONFAILED]",
            2,
        )
        .await;
    assert!(!log.contains(wrong), "the password was logged:\n{log}");
    assert!(worker.is_running(), "a refused login stops nothing");
    assert_eq!(mailbox.count("INBOX").await, 1, "the report stays");
    assert_eq!(app.db.count("bounce_reports").await, 0);
    assert_eq!(
        app.subscriber_status("reader001@example.com")
            .await
            .as_deref(),
        Some("confirmed")
    );
    worker.stop();

    // An operator debugging the connection asks for the IMAP library's
    // trace, which would show each command sent, LOGIN too.
    let worker = MailboxWorker::start_logging(
        &app,
        &dovecot,
        &dovecot.imap_url(PASSWORD),
        "info,async_imap=trace",
    );
    wait_for_status(&app, "reader001@example.com", "bounced", &worker).await;
    wait_for_count(&mut mailbox, "INBOX", 0).await;
    assert_eq!(mailbox.count(HANDLED).await, 1);
    let log = worker.log();
    assert!(log.contains("bounce mailbox: reading"), "{log}");
    assert!(
        !log.contains(PASSWORD) && !log.contains("LOGIN"),
        "the login was logged:\n{log}"
    );
    worker.stop();
}

/// Two workers reading one mailbox at once (two `herald worker`
/// processes on one database): each report is applied once and every
/// message leaves the INBOX for the handled folder.
async fn two_workers_on_one_mailbox_apply_each_report_once(backend: Backend) {
    let Some(dovecot) = Dovecot::start(DovecotTls::On).await else {
        return;
    };
    let (app, first_verp, second_verp) = app_with_two_readers(backend).await;
    let mut mailbox = dovecot.client().await;
    let url = dovecot.imaps_url(PASSWORD);
    let first = MailboxWorker::start(&app, &dovecot, &url);
    let second = MailboxWorker::start(&app, &dovecot, &url);
    first.wait_for_log("bounce mailbox: reading", 1).await;
    second.wait_for_log("bounce mailbox: reading", 1).await;
    mailbox
        .append(
            "INBOX",
            &report_about(
                "postfix-user-unknown.eml",
                &first_verp,
                "reader001@example.com",
            ),
        )
        .await;
    for n in 1..=3 {
        let soft = report_about("expired.eml", &second_verp, "reader002@example.com");
        let soft = String::from_utf8(soft)
            .expect("text")
            .replace("dsn-expired-1@", &format!("dsn-expired-{n}@"));
        mailbox.append("INBOX", soft.as_bytes()).await;
    }
    wait_for_status(&app, "reader001@example.com", "bounced", &first).await;
    wait_for_count(&mut mailbox, "INBOX", 0).await;
    // Two workers moving one message at the same instant may each leave a
    // copy (the server copies, then expunges); its report counts once.
    let moved: std::collections::BTreeSet<String> =
        mailbox.message_ids(HANDLED).await.into_iter().collect();
    assert_eq!(moved.len(), 4, "{moved:?}");
    assert_eq!(app.db.count("bounce_reports").await, 4);
    assert_eq!(bounced_events(&app, "reader001@example.com").await, 1);
    assert_eq!(
        app.subscriber_status("reader002@example.com")
            .await
            .as_deref(),
        Some("confirmed"),
        "3 soft bounces of 5"
    );
    first.stop();
    second.stop();
}

/// A server that offers neither IDLE nor MOVE (only what RFC 3501 and
/// UIDPLUS give): the worker polls, and moves by COPY, `\Deleted` and UID
/// EXPUNGE.
async fn without_idle_or_move_the_worker_polls_and_copies(backend: Backend) {
    let Some(dovecot) = Dovecot::start_with(
        DovecotTls::On,
        "imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE LITERAL+ UIDPLUS",
    )
    .await
    else {
        return;
    };
    let (app, first_verp, _) = app_with_two_readers(backend).await;
    let mut mailbox = dovecot.client().await;
    let worker = MailboxWorker::start_with(
        &app,
        &dovecot,
        &dovecot.imaps_url(PASSWORD),
        &[("HERALD_BOUNCE_MAILBOX_POLL_INTERVAL", "1s")],
    );
    worker.wait_for_log("polling", 1).await;
    mailbox
        .append(
            "INBOX",
            &report_about(
                "postfix-user-unknown.eml",
                &first_verp,
                "reader001@example.com",
            ),
        )
        .await;
    wait_for_status(&app, "reader001@example.com", "bounced", &worker).await;
    wait_for_count(&mut mailbox, "INBOX", 0).await;
    assert_eq!(mailbox.count(HANDLED).await, 1);
    assert!(!worker.log().contains("IDLE"), "{}", worker.log());
    worker.stop();
}

on_both_databases!(
    without_idle_or_move_the_worker_polls_and_copies,
    a_report_in_the_mailbox_is_applied_once_and_moved_out,
    two_workers_on_one_mailbox_apply_each_report_once,
    over_starttls_a_wrong_password_changes_nothing_and_the_right_one_reads,
);

/// `imap://` to a server that offers no STARTTLS: a clear error, and the
/// password never crosses the wire (Dovecot saw no login attempt).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_starttls_never_gets_the_password() {
    let Some(dovecot) = Dovecot::start(DovecotTls::Off).await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let worker = MailboxWorker::start(&app, &dovecot, &dovecot.imap_url(PASSWORD));
    let log = worker.wait_for_log("does not offer STARTTLS", 1).await;
    assert!(!log.contains(PASSWORD), "{log}");
    let deadline = Instant::now() + APPLY_WAIT;
    let server_log = loop {
        let server_log = dovecot.log();
        if server_log.contains("no auth attempts") || Instant::now() > deadline {
            break server_log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        server_log.contains("no auth attempts") && !server_log.contains("Login:"),
        "Dovecot saw a login attempt:\n{server_log}"
    );
    worker.stop();
}
