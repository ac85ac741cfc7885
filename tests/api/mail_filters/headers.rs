//! The headers each kind of mail carries (issue 11, items 6, 7, 8 and 11):
//! every Message-ID on the From domain, Reply-To and Content-Language on
//! every mail, Feedback-ID in Gmail's four fields, `Precedence: bulk` on
//! copies, `Auto-Submitted` on the automatic mails, List-Id (an ASCII label
//! for a name with accents) and List-Archive on the welcome and the copies;
//! the test copy carrying the reader's copy's headers.

use super::{every_kind, PUBLIC_URL, READER_ADDRESS_ASCII};
use crate::support::{Backend, Mail};

fn header<'a>(mail: &'a Mail, name: &str) -> &'a str {
    mail.header(name)
        .unwrap_or_else(|| panic!("no {name} in:\n{}", String::from_utf8_lossy(&mail.raw)))
}

/// Header names in order, values left out.
fn header_names(mail: &Mail) -> Vec<String> {
    let mut names: Vec<String> = mail
        .headers
        .iter()
        .map(|(name, _)| name.to_ascii_lowercase())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_mail_says_what_it_is_in_its_headers() {
    let mails = every_kind(Backend::Sqlite).await;
    let sender = "example.com";
    for (kind, mail) in mails.all() {
        let message_id = header(mail, "Message-ID");
        assert!(
            message_id.ends_with(&format!("@{sender}>")),
            "{kind}: the Message-ID is on the From domain: {message_id}"
        );
        assert!(
            header(mail, "Reply-To").contains("<editors@example.com>"),
            "{kind}"
        );
        assert_eq!(header(mail, "Content-Language"), "en", "{kind}");
        assert!(mail.html.contains("<html lang=\"en\""), "{kind}");
        let feedback_id = header(mail, "Feedback-ID");
        let fields: Vec<&str> = feedback_id.split(':').collect();
        assert_eq!(fields.len(), 4, "{kind}: {feedback_id}");
        assert_eq!(fields[3], sender, "{kind}: the sender id is last");
    }

    let issue = mails.issue_id;
    assert_eq!(
        header(&mails.issue_copy, "Feedback-ID"),
        format!("issue-{issue}:herald:newsletter:{sender}")
    );
    assert_eq!(
        header(&mails.test_copy, "Feedback-ID"),
        format!("issue-{issue}:herald:test:{sender}")
    );
    assert_eq!(
        header(&mails.confirmation, "Feedback-ID"),
        format!("signup:herald:confirmation:{sender}")
    );

    for mail in [&mails.issue_copy, &mails.test_copy] {
        assert_eq!(header(mail, "Precedence"), "bulk");
        assert!(mail.header("Auto-Submitted").is_none());
        assert!(header(mail, "Message-ID").starts_with(&format!("<issue-{issue}.")));
    }
    for mail in [&mails.confirmation, &mails.welcome, &mails.password_reset] {
        assert_eq!(header(mail, "Auto-Submitted"), "auto-generated");
        assert!(mail.header("Precedence").is_none());
    }
    for mail in [&mails.welcome, &mails.issue_copy, &mails.test_copy] {
        let list_id = header(mail, "List-Id");
        assert!(
            list_id.ends_with(" <cafe-news.example.com>"),
            "an ASCII label for \"Café Ñews\": {list_id}"
        );
        assert_eq!(
            header(mail, "List-Archive"),
            format!("<{PUBLIC_URL}/issues>")
        );
        assert!(header(mail, "List-Unsubscribe")
            .starts_with(&format!("<{PUBLIC_URL}/unsubscribe?token=")));
        assert_eq!(
            header(mail, "List-Unsubscribe-Post"),
            "List-Unsubscribe=One-Click"
        );
    }
    for mail in [&mails.confirmation, &mails.password_reset] {
        assert!(mail.header("List-Id").is_none());
        assert!(mail.header("List-Unsubscribe").is_none());
    }

    // The test copy is the reader's copy: the same headers, the same body
    // but for the link, "[Test] " before the subject.
    assert_eq!(
        header_names(&mails.test_copy),
        header_names(&mails.issue_copy)
    );
    assert_eq!(
        mails.test_copy.subject,
        format!("[Test] {}", mails.issue_copy.subject)
    );
    assert_ne!(
        header(&mails.test_copy, "Message-ID"),
        header(&mails.issue_copy, "Message-ID")
    );
    // The three links of the footer differ by the reader's token only.
    let reader_token = crate::support::token_of(&mails.issue_copy.unsubscribe_link(PUBLIC_URL));
    let test_token = crate::support::token_of(&mails.test_copy.unsubscribe_link(PUBLIC_URL));
    assert_eq!(
        mails.test_copy.text.replace(&test_token, "TOKEN"),
        mails.issue_copy.text.replace(&reader_token, "TOKEN")
    );
    assert_eq!(mails.issue_copy.rcpt_to, [READER_ADDRESS_ASCII]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_language_sets_the_language_of_the_mails() {
    let app = crate::support::TestApp::spawn_with(Backend::Sqlite, |config| {
        config.language = herald::config::Language::parse("fr").expect("a tag");
    })
    .await;
    app.sign_up("lectrice@example.com", "").await;
    let confirmation = app.next_mail_to("lectrice@example.com", 0).await;
    assert_eq!(header(&confirmation, "Content-Language"), "fr");
    assert!(
        confirmation.html.contains("<html lang=\"fr\""),
        "{}",
        confirmation.html
    );
}
