//! Accounts: first-run setup, sign-in, sessions, CSRF, throttling, user management.

use herald::accounts::Role;

use crate::on_both_databases;
use crate::support::admin::{cookie_client, csrf_token_in, submit_form};
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
    assert_eq!(admin.post_form("/admin/users", &fields).await.status(), 303);
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
    let response = submit_form(
        &browser,
        &app.url(&link),
        &app.url("/admin/setup"),
        &[
            ("token", &token),
            ("email", "first@example.com"),
            ("password", "a long first password"),
        ],
    )
    .await;
    assert_eq!(response.status(), 303);
    // Signed in at once.
    let dashboard = browser.get(app.url("/admin")).send().await.expect("GET");
    assert_eq!(dashboard.status(), 200);
    // Used twice: gone, and nobody else becomes admin.
    let other = cookie_client();
    let again = other.get(app.url(&link)).send().await.expect("GET");
    assert_eq!(again.status(), 410);
    let response = submit_form(
        &other,
        &app.url("/admin/login"),
        &app.url("/admin/setup"),
        &[
            ("token", &token),
            ("email", "intruder@example.com"),
            ("password", "a long other password"),
        ],
    )
    .await;
    assert_eq!(response.status(), 410);
    let users = app.accounts().await.users().await.expect("users");
    assert_eq!(users.len(), 1);
}

async fn five_failed_logins_lock_the_account_for_a_while(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.create_user("target@example.com", Role::Editor).await;
    let browser = cookie_client();
    let login = app.url("/admin/login");
    let (browser, login, email) = (&browser, login.as_str(), user.email.as_str());
    let attempt = |password: &'static str| async move {
        submit_form(
            browser,
            login,
            login,
            &[("email", email), ("password", password)],
        )
        .await
    };
    for _ in 0..5 {
        let response = attempt("wrong password!!").await;
        assert_eq!(response.status(), 401);
        assert!(response.text().await.expect("page").contains("not right"));
    }
    let response = attempt(crate::support::admin::TEST_PASSWORD).await;
    assert_eq!(response.status(), 429, "even the right password waits");
    assert!(response.headers().contains_key("retry-after"));
}

async fn unknown_users_and_wrong_passwords_get_the_same_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("known@example.com", Role::Editor).await;
    let mut answers = Vec::new();
    // Twice each, alternating, keeping under the 5-failure lock; the faster of
    // the two is the figure least disturbed by other tests on the machine.
    for email in [
        "known@example.com",
        "unknown@example.com",
        "known@example.com",
        "unknown@example.com",
    ] {
        let browser = cookie_client();
        let page = browser
            .get(app.url("/admin/login"))
            .send()
            .await
            .expect("GET")
            .text()
            .await
            .expect("page");
        let csrf = csrf_token_in(&page).expect("CSRF token");
        let started = std::time::Instant::now();
        let response = browser
            .post(app.url("/admin/login"))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("email", email),
                ("password", "not the password"),
            ])
            .send()
            .await
            .expect("POST");
        let elapsed = started.elapsed();
        let status = response.status();
        let page = response.text().await.expect("page");
        let message = page
            .split("role=\"alert\">")
            .nth(1)
            .and_then(|m| m.split('<').next())
            .map(str::to_owned);
        answers.push((status, message, elapsed));
    }
    assert_eq!(answers[0].0, answers[1].0);
    assert_eq!(answers[0].1, answers[1].1);
    assert!(answers[0].1.is_some());
    // An unknown address still costs a password hash, so timing does not tell
    // it apart; skipping the hash would make it answer many times faster.
    let known = answers[0].2.min(answers[2].2);
    let unknown = answers[1].2.min(answers[3].2);
    assert!(
        unknown * 3 >= known,
        "unknown user answered in {unknown:?}, known user in {known:?}"
    );
}

async fn sessions_end_after_the_idle_timeout(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.session_idle_timeout = std::time::Duration::from_millis(1500);
    })
    .await;
    let editor = app.sign_in_as(Role::Editor).await;
    assert_eq!(editor.get("/admin").await.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(
        editor.get("/admin").await.status(),
        200,
        "activity keeps the session alive"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1800)).await;
    let response = editor.get("/admin").await;
    assert_eq!(
        response.status(),
        303,
        "idle too long: back to the login page"
    );
}

async fn editors_get_403_on_admin_pages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let editor = app.sign_in_as(Role::Editor).await;
    assert_eq!(editor.get("/admin").await.status(), 200);
    for path in ["/admin/users", "/admin/tokens"] {
        assert_eq!(editor.get(path).await.status(), 403, "{path}");
    }
    let response = editor
        .post_form(
            "/admin/users",
            &[
                ("email", "sneaky@example.com"),
                ("role", "admin"),
                ("password", "long enough password"),
            ],
        )
        .await;
    assert_eq!(response.status(), 403);
    assert_eq!(app.accounts().await.users().await.expect("users").len(), 1);
}

async fn the_last_admin_cannot_be_disabled_or_removed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let id = admin.user.id;
    for action in ["disable", "remove"] {
        let response = admin
            .post_form(
                &format!("/admin/users/{id}/{action}"),
                &[("confirm", "yes")],
            )
            .await;
        assert_eq!(response.status(), 303, "{action}");
        let (_, page) = admin.get_page("/admin/users").await;
        assert!(page.contains("no active admin"), "{action}: {page}");
    }
    // With a second admin, the first can go.
    let second = app.create_user("second@example.com", Role::Admin).await;
    for (action, done) in [
        ("disable", "is disabled"),
        ("enable", "is enabled again"),
        ("remove", "is removed"),
    ] {
        let response = admin
            .post_form(
                &format!("/admin/users/{}/{action}", second.id),
                &[("confirm", "yes")],
            )
            .await;
        assert_eq!(response.status(), 303, "{action}");
        let (_, page) = admin.get_page("/admin/users").await;
        assert!(page.contains(done), "{action}: {page}");
    }
}

async fn a_disabled_account_is_signed_out_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let editor = app.sign_in_as(Role::Editor).await;
    assert_eq!(editor.get("/admin").await.status(), 200);
    let response = admin
        .post_form(&format!("/admin/users/{}/disable", editor.user.id), &[])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(editor.get("/admin").await.status(), 303);
}

async fn changing_ones_password_needs_the_old_one_and_ends_other_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.sign_in_as(Role::Editor).await;
    let second = app
        .sign_in(first.user.clone(), crate::support::admin::TEST_PASSWORD)
        .await;
    let response = first
        .post_form(
            "/admin/account/password",
            &[("current", "wrong"), ("new", "a brand new password")],
        )
        .await;
    assert_eq!(response.status(), 400);
    let response = first
        .post_form(
            "/admin/account/password",
            &[
                ("current", crate::support::admin::TEST_PASSWORD),
                ("new", "short"),
            ],
        )
        .await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.expect("page").contains("at least 12"));
    let response = first
        .post_form(
            "/admin/account/password",
            &[
                ("current", crate::support::admin::TEST_PASSWORD),
                ("new", "a brand new password"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let (_, page) = first.get_page("/admin/account").await;
    assert!(page.contains("Your password has been changed."), "{page}");
    assert_eq!(
        first.get("/admin").await.status(),
        200,
        "this session stays"
    );
    assert_eq!(
        second.get("/admin").await.status(),
        303,
        "the other session ended"
    );
    app.sign_in(first.user.clone(), "a brand new password")
        .await;
}

async fn admins_manage_api_tokens_and_revoked_tokens_stop_working(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let response = admin
        .post_form("/admin/tokens", &[("name", "CMS"), ("role", "editor")])
        .await;
    assert_eq!(response.status(), 303);
    let (_, page) = admin.get_page("/admin/tokens").await;
    let token = page
        .split(r#"<code class="secret" id="new-token">"#)
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the new token is shown once")
        .to_owned();
    let call = || app.api(reqwest::Method::GET, "/api/v1/openapi.json", &token);
    assert_eq!(call().send().await.expect("GET").status(), 200);
    let (_, page) = admin.get_page("/admin/tokens").await;
    assert!(!page.contains(&token), "the token is not shown again");
    let id = page
        .split("/admin/tokens/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("a revoke form")
        .to_owned();
    assert_eq!(
        admin
            .post_form(&format!("/admin/tokens/{id}/revoke"), &[("confirm", "yes")])
            .await
            .status(),
        303
    );
    let mut conn = app.db.connect().await;
    let revoked: i64 = sqlx::Row::get(
        &sqlx::query("SELECT COUNT(*) AS n FROM api_tokens WHERE revoked_at IS NOT NULL")
            .fetch_one(&mut conn)
            .await
            .expect("query"),
        "n",
    );
    assert_eq!(revoked, 1);
}

on_both_databases!(
    five_failed_logins_lock_the_account_for_a_while,
    unknown_users_and_wrong_passwords_get_the_same_answer,
    sessions_end_after_the_idle_timeout,
    editors_get_403_on_admin_pages,
    the_last_admin_cannot_be_disabled_or_removed,
    a_disabled_account_is_signed_out_at_once,
    changing_ones_password_needs_the_old_one_and_ends_other_sessions,
    admins_manage_api_tokens_and_revoked_tokens_stop_working,
    an_admin_signs_in_and_sees_the_dashboard,
    anonymous_visitors_are_sent_to_the_login_page,
    a_post_without_the_csrf_token_is_refused_and_changes_nothing,
    the_setup_link_works_once,
);

mod admins;
mod login;
mod password_reset;
mod refresh;
mod sessions;
mod tokens;
mod two_factor;
mod upgrade;
