//! Leaving: a page with one button, and the RFC 8058 one-click POST.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use herald::accounts::Role;

use crate::on_both_databases;
use crate::support::{legacy_unsubscribe_token, token_of, Backend, TestApp, TestDatabase};

/// A subscriber inserted with a chosen id, as SQLite did when it gave an
/// erased subscriber's id to the next row (issue 10, items 1 and 2).
async fn insert_with_id(db: &TestDatabase, id: i64, email: &str) {
    // PostgreSQL generates ids itself unless told otherwise.
    let overriding = match db.backend {
        Backend::Sqlite => "",
        Backend::Postgres => "OVERRIDING SYSTEM VALUE",
    };
    let mut conn = db.connect().await;
    sqlx::query(&format!(
        "INSERT INTO subscribers (id, email, name, status, created_at, updated_at) \
         {overriding} VALUES ($1, $2, 'Next Reader', 'confirmed', 1, 1)",
    ))
    .bind(id)
    .bind(email)
    .execute(&mut conn)
    .await
    .expect("insert with an explicit id");
}

/// The link neither shows `email` nor takes it off the list.
async fn assert_link_spares(app: &TestApp, link: &str, email: &str) {
    let page = app.get(link).await.text().await.expect("page");
    assert!(!page.contains(email), "the link shows {email}: {page}");
    app.client
        .post(app.url(link))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .expect("one-click POST");
    assert_eq!(
        app.subscriber_status(email).await.as_deref(),
        Some("confirmed"),
        "the link unsubscribed {email}"
    );
}

/// Issue 10, item 2: an erased subscriber's link must not reach whoever gets their id next.
async fn an_erased_subscribers_link_reaches_nobody_else(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let link = app.subscribed_reader("first@example.com").await;
    let id = app.db.subscriber_id("first@example.com").await;
    let admin = app.sign_in_as(Role::Admin).await;
    let response = admin
        .post_form(
            &format!("/admin/subscribers/{id}/erase"),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(app.db.count("subscribers").await, 0);

    insert_with_id(&app.db, id, "next@example.com").await;
    assert_link_spares(&app, &link, "next@example.com").await;
    // Nor does a link in the old format made for that id: the row is newer than the upgrade.
    let old = format!("/unsubscribe?token={}", legacy_unsubscribe_token(id));
    assert_link_spares(&app, &old, "next@example.com").await;
}

/// Issue 10, item 2: links mailed by the release before keep working for
/// their own subscriber, and for nobody else.
async fn a_link_mailed_before_the_upgrade_works_for_its_subscriber_only(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    db.migrate_to(8).await;
    insert_with_id(&db, 7, "kept@example.com").await;
    insert_with_id(&db, 8, "erased@example.com").await;
    let app = TestApp::spawn_on(db).await;

    // The erased subscriber's id goes to a row created after the upgrade.
    let mut conn = app.db.connect().await;
    sqlx::query("DELETE FROM subscribers WHERE id = 8")
        .execute(&mut conn)
        .await
        .expect("erase");
    insert_with_id(&app.db, 8, "newcomer@example.com").await;
    let erased_link = format!("/unsubscribe?token={}", legacy_unsubscribe_token(8));
    assert_link_spares(&app, &erased_link, "newcomer@example.com").await;

    let kept_link = format!("/unsubscribe?token={}", legacy_unsubscribe_token(7));
    let page = app.get(&kept_link).await.text().await.expect("page");
    assert!(page.contains("kept@example.com"), "{page}");
    let response = app.post_form(&kept_link, &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        app.subscriber_status("kept@example.com").await.as_deref(),
        Some("unsubscribed")
    );
}

/// Issue 10, item 2: the token no longer starts with the subscriber id in clear.
async fn the_unsubscribe_link_does_not_reveal_the_subscriber_id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let link = app.subscribed_reader("private@example.com").await;
    let id = app.db.subscriber_id("private@example.com").await;
    let token = token_of(&link);
    assert_ne!(token, legacy_unsubscribe_token(id));
    let bytes = URL_SAFE_NO_PAD.decode(&token).expect("base64url");
    assert!(
        !bytes.windows(8).any(|w| w == id.to_be_bytes()),
        "the token {token} carries id {id}"
    );
}

async fn the_unsubscribe_page_shows_one_button_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let link = app.subscribed_reader("leaving@example.com").await;
    let response = app.get(&link).await;
    assert_eq!(response.status(), 200);
    let page = response.text().await.expect("body");
    assert!(page.contains("leaving@example.com"));
    assert_eq!(page.matches("<button").count(), 1);
    assert!(page.contains(">Leave everything</button>"));
    assert_eq!(
        app.subscriber_status("leaving@example.com")
            .await
            .as_deref(),
        Some("confirmed")
    );
}

async fn pressing_the_button_unsubscribes_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let link = app.subscribed_reader("leaving@example.com").await;
    let page = app.get(&link).await.text().await.expect("body");
    let action = page
        .split(r#"action=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the form has an action")
        .replace("&amp;", "&");
    let response = app.post_form(&action, &[]).await;
    assert_eq!(response.status(), 200);
    assert!(response
        .text()
        .await
        .expect("body")
        .contains("You are unsubscribed"));
    assert_eq!(
        app.subscriber_status("leaving@example.com")
            .await
            .as_deref(),
        Some("unsubscribed")
    );
    let kinds: Vec<String> = app
        .db
        .events("leaving@example.com")
        .await
        .into_iter()
        .map(|(kind, _, _)| kind)
        .collect();
    assert_eq!(kinds, ["signed_up", "confirmed", "unsubscribed"]);
}

async fn one_click_post_unsubscribes_without_cookies_or_csrf_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (email, multipart) in [("oneclick@example.com", false), ("gmail@example.com", true)] {
        let link = app.subscribed_reader(email).await;
        // What a mail provider sends (RFC 8058): a bare POST to the List-Unsubscribe URL.
        let fresh_client = reqwest::Client::new();
        let request = fresh_client.post(&link);
        let request = if multipart {
            request
                .header("Content-Type", "multipart/form-data; boundary=xyz")
                .body("--xyz\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--xyz--\r\n")
        } else {
            request
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body("List-Unsubscribe=One-Click")
        };
        let response = request.send().await.expect("one-click POST");
        assert_eq!(response.status(), 200, "{email}");
        assert_eq!(
            app.subscriber_status(email).await.as_deref(),
            Some("unsubscribed")
        );
        // Mail clients may retry: a second POST is harmless.
        let again = fresh_client
            .post(&link)
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .expect("second POST");
        assert_eq!(again.status(), 200);
    }
}

async fn a_forged_unsubscribe_link_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let link = app.subscribed_reader("victim@example.com").await;
    let token = token_of(&link);
    let mut forged = token.clone().into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).expect("ascii");
    for bad in [
        forged.as_str(),
        "",
        "garbage",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let response = app
            .post_form(&format!("/unsubscribe?token={bad}"), &[])
            .await;
        assert_eq!(response.status(), 400, "token {bad:?}");
        assert_eq!(
            app.get(&format!("/unsubscribe?token={bad}")).await.status(),
            400
        );
    }
    assert_eq!(
        app.subscriber_status("victim@example.com").await.as_deref(),
        Some("confirmed")
    );
}

on_both_databases!(
    the_unsubscribe_page_shows_one_button_and_changes_nothing,
    pressing_the_button_unsubscribes_at_once,
    one_click_post_unsubscribes_without_cookies_or_csrf_token,
    a_forged_unsubscribe_link_changes_nothing,
    an_erased_subscribers_link_reaches_nobody_else,
    a_link_mailed_before_the_upgrade_works_for_its_subscriber_only,
    the_unsubscribe_link_does_not_reveal_the_subscriber_id,
);
