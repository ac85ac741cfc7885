//! Segments (issue 14, item 5): saved filters built through the API or the
//! admin form, counted over a hand-made population whose answer is known;
//! a bad filter is refused with the condition it is about and nothing is
//! stored; a segment naming a topic deleted since is refused when counted.
//! Field conditions: counted over readers with hand-set values of each kind
//! of field; a value of the wrong type and a deleted field are refused.

use herald::accounts::Role;
use herald::segments::Day;
use herald::subscriptions::SubscriberStatus;
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Row;

use crate::on_both_databases;
use crate::support::{Backend, TestApp};

/// Noon UTC of a day, or its first millisecond with `midnight`.
fn at(day: &str, midnight: bool) -> i64 {
    let start = Day::parse(day).expect("a day").start_millis();
    if midnight {
        start
    } else {
        start + 12 * 60 * 60 * 1000
    }
}

async fn create_topic(app: &TestApp, token: &str, slug: &str) -> i64 {
    let response = app
        .api(Method::POST, "/api/v1/topics", token)
        .json(&json!({"slug": slug, "name": slug}))
        .send()
        .await
        .expect("POST /api/v1/topics");
    assert_eq!(response.status(), 201, "creating topic {slug}");
    response.json::<Value>().await.expect("JSON")["id"]
        .as_i64()
        .expect("id")
}

async fn api(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app.api(method, path, token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("API request");
    let status = response.status().as_u16();
    let body = if status == 204 {
        Value::Null
    } else {
        response.json().await.expect("JSON answer")
    };
    (status, body)
}

/// How many subscribers the API counts for `filter`.
async fn count(app: &TestApp, token: &str, filter: Value) -> i64 {
    let (status, body) = api(
        app,
        token,
        Method::POST,
        "/api/v1/segments/count",
        Some(json!({"filter": filter})),
    )
    .await;
    assert_eq!(status, 200, "{filter}: {body}");
    body["subscribers"].as_i64().expect("a count")
}

/// (reader, signed up, source event, topics, (copy status, when), (bounce class, when))
type Reader<'a> = (
    &'a str,
    i64,
    &'a str,
    &'a [i64],
    Option<(&'a str, i64)>,
    Option<(&'a str, i64)>,
);

/// Eight readers, each with a signup day, topics, a history, copies and
/// bounces chosen so that every condition separates them. Returns the ids
/// of the topics daily and weekly.
async fn population(app: &TestApp) -> (i64, i64) {
    let admin = app.api_token(Role::Admin).await;
    let token = admin.as_str();
    let daily = create_topic(app, token, "daily").await;
    let weekly = create_topic(app, token, "weekly").await;
    for (status, prefix, n) in [
        (SubscriberStatus::Confirmed, "c", 4),
        (SubscriberStatus::Pending, "p", 2),
        (SubscriberStatus::Unsubscribed, "u", 1),
        (SubscriberStatus::Bounced, "b", 1),
    ] {
        app.add_subscribers(n, status, prefix).await;
    }
    let (status, issue) = api(
        app,
        token,
        Method::POST,
        "/api/v1/issues",
        Some(json!({"subject": "Segments", "intro": "Hi", "items": []})),
    )
    .await;
    assert_eq!(status, 201);
    let issue = issue["id"].as_i64().expect("issue id");

    let readers: [Reader; 8] = [
        (
            "c001",
            at("2023-05-10", false),
            "signed_up",
            &[daily, weekly],
            Some(("sent", at("2025-01-10", false))),
            None,
        ),
        (
            "c002",
            at("2024-01-15", true),
            "imported",
            &[daily],
            Some(("sent", at("2024-06-01", false))),
            Some(("delayed", at("2025-01-01", false))),
        ),
        (
            "c003",
            at("2024-06-30", false),
            "added",
            &[weekly],
            Some(("failed", at("2025-01-10", false))),
            None,
        ),
        (
            "c004",
            at("2025-02-01", false),
            "signed_up",
            &[],
            None,
            Some(("soft", at("2025-02-10", false))),
        ),
        (
            "p001",
            at("2024-07-01", false),
            "signed_up",
            &[daily],
            None,
            None,
        ),
        ("p002", at("2025-03-03", false), "imported", &[], None, None),
        (
            "u001",
            at("2022-12-31", false),
            "signed_up",
            &[],
            Some(("sent", at("2024-02-02", false))),
            None,
        ),
        ("b001", at("2024-03-03", false), "imported", &[], None, None),
    ];
    let mut conn = app.db.connect().await;
    for (n, (reader, created_at, source, topics, copy, bounce)) in readers.into_iter().enumerate() {
        let email = format!("{reader}@example.com");
        let id = app.db.subscriber_id(&email).await;
        sqlx::query("UPDATE subscribers SET created_at = $1 WHERE id = $2")
            .bind(created_at)
            .bind(id)
            .execute(&mut conn)
            .await
            .expect("set the signup day");
        sqlx::query("INSERT INTO subscriber_events (subscriber_id, kind, at) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(source)
            .bind(created_at)
            .execute(&mut conn)
            .await
            .expect("the source event");
        for topic in topics {
            sqlx::query(
                "INSERT INTO subscriber_topics (subscriber_id, topic_id, joined_at, source) \
                 VALUES ($1, $2, $3, 'admin')",
            )
            .bind(id)
            .bind(*topic)
            .bind(created_at)
            .execute(&mut conn)
            .await
            .expect("a membership");
        }
        if let Some((status, when)) = copy {
            let sent_at = (status == "sent").then_some(when);
            sqlx::query(
                "INSERT INTO deliveries (issue_id, subscriber_id, status, queued_at, next_attempt_at, sent_at) \
                 VALUES ($1, $2, $3, $4, $4, $5)",
            )
            .bind(issue)
            .bind(id)
            .bind(status)
            .bind(when)
            .bind(sent_at)
            .execute(&mut conn)
            .await
            .expect("a copy");
        }
        if let Some((class, when)) = bounce {
            sqlx::query(
                "INSERT INTO bounce_reports (report_key, class, subscriber_id, received_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(format!("report-{n}"))
            .bind(class)
            .bind(id)
            .bind(when)
            .execute(&mut conn)
            .await
            .expect("a bounce report");
        }
    }
    (daily, weekly)
}

async fn counts_match_a_hand_made_population(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.api_token(Role::Editor).await;
    let (daily, weekly) = population(&app).await;
    let one = |condition: Value| json!({"conditions": [condition]});
    let cases = [
        (one(json!({"type": "status", "in": ["confirmed"]})), 4),
        (
            one(json!({"type": "status", "in": ["pending", "unsubscribed"]})),
            3,
        ),
        (
            one(json!({"type": "topics", "op": "any", "topics": [daily]})),
            3,
        ),
        (
            one(json!({"type": "topics", "op": "all", "topics": [daily, weekly]})),
            1,
        ),
        (
            one(json!({"type": "topics", "op": "none", "topics": [daily, weekly]})),
            4,
        ),
        (
            one(json!({"type": "signed_up", "op": "before", "date": "2024-01-01"})),
            2,
        ),
        // c003 signed up at noon on the 30th: "after" starts the next day.
        (
            one(json!({"type": "signed_up", "op": "after", "date": "2024-06-30"})),
            3,
        ),
        // Both ends included: c002 at the first millisecond, c003 on the last day.
        (
            one(
                json!({"type": "signed_up", "op": "between", "from": "2024-01-15", "to": "2024-06-30"}),
            ),
            3,
        ),
        (one(json!({"type": "source", "in": ["signup"]})), 4),
        (one(json!({"type": "source", "in": ["import", "added"]})), 4),
        // A failed copy is no copy received.
        (one(json!({"type": "received", "op": "any"})), 3),
        (
            one(json!({"type": "received", "op": "any", "since": "2024-06-01"})),
            2,
        ),
        (
            one(json!({"type": "received", "op": "none", "since": "2025-01-01"})),
            7,
        ),
        // The bounced status, or a hard or soft bounce; a delay is none.
        (one(json!({"type": "bounced"})), 2),
        (
            one(json!({"type": "bounced", "op": "any", "since": "2025-01-01"})),
            1,
        ),
        (one(json!({"type": "bounced", "op": "none"})), 6),
        (
            json!({"match": "all", "conditions": [
                {"type": "status", "in": ["confirmed"]},
                {"type": "topics", "op": "any", "topics": [daily]},
            ]}),
            2,
        ),
        (
            json!({"match": "any", "conditions": [
                {"type": "status", "in": ["bounced"]},
                {"type": "received", "op": "any"},
            ]}),
            4,
        ),
    ];
    for (filter, expected) in cases {
        assert_eq!(
            count(&app, &token, filter.clone()).await,
            expected,
            "{filter}"
        );
    }

    // Saved, read back, counted, renamed, deleted.
    let filter = json!({"match": "all", "conditions": [
        {"type": "status", "in": ["confirmed"]},
        {"type": "topics", "op": "any", "topics": [daily]},
    ]});
    let (status, created) = api(
        &app,
        &token,
        Method::POST,
        "/api/v1/segments",
        Some(json!({"name": "Daily readers", "filter": filter})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().expect("id");
    assert_eq!(created["filter"]["conditions"][1]["topics"], json!([daily]));
    let (status, counted) = api(
        &app,
        &token,
        Method::GET,
        &format!("/api/v1/segments/{id}/count"),
        None,
    )
    .await;
    assert_eq!((status, counted["subscribers"].as_i64()), (200, Some(2)));
    let (status, _) = api(
        &app,
        &token,
        Method::POST,
        "/api/v1/segments",
        Some(json!({"name": "Daily readers", "filter": filter})),
    )
    .await;
    assert_eq!(status, 409, "the name is taken");
    let (status, updated) = api(
        &app,
        &token,
        Method::PUT,
        &format!("/api/v1/segments/{id}"),
        Some(json!({"name": "Everyone bounced", "filter": {"conditions": [{"type": "bounced"}]}})),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    let (_, counted) = api(
        &app,
        &token,
        Method::GET,
        &format!("/api/v1/segments/{id}/count"),
        None,
    )
    .await;
    assert_eq!(counted["subscribers"], 2);
    let (status, list) = api(&app, &token, Method::GET, "/api/v1/segments", None).await;
    assert_eq!(status, 200);
    assert_eq!(list["items"][0]["name"], "Everyone bounced");
    let (status, _) = api(
        &app,
        &token,
        Method::DELETE,
        &format!("/api/v1/segments/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = api(
        &app,
        &token,
        Method::GET,
        &format!("/api/v1/segments/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let mut conn = app.db.connect().await;
    let actions: Vec<String> =
        sqlx::query("SELECT action FROM audit_events WHERE action LIKE 'segment_%' ORDER BY id")
            .fetch_all(&mut conn)
            .await
            .expect("audit log")
            .iter()
            .map(|row| row.get("action"))
            .collect();
    assert_eq!(
        actions,
        ["segment_created", "segment_updated", "segment_deleted"]
    );
}

async fn a_bad_filter_is_refused_with_its_reason_and_nothing_is_stored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.api_token(Role::Editor).await;
    let cases = [
        (
            json!({"name": "Bad status", "filter": {"conditions": [{"type": "status", "in": ["confirmed"]}, {"type": "status", "in": ["asleep"]}]}}),
            "filter.conditions[2]",
            "condition 2 (status): \"asleep\" is no status",
        ),
        (
            json!({"name": "Bad date", "filter": {"conditions": [{"type": "signed_up", "op": "before", "date": "2024-02-30"}]}}),
            "filter.conditions[1]",
            "condition 1 (signed_up): date: 2024-02-30 is not a day of the calendar",
        ),
        (
            json!({"name": "Empty", "filter": {"conditions": [{"type": "topics", "op": "any", "topics": []}]}}),
            "filter.conditions[1]",
            "condition 1 (topics): \"topics\" is empty",
        ),
        (
            json!({"name": "Unknown topic", "filter": {"conditions": [{"type": "topics", "topics": [424242]}]}}),
            "filter.conditions[1]",
            "condition 1 (topics): there is no topic 424242",
        ),
        (
            json!({"name": "SQL", "filter": {"conditions": [{"type": "sql", "where": "1 = 1; DROP TABLE subscribers"}]}}),
            "filter.conditions[1]",
            "condition 1: there is no condition type \"sql\"",
        ),
        (
            json!({"name": "Too many", "filter": {"conditions": vec![json!({"type": "bounced"}); 21]}}),
            "filter",
            "a segment has at most 20 conditions",
        ),
        (
            json!({"name": "Nothing", "filter": {"conditions": []}}),
            "filter",
            "a segment needs at least one condition",
        ),
        (
            json!({"name": " ", "filter": {"conditions": [{"type": "bounced"}]}}),
            "name",
            "A segment needs a name.",
        ),
    ];
    for (body, field, reason) in cases {
        let (status, answer) = api(
            &app,
            &token,
            Method::POST,
            "/api/v1/segments",
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert_eq!(answer["field"], field, "{body}: {answer}");
        let error = answer["error"].as_str().expect("error");
        assert!(error.starts_with(reason), "{body}: {error}");
        // The same filter, counted without saving: the same refusal.
        if field != "name" {
            let (status, answer) = api(
                &app,
                &token,
                Method::POST,
                "/api/v1/segments/count",
                Some(json!({"filter": body["filter"]})),
            )
            .await;
            assert_eq!(status, 422, "{answer}");
            assert!(answer["error"].as_str().expect("error").starts_with(reason));
        }
    }
    // Not JSON of the shape at all: 400, never a 500.
    let response = app
        .api(Method::POST, "/api/v1/segments", &token)
        .header("Content-Type", "application/json")
        .body("{\"name\": 3")
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 400);
    assert_eq!(app.db.count("segments").await, 0, "nothing was stored");
}

async fn a_segment_naming_a_deleted_topic_is_refused_when_counted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.api_token(Role::Admin).await;
    let gone = create_topic(&app, &admin, "gone").await;
    let (status, created) = api(
        &app,
        &admin,
        Method::POST,
        "/api/v1/segments",
        Some(json!({"name": "Gone readers", "filter": {"conditions": [
            {"type": "status", "in": ["confirmed"]},
            {"type": "topics", "op": "any", "topics": [gone]},
        ]}})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().expect("id");
    let (status, _) = api(
        &app,
        &admin,
        Method::DELETE,
        &format!("/api/v1/topics/{gone}"),
        None,
    )
    .await;
    assert_eq!(status, 204);

    let (status, answer) = api(
        &app,
        &admin,
        Method::GET,
        &format!("/api/v1/segments/{id}/count"),
        None,
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["field"], "filter.conditions[2]");
    assert_eq!(
        answer["error"],
        format!("condition 2 (topics): there is no topic {gone} (it may have been deleted)")
    );
    // The segment itself stays, to be mended; the pages say why it has no count.
    let (status, _) = api(
        &app,
        &admin,
        Method::GET,
        &format!("/api/v1/segments/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let editor = app.sign_in_as(Role::Editor).await;
    let (status, page) = editor.get_page("/admin/segments").await;
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!("there is no topic {gone}")),
        "{page}"
    );
    let (status, page) = editor.get_page(&format!("/admin/segments/{id}")).await;
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!("there is no topic {gone}")),
        "{page}"
    );
}

async fn editors_build_count_save_and_delete_a_segment_with_the_form(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (daily, _) = population(&app).await;
    let editor = app.sign_in_as(Role::Editor).await;
    let (status, page) = editor.get_page("/admin/segments/new").await;
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!("name=\"topic\" value=\"{daily}\"")),
        "{page}"
    );

    let daily = daily.to_string();
    let fields = [
        ("name", "Confirmed daily readers"),
        ("match", "all"),
        ("status", "confirmed"),
        ("topic_op", "any"),
        ("topic", daily.as_str()),
        ("signed_up_op", ""),
        ("received", ""),
        ("bounced", ""),
    ];
    // Count: the same page with the count, nothing saved.
    let response = editor.post_form("/admin/segments/count", &fields).await;
    assert_eq!(response.status(), 200);
    let page = response.text().await.expect("page");
    assert!(page.contains("2 subscribers match now"), "{page}");
    assert!(
        page.contains("value=\"Confirmed daily readers\""),
        "the form is kept"
    );
    assert_eq!(app.db.count("segments").await, 0);

    // A bad date: the form again with the reason, nothing saved.
    let mut bad = fields.to_vec();
    bad.extend([("signed_up_op", "before"), ("signed_up_date", "2024-13-01")]);
    let response = editor.post_form("/admin/segments", &bad).await;
    assert_eq!(response.status(), 422);
    let page = response.text().await.expect("page");
    assert!(page.contains("is not a date written YYYY-MM-DD"), "{page}");
    assert_eq!(app.db.count("segments").await, 0);

    let response = editor.post_form("/admin/segments", &fields).await;
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let (_, page) = editor.get_page(&location).await;
    assert!(page.contains("2 subscribers match now"), "{page}");
    let (_, list) = editor.get_page("/admin/segments").await;
    assert!(list.contains("Confirmed daily readers"), "{list}");

    // Changed to readers who never received an issue.
    let id = location.rsplit('/').next().expect("id").to_owned();
    let response = editor
        .post_form(
            &location,
            &[
                ("name", "Never reached"),
                ("match", "all"),
                ("received", "none"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let (_, page) = editor.get_page(&location).await;
    assert!(page.contains("5 subscribers match now"), "{page}");

    let (status, page) = editor
        .get_page(&format!("/admin/segments/{id}/delete"))
        .await;
    assert_eq!(status, 200);
    assert!(page.contains("Delete this segment?"));
    let response = editor
        .post_form(&format!("/admin/segments/{id}/delete"), &[])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(app.db.count("segments").await, 0);
    let mut conn = app.db.connect().await;
    let audited: i64 =
        sqlx::query("SELECT count(*) AS n FROM audit_events WHERE action LIKE 'segment_%'")
            .fetch_one(&mut conn)
            .await
            .expect("audit log")
            .get("n");
    assert_eq!(audited, 3, "created, changed, deleted");
}

async fn create_field(app: &TestApp, token: &str, body: Value) -> i64 {
    let (status, field) = api(app, token, Method::POST, "/api/v1/fields", Some(body)).await;
    assert_eq!(status, 201, "{field}");
    field["id"].as_i64().expect("field id")
}

/// Custom fields of every kind and six confirmed readers f001 to f006 with
/// values set by hand (a missing value is no row). Returns the field ids
/// (plan, seats, renewal, vip, company).
async fn field_population(app: &TestApp) -> [i64; 5] {
    let admin = app.api_token(Role::Admin).await;
    let token = admin.as_str();
    let plan = create_field(
        app,
        token,
        json!({"key": "plan", "label": "Plan", "type": "choice", "choices": ["Free", "Pro", "Team"]}),
    )
    .await;
    let seats = create_field(
        app,
        token,
        json!({"key": "seats", "label": "Seats", "type": "number"}),
    )
    .await;
    let renewal = create_field(
        app,
        token,
        json!({"key": "renewal", "label": "Renewal", "type": "date"}),
    )
    .await;
    let vip = create_field(
        app,
        token,
        json!({"key": "vip", "label": "VIP", "type": "yes_no"}),
    )
    .await;
    let company = create_field(
        app,
        token,
        json!({"key": "company", "label": "Company", "type": "text"}),
    )
    .await;
    app.add_subscribers(6, SubscriberStatus::Confirmed, "f")
        .await;
    // (reader, plan, seats, renewal, vip, company)
    type Values<'a> = (
        &'a str,
        Option<&'a str>,
        Option<f64>,
        Option<&'a str>,
        Option<f64>,
        Option<&'a str>,
    );
    let readers: [Values; 6] = [
        (
            "f001",
            Some("Pro"),
            Some(10.0),
            Some("2024-03-01"),
            Some(1.0),
            Some("Acme 50%"),
        ),
        (
            "f002",
            Some("Team"),
            Some(25.5),
            Some("2025-01-15"),
            Some(0.0),
            Some("acme corp"),
        ),
        (
            "f003",
            Some("Free"),
            Some(1.0),
            None,
            Some(1.0),
            Some("Globex"),
        ),
        ("f004", Some("Pro"), None, Some("2024-12-31"), None, None),
        ("f005", None, None, None, None, None),
        (
            "f006",
            Some("Team"),
            Some(100.0),
            Some("2023-06-30"),
            Some(0.0),
            Some("Initech_50"),
        ),
    ];
    let mut conn = app.db.connect().await;
    for (reader, plan_value, seats_value, renewal_value, vip_value, company_value) in readers {
        let id = app.db.subscriber_id(&format!("{reader}@example.com")).await;
        let texts = [
            (plan, plan_value),
            (renewal, renewal_value),
            (company, company_value),
        ];
        for (field, value) in texts {
            let Some(value) = value else { continue };
            sqlx::query(
                "INSERT INTO subscriber_field_values (subscriber_id, field_id, text_value) VALUES ($1, $2, $3)",
            )
            .bind(id)
            .bind(field)
            .bind(value)
            .execute(&mut conn)
            .await
            .expect("a text value");
        }
        for (field, value) in [(seats, seats_value), (vip, vip_value)] {
            let Some(value) = value else { continue };
            sqlx::query(
                "INSERT INTO subscriber_field_values (subscriber_id, field_id, number_value) VALUES ($1, $2, $3)",
            )
            .bind(id)
            .bind(field)
            .bind(value)
            .execute(&mut conn)
            .await
            .expect("a number value");
        }
    }
    [plan, seats, renewal, vip, company]
}

async fn field_conditions_count_a_hand_made_population(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.api_token(Role::Editor).await;
    let [plan, seats, renewal, vip, company] = field_population(&app).await;
    let one = |condition: Value| json!({"conditions": [condition]});
    let field = |id: i64, rest: Value| {
        let mut condition = json!({"type": "field", "field": id});
        for (key, value) in rest.as_object().expect("members") {
            condition[key] = value.clone();
        }
        one(condition)
    };
    let cases = [
        (field(plan, json!({"op": "eq", "value": "Pro"})), 2),
        (
            field(plan, json!({"op": "in", "values": ["Team", "Free"]})),
            3,
        ),
        (field(plan, json!({"op": "empty"})), 1),
        (field(plan, json!({"op": "not_empty"})), 5),
        (
            field(company, json!({"op": "contains", "value": "ACME"})),
            2,
        ),
        (field(company, json!({"op": "contains", "value": "50%"})), 1),
        // `_` is no wildcard: "Acme 50%" has " 5", not "_5".
        (field(company, json!({"op": "contains", "value": "_5"})), 1),
        (field(company, json!({"op": "eq", "value": "Globex"})), 1),
        (field(seats, json!({"op": "eq", "value": 10})), 1),
        (field(seats, json!({"op": "lt", "value": 10})), 1),
        (field(seats, json!({"op": "gt", "value": 10})), 2),
        (
            field(seats, json!({"op": "between", "from": 10, "to": 25.5})),
            2,
        ),
        (field(seats, json!({"op": "empty"})), 2),
        (
            field(renewal, json!({"op": "before", "date": "2024-12-31"})),
            2,
        ),
        (
            field(renewal, json!({"op": "after", "date": "2024-03-01"})),
            2,
        ),
        (
            field(
                renewal,
                json!({"op": "between", "from": "2024-03-01", "to": "2024-12-31"}),
            ),
            2,
        ),
        (field(renewal, json!({"op": "empty"})), 2),
        (field(vip, json!({"op": "is", "value": true})), 2),
        (field(vip, json!({"op": "is", "value": false})), 2),
        (
            json!({"conditions": [
                {"type": "status", "in": ["confirmed"]},
                {"type": "field", "field": plan, "op": "eq", "value": "Pro"},
                {"type": "field", "field": vip, "op": "is", "value": true},
            ]}),
            1,
        ),
        (
            json!({"match": "any", "conditions": [
                {"type": "field", "field": seats, "op": "gt", "value": 50},
                {"type": "field", "field": company, "op": "contains", "value": "globex"},
            ]}),
            2,
        ),
    ];
    for (filter, expected) in cases {
        assert_eq!(
            count(&app, &token, filter.clone()).await,
            expected,
            "{filter}"
        );
    }

    // A value of the wrong type for the field: 422 naming the condition.
    let refusals = [
        (
            json!({"type": "field", "field": seats, "op": "eq", "value": "ten"}),
            format!("condition 2 (field): field {seats}: \"eq\" with this value does not fit a number field"),
        ),
        (
            json!({"type": "field", "field": plan, "op": "eq", "value": "Gold"}),
            format!("condition 2 (field): field {plan}: \"Gold\" is not one of its choices (Free, Pro, Team)"),
        ),
        (
            json!({"type": "field", "field": company, "op": "lt", "value": 5}),
            format!("condition 2 (field): field {company}: \"lt\" with this value does not fit a text field"),
        ),
        (
            json!({"type": "field", "field": vip, "op": "empty"}),
            format!("condition 2 (field): field {vip}: \"empty\" with this value does not fit a yes_no field"),
        ),
        (
            json!({"type": "field", "field": 424_242, "op": "empty"}),
            "condition 2 (field): there is no field 424242 (it may have been deleted)".to_owned(),
        ),
    ];
    for (condition, reason) in refusals {
        let filter = json!({"conditions": [{"type": "status", "in": ["confirmed"]}, condition]});
        for (path, body) in [
            ("/api/v1/segments/count", json!({"filter": filter})),
            (
                "/api/v1/segments",
                json!({"name": "Refused", "filter": filter}),
            ),
        ] {
            let (status, answer) = api(&app, &token, Method::POST, path, Some(body)).await;
            assert_eq!(status, 422, "{path} {filter}: {answer}");
            assert_eq!(answer["field"], "filter.conditions[2]", "{answer}");
            assert!(
                answer["error"]
                    .as_str()
                    .expect("error")
                    .starts_with(&reason),
                "{answer}"
            );
        }
    }
    assert_eq!(app.db.count("segments").await, 0, "nothing was stored");

    // The form's field row counts the same.
    let editor = app.sign_in_as(Role::Editor).await;
    let (status, page) = editor.get_page("/admin/segments/new").await;
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!("<option value=\"{seats}\"")),
        "{page}"
    );
    let seats = seats.to_string();
    let response = editor
        .post_form(
            "/admin/segments/count",
            &[
                ("name", "Mid-size"),
                ("match", "all"),
                ("field", seats.as_str()),
                ("field_op", "between"),
                ("field_value", "10"),
                ("field_until", "25.5"),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
    let page = response.text().await.expect("page");
    assert!(page.contains("2 subscribers match now"), "{page}");
}

async fn a_segment_naming_a_deleted_field_is_refused_with_the_reason(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.api_token(Role::Admin).await;
    let [plan, ..] = field_population(&app).await;
    let (status, created) = api(
        &app,
        &admin,
        Method::POST,
        "/api/v1/segments",
        Some(json!({"name": "Pro readers", "filter": {"conditions": [
            {"type": "field", "field": plan, "op": "eq", "value": "Pro"},
        ]}})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().expect("id");
    let (status, _) = api(
        &app,
        &admin,
        Method::DELETE,
        &format!("/api/v1/fields/{plan}"),
        None,
    )
    .await;
    assert_eq!(status, 204);

    let reason =
        format!("condition 1 (field): there is no field {plan} (it may have been deleted)");
    let (status, answer) = api(
        &app,
        &admin,
        Method::GET,
        &format!("/api/v1/segments/{id}/count"),
        None,
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["field"], "filter.conditions[1]");
    assert_eq!(answer["error"], reason);
    let editor = app.sign_in_as(Role::Editor).await;
    let (status, page) = editor.get_page("/admin/segments").await;
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!("there is no field {plan}")),
        "{page}"
    );
}

on_both_databases!(
    field_conditions_count_a_hand_made_population,
    a_segment_naming_a_deleted_field_is_refused_with_the_reason,
    counts_match_a_hand_made_population,
    a_bad_filter_is_refused_with_its_reason_and_nothing_is_stored,
    a_segment_naming_a_deleted_topic_is_refused_when_counted,
    editors_build_count_save_and_delete_a_segment_with_the_form,
);
