//! The login lock: attempts are counted before the password is hashed, per
//! account and per client network.

use herald::accounts::Role;

use crate::on_both_databases;
use crate::support::admin::{cookie_client, csrf_token_in, TEST_PASSWORD};
use crate::support::{Backend, TestApp};

/// A sign-in form's session cookie and CSRF token, reused by many attempts.
async fn login_form(app: &TestApp) -> (reqwest::Client, String) {
    let browser = cookie_client();
    let page = browser
        .get(app.url("/admin/login"))
        .send()
        .await
        .expect("GET login")
        .text()
        .await
        .expect("login page");
    let csrf = csrf_token_in(&page).expect("CSRF token");
    (browser, csrf)
}

async fn attempt(
    app: &TestApp,
    browser: &reqwest::Client,
    csrf: &str,
    email: &str,
    password: &str,
    client: Option<&str>,
) -> reqwest::StatusCode {
    let mut request = browser.post(app.url("/admin/login")).form(&[
        ("csrf_token", csrf),
        ("email", email),
        ("password", password),
    ]);
    if let Some(address) = client {
        request = request.header("X-Forwarded-For", address);
    }
    request.send().await.expect("POST login").status()
}

async fn parallel_guesses_at_one_account_are_counted_before_hashing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.create_user("target@example.com", Role::Admin).await;
    let (browser, csrf) = login_form(&app).await;
    let guesses = (0..25).map(|n| {
        let (app, browser, csrf, email) = (&app, &browser, &csrf, &user.email);
        async move {
            attempt(
                app,
                browser,
                csrf,
                email,
                &format!("wrong guess number {n}"),
                None,
            )
            .await
        }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let locked = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(
        checked + locked,
        25,
        "only 401 and 429 are answers: {statuses:?}"
    );
    assert!(
        checked <= 5,
        "{checked} of 25 parallel guesses were checked: {statuses:?}"
    );
    assert_eq!(
        attempt(&app, &browser, &csrf, &user.email, TEST_PASSWORD, None).await,
        429,
        "the account is locked"
    );
}

async fn a_right_password_does_not_count_as_a_failure(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.create_user("regular@example.com", Role::Editor).await;
    for _ in 0..8 {
        let (browser, csrf) = login_form(&app).await;
        assert_eq!(
            attempt(&app, &browser, &csrf, &user.email, TEST_PASSWORD, None).await,
            303
        );
    }
}

/// One IPv6 user holds a whole /64: rotating through it must not reset the lock.
async fn the_login_lock_keys_an_ipv6_client_by_its_64(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.trusted_proxies = herald::config::TrustedProxies::loopback();
    })
    .await;
    let (browser, csrf) = login_form(&app).await;
    for n in 1..=5 {
        let status = attempt(
            &app,
            &browser,
            &csrf,
            &format!("nobody{n}@example.com"),
            "wrong password",
            Some(&format!("2001:db8:1:2::{n}")),
        )
        .await;
        assert_eq!(status, 401);
    }
    let status = attempt(
        &app,
        &browser,
        &csrf,
        "someone-else@example.com",
        "wrong password",
        Some("2001:db8:1:2:ffff:ffff:ffff:ffff"),
    )
    .await;
    assert_eq!(status, 429, "another address of the same /64 is locked too");
    let status = attempt(
        &app,
        &browser,
        &csrf,
        "someone-else@example.com",
        "wrong password",
        Some("2001:db8:1:3::1"),
    )
    .await;
    assert_eq!(status, 401, "the next /64 is another client");
}

/// The sign-in page after a wrong password for `email`.
async fn refused_page(
    app: &TestApp,
    browser: &reqwest::Client,
    csrf: &str,
    email: &str,
    client: &str,
) -> String {
    let response = browser
        .post(app.url("/admin/login"))
        .header("X-Forwarded-For", client)
        .form(&[
            ("csrf_token", csrf),
            ("email", email),
            ("password", "wrong password"),
        ])
        .send()
        .await
        .expect("POST login");
    assert_eq!(response.status(), 401);
    response.text().await.expect("page")
}

/// Issue 17, item 9: the page warns before the failure that locks, and says
/// the same for an address no account has.
async fn the_login_page_warns_before_the_lock(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.trusted_proxies = herald::config::TrustedProxies::loopback();
    })
    .await;
    app.create_user("target@example.com", Role::Editor).await;
    let (browser, csrf) = login_form(&app).await;
    let warning = "One more wrong password locks sign-in with this email address for 15 minutes";
    let mut last_pages = Vec::new();
    for email in ["target@example.com", "nobody@example.com"] {
        // Each from its own network, so only the address's count matters.
        let client = if email.starts_with("target") {
            "192.0.2.10"
        } else {
            "192.0.2.20"
        };
        for n in 1..=3 {
            let page = refused_page(&app, &browser, &csrf, email, client).await;
            assert!(!page.contains("One more"), "{email}, attempt {n}: {page}");
        }
        let page = refused_page(&app, &browser, &csrf, email, client).await;
        assert!(page.contains(warning), "{email}: {page}");
        assert!(page.contains("Forgot your password?"), "{page}");
        last_pages.push(page.replace(email, "X"));
        let status = attempt(&app, &browser, &csrf, email, "wrong password", Some(client)).await;
        assert_eq!(status, 401, "the fifth failure still answers");
        let status = attempt(&app, &browser, &csrf, email, TEST_PASSWORD, Some(client)).await;
        assert_eq!(status, 429, "locked, as warned");
    }
    assert_eq!(
        last_pages[0], last_pages[1],
        "the same page whether or not the account exists"
    );

    // Many addresses from one network: the warning is about the network.
    for n in 1..=3 {
        refused_page(
            &app,
            &browser,
            &csrf,
            &format!("guess{n}@example.com"),
            "198.51.100.1",
        )
        .await;
    }
    let page = refused_page(&app, &browser, &csrf, "guess4@example.com", "198.51.100.1").await;
    assert!(
        page.contains(
            "One more failed sign-in from your network locks sign-in from it for 15 minutes"
        ),
        "{page}"
    );
}

on_both_databases!(
    the_login_page_warns_before_the_lock,
    parallel_guesses_at_one_account_are_counted_before_hashing,
    a_right_password_does_not_count_as_a_failure,
    the_login_lock_keys_an_ipv6_client_by_its_64,
);
