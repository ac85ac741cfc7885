//! Every kind of mail Herald sends (an issue copy, a confirmation, a welcome,
//! a test send) checked by an independent DKIM verifier, dkimpy
//! (tests/dkim_verify.py), against the public keys openssl computed
//! (tests/fixtures/dkim/public.txt): with RSA, with ed25519 and with both,
//! each signature on its own; and the changes a forwarder or attacker might
//! make on the way must break every signature.

use std::io::Write as _;
use std::process::{Command, Stdio};

use herald::accounts::Role;
use herald::config::{DkimKeySettings, DkimSettings};
use secrecy::SecretString;

use crate::issues::{add_item, create_draft};
use crate::support::{Backend, TestApp};

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/dkim");
const VERIFIER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/dkim_verify.py");

#[derive(Clone, Copy)]
enum Keys {
    Rsa,
    Ed25519,
    Both,
}

impl Keys {
    /// (selector, private key file, name in public.txt)
    fn list(self) -> Vec<(&'static str, &'static str, &'static str)> {
        let rsa = ("rsa2026", "rsa2048.pem", "rsa2048");
        let ed = ("ed2026", "ed25519.pem", "ed25519");
        match self {
            Self::Rsa => vec![rsa],
            Self::Ed25519 => vec![ed],
            Self::Both => vec![rsa, ed],
        }
    }
}

fn public(name: &str) -> String {
    std::fs::read_to_string(format!("{KEYS}/public.txt"))
        .expect("public.txt")
        .lines()
        .find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')
                .map(str::to_owned)
        })
        .expect("key in public.txt")
}

/// dkimpy's verdict per signature, `(selector, "ok" or "fail" and why)`; None when
/// python3 or dkimpy is missing (after a loud note; a failure under CI=true).
fn dkimpy(raw: &[u8], keys: Keys) -> Option<Vec<(String, String)>> {
    let records: Vec<String> = keys
        .list()
        .iter()
        .map(|(selector, _, public_name)| {
            let kind = if *public_name == "rsa2048" {
                "rsa"
            } else {
                "ed25519"
            };
            format!("{selector}=v=DKIM1; k={kind}; p={}", public(public_name))
        })
        .collect();
    let child = Command::new("python3")
        .arg(VERIFIER)
        .args(&records)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let not_run = |why: String| {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("the dkimpy verification cannot run under CI=true: {why}");
        }
        eprintln!("\n*** DKIM verification with dkimpy NOT run: {why} ***\n");
        None
    };
    let mut child = match child {
        Ok(child) => child,
        Err(error) => return not_run(format!("cannot run python3 ({error})")),
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(raw)
        .expect("message to dkimpy");
    let output = child.wait_with_output().expect("dkimpy ends");
    if output.status.code() == Some(3) {
        return not_run(format!(
            "{} (pip install dkimpy pynacl)",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    assert!(
        output.status.success(),
        "dkimpy failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| {
                let (selector, verdict) = line.split_once(' ')?;
                Some((selector.to_owned(), verdict.to_owned()))
            })
            .collect(),
    )
}

/// The header block of `raw` with `change` applied to it alone.
fn change_headers(raw: &[u8], change: impl Fn(&str) -> String) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw);
    let (headers, body) = text.split_once("\r\n\r\n").expect("headers end");
    format!("{}\r\n\r\n{body}", change(headers)).into_bytes()
}

async fn every_kind_of_mail_verifies_and_tampering_fails(keys: Keys) {
    let app = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.from = "The Daily Herald <news@example.com>"
            .parse()
            .expect("mailbox");
        config.from_is_set = true;
        config.dkim = Some(DkimSettings {
            domain: "example.com".into(),
            keys: keys
                .list()
                .iter()
                .map(|(selector, file, _)| DkimKeySettings {
                    selector: (*selector).to_owned(),
                    private_key: SecretString::from(
                        std::fs::read_to_string(format!("{KEYS}/{file}")).expect("key file"),
                    ),
                })
                .collect(),
        });
    })
    .await;
    // A confirmation and a welcome.
    app.subscribed_reader("reader@example.org").await;
    let admin = app.sign_in_as(Role::Admin).await;
    let issue = create_draft(&admin, "Weekly news", "Hello *readers*.").await;
    let (status, _) = add_item(
        &admin,
        issue,
        &[
            ("title", "Russian military arrive in Venezuela"),
            ("url", "https://ctmnews.example/2019/03/28/venezuela"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let response = admin
        .post_form(
            &format!("/admin/issues/{issue}/test"),
            &[("to", "editor@example.net")],
        )
        .await;
    assert!(response.status().is_success() || response.status().is_redirection());
    let response = admin
        .post_form(&format!("/admin/issues/{issue}/send"), &[])
        .await;
    assert_eq!(response.status(), 303);
    let mails = app.mails(4).await;
    assert_eq!(mails.len(), 4, "confirmation, welcome, test send, copy");

    let selectors: Vec<&str> = keys.list().iter().map(|(s, _, _)| *s).collect();
    for mail in &mails {
        let Some(verdicts) = dkimpy(&mail.raw, keys) else {
            return;
        };
        let verified: Vec<&str> = verdicts
            .iter()
            .filter(|(_, verdict)| verdict == "ok")
            .map(|(s, _)| s.as_str())
            .collect();
        assert_eq!(
            verified, selectors,
            "every signature of {:?} must verify on its own: {verdicts:?}",
            mail.subject
        );

        let tampered: [(&str, Vec<u8>); 5] = [
            (
                "a second Subject",
                change_headers(&mail.raw, |h| format!("Subject: Urgent: act now\r\n{h}")),
            ),
            (
                "a second List-Unsubscribe",
                change_headers(&mail.raw, |h| {
                    format!("List-Unsubscribe: <https://evil.example/u>\r\n{h}")
                }),
            ),
            (
                "a second From",
                change_headers(&mail.raw, |h| format!("From: ceo@example.com\r\n{h}")),
            ),
            (
                "multipart/mixed for multipart/alternative",
                change_headers(&mail.raw, |h| {
                    assert!(h.contains("multipart/alternative"), "{h}");
                    h.replacen("multipart/alternative", "multipart/mixed", 1)
                }),
            ),
            (
                "a changed body",
                String::from_utf8_lossy(&mail.raw)
                    .replacen("\r\n\r\n", "\r\n\r\nP.S. send money\r\n", 1)
                    .into_bytes(),
            ),
        ];
        for (what, raw) in tampered {
            let verdicts = dkimpy(&raw, keys).expect("dkimpy ran a moment ago");
            assert_eq!(verdicts.len(), selectors.len(), "{verdicts:?}");
            assert!(
                verdicts
                    .iter()
                    .all(|(_, verdict)| verdict.starts_with("fail")),
                "{what} in {:?} still verifies: {verdicts:?}",
                mail.subject
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_mail_verifies_with_an_rsa_key() {
    every_kind_of_mail_verifies_and_tampering_fails(Keys::Rsa).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_mail_verifies_with_an_ed25519_key() {
    every_kind_of_mail_verifies_and_tampering_fails(Keys::Ed25519).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_mail_verifies_with_both_keys_each_on_its_own() {
    every_kind_of_mail_verifies_and_tampering_fails(Keys::Both).await;
}
