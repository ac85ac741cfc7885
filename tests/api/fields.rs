//! Custom fields (issue 14, item 4): admins define typed fields on the admin
//! pages and through the API; a signup fills the public ones (form and
//! JSON), and a value that does not fit is refused with 422 naming the field
//! and nothing written; values survive the queue and the confirmation; the
//! admin API reads and changes them; a CSV import maps columns to fields by
//! key, reports a bad value by line and column and leaves its row out whole;
//! the export has a column per field.

use herald::accounts::Role;
use herald::cli::subscribers::{admission, import_file};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Row;

use crate::on_both_databases;
use crate::support::{Backend, TestApp};

/// Creates a field through the API as an admin; returns its id.
async fn create_field(app: &TestApp, body: Value) -> i64 {
    let token = app.api_token(Role::Admin).await;
    let response = app
        .api(Method::POST, "/api/v1/fields", &token)
        .json(&body)
        .send()
        .await
        .expect("POST /api/v1/fields");
    assert_eq!(response.status(), 201, "creating {body}");
    let field: Value = response.json().await.expect("JSON");
    field["id"].as_i64().expect("id")
}

/// A company (public, required), a plan (public choice), a number of seats
/// (public), a renewal date and a yes/no (internal).
async fn create_the_fields(app: &TestApp) {
    create_field(
        app,
        json!({"key": "company", "label": "Company", "type": "text", "required": true, "visibility": "public"}),
    )
    .await;
    create_field(
        app,
        json!({"key": "plan", "label": "Plan", "type": "choice", "choices": ["Free", "Pro"], "visibility": "public"}),
    )
    .await;
    create_field(
        app,
        json!({"key": "seats", "label": "Seats", "type": "number", "visibility": "public"}),
    )
    .await;
    create_field(
        app,
        json!({"key": "renewal", "label": "Renewal", "type": "date"}),
    )
    .await;
    create_field(app, json!({"key": "vip", "label": "VIP", "type": "yes_no"})).await;
}

/// (key, text, number) of every stored value of an address, by key.
async fn values_of(app: &TestApp, email: &str) -> Vec<(String, Option<String>, Option<f64>)> {
    let mut conn = app.db.connect().await;
    sqlx::query(
        "SELECT f.field_key, v.text_value, v.number_value FROM subscriber_field_values v \
         JOIN custom_fields f ON f.id = v.field_id \
         JOIN subscribers s ON s.id = v.subscriber_id \
         WHERE lower(s.email) = lower($1) ORDER BY f.field_key",
    )
    .bind(email)
    .fetch_all(&mut conn)
    .await
    .expect("values")
    .iter()
    .map(|row| {
        (
            row.get("field_key"),
            row.get("text_value"),
            row.get("number_value"),
        )
    })
    .collect()
}

async fn subscriber_id(app: &TestApp, email: &str) -> i64 {
    let mut conn = app.db.connect().await;
    sqlx::query("SELECT id FROM subscribers WHERE lower(email) = lower($1)")
        .bind(email)
        .fetch_one(&mut conn)
        .await
        .expect("the subscriber")
        .get("id")
}

async fn admins_define_fields_through_the_api_and_bad_definitions_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.api_token(Role::Admin).await;
    let post = |body: Value| {
        app.api(Method::POST, "/api/v1/fields", &token)
            .json(&body)
            .send()
    };
    for (body, field) in [
        (
            json!({"key": "Bad Key", "label": "X", "type": "text"}),
            "key",
        ),
        (json!({"key": "email", "label": "X", "type": "text"}), "key"),
        (json!({"key": "x", "label": " ", "type": "text"}), "label"),
        (json!({"key": "x", "label": "X", "type": "colour"}), "type"),
        (
            json!({"key": "x", "label": "X", "type": "choice"}),
            "choices",
        ),
        (
            json!({"key": "x", "label": "X", "type": "text", "visibility": "secret"}),
            "visibility",
        ),
    ] {
        let response = post(body.clone()).await.expect("POST");
        assert_eq!(response.status(), 422, "{body}");
        let error: Value = response.json().await.expect("JSON");
        assert_eq!(error["field"], field, "{body}: {error}");
    }
    assert_eq!(app.db.count("custom_fields").await, 0);

    let id = create_field(
        &app,
        json!({"key": "plan", "label": "Plan", "type": "choice", "choices": ["Free", "Pro"], "visibility": "public"}),
    )
    .await;
    let taken = post(json!({"key": "plan", "label": "Again", "type": "text"}))
        .await
        .expect("POST");
    assert_eq!(taken.status(), 409);

    let field: Value = app
        .api(Method::GET, &format!("/api/v1/fields/{id}"), &token)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    assert_eq!(field["type"], "choice");
    assert_eq!(field["choices"], json!(["Free", "Pro"]));
    assert_eq!(field["visibility"], "public");
    assert_eq!(field["values"], 0);

    // While nobody has a value, anything may change, the key too.
    let renamed = app
        .api(Method::PUT, &format!("/api/v1/fields/{id}"), &token)
        .json(&json!({"key": "tier", "label": "Tier", "type": "choice", "choices": ["Free", "Pro", "Team"], "visibility": "public"}))
        .send()
        .await
        .expect("PUT");
    assert_eq!(renamed.status(), 200);

    // Once a reader has one, the key, the type and a chosen choice stay.
    let reader = app
        .api(Method::POST, "/api/v1/subscribers", &token)
        .json(&json!({"email": "ann@example.com", "fields": {"tier": "Pro"}}))
        .send()
        .await
        .expect("POST a subscriber");
    assert_eq!(reader.status(), 201);
    for body in [
        json!({"key": "plan", "label": "Tier", "type": "choice", "choices": ["Free", "Pro"]}),
        json!({"key": "tier", "label": "Tier", "type": "text"}),
        json!({"key": "tier", "label": "Tier", "type": "choice", "choices": ["Free", "Team"]}),
    ] {
        let refused = app
            .api(Method::PUT, &format!("/api/v1/fields/{id}"), &token)
            .json(&body)
            .send()
            .await
            .expect("PUT");
        assert_eq!(refused.status(), 409, "{body}");
    }
    let relabelled = app
        .api(Method::PUT, &format!("/api/v1/fields/{id}"), &token)
        .json(&json!({"key": "tier", "label": "Your plan", "type": "choice", "choices": ["Pro", "Team"], "required": true, "visibility": "internal"}))
        .send()
        .await
        .expect("PUT");
    assert_eq!(relabelled.status(), 200);
    let list: Value = app
        .api(Method::GET, "/api/v1/fields", &token)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    assert_eq!(list["items"][0]["label"], "Your plan");
    assert_eq!(list["items"][0]["values"], 1);

    // Deleting a field deletes its values.
    let deleted = app
        .api(Method::DELETE, &format!("/api/v1/fields/{id}"), &token)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(deleted.status(), 204);
    assert_eq!(app.db.count("custom_fields").await, 0);
    assert_eq!(app.db.count("subscriber_field_values").await, 0);
    let mut conn = app.db.connect().await;
    let audited: i64 = sqlx::query(
        "SELECT count(*) AS n FROM audit_events WHERE action IN ('field_created', 'field_changed', 'field_deleted')",
    )
    .fetch_one(&mut conn)
    .await
    .expect("count")
    .get("n");
    assert_eq!(audited, 4, "one creation, two changes, one deletion");
}

async fn admins_create_edit_and_delete_fields_on_the_admin_pages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let (status, page) = admin.get_page("/admin/fields").await;
    assert_eq!(status, 200);
    assert!(page.contains("No fields yet."), "{page}");

    let response = admin
        .post_form(
            "/admin/fields",
            &[
                ("key", "Bad Key"),
                ("label", ""),
                ("type", "text"),
                ("visibility", "internal"),
            ],
        )
        .await;
    assert_eq!(response.status(), 422);
    let page = response.text().await.expect("page");
    assert!(page.contains("A key is lower-case letters"), "{page}");
    assert!(page.contains("A field needs a label."), "{page}");
    assert_eq!(app.db.count("custom_fields").await, 0);

    let response = admin
        .post_form(
            "/admin/fields",
            &[
                ("key", "plan"),
                ("label", "Plan"),
                ("type", "choice"),
                ("choices", "Free\r\nPro\r\n"),
                ("visibility", "public"),
                ("required", "yes"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let (_, page) = admin.get_page("/admin/fields").await;
    assert!(page.contains("<code>plan</code>"), "{page}");
    assert!(page.contains("Free · Pro"), "{page}");
    let id: i64 = {
        let mut conn = app.db.connect().await;
        sqlx::query("SELECT id FROM custom_fields WHERE field_key = 'plan'")
            .fetch_one(&mut conn)
            .await
            .expect("the field")
            .get("id")
    };
    let (status, page) = admin.get_page(&format!("/admin/fields/{id}")).await;
    assert_eq!(status, 200);
    assert!(page.contains("value=\"plan\""), "{page}");
    let response = admin
        .post_form(
            &format!("/admin/fields/{id}"),
            &[
                ("key", "plan"),
                ("label", "Your plan"),
                ("type", "choice"),
                ("choices", "Free\nPro\nTeam"),
                ("visibility", "public"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);

    let (status, page) = admin.get_page(&format!("/admin/fields/{id}/delete")).await;
    assert_eq!(status, 200);
    assert!(page.contains("and with it the value"), "{page}");
    let response = admin
        .post_form(&format!("/admin/fields/{id}/delete"), &[])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(app.db.count("custom_fields").await, 0);
}

async fn a_json_signup_fills_public_fields_and_a_bad_value_is_refused_naming_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    create_the_fields(&app).await;
    for (fields, named) in [
        // A wrong type, a value that is no choice, a missing required field,
        // an unknown field and an internal one.
        (json!({"company": "Acme", "seats": "many"}), "fields.seats"),
        (json!({"company": "Acme", "seats": true}), "fields.seats"),
        (json!({"company": "Acme", "plan": "Gold"}), "fields.plan"),
        (json!({"plan": "Pro"}), "fields.company"),
        (json!({"company": "Acme", "colour": "red"}), "fields.colour"),
        (json!({"company": "Acme", "vip": true}), "fields.vip"),
    ] {
        let response = app
            .post_json(
                "/subscriptions",
                &json!({"email": "refused@example.com", "fields": fields}),
            )
            .await;
        assert_eq!(response.status(), 422, "{fields}");
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["field"], named, "{fields}: {body}");
    }
    assert_eq!(app.db.count("signup_requests").await, 0);
    assert_eq!(app.db.count("subscribers").await, 0);

    let response = app
        .post_json(
            "/subscriptions",
            &json!({"email": "ann@example.com", "fields": {"company": " Acme ", "plan": "pro", "seats": 12}}),
        )
        .await;
    assert_eq!(response.status(), 200);
    app.signups_handled().await;
    assert_eq!(
        values_of(&app, "ann@example.com").await,
        [
            ("company".to_owned(), Some("Acme".to_owned()), None),
            ("plan".to_owned(), Some("Pro".to_owned()), None),
            ("seats".to_owned(), None, Some(12.0)),
        ]
    );

    // The values survive the confirmation.
    let link = app
        .next_mail_to("ann@example.com", 0)
        .await
        .confirmation_link(&app.address);
    app.confirm(&link).await;
    assert_eq!(values_of(&app, "ann@example.com").await.len(), 3);

    // A signup with someone's confirmed address cannot change their values.
    let response = app
        .post_json(
            "/subscriptions",
            &json!({"email": "ann@example.com", "fields": {"company": "Mallory Ltd"}}),
        )
        .await;
    assert_eq!(response.status(), 200);
    app.signups_handled().await;
    assert_eq!(
        values_of(&app, "ann@example.com").await[0].1.as_deref(),
        Some("Acme")
    );
}

async fn the_signup_form_shows_public_fields_and_names_a_bad_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    create_the_fields(&app).await;
    let page = app.get("/").await.text().await.expect("page");
    assert!(
        page.contains("name=\"fields[company]\" type=\"text\""),
        "{page}"
    );
    assert!(
        page.contains("name=\"fields[seats]\" type=\"number\""),
        "{page}"
    );
    assert!(page.contains("<select id=\"field-plan\""), "{page}");
    assert!(
        !page.contains("fields[renewal]"),
        "internal fields stay off the form"
    );
    assert!(
        !page.contains("fields[vip]"),
        "internal fields stay off the form"
    );

    let response = app
        .post_form(
            "/subscriptions",
            &[
                ("email", "bob@example.org"),
                ("fields[company]", ""),
                ("fields[seats]", "a dozen"),
            ],
        )
        .await;
    assert_eq!(response.status(), 422);
    let page = response.text().await.expect("page");
    assert!(page.contains("Company (company) is required."), "{page}");
    assert!(page.contains("Seats (seats) is a number"), "{page}");
    assert!(page.contains("value=\"a dozen\""), "what was typed is kept");
    assert!(page.contains("value=\"bob@example.org\""), "{page}");
    assert_eq!(app.db.count("signup_requests").await, 0);

    let response = app
        .post_form(
            "/subscriptions",
            &[
                ("email", "bob@example.org"),
                ("fields[company]", "Bob & Co"),
                ("fields[plan]", "Free"),
                ("fields[seats]", "2.5"),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
    app.signups_handled().await;
    assert_eq!(
        values_of(&app, "bob@example.org").await,
        [
            ("company".to_owned(), Some("Bob & Co".to_owned()), None),
            ("plan".to_owned(), Some("Free".to_owned()), None),
            ("seats".to_owned(), None, Some(2.5)),
        ]
    );
}

async fn the_admin_api_reads_and_changes_every_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    create_the_fields(&app).await;
    let token = app.api_token(Role::Admin).await;
    // An admin add must fill every required field, internal ones may be set.
    let missing = app
        .api(Method::POST, "/api/v1/subscribers", &token)
        .json(&json!({"email": "cat@example.com", "fields": {"vip": true}}))
        .send()
        .await
        .expect("POST");
    assert_eq!(missing.status(), 422);
    let body: Value = missing.json().await.expect("JSON");
    assert_eq!(body["field"], "fields.company");
    assert_eq!(app.db.count("subscribers").await, 0);

    let added = app
        .api(Method::POST, "/api/v1/subscribers", &token)
        .json(&json!({
            "email": "cat@example.com",
            "status": "confirmed",
            "consent_note": "asked at the fair",
            "fields": {"company": "Cat Inc", "vip": "yes", "renewal": "2026-03-31"}
        }))
        .send()
        .await
        .expect("POST");
    assert_eq!(added.status(), 201);
    let id = subscriber_id(&app, "cat@example.com").await;
    let read: Value = app
        .api(Method::GET, &format!("/api/v1/subscribers/{id}"), &token)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        read["fields"],
        json!({"company": "Cat Inc", "plan": null, "seats": null, "renewal": "2026-03-31", "vip": true})
    );

    let patch = |body: Value| {
        app.api(Method::PATCH, &format!("/api/v1/subscribers/{id}"), &token)
            .json(&body)
            .send()
    };
    for (body, named) in [
        (
            json!({"fields": {"renewal": "31/03/2026"}}),
            "fields.renewal",
        ),
        (json!({"fields": {"company": null}}), "fields.company"),
        (json!({"fields": {"nope": 1}}), "fields.nope"),
    ] {
        let response = patch(body.clone()).await.expect("PATCH");
        assert_eq!(response.status(), 422, "{body}");
        let error: Value = response.json().await.expect("JSON");
        assert_eq!(error["field"], named, "{body}");
    }
    let changed: Value = patch(json!({"fields": {"seats": 40, "vip": null, "plan": "Pro"}}))
        .await
        .expect("PATCH")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        changed["fields"],
        json!({"company": "Cat Inc", "plan": "Pro", "seats": 40, "renewal": "2026-03-31", "vip": null})
    );
    let history: Vec<&str> = changed["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|step| step["kind"].as_str())
        .collect();
    assert_eq!(history, ["added", "fields_changed"]);

    // The admin page shows every field and saves them in one form.
    let admin = app.sign_in_as(Role::Admin).await;
    let (_, page) = admin.get_page(&format!("/admin/subscribers/{id}")).await;
    assert!(page.contains("name=\"fields[renewal]\""), "{page}");
    assert!(page.contains("value=\"2026-03-31\""), "{page}");
    let response = admin
        .post_form(
            &format!("/admin/subscribers/{id}/fields"),
            &[
                ("fields[company]", "Cat Inc"),
                ("fields[plan]", ""),
                ("fields[seats]", "41"),
                ("fields[renewal]", "2026-04-30"),
                ("fields[vip]", "no"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        values_of(&app, "cat@example.com").await,
        [
            ("company".to_owned(), Some("Cat Inc".to_owned()), None),
            ("renewal".to_owned(), Some("2026-04-30".to_owned()), None),
            ("seats".to_owned(), None, Some(41.0)),
            ("vip".to_owned(), None, Some(0.0)),
        ]
    );
}

async fn an_import_maps_columns_to_fields_and_a_bad_value_leaves_its_row_out(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    create_the_fields(&app).await;
    let pending = admission(false, None).expect("pending");

    // A column that is no field: refused before anything is written.
    let path = app.db.dir.path().join("unknown.csv");
    std::fs::write(
        &path,
        "email,name,company,phone\nann@example.com,Ann,Acme,123\n",
    )
    .expect("write");
    let error = import_file(&app.config, &path, &pending)
        .await
        .expect_err("an unknown column");
    assert!(error.to_string().contains("column 4 (phone)"), "{error}");
    assert_eq!(app.db.count("subscribers").await, 0);

    // Line 3 has a date that is none (column 5) and line 4 a bad number
    // (column 4): each is reported by line and column, and neither reader
    // is imported, with or without values.
    let path = app.db.dir.path().join("people.csv");
    std::fs::write(
        &path,
        "email,name,Company,seats,renewal,vip\n\
         ann@example.com,Ann,Acme,3,2026-01-31,yes\n\
         bob@example.org,Bob,Bob & Co,1,2026-02-30,no\n\
         cat@example.net,Cat,Cat Inc,lots,,\n\
         dan@example.com,Dan,Dan Ltd,,,\n",
    )
    .expect("write");
    let report = import_file(&app.config, &path, &pending)
        .await
        .expect("import");
    assert_eq!((report.rows, report.added, report.rejected), (4, 2, 2));
    assert_eq!(report.problems[0].line, 3);
    assert!(
        report.problems[0].reason.contains("column 5 (renewal)"),
        "{:?}",
        report.problems
    );
    assert_eq!(report.problems[1].line, 4);
    assert!(
        report.problems[1].reason.contains("column 4 (seats)"),
        "{:?}",
        report.problems
    );
    assert_eq!(app.db.count("subscribers").await, 2);
    assert!(values_of(&app, "bob@example.org").await.is_empty());
    assert_eq!(
        values_of(&app, "ann@example.com").await,
        [
            ("company".to_owned(), Some("Acme".to_owned()), None),
            ("renewal".to_owned(), Some("2026-01-31".to_owned()), None),
            ("seats".to_owned(), None, Some(3.0)),
            ("vip".to_owned(), None, Some(1.0)),
        ]
    );
    assert_eq!(values_of(&app, "dan@example.com").await.len(), 1);

    // The export has a column per field, in form order, and reads back.
    let admin = app.sign_in_as(Role::Admin).await;
    let exported = admin
        .get("/admin/subscribers/export.csv")
        .await
        .text()
        .await
        .expect("body");
    let mut lines = exported.lines();
    assert_eq!(
        lines.next(),
        Some("email,name,status,created_at,company,plan,seats,renewal,vip")
    );
    let ann = lines.next().expect("ann's row");
    assert!(ann.starts_with("ann@example.com,Ann,pending,"), "{ann}");
    assert!(ann.ends_with(",Acme,,3,2026-01-31,true"), "{ann}");

    let other = TestApp::spawn(backend).await;
    create_the_fields(&other).await;
    let path = other.db.dir.path().join("export.csv");
    std::fs::write(&path, &exported).expect("write the export");
    let report = import_file(&other.config, &path, &pending)
        .await
        .expect("import the export");
    assert_eq!((report.added, report.rejected), (2, 0));
    assert_eq!(
        values_of(&other, "ann@example.com").await,
        values_of(&app, "ann@example.com").await
    );
}

on_both_databases!(
    admins_define_fields_through_the_api_and_bad_definitions_are_refused,
    admins_create_edit_and_delete_fields_on_the_admin_pages,
    a_json_signup_fills_public_fields_and_a_bad_value_is_refused_naming_it,
    the_signup_form_shows_public_fields_and_names_a_bad_one,
    the_admin_api_reads_and_changes_every_field,
    an_import_maps_columns_to_fields_and_a_bad_value_leaves_its_row_out,
);
