//! How Herald talks to PostgreSQL on the same machine: without TLS unless the
//! URL asks for it (over loopback the encryption protects nothing), and with
//! TLS when it does.

use herald::store::Store;
use sqlx::Row;

use crate::support::database::{postgres_is_configured, TestDatabase};
use crate::support::Backend;

async fn encrypted(url: &str) -> bool {
    let store = Store::connect(url, 1).await.expect("connect");
    let row = sqlx::query("SELECT CASE WHEN ssl THEN 1 ELSE 0 END AS ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(store.pool())
        .await
        .expect("read pg_stat_ssl");
    row.get::<i32, _>("ssl") == 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_postgres_url_without_sslmode_is_plain_and_sslmode_require_is_kept() {
    if !postgres_is_configured() {
        return;
    }
    let db = TestDatabase::create(Backend::Postgres).await;
    assert!(
        !encrypted(&db.url).await,
        "a loopback URL naming no sslmode should connect without TLS"
    );
    let mut conn = db.connect().await;
    let server_offers_tls = sqlx::query("SHOW ssl")
        .fetch_one(&mut conn)
        .await
        .expect("SHOW ssl")
        .get::<String, _>(0)
        == "on";
    if server_offers_tls {
        assert!(
            encrypted(&format!("{}&sslmode=require", db.url)).await,
            "sslmode=require must still mean TLS"
        );
    }
}
