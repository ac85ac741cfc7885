//! Issue 17, items 2 and 9: every form of the users and tokens pages answers
//! with a redirect, so a refresh repeats nothing; removing a user and
//! revoking a token go through a confirmation page; one's own row says
//! "(you)"; tokens show their first characters; the add-user form keeps what
//! was typed.

use herald::accounts::Role;

use crate::on_both_databases;
use crate::support::admin::AdminBrowser;
use crate::support::{Backend, TestApp};

/// How many rows of the audit log record `action`.
async fn audit_rows(app: &TestApp, action: &str) -> i64 {
    let mut conn = app.db.connect().await;
    sqlx::Row::get(
        &sqlx::query("SELECT COUNT(*) AS n FROM audit_events WHERE action = $1")
            .bind(action)
            .fetch_one(&mut conn)
            .await
            .expect("count audit rows"),
        "n",
    )
}

/// POSTs a form, follows its 303 like a browser, and reloads the page it
/// landed on twice: the first view and the two reloads.
async fn post_then_reload_twice(
    browser: &AdminBrowser,
    path: &str,
    fields: &[(&str, &str)],
) -> [String; 3] {
    let response = browser.post_form(path, fields).await;
    assert_eq!(response.status(), 303, "POST {path}");
    let target = response.headers()["location"]
        .to_str()
        .expect("ascii location")
        .to_owned();
    let mut pages = Vec::new();
    for _ in 0..3 {
        let (status, page) = browser.get_page(&target).await;
        assert_eq!(status, 200, "GET {target}");
        pages.push(page);
    }
    pages.try_into().expect("three pages")
}

fn new_token_in(page: &str) -> Option<String> {
    page.split(r#"<code class="secret" id="new-token">"#)
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .map(str::to_owned)
}

async fn refreshing_after_creating_a_token_creates_no_second_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let [first, again, third] = post_then_reload_twice(
        &admin,
        "/admin/tokens",
        &[("name", "cms"), ("role", "editor")],
    )
    .await;
    assert_eq!(app.db.count("api_tokens").await, 1);
    assert_eq!(audit_rows(&app, "token_created").await, 1);
    let token = new_token_in(&first).expect("the secret is shown after the redirect");
    assert!(first.contains("shown only this once"), "{first}");
    assert!(first.contains(r#"data-copy="new-token""#), "a copy button");
    assert!(first.contains("/assets/copy.js"), "its script");
    for page in [&again, &third] {
        assert!(!page.contains(&token), "the secret is shown once only");
        assert!(new_token_in(page).is_none());
        assert!(
            !page.contains("shown only this once"),
            "the notice shows once"
        );
    }
    let script = app
        .client
        .get(app.url("/assets/copy.js"))
        .send()
        .await
        .expect("GET");
    assert_eq!(script.status(), 200);
    assert!(script.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/javascript"));
}

async fn refreshing_after_each_users_form_repeats_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let [first, again, _] = post_then_reload_twice(
        &admin,
        "/admin/users",
        &[
            ("email", "new.editor@example.com"),
            ("role", "editor"),
            ("password", "a long enough password"),
        ],
    )
    .await;
    assert!(
        first.contains("new.editor@example.com can now sign in"),
        "{first}"
    );
    assert!(!again.contains("can now sign in"), "the notice shows once");
    assert_eq!(app.accounts().await.users().await.expect("users").len(), 2);
    assert_eq!(audit_rows(&app, "user_added").await, 1);
    let editor = app
        .accounts()
        .await
        .user_by_email("new.editor@example.com")
        .await
        .expect("lookup")
        .expect("the editor");
    let id = editor.id;
    for (path, fields, action) in [
        (
            format!("/admin/users/{id}/disable"),
            vec![],
            "user_disabled",
        ),
        (format!("/admin/users/{id}/enable"), vec![], "user_enabled"),
        (
            format!("/admin/users/{id}/password"),
            vec![("password", "another long password")],
            "password_changed",
        ),
        (
            format!("/admin/users/{id}/sessions/end"),
            vec![],
            "sign_out_everywhere",
        ),
        (
            format!("/admin/users/{id}/remove"),
            vec![("confirm", "yes")],
            "user_removed",
        ),
    ] {
        post_then_reload_twice(&admin, &path, &fields).await;
        assert_eq!(audit_rows(&app, action).await, 1, "{path}");
    }
    assert!(app
        .accounts()
        .await
        .user(id)
        .await
        .expect("query")
        .is_none());
}

async fn removing_a_user_takes_a_confirmation_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let editor = app.create_user("leaving@example.com", Role::Editor).await;
    app.api_token_of(&editor, Role::Editor).await;
    let (_, users) = admin.get_page("/admin/users").await;
    let confirm_page = format!("/admin/users/{}/remove", editor.id);
    assert!(
        users.contains(&format!(r#"href="{confirm_page}""#)),
        "{users}"
    );

    // The old one-click form, without the confirmation page's field, does nothing.
    let response = admin.post_form(&confirm_page, &[]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], confirm_page.as_str());
    assert!(app
        .accounts()
        .await
        .user(editor.id)
        .await
        .expect("query")
        .is_some());
    assert_eq!(audit_rows(&app, "user_removed").await, 0);

    let (status, page) = admin.get_page(&confirm_page).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Nothing was removed"),
        "why nothing happened: {page}"
    );
    assert!(page.contains("Remove leaving@example.com?"), "{page}");
    assert!(
        page.contains("live API token is revoked"),
        "what else happens: {page}"
    );
    assert!(page.contains(r#"name="confirm" value="yes""#), "{page}");
    assert!(
        page.contains(r#"<a href="/admin/users">Keep the account</a>"#),
        "a way back: {page}"
    );
    // Opening it changes nothing either.
    assert!(app
        .accounts()
        .await
        .user(editor.id)
        .await
        .expect("query")
        .is_some());

    let response = admin.post_form(&confirm_page, &[("confirm", "yes")]).await;
    assert_eq!(response.status(), 303);
    assert!(app
        .accounts()
        .await
        .user(editor.id)
        .await
        .expect("query")
        .is_none());
    let (_, users) = admin.get_page("/admin/users").await;
    assert!(
        users.contains("The account leaving@example.com is removed."),
        "{users}"
    );
}

async fn revoking_a_token_takes_a_confirmation_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let secret = app.api_token_of(&admin.user, Role::Admin).await;
    let id: i64 = {
        let mut conn = app.db.connect().await;
        sqlx::Row::get(
            &sqlx::query("SELECT id FROM api_tokens")
                .fetch_one(&mut conn)
                .await
                .expect("the token"),
            "id",
        )
    };
    let confirm_page = format!("/admin/tokens/{id}/revoke");
    let call = || {
        app.api(reqwest::Method::GET, "/api/v1/subscribers", &secret)
            .send()
    };

    let response = admin.post_form(&confirm_page, &[]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], confirm_page.as_str());
    assert_eq!(call().await.expect("GET").status(), 200, "still live");

    let (status, page) = admin.get_page(&confirm_page).await;
    assert_eq!(status, 200);
    assert!(page.contains("Revoke the token “tests”?"), "{page}");
    assert!(
        page.contains(&secret[..11]),
        "which token, by its first characters: {page}"
    );
    assert!(page.contains("refused from now on"), "{page}");
    assert!(
        page.contains(r#"<a href="/admin/tokens">Keep the token</a>"#),
        "{page}"
    );

    let response = admin.post_form(&confirm_page, &[("confirm", "yes")]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(call().await.expect("GET").status(), 401);
    let (_, tokens) = admin.get_page("/admin/tokens").await;
    assert!(tokens.contains("is revoked"), "{tokens}");
    // Its confirmation page is gone with it.
    assert_eq!(admin.get(&confirm_page).await.status(), 303);
}

async fn ones_own_row_says_you_and_offers_no_action_on_oneself(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let other = app.create_user("colleague@example.com", Role::Admin).await;
    let (_, page) = admin.get_page("/admin/users").await;
    // The rows of the table; the page's header names the signed-in admin too.
    let own_row = page
        .split("<tr>")
        .skip(1)
        .find(|row| row.contains(&admin.user.email))
        .expect("my row");
    assert!(own_row.contains("(you)"), "{own_row}");
    for action in ["/disable", "/remove", "/password", "/sessions/end"] {
        assert!(
            !own_row.contains(&format!("/admin/users/{}{action}", admin.user.id)),
            "{action} offered on my own row: {own_row}"
        );
    }
    let other_row = page
        .split("<tr>")
        .find(|row| row.contains("colleague@example.com"))
        .expect("the colleague's row");
    assert!(!other_row.contains("(you)"));
    assert!(other_row.contains(&format!("/admin/users/{}/remove", other.id)));
}

async fn tokens_with_the_same_name_are_told_apart_by_their_first_characters(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let mut secrets = Vec::new();
    for _ in 0..2 {
        let [page, _, _] = post_then_reload_twice(
            &admin,
            "/admin/tokens",
            &[("name", "cms"), ("role", "editor")],
        )
        .await;
        secrets.push(new_token_in(&page).expect("the new secret"));
    }
    // As migration 0009 leaves a token made before prefixes were kept.
    let mut conn = app.db.connect().await;
    sqlx::query(
        "INSERT INTO api_tokens (name, role, token_hash, created_at) VALUES ('legacy', 'editor', 'x', 0)",
    )
    .execute(&mut conn)
    .await
    .expect("insert a legacy token");
    let (_, page) = admin.get_page("/admin/tokens").await;
    let rows: Vec<&str> = page
        .split("<tr>")
        .filter(|row| row.contains("<td>cms</td>"))
        .collect();
    assert_eq!(rows.len(), 2);
    for (row, secret) in rows.iter().rev().zip(&secrets) {
        let prefix = &secret[..11];
        assert!(row.contains(&format!("<code>{prefix}…</code>")), "{row}");
        assert!(
            !row.contains(&secret[..20]),
            "no more than the prefix: {row}"
        );
    }
    assert_ne!(secrets[0][..11], secrets[1][..11]);
    let legacy = page
        .split("<tr>")
        .find(|row| row.contains("<td>legacy</td>"))
        .expect("the legacy row");
    assert!(legacy.contains("<code>—</code>"), "{legacy}");
}

async fn the_add_user_form_keeps_what_was_typed_after_an_error(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let response = admin
        .post_form(
            "/admin/users",
            &[
                ("email", "typed.by.hand@example.com"),
                ("role", "admin"),
                ("password", "tiny-pw"),
            ],
        )
        .await;
    assert_eq!(response.status(), 422);
    let page = response.text().await.expect("page");
    assert!(page.contains("<title>Error: Users"), "{page}");
    assert!(
        page.contains(r#"value="typed.by.hand@example.com""#),
        "{page}"
    );
    assert!(
        page.contains(r#"<option value="admin" selected>"#),
        "{page}"
    );
    assert!(!page.contains("tiny-pw"), "the password is not sent back");
    assert!(
        page.contains(r#"aria-invalid="true" aria-describedby="password-error""#),
        "{page}"
    );
    assert!(
        page.contains(r#"<p class="field-error" id="password-error">"#),
        "{page}"
    );
    assert!(page.contains("at least 12"), "{page}");

    // An address that is taken: the error is beside the address.
    let response = admin
        .post_form(
            "/admin/users",
            &[
                ("email", &admin.user.email),
                ("role", "editor"),
                ("password", "a long enough password"),
            ],
        )
        .await;
    assert_eq!(response.status(), 422);
    let page = response.text().await.expect("page");
    assert!(page.contains(r#"aria-describedby="email-error""#), "{page}");
    assert!(page.contains("exists already"), "{page}");
    assert_eq!(app.accounts().await.users().await.expect("users").len(), 1);
}

async fn refreshing_after_changing_ones_password_repeats_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let editor = app.sign_in_as(Role::Editor).await;
    let [first, again, _] = post_then_reload_twice(
        &editor,
        "/admin/account/password",
        &[
            ("current", crate::support::admin::TEST_PASSWORD),
            ("new", "a brand new password"),
        ],
    )
    .await;
    assert!(first.contains("Your password has been changed."), "{first}");
    assert!(!again.contains("has been changed"), "the notice shows once");
    assert_eq!(audit_rows(&app, "password_changed").await, 1);
}

async fn a_bad_token_name_keeps_what_was_typed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let long = "n".repeat(101);
    let response = admin
        .post_form("/admin/tokens", &[("name", &long), ("role", "admin")])
        .await;
    assert_eq!(response.status(), 422);
    let page = response.text().await.expect("page");
    assert!(page.contains("<title>Error: API tokens"), "{page}");
    assert!(page.contains(&format!(r#"value="{long}""#)), "{page}");
    assert!(page.contains(r#"aria-describedby="name-error""#), "{page}");
    assert!(
        page.contains(r#"<option value="admin" selected>"#),
        "{page}"
    );
    assert_eq!(app.db.count("api_tokens").await, 0);
}

on_both_databases!(
    refreshing_after_changing_ones_password_repeats_nothing,
    a_bad_token_name_keeps_what_was_typed,
    refreshing_after_creating_a_token_creates_no_second_one,
    refreshing_after_each_users_form_repeats_nothing,
    removing_a_user_takes_a_confirmation_page,
    revoking_a_token_takes_a_confirmation_page,
    ones_own_row_says_you_and_offers_no_action_on_oneself,
    tokens_with_the_same_name_are_told_apart_by_their_first_characters,
    the_add_user_form_keeps_what_was_typed_after_an_error,
);
