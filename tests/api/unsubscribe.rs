//! Leaving: a page with one button, and the RFC 8058 one-click POST.

use crate::on_both_databases;
use crate::support::{token_of, Backend, TestApp};

async fn the_unsubscribe_page_shows_one_button_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let link = app.subscribed_reader("leaving@example.com").await;
    let response = app.get(&link).await;
    assert_eq!(response.status(), 200);
    let page = response.text().await.expect("body");
    assert!(page.contains("leaving@example.com"));
    assert_eq!(page.matches("<button").count(), 1);
    assert!(page.contains(">Unsubscribe</button>"));
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
);
