//! The audit log: what admins and editors did, read by admins at
//! `/admin/audit`, filtered, and exported as CSV.

use herald::accounts::Role;

use crate::on_both_databases;
use crate::support::admin::{cookie_client, csrf_token_in};
use crate::support::{Backend, TestApp};

/// Tries a sign-in with a wrong password, as a browser would.
async fn failed_sign_in(app: &TestApp, email: &str) {
    let client = cookie_client();
    let login = client
        .get(app.url("/admin/login"))
        .send()
        .await
        .expect("GET login")
        .text()
        .await
        .expect("login page");
    let csrf = csrf_token_in(&login).expect("a CSRF token");
    let response = client
        .post(app.url("/admin/login"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("email", email),
            ("password", "not the password at all"),
        ])
        .send()
        .await
        .expect("POST login");
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

on_both_databases!(
    sign_ins_and_failures_are_recorded_with_the_address,
    admins_filter_the_log_and_export_it_as_csv,
    editors_cannot_read_the_audit_log,
);
