//! What the upgrade to normalised addresses (issue 10, item 11) does to the
//! rows an older release stored: nothing lost, every doubt reported.

use sqlx::Row;

use crate::on_both_databases;
use crate::support::{Backend, TestApp, TestDatabase};

async fn insert(db: &TestDatabase, id: i64, email: &str) {
    // PostgreSQL generates ids itself unless told otherwise.
    let overriding = match db.backend {
        Backend::Sqlite => "",
        Backend::Postgres => "OVERRIDING SYSTEM VALUE",
    };
    let mut conn = db.connect().await;
    sqlx::query(&format!(
        "INSERT INTO subscribers (id, email, name, status, created_at, updated_at) \
         {overriding} VALUES ($1, $2, NULL, 'confirmed', 1, 1)",
    ))
    .bind(id)
    .bind(email)
    .execute(&mut conn)
    .await
    .expect("insert an old row");
}

async fn a_pre_existing_pair_of_look_alikes_is_kept_and_reported(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    db.migrate_to(8).await;
    insert(&db, 1, "v@example.com").await;
    insert(&db, 2, "v@ｅｘａｍｐｌｅ.com").await;
    insert(&db, 3, "w@bücher.example").await;
    insert(&db, 4, "x\u{200B}@example.com").await;
    let app = TestApp::spawn_on(db).await;

    let mut conn = app.db.connect().await;
    let emails: Vec<(i64, String)> = sqlx::query("SELECT id, email FROM subscribers ORDER BY id")
        .fetch_all(&mut conn)
        .await
        .expect("subscribers")
        .iter()
        .map(|row| (row.get("id"), row.get("email")))
        .collect();
    assert_eq!(
        emails,
        [
            (1, "v@example.com".to_owned()),
            // Kept apart as it was: merging two people's histories is the admin's call.
            (2, "v@ｅｘａｍｐｌｅ.com".to_owned()),
            (3, "w@xn--bcher-kva.example".to_owned()),
            (4, "x\u{200B}@example.com".to_owned()),
        ]
    );
    let reports: Vec<(i64, Option<i64>, String)> = sqlx::query(
        "SELECT subscriber_id, other_subscriber_id, email \
         FROM subscriber_address_reports ORDER BY subscriber_id",
    )
    .fetch_all(&mut conn)
    .await
    .expect("the report an admin reads")
    .iter()
    .map(|row| {
        (
            row.get("subscriber_id"),
            row.get("other_subscriber_id"),
            row.get("email"),
        )
    })
    .collect();
    assert_eq!(
        reports,
        [
            (2, Some(1), "v@ｅｘａｍｐｌｅ.com".to_owned()),
            (4, None, "x\u{200B}@example.com".to_owned()),
        ]
    );

    // Running the migrations again (every start does) reports nothing twice.
    let app = app.restart().await;
    assert_eq!(app.db.count("subscriber_address_reports").await, 2);
}

on_both_databases!(a_pre_existing_pair_of_look_alikes_is_kept_and_reported);
