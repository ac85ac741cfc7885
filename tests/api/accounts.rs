//! Accounts: first-run setup, sign-in, sessions, CSRF, throttling, user management.

use herald::accounts::Role;

use crate::on_both_databases;
use crate::support::admin::{cookie_client, csrf_token_in};
use crate::support::{Backend, TestApp};

async fn an_admin_signs_in_and_sees_the_dashboard(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let (status, page) = admin.get_page("/admin").await;
    assert_eq!(status, 200);
    assert!(page.contains("Dashboard"));
    assert!(page.contains(&admin.user.email));
    let (status, _) = admin.get_page("/admin/users").await;
    assert_eq!(status, 200);
}

async fn anonymous_visitors_are_sent_to_the_login_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = cookie_client()
        .get(app.url("/admin"))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 303);
    assert!(response.headers()["location"]
        .to_str()
        .expect("ascii")
        .starts_with("/admin/login"));
}

async fn a_post_without_the_csrf_token_is_refused_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let fields = [
        ("email", "new@example.com"),
        ("role", "editor"),
        ("password", "long enough password"),
    ];
    let response = admin.post_form_without_csrf("/admin/users", &fields).await;
    assert_eq!(response.status(), 403);
    let mut wrong = fields.to_vec();
    wrong.push(("csrf_token", "not-the-token"));
    let response = admin
        .client
        .post(admin.url("/admin/users"))
        .form(&wrong)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 403);
    let (_, page) = admin.get_page("/admin/users").await;
    assert!(!page.contains("new@example.com"));
    assert_eq!(admin.post_form("/admin/users", &fields).await.status(), 200);
    let (_, page) = admin.get_page("/admin/users").await;
    assert!(page.contains("new@example.com"));
}

async fn the_setup_link_works_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app
        .accounts()
        .await
        .create_setup_token()
        .await
        .expect("setup token");
    let link = format!("/admin/setup?token={token}");
    let browser = cookie_client();
    let page = browser
        .get(app.url(&link))
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("page");
    let csrf = csrf_token_in(&page).expect("CSRF token");
    let response = browser
        .post(app.url("/admin/setup"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("token", &token),
            ("email", "first@example.com"),
            ("password", "a long first password"),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 303);
    // Signed in at once.
    assert_eq!(
        browser
            .get(app.url("/admin"))
            .send()
            .await
            .expect("GET")
            .status(),
        200
    );
    // Used twice: gone, and nobody else becomes admin.
    let other = cookie_client();
    assert_eq!(
        other
            .get(app.url(&link))
            .send()
            .await
            .expect("GET")
            .status(),
        410
    );
    let page = other
        .get(app.url("/admin/login"))
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("page");
    let csrf = csrf_token_in(&page).expect("CSRF token");
    let response = other
        .post(app.url("/admin/setup"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("token", &token),
            ("email", "intruder@example.com"),
            ("password", "a long other password"),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 410);
    let users = app.accounts().await.users().await.expect("users");
    assert_eq!(users.len(), 1);
}

on_both_databases!(
    an_admin_signs_in_and_sees_the_dashboard,
    anonymous_visitors_are_sent_to_the_login_page,
    a_post_without_the_csrf_token_is_refused_and_changes_nothing,
    the_setup_link_works_once,
);
