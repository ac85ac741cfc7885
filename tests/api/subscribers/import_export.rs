//! CSV import (upload and command line) and export, and their round trip.

use herald::accounts::Role;
use herald::cli::subscribers::{admission, import_file};
use herald::subscriptions::admin::{Admission, ConsentNote};

use crate::on_both_databases;
use crate::support::admin::AdminBrowser;
use crate::support::{Backend, TestApp};

/// Line 1 is the header; lines 3, 4 and 8 are bad; line 7 repeats line 2.
fn people_csv() -> String {
    format!(
        "email,name\n\
         ann@example.com,Ann Smith\n\
         not-an-address,Bad Row\n\
         ,No Email\n\
         bob@example.org,\n\
         \"carol@example.net\",\"Carol, the \"\"Great\"\"\"\n\
         ANN@example.com,Ann Again\n\
         dave@example.com,{}\n",
        "D".repeat(101)
    )
}

/// The first press: uploads the file to be checked (a dry run). Returns the
/// status and the page shown after it (the redirect followed).
async fn upload(
    app: &TestApp,
    admin: &AdminBrowser,
    csv: &str,
    consent_note: Option<&str>,
) -> (reqwest::StatusCode, String) {
    upload_named(app, admin, "people.csv", Some(csv), consent_note).await
}

async fn upload_named(
    app: &TestApp,
    admin: &AdminBrowser,
    name: &str,
    csv: Option<&str>,
    consent_note: Option<&str>,
) -> (reqwest::StatusCode, String) {
    let mut form = reqwest::multipart::Form::new();
    if let Some(csv) = csv {
        let file = reqwest::multipart::Part::bytes(csv.as_bytes().to_vec())
            .file_name(name.to_owned())
            .mime_str("text/csv")
            .expect("mime type");
        form = form.part("file", file);
    }
    if let Some(note) = consent_note {
        form = form
            .text("confirmed", "yes")
            .text("consent_note", note.to_owned());
    }
    let response = admin
        .client
        .post(app.url(&format!(
            "/admin/subscribers/import?csrf_token={}",
            admin.csrf_token
        )))
        .multipart(form)
        .send()
        .await
        .expect("POST");
    after(admin, response).await
}

/// The second press: imports the file as checked.
async fn confirm(admin: &AdminBrowser) -> (reqwest::StatusCode, String) {
    let response = admin
        .post_form("/admin/subscribers/import/confirm", &[])
        .await;
    after(admin, response).await
}

async fn after(admin: &AdminBrowser, response: reqwest::Response) -> (reqwest::StatusCode, String) {
    let status = response.status();
    if status == reqwest::StatusCode::SEE_OTHER {
        let location = response.headers()["location"]
            .to_str()
            .expect("ascii")
            .to_owned();
        let (_, page) = admin.get_page(&location).await;
        (status, page)
    } else {
        (status, response.text().await.expect("page"))
    }
}

async fn an_uploaded_file_is_imported_as_pending_with_bad_rows_reported(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let (status, page) = upload(&app, &admin, &people_csv(), None).await;
    assert_eq!(status, 303, "{page}");
    // The dry run: what would happen, and nothing done yet.
    assert!(
        page.contains("File people.csv (7 rows, separated by comma) is still selected"),
        "{page}"
    );
    for count in [
        "<strong>3</strong> new",
        "<strong>1</strong> repeated in the file",
        "<strong>3</strong> invalid",
        "<strong>0</strong> already on the list",
    ] {
        assert!(page.contains(count), "{count} in {page}");
    }
    assert!(page.contains("repeats line 2"), "{page}");
    assert!(page.contains("Import 3 new subscribers"));
    assert_eq!(app.db.count("subscribers").await, 0);
    for (line, reason) in [
        (3, "not-an-address"),
        (4, "no email address"),
        (7, "repeats line 2"),
        (8, "A name has at most 100 characters"),
    ] {
        assert!(
            page.contains(&format!("<tr><td>{line}</td><td>")) && page.contains(reason),
            "line {line} ({reason}) in {page}"
        );
    }
    let (status, page) = confirm(&admin).await;
    assert_eq!(status, 303);
    assert!(
        page.contains("people.csv: 7 rows read, 3 added, 1 already on the list or repeated in the file (left as they were), 3 not imported."),
        "{page}"
    );
    assert!(page
        .contains("<a href=\"/admin/subscribers?status=pending\">Show the 3 imported subscribers"));
    // A refresh of the page after the import, or the confirmation sent
    // again, imports nothing again.
    let (_, page) = admin.get_page("/admin/subscribers/import").await;
    assert!(!page.contains("Import 3 new subscribers"));
    let (status, page) = confirm(&admin).await;
    assert_eq!(status, 303);
    assert!(
        page.contains("There is no checked file to import"),
        "{page}"
    );
    assert_eq!(app.db.count("subscribers").await, 3);
    for address in ["ann@example.com", "bob@example.org", "carol@example.net"] {
        assert_eq!(
            app.subscriber_status(address).await.as_deref(),
            Some("pending")
        );
    }
    // Each gets a confirmation mail that works.
    let link = app
        .next_mail_to("carol@example.net", 0)
        .await
        .confirmation_link(&app.address);
    app.confirm(&link).await;
    assert_eq!(
        app.subscriber_status("carol@example.net").await.as_deref(),
        Some("confirmed")
    );
    let events = app.db.events("ann@example.com").await;
    assert_eq!(events[0].0, "imported");

    // The same file again changes nothing and sends nothing.
    let mails = app.mails(4).await.len();
    let (status, page) = upload(&app, &admin, &people_csv(), None).await;
    assert_eq!(status, 303);
    assert!(
        page.contains("<strong>3</strong> already on the list"),
        "{page}"
    );
    assert!(page.contains("<strong>0</strong> new"), "{page}");
    let (status, page) = confirm(&admin).await;
    assert_eq!(status, 303);
    assert!(page.contains("0 added, 4 already on the list"), "{page}");
    assert_eq!(app.db.count("subscribers").await, 3);
    assert_eq!(
        app.subscriber_status("carol@example.net").await.as_deref(),
        Some("confirmed")
    );
    assert_eq!(app.mails_after_quiet_period().await.len(), mails);
}

async fn a_confirmed_import_needs_a_consent_note_and_keeps_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let (status, page) = upload(&app, &admin, &people_csv(), Some("  ")).await;
    assert_eq!(status, 422);
    assert!(page.contains("consent note is required"), "{page}");
    assert!(page.contains("<title>Error: Import subscribers"));
    assert!(page.contains("aria-describedby=\"consent_note-error\""));
    // The file stays chosen: the next press needs only the note.
    assert!(
        page.contains("File people.csv (7 rows, separated by comma) is still selected"),
        "{page}"
    );
    assert!(!page.contains("Import 3 new subscribers"));
    assert_eq!(app.db.count("subscribers").await, 0);

    let note = "Signed up on paper at the <b>2025</b> book fair";
    let (status, page) = upload_named(&app, &admin, "", None, Some(note)).await;
    assert_eq!(status, 303, "{page}");
    assert!(page.contains("Import 3 new subscribers"), "{page}");
    let (status, page) = confirm(&admin).await;
    assert_eq!(status, 303, "{page}");
    assert!(page.contains("3 added"));
    assert!(page.contains("/admin/subscribers?status=confirmed"));
    assert_eq!(
        app.subscriber_status("bob@example.org").await.as_deref(),
        Some("confirmed")
    );
    assert!(
        app.mails_after_quiet_period().await.is_empty(),
        "no confirmation mail"
    );
    let id = super::subscriber_id(&app, "bob@example.org").await;
    let (_, page) = admin.get_page(&format!("/admin/subscribers/{id}")).await;
    assert!(page.contains("Imported as confirmed"));
    assert!(
        page.contains("Signed up on paper at the &#60;b&#62;2025"),
        "{page}"
    );
    assert!(!page.contains("<b>2025"));
}

async fn an_upload_without_the_csrf_token_imports_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let file = reqwest::multipart::Part::bytes(people_csv().into_bytes()).file_name("people.csv");
    let response = admin
        .client
        .post(app.url("/admin/subscribers/import"))
        .multipart(reqwest::multipart::Form::new().part("file", file))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 403);
    assert_eq!(app.db.count("subscribers").await, 0);
}

async fn the_command_line_import_reports_bad_rows_and_is_idempotent(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let path = app.db.dir.path().join("people.csv");
    std::fs::write(&path, people_csv()).expect("write the file");

    assert!(admission(true, None).is_err(), "--confirmed needs a note");
    assert!(admission(true, Some(" ")).is_err());
    assert!(
        admission(false, Some("a note")).is_err(),
        "a note needs --confirmed"
    );
    let pending = admission(false, None).expect("pending");

    let report = import_file(&app.config, &path, &pending)
        .await
        .expect("import");
    assert_eq!(
        (
            report.rows,
            report.added,
            report.already_listed,
            report.rejected
        ),
        (7, 3, 1, 3)
    );
    let lines: Vec<u64> = report.problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, [3, 4, 8]);
    assert!(report.problems[0].reason.contains("\"not-an-address\""));
    // The running server sends the confirmation mail queued by the command.
    let link = app
        .next_mail_to("bob@example.org", 0)
        .await
        .confirmation_link(&app.address);
    app.confirm(&link).await;

    let again = import_file(&app.config, &path, &pending)
        .await
        .expect("import");
    assert_eq!(
        (again.added, again.already_listed, again.rejected),
        (0, 4, 3)
    );
    assert_eq!(app.db.count("subscribers").await, 3);

    let headerless = app.db.dir.path().join("headerless.csv");
    std::fs::write(&headerless, "ann@example.com,Ann\n").expect("write");
    let error = import_file(&app.config, &headerless, &pending)
        .await
        .expect_err("no header");
    assert!(error.to_string().contains("header"), "{error}");
}

async fn an_export_gives_back_what_was_imported(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Enough rows for several insert batches and export pages.
    let mut csv = String::from("Name,EMAIL\n");
    csv += "\"Zoë \"\"Z\"\" Müller, PhD\",zoe@example.com\n";
    csv += "=HYPERLINK(\"x\"),formula@example.com\n";
    for i in 0..12_345 {
        csv += &format!("Reader {i},reader{i}@example.com\n");
    }
    let path = app.db.dir.path().join("people.csv");
    std::fs::write(&path, &csv).expect("write the file");
    let confirmed = Admission::Confirmed(ConsentNote::parse("test fixture").expect("note"));
    let report = import_file(&app.config, &path, &confirmed)
        .await
        .expect("import");
    assert_eq!(report.added, 12_347);

    let admin = app.sign_in_as(Role::Admin).await;
    let response = admin.get("/admin/subscribers/export.csv").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/csv"));
    assert!(response.headers()["content-disposition"]
        .to_str()
        .expect("ascii")
        .starts_with("attachment"));
    let exported = response.bytes().await.expect("body");
    let mut reader = csv::Reader::from_reader(exported.as_ref());
    assert_eq!(
        reader.headers().expect("header").iter().collect::<Vec<_>>(),
        ["email", "name", "status", "created_at"]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("a row")).collect();
    assert_eq!(rows.len(), 12_347);
    assert_eq!(&rows[0][0], "zoe@example.com");
    assert_eq!(&rows[0][1], "Zoë \"Z\" Müller, PhD");
    // Neutralised for spreadsheets, and read back as it was by the import below.
    assert_eq!(&rows[1][1], "'=HYPERLINK(\"x\")");
    assert_eq!(&rows[12_346][0], "reader12344@example.com");
    assert!(rows.iter().all(|r| &r[2] == "confirmed"));
    assert!(rows.iter().all(|r| r[3].len() >= 20 && r[3].ends_with('Z')));

    // Into a new list, and out again: the same people.
    let other = TestApp::spawn(backend).await;
    let path = other.db.dir.path().join("export.csv");
    std::fs::write(&path, &exported).expect("write the export");
    let report = import_file(&other.config, &path, &confirmed)
        .await
        .expect("import");
    assert_eq!((report.added, report.rejected), (12_347, 0));
    let admin = other.sign_in_as(Role::Admin).await;
    let again = admin
        .get("/admin/subscribers/export.csv")
        .await
        .bytes()
        .await
        .expect("body");
    let first_two_columns = |file: &[u8]| -> Vec<(String, String)> {
        csv::Reader::from_reader(file)
            .records()
            .map(|r| {
                let r = r.expect("a row");
                (r[0].to_owned(), r[1].to_owned())
            })
            .collect()
    };
    assert_eq!(first_two_columns(&again), first_two_columns(&exported));
}

/// Issue 10, item 10: an anonymous signup must not put a live formula into
/// the spreadsheet an admin opens.
async fn an_export_neutralises_cells_a_spreadsheet_would_run(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .sign_up("=1+1@example.com", "@SUM(1+1)*cmd|' /C calc'!A0")
        .await;
    assert_eq!(response.status(), 200);
    let response = app.sign_up("plain@example.com", "-2+3").await;
    assert_eq!(response.status(), 200);
    app.mails(2).await;

    let admin = app.sign_in_as(Role::Admin).await;
    let response = admin.get("/admin/subscribers/export.csv").await;
    assert_eq!(response.status(), 200);
    let exported = response.bytes().await.expect("body");
    let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(exported.as_ref())
        .records()
        .map(|r| r.expect("a row"))
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(&rows[0][0], "'=1+1@example.com");
    assert_eq!(&rows[0][1], "'@SUM(1+1)*cmd|' /C calc'!A0");
    assert_eq!(&rows[1][0], "plain@example.com");
    assert_eq!(&rows[1][1], "'-2+3");
    for row in &rows {
        for cell in row.iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "a spreadsheet would run {cell:?}"
            );
        }
    }
}

async fn the_separator_is_found_and_a_wrong_header_is_named(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let (status, page) = upload(
        &app,
        &admin,
        "email;name\nann@example.com;Ann\nbob@example.org;Bob\n",
        None,
    )
    .await;
    assert_eq!(status, 303, "{page}");
    assert!(page.contains("(2 rows, separated by semicolon)"), "{page}");
    assert!(page.contains("<strong>2</strong> new"), "{page}");
    let (_, page) = confirm(&admin).await;
    assert!(page.contains("2 added"), "{page}");
    assert_eq!(
        app.subscriber_status("bob@example.org").await.as_deref(),
        Some("pending")
    );

    let (status, page) = upload_named(
        &app,
        &admin,
        "export.csv",
        Some("E-mail;Name\ncarol@example.net;Carol\n"),
        None,
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        page.contains("export.csv: The first line must be a header"),
        "{page}"
    );
    assert!(
        page.contains("first line reads `E-mail;Name`; expected `email;name`"),
        "{page}"
    );
    assert!(page.contains("<title>Error: Import subscribers"));
    assert_eq!(app.db.count("subscribers").await, 2);

    let (status, template) = admin
        .get_page("/admin/subscribers/import/template.csv")
        .await;
    assert_eq!(status, 200);
    assert!(template.starts_with("email,name\n"));
    let (_, page) = admin.get_page("/admin/subscribers/import").await;
    assert!(page.contains("href=\"/admin/subscribers/import/template.csv\""));
}

async fn only_admins_check_and_import_files(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let editor = app.sign_in_as(Role::Editor).await;
    let (status, _) = editor
        .get_page("/admin/subscribers/import/template.csv")
        .await;
    assert_eq!(status, 403);
    let (status, _) = upload(&app, &editor, &people_csv(), None).await;
    assert_eq!(status, 403);
    let response = editor
        .post_form("/admin/subscribers/import/confirm", &[])
        .await;
    assert_eq!(response.status(), 403);
    assert_eq!(app.db.count("subscribers").await, 0);
}

/// A pending import of a file larger than one insert statement: each new
/// address gets exactly one confirmation link and one queued mail, whichever
/// statement or transaction it lands in; repeats in the file (in another case,
/// in another statement), addresses already listed and suppressed ones get
/// none.
async fn a_big_pending_import_queues_one_confirmation_per_new_address(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    super::add_people(&app, &[("listed@example.com", "Listed", "confirmed")]).await;
    let token = app.api_token(Role::Admin).await;
    for (value, reason) in [
        ("reader9000@example.com", "bounced elsewhere"),
        ("closed.example", "closed domain"),
    ] {
        let response = app
            .api(reqwest::Method::POST, "/api/v1/suppressions", &token)
            .json(&serde_json::json!({"value": value, "reason": reason}))
            .send()
            .await
            .expect("POST /api/v1/suppressions");
        assert_eq!(response.status(), 201);
    }
    let readers = 12_000;
    let mut csv = String::from("email,name\n");
    for i in 0..readers {
        csv += &format!("reader{i}@example.com,Reader {i}\n");
    }
    // Lines 12,002 to 12,005: a repeat in capitals, a repeat from the first
    // statement, an address already listed, one of a suppressed domain.
    csv += "READER7@EXAMPLE.COM,Seven Again\n";
    csv += "reader4999@example.com,\n";
    csv += "Listed@example.com,Listed Again\n";
    csv += "someone@closed.example,Someone\n";
    let path = app.db.dir.path().join("many.csv");
    std::fs::write(&path, csv).expect("write the file");

    let pending = admission(false, None).expect("pending");
    let report = import_file(&app.config, &path, &pending)
        .await
        .expect("import");
    let added = readers - 1;
    assert_eq!(
        (
            report.rows,
            report.added,
            report.already_listed,
            report.rejected
        ),
        (readers + 4, added, 3, 2)
    );
    let mut lines: Vec<u64> = report.problems.iter().map(|p| p.line).collect();
    lines.sort_unstable();
    assert_eq!(lines, [9_002, 12_005], "{:?}", report.problems);

    let mut conn = app.db.connect().await;
    let count = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql);
    let added = i64::try_from(added).expect("a count");
    assert_eq!(
        count("SELECT COUNT(*) FROM subscribers WHERE status = 'pending'")
            .fetch_one(&mut conn)
            .await
            .expect("count"),
        added
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM outbox WHERE kind = 'confirmation'")
            .fetch_one(&mut conn)
            .await
            .expect("count"),
        added
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM confirmation_tokens")
            .fetch_one(&mut conn)
            .await
            .expect("count"),
        added
    );
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM subscribers s WHERE \
             (SELECT COUNT(*) FROM outbox o WHERE o.subscriber_id = s.id AND o.kind = 'confirmation') <> \
             CASE WHEN s.status = 'pending' THEN 1 ELSE 0 END \
             OR (SELECT COUNT(*) FROM confirmation_tokens t WHERE t.subscriber_id = s.id) <> \
             CASE WHEN s.status = 'pending' THEN 1 ELSE 0 END"
        )
        .fetch_one(&mut conn)
        .await
        .expect("count"),
        0,
        "one confirmation for each pending subscriber, none for anyone else"
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM subscriber_events WHERE kind = 'imported'")
            .fetch_one(&mut conn)
            .await
            .expect("count"),
        added
    );
    assert_eq!(
        app.subscriber_status("listed@example.com").await.as_deref(),
        Some("confirmed")
    );
    for absent in ["reader9000@example.com", "someone@closed.example"] {
        assert_eq!(app.subscriber_status(absent).await, None, "{absent}");
    }
    // The first spelling of an address is the one kept.
    let name: Option<String> =
        sqlx::query_scalar("SELECT name FROM subscribers WHERE email = 'reader7@example.com'")
            .fetch_one(&mut conn)
            .await
            .expect("reader 7");
    assert_eq!(name.as_deref(), Some("Reader 7"));
}

on_both_databases!(
    an_export_neutralises_cells_a_spreadsheet_would_run,
    an_uploaded_file_is_imported_as_pending_with_bad_rows_reported,
    a_confirmed_import_needs_a_consent_note_and_keeps_it,
    an_upload_without_the_csrf_token_imports_nothing,
    the_separator_is_found_and_a_wrong_header_is_named,
    only_admins_check_and_import_files,
    the_command_line_import_reports_bad_rows_and_is_idempotent,
    an_export_gives_back_what_was_imported,
    a_big_pending_import_queues_one_confirmation_per_new_address,
);
