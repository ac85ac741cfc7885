//! The suppression list (issue 12, item 6): admins add and remove addresses
//! and domains through the API and the admin pages; hard bounces land there
//! by themselves; a send, an import and a signup leave suppressed addresses
//! out; an erased subscriber stays suppressed by a keyed hash alone.

use std::sync::Arc;

use herald::accounts::Role;
use herald::bounces::{Intake, ReturnPath};
use herald::config::SecretKey;
use herald::store::copy::{ColumnType, TABLES};
use herald::store::Store;
use herald::subscriptions::admin::{insert_samples, SampleSubscriber};
use herald::subscriptions::{SubscriberEmail, SubscriberName, SubscriberStatus};
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{json, Value};
use sqlx::Row;

use crate::on_both_databases;
use crate::support::{Backend, TestApp, MAIL_WAIT, TEST_SECRET};

const BOUNCE_ADDRESS: &str = "bounces@news.example.org";

/// Adds an entry through the API; returns the status and the body.
async fn suppress(app: &TestApp, token: &str, value: &str, reason: &str) -> (u16, Value) {
    let response = app
        .api(Method::POST, "/api/v1/suppressions", token)
        .json(&json!({"value": value, "reason": reason}))
        .send()
        .await
        .expect("POST /api/v1/suppressions");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"))
}

async fn list(app: &TestApp, token: &str, query: &str) -> Value {
    let response = app
        .api(Method::GET, &format!("/api/v1/suppressions{query}"), token)
        .send()
        .await
        .expect("GET /api/v1/suppressions");
    assert_eq!(response.status(), 200);
    response.json().await.expect("JSON")
}

fn values(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["value"].as_str().unwrap_or("(erased)").to_owned())
        .collect()
}

/// Confirmed subscribers straight into the database.
async fn confirmed_readers(app: &TestApp, addresses: &[&str]) {
    let store = Store::connect(&app.db.url, 2).await.expect("open");
    let rows: Vec<SampleSubscriber> = addresses
        .iter()
        .map(|address| SampleSubscriber {
            email: SubscriberEmail::parse(address).expect("valid"),
            name: SubscriberName::parse("Reader").expect("valid"),
            status: SubscriberStatus::Confirmed,
            created_at: herald::store::now_millis(),
        })
        .collect();
    insert_samples(&store, &rows).await.expect("insert");
    store.close().await;
}

async fn admins_add_list_and_remove_entries_through_the_api(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.api_token(Role::Admin).await;

    let (status, ann) = suppress(&app, &token, " Ann@Example.ORG ", "asked by phone").await;
    assert_eq!(status, 201, "{ann}");
    assert_eq!(ann["kind"], "address");
    assert_eq!(ann["value"], "Ann@example.org");
    assert_eq!(ann["source"], "admin");
    assert_eq!(ann["reason"], "asked by phone");
    assert!(ann["added_by"]
        .as_str()
        .is_some_and(|by| by.starts_with("API token")));
    let (status, domain) = suppress(&app, &token, "@Bücher.Example", "a spam trap domain").await;
    assert_eq!(status, 201, "{domain}");
    assert_eq!(domain["kind"], "domain");
    assert_eq!(domain["value"], "xn--bcher-kva.example");

    // Bad input: a clear error naming the problem, and nothing changes.
    let bad = [
        ("ann@", "reason", 422, "value", "not an email address"),
        ("example", "reason", 422, "value", "not a domain"),
        ("exa mple.org", "reason", 422, "value", "not a domain"),
        (
            "",
            "reason",
            422,
            "value",
            "Enter an email address or a domain",
        ),
        ("zed@example.org", " ", 422, "reason", "Give a reason"),
        ("zed@example.org", "two\nlines", 422, "reason", "one line"),
        (
            "ANN@example.org",
            "again",
            409,
            "",
            "already on the suppression list",
        ),
        (
            "bücher.example",
            "again",
            409,
            "",
            "already on the suppression list",
        ),
    ];
    for (value, reason, expected, field, words) in bad {
        let (status, body) = suppress(&app, &token, value, reason).await;
        assert_eq!(status, expected, "{value:?}: {body}");
        let error = body["error"].as_str().expect("an error");
        assert!(error.contains(words), "{value:?}: {error}");
        if !field.is_empty() {
            assert_eq!(body["field"], field, "{value:?}");
        }
    }
    let malformed = app
        .api(Method::POST, "/api/v1/suppressions", &token)
        .header("content-type", "application/json")
        .body("{\"value\": 3")
        .send()
        .await
        .expect("POST");
    assert_eq!(malformed.status(), 400);
    assert_eq!(app.db.count("suppressions").await, 2);

    let page = list(&app, &token, "").await;
    assert_eq!(values(&page), ["xn--bcher-kva.example", "Ann@example.org"]);
    assert_eq!(
        values(&list(&app, &token, "?q=ANN").await),
        ["Ann@example.org"]
    );
    assert!(
        values(&list(&app, &token, "?q=%25").await).is_empty(),
        "% is literal"
    );
    let first = list(&app, &token, "?limit=1").await;
    assert_eq!(values(&first), ["xn--bcher-kva.example"]);
    let next = first["next"].as_i64().expect("a next page");
    let second = list(&app, &token, &format!("?limit=1&after={next}")).await;
    assert_eq!(values(&second), ["Ann@example.org"]);
    assert!(second["next"].is_null());
    let bad_limit = app
        .api(Method::GET, "/api/v1/suppressions?limit=0", &token)
        .send()
        .await
        .expect("GET");
    assert_eq!(bad_limit.status(), 422);

    let id = ann["id"].as_i64().expect("id");
    let path = format!("/api/v1/suppressions/{id}");
    let removed = app
        .api(Method::DELETE, &path, &token)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(removed.status(), 204);
    let again = app
        .api(Method::DELETE, &path, &token)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(again.status(), 404);
    assert_eq!(
        values(&list(&app, &token, "").await),
        ["xn--bcher-kva.example"]
    );

    // An editor's token neither reads nor changes the list.
    let editor = app.api_token(Role::Editor).await;
    let (status, _) = suppress(&app, &editor, "eve@example.org", "editor").await;
    assert_eq!(status, 403);
    assert_eq!(app.db.count("suppressions").await, 1);
}

async fn admins_add_and_remove_entries_on_the_admin_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.sign_in_as(Role::Admin).await;

    let (status, page) = admin.get_page("/admin/suppressions").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("href=\"/admin/suppressions\""),
        "linked from the navigation"
    );
    assert!(page.contains("No entries"));

    let added = admin
        .post_form(
            "/admin/suppressions",
            &[
                ("value", "ann@example.org"),
                ("reason", "asked at the fair"),
            ],
        )
        .await;
    assert_eq!(added.status(), 303);
    let (_, page) = admin.get_page("/admin/suppressions").await;
    assert!(page.contains("ann@example.org is suppressed"), "{page}");
    assert!(page.contains("asked at the fair"));
    assert!(page.contains(&format!("admin {}", admin.user.email)));

    // A bad address and a duplicate: the form again, naming the problem.
    let refused = admin
        .post_form(
            "/admin/suppressions",
            &[("value", "ann@@example"), ("reason", "")],
        )
        .await;
    assert_eq!(refused.status(), 422);
    let page = refused.text().await.expect("page");
    assert!(page.contains("is not an email address"), "{page}");
    assert!(page.contains("Give a reason"), "{page}");
    assert!(
        page.contains("value=\"ann@@example\""),
        "what was typed stays"
    );
    let duplicate = admin
        .post_form(
            "/admin/suppressions",
            &[("value", "ANN@example.org"), ("reason", "again")],
        )
        .await;
    assert_eq!(duplicate.status(), 409);
    assert!(duplicate
        .text()
        .await
        .expect("page")
        .contains("is already on the suppression list"));
    // A forged cross-site form changes nothing.
    let forged = admin
        .post_form_without_csrf(
            "/admin/suppressions",
            &[("value", "forged.example"), ("reason", "forged")],
        )
        .await;
    assert_eq!(forged.status(), 403);
    assert_eq!(app.db.count("suppressions").await, 1);

    let id: i64 = {
        let mut conn = app.db.connect().await;
        sqlx::query("SELECT id FROM suppressions")
            .fetch_one(&mut conn)
            .await
            .expect("the entry")
            .get("id")
    };
    let page_before = admin.get_page("/admin/suppressions").await.1;
    assert!(page_before.contains(&format!("/admin/suppressions/{id}/remove")));
    let forged = admin
        .post_form_without_csrf(&format!("/admin/suppressions/{id}/remove"), &[])
        .await;
    assert_eq!(forged.status(), 403);
    assert_eq!(app.db.count("suppressions").await, 1);
    let removed = admin
        .post_form(&format!("/admin/suppressions/{id}/remove"), &[])
        .await;
    assert_eq!(removed.status(), 303);
    let (_, page) = admin.get_page("/admin/suppressions").await;
    assert!(
        page.contains("ann@example.org is no longer suppressed"),
        "{page}"
    );
    assert_eq!(app.db.count("suppressions").await, 0);

    // Editors do not see the page.
    let editor = app.sign_in_as(Role::Editor).await;
    assert_eq!(editor.get("/admin/suppressions").await.status(), 403);
}

async fn a_send_skips_suppressed_addresses_and_domains(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    confirmed_readers(
        &app,
        &[
            "kept@example.com",
            "Blocked@example.com",
            "one@spamtrap.example",
            "two@SpamTrap.example",
        ],
    )
    .await;
    let token = app.api_token(Role::Admin).await;
    assert_eq!(
        suppress(&app, &token, "blocked@EXAMPLE.com", "asked")
            .await
            .0,
        201
    );
    assert_eq!(
        suppress(&app, &token, "spamtrap.example", "trap").await.0,
        201
    );

    crate::issues::send_with_api(&app, &json!({"subject": "Weekly", "intro": "Hello."})).await;
    app.smtp.wait_for_messages(1, MAIL_WAIT).await;
    // Time for a copy that should not come to arrive anyway.
    app.mails_after_quiet_period().await;
    let recipients: Vec<String> = app
        .smtp
        .messages()
        .await
        .iter()
        .flat_map(|message| message.rcpt_to.clone())
        .collect();
    assert_eq!(recipients, ["kept@example.com"]);
    // Nobody's status changed: removing the entries gives them their mail back.
    assert_eq!(
        app.subscriber_status("two@spamtrap.example")
            .await
            .as_deref(),
        Some("confirmed")
    );
    let mut conn = app.db.connect().await;
    let queued: i64 = sqlx::query("SELECT COUNT(*) AS n FROM deliveries")
        .fetch_one(&mut conn)
        .await
        .expect("count")
        .get("n");
    assert_eq!(queued, 1, "only the reader not suppressed was queued");
}

async fn an_import_skips_suppressed_addresses_and_reports_their_lines(backend: Backend) {
    use herald::cli::subscribers::{admission, import_file};
    let app = TestApp::spawn(backend).await;
    let token = app.api_token(Role::Admin).await;
    assert_eq!(
        suppress(
            &app,
            &token,
            "bob@example.org",
            "bounced at our old provider"
        )
        .await
        .0,
        201
    );
    assert_eq!(
        suppress(&app, &token, "example.net", "closed domain")
            .await
            .0,
        201
    );
    let path = app.db.dir.path().join("people.csv");
    std::fs::write(
        &path,
        "email,name\n\
         ann@example.com,Ann\n\
         BOB@example.org,Bob\n\
         carol@Example.NET,Carol\n\
         dave@example.com,Dave\n",
    )
    .expect("write the file");
    let report = import_file(
        &app.config,
        &path,
        &admission(false, None).expect("pending"),
    )
    .await
    .expect("import");
    assert_eq!((report.rows, report.added, report.rejected), (4, 2, 2));
    let problems: Vec<(u64, String)> = report
        .problems
        .iter()
        .map(|p| (p.line, p.reason.clone()))
        .collect();
    assert_eq!(
        problems,
        [
            (3, "BOB@example.org is on the suppression list".to_owned()),
            (4, "carol@example.net is on the suppression list".to_owned()),
        ]
    );
    assert_eq!(app.subscriber_status("bob@example.org").await, None);
    assert_eq!(app.subscriber_status("carol@example.net").await, None);
    assert_eq!(
        app.subscriber_status("ann@example.com").await.as_deref(),
        Some("pending")
    );
    app.next_mail_to("dave@example.com", 0).await;
    let mails = app.mails_after_quiet_period().await;
    assert_eq!(mails.len(), 2, "confirmations to ann and dave only");
}

/// A signup's answer page with the address it repeats (as text and in the
/// link back to the form) taken out.
fn without_address(page: &str) -> String {
    let mut out = String::new();
    let mut rest = page;
    loop {
        let next = [("<strong>", "</strong>"), ("?email=", "\"")]
            .into_iter()
            .filter_map(|(open, close)| rest.find(open).map(|at| (at, open, close)))
            .min_by_key(|(at, _, _)| *at);
        let Some((at, open, close)) = next else {
            break;
        };
        out.push_str(&rest[..at + open.len()]);
        out.push_str("ADDRESS");
        let after = &rest[at + open.len()..];
        rest = &after[after.find(close).unwrap_or(after.len())..];
    }
    out.push_str(rest);
    out
}

async fn a_suppressed_signup_gets_the_usual_answer_and_no_mail(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.api_token(Role::Admin).await;
    assert_eq!(
        suppress(&app, &token, "gone@example.org", "complained by phone")
            .await
            .0,
        201
    );
    assert_eq!(
        suppress(&app, &token, "closed.example", "closed").await.0,
        201
    );

    // The same page and the same JSON, whatever the address.
    let usual = app.sign_up("fresh@example.org", "").await;
    let usual_status = usual.status();
    let usual_page = without_address(&usual.text().await.expect("page"));
    for address in [
        "gone@example.org",
        "GONE@Example.org",
        "anyone@closed.example",
    ] {
        let response = app.sign_up(address, "").await;
        assert_eq!(response.status(), usual_status, "{address}");
        let page = without_address(&response.text().await.expect("page"));
        assert_eq!(page, usual_page, "{address}");
    }
    let json_usual = app
        .post_json("/subscriptions", &json!({"email": "other@example.org"}))
        .await;
    let json_status = json_usual.status();
    let json_body: Value = json_usual.json().await.expect("JSON");
    let json_suppressed = app
        .post_json("/subscriptions", &json!({"email": "gone@example.org"}))
        .await;
    assert_eq!(json_suppressed.status(), json_status);
    assert_eq!(
        json_suppressed.json::<Value>().await.expect("JSON"),
        json_body
    );
    app.signups_handled().await;

    app.next_mail_to("fresh@example.org", 0).await;
    app.next_mail_to("other@example.org", 0).await;
    let mails = app.mails_after_quiet_period().await;
    assert_eq!(mails.len(), 2, "no mail to a suppressed address");
    // Nothing is stored that tells a suppressed signup happened.
    assert_eq!(app.db.count("subscribers").await, 2);
    assert_eq!(app.db.count("signup_requests").await, 0);
    assert_eq!(app.subscriber_status("gone@example.org").await, None);

    // An admin or API add is refused, with the reason.
    let refused = app
        .api(Method::POST, "/api/v1/subscribers", &token)
        .json(&json!({"email": "gone@example.org"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(refused.status(), 422);
    let body: Value = refused.json().await.expect("JSON");
    assert_eq!(body["field"], "email");
    let error = body["error"].as_str().expect("error");
    assert!(
        error.contains("is on the suppression list") && error.contains("complained by phone"),
        "{error}"
    );
    let refused = app
        .api(Method::POST, "/api/v1/subscribers", &token)
        .json(&json!({"email": "new@closed.example"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(refused.status(), 422);
    assert_eq!(app.db.count("subscribers").await, 2);
}

/// Every text column of every table holding `needle`, as `table.column`.
async fn columns_holding(app: &TestApp, needle: &str) -> Vec<String> {
    let mut conn = app.db.connect().await;
    let mut found = Vec::new();
    for table in TABLES {
        for column in table.columns.iter().filter(|c| c.kind == ColumnType::Text) {
            let n: i64 = sqlx::query(&format!(
                "SELECT COUNT(*) AS n FROM {} WHERE lower({}) LIKE $1",
                table.name, column.name
            ))
            .bind(format!("%{}%", needle.to_lowercase()))
            .fetch_one(&mut conn)
            .await
            .expect("search a column")
            .get("n");
            if n > 0 {
                found.push(format!("{}.{}", table.name, column.name));
            }
        }
    }
    found
}

async fn a_hard_bounce_is_listed_with_its_reason_and_stays_after_erasure(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.bounce_address = Some(BOUNCE_ADDRESS.parse().expect("an address"));
    })
    .await;
    let reader = "reader001@example.com";
    confirmed_readers(&app, &[reader, "reader002@example.com"]).await;
    crate::issues::send_with_api(&app, &json!({"subject": "Weekly", "intro": "Hello."})).await;
    let received = app.smtp.wait_for_messages(2, MAIL_WAIT).await;
    let verp = received
        .iter()
        .find(|message| message.rcpt_to == [reader.to_owned()])
        .map(|message| message.mail_from.clone())
        .expect("a copy to the reader");
    let fixtures = format!("{}/tests/fixtures/bounces", env!("CARGO_MANIFEST_DIR"));
    let dsn = std::fs::read_to_string(format!("{fixtures}/postfix-user-unknown.eml"))
        .expect("the fixture")
        .replace(
            "bounces+abcdefghijklmnopqrstuvwxyz23456@news.example.org",
            &verp,
        )
        .replace("reader@example.org", reader);

    let store = Store::connect(&app.db.url, 2).await.expect("open");
    let key = Arc::new(SecretKey::from_secret(&SecretString::from(TEST_SECRET)));
    let intake = Intake::new(
        store.clone(),
        key,
        Some(ReturnPath::new(BOUNCE_ADDRESS.parse().expect("an address"))),
        5,
    );
    let outcome = intake.ingest(dsn.as_bytes(), None).await.expect("ingest");
    assert!(
        outcome
            .to_string()
            .starts_with("hard bounce: reader001@example.com bounced"),
        "{outcome}"
    );
    store.close().await;

    let token = app.api_token(Role::Admin).await;
    let page = list(&app, &token, "").await;
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{page}");
    assert_eq!(items[0]["value"], reader);
    assert_eq!(items[0]["source"], "bounce");
    assert!(items[0]["added_by"].is_null());
    let reason = items[0]["reason"].as_str().expect("reason");
    assert!(reason.starts_with("5.1.1 550 5.1.1"), "{reason}");
    let admin = app.sign_in_as(Role::Admin).await;
    let (_, html) = admin.get_page("/admin/suppressions").await;
    assert!(html.contains(reader) && html.contains("bounce"), "{html}");

    // Erased: the entry keeps only the keyed hash, and nothing else keeps the address.
    let id = app.db.subscriber_id(reader).await;
    let erased = app
        .api(Method::DELETE, &format!("/api/v1/subscribers/{id}"), &token)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(erased.status(), 204);
    assert_eq!(columns_holding(&app, reader).await, Vec::<String>::new());
    let page = list(&app, &token, "").await;
    assert_eq!(page["items"][0]["value"], Value::Null, "{page}");
    assert_eq!(page["items"][0]["kind"], "address");
    assert!(page["items"][0]["reason"]
        .as_str()
        .is_some_and(|reason| reason.starts_with("5.1.1")));
    let hash: String = {
        let mut conn = app.db.connect().await;
        sqlx::query("SELECT address_hash FROM suppressions")
            .fetch_one(&mut conn)
            .await
            .expect("the entry")
            .get("address_hash")
    };
    assert_eq!(hash.len(), 64, "a hex HMAC-SHA256");

    // Still suppressed: signing up again brings no mail and no row.
    let before = app.smtp.messages().await.len();
    assert_eq!(app.sign_up(reader, "").await.status(), 200);
    assert_eq!(app.mails_after_quiet_period().await.len(), before);
    assert_eq!(app.subscriber_status(reader).await, None);
    assert_eq!(columns_holding(&app, reader).await, Vec::<String>::new());
    // ... and an API add is refused, though the address is nowhere in clear.
    let refused = app
        .api(Method::POST, "/api/v1/subscribers", &token)
        .json(&json!({"email": reader}))
        .send()
        .await
        .expect("POST");
    assert_eq!(refused.status(), 422);
}

async fn removing_a_bounce_entry_subscribes_nobody_again(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let reader = "leaver@example.com";
    confirmed_readers(&app, &[reader]).await;
    let store = Store::connect(&app.db.url, 2).await.expect("open");
    let key = SecretKey::from_secret(&SecretString::from(TEST_SECRET));
    let id = app.db.subscriber_id(reader).await;
    {
        let mut tx = store.begin_write().await.expect("begin");
        let complained = herald::subscriptions::Subscriptions::mark_complained(
            &mut tx,
            store.dialect(),
            &key,
            id,
            "feedback-type abuse",
            herald::store::now_millis(),
        )
        .await
        .expect("mark");
        assert!(complained);
        tx.commit().await.expect("commit");
    }
    store.close().await;
    let token = app.api_token(Role::Admin).await;
    let page = list(&app, &token, "").await;
    assert_eq!(page["items"][0]["source"], "complaint", "{page}");
    assert_eq!(page["items"][0]["reason"], "feedback-type abuse");
    let entry = page["items"][0]["id"].as_i64().expect("id");
    let removed = app
        .api(
            Method::DELETE,
            &format!("/api/v1/suppressions/{entry}"),
            &token,
        )
        .send()
        .await
        .expect("DELETE");
    assert_eq!(removed.status(), 204);
    assert_eq!(
        app.subscriber_status(reader).await.as_deref(),
        Some("unsubscribed")
    );
    // Off the list, they may sign up again as anyone may.
    app.sign_up_and_get_link(reader).await;
    assert_eq!(
        app.subscriber_status(reader).await.as_deref(),
        Some("pending")
    );
}

on_both_databases!(
    admins_add_list_and_remove_entries_through_the_api,
    admins_add_and_remove_entries_on_the_admin_page,
    a_send_skips_suppressed_addresses_and_domains,
    an_import_skips_suppressed_addresses_and_reports_their_lines,
    a_suppressed_signup_gets_the_usual_answer_and_no_mail,
    a_hard_bounce_is_listed_with_its_reason_and_stays_after_erasure,
    removing_a_bounce_entry_subscribes_nobody_again,
);
