//! An address with no dot in its domain (`jane.doe@gmail`) is refused
//! wherever it comes in, naming the field (issue 17).

use herald::accounts::Role;
use serde_json::json;

use crate::on_both_databases;
use crate::support::{Backend, TestApp};

async fn the_api_refuses_an_address_without_a_dot_naming_the_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.api_token(Role::Admin).await;
    let response = app
        .api(reqwest::Method::POST, "/api/v1/subscribers", &token)
        .json(&json!({ "email": "jane.doe@gmail" }))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 422);
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body["field"], "email");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("full domain after the @")),
        "{body}"
    );
    // A likely typo that is a valid address is never refused.
    let response = app
        .api(reqwest::Method::POST, "/api/v1/subscribers", &token)
        .json(&json!({ "email": "jane.doe@gmial.com" }))
        .send()
        .await
        .expect("POST");
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(app.db.count("subscribers").await, 1);
}

on_both_databases!(
    the_api_refuses_an_address_without_a_dot_naming_the_field,
    a_reader_stored_before_the_dot_rule_still_gets_the_issue
);

/// A reader whose address was stored before the dot was required
/// (`old@intranet`) still gets every issue: the rule guards what comes in,
/// not who is already on the list.
async fn a_reader_stored_before_the_dot_rule_still_gets_the_issue(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.subscribed_reader("old@intranet.example").await;
    let mut conn = app.db.connect().await;
    sqlx::Executor::execute(
        &mut conn,
        sqlx::query(
            "UPDATE subscribers SET email = 'old@intranet' WHERE email = 'old@intranet.example'",
        ),
    )
    .await
    .expect("store the address as an earlier release could");
    drop(conn);

    let id = crate::issues::create_with_api(
        &app,
        &json!({ "subject": "Still on the list", "intro": "Hello." }),
    )
    .await;
    let token = app.api_token(Role::Editor).await;
    let response = app
        .api(
            reqwest::Method::POST,
            &format!("/api/v1/issues/{id}/send"),
            &token,
        )
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 202);
    let copy = app.next_mail_to("old@intranet", 0).await;
    assert_eq!(copy.subject, "Still on the list");
}
