//! Two-factor sign-in in a real browser: an editor sets it up from the
//! account page with the key an authenticator app would read from the QR
//! code, keeps the recovery codes, signs out, and signs in with a code.

use herald::accounts::Role;
use totp_rs::{Algorithm, Secret, TOTP};

use crate::driver::Browser;
use crate::support::admin::TEST_PASSWORD;
use crate::support::{Backend, TestApp};

fn current_code(key_as_shown: &str, seconds_ahead: u64) -> String {
    let secret = Secret::Encoded(key_as_shown.replace(' ', ""))
        .to_bytes()
        .expect("a base32 key");
    let totp = TOTP::new(Algorithm::SHA1, 6, 0, 30, secret, None, String::new()).expect("TOTP");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock")
        .as_secs();
    totp.generate(now + seconds_ahead)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_editor_sets_up_two_factor_sign_in_and_signs_in_with_a_code() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let editor = app.create_user("careful@example.com", Role::Editor).await;

    browser.goto(&app.url("/admin/login")).await;
    browser.wait_for_heading("Sign in").await;
    browser.fill("email", &editor.email).await;
    browser.fill("password", TEST_PASSWORD).await;
    browser.press("Sign in").await;
    browser.wait_for_heading("Dashboard").await;

    browser.goto(&app.url("/admin/account")).await;
    browser.wait_for_heading("Your account").await;
    browser.press("Set up two-factor sign-in").await;
    browser.wait_for_heading("Set up two-factor sign-in").await;
    // The QR code is drawn on the page itself: an <svg>, no image from elsewhere.
    let qr = browser
        .wait_for("//div[@class='qr']/*[local-name()='svg']")
        .await;
    assert!(
        qr.is_displayed().await.expect("visibility"),
        "the QR code is not shown"
    );
    browser.screenshot("two-factor-setup").await;
    let key = browser
        .wait_for("//code[@id='secret']")
        .await
        .text()
        .await
        .expect("the key as text");

    browser.fill("code", &current_code(&key, 0)).await;
    browser.press("Turn on two-factor sign-in").await;
    browser.wait_for_heading("Two-factor sign-in is on").await;
    let codes = browser
        .wait_for("//ul[@id='recovery-codes']")
        .await
        .text()
        .await
        .expect("the recovery codes");
    assert_eq!(codes.lines().count(), 10, "{codes}");
    browser.screenshot("two-factor-recovery-codes").await;

    browser.press("Log out").await;
    browser.wait_for_heading("Sign in").await;
    browser.fill("email", &editor.email).await;
    browser.fill("password", TEST_PASSWORD).await;
    browser.press("Sign in").await;
    browser.wait_for_heading("Your one-time code").await;
    browser.screenshot("two-factor-code").await;
    // The code of the next step: the one that turned it on is spent.
    browser.fill("code", &current_code(&key, 30)).await;
    browser.press("Sign in").await;
    browser.wait_for_heading("Dashboard").await;
    assert_eq!(browser.current_path().await, "/admin");
    browser.close().await;
}
