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

on_both_databases!(the_api_refuses_an_address_without_a_dot_naming_the_field);
