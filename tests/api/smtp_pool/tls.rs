//! SMTP over TLS with a relay whose certificate only HERALD_SMTP_CA_FILE
//! vouches for: implicit TLS and STARTTLS, required or opportunistic.

use herald::mail::SendError;

use super::tls_relay::{TestCertificate, TlsMode, TlsRelay};
use super::{mailer, send};
use crate::support::TestSmtpServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtps_delivers_over_one_tls_session_when_the_ca_file_vouches_for_the_relay() {
    let smtp = TestSmtpServer::start().await;
    let certificate = TestCertificate::generate();
    let relay = TlsRelay::start(TlsMode::Implicit, &certificate, smtp.port()).await;
    let mailer = mailer(&format!("smtps://127.0.0.1:{}", relay.port()), |config| {
        config.smtp_ca_file = Some(certificate.pem_file.clone());
    });
    for to in ["one@example.org", "two@example.org", "three@example.org"] {
        send(&mailer, to).await.expect("sent over TLS");
    }
    assert_eq!(smtp.messages().await.len(), 3);
    assert_eq!(relay.handshakes(), 1, "one TLS session carried all three");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtps_refuses_a_certificate_nobody_vouches_for() {
    let smtp = TestSmtpServer::start().await;
    let certificate = TestCertificate::generate();
    let relay = TlsRelay::start(TlsMode::Implicit, &certificate, smtp.port()).await;
    let mailer = mailer(&format!("smtps://127.0.0.1:{}", relay.port()), |_| {});
    match send(&mailer, "reader@example.org").await {
        Err(SendError::Transient(text)) => {
            assert!(text.contains("certificate"), "{text}");
        }
        other => panic!("an unknown certificate must stop the session, got {other:?}"),
    }
    assert_eq!(relay.handshakes(), 0);
    assert!(smtp.messages().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_starttls_encrypts_before_auth() {
    let smtp = TestSmtpServer::start().await;
    smtp.require_auth("herald", "s3cret");
    let certificate = TestCertificate::generate();
    let relay = TlsRelay::start(TlsMode::StartTls, &certificate, smtp.port()).await;
    let mailer = mailer(
        &format!(
            "smtp://herald:s3cret@localhost:{}?tls=required",
            relay.port()
        ),
        |config| config.smtp_ca_file = Some(certificate.pem_file.clone()),
    );
    send(&mailer, "one@example.org").await.expect("sent");
    send(&mailer, "two@example.org").await.expect("sent");
    let messages = smtp.messages().await;
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].auth_user.as_deref(), Some("herald"));
    // The relay only passes AUTH on after the handshake.
    assert_eq!(relay.handshakes(), 1);
    assert!(
        mailer.describe().contains("STARTTLS"),
        "{}",
        mailer.describe()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_starttls_gives_up_on_a_server_that_does_not_offer_it() {
    let smtp = TestSmtpServer::start().await;
    let mailer = mailer(
        &format!("smtp://127.0.0.1:{}?tls=required", smtp.port()),
        |_| {},
    );
    match send(&mailer, "reader@example.org").await {
        Err(SendError::Transient(text)) => assert!(text.contains("STARTTLS"), "{text}"),
        other => panic!("expected a temporary failure naming STARTTLS, got {other:?}"),
    }
    assert!(smtp.messages().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opportunistic_starttls_upgrades_when_offered_and_goes_plain_otherwise() {
    let smtp = TestSmtpServer::start().await;
    let certificate = TestCertificate::generate();
    let relay = TlsRelay::start(TlsMode::StartTls, &certificate, smtp.port()).await;
    let over_tls = mailer(
        &format!("smtp://127.0.0.1:{}?tls=opportunistic", relay.port()),
        |config| config.smtp_ca_file = Some(certificate.pem_file.clone()),
    );
    send(&over_tls, "tls@example.org").await.expect("sent");
    assert_eq!(relay.handshakes(), 1);

    let plain = mailer(
        &format!("smtp://127.0.0.1:{}?tls=opportunistic", smtp.port()),
        |_| {},
    );
    send(&plain, "plain@example.org").await.expect("sent");
    assert_eq!(smtp.messages().await.len(), 2);
}

#[test]
fn a_ca_file_without_certificates_stops_the_start() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let file = dir.path().join("not-a-ca.pem");
    std::fs::write(&file, "just some text\n").expect("write");
    let mut config = herald::config::Config::from_vars(&Default::default()).expect("defaults");
    config.smtp_url = Some(secrecy::SecretString::from(
        "smtps://user:hunter2@127.0.0.1:465".to_owned(),
    ));
    config.smtp_ca_file = Some(file);
    let error = herald::mail::Mailer::from_config(&config).expect_err("no certificate");
    let text = error.to_string();
    assert!(text.starts_with("HERALD_SMTP_CA_FILE: "), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}
