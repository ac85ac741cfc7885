//! Issue 11: mail every filter trusts. Every kind of mail Herald sends,
//! captured from real sends to the test SMTP server, with a non-ASCII reader
//! name and newsletter name and an international (IDN) address, then read by
//! outside judges: Python's email package (conformance) and SpamAssassin
//! (spam score); and the headers each kind carries.

mod conformance;
mod headers;
mod idn;
mod spam_score;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use herald::accounts::Role;
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{Backend, Mail, TestApp};

/// The reader: a name with accents, an address on an international domain.
pub const READER_NAME: &str = "José Ñúñez";
pub const READER_ADDRESS: &str = "jose@bücher.example";
/// The same address as it goes out: the domain as punycode (its A-label).
pub const READER_ADDRESS_ASCII: &str = "jose@xn--bcher-kva.example";
pub const TESTER_ADDRESS_ASCII: &str = "tester@xn--bcher-kva.example";
pub const EDITOR_ADDRESS_ASCII: &str = "editor@xn--bcher-kva.example";
/// The public URL the mails link to; rewritten to the app's own address to follow a link.
pub const PUBLIC_URL: &str = "https://news.example.com";

const ARTICLE: &str = include_str!("../../fixtures/article.txt");

/// One of each kind of mail Herald sends.
pub struct EveryKind {
    pub issue_id: i64,
    pub confirmation: Mail,
    pub welcome: Mail,
    pub issue_copy: Mail,
    pub test_copy: Mail,
    pub password_reset: Mail,
}

impl EveryKind {
    pub fn all(&self) -> [(&'static str, &Mail); 5] {
        [
            ("confirmation", &self.confirmation),
            ("welcome", &self.welcome),
            ("issue copy", &self.issue_copy),
            ("test copy", &self.test_copy),
            ("password reset", &self.password_reset),
        ]
    }
}

/// An app as a public list would run it: a named sender, a postal address,
/// a Reply-To, an https public URL, a newsletter name with accents.
pub async fn public_list(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |config| {
        config.newsletter_name = "Café Ñews".into();
        config.from = "Café Ñews <news@example.com>".parse().expect("mailbox");
        config.from_is_set = true;
        config.postal_address = "12 Rue de la Paix, 75002 Paris, France".into();
        config.reply_to = Some("Rédaction <editors@example.com>".parse().expect("mailbox"));
        config.base_url = herald::config::BaseUrl::parse(PUBLIC_URL).expect("URL");
    })
    .await
}

/// Sends one mail of each kind through the real app and captures them.
pub async fn every_kind(backend: Backend) -> EveryKind {
    let app = public_list(backend).await;

    let response = app.sign_up(READER_ADDRESS, READER_NAME).await;
    assert_eq!(response.status(), 200, "the signup is accepted");
    let confirmation = app.next_mail_to(READER_ADDRESS_ASCII, 0).await;
    let link = confirmation
        .link_starting_with(&format!("{PUBLIC_URL}/subscriptions/confirm?token="))
        .replace(PUBLIC_URL, &app.address);
    app.confirm(&link).await;
    let welcome = app.next_mail_to(READER_ADDRESS_ASCII, 1).await;

    let token = app.api_token(Role::Editor).await;
    let issue_id = create_sample_issue(&app, &token).await;
    let editor = app.sign_in_as(Role::Editor).await;
    let response = editor
        .post_form(
            &format!("/admin/issues/{issue_id}/test"),
            &[("to", "tester@bücher.example")],
        )
        .await;
    assert!(
        response.status().is_success() || response.status().is_redirection(),
        "the test copy is sent: {}",
        response.status()
    );
    let test_copy = app.next_mail_to(TESTER_ADDRESS_ASCII, 0).await;

    let response = app
        .api(
            Method::POST,
            &format!("/api/v1/issues/{issue_id}/send"),
            &token,
        )
        .send()
        .await
        .expect("API request");
    assert_eq!(response.status(), 202, "the send starts");
    let issue_copy = app.next_mail_to(READER_ADDRESS_ASCII, 2).await;

    app.create_user("editor@bücher.example", Role::Editor).await;
    let browser = crate::support::admin::cookie_client();
    let response = crate::support::admin::submit_form(
        &browser,
        &app.url("/admin/login/forgot"),
        &app.url("/admin/login/forgot"),
        &[("email", "editor@bücher.example")],
    )
    .await;
    assert_eq!(response.status(), 303, "the reset is asked for");
    let password_reset = app.next_mail_to(EDITOR_ADDRESS_ASCII, 0).await;

    EveryKind {
        issue_id,
        confirmation,
        welcome,
        issue_copy,
        test_copy,
        password_reset,
    }
}

/// The sample article of `tests/fixtures/article.txt` as an editor would put
/// it in a digest, with a preheader.
async fn create_sample_issue(app: &TestApp, token: &str) -> i64 {
    let paragraphs: Vec<&str> = ARTICLE
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let body_end = paragraphs
        .iter()
        .position(|p| p.starts_with("CTM News |"))
        .expect("the article has a dateline");
    let body = json!({
        "subject": "This week: Russian specialists in Caracas",
        "preheader": "What Moscow says its soldiers are doing in Venezuela",
        "intro": "Good morning. One story dominated the week; here is **what we know**.",
        "items": [{
            "title": paragraphs[1],
            "url": "https://ctmnews.example/2019/03/28/russian-military-venezuela",
            "source": paragraphs[0].trim_start_matches('•').trim(),
            "date": "2019-03-28",
            "summary": paragraphs[3..body_end].join("\n\n"),
        }]
    });
    let response = app
        .api(Method::POST, "/api/v1/issues", token)
        .json(&body)
        .send()
        .await
        .expect("API request");
    assert_eq!(response.status(), 201);
    let issue: Value = response.json().await.expect("JSON");
    issue["id"].as_i64().expect("an id")
}

/// Runs an outside tool with `input` on stdin. `None`, after a loud note,
/// when the tool is missing; a panic instead when `CI=true`, where every
/// tool must be installed (`.ci/run` installs them).
pub fn run_tool(program: &str, args: &[&str], input: &[u8], why: &str) -> Option<Output> {
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(error) => {
            let note = format!("{why} NOT run: {program} is not available ({error})");
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{note}; CI=true needs it (.ci/run installs it)");
            }
            eprintln!("\n*** NOTE: {note} ***\n");
            return None;
        }
    };
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input)
        .expect("write the message to the tool");
    Some(child.wait_with_output().expect("the tool runs"))
}
