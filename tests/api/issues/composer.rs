//! The composer under `/admin/issues`, as an editor uses it, and the test send.

use herald::accounts::Role;

use super::{
    add_item, assert_inert, create_draft, follow, item_ids, item_list, location_of, mark_sent,
    shows_escaped,
};
use crate::on_both_databases;
use crate::support::admin::cookie_client;
use crate::support::{Backend, SmtpMode, TestApp};

const FIRST: [(&str, &str); 5] = [
    ("title", "Russian military arrive in Venezuela"),
    ("url", "https://ctmnews.example/2019/03/28/venezuela"),
    ("source", "CTM News"),
    ("date", "2019-03-28"),
    ("summary", "Specialists, **not** troops, says Moscow."),
];
const SECOND: [(&str, &str); 5] = [
    ("title", "A second story"),
    ("url", "https://example.com/second"),
    ("source", ""),
    ("date", ""),
    ("summary", ""),
];

async fn an_editor_composes_an_issue_with_items(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let editor = app.sign_in_as(Role::Editor).await;
    let (status, page) = editor.get_page("/admin/issues").await;
    assert_eq!(status, 200);
    assert!(page.contains("No issues yet"));

    let id = create_draft(&editor, "Weekly digest", "Hello *readers*.").await;
    let (status, _) = add_item(&editor, id, &FIRST).await;
    assert_eq!(status, 303);
    let (status, page) = add_item(&editor, id, &SECOND).await;
    assert_eq!(status, 303);
    assert!(page.contains("The item is added."));
    let ids = item_ids(&page);
    assert_eq!(ids.len(), 2);
    assert!(page.find(FIRST[0].1) < page.find(SECOND[0].1));
    assert!(page.contains("CTM News · 28 March 2019"));

    // Reorder: the second item moves up.
    let response = editor
        .post_form(
            &format!("/admin/issues/{id}/items/{}/move", ids[1]),
            &[("direction", "up")],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        location_of(&response),
        format!("/admin/issues/{id}#item-{}", ids[1])
    );
    let (_, page) = editor.get_page(&format!("/admin/issues/{id}")).await;
    assert_eq!(item_ids(&page), [ids[1], ids[0]]);
    assert!(page.find(SECOND[0].1) < page.find(FIRST[0].1));

    // Edit the first item and the issue itself.
    let mut edited = FIRST;
    edited[0] = ("title", "Russian specialists arrive in Caracas");
    let response = editor
        .post_form(&format!("/admin/issues/{id}/items/{}", ids[0]), &edited)
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        location_of(&response),
        format!("/admin/issues/{id}#item-{}", ids[0])
    );
    let response = editor
        .post_form(
            &format!("/admin/issues/{id}"),
            &[
                ("subject", "Weekly digest, edited"),
                ("preheader", "Two stories"),
                ("intro", "Hello again."),
            ],
        )
        .await;
    let (status, page) = follow(&editor, response).await;
    assert_eq!(status, 303);
    assert!(page.contains("The draft is saved."));
    assert!(page.contains("Russian specialists arrive in Caracas"));
    assert!(!page.contains("Russian military arrive in Venezuela"));
    assert!(page.contains("Weekly digest, edited"));

    // The preview shows the HTML (in a frame) and the text side by side.
    let (status, preview) = editor
        .get_page(&format!("/admin/issues/{id}/preview"))
        .await;
    assert_eq!(status, 200);
    assert!(preview.contains(&format!(
        "<iframe src=\"/admin/issues/{id}/preview.html\" sandbox"
    )));
    assert!(preview.contains("<pre class=\"plain\""));
    assert!(preview.contains("1. A second story"));
    assert!(preview.contains("2. Russian specialists arrive in Caracas"));
    assert!(preview.contains("https://ctmnews.example/2019/03/28/venezuela"));
    assert!(preview.contains("HTML size: <strong>"));
    assert!(!preview.contains("Warning: the HTML is"));
    let response = editor
        .get(&format!("/admin/issues/{id}/preview.html"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-frame-options"], "SAMEORIGIN");
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .expect("ascii");
    assert!(csp.contains("sandbox") && csp.contains("frame-ancestors 'self'"));
    let document = response.text().await.expect("HTML");
    assert!(document.contains("Russian specialists arrive in Caracas</a>"));
    assert!(document.contains("Specialists, <strong>not</strong> troops, says Moscow."));
    assert!(document.contains("<strong>not</strong>"));

    // Remove an item.
    let response = editor
        .post_form(&format!("/admin/issues/{id}/items/{}/remove", ids[1]), &[])
        .await;
    assert_eq!(response.status(), 303);
    let (_, page) = editor.get_page(&format!("/admin/issues/{id}")).await;
    assert_eq!(item_ids(&page), [ids[0]]);
    assert!(!item_list(&page).contains(SECOND[0].1));

    // The list and the dashboard show the draft.
    let (_, list) = editor.get_page("/admin/issues").await;
    assert!(list.contains("Weekly digest, edited") && list.contains("draft"));
    let (_, dashboard) = editor.get_page("/admin").await;
    assert!(dashboard.contains("Latest issues"));
    assert!(dashboard.contains(&format!("href=\"/admin/issues/{id}\"")));
}

async fn invalid_fields_are_named_and_nothing_is_saved(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let editor = app.sign_in_as(Role::Editor).await;
    let response = editor
        .post_form(
            "/admin/issues",
            &[("subject", "  "), ("preheader", ""), ("intro", "x")],
        )
        .await;
    assert_eq!(response.status(), 422);
    let page = response.text().await.expect("page");
    assert!(page.contains("The subject is required."));
    assert!(page.contains("<title>Error: New issue"));
    assert!(page.contains("aria-invalid=\"true\" aria-describedby=\"subject-error\""));
    assert_eq!(app.db.count("issues").await, 0);

    let id = create_draft(&editor, "Digest", "").await;
    let (status, page) = add_item(
        &editor,
        id,
        &[
            ("title", "Kept title"),
            ("url", "javascript:alert(1)"),
            ("date", "2019-02-30"),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(page.contains("Nothing was saved"));
    assert!(page.contains("<title>Error: Digest"));
    assert!(page.contains("aria-describedby=\"new-url-error\""));
    assert!(page.contains("The URL must be a full http:// or https:// address"));
    assert!(page.contains("The date must read YYYY-MM-DD"));
    // What was typed comes back in the form.
    assert!(page.contains("value=\"Kept title\""));
    assert_eq!(app.db.count("issue_items").await, 0);

    let response = editor
        .post_form(
            &format!("/admin/issues/{id}"),
            &[("subject", "Two\r\nlines"), ("intro", "")],
        )
        .await;
    assert_eq!(response.status(), 422);
    let (_, page) = editor.get_page(&format!("/admin/issues/{id}")).await;
    assert!(page.contains("<h1>Digest</h1>"));
}

async fn a_huge_issue_warns_that_gmail_will_clip_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let editor = app.sign_in_as(Role::Editor).await;
    // 20,000 characters of short links: each becomes about 100 bytes of styled HTML.
    let link = "[a](http://a.io) ";
    let intro = link.repeat(20_000 / link.len());
    let id = create_draft(&editor, "Huge", &intro).await;
    let (status, preview) = editor
        .get_page(&format!("/admin/issues/{id}/preview"))
        .await;
    assert_eq!(status, 200);
    assert!(preview.contains("Warning: the HTML is"), "no size warning");
    assert!(preview.contains("Gmail clips messages larger than about 102 KB"));
}

async fn a_test_copy_arrives_with_both_parts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let editor = app.sign_in_as(Role::Editor).await;
    let id = create_draft(
        &editor,
        "Weekly digest",
        "Hello <script>alert('intro')</script>**readers**.",
    )
    .await;
    add_item(&editor, id, &FIRST).await;
    let response = editor
        .post_form(
            &format!("/admin/issues/{id}/test"),
            &[("to", "tester@example.com")],
        )
        .await;
    // Post/redirect/get: the preview says it went, and a refresh sends nothing.
    assert_eq!(response.status(), 303);
    let preview = format!("/admin/issues/{id}/preview");
    assert_eq!(response.headers()["location"], preview.as_str());
    let (_, page) = editor.get_page(&preview).await;
    assert!(
        page.contains("A test copy went to tester@example.com"),
        "{page}"
    );
    let (_, again) = editor.get_page(&preview).await;
    assert!(
        !again.contains("A test copy went to"),
        "the notice shows once"
    );

    let mail = app.next_mail_to("tester@example.com", 0).await;
    assert_eq!(mail.subject, "[Test] Weekly digest");
    assert!(mail
        .text
        .contains("1. Russian military arrive in Venezuela"));
    assert!(mail
        .text
        .contains("https://ctmnews.example/2019/03/28/venezuela"));
    assert!(mail.text.contains("1 Test Street, Testville"));
    assert!(mail
        .text
        .lines()
        .all(|l| l.chars().count() <= 78 || !l.trim().contains(' ')));
    assert!(mail
        .html
        .contains("Russian military arrive in Venezuela</a>"));
    assert!(mail.html.contains("<strong>readers</strong>"));
    assert!(!mail.html.contains("alert('intro')"));
    assert_inert(&mail.html);
    // The test copy is the reader's copy: the same list headers and
    // Message-ID form, and an unsubscribe link that shows the page but
    // changes nothing.
    let list_unsubscribe = mail.header("List-Unsubscribe").expect("List-Unsubscribe");
    let unsubscribe = list_unsubscribe
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_owned();
    assert!(
        unsubscribe.starts_with(&format!("{}/unsubscribe?token=test-copy.", app.address)),
        "{unsubscribe}"
    );
    assert_eq!(
        mail.header("List-Unsubscribe-Post"),
        Some("List-Unsubscribe=One-Click")
    );
    assert_eq!(mail.header("Precedence"), Some("bulk"));
    assert!(mail.header("List-Id").is_some());
    let message_id = mail.header("Message-ID").expect("Message-ID");
    assert!(
        message_id.starts_with(&format!("<issue-{id}.")) && message_id.ends_with("@localhost>"),
        "{message_id}"
    );
    // In HTML the `&` before `issue=` is written `&amp;`.
    assert!(
        mail.html.contains(&unsubscribe.replace('&', "&amp;")) && mail.text.contains(&unsubscribe)
    );
    let page = app.get(&unsubscribe).await;
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .expect("page")
        .contains("This link came in a test copy"));
    let answer = app
        .post_form(&unsubscribe, &[("List-Unsubscribe", "One-Click")])
        .await;
    assert_eq!(answer.status(), 200);
    assert!(answer
        .text()
        .await
        .expect("page")
        .contains("This was a test copy: nothing changed"));
    assert!(!mail.html.contains("HERALD-READER-TOKEN-PLACEHOLDER"));
}

async fn a_test_send_to_a_bad_address_or_refused_by_smtp_is_reported(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let editor = app.sign_in_as(Role::Editor).await;
    let id = create_draft(&editor, "Digest", "Hello.").await;
    let response = editor
        .post_form(
            &format!("/admin/issues/{id}/test"),
            &[("to", "not-an-address")],
        )
        .await;
    assert_eq!(response.status(), 400);
    let page = response.text().await.expect("page");
    assert!(page.contains("does not look like an email address"));
    assert!(page.contains("value=\"not-an-address\""));

    app.smtp.set_mode(SmtpMode::RejectPermanent);
    let response = editor
        .post_form(
            &format!("/admin/issues/{id}/test"),
            &[("to", "tester@example.com")],
        )
        .await;
    assert_eq!(response.status(), 502);
    let page = response.text().await.expect("page");
    assert!(page.contains("The test copy was not sent"), "{page}");
    assert!(page.contains("550"), "the SMTP reply is shown: {page}");
    assert!(app.mails_after_quiet_period().await.is_empty());
}

async fn script_in_an_issue_is_inert_in_the_admin_pages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let editor = app.sign_in_as(Role::Editor).await;
    let id = create_draft(
        &editor,
        "<script>alert('subject')</script>",
        "<img src=x onerror=alert('intro')> [x](javascript:alert('link'))",
    )
    .await;
    let (status, _) = add_item(
        &editor,
        id,
        &[
            ("title", "<script>alert('title')</script>"),
            (
                "url",
                "https://example.com/\"><script>alert('url')</script>",
            ),
            ("source", "\"><svg onload=alert('source')>"),
            ("summary", "<b onmouseover=alert('summary')>hi</b>"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    for path in [
        "/admin".to_owned(),
        "/admin/issues".to_owned(),
        format!("/admin/issues/{id}"),
        format!("/admin/issues/{id}/preview"),
        format!("/admin/issues/{id}/preview.html"),
    ] {
        let (status, page) = editor.get_page(&path).await;
        assert_eq!(status, 200, "{path}");
        assert_inert(&page);
        assert!(!page.contains("<script>alert"), "{path}");
    }
    let (_, page) = editor.get_page(&format!("/admin/issues/{id}")).await;
    assert!(shows_escaped(&page, "<script>alert("));
}

async fn a_sent_issue_cannot_be_edited(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let editor = app.sign_in_as(Role::Editor).await;
    let id = create_draft(&editor, "Sent digest", "Hello.").await;
    add_item(&editor, id, &FIRST).await;
    mark_sent(&app, id, 1_700_000_000_000).await;

    let response = editor
        .post_form(
            &format!("/admin/issues/{id}"),
            &[("subject", "Changed"), ("intro", "")],
        )
        .await;
    let (status, page) = follow(&editor, response).await;
    assert_eq!(status, 303);
    assert!(page.contains("Only drafts can be changed; this issue is sent."));
    assert!(page.contains("class=\"error flash\""));
    let (status, page) = add_item(&editor, id, &SECOND).await;
    assert_eq!(status, 303);
    assert!(page.contains("Only drafts can be changed; this issue is sent."));
    let (_, page) = editor.get_page(&format!("/admin/issues/{id}")).await;
    let ids = item_ids(&page);
    let response = editor
        .post_form(&format!("/admin/issues/{id}/items/{}/remove", ids[0]), &[])
        .await;
    assert_eq!(response.status(), 303);
    let (_, page) = editor.get_page(&format!("/admin/issues/{id}")).await;
    assert!(page.contains("<h1>Sent digest</h1>"));
    assert!(page.contains("can no longer be changed"));
    assert!(!page.contains("Save draft"));
    assert_eq!(item_ids(&page), ids);
    // A test copy of a sent issue is still allowed.
    let (status, _) = editor
        .get_page(&format!("/admin/issues/{id}/preview"))
        .await;
    assert_eq!(status, 200);
}

async fn the_composer_needs_a_session_and_a_csrf_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let anonymous = cookie_client();
    for path in [
        "/admin/issues",
        "/admin/issues/new",
        "/admin/issues/1/preview.html",
    ] {
        let response = anonymous.get(app.url(path)).send().await.expect("GET");
        assert_eq!(response.status(), 303, "{path}");
    }
    let editor = app.sign_in_as(Role::Editor).await;
    let response = editor
        .post_form_without_csrf("/admin/issues", &[("subject", "Forged"), ("intro", "")])
        .await;
    assert_eq!(response.status(), 403);
    assert_eq!(app.db.count("issues").await, 0);
    let (status, _) = editor.get_page("/admin/issues/999999").await;
    assert_eq!(status, 404);
    let (status, _) = editor.get_page("/admin/issues/999999/preview").await;
    assert_eq!(status, 404);
}

const THIRD: [(&str, &str); 2] = [
    ("title", "A third story"),
    ("url", "https://example.com/third"),
];

/// The intro as the composer's one form sends it with an item button.
fn with_header<'a>(intro: &'a str, fields: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut all = vec![("subject", "Digest"), ("preheader", ""), ("intro", intro)];
    all.extend_from_slice(fields);
    all
}

async fn adding_an_item_keeps_the_intro_typed_beside_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let editor = app.sign_in_as(Role::Editor).await;
    let id = create_draft(&editor, "Digest", "Old intro.").await;

    let fields = with_header("New intro, never saved on its own.", &FIRST);
    let response = editor
        .post_form(&format!("/admin/issues/{id}/items"), &fields)
        .await;
    assert_eq!(response.status(), 303);
    let location = location_of(&response);
    let (_, page) = follow(&editor, response).await;
    let ids = item_ids(&page);
    assert_eq!(ids.len(), 1);
    assert_eq!(location, format!("/admin/issues/{id}#item-{}", ids[0]));
    assert!(page.contains("New intro, never saved on its own."));
    assert!(!page.contains("Old intro."));
    assert!(page.contains(&format!("<li id=\"item-{}\"", ids[0])));

    // Refreshing the page the add led to adds nothing.
    for _ in 0..2 {
        let (status, page) = editor.get_page(&format!("/admin/issues/{id}")).await;
        assert_eq!(status, 200);
        assert_eq!(item_ids(&page).len(), 1);
    }
    assert_eq!(app.db.count("issue_items").await, 1);

    // A refused item keeps both the item and the intro as typed.
    let fields = with_header(
        "An intro edit with a bad item.",
        &[("title", "Kept title"), ("url", "not a link")],
    );
    let response = editor
        .post_form(&format!("/admin/issues/{id}/items"), &fields)
        .await;
    assert_eq!(response.status(), 422);
    let page = response.text().await.expect("page");
    assert!(page.contains("An intro edit with a bad item."));
    assert!(page.contains("value=\"Kept title\""));
    assert!(page.contains("aria-describedby=\"new-url-error\""));
    assert_eq!(app.db.count("issue_items").await, 1);
}

async fn a_removed_item_comes_back_at_its_place_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let editor = app.sign_in_as(Role::Editor).await;
    let id = create_draft(&editor, "Digest", "Hello.").await;
    add_item(&editor, id, &FIRST).await;
    add_item(&editor, id, &SECOND).await;
    let (_, page) = add_item(&editor, id, &THIRD).await;
    let ids = item_ids(&page);

    let response = editor
        .post_form(
            &format!("/admin/issues/{id}/items/{}/remove", ids[1]),
            &with_header("Hello, edited.", &[]),
        )
        .await;
    let (status, page) = follow(&editor, response).await;
    assert_eq!(status, 303);
    assert!(page.contains("The item “A second story” is removed."));
    assert!(page.contains("Removed “A second story”."));
    assert!(page.contains(&format!("action=\"/admin/issues/{id}/items/undo\"")));
    assert!(page.contains("Hello, edited."));
    assert_eq!(item_ids(&page), [ids[0], ids[2]]);

    let response = editor
        .post_form(&format!("/admin/issues/{id}/items/undo"), &[])
        .await;
    assert_eq!(response.status(), 303);
    let location = location_of(&response);
    let (_, page) = follow(&editor, response).await;
    assert!(page.contains("The item “A second story” is back."));
    let restored = item_ids(&page);
    assert_eq!(restored.len(), 3);
    assert_eq!([restored[0], restored[2]], [ids[0], ids[2]]);
    assert_eq!(location, format!("/admin/issues/{id}#item-{}", restored[1]));
    let list = item_list(&page);
    assert!(list.find(FIRST[0].1) < list.find(SECOND[0].1));
    assert!(list.find(SECOND[0].1) < list.find(THIRD[0].1));
    assert!(!page.contains("Removed “A second story”."));

    // Sending the undo again (a refresh, the back button) restores nothing.
    let response = editor
        .post_form(&format!("/admin/issues/{id}/items/undo"), &[])
        .await;
    let (status, page) = follow(&editor, response).await;
    assert_eq!(status, 303);
    assert!(page.contains("There is no removal to undo"));
    assert_eq!(item_ids(&page).len(), 3);

    // Another change ends the offer.
    editor
        .post_form(&format!("/admin/issues/{id}/items/{}/remove", ids[0]), &[])
        .await;
    add_item(&editor, id, &SECOND).await;
    let response = editor
        .post_form(&format!("/admin/issues/{id}/items/undo"), &[])
        .await;
    let (_, page) = follow(&editor, response).await;
    assert!(page.contains("There is no removal to undo"));
    assert_eq!(app.db.count("issue_items").await, 3);
}

async fn an_item_dragged_to_a_place_lands_there_with_the_intro(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let editor = app.sign_in_as(Role::Editor).await;
    let id = create_draft(&editor, "Digest", "Hello.").await;
    add_item(&editor, id, &FIRST).await;
    add_item(&editor, id, &SECOND).await;
    let (_, page) = add_item(&editor, id, &THIRD).await;
    let ids = item_ids(&page);

    let response = editor
        .post_form(
            &format!("/admin/issues/{id}/items/{}/move", ids[2]),
            &with_header("Moved with this intro.", &[("position", "1")]),
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        location_of(&response),
        format!("/admin/issues/{id}#item-{}", ids[2])
    );
    let (_, page) = follow(&editor, response).await;
    assert_eq!(item_ids(&page), [ids[2], ids[0], ids[1]]);
    assert!(page.contains("Moved with this intro."));

    let response = editor
        .post_form(
            &format!("/admin/issues/{id}/items/{}/move", ids[0]),
            &[("position", "0")],
        )
        .await;
    let (status, page) = follow(&editor, response).await;
    assert_eq!(status, 303);
    assert!(page.contains("class=\"error flash\""));
    assert_eq!(item_ids(&page), [ids[2], ids[0], ids[1]]);
}

/// Enter in a field presses the page's first button, "Save draft": a new
/// item typed by then is added, not dropped.
async fn save_draft_adds_the_new_item_typed_too(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let editor = app.sign_in_as(Role::Editor).await;
    let id = create_draft(&editor, "Digest", "Hello.").await;
    let response = editor
        .post_form(
            &format!("/admin/issues/{id}"),
            &with_header("Hello, saved with an item.", &FIRST),
        )
        .await;
    assert_eq!(response.status(), 303);
    let location = location_of(&response);
    let (_, page) = follow(&editor, response).await;
    let ids = item_ids(&page);
    assert_eq!(ids.len(), 1);
    assert_eq!(location, format!("/admin/issues/{id}#item-{}", ids[0]));
    assert!(page.contains("Hello, saved with an item."));

    // With the new item's fields left empty it saves the draft alone.
    let response = editor
        .post_form(
            &format!("/admin/issues/{id}"),
            &with_header("Only the intro.", &[("title", ""), ("url", "")]),
        )
        .await;
    let (status, page) = follow(&editor, response).await;
    assert_eq!(status, 303);
    assert!(page.contains("The draft is saved."));
    assert_eq!(item_ids(&page).len(), 1);
}

on_both_databases!(
    an_editor_composes_an_issue_with_items,
    invalid_fields_are_named_and_nothing_is_saved,
    a_huge_issue_warns_that_gmail_will_clip_it,
    a_test_copy_arrives_with_both_parts,
    a_test_send_to_a_bad_address_or_refused_by_smtp_is_reported,
    script_in_an_issue_is_inert_in_the_admin_pages,
    a_sent_issue_cannot_be_edited,
    the_composer_needs_a_session_and_a_csrf_token,
    adding_an_item_keeps_the_intro_typed_beside_it,
    a_removed_item_comes_back_at_its_place_once,
    an_item_dragged_to_a_place_lands_there_with_the_intro,
    save_draft_adds_the_new_item_typed_too,
);
