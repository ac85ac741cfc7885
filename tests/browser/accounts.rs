//! Issue 17, items 2 and 9, in a real browser: a refresh after creating a
//! token makes no second one, removing a user goes through a confirmation
//! page, and a forgotten password is reset from the login page through the
//! mail to signing in.

use herald::accounts::Role;

use crate::driver::Browser;
use crate::sign_in;
use crate::support::admin::TEST_PASSWORD;
use crate::support::{Backend, TestApp};

async fn refresh(browser: &Browser) {
    browser.client.refresh().await.expect("reload the page");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshing_after_creating_a_token_creates_no_second_one() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let admin = app.create_user("admin@example.com", Role::Admin).await;
    sign_in(&browser, &app, &admin.email, TEST_PASSWORD).await;

    browser.goto(&app.url("/admin/tokens")).await;
    browser.wait_for_heading("API tokens").await;
    browser.fill("name", "cms").await;
    browser.press("Create token").await;
    browser.wait_for_heading("API tokens").await;
    assert_eq!(browser.current_path().await, "/admin/tokens");
    let secret = browser
        .wait_for("//code[@id='new-token']")
        .await
        .text()
        .await
        .expect("the new token");
    assert!(secret.starts_with("hrld_"), "{secret}");
    let copy = browser
        .wait_for("//button[normalize-space()='Copy the new token']")
        .await;
    assert!(
        copy.is_displayed().await.expect("visibility"),
        "the copy button shows with JavaScript"
    );
    browser.screenshot("tokens-created").await;

    refresh(&browser).await;
    browser.wait_for_heading("API tokens").await;
    refresh(&browser).await;
    browser.wait_for_heading("API tokens").await;
    let text = browser.text().await;
    assert!(!text.contains(&secret), "the secret is shown once");
    assert!(
        text.contains(&format!("{}…", &secret[..11])),
        "its first characters stay: {text}"
    );
    assert_eq!(
        app.db.count("api_tokens").await,
        1,
        "a refresh made no second token"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_user_asks_first_on_a_page_of_its_own() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let admin = app.create_user("admin@example.com", Role::Admin).await;
    let editor = app.create_user("leaving@example.com", Role::Editor).await;
    sign_in(&browser, &app, &admin.email, TEST_PASSWORD).await;

    browser.goto(&app.url("/admin/users")).await;
    browser.wait_for_heading("Users").await;
    let own_row = browser
        .wait_for("//tr[td[contains(., 'admin@example.com')]]")
        .await
        .text()
        .await
        .expect("my row");
    assert!(own_row.contains("(you)"), "{own_row}");
    assert!(!own_row.contains("Remove"), "{own_row}");

    browser.follow("Remove… leaving@example.com").await;
    browser
        .wait_for_heading("Remove leaving@example.com?")
        .await;
    browser.screenshot("remove-user-confirm").await;
    browser.follow("Keep the account").await;
    browser.wait_for_heading("Users").await;
    assert!(app
        .accounts()
        .await
        .user(editor.id)
        .await
        .expect("query")
        .is_some());

    browser.follow("Remove… leaving@example.com").await;
    browser
        .wait_for_heading("Remove leaving@example.com?")
        .await;
    browser.press("Remove leaving@example.com").await;
    browser.wait_for_heading("Users").await;
    assert!(browser
        .text()
        .await
        .contains("The account leaving@example.com is removed."));
    refresh(&browser).await;
    browser.wait_for_heading("Users").await;
    assert!(
        !browser.text().await.contains("is removed"),
        "the message shows once"
    );
    assert!(app
        .accounts()
        .await
        .user(editor.id)
        .await
        .expect("query")
        .is_none());
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_password_is_reset_from_the_login_page_through_the_mail() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create_user("forgetful@example.com", Role::Editor).await;

    browser.goto(&app.url("/admin/login")).await;
    browser.wait_for_heading("Sign in").await;
    browser.follow("Forgot your password?").await;
    browser.wait_for_heading("Reset your password").await;
    browser.fill("email", "forgetful@example.com").await;
    browser.press("Send me a reset link").await;
    browser.wait_for_heading("Sign in").await;
    assert!(browser.text().await.contains("is on its way"));

    let mail = app.next_mail_to("forgetful@example.com", 0).await;
    let link = mail.link_starting_with(&app.url("/admin/login/reset?token="));
    browser.goto(&link).await;
    browser.wait_for_heading("Choose a new password").await;
    browser.fill("password", "short").await;
    browser.press("Set the new password").await;
    browser.wait_for("//p[@id='password-error']").await;
    browser.screenshot("password-reset").await;
    browser.fill("password", "a brand new long password").await;
    browser.press("Set the new password").await;
    browser.wait_for_heading("Sign in").await;
    assert!(browser.text().await.contains("Your new password is set"));

    sign_in(
        &browser,
        &app,
        "forgetful@example.com",
        "a brand new long password",
    )
    .await;
    assert_eq!(browser.current_path().await, "/admin");
    browser.close().await;
}
