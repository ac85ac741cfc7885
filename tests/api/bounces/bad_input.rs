//! What anyone on the Internet can mail the bounce address, handed to the
//! real `herald bounces ingest` as an MTA hands it: messages at the size
//! limit, binary garbage inside a report, MIME nested hundreds of thousands
//! of levels, malformed DSN fields, huge header lines and made-up return
//! tokens. Each ends with exit 0 and its `ignored: …` line (or, for what the
//! classifier cannot read, at most a counted soft bounce), and no reader's
//! status or history changes. A hang is a failure: each run is killed after
//! a generous timeout, and its time is printed, not asserted.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::Row;

use super::{app_with_bounce_address, two_readers_sent_an_issue, BOUNCE_ADDRESS};
use crate::on_both_databases;
use crate::support::{Backend, TestApp, TEST_SECRET};

/// Far beyond what a debug build needs for 10 MB on a busy machine: only a
/// hang gets there.
const HANG_LIMIT: Duration = Duration::from_secs(120);
/// `MAX_MESSAGE_SIZE`: a message of this size is still read.
const SIZE_LIMIT: usize = 10 * 1024 * 1024;

/// How the message reaches the command.
enum Input<'a> {
    Stdin(&'a [u8]),
    /// `herald bounces ingest FILE`, as from a .forward or a script.
    File(&'a std::path::Path),
}

struct Run<'a> {
    label: &'a str,
    database_url: &'a str,
    bounce_address: Option<&'a str>,
    /// `--recipient`, as Postfix's pipe passes `${original_recipient}`.
    recipient: Option<&'a str>,
    input: Input<'a>,
}

/// The command's stdout line and exit code; panics on a hang or a crash.
async fn ingest_guarded(run: Run<'_>) -> (String, Option<i32>) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
    command
        .args(["bounces", "ingest"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", run.database_url)
        .env("HERALD_SECRET", TEST_SECRET)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(address) = run.bounce_address {
        command.env("HERALD_BOUNCE_ADDRESS", address);
    }
    if let Some(recipient) = run.recipient {
        command.args(["--recipient", recipient]);
    }
    let stdin = match run.input {
        Input::Stdin(message) => {
            command.stdin(Stdio::piped());
            Some(message.to_vec())
        }
        Input::File(path) => {
            command.arg(path).stdin(Stdio::null());
            None
        }
    };
    let label = run.label.to_owned();
    let started = Instant::now();
    let (stdout, stderr, code) = tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().expect("start herald bounces ingest");
        let writer = stdin.map(|message| {
            let mut pipe = child.stdin.take().expect("stdin is piped");
            // A closed pipe is the command's business; its exit code tells.
            std::thread::spawn(move || drop(pipe.write_all(&message)))
        });
        let readers = [
            read_all(child.stdout.take().expect("stdout is piped")),
            read_all(child.stderr.take().expect("stderr is piped")),
        ];
        let status = loop {
            if let Some(status) = child.try_wait().expect("ask whether ingest ended") {
                break status;
            }
            if started.elapsed() > HANG_LIMIT {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{label}: herald bounces ingest still ran after {HANG_LIMIT:?}: a hang");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if let Some(writer) = writer {
            writer.join().expect("the writer thread");
        }
        let [stdout, stderr] = readers.map(|reader| reader.join().expect("a reader thread"));
        (stdout, stderr, status.code())
    })
    .await
    .expect("the ingest thread");
    eprintln!(
        "{}: {:.2?}: {}",
        run.label,
        started.elapsed(),
        stdout.trim()
    );
    assert!(
        code.is_some() && !stderr.contains("panicked") && !stderr.contains("overflow"),
        "{}: herald bounces ingest crashed ({code:?}): {stderr}",
        run.label
    );
    (stdout.trim().to_owned(), code)
}

fn read_all(mut stream: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Every reader's status and the number of events in their history.
async fn readers_state(app: &TestApp) -> Vec<(String, String, i64)> {
    let mut conn = app.db.connect().await;
    sqlx::query(
        "SELECT s.email, s.status, \
         (SELECT COUNT(*) FROM subscriber_events e WHERE e.subscriber_id = s.id) AS events \
         FROM subscribers s ORDER BY s.email",
    )
    .fetch_all(&mut conn)
    .await
    .expect("read the readers")
    .iter()
    .map(|row| (row.get("email"), row.get("status"), row.get("events")))
    .collect()
}

/// Runs each case through standard input, with `HERALD_BOUNCE_ADDRESS`
/// set, and checks its line, its exit code and that no reader changed.
async fn each_ignored(app: &TestApp, cases: &[(&str, Option<&str>, Vec<u8>, &str)]) {
    for (label, recipient, message, expected) in cases {
        let before = readers_state(app).await;
        let (stdout, code) = ingest_guarded(Run {
            label,
            database_url: &app.db.url,
            bounce_address: Some(BOUNCE_ADDRESS),
            recipient: *recipient,
            input: Input::Stdin(message),
        })
        .await;
        assert_eq!((stdout.as_str(), code), (*expected, Some(0)), "{label}");
        assert_eq!(
            readers_state(app).await,
            before,
            "{label}: a reader changed"
        );
    }
}

/// A DSN about `reader` to `to`, in RFC 3464 form, with `recipient_fields`
/// as the per-recipient group and `rest` (further parts) before the end.
fn dsn(to: &str, recipient_fields: &str, rest: &str) -> String {
    format!(
        "From: MAILER-DAEMON@relay.example.net\r\n\
         To: {to}\r\n\
         Subject: Undelivered Mail Returned to Sender\r\n\
         Message-ID: <{id:016x}@relay.example.net>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"REPORT\"\r\n\
         \r\n\
         --REPORT\r\n\
         Content-Type: text/plain\r\n\
         \r\n\
         Your message could not be delivered.\r\n\
         --REPORT\r\n\
         Content-Type: message/delivery-status\r\n\
         \r\n\
         Reporting-MTA: dns; relay.example.net\r\n\
         \r\n\
         {recipient_fields}\r\n\
         {rest}\
         --REPORT--\r\n",
        id = rand::random::<u64>(),
    )
}

/// A DSN about `reader` to `to` with a returned original of `size` bytes.
fn dsn_with_original(to: &str, reader: &str, size: usize) -> Vec<u8> {
    let line = format!("{}\r\n", "x".repeat(76));
    let body = line.repeat(size / line.len());
    dsn(
        to,
        &format!("Final-Recipient: rfc822; {reader}\r\nAction: failed\r\nStatus: 5.1.1\r\n"),
        &format!(
            "--REPORT\r\nContent-Type: message/rfc822\r\n\r\n\
             From: news@news.example.org\r\nTo: {reader}\r\nSubject: This week\r\n\r\n{body}"
        ),
    )
    .into_bytes()
}

/// Pseudo-random bytes (NUL, CR, LF and invalid UTF-8 among them), the
/// same every run.
fn garbage(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 56) as u8
        })
        .collect()
}

/// A message nested `levels` deep, each level `open(n)`, the innermost a
/// plain text; `close(n)` ends each level (multipart boundaries).
fn nested(
    to: &str,
    levels: usize,
    open: impl Fn(usize) -> String,
    close: impl Fn(usize) -> String,
) -> Vec<u8> {
    let mut message = format!("From: someone@example.net\r\nTo: {to}\r\nMIME-Version: 1.0\r\n");
    for level in 0..levels {
        message.push_str(&open(level));
    }
    message.push_str("Content-Type: text/plain\r\n\r\nhello\r\n");
    for level in (0..levels).rev() {
        message.push_str(&close(level));
    }
    message.into_bytes()
}

async fn size_limit_and_binary_garbage_in_a_report_change_nothing(backend: Backend) {
    let app = app_with_bounce_address(backend).await;
    let (verp, _) = two_readers_sent_an_issue(&app).await;
    let reader = "reader001@example.com";

    // Just under the limit, so read whole: a forged report (no token)
    // naming a reader, with a returned original of almost 10 MB.
    let at_limit = dsn_with_original(BOUNCE_ADDRESS, reader, SIZE_LIMIT - 4096);
    assert!(at_limit.len() <= SIZE_LIMIT && at_limit.len() > SIZE_LIMIT - 8192);

    // A report to the reader's genuine return path whose status part is
    // binary garbage, and one whose whole body is.
    let mut garbage_status = dsn(&verp, "", "").into_bytes();
    let at = garbage_status
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .expect("a header end");
    let status_part = find(&garbage_status, b"Reporting-MTA").expect("the status part");
    garbage_status.splice(status_part..status_part, garbage(200_000, 7));
    let mut garbage_body = garbage_status[..at + 4].to_vec();
    garbage_body.extend(garbage(2_000_000, 11));

    each_ignored(
        &app,
        &[
            (
                "a forged report at the size limit",
                None,
                at_limit,
                "ignored: no return token",
            ),
            (
                "binary garbage in the status part",
                Some(verp.as_str()),
                garbage_status,
                "ignored: not a bounce",
            ),
            (
                "a body of binary garbage",
                Some(verp.as_str()),
                garbage_body,
                "ignored: not a bounce",
            ),
        ],
    )
    .await;

    // One byte over, from a file (the standard input case is covered above).
    let oversized = app.db.dir.path().join("oversized.eml");
    let mut message = dsn_with_original(&verp, reader, SIZE_LIMIT);
    message.resize(SIZE_LIMIT + 1, b'x');
    std::fs::write(&oversized, &message).expect("write the oversized message");
    let before = readers_state(&app).await;
    let (stdout, code) = ingest_guarded(Run {
        label: "a genuine report one byte over the limit, from a file",
        database_url: &app.db.url,
        bounce_address: Some(BOUNCE_ADDRESS),
        recipient: Some(&verp),
        input: Input::File(&oversized),
    })
    .await;
    assert_eq!((stdout.as_str(), code), ("ignored: too large", Some(0)));
    assert_eq!(readers_state(&app).await, before);
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Nesting that a 10 MB message allows: message/rfc822 inside
/// message/rfc822 (each level a nested message of its own) and
/// multipart/mixed inside multipart/mixed, to a genuine return path.
async fn mime_nested_hundreds_of_thousands_deep_is_not_a_bounce(backend: Backend) {
    let app = app_with_bounce_address(backend).await;
    let (verp, _) = two_readers_sent_an_issue(&app).await;
    let messages = nested(
        &verp,
        280_000,
        |_| "Content-Type: message/rfc822\r\n\r\n".to_owned(),
        |_| String::new(),
    );
    let multiparts = nested(
        &verp,
        120_000,
        |n| format!("Content-Type: multipart/mixed; boundary=\"{n:08x}\"\r\n\r\n--{n:08x}\r\n"),
        |n| format!("\r\n--{n:08x}--\r\n"),
    );
    assert!(messages.len() <= SIZE_LIMIT && multiparts.len() <= SIZE_LIMIT);
    each_ignored(
        &app,
        &[
            (
                "280,000 nested messages",
                Some(verp.as_str()),
                messages,
                "ignored: not a bounce",
            ),
            (
                "120,000 nested multiparts",
                Some(verp.as_str()),
                multiparts,
                "ignored: not a bounce",
            ),
        ],
    )
    .await;
}

/// Fields no MTA should write, and header lines of megabytes.
async fn malformed_fields_and_huge_lines_change_no_reader(backend: Backend) {
    let app = app_with_bounce_address(backend).await;
    let (verp, _) = two_readers_sent_an_issue(&app).await;
    let reader = "reader001@example.com";
    let huge_subject = dsn(
        BOUNCE_ADDRESS,
        &format!("Final-Recipient: rfc822; {reader}\r\nAction: failed\r\nStatus: 5.1.1\r\n"),
        "",
    )
    .replacen(
        "Subject: Undelivered Mail Returned to Sender",
        &format!("Subject: {}", "Undelivered ".repeat(400_000)),
        1,
    );
    let folded = format!("X-Folded: start\r\n{}", " more\r\n".repeat(500_000));
    let huge_folded = dsn(&verp, "Action: delivered\r\nStatus: 2.0.0\r\n", "").replacen(
        "MIME-Version",
        &format!("{folded}MIME-Version"),
        1,
    );
    let huge_diagnostic = dsn(
        &verp,
        &format!(
            "Final-Recipient: rfc822; {reader}\r\nAction: relayed\r\nStatus: 2.0.0\r\n\
             Diagnostic-Code: smtp; 550 5.1.1 {}\r\n",
            "user unknown ".repeat(300_000)
        ),
        "",
    );
    // Made-up tokens, a hundred thousand of them in one To header.
    let many_tokens = dsn(
        &(0..100_000)
            .map(|n| format!("bounces+{n:031}@news.example.org"))
            .collect::<Vec<_>>()
            .join(", "),
        &format!("Final-Recipient: rfc822; {reader}\r\nAction: failed\r\nStatus: 5.1.1\r\n"),
        "",
    );
    each_ignored(
        &app,
        &[
            (
                "a 4.8 MB Subject on a forged report",
                None,
                huge_subject.into_bytes(),
                "ignored: no return token",
            ),
            (
                "a header folded 500,000 times",
                Some(verp.as_str()),
                huge_folded.into_bytes(),
                "ignored: not a bounce",
            ),
            (
                "a 3.9 MB Diagnostic-Code on a success notice",
                Some(verp.as_str()),
                huge_diagnostic.into_bytes(),
                "ignored: not a bounce",
            ),
            (
                "100,000 made-up tokens in To",
                None,
                many_tokens.into_bytes(),
                "ignored: unknown return token",
            ),
        ],
    )
    .await;

    // A Status of garbage says nothing about the address: at most a soft
    // bounce, counted, and the reader stays.
    let garbage_status = dsn(
        &verp,
        &format!("Final-Recipient: rfc822; {reader}\r\nAction: failed\r\nStatus: banana\r\n"),
        "",
    );
    let (stdout, code) = ingest_guarded(Run {
        label: "a Status of garbage",
        database_url: &app.db.url,
        bounce_address: Some(BOUNCE_ADDRESS),
        recipient: Some(&verp),
        input: Input::Stdin(garbage_status.as_bytes()),
    })
    .await;
    assert_eq!(
        (stdout.as_str(), code),
        (
            "soft bounce: reader001@example.com counted (1 of 5 in 30 days)",
            Some(0)
        )
    );
    assert_eq!(
        app.subscriber_status(reader).await.as_deref(),
        Some("confirmed")
    );
}

/// Without `HERALD_BOUNCE_ADDRESS` the Final-Recipient names the reader: one
/// without an address, or with more than one, names nobody.
async fn a_final_recipient_without_one_address_names_nobody(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (from, _) = two_readers_sent_an_issue(&app).await;
    for (label, final_recipient) in [
        ("an empty Final-Recipient", "Final-Recipient: rfc822;\r\n"),
        ("a Final-Recipient of <>", "Final-Recipient: rfc822; <>\r\n"),
        (
            "two addresses in one Final-Recipient",
            "Final-Recipient: rfc822; reader001@example.com, reader002@example.com\r\n",
        ),
        ("no Final-Recipient at all", ""),
    ] {
        let report = dsn(
            &from,
            &format!("{final_recipient}Action: failed\r\nStatus: 5.1.1\r\n"),
            "",
        );
        let before = readers_state(&app).await;
        let (stdout, code) = ingest_guarded(Run {
            label,
            database_url: &app.db.url,
            bounce_address: None,
            recipient: None,
            input: Input::Stdin(report.as_bytes()),
        })
        .await;
        assert_eq!(
            (stdout.as_str(), code),
            ("ignored: no attribution", Some(0)),
            "{label}"
        );
        assert_eq!(readers_state(&app).await, before, "{label}");
    }
}

/// What the pipe passes as `--recipient`: return addresses with tokens of
/// every wrong shape, and a reader's own address with none, each on a
/// genuine-looking report about a reader Herald mailed.
async fn made_up_return_addresses_from_the_pipe_change_nothing(backend: Backend) {
    let app = app_with_bounce_address(backend).await;
    two_readers_sent_an_issue(&app).await;
    let reader = "reader001@example.com";
    let report = || {
        dsn(
            BOUNCE_ADDRESS,
            &format!("Final-Recipient: rfc822; {reader}\r\nAction: failed\r\nStatus: 5.1.1\r\n"),
            "",
        )
        .into_bytes()
    };
    let long = format!("bounces+{}@news.example.org", "a".repeat(5_000));
    let cases = [
        (
            "an empty token",
            "bounces+@news.example.org",
            "ignored: unknown return token",
        ),
        (
            "a one-letter token",
            "bounces+a@news.example.org",
            "ignored: unknown return token",
        ),
        (
            "a made-up token of the right length",
            "bounces+abcdefghijklmnopqrstuvwxyz23456@news.example.org",
            "ignored: unknown return token",
        ),
        (
            "a 5,000-letter token",
            long.as_str(),
            "ignored: unknown return token",
        ),
        (
            "a token of path characters",
            "bounces+../../etc/passwd@news.example.org",
            "ignored: unknown return token",
        ),
        (
            "a non-ASCII token",
            "bounces+ÿé€@news.example.org",
            "ignored: unknown return token",
        ),
        (
            "the reader's own address",
            reader,
            "ignored: no return token",
        ),
        (
            "the bounce mailbox itself",
            BOUNCE_ADDRESS,
            "ignored: no return token",
        ),
    ];
    let cases: Vec<(&str, Option<&str>, Vec<u8>, &str)> = cases
        .iter()
        .map(|(label, recipient, expected)| (*label, Some(*recipient), report(), *expected))
        .collect();
    each_ignored(&app, &cases).await;
}

on_both_databases!(
    size_limit_and_binary_garbage_in_a_report_change_nothing,
    mime_nested_hundreds_of_thousands_deep_is_not_a_bounce,
    malformed_fields_and_huge_lines_change_no_reader,
    a_final_recipient_without_one_address_names_nobody,
    made_up_return_addresses_from_the_pipe_change_nothing,
);
