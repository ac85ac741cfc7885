//! API tokens have an owner: disabling or removing the account revokes them,
//! and the tokens page says who made each one and when it was last used.

use herald::accounts::{AccountError, Role};
use reqwest::Method;

use crate::on_both_databases;
use crate::support::{Backend, TestApp};

fn new_token_in(page: &str) -> String {
    page.split(r#"<code class="secret" id="new-token">"#)
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the new token is shown once")
        .to_owned()
}

/// The table row of the tokens page that names `token_name`.
fn row_of<'a>(page: &'a str, token_name: &str) -> &'a str {
    page.split("<tr>")
        .find(|row| row.contains(&format!("<td>{token_name}</td>")))
        .unwrap_or_else(|| panic!("no row for {token_name} in {page}"))
}

async fn disabling_or_removing_an_account_revokes_its_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let colleague = app.sign_in_as(Role::Admin).await;
    let response = colleague
        .post_form("/admin/tokens", &[("name", "CMS"), ("role", "admin")])
        .await;
    assert_eq!(response.status(), 303);
    let cms = new_token_in(&colleague.get_page("/admin/tokens").await.1);
    let editor = app.create_user("writer@example.com", Role::Editor).await;
    let script = app.api_token_of(&editor, Role::Editor).await;
    // A draft every token may read: the subscriber list is for admins alone.
    let draft = app
        .api(Method::POST, "/api/v1/issues", &script)
        .json(&serde_json::json!({"subject": "Draft", "intro": "Hi.", "items": []}))
        .send()
        .await
        .expect("POST issue");
    assert_eq!(draft.status(), 201);
    let draft = draft.json::<serde_json::Value>().await.expect("JSON")["id"]
        .as_i64()
        .expect("id");
    let read = format!("/api/v1/issues/{draft}");
    let call = |token: &str| app.api(Method::GET, &read, token).send();
    assert_eq!(call(&cms).await.expect("GET").status(), 200);
    assert_eq!(call(&script).await.expect("GET").status(), 200);

    let (_, page) = admin.get_page("/admin/tokens").await;
    let row = row_of(&page, "CMS");
    assert!(row.contains(&colleague.user.email), "owner shown: {row}");
    assert!(!row.contains("never"), "last use shown: {row}");

    let disable = format!("/admin/users/{}/disable", colleague.user.id);
    assert_eq!(admin.post_form(&disable, &[]).await.status(), 303);
    assert_eq!(call(&cms).await.expect("GET").status(), 401);
    let enable = format!("/admin/users/{}/enable", colleague.user.id);
    assert_eq!(admin.post_form(&enable, &[]).await.status(), 303);
    assert_eq!(
        call(&cms).await.expect("GET").status(),
        401,
        "enabling the account again does not bring its tokens back"
    );

    let remove = format!("/admin/users/{}/remove", editor.id);
    assert_eq!(
        admin
            .post_form(&remove, &[("confirm", "yes")])
            .await
            .status(),
        303
    );
    assert_eq!(call(&script).await.expect("GET").status(), 401);

    let (_, page) = admin.get_page("/admin/tokens").await;
    let row = row_of(&page, "tests");
    assert!(
        row.contains("writer@example.com (removed)"),
        "a removed owner is still named: {row}"
    );
    assert!(row.contains("revoked"), "{row}");
}

async fn tokens_from_before_owners_show_an_unknown_owner_and_keep_working(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.sign_in_as(Role::Admin).await;
    // As migration 0009 leaves a token made before owners were recorded.
    let secret = "hrld_made-before-owners-were-recorded";
    let mut conn = app.db.connect().await;
    sqlx::query(
        "INSERT INTO api_tokens (name, role, token_hash, created_at) VALUES ('legacy', 'editor', $1, 0)",
    )
    .bind(herald::config::token_hash(secret))
    .execute(&mut conn)
    .await
    .expect("insert a legacy token");
    let response = app
        .api(Method::POST, "/api/v1/issues", secret)
        .json(&serde_json::json!({"subject": "Still works", "intro": "Hi.", "items": []}))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 201);
    let (_, page) = admin.get_page("/admin/tokens").await;
    let row = row_of(&page, "legacy");
    assert!(row.contains("unknown"), "{row}");
}

async fn an_editor_cannot_own_an_admin_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let editor = app.create_user("editor@example.com", Role::Editor).await;
    let refused = app
        .accounts()
        .await
        .create_api_token("escalate", Role::Admin, editor.id)
        .await;
    assert!(
        matches!(refused, Err(AccountError::RoleAboveOwner)),
        "{refused:?}"
    );
    assert_eq!(app.db.count("api_tokens").await, 0);
}

on_both_databases!(
    disabling_or_removing_an_account_revokes_its_tokens,
    tokens_from_before_owners_show_an_unknown_owner_and_keep_working,
    an_editor_cannot_own_an_admin_token,
);
