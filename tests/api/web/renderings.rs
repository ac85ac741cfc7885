//! Issues are rendered and sanitised once, when saved (or, for issues saved
//! before that, on first need), and the archive serves the stored result:
//! anonymous views make html5ever write nothing, and the page is the same.

use std::collections::HashMap;
use std::time::Duration;

use herald::issues::{render_markdown, HeaderInput, IssueContent, Issues};
use herald::store::{now_millis, Store};

use crate::on_both_databases;
use crate::support::child::HeraldChild;
use crate::support::{Backend, TestDatabase};

/// The intro of the audit: 2,400 unclosed tables, one parser warning each.
fn table_soup() -> String {
    "<table>x".repeat(2400)
}

/// A database with two sent issues of `table_soup()`: one saved now, one as
/// a release before stored renderings left it. Returns (saved, old).
async fn two_sent_issues(db: &TestDatabase) -> (i64, i64) {
    let store = Store::connect(&db.url, 2).await.expect("open the database");
    store.migrate().await.expect("migrate");
    let content = IssueContent::parse(
        &HeaderInput {
            subject: "Tables".into(),
            preheader: String::new(),
            intro: table_soup(),
        },
        &[],
    )
    .expect("a valid issue");
    let issues = Issues::new(store.clone());
    let saved = issues.create(&content).await.expect("create");
    let old = issues.create(&content).await.expect("create");
    sqlx::query("UPDATE issues SET intro_html = NULL, intro_text = NULL WHERE id = $1")
        .bind(old)
        .execute(store.pool())
        .await
        .expect("forget the rendering");
    sqlx::query("UPDATE issues SET status = 'sent', sent_at = $1")
        .bind(now_millis())
        .execute(store.pool())
        .await
        .expect("mark sent");
    store.close().await;
    (saved, old)
}

async fn serve(db: &TestDatabase, rust_log: Option<&str>) -> HeraldChild {
    let mut env = HashMap::from([
        ("DATABASE_URL", db.url.clone()),
        (
            "HERALD_SECRET",
            "renderings-secret-that-is-long-enough-0123456789".to_owned(),
        ),
        (
            "HERALD_OUTBOX_DIR",
            db.dir.path().join("outbox").display().to_string(),
        ),
    ]);
    if let Some(filter) = rust_log {
        env.insert("RUST_LOG", filter.to_owned());
    }
    HeraldChild::serve(db.dir.path(), &env).await
}

async fn page(url: &str) -> String {
    let response = reqwest::get(url).await.expect("GET");
    assert_eq!(response.status(), 200, "{url}");
    response.text().await.expect("page")
}

fn parser_lines(log: &str) -> usize {
    log.lines().filter(|l| l.contains("html5ever")).count()
}

/// The log is read by threads; give them a moment after the last request.
async fn settled_log(herald: &HeraldChild) -> String {
    tokio::time::sleep(Duration::from_millis(500)).await;
    herald.log()
}

async fn archive_views_serve_the_stored_rendering(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let (saved, old) = two_sent_issues(&db).await;
    // Every dependency's warnings shown, as in the audit.
    let herald = serve(&db, Some("info")).await;
    let expected = render_markdown(&table_soup()).html;

    // The old issue is rendered once, on its first view, and stored.
    let first_view = page(&herald.url(&format!("/issues/{old}"))).await;
    assert!(first_view.contains(&expected), "the same HTML as ever");
    let rendered_once = settled_log(&herald).await;
    assert!(
        parser_lines(&rendered_once) > 0,
        "rendering it shows html5ever's warnings under RUST_LOG=info"
    );
    let mark = rendered_once.len();

    for _ in 0..3 {
        let saved_page = page(&herald.url(&format!("/issues/{saved}"))).await;
        assert!(saved_page.contains(&expected), "the same HTML as ever");
        let old_page = page(&herald.url(&format!("/issues/{old}"))).await;
        assert_eq!(
            old_page, first_view,
            "stored or rendered, the page is the same"
        );
        page(&herald.url("/feed.atom")).await;
    }
    let log = settled_log(&herald).await;
    let views = &log[mark..];
    assert!(
        views.contains("status=200"),
        "the views were logged:\n{views}"
    );
    assert_eq!(
        parser_lines(views),
        0,
        "anonymous views wrote parser warnings:\n{}",
        views.lines().take(5).collect::<Vec<_>>().join("\n")
    );
}

async fn dependency_warnings_stay_out_of_the_default_log(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let (_, old) = two_sent_issues(&db).await;
    let herald = serve(&db, None).await;
    // The first view renders the old issue: html5ever warns 2,400 times.
    page(&herald.url(&format!("/issues/{old}"))).await;
    let log = settled_log(&herald).await;
    assert!(
        log.contains("status=200"),
        "Herald's own lines are there:\n{log}"
    );
    assert_eq!(
        parser_lines(&log),
        0,
        "{}",
        log.lines().take(5).collect::<Vec<_>>().join("\n")
    );
}

on_both_databases!(
    archive_views_serve_the_stored_rendering,
    dependency_warnings_stay_out_of_the_default_log,
);
