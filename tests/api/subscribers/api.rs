//! `/api/v1/subscribers`: list, add, read, erase, with the right errors.

use herald::accounts::Role;
use reqwest::Method;
use serde_json::{json, Value};

use super::{add_people, subscriber_id};
use crate::on_both_databases;
use crate::support::{Backend, TestApp};

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("a JSON body")
}

async fn the_list_is_paged_searched_and_filtered(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    add_people(
        &app,
        &[
            ("ann@example.com", "Ann Smith", "confirmed"),
            ("bob@example.org", "Bob Annan", "pending"),
            ("carol@example.net", "", "confirmed"),
            ("dave@example.com", "Dave", "unsubscribed"),
            ("erin@example.com", "Erin", "confirmed"),
        ],
    )
    .await;
    let token = app.api_token(Role::Admin).await;

    let mut emails = Vec::new();
    let mut path = "/api/v1/subscribers?limit=2".to_owned();
    loop {
        let response = app
            .api(Method::GET, &path, &token)
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), 200);
        let page = json_of(response).await;
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 2);
        emails.extend(
            items
                .iter()
                .map(|i| i["email"].as_str().expect("email").to_owned()),
        );
        match page["next"].as_i64() {
            Some(next) => path = format!("/api/v1/subscribers?limit=2&after={next}"),
            None => break,
        }
    }
    assert_eq!(
        emails,
        [
            "erin@example.com",
            "dave@example.com",
            "carol@example.net",
            "bob@example.org",
            "ann@example.com"
        ]
    );

    let page = json_of(
        app.api(
            Method::GET,
            "/api/v1/subscribers?q=ann&status=confirmed",
            &token,
        )
        .send()
        .await
        .expect("GET"),
    )
    .await;
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["email"], "ann@example.com");
    assert_eq!(items[0]["name"], "Ann Smith");
    assert_eq!(items[0]["status"], "confirmed");
    assert!(items[0]["created_at"]
        .as_str()
        .expect("a time")
        .ends_with('Z'));
    assert_eq!(page["next"], Value::Null);

    for (query, field) in [
        ("status=gone", "status"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("after=abc", "after"),
    ] {
        let response = app
            .api(Method::GET, &format!("/api/v1/subscribers?{query}"), &token)
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), 422, "{query}");
        assert_eq!(json_of(response).await["field"], field, "{query}");
    }
    let response = app
        .client
        .get(app.url("/api/v1/subscribers"))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 401);
    let response = app
        .api(Method::GET, "/api/v1/subscribers", "not-a-token")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 401);
}

async fn adding_a_subscriber_sends_a_confirmation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.api_token(Role::Editor).await;
    let response = app
        .api(Method::POST, "/api/v1/subscribers", &token)
        .json(&json!({"email": "new@Example.COM", "name": "New Reader"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let body = json_of(response).await;
    assert_eq!(body["email"], "new@example.com");
    assert_eq!(body["status"], "pending");
    assert_eq!(location, format!("/api/v1/subscribers/{}", body["id"]));
    let link = app
        .next_mail_to("new@example.com", 0)
        .await
        .confirmation_link(&app.address);
    app.confirm(&link).await;

    let response = app
        .api(Method::POST, "/api/v1/subscribers", &token)
        .json(&json!({"email": "NEW@example.com"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 409);
    assert!(json_of(response).await["error"].is_string());

    for (body, field) in [
        (json!({"email": "not an address"}), "email"),
        (
            json!({"email": "a@example.com", "name": "x".repeat(101)}),
            "name",
        ),
        (
            json!({"email": "a@example.com", "status": "bounced"}),
            "status",
        ),
    ] {
        let response = app
            .api(Method::POST, "/api/v1/subscribers", &token)
            .json(&body)
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), 422, "{body}");
        assert_eq!(json_of(response).await["field"], field);
    }
    let response = app
        .api(Method::POST, "/api/v1/subscribers", &token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 400);
    assert!(json_of(response).await["error"].is_string());
    assert_eq!(app.db.count("subscribers").await, 1);
}

async fn only_admin_tokens_add_confirmed_subscribers_with_a_note(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let editor = app.api_token(Role::Editor).await;
    let admin = app.api_token(Role::Admin).await;
    let confirmed = json!({
        "email": "vouched@example.com",
        "status": "confirmed",
        "consent_note": "Subscribed by phone, call of 2025-03-01"
    });
    let response = app
        .api(Method::POST, "/api/v1/subscribers", &editor)
        .json(&confirmed)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 403);
    let response = app
        .api(Method::POST, "/api/v1/subscribers", &admin)
        .json(&json!({"email": "vouched@example.com", "status": "confirmed"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 422);
    assert_eq!(json_of(response).await["field"], "consent_note");
    assert_eq!(app.db.count("subscribers").await, 0);

    let response = app
        .api(Method::POST, "/api/v1/subscribers", &admin)
        .json(&confirmed)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 201);
    let id = json_of(response).await["id"].as_i64().expect("id");
    assert!(app.mails_after_quiet_period().await.is_empty());
    let response = app
        .api(Method::GET, &format!("/api/v1/subscribers/{id}"), &editor)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 403, "the history is not editors'");
    let response = app
        .api(Method::GET, &format!("/api/v1/subscribers/{id}"), &admin)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200);
    let body = json_of(response).await;
    assert_eq!(body["status"], "confirmed");
    assert_eq!(body["history"][0]["kind"], "added");
    assert_eq!(
        body["history"][0]["note"],
        "Subscribed by phone, call of 2025-03-01"
    );
}

async fn reading_and_erasing_one_subscriber(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    add_people(&app, &[("zelda@example.com", "Zelda Quux", "confirmed")]).await;
    let id = subscriber_id(&app, "zelda@example.com").await;
    let editor = app.api_token(Role::Editor).await;
    let admin = app.api_token(Role::Admin).await;
    let path = format!("/api/v1/subscribers/{id}");

    let response = app
        .api(Method::GET, &path, &editor)
        .send()
        .await
        .expect("GET");
    assert_eq!(
        response.status(),
        403,
        "an editor token reads no subscriber"
    );
    let body = json_of(
        app.api(Method::GET, &path, &admin)
            .send()
            .await
            .expect("GET"),
    )
    .await;
    assert_eq!(body["email"], "zelda@example.com");
    assert_eq!(body["history"], json!([]));
    for missing in ["/api/v1/subscribers/999999", "/api/v1/subscribers/abc"] {
        let response = app
            .api(Method::GET, missing, &admin)
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), 404, "{missing}");
        assert!(json_of(response).await["error"].is_string());
    }

    let response = app
        .api(Method::DELETE, &path, &editor)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(response.status(), 403);
    assert!(app.subscriber_status("zelda@example.com").await.is_some());
    let response = app
        .client
        .delete(app.url(&path))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(response.status(), 401);

    let response = app
        .api(Method::DELETE, &path, &admin)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(response.status(), 204);
    assert_eq!(app.subscriber_status("zelda@example.com").await, None);
    assert_eq!(
        app.api(Method::GET, &path, &admin)
            .send()
            .await
            .expect("GET")
            .status(),
        404
    );
    assert_eq!(
        app.api(Method::DELETE, &path, &admin)
            .send()
            .await
            .expect("DELETE")
            .status(),
        404
    );
    if backend == Backend::Sqlite {
        // The erased name is gone from the search index as well.
        let mut conn = app.db.connect().await;
        let hits: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM subscriber_names WHERE subscriber_names MATCH 'zelda'",
        )
        .fetch_one(&mut conn)
        .await
        .map(|row| sqlx::Row::get(&row, "n"))
        .expect("query the index");
        assert_eq!(hits, 0);
        sqlx::query("INSERT INTO subscriber_names (subscriber_names) VALUES ('integrity-check')")
            .execute(&mut conn)
            .await
            .expect("the index matches the table");
    }
}

async fn the_openapi_document_describes_the_subscriber_routes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let document: Value = app
        .get("/api/v1/openapi.json")
        .await
        .json()
        .await
        .expect("JSON");
    let paths = &document["paths"];
    for method in ["get", "post"] {
        assert!(paths["/api/v1/subscribers"][method].is_object(), "{method}");
    }
    for method in ["get", "delete"] {
        assert!(
            paths["/api/v1/subscribers/{id}"][method].is_object(),
            "{method}"
        );
    }
}

on_both_databases!(
    the_list_is_paged_searched_and_filtered,
    adding_a_subscriber_sends_a_confirmation,
    only_admin_tokens_add_confirmed_subscribers_with_a_note,
    reading_and_erasing_one_subscriber,
    the_openapi_document_describes_the_subscriber_routes,
);
