//! Issue 17, item 9: password reset by mail. The same answer whether or not
//! the account exists; a one-use link that works for an hour, kept only as a
//! hash; opening it changes nothing; setting the password ends every session,
//! is in the audit log, and two-factor sign-in is still asked for afterwards.

use herald::accounts::Role;
use herald::config::token_hash;
use totp_rs::{Algorithm, Secret, TOTP};

use crate::on_both_databases;
use crate::support::admin::{cookie_client, csrf_token_in, submit_form, TEST_PASSWORD};
use crate::support::{Backend, TestApp};

const NEW_PASSWORD: &str = "a fresh and long password";

/// Asks for a reset link from the form behind "Forgot your password?", as a
/// visitor would; the sign-in page it ends on.
async fn ask_for_a_link(app: &TestApp, browser: &reqwest::Client, email: &str) -> String {
    let (_, login) = get(browser, &app.url("/admin/login")).await;
    assert!(
        login.contains(r#"<a href="/admin/login/forgot">Forgot your password?</a>"#),
        "{login}"
    );
    let response = submit_form(
        browser,
        &app.url("/admin/login/forgot"),
        &app.url("/admin/login/forgot"),
        &[("email", email)],
    )
    .await;
    assert_eq!(response.status(), 303, "asking for {email}");
    assert_eq!(response.headers()["location"], "/admin/login");
    let (status, page) = get(browser, &app.url("/admin/login")).await;
    assert_eq!(status, 200);
    page
}

async fn get(browser: &reqwest::Client, url: &str) -> (reqwest::StatusCode, String) {
    let response = browser.get(url).send().await.expect("GET");
    (response.status(), response.text().await.expect("page"))
}

fn reset_link(app: &TestApp, text: &str) -> String {
    let prefix = format!("{}/admin/login/reset?token=", app.address);
    let start = text
        .find(&prefix)
        .unwrap_or_else(|| panic!("no link in {text}"));
    text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect()
}

async fn a_forgotten_password_is_reset_through_a_one_use_link_by_mail(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let editor = app.create_user("forgetful@example.com", Role::Editor).await;
    let elsewhere = app.sign_in(editor.clone(), TEST_PASSWORD).await;
    assert_eq!(elsewhere.get("/admin").await.status(), 200);

    let browser = cookie_client();
    let known = ask_for_a_link(&app, &browser, "forgetful@example.com").await;
    let unknown = ask_for_a_link(&app, &cookie_client(), "nobody@example.com").await;
    // The same answer, whether or not an account has the address.
    assert_eq!(
        known.replace("forgetful@example.com", "X"),
        unknown.replace("nobody@example.com", "X").replace(
            &csrf_token_in(&unknown).expect("a form"),
            &csrf_token_in(&known).expect("a form"),
        ),
    );
    assert!(
        known.contains("a link to choose a new password is on its way"),
        "{known}"
    );

    let mail = app.next_mail_to("forgetful@example.com", 0).await;
    assert!(mail.subject.contains("Reset your"), "{}", mail.subject);
    let link = reset_link(&app, &mail.text);
    assert!(
        mail.html.contains(&link.replace('&', "&amp;")),
        "{}",
        mail.html
    );
    let secret = link.split("token=").nth(1).expect("the secret");
    assert!(secret.len() >= 22, "at least 128 random bits: {secret}");
    // Kept only as a hash.
    let mut conn = app.db.connect().await;
    let stored: String = sqlx::Row::get(
        &sqlx::query("SELECT token_hash FROM password_resets")
            .fetch_one(&mut conn)
            .await
            .expect("one reset row"),
        "token_hash",
    );
    assert_eq!(stored, token_hash(secret));
    assert_eq!(
        app.db.count("password_resets").await,
        1,
        "nothing for the unknown address"
    );

    // Opening the link (twice, as a mail scanner and then the person) changes nothing.
    for _ in 0..2 {
        let (status, page) = get(&browser, &link).await;
        assert_eq!(status, 200);
        assert!(page.contains("Choose a new password"), "{page}");
        assert!(page.contains("forgetful@example.com"), "{page}");
    }
    assert_eq!(
        elsewhere.get("/admin").await.status(),
        200,
        "nothing changed yet"
    );

    // The same password rules as elsewhere.
    let short = submit_form(
        &browser,
        &link,
        &app.url("/admin/login/reset"),
        &[("token", secret), ("password", "short")],
    )
    .await;
    assert_eq!(short.status(), 422);
    let page = short.text().await.expect("page");
    assert!(page.contains("<title>Error: "), "{page}");
    assert!(page.contains("at least 12"), "{page}");
    assert!(
        page.contains(r#"aria-describedby="password-error""#),
        "{page}"
    );

    let response = submit_form(
        &browser,
        &link,
        &app.url("/admin/login/reset"),
        &[("token", secret), ("password", NEW_PASSWORD)],
    )
    .await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/admin/login");
    let (_, page) = get(&browser, &app.url("/admin/login")).await;
    assert!(page.contains("Your new password is set"), "{page}");
    // This browser was signed out too: its next form carries a new token.
    let csrf = csrf_token_in(&page).expect("the sign-in form");
    // Every session of the account ended.
    assert_eq!(elsewhere.get("/admin").await.status(), 303);
    // The audit log records it.
    let detail: String = sqlx::Row::get(
        &sqlx::query(
            "SELECT detail FROM audit_events WHERE action = 'password_changed' AND target = $1",
        )
        .bind("forgetful@example.com")
        .fetch_one(&mut conn)
        .await
        .expect("an audit row"),
        "detail",
    );
    assert!(detail.contains("reset link"), "{detail}");

    // The link works once.
    let (status, page) = get(&browser, &link).await;
    assert_eq!(status, 410);
    assert!(page.contains("no longer works"), "{page}");
    assert!(
        page.contains(r#"href="/admin/login/forgot""#),
        "a way to a new link: {page}"
    );
    let again = browser
        .post(app.url("/admin/login/reset"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("token", secret),
            ("password", "yet another long password"),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(again.status(), 410);

    // The new password signs in; the old one does not.
    app.sign_in(editor.clone(), NEW_PASSWORD).await;
    let login = app.url("/admin/login");
    let old = submit_form(
        &cookie_client(),
        &login,
        &login,
        &[
            ("email", "forgetful@example.com"),
            ("password", TEST_PASSWORD),
        ],
    )
    .await;
    assert_eq!(old.status(), 401);
}

async fn two_factor_sign_in_is_still_asked_for_after_a_reset(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.create_user("careful@example.com", Role::Admin).await;
    let accounts = app.accounts().await;
    let enrolment = accounts
        .begin_two_factor(&admin, "Herald")
        .await
        .expect("begin two-factor");
    let secret = Secret::Encoded(enrolment.secret_text.replace(' ', ""))
        .to_bytes()
        .expect("base32");
    let totp = TOTP::new(Algorithm::SHA1, 6, 0, 30, secret, None, String::new()).expect("key");
    accounts
        .confirm_two_factor(admin.id, "Herald", &totp.generate_current().expect("clock"))
        .await
        .expect("two-factor on");

    let browser = cookie_client();
    ask_for_a_link(&app, &browser, "careful@example.com").await;
    let link = reset_link(&app, &app.next_mail_to("careful@example.com", 0).await.text);
    let secret = link.split("token=").nth(1).expect("the secret").to_owned();
    let response = submit_form(
        &browser,
        &link,
        &app.url("/admin/login/reset"),
        &[("token", &secret), ("password", NEW_PASSWORD)],
    )
    .await;
    assert_eq!(response.status(), 303);
    let login = app.url("/admin/login");
    let response = submit_form(
        &browser,
        &login,
        &login,
        &[("email", "careful@example.com"), ("password", NEW_PASSWORD)],
    )
    .await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/admin/login/code");
    assert_eq!(
        browser
            .get(app.url("/admin"))
            .send()
            .await
            .expect("GET")
            .status(),
        303
    );
}

async fn reset_links_expire_and_requests_are_rate_limited(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.trusted_proxies = herald::config::TrustedProxies::loopback();
    })
    .await;
    app.create_user("busy@example.com", Role::Editor).await;
    let ask = |email: &'static str, from: &'static str| {
        let app = &app;
        async move {
            let browser = cookie_client();
            let (_, page) = get(&browser, &app.url("/admin/login/forgot")).await;
            let csrf = csrf_token_in(&page).expect("CSRF");
            browser
                .post(app.url("/admin/login/forgot"))
                .header("X-Forwarded-For", from)
                .form(&[("csrf_token", csrf.as_str()), ("email", email)])
                .send()
                .await
                .expect("POST")
                .status()
        }
    };
    // Per account: three links an hour, then the same answer and no mail.
    for from in ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"] {
        assert_eq!(ask("busy@example.com", from).await, 303);
    }
    app.next_mail_to("busy@example.com", 2).await;
    assert_eq!(app.db.count("password_resets").await, 3);
    // Per client: five requests in 15 minutes, whatever the address.
    for n in 0..5 {
        let email = [
            "a@example.com",
            "b@example.com",
            "c@example.com",
            "d@example.com",
            "e@example.com",
        ][n];
        assert_eq!(ask(email, "198.51.100.7").await, 303);
    }
    assert_eq!(ask("f@example.com", "198.51.100.7").await, 429);
    assert_eq!(ask("f@example.com", "198.51.100.8").await, 303);

    // A link older than an hour no longer works.
    let link = reset_link(&app, &app.next_mail_to("busy@example.com", 0).await.text);
    let mut conn = app.db.connect().await;
    sqlx::query("UPDATE password_resets SET expires_at = created_at - 1")
        .execute(&mut conn)
        .await
        .expect("age the links");
    let (status, _) = get(&cookie_client(), &link).await;
    assert_eq!(status, 410);
    let mails = app.mails_after_quiet_period().await;
    let to_busy = mails
        .iter()
        .filter(|m| m.rcpt_to.iter().any(|r| r == "busy@example.com"))
        .count();
    assert_eq!(to_busy, 3);
}

on_both_databases!(
    a_forgotten_password_is_reset_through_a_one_use_link_by_mail,
    two_factor_sign_in_is_still_asked_for_after_a_reset,
    reset_links_expire_and_requests_are_rate_limited,
);
