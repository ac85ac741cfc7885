//! Sending safely from the admin pages: the pre-send checklist, the typed
//! number of readers above the threshold, who the mail is from, the banner
//! while mail only goes to files, the dashboard's first-run checklist, the
//! truth about a cancelled send, and duplicating and deleting drafts.

use herald::accounts::Role;
use herald::config::{DkimKeySettings, DkimSettings};
use herald::subscriptions::SubscriberStatus;
use secrecy::SecretString;
use serde_json::Value;

use super::{add_item, create_draft};
use crate::on_both_databases;
use crate::support::admin::AdminBrowser;
use crate::support::{Backend, TestApp};

const ITEM: [(&str, &str); 2] = [
    ("title", "Russian military arrive in Venezuela"),
    ("url", "https://ctmnews.example/2019/03/28/venezuela"),
];

/// `openssl genpkey -algorithm ed25519`.
const ED25519_KEY: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIL7fs9n1eIrWJk3nNujFTIoQM0Y/pWH6Ixwp7C/IBqLl
-----END PRIVATE KEY-----
";

async fn draft(editor: &AdminBrowser, subject: &str) -> i64 {
    let id = create_draft(editor, subject, "Hello *readers*.").await;
    let (status, _) = add_item(editor, id, &ITEM).await;
    assert_eq!(status, 303);
    id
}

/// The line of the checklist on `page` whose title is `title`.
fn check_line<'a>(page: &'a str, title: &str) -> &'a str {
    let at = page
        .find(&format!("<strong>{title}</strong>"))
        .unwrap_or_else(|| panic!("no check {title:?} on {page}"));
    let start = page[..at].rfind("<li").expect("the line starts");
    let end = at + page[at..].find("</li>").expect("the line ends");
    &page[start..end]
}

async fn deliveries(app: &TestApp, issue: i64) -> i64 {
    let mut conn = app.db.connect().await;
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM deliveries WHERE issue_id = $1")
        .bind(issue)
        .fetch_one(&mut conn)
        .await
        .expect("count deliveries")
}

async fn the_send_page_checks_the_issue_and_says_who_it_is_from(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.from = "Morning Brief <news@example.com>".parse().expect("mailbox");
        config.from_is_set = true;
        config.postal_address = String::new();
    })
    .await;
    app.add_subscribers(3, SubscriberStatus::Confirmed, "reader")
        .await;
    let editor = app.sign_in_as(Role::Editor).await;
    let issue = draft(&editor, "Weekly digest").await;
    let send_path = format!("/admin/issues/{issue}/send");

    let (status, page) = editor.get_page(&send_path).await;
    assert_eq!(status, 200, "{page}");
    let content = check_line(&page, "Subject and content");
    assert!(content.contains(">Done<"), "{content}");
    assert!(content.contains("an intro and 1 item"), "{content}");
    let sender = check_line(&page, "From and Reply-To");
    assert!(sender.contains(">Done<"), "{sender}");
    assert!(
        page.contains("<tr><th>From</th><td>Morning Brief &#60;news@example.com&#62;</td></tr>"),
        "{page}"
    );
    assert!(page.contains("replies go to the From address, news@example.com"));
    let tested = check_line(&page, "A test copy since the last change");
    assert!(tested.contains(">Warning<"), "{tested}");
    assert!(tested.contains(&format!("href=\"/admin/issues/{issue}/preview\"")));
    assert!(check_line(&page, "Unsubscribe link").contains(">Done<"));
    let postal = check_line(&page, "Postal address");
    assert!(postal.contains(">Warning<"), "{postal}");
    assert!(postal.contains("HERALD_POSTAL_ADDRESS"), "{postal}");
    // Warnings do not block: the button is there.
    assert!(page.contains("Send now to 3 subscribers"));

    // The preview says who it is from too.
    let (_, preview) = editor
        .get_page(&format!("/admin/issues/{issue}/preview"))
        .await;
    assert!(
        preview.contains("Morning Brief &#60;news@example.com&#62;"),
        "{preview}"
    );
    assert!(preview.contains("<th>Reply-To</th>"));

    // A test copy makes the check done, until the next change.
    let response = editor
        .post_form(
            &format!("/admin/issues/{issue}/test"),
            &[("to", "me@example.com")],
        )
        .await;
    assert!(response.status().is_success() || response.status().is_redirection());
    let (_, page) = editor.get_page(&send_path).await;
    let tested = check_line(&page, "A test copy since the last change");
    assert!(tested.contains(">Done<"), "{tested}");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let (status, _) = add_item(
        &editor,
        issue,
        &[
            ("title", "A second story"),
            ("url", "https://example.com/two"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let (_, page) = editor.get_page(&send_path).await;
    let tested = check_line(&page, "A test copy since the last change");
    assert!(tested.contains(">Warning<"), "{tested}");
    assert!(tested.contains("before the last change"), "{tested}");
}

async fn an_empty_issue_shows_the_missing_check_and_no_send_button(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_subscribers(3, SubscriberStatus::Confirmed, "reader")
        .await;
    let editor = app.sign_in_as(Role::Editor).await;
    let issue = create_draft(&editor, "Nothing yet", "").await;
    let (status, page) = editor
        .get_page(&format!("/admin/issues/{issue}/send"))
        .await;
    assert_eq!(status, 409);
    let content = check_line(&page, "Subject and content");
    assert!(content.contains(">Missing<"), "{content}");
    assert!(!page.contains("Send now"), "{page}");
}

async fn a_send_above_the_threshold_needs_the_number_of_readers_typed(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.send_confirm_above = Some(2);
    })
    .await;
    app.add_subscribers(3, SubscriberStatus::Confirmed, "reader")
        .await;
    let editor = app.sign_in_as(Role::Editor).await;
    let issue = draft(&editor, "Counted").await;
    let send_path = format!("/admin/issues/{issue}/send");

    let (_, page) = editor.get_page(&send_path).await;
    assert!(page.contains("name=\"confirm_count\""), "{page}");
    assert!(page.contains("<label for=\"confirm_count\">"), "{page}");

    for typed in ["", "4", "three"] {
        let response = editor
            .post_form(&send_path, &[("confirm_count", typed)])
            .await;
        assert_eq!(response.status(), 422, "typed {typed:?}");
        let page = response.text().await.expect("page");
        assert!(page.contains("<title>Error: "), "{page}");
        assert!(
            page.contains("aria-invalid=\"true\" aria-describedby=\"confirm_count-error\""),
            "{page}"
        );
        assert!(page.contains("id=\"confirm_count-error\""), "{page}");
        assert!(
            page.contains(&format!("value=\"{typed}\"")),
            "what was typed is kept"
        );
        assert_eq!(deliveries(&app, issue).await, 0, "typed {typed:?} sent");
    }

    let response = editor
        .post_form(&send_path, &[("confirm_count", "3")])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(deliveries(&app, issue).await, 3);

    // At or below the threshold, nothing is asked.
    let app = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.send_confirm_above = Some(3);
    })
    .await;
    app.add_subscribers(3, SubscriberStatus::Confirmed, "reader")
        .await;
    let editor = app.sign_in_as(Role::Editor).await;
    let issue = draft(&editor, "Small list").await;
    let send_path = format!("/admin/issues/{issue}/send");
    let (_, page) = editor.get_page(&send_path).await;
    assert!(!page.contains("confirm_count"), "{page}");
    assert_eq!(editor.post_form(&send_path, &[]).await.status(), 303);
}

async fn without_smtp_the_dashboard_and_send_page_say_mail_is_not_delivered(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.smtp_url = None;
    })
    .await;
    let admin = app.sign_in_as(Role::Admin).await;
    let (status, page) = admin.get_page("/admin").await;
    assert_eq!(status, 200);
    assert!(page.contains("Mail is not delivered yet."), "{page}");
    assert!(page.contains("SMTP_URL"));
    assert!(
        page.contains(&app.config.outbox_dir.display().to_string()),
        "{page}"
    );

    // The first-run checklist stands in for the rows of zeros.
    assert!(page.contains("Getting started"), "{page}");
    assert!(check_line(&page, "SMTP").contains(">Missing<"));
    assert!(check_line(&page, "Sender").contains("HERALD_FROM"));
    assert!(check_line(&page, "DKIM").contains("DKIM_DOMAIN"));
    assert!(check_line(&page, "Postal address").contains(">Done<"));
    let first = check_line(&page, "First subscribers");
    assert!(
        first.contains("href=\"/admin/subscribers/import\""),
        "{first}"
    );
    assert!(check_line(&page, "First test").contains(">Missing<"));
    assert!(!page.contains("The last 30 days"), "{page}");

    app.add_subscribers(3, SubscriberStatus::Confirmed, "reader")
        .await;
    let issue = draft(&admin, "Weekly").await;
    let (_, page) = admin.get_page(&format!("/admin/issues/{issue}/send")).await;
    assert!(page.contains("Mail is not delivered yet."), "{page}");
    let (_, page) = admin.get_page("/admin").await;
    assert!(page.contains("The last 30 days"), "{page}");
    assert!(check_line(&page, "First subscribers").contains(">Done<"));
}

async fn the_first_run_checklist_goes_once_everything_is_done(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.from = "Morning Brief <news@example.com>".parse().expect("mailbox");
        config.from_is_set = true;
        config.dkim = Some(DkimSettings {
            domain: "example.com".into(),
            keys: vec![DkimKeySettings {
                selector: "herald".into(),
                private_key: SecretString::from(ED25519_KEY.to_owned()),
            }],
        });
    })
    .await;
    let admin = app.sign_in_as(Role::Admin).await;
    let (_, page) = admin.get_page("/admin").await;
    assert!(!page.contains("Mail is not delivered yet."), "{page}");
    assert!(page.contains("Getting started"), "{page}");
    app.add_subscribers(1, SubscriberStatus::Confirmed, "reader")
        .await;
    let issue = draft(&admin, "Weekly").await;
    let response = admin
        .post_form(
            &format!("/admin/issues/{issue}/test"),
            &[("to", "me@example.com")],
        )
        .await;
    assert!(response.status().is_success() || response.status().is_redirection());
    let (_, page) = admin.get_page("/admin").await;
    assert!(!page.contains("Getting started"), "{page}");
    assert!(page.contains("The last 30 days"));
}

async fn a_cancelled_send_says_how_far_it_got(backend: Backend) {
    // The web side only: nothing sends, so the test decides what went out.
    let app = TestApp::spawn_web_only(backend).await;
    app.add_subscribers(5, SubscriberStatus::Confirmed, "reader")
        .await;
    let editor = app.sign_in_as(Role::Editor).await;
    let issue = draft(&editor, "Stopped").await;
    let path = |step: &str| format!("/admin/issues/{issue}/{step}");
    assert_eq!(editor.post_form(&path("send"), &[]).await.status(), 303);
    app.db.record_sent(issue, 2).await;

    let (status, confirm) = editor.get_page(&path("cancel")).await;
    assert_eq!(status, 200);
    assert!(confirm.contains("2 of 5 sent so far"), "{confirm}");
    assert!(
        confirm.contains("At most 3 copies not sent yet will not go out"),
        "{confirm}"
    );

    let response = editor.post_form(&path("cancel"), &[]).await;
    assert_eq!(response.status(), 303);
    let (_, page) = editor.get_page(&format!("/admin/issues/{issue}")).await;
    assert!(
        page.contains("at most 3 copies not sent yet will not go out"),
        "{page}"
    );
    assert!(
        page.contains("<h2 id=\"send-progress-heading\" data-field=\"heading\">Cancelled</h2>"),
        "{page}"
    );
    assert!(page.contains(">Cancelled after 2 of 5</span>"), "{page}");
    assert!(
        page.contains("<progress class=\"bar-cancelled\" max=\"100\" value=\"40\""),
        "{page}"
    );
    assert!(!page.contains("% done"), "{page}");
    assert!(
        page.contains("<th data-field=\"ended_label\">Cancelled</th>"),
        "{page}"
    );

    let response = editor.get(&path("progress")).await;
    let progress: Value = response.json().await.expect("progress JSON");
    assert_eq!(progress["heading"], "Cancelled", "{progress}");
    assert_eq!(progress["summary"], "Cancelled after 2 of 5", "{progress}");
    assert_eq!(progress["percent"], 40, "{progress}");
    assert_eq!(progress["cancelled"], 3, "{progress}");
    assert!(
        progress["finished"].as_str().is_some_and(|f| !f.is_empty()),
        "no end time: {progress}"
    );
}

async fn an_issue_is_duplicated_as_a_new_draft(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_subscribers(1, SubscriberStatus::Confirmed, "reader")
        .await;
    let editor = app.sign_in_as(Role::Editor).await;
    let issue = draft(&editor, "Weekly digest").await;
    assert_eq!(
        editor
            .post_form(&format!("/admin/issues/{issue}/send"), &[])
            .await
            .status(),
        303
    );
    let (_, list) = editor.get_page("/admin/issues").await;
    assert!(list.contains(&format!("action=\"/admin/issues/{issue}/duplicate\"")));
    assert!(list.contains(&format!(">Duplicate issue {issue}</button>")));

    let response = editor
        .post_form(&format!("/admin/issues/{issue}/duplicate"), &[])
        .await;
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let copy: i64 = location
        .strip_prefix("/admin/issues/")
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("unexpected location {location}"));
    assert_ne!(copy, issue);
    let (status, page) = editor.get_page(&location).await;
    assert_eq!(status, 200);
    assert!(page.contains(&format!("a copy of issue {issue}")), "{page}");
    assert!(page.contains("Copy of Weekly digest"), "{page}");
    assert!(page.contains(ITEM[0].1), "the item was not copied: {page}");
    assert!(
        page.contains("Hello *readers*."),
        "the intro was not copied"
    );
    assert_eq!(deliveries(&app, copy).await, 0);
    let mut conn = app.db.connect().await;
    let status: String = sqlx::query_scalar("SELECT status FROM issues WHERE id = $1")
        .bind(copy)
        .fetch_one(&mut conn)
        .await
        .expect("the copy");
    assert_eq!(status, "draft");
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_events WHERE action = 'issue_duplicated'")
            .fetch_all(&mut conn)
            .await
            .expect("audit rows");
    assert_eq!(actions.len(), 1);
}

async fn only_a_draft_is_deleted_after_a_confirmation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_subscribers(1, SubscriberStatus::Confirmed, "reader")
        .await;
    let editor = app.sign_in_as(Role::Editor).await;
    let keep = draft(&editor, "Sent one").await;
    let gone = draft(&editor, "Scrapped idea").await;
    assert_eq!(
        editor
            .post_form(&format!("/admin/issues/{keep}/send"), &[])
            .await
            .status(),
        303
    );
    let (_, list) = editor.get_page("/admin/issues").await;
    assert!(list.contains(&format!("href=\"/admin/issues/{gone}/delete\"")));
    assert!(!list.contains(&format!("href=\"/admin/issues/{keep}/delete\"")));

    // Looking at the confirmation deletes nothing.
    let (status, page) = editor
        .get_page(&format!("/admin/issues/{gone}/delete"))
        .await;
    assert_eq!(status, 200);
    assert!(page.contains("<h1>Delete this draft?</h1>"), "{page}");
    assert_eq!(app.db.count("issues").await, 2);

    let response = editor
        .post_form(&format!("/admin/issues/{gone}/delete"), &[])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/admin/issues");
    let (_, list) = editor.get_page("/admin/issues").await;
    assert!(
        list.contains("The draft “Scrapped idea” was deleted."),
        "{list}"
    );
    assert!(!list.contains(&format!("href=\"/admin/issues/{gone}\"")));
    let (status, _) = editor.get_page(&format!("/admin/issues/{gone}")).await;
    assert_eq!(status, 404);

    // A sent issue stays, whatever is posted.
    let response = editor
        .post_form(&format!("/admin/issues/{keep}/delete"), &[])
        .await;
    assert_eq!(response.status(), 303);
    let (_, page) = editor.get_page(&format!("/admin/issues/{keep}")).await;
    assert!(page.contains("only a draft can be deleted"), "{page}");
    assert_eq!(app.db.count("issues").await, 1);
    let mut conn = app.db.connect().await;
    let deleted: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE action = 'issue_deleted'")
            .fetch_one(&mut conn)
            .await
            .expect("audit rows");
    assert_eq!(deleted, 1);
}

on_both_databases!(
    the_send_page_checks_the_issue_and_says_who_it_is_from,
    an_empty_issue_shows_the_missing_check_and_no_send_button,
    a_send_above_the_threshold_needs_the_number_of_readers_typed,
    without_smtp_the_dashboard_and_send_page_say_mail_is_not_delivered,
    the_first_run_checklist_goes_once_everything_is_done,
    a_cancelled_send_says_how_far_it_got,
    an_issue_is_duplicated_as_a_new_draft,
    only_a_draft_is_deleted_after_a_confirmation,
);
