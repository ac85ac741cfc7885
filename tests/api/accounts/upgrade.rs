//! Migration 0009 on a database written by the release before it: every row,
//! link, index, trigger and foreign key stays, and ids stop being reused.

use std::path::Path;

use herald::store::Store;
use sqlx::migrate::Migrator;
use sqlx::Row;

use crate::on_both_databases;
use crate::support::{Backend, TestDatabase};

const TABLES: &[&str] = &[
    "users",
    "api_tokens",
    "subscribers",
    "subscriber_events",
    "confirmation_tokens",
    "outbox",
    "issues",
    "issue_items",
    "deliveries",
];

/// The database as the previous release left it: migrations 0001 to 0008.
async fn previous_release(db: &TestDatabase, backend: Backend) -> Store {
    let engine = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let old = db.dir.path().join("migrations-0008");
    std::fs::create_dir_all(&old).expect("a folder for the old migrations");
    let all = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(engine);
    for entry in std::fs::read_dir(&all).expect("the migrations") {
        let path = entry.expect("a migration").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.get(..4).is_some_and(|number| number <= "0008") {
            std::fs::copy(&path, old.join(name)).expect("copy a migration");
        }
    }
    let store = Store::connect(&db.url, 1).await.expect("open the database");
    Migrator::new(old.as_path())
        .await
        .expect("the old migrations")
        .run(store.pool())
        .await
        .expect("migrate to 0008");
    store
}

async fn run(conn: &mut sqlx::AnyConnection, sql: &str) {
    sqlx::query(sql)
        .execute(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn count(conn: &mut sqlx::AnyConnection, table: &str) -> i64 {
    sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
        .fetch_one(conn)
        .await
        .expect("count")
        .get("n")
}

async fn upgrading_keeps_every_row_and_stops_reusing_ids(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let store = previous_release(&db, backend).await;
    let mut conn = db.connect().await;
    for sql in [
        "INSERT INTO users (email, role, password_hash, created_at, updated_at) VALUES \
         ('a@example.com', 'admin', 'h', 1, 1), ('b@example.com', 'editor', 'h', 1, 1), \
         ('gone@example.com', 'editor', 'h', 1, 1)",
        "DELETE FROM users WHERE email = 'gone@example.com'",
        "INSERT INTO api_tokens (name, role, token_hash, created_at) VALUES ('old', 'admin', 'hash', 1)",
        "INSERT INTO subscribers (email, name, status, created_at, updated_at) VALUES \
         ('s1@example.com', 'Ann Smith', 'confirmed', 1, 1), ('s2@example.com', 'Bob Jones', 'pending', 1, 1)",
        "INSERT INTO subscriber_events (subscriber_id, kind, at, note) \
         SELECT id, 'signup', 1, 'vouched' FROM subscribers",
        "INSERT INTO confirmation_tokens (token_hash, subscriber_id, created_at, expires_at) \
         SELECT 'token', id, 1, 2 FROM subscribers WHERE email = 's2@example.com'",
        "INSERT INTO outbox (kind, subscriber_id, created_at, expires_at, next_attempt_at) \
         SELECT 'confirmation', id, 1, 2, 1 FROM subscribers WHERE email = 's2@example.com'",
        "INSERT INTO issues (subject, intro, status, created_at, updated_at) VALUES ('Weekly', 'Hi', 'sending', 1, 1)",
        "INSERT INTO issue_items (issue_id, position, title, url) SELECT id, 0, 'One', 'https://example.com' FROM issues",
        "INSERT INTO deliveries (issue_id, subscriber_id, status, queued_at, next_attempt_at) \
         SELECT issues.id, subscribers.id, 'queued', 1, 1 FROM issues, subscribers",
    ] {
        run(&mut conn, sql).await;
    }
    let mut before = Vec::new();
    for table in TABLES {
        before.push(count(&mut conn, table).await);
    }
    drop(conn);
    store.migrate().await.expect("migrate to this release");
    store.close().await;

    let mut conn = db.connect().await;
    for (table, rows) in TABLES.iter().zip(before) {
        assert_eq!(count(&mut conn, table).await, rows, "rows of {table}");
    }
    let owner: Option<String> = sqlx::query("SELECT owner_email FROM api_tokens")
        .fetch_one(&mut conn)
        .await
        .expect("the old token")
        .get("owner_email");
    assert_eq!(owner, None, "an old token's owner is unknown");
    if backend == Backend::Sqlite {
        let broken = sqlx::query("PRAGMA foreign_key_check")
            .fetch_all(&mut conn)
            .await
            .expect("check the foreign keys");
        assert!(
            broken.is_empty(),
            "{} rows break a foreign key",
            broken.len()
        );
        let found: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM subscriber_names WHERE subscriber_names MATCH 'smi*'",
        )
        .fetch_one(&mut conn)
        .await
        .expect("search names")
        .get("n");
        assert_eq!(found, 1, "the name search still finds Ann Smith");
    }
    // The foreign keys still cascade: erasing a subscriber takes their rows.
    run(
        &mut conn,
        "DELETE FROM subscribers WHERE email = 's2@example.com'",
    )
    .await;
    assert_eq!(count(&mut conn, "confirmation_tokens").await, 0);
    assert_eq!(count(&mut conn, "outbox").await, 0);
    assert_eq!(count(&mut conn, "deliveries").await, 1);
    assert_eq!(count(&mut conn, "subscriber_events").await, 1);
    // Ids deleted after the upgrade are never handed out again.
    let insert = "INSERT INTO subscribers (email, status, created_at, updated_at) \
                  VALUES ($1, 'pending', 1, 1) RETURNING id";
    let erased: i64 = sqlx::query(insert)
        .bind("s3@example.com")
        .fetch_one(&mut conn)
        .await
        .expect("insert")
        .get("id");
    run(
        &mut conn,
        "DELETE FROM subscribers WHERE email = 's3@example.com'",
    )
    .await;
    let next: i64 = sqlx::query(insert)
        .bind("s4@example.com")
        .fetch_one(&mut conn)
        .await
        .expect("insert")
        .get("id");
    assert!(next > erased, "id {erased} came back");
}

on_both_databases!(upgrading_keeps_every_row_and_stops_reusing_ids);
