//! DKIM through `Mailer`: `send` signs, `signed` signs for `send_raw`, which
//! sends bytes as they are; a key Herald cannot read stops the start.

use herald::config::{DkimKeySettings, DkimSettings};
use herald::mail::MailerError;
use secrecy::SecretString;

use super::{mailer, message, send};
use crate::support::TestSmtpServer;

/// `openssl genpkey -algorithm ed25519`.
const ED25519_KEY: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIL7fs9n1eIrWJk3nNujFTIoQM0Y/pWH6Ixwp7C/IBqLl
-----END PRIVATE KEY-----
";

fn dkim(key: &str) -> DkimSettings {
    DkimSettings {
        domain: "example.com".into(),
        keys: vec![DkimKeySettings {
            selector: "herald".into(),
            private_key: SecretString::from(key.to_owned()),
        }],
    }
}

fn dkim_header(data: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(data);
    let headers = text.split("\r\n\r\n").next().unwrap_or_default();
    let start = headers.find("DKIM-Signature:")?;
    // The header with its continuation lines, unfolded.
    let rest = &headers[start..];
    let end = rest
        .match_indices("\r\n")
        .map(|(i, _)| i)
        .find(|&i| !rest[i + 2..].starts_with([' ', '\t']))
        .unwrap_or(rest.len());
    Some(rest[..end].replace("\r\n", ""))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_signs_and_send_raw_sends_the_bytes_as_they_are() {
    let smtp = TestSmtpServer::start().await;
    let mailer = mailer(&smtp.url(), |config| config.dkim = Some(dkim(ED25519_KEY)));

    send(&mailer, "signed@example.org").await.expect("sent");

    let unsigned = message("raw@example.org");
    mailer
        .send_raw(unsigned.envelope(), &unsigned.formatted())
        .await
        .expect("sent");

    let for_raw = message("signed-raw@example.org");
    let envelope = for_raw.envelope().clone();
    let signed = mailer.signed(for_raw).await.expect("signed");
    mailer.send_raw(&envelope, &signed).await.expect("sent");

    let messages = smtp.messages().await;
    assert_eq!(messages.len(), 3);
    for index in [0, 2] {
        let header = dkim_header(&messages[index].data)
            .unwrap_or_else(|| panic!("message {index} is not signed"));
        for tag in ["a=ed25519-sha256", "d=example.com", "s=herald", "bh=", "b="] {
            assert!(header.contains(tag), "no {tag} in {header}");
        }
    }
    assert_eq!(
        dkim_header(&messages[1].data),
        None,
        "send_raw adds nothing"
    );
}

#[test]
fn a_key_herald_cannot_read_stops_the_start_and_is_not_shown() {
    let key = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbA==\n-----END PRIVATE KEY-----\n";
    let mut config = herald::config::Config::from_vars(&Default::default()).expect("defaults");
    config.dkim = Some(dkim(key));
    let error = herald::mail::Mailer::from_config(&config).expect_err("not a key");
    assert!(matches!(error, MailerError::DkimKey(_)), "{error:?}");
    let text = error.to_string();
    assert!(text.starts_with("DKIM_PRIVATE_KEY: "), "{text}");
    assert!(!text.contains("bm90IGEga2V5"), "the key leaked: {text}");
}
