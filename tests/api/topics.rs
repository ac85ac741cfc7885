//! Topics (issue 14, item 1): admins define them on the admin pages and
//! through the API; a signup picks public ones (or gets the ones on by
//! default); one confirmation covers them; a confirmed reader adds more
//! without a new one; every change is an event naming its topics; and an
//! upgraded database puts every existing reader in the one default topic.

use herald::accounts::Role;
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Row;

use crate::on_both_databases;
use crate::support::{Backend, TestApp, TestDatabase};

/// The slugs of the topics an address is in, alphabetical.
async fn topics_of(app: &TestApp, email: &str) -> Vec<String> {
    let mut conn = app.db.connect().await;
    sqlx::query(
        "SELECT t.slug FROM subscriber_topics m \
         JOIN topics t ON t.id = m.topic_id \
         JOIN subscribers s ON s.id = m.subscriber_id \
         WHERE lower(s.email) = lower($1) ORDER BY t.slug",
    )
    .bind(email)
    .fetch_all(&mut conn)
    .await
    .expect("memberships")
    .iter()
    .map(|row| row.get("slug"))
    .collect()
}

/// (kind, topics) of every event of an address, oldest first.
async fn events_with_topics(app: &TestApp, email: &str) -> Vec<(String, Option<String>)> {
    let mut conn = app.db.connect().await;
    sqlx::query(
        "SELECT e.kind, e.topics FROM subscriber_events e \
         JOIN subscribers s ON s.id = e.subscriber_id \
         WHERE lower(s.email) = lower($1) ORDER BY e.id",
    )
    .bind(email)
    .fetch_all(&mut conn)
    .await
    .expect("events")
    .iter()
    .map(|row| (row.get("kind"), row.get("topics")))
    .collect()
}

async fn sign_up_json(app: &TestApp, body: Value) -> (u16, Value) {
    let response = app.post_json("/subscriptions", &body).await;
    let status = response.status().as_u16();
    let body = response.json().await.expect("JSON answer");
    app.signups_handled().await;
    (status, body)
}

/// Signs up with topics and returns the confirmation link from the mail.
async fn sign_up_for(app: &TestApp, email: &str, topics: &[&str]) -> String {
    let already = app.mails_to(email).await.len();
    let (status, body) = sign_up_json(app, json!({"email": email, "topics": topics})).await;
    assert_eq!(status, 200, "{body}");
    app.next_mail_to(email, already)
        .await
        .confirmation_link(&app.address)
}

async fn admins_create_edit_and_delete_topics_on_the_admin_pages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.sign_in_as(Role::Admin).await;

    let (status, page) = admin.get_page("/admin/topics").await;
    assert_eq!(status, 200);
    assert!(page.contains("Newsletter"), "the default topic is listed");
    // The only topic offers no delete button: it cannot go.
    assert!(!page.contains("/delete\""), "{page}");

    // A bad slug and no name: the form again, naming both, nothing created.
    let response = admin
        .post_form(
            "/admin/topics",
            &[
                ("slug", "Daily Digest!"),
                ("name", " "),
                ("visibility", "public"),
            ],
        )
        .await;
    assert_eq!(response.status(), 422);
    let page = response.text().await.expect("page");
    assert!(page.contains("A slug is lower-case letters"), "{page}");
    assert!(page.contains("A topic needs a name."), "{page}");
    assert!(
        page.contains("value=\"Daily Digest!\""),
        "the input is kept"
    );
    assert_eq!(app.db.count("topics").await, 1);

    // Private and on by default do not go together.
    let response = admin
        .post_form(
            "/admin/topics",
            &[
                ("slug", "press"),
                ("name", "Press list"),
                ("visibility", "private"),
                ("on_by_default", "yes"),
            ],
        )
        .await;
    assert_eq!(response.status(), 422);
    assert!(response
        .text()
        .await
        .expect("page")
        .contains("A private topic cannot be on by default"));

    let response = admin
        .post_form(
            "/admin/topics",
            &[
                ("slug", "daily"),
                ("name", "The daily digest"),
                ("description", "Every morning at seven."),
                ("visibility", "public"),
                ("on_by_default", "yes"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let (_, page) = admin.get_page("/admin/topics").await;
    assert!(
        page.contains("Topic The daily digest (daily) created."),
        "{page}"
    );
    assert!(page.contains("Every morning at seven."));

    // The same slug again: refused, naming it.
    let response = admin
        .post_form(
            "/admin/topics",
            &[
                ("slug", "daily"),
                ("name", "Another"),
                ("visibility", "public"),
            ],
        )
        .await;
    assert_eq!(response.status(), 409);
    assert!(response
        .text()
        .await
        .expect("page")
        .contains("The slug daily is taken by another topic."));
    assert_eq!(app.db.count("topics").await, 2);

    let id: i64 = {
        let mut conn = app.db.connect().await;
        sqlx::query("SELECT id FROM topics WHERE slug = 'daily'")
            .fetch_one(&mut conn)
            .await
            .expect("the new topic")
            .get("id")
    };
    let (status, page) = admin.get_page(&format!("/admin/topics/{id}")).await;
    assert_eq!(status, 200);
    assert!(page.contains("value=\"daily\""));
    let response = admin
        .post_form(
            &format!("/admin/topics/{id}"),
            &[
                ("slug", "morning"),
                ("name", "The morning digest"),
                ("description", ""),
                ("visibility", "private"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let (_, page) = admin.get_page("/admin/topics").await;
    assert!(
        page.contains("Topic The morning digest (morning) saved."),
        "{page}"
    );
    assert!(page.contains("private"));

    // Deleting asks first, then deletes; the last topic is refused.
    let (status, page) = admin.get_page(&format!("/admin/topics/{id}/delete")).await;
    assert_eq!(status, 200);
    assert!(page.contains("Delete this topic?"));
    let response = admin
        .post_form(&format!("/admin/topics/{id}/delete"), &[])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(app.db.count("topics").await, 1);
    let last: i64 = {
        let mut conn = app.db.connect().await;
        sqlx::query("SELECT id FROM topics")
            .fetch_one(&mut conn)
            .await
            .expect("the default topic")
            .get("id")
    };
    let response = admin
        .post_form(&format!("/admin/topics/{last}/delete"), &[])
        .await;
    assert_eq!(response.status(), 303);
    let (_, page) = admin.get_page("/admin/topics").await;
    assert!(
        page.contains("Not deleted: the last topic cannot be deleted"),
        "{page}"
    );
    assert_eq!(app.db.count("topics").await, 1);

    // Without the CSRF token nothing is created.
    let response = admin
        .post_form_without_csrf(
            "/admin/topics",
            &[
                ("slug", "forged"),
                ("name", "Forged"),
                ("visibility", "public"),
            ],
        )
        .await;
    assert_eq!(response.status(), 403);
    assert_eq!(app.db.count("topics").await, 1);
}

async fn the_api_creates_reads_updates_and_deletes_topics(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.api_token(Role::Admin).await;
    let editor = app.api_token(Role::Editor).await;

    let response = app
        .api(Method::GET, "/api/v1/topics", &editor)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200, "editors read topics");
    let list: Value = response.json().await.expect("JSON");
    assert_eq!(list["items"][0]["slug"], "newsletter");
    assert_eq!(list["items"][0]["on_by_default"], true);
    assert_eq!(list["items"][0]["visibility"], "public");

    let response = app
        .api(Method::POST, "/api/v1/topics", &editor)
        .json(&json!({"slug": "weekly", "name": "Weekly"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 403, "editors do not manage topics");

    let response = app
        .api(Method::POST, "/api/v1/topics", &admin)
        .json(&json!({"slug": "weekly", "name": "The week in business", "description": "Fridays."}))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.expect("JSON");
    let id = created["id"].as_i64().expect("id");
    assert_eq!(created["visibility"], "public", "public unless said");
    assert_eq!(created["on_by_default"], false);
    assert_eq!(created["readers"], 0);

    for (body, field) in [
        (json!({"slug": "Not a slug", "name": "X"}), "slug"),
        (json!({"slug": "x", "name": ""}), "name"),
        (
            json!({"slug": "x", "name": "X", "visibility": "secret"}),
            "visibility",
        ),
        (
            json!({"slug": "x", "name": "X", "visibility": "private", "on_by_default": true}),
            "on_by_default",
        ),
        (
            json!({"slug": "x", "name": "X", "description": "d".repeat(501)}),
            "description",
        ),
    ] {
        let response = app
            .api(Method::POST, "/api/v1/topics", &admin)
            .json(&body)
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), 422, "{body}");
        let error: Value = response.json().await.expect("JSON");
        assert_eq!(error["field"], field, "{body}: {error}");
    }
    let response = app
        .api(Method::POST, "/api/v1/topics", &admin)
        .json(&json!({"slug": "weekly", "name": "Again"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 409);
    assert_eq!(
        app.db.count("topics").await,
        2,
        "nothing written by bad input"
    );

    let response = app
        .api(Method::GET, &format!("/api/v1/topics/{id}"), &editor)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200);
    let response = app
        .api(Method::GET, "/api/v1/topics/999999", &editor)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 404);

    let response = app
        .api(Method::PUT, &format!("/api/v1/topics/{id}"), &admin)
        .json(&json!({"slug": "newsletter", "name": "Clash"}))
        .send()
        .await
        .expect("PUT");
    assert_eq!(response.status(), 409, "the slug of another topic");
    let response = app
        .api(Method::PUT, &format!("/api/v1/topics/{id}"), &admin)
        .json(&json!({"slug": "business", "name": "Business", "visibility": "private"}))
        .send()
        .await
        .expect("PUT");
    assert_eq!(response.status(), 200);
    let updated: Value = response.json().await.expect("JSON");
    assert_eq!(updated["slug"], "business");
    assert_eq!(updated["visibility"], "private");

    let response = app
        .api(Method::DELETE, &format!("/api/v1/topics/{id}"), &admin)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(response.status(), 204);
    let list: Value = app
        .api(Method::GET, "/api/v1/topics", &admin)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    let last = list["items"][0]["id"].as_i64().expect("id");
    let response = app
        .api(Method::DELETE, &format!("/api/v1/topics/{last}"), &admin)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(response.status(), 409);
    let error: Value = response.json().await.expect("JSON");
    assert!(
        error["error"]
            .as_str()
            .is_some_and(|e| e.contains("the last topic cannot be deleted")),
        "{error}"
    );
    assert_eq!(app.db.count("topics").await, 1);
}

async fn a_signup_joins_the_chosen_topics_and_its_confirmation_covers_them(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_topic("daily", "Daily", json!({})).await;
    app.create_topic("weekly", "Weekly", json!({})).await;

    let link = sign_up_for(&app, "reader@example.com", &["weekly", "Daily"]).await;
    assert_eq!(
        topics_of(&app, "reader@example.com").await,
        ["daily", "weekly"]
    );
    assert_eq!(
        app.subscriber_status("reader@example.com").await.as_deref(),
        Some("pending")
    );
    app.confirm(&link).await;
    assert_eq!(
        app.subscriber_status("reader@example.com").await.as_deref(),
        Some("confirmed")
    );
    assert_eq!(
        events_with_topics(&app, "reader@example.com").await,
        [
            ("signed_up".to_owned(), Some("daily weekly".to_owned())),
            ("confirmed".to_owned(), Some("daily weekly".to_owned())),
        ]
    );

    // The API shows what they are in and what each step covered.
    let token = app.api_token(Role::Admin).await;
    let id = app.db.subscriber_id("reader@example.com").await;
    let detail: Value = app
        .api(Method::GET, &format!("/api/v1/subscribers/{id}"), &token)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    assert_eq!(detail["topics"], json!(["daily", "weekly"]));
    assert_eq!(detail["history"][1]["topics"], json!(["daily", "weekly"]));
    let admin = app.sign_in_as(Role::Admin).await;
    let (_, page) = admin.get_page(&format!("/admin/subscribers/{id}")).await;
    assert!(
        page.contains("<tr><th>Topics</th><td>daily, weekly</td></tr>"),
        "{page}"
    );
    assert!(page.contains("Confirmed (topics: daily, weekly)"), "{page}");

    // The form shows a box per public topic, the default one ticked.
    let page = app.get("/").await.text().await.expect("page");
    assert!(
        page.contains("name=\"topics\" type=\"checkbox\" value=\"daily\""),
        "{page}"
    );
    assert!(page.contains("value=\"newsletter\" checked"), "{page}");
    assert!(!page.contains("value=\"daily\" checked"), "{page}");

    // A form with two boxes ticked.
    let response = app
        .post_form(
            "/subscriptions",
            &[
                ("email", "form@example.com"),
                ("topics", "daily"),
                ("topics", "newsletter"),
                ("website", ""),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
    app.signups_handled().await;
    assert_eq!(
        topics_of(&app, "form@example.com").await,
        ["daily", "newsletter"]
    );
}

async fn a_signup_without_topics_joins_the_topics_on_by_default(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_topic("daily", "Daily", json!({"on_by_default": true}))
        .await;
    app.create_topic("weekly", "Weekly", json!({})).await;

    let (status, body) = sign_up_json(&app, json!({"email": "plain@example.com"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        topics_of(&app, "plain@example.com").await,
        ["daily", "newsletter"]
    );
    assert_eq!(
        events_with_topics(&app, "plain@example.com").await,
        [("signed_up".to_owned(), Some("daily newsletter".to_owned()))]
    );

    // The archive's form and plain forms on other sites send no topics.
    let response = app.sign_up("form@example.com", "").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        topics_of(&app, "form@example.com").await,
        ["daily", "newsletter"]
    );
}

async fn unknown_or_private_topics_are_refused_and_nothing_is_written(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_topic("daily", "Daily", json!({})).await;
    app.create_topic("press", "Press", json!({"visibility": "private"}))
        .await;

    let (status, body) = sign_up_json(
        &app,
        json!({"email": "nosy@example.com", "topics": ["daily", "press", "nope"]}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "topics");
    assert_eq!(body["unknown"], json!(["press", "nope"]));
    assert_eq!(
        body["error"],
        "There are no topics \"press\", \"nope\" to subscribe to."
    );

    // The form: the page again with the error, the boxes as ticked.
    let response = app
        .post_form(
            "/subscriptions",
            &[
                ("email", "nosy@example.com"),
                ("topics", "nope"),
                ("website", ""),
            ],
        )
        .await;
    assert_eq!(response.status(), 422);
    let page = response.text().await.expect("page");
    assert!(
        page.contains("There is no topic &#34;nope&#34; to subscribe to.")
            || page.contains("There is no topic &quot;nope&quot; to subscribe to."),
        "{page}"
    );
    assert!(
        page.contains("value=\"nosy@example.com\""),
        "the address is kept"
    );

    // Not a list of strings: a 400 naming what was expected.
    let (status, _) = sign_up_json(
        &app,
        json!({"email": "nosy@example.com", "topics": "daily"}),
    )
    .await;
    assert_eq!(status, 400);

    app.signups_handled().await;
    assert_eq!(app.db.count("signup_requests").await, 0);
    assert_eq!(app.db.count("subscribers").await, 0);
    assert_eq!(app.db.count("subscriber_topics").await, 0);
    assert!(app.mails_after_quiet_period().await.is_empty());
}

async fn a_confirmed_reader_adding_a_topic_needs_no_new_confirmation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_topic("daily", "Daily", json!({})).await;
    app.subscribed_reader("known@example.com").await;
    assert_eq!(topics_of(&app, "known@example.com").await, ["newsletter"]);
    let mails_before = app.mails_to("known@example.com").await.len();

    // The same answer a new address gets: nothing tells them apart.
    let (status, known) = sign_up_json(
        &app,
        json!({"email": "known@example.com", "topics": ["daily"]}),
    )
    .await;
    let (_, fresh) = sign_up_json(
        &app,
        json!({"email": "fresh@example.com", "topics": ["daily"]}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(known, fresh);

    assert_eq!(
        topics_of(&app, "known@example.com").await,
        ["daily", "newsletter"]
    );
    assert_eq!(
        app.subscriber_status("known@example.com").await.as_deref(),
        Some("confirmed")
    );
    let events = events_with_topics(&app, "known@example.com").await;
    assert_eq!(
        events.last(),
        Some(&("topics_added".to_owned(), Some("daily".to_owned())))
    );
    app.mails_after_quiet_period().await;
    assert_eq!(
        app.mails_to("known@example.com").await.len(),
        mails_before,
        "no confirmation mail for a confirmed reader"
    );

    // Again with nothing new: nothing changes, no event.
    sign_up_json(
        &app,
        json!({"email": "known@example.com", "topics": ["daily"]}),
    )
    .await;
    assert_eq!(events_with_topics(&app, "known@example.com").await, events);
}

async fn a_reader_who_left_comes_back_to_the_topics_they_choose(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_topic("daily", "Daily", json!({})).await;
    let unsubscribe = app.subscribed_reader("back@example.com").await;
    let token = crate::support::token_of(&unsubscribe);
    let response = app
        .post_form(&format!("/unsubscribe?token={token}"), &[])
        .await;
    assert_eq!(response.status(), 200);

    let link = sign_up_for(&app, "back@example.com", &["daily"]).await;
    assert_eq!(topics_of(&app, "back@example.com").await, ["daily"]);
    app.confirm(&link).await;
    let events = events_with_topics(&app, "back@example.com").await;
    assert_eq!(
        events.last(),
        Some(&("confirmed".to_owned(), Some("daily".to_owned())))
    );
}

async fn with_one_topic_the_signup_form_is_as_before(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let page = app.get("/").await.text().await.expect("page");
    assert!(!page.contains("type=\"checkbox\""), "{page}");
    // A second topic that is private changes nothing for readers either.
    app.create_topic("press", "Press", json!({"visibility": "private"}))
        .await;
    let page = app.get("/").await.text().await.expect("page");
    assert!(!page.contains("type=\"checkbox\""), "{page}");
    assert!(!page.contains("press"), "{page}");
}

/// A database from before topics: every subscriber, whatever their status,
/// ends up in the one default topic, which is public and on by default.
async fn an_upgrade_puts_every_subscriber_in_the_default_topic(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    db.migrate_to(22).await;
    {
        let mut conn = db.connect().await;
        for (email, status) in [
            ("a@example.com", "confirmed"),
            ("b@example.com", "pending"),
            ("c@example.com", "unsubscribed"),
            ("d@example.com", "bounced"),
        ] {
            sqlx::query(
                "INSERT INTO subscribers (email, name, status, created_at, updated_at, link_key) \
                 VALUES ($1, NULL, $2, 1, 1, $1)",
            )
            .bind(email)
            .bind(status)
            .execute(&mut conn)
            .await
            .expect("an old row");
        }
    }
    let app = TestApp::spawn_on(db).await;
    for email in [
        "a@example.com",
        "b@example.com",
        "c@example.com",
        "d@example.com",
    ] {
        assert_eq!(topics_of(&app, email).await, ["newsletter"], "{email}");
    }
    let mut conn = app.db.connect().await;
    let row = sqlx::query("SELECT slug, visibility, on_by_default FROM topics")
        .fetch_one(&mut conn)
        .await
        .expect("the default topic");
    assert_eq!(row.get::<String, _>("visibility"), "public");
    assert_eq!(row.get::<i64, _>("on_by_default"), 1);
    let sources: Vec<String> = sqlx::query("SELECT DISTINCT source FROM subscriber_topics")
        .fetch_all(&mut conn)
        .await
        .expect("sources")
        .iter()
        .map(|row| row.get("source"))
        .collect();
    assert_eq!(sources, ["upgrade"]);
}

/// Readers of the topics of an issue, each once, and nobody else; the send
/// page counts them before anything goes out, and changes them.
async fn an_issue_goes_to_the_readers_of_its_topics_once_each(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let daily = app.create_topic("daily", "Daily", json!({})).await;
    app.create_topic("weekly", "Weekly", json!({})).await;
    for (email, topics) in [
        ("a@example.com", vec!["daily"]),
        ("b@example.com", vec!["weekly"]),
        ("c@example.com", vec!["daily", "weekly"]),
        ("d@example.com", vec![]),
    ] {
        app.subscribed_reader(email).await;
        if !topics.is_empty() {
            sign_up_json(&app, json!({"email": email, "topics": topics})).await;
        }
    }
    let token = app.api_token(Role::Editor).await;
    for (topics, why) in [
        (json!(["nope"]), "no topic \"nope\""),
        (json!([]), "at least one topic"),
    ] {
        let response = app
            .api(Method::POST, "/api/v1/issues", &token)
            .json(&json!({"subject": "S", "intro": "I", "items": [], "topics": topics}))
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), 422);
        let error: Value = response.json().await.expect("JSON");
        assert_eq!(error["field"], "topics");
        assert!(
            error["error"].as_str().is_some_and(|e| e.contains(why)),
            "{error}"
        );
    }
    let response = app
        .api(Method::POST, "/api/v1/issues", &token)
        .json(&json!({"subject": "Both", "intro": "Hello", "items": [], "topics": ["weekly", "daily"]}))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 201);
    let issue: Value = response.json().await.expect("JSON");
    assert_eq!(issue["topics"], json!(["daily", "weekly"]));
    let id = issue["id"].as_i64().expect("id");

    // The send page counts them and offers to change the topics.
    let editor = app.sign_in_as(Role::Editor).await;
    let (status, page) = editor.get_page(&format!("/admin/issues/{id}/send")).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("<strong>3</strong> confirmed subscribers in Daily, Weekly, each once"),
        "{page}"
    );
    let response = editor
        .post_form(
            &format!("/admin/issues/{id}/topics"),
            &[("topics", "newsletter")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let (_, page) = editor.get_page(&format!("/admin/issues/{id}/send")).await;
    assert!(
        page.contains("<strong>4</strong> confirmed subscribers in Newsletter"),
        "{page}"
    );
    let response = editor
        .post_form(
            &format!("/admin/issues/{id}/topics"),
            &[("topics", "daily"), ("topics", "weekly")],
        )
        .await;
    assert_eq!(response.status(), 303);

    let response = app
        .api(Method::POST, &format!("/api/v1/issues/{id}/send"), &token)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 202);
    let mut conn = app.db.connect().await;
    let mut copies: Vec<String> = sqlx::query(
        "SELECT s.email FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id \
         WHERE d.issue_id = $1",
    )
    .bind(id)
    .fetch_all(&mut conn)
    .await
    .expect("the queue")
    .iter()
    .map(|row| row.get("email"))
    .collect();
    copies.sort();
    assert_eq!(copies, ["a@example.com", "b@example.com", "c@example.com"]);

    // A topic an issue went to stays, with the reason.
    let admin = app.api_token(Role::Admin).await;
    let response = app
        .api(Method::DELETE, &format!("/api/v1/topics/{daily}"), &admin)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(response.status(), 409);
    let error: Value = response.json().await.expect("JSON");
    assert!(
        error["error"]
            .as_str()
            .is_some_and(|e| e.contains("1 issue(s) went or go to it")),
        "{error}"
    );
}

on_both_databases!(
    admins_create_edit_and_delete_topics_on_the_admin_pages,
    the_api_creates_reads_updates_and_deletes_topics,
    a_signup_joins_the_chosen_topics_and_its_confirmation_covers_them,
    a_signup_without_topics_joins_the_topics_on_by_default,
    unknown_or_private_topics_are_refused_and_nothing_is_written,
    a_confirmed_reader_adding_a_topic_needs_no_new_confirmation,
    a_reader_who_left_comes_back_to_the_topics_they_choose,
    with_one_topic_the_signup_form_is_as_before,
    an_upgrade_puts_every_subscriber_in_the_default_topic,
    an_issue_goes_to_the_readers_of_its_topics_once_each,
);
