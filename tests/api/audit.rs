//! The audit log: what admins and editors did, read by admins at
//! `/admin/audit`, filtered, and exported as CSV.

use herald::accounts::Role;
use herald::subscriptions::SubscriberStatus;
use reqwest::Method;
use serde_json::json;

use crate::issues::create_with_api;
use crate::on_both_databases;
use crate::support::admin::{cookie_client, submit_form};
use crate::support::{Backend, TestApp};

/// Tries a sign-in with a wrong password, as a browser would.
async fn failed_sign_in(app: &TestApp, email: &str) {
    let login = app.url("/admin/login");
    let response = submit_form(
        &cookie_client(),
        &login,
        &login,
        &[("email", email), ("password", "not the password at all")],
    )
    .await;
    assert_eq!(response.status(), 401);
}

/// The rows of the audit page's table, as text cells.
fn table_rows(page: &str) -> Vec<Vec<String>> {
    let Some(body) = page.split("<tbody>").nth(1) else {
        return Vec::new();
    };
    let body = body.split("</tbody>").next().unwrap_or_default();
    body.split("<tr>")
        .skip(1)
        .map(|row| {
            row.split("<td>")
                .skip(1)
                .map(|cell| cell.split("</td>").next().unwrap_or_default().to_owned())
                .collect()
        })
        .collect()
}

async fn sign_ins_and_failures_are_recorded_with_the_address(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.sign_in_as(Role::Admin).await;
    failed_sign_in(&app, "intruder@example.com").await;

    let (status, page) = admin.get_page("/admin/audit").await;
    assert_eq!(status, 200);
    let rows = table_rows(&page);
    // Newest first: the failure, then the admin's own sign-in.
    assert_eq!(rows.len(), 2, "{page}");
    assert_eq!(rows[0][1], "visitor");
    assert_eq!(rows[0][2], "Sign-in failed");
    assert_eq!(rows[0][3], "intruder@example.com");
    assert_eq!(rows[0][5], "127.0.0.1");
    assert_eq!(rows[1][1], admin.user.email);
    assert_eq!(rows[1][2], "Signed in");
    assert_eq!(rows[1][5], "127.0.0.1");
}

async fn admins_filter_the_log_and_export_it_as_csv(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let editor = app.sign_in_as(Role::Editor).await;
    failed_sign_in(&app, "=HYPERLINK(\"http://evil.example\")").await;

    let (_, page) = admin
        .get_page(&format!("/admin/audit?actor={}", editor.user.email))
        .await;
    let rows = table_rows(&page);
    assert_eq!(rows.len(), 1, "{page}");
    assert_eq!(rows[0][1], editor.user.email);

    let (_, page) = admin.get_page("/admin/audit?action=sign_in_failed").await;
    let rows = table_rows(&page);
    assert_eq!(rows.len(), 1, "{page}");
    assert_eq!(rows[0][2], "Sign-in failed");

    let (_, page) = admin
        .get_page("/admin/audit?from=2000-01-01&to=2000-12-31")
        .await;
    assert!(table_rows(&page).is_empty(), "{page}");

    let (status, page) = admin.get_page("/admin/audit?from=yesterday").await;
    assert_eq!(status, 400);
    assert!(
        page.contains("from: &#34;yesterday&#34; is not a date"),
        "{page}"
    );
    let (status, _) = admin.get_page("/admin/audit?action=drop_tables").await;
    assert_eq!(status, 400);

    let response = admin.get("/admin/audit.csv?action=sign_in_failed").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let csv = response.text().await.expect("CSV");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "time,actor_kind,actor,action,target,detail,ip");
    assert_eq!(lines.len(), 2, "{csv}");
    // What a visitor typed reaches the spreadsheet as text, not as a formula.
    assert!(
        lines[1].contains(",sign_in_failed,\"'=HYPERLINK(\"\"http://evil.example\"\")\","),
        "{csv}"
    );

    // The export itself is on record.
    let (_, page) = admin.get_page("/admin/audit?action=audit_exported").await;
    let rows = table_rows(&page);
    assert_eq!(rows.len(), 1, "{page}");
    assert_eq!(rows[0][1], admin.user.email);
}

async fn editors_cannot_read_the_audit_log(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let editor = app.sign_in_as(Role::Editor).await;
    assert_eq!(editor.get("/admin/audit").await.status(), 403);
    assert_eq!(editor.get("/admin/audit.csv").await.status(), 403);
    let (_, dashboard) = editor.get_page("/admin").await;
    assert!(!dashboard.contains("/admin/audit"));
}

async fn sends_pauses_resumes_and_cancels_are_recorded_by_who_did_them(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.send_rate = Some(5.try_into().expect("non-zero"));
    })
    .await;
    app.add_subscribers(40, SubscriberStatus::Confirmed, "reader")
        .await;
    let token = app.api_token(Role::Editor).await;
    let editor = app.sign_in_as(Role::Editor).await;
    let issue = create_with_api(
        &app,
        &json!({"subject": "Audited", "intro": "Hello.", "items": []}),
    )
    .await;
    let control = |step: &'static str| {
        app.api(
            Method::POST,
            &format!("/api/v1/issues/{issue}/{step}"),
            &token,
        )
        .send()
    };
    assert_eq!(control("send").await.expect("send").status(), 202);
    let pause = editor
        .post_form(&format!("/admin/issues/{issue}/pause"), &[])
        .await;
    assert!(pause.status().is_success() || pause.status() == 303);
    // Refused (already paused): not an action, not on record.
    assert_eq!(
        editor
            .post_form(&format!("/admin/issues/{issue}/pause"), &[])
            .await
            .status(),
        409
    );
    assert_eq!(control("resume").await.expect("resume").status(), 200);
    let cancel = editor
        .post_form(&format!("/admin/issues/{issue}/cancel"), &[])
        .await;
    assert!(cancel.status().is_success() || cancel.status() == 303);

    let admin = app.sign_in_as(Role::Admin).await;
    let (_, page) = admin.get_page("/admin/audit?actor=").await;
    let steps: Vec<(String, String, String)> = table_rows(&page)
        .into_iter()
        .filter(|row| row[2].starts_with("Send") || row[2] == "Issue sent")
        .map(|row| (row[1].clone(), row[2].clone(), row[3].clone()))
        .collect();
    let on = format!("issue {issue}");
    assert_eq!(steps.len(), 4, "{page}");
    assert_eq!(
        (steps[0].1.as_str(), steps[0].2.as_str()),
        ("Send cancelled", on.as_str())
    );
    assert_eq!(steps[0].0, editor.user.email);
    assert_eq!(steps[1].1, "Send resumed");
    assert!(steps[1].0.starts_with("API token #"), "{:?}", steps[1]);
    assert_eq!(steps[2].1, "Send paused");
    assert_eq!(steps[2].0, editor.user.email);
    assert_eq!(steps[3].1, "Issue sent");
    assert!(steps[3].0.starts_with("API token #"), "{:?}", steps[3]);
}

async fn test_sends_are_recorded_with_their_recipient(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.api_token(Role::Editor).await;
    let editor = app.sign_in_as(Role::Editor).await;
    let issue = create_with_api(
        &app,
        &json!({"subject": "Proof", "intro": "Hello.", "items": []}),
    )
    .await;
    let page = editor
        .post_form(
            &format!("/admin/issues/{issue}/test"),
            &[("to", "proof@example.com")],
        )
        .await;
    assert_eq!(page.status(), 303);
    let api = app
        .api(
            Method::POST,
            &format!("/api/v1/issues/{issue}/test"),
            &token,
        )
        .json(&json!({"to": "desk@example.com"}))
        .send()
        .await
        .expect("API test send");
    assert_eq!(api.status(), 200);

    let admin = app.sign_in_as(Role::Admin).await;
    let (_, page) = admin.get_page("/admin/audit?action=test_sent").await;
    let rows = table_rows(&page);
    assert_eq!(rows.len(), 2, "{page}");
    let on = format!("issue {issue}");
    assert!(rows[0][1].starts_with("API token #"), "{rows:?}");
    assert_eq!(
        (rows[0][3].as_str(), rows[0][4].as_str()),
        (on.as_str(), "to desk@example.com")
    );
    assert_eq!(rows[1][1], editor.user.email);
    assert_eq!(
        (rows[1][3].as_str(), rows[1][4].as_str()),
        (on.as_str(), "to proof@example.com")
    );
}

async fn account_and_token_changes_are_recorded(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let fields = [
        ("email", "new.editor@example.com"),
        ("role", "editor"),
        ("password", "a long enough password"),
    ];
    assert_eq!(admin.post_form("/admin/users", &fields).await.status(), 303);
    let editor = app
        .accounts()
        .await
        .user_by_email("new.editor@example.com")
        .await
        .expect("lookup")
        .expect("the new editor");
    let id = editor.id;
    for step in ["disable", "enable"] {
        let response = admin
            .post_form(&format!("/admin/users/{id}/{step}"), &[])
            .await;
        assert_eq!(response.status(), 303);
    }
    let response = admin
        .post_form(
            &format!("/admin/users/{id}/password"),
            &[("password", "another long password")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let response = admin
        .post_form("/admin/tokens", &[("name", "cms"), ("role", "editor")])
        .await;
    assert_eq!(response.status(), 303);
    let (_, page) = admin.get_page("/admin/tokens").await;
    let token_id: i64 = page
        .split("/admin/tokens/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|id| id.parse().ok())
        .expect("a revoke form with the token's id");
    let response = admin
        .post_form(
            &format!("/admin/tokens/{token_id}/revoke"),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let response = admin
        .post_form(&format!("/admin/users/{id}/remove"), &[("confirm", "yes")])
        .await;
    assert_eq!(response.status(), 303);

    let (_, page) = admin.get_page("/admin/audit").await;
    let rows: Vec<(String, String, String)> = table_rows(&page)
        .into_iter()
        .filter(|row| row[1] == admin.user.email && row[2] != "Signed in")
        .map(|row| (row[2].clone(), row[3].clone(), row[4].clone()))
        .collect();
    let who = "new.editor@example.com".to_owned();
    let token = format!("API token #{token_id}");
    assert_eq!(
        rows,
        vec![
            ("Account removed".to_owned(), who.clone(), String::new()),
            ("API token revoked".to_owned(), token.clone(), String::new()),
            (
                "API token created".to_owned(),
                format!("{token} “cms”"),
                "role editor".to_owned()
            ),
            ("Password changed".to_owned(), who.clone(), String::new()),
            ("Account enabled".to_owned(), who.clone(), String::new()),
            ("Account disabled".to_owned(), who.clone(), String::new()),
            ("Account added".to_owned(), who, "role editor".to_owned()),
        ],
        "{page}"
    );
}

async fn imports_exports_and_erasures_are_recorded_without_the_erased_address(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let file = reqwest::multipart::Part::bytes(
        b"email,name\nann@example.com,Ann\nbob@example.com,Bob\nnot-an-address,X\n".to_vec(),
    )
    .file_name("people.csv")
    .mime_str("text/csv")
    .expect("mime type");
    let form = reqwest::multipart::Form::new()
        .part("file", file)
        .text("confirmed", "yes")
        .text("consent_note", "paper forms, book fair");
    let response = admin
        .client
        .post(app.url(&format!(
            "/admin/subscribers/import?csrf_token={}",
            admin.csrf_token
        )))
        .multipart(form)
        .send()
        .await
        .expect("check the file");
    assert_eq!(response.status(), 303);
    let response = admin
        .post_form("/admin/subscribers/import/confirm", &[])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        admin.get("/admin/subscribers/export.csv").await.status(),
        200
    );
    let token = app.api_token(Role::Admin).await;
    let listed = app
        .api(Method::GET, "/api/v1/subscribers?q=ann@", &token)
        .send()
        .await
        .expect("list")
        .json::<serde_json::Value>()
        .await
        .expect("JSON");
    let ann = listed["items"][0]["id"].as_i64().expect("Ann's id");
    let erased = app
        .api(
            Method::DELETE,
            &format!("/api/v1/subscribers/{ann}"),
            &token,
        )
        .send()
        .await
        .expect("erase");
    assert_eq!(erased.status(), 204);

    let (_, page) = admin.get_page("/admin/audit").await;
    let rows = table_rows(&page);
    let find = |label: &str| {
        rows.iter()
            .find(|row| row[2] == label)
            .unwrap_or_else(|| panic!("no {label} in {page}"))
            .clone()
    };
    let import = find("Subscribers imported");
    assert_eq!(import[1], admin.user.email);
    assert_eq!(
        import[4],
        "3 rows: 2 added, 0 already listed, 1 not imported (confirmed, consent: paper forms, book fair)"
    );
    assert_eq!(find("Subscribers exported")[1], admin.user.email);
    let erasure = find("Subscriber erased");
    assert_eq!(erasure[3], format!("subscriber #{ann}"));
    assert!(
        !page.contains("ann@example.com"),
        "the erased address lives on in the audit log"
    );
}

on_both_databases!(
    sign_ins_and_failures_are_recorded_with_the_address,
    imports_exports_and_erasures_are_recorded_without_the_erased_address,
    account_and_token_changes_are_recorded,
    test_sends_are_recorded_with_their_recipient,
    sends_pauses_resumes_and_cancels_are_recorded_by_who_did_them,
    admins_filter_the_log_and_export_it_as_csv,
    editors_cannot_read_the_audit_log,
);
