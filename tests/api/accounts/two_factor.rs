//! Two-factor sign-in: setting it up from the account page with a code an
//! authenticator app would show, signing in with a code or a recovery code,
//! each used once, and `HERALD_REQUIRE_2FA`.

use herald::accounts::Role;
use herald::config::TwoFactorPolicy;
use totp_rs::{Algorithm, Secret, TOTP};

use crate::on_both_databases;
use crate::support::admin::{
    cookie_client, csrf_token_in, submit_form, AdminBrowser, TEST_PASSWORD,
};
use crate::support::{Backend, TestApp};

/// What an authenticator app does with the key shown on the set-up page.
struct AuthenticatorApp {
    totp: TOTP,
}

impl AuthenticatorApp {
    fn from_setup_page(page: &str) -> Self {
        let shown = page
            .split("<code id=\"secret\">")
            .nth(1)
            .and_then(|rest| rest.split("</code>").next())
            .unwrap_or_else(|| panic!("no key on the set-up page:\n{page}"));
        let secret = Secret::Encoded(shown.replace(' ', ""))
            .to_bytes()
            .expect("a base32 key");
        Self {
            totp: TOTP::new(Algorithm::SHA1, 6, 0, 30, secret, None, String::new())
                .expect("a valid key"),
        }
    }

    fn code(&self) -> String {
        self.totp.generate_current().expect("the clock")
    }

    /// The code of the next 30-second step: what the app shows a little later.
    fn next_code(&self) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("the clock")
            .as_secs();
        self.totp.generate(now + 30)
    }
}

/// Sets two-factor sign-in up for the signed-in account; the app and the recovery codes.
async fn set_up(browser: &AdminBrowser) -> (AuthenticatorApp, Vec<String>) {
    let response = browser.post_form("/admin/account/2fa/setup", &[]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/admin/account/2fa/setup");
    let (_, page) = browser.get_page("/admin/account/2fa/setup").await;
    let (_, reloaded) = browser.get_page("/admin/account/2fa/setup").await;
    assert_eq!(page, reloaded, "a reload shows the same key, not a new one");
    assert!(page.contains("<svg"), "no QR code:\n{page}");
    let app = AuthenticatorApp::from_setup_page(&page);

    let wrong = browser
        .post_form("/admin/account/2fa/confirm", &[("code", "000000")])
        .await;
    assert_eq!(wrong.status(), 400);
    let page = wrong.text().await.expect("page");
    assert!(page.contains("That code is not right"), "{page}");
    assert!(page.contains("<svg"), "the same QR code again:\n{page}");

    let response = browser
        .post_form("/admin/account/2fa/confirm", &[("code", &app.code())])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/admin/account/2fa/codes");
    let (_, page) = browser.get_page("/admin/account/2fa/codes").await;
    let reload = browser.get("/admin/account/2fa/codes").await;
    assert_eq!(reload.status(), 303, "the codes are shown once");
    let codes: Vec<String> = page
        .split("<li><code>")
        .skip(1)
        .filter_map(|rest| rest.split("</code>").next())
        .map(str::to_owned)
        .collect();
    assert_eq!(codes.len(), 10, "{page}");
    (app, codes)
}

/// A browser past the password step, waiting for the code.
struct CodeStep {
    client: reqwest::Client,
    csrf: String,
}

async fn past_the_password(app: &TestApp, email: &str) -> CodeStep {
    let client = cookie_client();
    let login = app.url("/admin/login");
    let response = submit_form(
        &client,
        &login,
        &login,
        &[("email", email), ("password", TEST_PASSWORD)],
    )
    .await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/admin/login/code");
    // The password alone signs nobody in.
    let dashboard = client.get(app.url("/admin")).send().await.expect("GET");
    assert_eq!(dashboard.status(), 303, "signed in without the code");
    let page = client
        .get(app.url("/admin/login/code"))
        .send()
        .await
        .expect("GET code page")
        .text()
        .await
        .expect("code page");
    let csrf = csrf_token_in(&page).expect("CSRF token on the code page");
    CodeStep { client, csrf }
}

impl CodeStep {
    /// The status of the code step and whether the dashboard then opens.
    async fn enter(&self, app: &TestApp, code: &str) -> (u16, bool) {
        let response = self
            .client
            .post(app.url("/admin/login/code"))
            .form(&[("csrf_token", self.csrf.as_str()), ("code", code)])
            .send()
            .await
            .expect("POST code");
        let status = response.status().as_u16();
        let dashboard = self
            .client
            .get(app.url("/admin"))
            .send()
            .await
            .expect("GET");
        (status, dashboard.status() == 200)
    }
}

async fn sign_in_with_code(app: &TestApp, email: &str, code: &str) -> (u16, bool) {
    past_the_password(app, email).await.enter(app, code).await
}

async fn sign_in_takes_a_code_once_set_up_and_each_code_works_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let editor = app.sign_in_as(Role::Editor).await;
    let email = editor.user.email.clone();
    let (authenticator, recovery) = set_up(&editor).await;
    let (_, account) = editor.get_page("/admin/account").await;
    assert!(account.contains("Recovery codes left: 10"), "{account}");

    assert_eq!(
        sign_in_with_code(&app, &email, "123456").await,
        (401, false)
    );
    // The code used to confirm the set-up is spent; the next step's code works once.
    let code = authenticator.next_code();
    assert_eq!(sign_in_with_code(&app, &email, &code).await, (303, true));
    assert_eq!(
        sign_in_with_code(&app, &email, &code).await,
        (401, false),
        "a code works once"
    );
    // A recovery code, typed in capitals and with spaces, works once.
    let typed = recovery[0].to_uppercase().replace('-', " ");
    assert_eq!(sign_in_with_code(&app, &email, &typed).await, (303, true));
    assert_eq!(
        sign_in_with_code(&app, &email, &recovery[0]).await,
        (401, false),
        "a recovery code works once"
    );
}

async fn wrong_codes_count_against_the_login_lock(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let editor = app.sign_in_as(Role::Editor).await;
    let (authenticator, _) = set_up(&editor).await;
    let step = past_the_password(&app, &editor.user.email).await;
    let mut statuses = Vec::new();
    for guess in 0..6 {
        statuses.push(step.enter(&app, &format!("{guess:06}")).await.0);
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429]);
    // Locked: even the right code waits for the window to pass.
    let (status, signed_in) = step.enter(&app, &authenticator.next_code()).await;
    assert_eq!((status, signed_in), (429, false));
}

async fn an_admin_must_set_it_up_when_the_server_requires_it(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.require_two_factor = TwoFactorPolicy::Admins;
    })
    .await;
    let admin = app.sign_in_as(Role::Admin).await;
    let response = admin.get("/admin/subscribers").await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/admin/account#two-factor");
    let (status, page) = admin.get_page("/admin/account").await;
    assert_eq!(status, 200);
    assert!(page.contains("requires two-factor sign-in"), "{page}");
    // An editor is not covered by `admins`.
    let editor = app.sign_in_as(Role::Editor).await;
    assert_eq!(editor.get("/admin/issues").await.status(), 200);

    let (authenticator, _) = set_up(&admin).await;
    assert_eq!(admin.get("/admin/subscribers").await.status(), 200);
    // Required: it cannot be turned off.
    let response = admin
        .post_form(
            "/admin/account/2fa/disable",
            &[("code", &authenticator.next_code())],
        )
        .await;
    assert_eq!(response.status(), 409);
}

async fn turning_it_off_takes_a_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let editor = app.sign_in_as(Role::Editor).await;
    let (authenticator, _) = set_up(&editor).await;
    let response = editor
        .post_form("/admin/account/2fa/disable", &[("code", "999999")])
        .await;
    assert_eq!(response.status(), 400);
    let response = editor
        .post_form(
            "/admin/account/2fa/disable",
            &[("code", &authenticator.next_code())],
        )
        .await;
    assert_eq!(response.status(), 303);
    let (_, page) = editor.get_page("/admin/account").await;
    assert!(page.contains("Two-factor sign-in is off."), "{page}");
    let fresh = app.sign_in(editor.user.clone(), TEST_PASSWORD).await;
    assert_eq!(fresh.get("/admin").await.status(), 200);
}

/// Issue 17, item 2: new recovery codes are shown once, after a redirect; a
/// reload neither shows them again nor makes another set.
async fn new_recovery_codes_are_shown_once_and_a_reload_makes_no_more(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let editor = app.sign_in_as(Role::Editor).await;
    let (authenticator, first_codes) = set_up(&editor).await;
    let response = editor
        .post_form(
            "/admin/account/2fa/recovery-codes",
            &[("code", &authenticator.next_code())],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/admin/account/2fa/codes");
    let (status, page) = editor.get_page("/admin/account/2fa/codes").await;
    assert_eq!(status, 200);
    assert!(page.contains("New recovery codes"), "{page}");
    let new_codes: Vec<&str> = page
        .split("<li><code>")
        .skip(1)
        .filter_map(|rest| rest.split("</code>").next())
        .collect();
    assert_eq!(new_codes.len(), 10);
    assert!(!new_codes.contains(&first_codes[0].as_str()), "a new set");
    for _ in 0..2 {
        let reload = editor.get("/admin/account/2fa/codes").await;
        assert_eq!(reload.status(), 303, "shown once");
    }
    let mut conn = app.db.connect().await;
    let renewals: i64 = sqlx::Row::get(
        &sqlx::query(
            "SELECT COUNT(*) AS n FROM audit_events WHERE action = 'recovery_codes_renewed'",
        )
        .fetch_one(&mut conn)
        .await
        .expect("count"),
        "n",
    );
    assert_eq!(renewals, 1);
    let (_, account) = editor.get_page("/admin/account").await;
    assert!(account.contains("Recovery codes left: 10."), "{account}");
}

on_both_databases!(
    new_recovery_codes_are_shown_once_and_a_reload_makes_no_more,
    sign_in_takes_a_code_once_set_up_and_each_code_works_once,
    wrong_codes_count_against_the_login_lock,
    an_admin_must_set_it_up_when_the_server_requires_it,
    turning_it_off_takes_a_code,
);
