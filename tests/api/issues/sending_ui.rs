//! Sending from the admin pages, as an editor does it: the confirmation step,
//! the progress on the issue page and as JSON, pause, resume and cancel, and
//! each subscriber's page listing the issues sent to them.

use std::time::Duration;

use herald::accounts::Role;
use herald::subscriptions::SubscriberStatus;
use serde_json::Value;

use super::{add_item, create_draft};
use crate::on_both_databases;
use crate::support::admin::AdminBrowser;
use crate::support::{Backend, TestApp, MAIL_WAIT};

/// How long a send of a few dozen copies may take in these tests.
const SEND_WAIT: Duration = Duration::from_secs(30);

const ITEM: [(&str, &str); 2] = [
    ("title", "Russian military arrive in Venezuela"),
    ("url", "https://ctmnews.example/2019/03/28/venezuela"),
];

/// Adds confirmed subscribers `{prefix}001@example.com`…; returns the addresses.
async fn add_confirmed(app: &TestApp, count: usize, prefix: &str) -> Vec<String> {
    app.add_subscribers(count, SubscriberStatus::Confirmed, prefix)
        .await
}

async fn subscriber_id(app: &TestApp, email: &str) -> i64 {
    let mut conn = app.db.connect().await;
    sqlx::query_scalar::<_, i64>("SELECT id FROM subscribers WHERE email = $1")
        .bind(email)
        .fetch_one(&mut conn)
        .await
        .expect("the subscriber's id")
}

async fn issue_status(app: &TestApp, issue: i64) -> String {
    let mut conn = app.db.connect().await;
    sqlx::query_scalar::<_, String>("SELECT status FROM issues WHERE id = $1")
        .bind(issue)
        .fetch_one(&mut conn)
        .await
        .expect("the issue's status")
}

async fn delivery_count(app: &TestApp, issue: i64) -> i64 {
    let mut conn = app.db.connect().await;
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM deliveries WHERE issue_id = $1")
        .bind(issue)
        .fetch_one(&mut conn)
        .await
        .expect("count deliveries")
}

/// A draft with one item, made in the composer.
async fn draft(editor: &AdminBrowser, subject: &str) -> i64 {
    let id = create_draft(editor, subject, "Hello *readers*.").await;
    let (status, _) = add_item(editor, id, &ITEM).await;
    assert_eq!(status, 303);
    id
}

async fn progress(editor: &AdminBrowser, issue: i64) -> Value {
    let response = editor.get(&format!("/admin/issues/{issue}/progress")).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("application/json"));
    response.json().await.expect("progress JSON")
}

/// Waits until the progress reads `status`; returns it.
async fn progress_until(editor: &AdminBrowser, issue: i64, status: &str) -> Value {
    let deadline = tokio::time::Instant::now() + SEND_WAIT;
    loop {
        let progress = progress(editor, issue).await;
        if progress["status"] == status {
            return progress;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the send did not reach {status} within {SEND_WAIT:?}: {progress}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The opening tag of the form (or link) on `page` that leads to `target`.
fn control<'a>(page: &'a str, target: &str) -> Option<&'a str> {
    let at = page
        .find(&format!("action=\"{target}\""))
        .or_else(|| page.find(&format!("href=\"{target}\"")))?;
    let start = page[..at].rfind('<')?;
    let end = at + page[at..].find('>')?;
    Some(&page[start..=end])
}

/// Whether `page` offers the control leading to `target` (present and not hidden).
fn offers(page: &str, target: &str) -> bool {
    control(page, target).is_some_and(|tag| !tag.contains(" hidden"))
}

async fn an_editor_sends_an_issue_after_a_confirmation_step(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let readers = add_confirmed(&app, 3, "reader").await;
    app.add_subscribers(2, SubscriberStatus::Pending, "waiting")
        .await;
    let editor = app.sign_in_as(Role::Editor).await;
    let issue = draft(&editor, "Weekly <digest>").await;
    let send_path = format!("/admin/issues/{issue}/send");

    // The draft's page leads to the confirmation step; nothing is sent by looking.
    let (_, composer) = editor.get_page(&format!("/admin/issues/{issue}")).await;
    assert!(offers(&composer, &send_path), "no Send… on the draft");
    assert!(!composer.contains("id=\"send-progress\""));
    let (status, confirm) = editor.get_page(&send_path).await;
    assert_eq!(status, 200);
    assert!(confirm.contains("Weekly &#60;digest&#62;"), "{confirm}");
    assert!(
        confirm.contains("<strong>3</strong> confirmed subscribers"),
        "the page counts the confirmed subscribers only: {confirm}"
    );
    assert!(confirm.contains("Send now to 3 subscribers"));
    assert!(confirm.contains("HTML size"));
    assert!(!confirm.contains("Warning: the HTML is"));
    assert_eq!(issue_status(&app, issue).await, "draft");

    // A forged request (no CSRF token) is refused before anything happens.
    let forged = editor.post_form_without_csrf(&send_path, &[]).await;
    assert_eq!(forged.status(), 403);
    assert_eq!(issue_status(&app, issue).await, "draft");
    assert_eq!(delivery_count(&app, issue).await, 0);

    let response = editor.post_form(&send_path, &[]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"],
        format!("/admin/issues/{issue}").as_str()
    );
    assert_eq!(delivery_count(&app, issue).await, 3);

    // A second press: 409, a page saying why, and nothing queued twice.
    let again = editor.post_form(&send_path, &[]).await;
    assert_eq!(again.status(), 409);
    let page = again.text().await.expect("page");
    assert!(page.contains("Nothing was changed"), "{page}");
    assert!(
        page.contains("already being sent") || page.contains("already sent"),
        "{page}"
    );
    assert_eq!(delivery_count(&app, issue).await, 3);

    let finished = progress_until(&editor, issue, "sent").await;
    assert_eq!(finished["total"], 3, "{finished}");
    assert_eq!(finished["sent"], 3, "{finished}");
    assert_eq!(finished["queued"], 0, "{finished}");
    assert_eq!(finished["failed"], 0, "{finished}");
    assert_eq!(finished["percent"], 100, "{finished}");
    assert_eq!(finished["live"], false, "{finished}");
    assert!(finished["finished"].as_str().is_some_and(|f| !f.is_empty()));
    app.smtp.wait_for_messages(3, MAIL_WAIT).await;
    for reader in &readers {
        let copies = app.mails_to(reader).await;
        assert_eq!(copies.len(), 1, "{reader} got {} copies", copies.len());
        assert_eq!(copies[0].subject, "Weekly <digest>");
        assert!(copies[0].text.contains(ITEM[0].1));
    }
    assert!(app.mails_to("waiting001@example.com").await.is_empty());

    // The issue's page shows the finished send, read-only, with no controls
    // and nothing left to refresh.
    let response = editor.get(&format!("/admin/issues/{issue}")).await;
    assert_eq!(response.status(), 200);
    let page = response.text().await.expect("page");
    assert!(page.contains("id=\"send-progress\""), "{page}");
    assert!(page.contains("<span class=\"badge badge-sent\" data-field=\"status\">sent</span>"));
    assert!(page.contains("<div class=\"n\" data-field=\"sent\">3</div>"));
    assert!(page.contains("can no longer be changed"));
    assert!(!page.contains("Save draft"));
    assert!(!offers(&page, &send_path));
    for step in ["pause", "resume", "cancel"] {
        assert!(
            !offers(&page, &format!("/admin/issues/{issue}/{step}")),
            "{step} is offered on a sent issue"
        );
    }
    assert!(!page.contains("http-equiv=\"refresh\""));
    assert!(!page.contains("progress.js"));

    // Too late for the confirmation step, too.
    let (status, page) = editor.get_page(&send_path).await;
    assert_eq!(status, 409);
    assert!(page.contains("only a draft can be sent"), "{page}");
    let (_, list) = editor.get_page("/admin/issues").await;
    assert!(
        list.contains("<span class=\"badge badge-sent\">sent</span>"),
        "{list}"
    );
}

async fn the_page_of_a_send_refreshes_itself_within_the_security_policy(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.send_rate = Some(5.try_into().expect("non-zero"));
    })
    .await;
    add_confirmed(&app, 20, "reader").await;
    let editor = app.sign_in_as(Role::Editor).await;
    let issue = draft(&editor, "Live").await;
    assert_eq!(
        editor
            .post_form(&format!("/admin/issues/{issue}/send"), &[])
            .await
            .status(),
        303
    );
    let response = editor.get(&format!("/admin/issues/{issue}")).await;
    assert_eq!(response.status(), 200);
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let page = response.text().await.expect("page");
    // The script comes from this site, and may only ask this site.
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(page.contains("<script src=\"/admin/issues/progress.js\" defer></script>"));
    assert!(
        !page.contains("<script>"),
        "an inline script would be blocked"
    );
    // Without script the page reloads itself.
    assert!(page.contains("<noscript><meta http-equiv=\"refresh\" content=\"5\"></noscript>"));
    assert!(page.contains(&format!(
        "data-url=\"/admin/issues/{issue}/progress\" data-live=\"true\""
    )));
    assert!(offers(&page, &format!("/admin/issues/{issue}/pause")));
    assert!(offers(&page, &format!("/admin/issues/{issue}/cancel")));
    assert!(!offers(&page, &format!("/admin/issues/{issue}/resume")));

    let script = editor.get("/admin/issues/progress.js").await;
    assert_eq!(script.status(), 200);
    assert!(script.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/javascript"));
    let script = script.text().await.expect("script");
    assert!(script.contains("/progress") || script.contains("data-url"));

    let live = progress(&editor, issue).await;
    assert_eq!(live["live"], true, "{live}");
    assert_eq!(live["total"], 20, "{live}");
    let cancelled = editor
        .post_form(&format!("/admin/issues/{issue}/cancel"), &[])
        .await;
    assert_eq!(cancelled.status(), 303);
}

async fn pause_resume_and_cancel_work_from_the_issue_page(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.send_rate = Some(10.try_into().expect("non-zero"));
    })
    .await;
    add_confirmed(&app, 40, "reader").await;
    let editor = app.sign_in_as(Role::Editor).await;
    let issue = draft(&editor, "Controlled").await;
    let path = |step: &str| format!("/admin/issues/{issue}/{step}");

    // A draft can be neither paused, resumed nor cancelled.
    for step in ["pause", "resume", "cancel"] {
        let response = editor.post_form(&path(step), &[]).await;
        assert_eq!(response.status(), 409, "{step} on a draft");
        let page = response.text().await.expect("page");
        assert!(page.contains("This issue is a draft"), "{page}");
    }
    let (status, _) = editor.get_page(&path("cancel")).await;
    assert_eq!(status, 409, "the cancel confirmation of a draft");
    assert_eq!(issue_status(&app, issue).await, "draft");

    assert_eq!(editor.post_form(&path("send"), &[]).await.status(), 303);
    app.smtp.wait_for_messages(2, MAIL_WAIT).await;
    assert_eq!(editor.post_form(&path("resume"), &[]).await.status(), 409);

    let response = editor.post_form(&path("pause"), &[]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"],
        format!("/admin/issues/{issue}").as_str()
    );
    let paused = progress(&editor, issue).await;
    assert_eq!(paused["status"], "paused", "{paused}");
    assert_eq!(paused["time_left"], "paused", "{paused}");
    assert_eq!(paused["live"], true, "{paused}");
    let (_, page) = editor.get_page(&format!("/admin/issues/{issue}")).await;
    assert!(offers(&page, &path("resume")));
    assert!(offers(&page, &path("cancel")));
    assert!(!offers(&page, &path("pause")));
    assert!(page.contains("<span class=\"badge badge-paused\" data-field=\"status\">paused</span>"));
    let again = editor.post_form(&path("pause"), &[]).await;
    assert_eq!(again.status(), 409);
    assert!(again
        .text()
        .await
        .expect("page")
        .contains("This issue&#39;s send is paused."));

    assert_eq!(editor.post_form(&path("resume"), &[]).await.status(), 303);
    assert_eq!(issue_status(&app, issue).await, "sending");

    // Cancelling asks first, and says what it drops.
    let (status, confirm) = editor.get_page(&path("cancel")).await;
    assert_eq!(status, 200);
    assert!(confirm.contains("<h1>Cancel the send?</h1>"));
    assert!(confirm.contains(&format!("action=\"{}\"", path("cancel"))));
    assert_eq!(issue_status(&app, issue).await, "sending");
    let response = editor.post_form(&path("cancel"), &[]).await;
    assert_eq!(response.status(), 303);
    let cancelled = progress(&editor, issue).await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert_eq!(cancelled["live"], false, "{cancelled}");
    assert_eq!(cancelled["queued"], 0, "{cancelled}");
    let sent = cancelled["sent"].as_i64().expect("sent");
    let dropped = cancelled["cancelled"].as_i64().expect("cancelled");
    assert_eq!(sent + dropped, 40, "{cancelled}");
    assert!(
        dropped > 0,
        "the send finished before the cancel: {cancelled}"
    );

    for step in ["pause", "resume", "cancel", "send"] {
        let response = editor.post_form(&path(step), &[]).await;
        assert_eq!(response.status(), 409, "{step} after a cancel");
    }
    let (_, page) = editor.get_page(&format!("/admin/issues/{issue}")).await;
    assert!(page.contains("badge-cancelled"));
    for step in ["pause", "resume", "cancel"] {
        assert!(!offers(&page, &path(step)), "{step} offered after a cancel");
    }
    let (_, list) = editor.get_page("/admin/issues").await;
    assert!(list.contains("<span class=\"badge badge-cancelled\">cancelled</span>"));
}

async fn a_subscriber_page_lists_the_issues_sent_with_their_outcome(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let readers = add_confirmed(&app, 3, "reader").await;
    let refused = readers[1].clone();
    app.smtp.reject_recipient(&refused, 550);
    let editor = app.sign_in_as(Role::Editor).await;
    // Subscriber pages are for admins.
    let admin = app.sign_in_as(Role::Admin).await;
    let (_, before) = admin
        .get_page(&format!(
            "/admin/subscribers/{}",
            subscriber_id(&app, &readers[0]).await
        ))
        .await;
    assert!(before.contains("Issues received"));
    assert!(before.contains("No issue has been sent to this address yet."));

    let issue = draft(&editor, "Outcomes").await;
    assert_eq!(
        editor
            .post_form(&format!("/admin/issues/{issue}/send"), &[])
            .await
            .status(),
        303
    );
    let finished = progress_until(&editor, issue, "sent").await;
    assert_eq!(finished["sent"], 2, "{finished}");
    assert_eq!(finished["failed"], 1, "{finished}");
    let failures = finished["failures"].as_array().expect("failures");
    assert_eq!(failures.len(), 1, "{finished}");
    assert_eq!(failures[0]["email"], refused.as_str());
    assert!(
        failures[0]["reason"].as_str().unwrap_or("").contains("550"),
        "{finished}"
    );

    // The issue page lists the failure; for an admin, linked to the
    // subscriber's page, which editors may not open.
    let refused_id = subscriber_id(&app, &refused).await;
    let (_, page) = editor.get_page(&format!("/admin/issues/{issue}")).await;
    assert!(page.contains("Latest failures"));
    assert!(page.contains(&format!("<td>{refused}</td>")), "{page}");
    assert!(!page.contains("href=\"/admin/subscribers/"));
    let (_, page) = admin.get_page(&format!("/admin/issues/{issue}")).await;
    assert!(page.contains(&format!(
        "<a href=\"/admin/subscribers/{refused_id}\">{refused}</a>"
    )));

    let (status, delivered) = admin
        .get_page(&format!(
            "/admin/subscribers/{}",
            subscriber_id(&app, &readers[0]).await
        ))
        .await;
    assert_eq!(status, 200);
    let row = received_row(&delivered, issue);
    assert!(row.contains(">Outcomes</a>"), "{row}");
    assert!(row.contains("<td>sent</td>"), "{row}");
    assert!(row.contains(" UTC</td>"), "when it went out: {row}");
    assert!(row.contains("250"), "the server's reply: {row}");

    let (_, failed) = admin
        .get_page(&format!("/admin/subscribers/{refused_id}"))
        .await;
    let row = received_row(&failed, issue);
    // The test relay refuses with 550 5.1.1: a dead address, a hard failure.
    assert!(
        row.contains("<td class=\"error\">failed (hard)</td>"),
        "{row}"
    );
    assert!(row.contains("550"), "why it failed: {row}");
    assert!(row.contains(" UTC</td>"), "when it failed: {row}");
}

/// The row of the "Issues received" table that links to `issue`.
fn received_row(page: &str, issue: i64) -> String {
    let table = page
        .split("<h2>Issues received</h2>")
        .nth(1)
        .expect("an Issues received section");
    let link = format!("<a href=\"/admin/issues/{issue}\">");
    let at = table.find(&link).expect("the issue is listed");
    let start = table[..at].rfind("<tr>").expect("a row");
    let end = at + table[at..].find("</tr>").expect("the row ends");
    table[start..end].to_owned()
}

on_both_databases!(
    an_editor_sends_an_issue_after_a_confirmation_step,
    the_page_of_a_send_refreshes_itself_within_the_security_policy,
    pause_resume_and_cancel_work_from_the_issue_page,
    a_subscriber_page_lists_the_issues_sent_with_their_outcome,
);
