//! The pipe channel end to end, with a real Postfix as Herald's relay:
//! `herald serve` sends an issue to three readers through Postfix, which
//! accepts all three and relays them to a sink that refuses one with
//! `550 5.1.1 … User unknown`. Postfix then writes its own DSN to that
//! copy's VERP address and delivers it through the pipe transport of
//! docs/bounces.md to `herald bounces ingest`, run by Postfix as an
//! unprivileged user. That reader is `bounced`; the other two are not.
//! On SQLite and on PostgreSQL.

#[path = "api/support/database.rs"]
#[allow(dead_code)]
mod database;
#[path = "api/support/herald_process.rs"]
#[allow(dead_code)]
mod herald_process;
#[path = "api/support/mail.rs"]
#[allow(dead_code)]
mod mail;
#[path = "api/support/smtp_server.rs"]
#[allow(dead_code)]
mod smtp_server;

#[path = "postfix_dsn/relay.rs"]
mod relay;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use sqlx::Row;
use tokio::time::Instant;

use database::Backend;
use herald_process::{free_port, Setup, SECRET};
use relay::{Relay, Wiring, PIPE_USER};

/// The bounce mailbox; its domain is local to the test's Postfix.
const BOUNCE_ADDRESS: &str = "bounces@bounces.herald.test";
/// Issue 12: the refused reader is `bounced` within this.
const BOUNCE_WAIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(200);

macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if super::postfix_is_at_hand() {
                        super::$name(super::Backend::Sqlite).await
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if super::postfix_is_at_hand() && super::database::postgres_is_configured() {
                        super::$name(super::Backend::Postgres).await
                    }
                }
            )*
        }
    };
}

/// False, after a loud note, when Postfix cannot run here; under CI=true
/// that is a failure instead.
fn postfix_is_at_hand() -> bool {
    let Some(why) = relay::unavailable() else {
        return true;
    };
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("the Postfix DSN test cannot run under CI=true: {why}");
    }
    eprintln!("\n*** Postfix DSN test NOT run: {why} ***\n");
    false
}

async fn dsns_through_postfix_bounce_their_reader_and_nobody_else(backend: Backend) {
    let smtpd_port = free_port();
    let smtp_url = format!("smtp://127.0.0.1:{smtpd_port}");
    let setup = Setup::new(
        backend,
        3,
        &[
            ("SMTP_URL", &smtp_url),
            ("HERALD_BOUNCE_ADDRESS", BOUNCE_ADDRESS),
        ],
    )
    .await;
    let refused = setup.readers[1].clone();
    setup.smtp.reject_recipient(&refused, 550);

    let pipe_directory = pipe_directory(&setup);
    let relay = Relay::start(&Wiring {
        smtpd_port,
        sink_port: setup.smtp.port(),
        bounce_address: BOUNCE_ADDRESS,
        herald: env!("CARGO_BIN_EXE_herald"),
        pipe_directory: pipe_directory.path(),
    });
    let _server = setup.serve().await;
    let started = Instant::now();
    setup.send_issue().await;
    setup.wait_until_all_recorded_sent().await;

    let relayed = setup.smtp.wait_for_messages(2, BOUNCE_WAIT).await;
    for message in &relayed {
        assert!(
            message.mail_from.starts_with("bounces+")
                && message.mail_from.ends_with("@bounces.herald.test"),
            "Postfix relays the VERP sender unchanged: {}",
            message.mail_from
        );
    }

    wait_until_bounced(&setup, &relay, &refused, started).await;
    eprintln!(
        "{refused} bounced {:.1?} after the send started",
        started.elapsed()
    );
    let notes = bounced_notes(&setup, &refused).await;
    assert_eq!(notes.len(), 1, "one bounced event: {notes:?}");
    assert!(
        notes[0].contains("5.1.1") && notes[0].contains("User unknown"),
        "the event names the code and the sink's words: {notes:?}"
    );
    for reader in setup.readers.iter().filter(|reader| **reader != refused) {
        assert_eq!(
            setup.db.subscriber_status(reader).await.as_deref(),
            Some("confirmed"),
            "{reader} was delivered and stays on the list"
        );
        assert!(bounced_notes(&setup, reader).await.is_empty());
    }
    assert_eq!(
        setup.db.count("bounce_reports").await,
        1,
        "one report, from Postfix; log:\n{}",
        relay.log()
    );

    // Later, the receiving server of another reader's copy sends its own DSN
    // to the copy's return path: Postfix's smtpd takes it for the bounce
    // mailbox, and the same pipe applies it.
    let later = &setup.readers[2];
    let return_path = relayed
        .iter()
        .find(|message| message.rcpt_to == [later.clone()])
        .map(|message| message.mail_from.clone())
        .unwrap_or_else(|| panic!("no copy of {later} relayed"));
    let dsn = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/bounces/postfix-user-unknown.eml"
    ))
    .expect("the DSN fixture")
    .replace(FIXTURE_VERP, &return_path)
    .replace("reader@example.org", later);
    let received = Instant::now();
    deliver_over_smtp(smtpd_port, &return_path, &dsn);
    wait_until_bounced(&setup, &relay, later, received).await;
    assert_eq!(
        setup
            .db
            .subscriber_status(&setup.readers[0])
            .await
            .as_deref(),
        Some("confirmed"),
        "the first reader stays on the list"
    );
    assert_eq!(setup.db.count("bounce_reports").await, 2);
}

/// The return address of the DSN fixtures.
const FIXTURE_VERP: &str = "bounces+abcdefghijklmnopqrstuvwxyz23456@news.example.org";

async fn wait_until_bounced(setup: &Setup, relay: &Relay, reader: &str, since: Instant) {
    while setup.db.subscriber_status(reader).await.as_deref() != Some("bounced") {
        assert!(
            since.elapsed() < BOUNCE_WAIT,
            "{reader} was not bounced within {BOUNCE_WAIT:?}; Postfix's log:\n{}",
            relay.log()
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Hands `message` to Postfix's smtpd as another mail server would hand a
/// DSN: null sender, one recipient. Panics on any refusal.
fn deliver_over_smtp(port: u16, recipient: &str, message: &str) {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to Postfix's smtpd");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a read timeout");
    let mut reader = BufReader::new(stream.try_clone().expect("a second handle"));
    let mut writer = stream;
    let mut expect = |command: Option<String>, code: &str| {
        if let Some(command) = &command {
            writer
                .write_all(command.as_bytes())
                .expect("write to Postfix's smtpd");
        }
        // The last line of a reply has a space after the code.
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("read Postfix's reply");
            assert!(
                line.starts_with(code),
                "Postfix answered {line:?} to {command:?}"
            );
            if line.as_bytes().get(3) == Some(&b' ') {
                break;
            }
        }
    };
    expect(None, "220");
    expect(Some("EHLO mx.example.org\r\n".into()), "250");
    expect(Some("MAIL FROM:<>\r\n".into()), "250");
    expect(Some(format!("RCPT TO:<{recipient}>\r\n")), "250");
    expect(Some("DATA\r\n".into()), "354");
    let mut data = String::new();
    for line in message.lines() {
        // Dot-stuffing (RFC 5321, 4.5.2).
        if line.starts_with('.') {
            data.push('.');
        }
        data.push_str(line);
        data.push_str("\r\n");
    }
    data.push_str(".\r\n");
    expect(Some(data), "250");
    expect(Some("QUIT\r\n".into()), "221");
}

/// The pipe's working directory, as docs/bounces.md sets it up: a `.env`
/// naming the database, the key file and the bounce address, readable by
/// the pipe's user only. The database must be writable by that user too.
fn pipe_directory(setup: &Setup) -> tempfile::TempDir {
    let directory = tempfile::Builder::new()
        .prefix("herald-pipe-")
        .tempdir()
        .expect("a folder for the pipe");
    let secret_file = directory.path().join("herald.secret");
    std::fs::write(&secret_file, SECRET).expect("write the key file");
    std::fs::write(
        directory.path().join(".env"),
        format!(
            "DATABASE_URL='{}'\nHERALD_SECRET_FILE={}\nHERALD_BOUNCE_ADDRESS={BOUNCE_ADDRESS}\n\
             RUST_LOG=warn\n",
            setup.db.url,
            secret_file.display()
        ),
    )
    .expect("write the pipe's .env");
    relay::chown(directory.path(), PIPE_USER);
    relay::chmod(&directory.path().join(".env"), "600");
    relay::chmod(&secret_file, "600");
    // Postfix's pipe daemon reaches the folder on its way to the user.
    relay::chmod(directory.path(), "755");
    if setup.db.backend == Backend::Sqlite {
        // SQLite run by root (herald serve here) gives the -wal and -shm
        // files it creates the database file's owner.
        make_writable_by_pipe_user(setup.db.dir.path());
    }
    directory
}

fn make_writable_by_pipe_user(database_directory: &Path) {
    relay::chown(database_directory, PIPE_USER);
    relay::chmod(database_directory, "755");
}

async fn bounced_notes(setup: &Setup, email: &str) -> Vec<String> {
    let mut conn = setup.db.connect().await;
    sqlx::query(
        "SELECT e.note FROM subscriber_events e JOIN subscribers s ON s.id = e.subscriber_id \
         WHERE s.email = $1 AND e.kind = 'bounced' ORDER BY e.id",
    )
    .bind(email)
    .fetch_all(&mut conn)
    .await
    .expect("query events")
    .iter()
    .map(|row| row.get::<Option<String>, _>("note").unwrap_or_default())
    .collect()
}

on_both_databases!(dsns_through_postfix_bounce_their_reader_and_nobody_else);
