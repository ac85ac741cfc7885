//! `/health`: 200 while the database answers, 503 when it does not.

use std::time::Duration;

use crate::on_both_databases;
use crate::support::proxy::TcpRelay;
use crate::support::{Backend, TestApp};

async fn health_is_ok_while_the_database_answers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.get("/health").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body["status"], "ok");
}

async fn health_is_503_when_the_database_is_gone(backend: Backend) {
    match backend {
        Backend::Sqlite => {
            let app = TestApp::spawn(backend).await;
            assert_eq!(app.get("/health").await.status(), 200);
            let file = app.db.dir.path().join("herald.db");
            std::fs::remove_file(&file).expect("delete the database file");
            let response = app.get("/health").await;
            assert_eq!(response.status(), 503);
            let body: serde_json::Value = response.json().await.expect("JSON");
            assert_eq!(body["status"], "unavailable");
            // A new, empty file in its place is not the database either.
            std::fs::write(&file, b"").expect("replace the database file");
            assert_eq!(app.get("/health").await.status(), 503);
        }
        Backend::Postgres => {
            let server = std::env::var(crate::support::database::POSTGRES_URL_VARIABLE)
                .expect("PostgreSQL URL");
            let parsed = url::Url::parse(&server).expect("PostgreSQL URL");
            let target = format!(
                "{}:{}",
                parsed.host_str().unwrap_or("127.0.0.1"),
                parsed.port().unwrap_or(5432)
            );
            let relay = TcpRelay::start(target).await;
            let port = relay.port;
            let app = TestApp::spawn_with(backend, move |config| {
                let mut url = url::Url::parse(&config.database_url).expect("database URL");
                url.set_host(Some("127.0.0.1")).expect("host");
                url.set_port(Some(port)).expect("port");
                config.database_url = url.to_string();
            })
            .await;
            assert_eq!(app.get("/health").await.status(), 200);
            relay.cut();
            // The database is checked at most once a second, and a check
            // still running after a second counts as a failure.
            let cut_at = std::time::Instant::now();
            let mut status = 200;
            while cut_at.elapsed() < Duration::from_secs(3) {
                status = app.get("/health").await.status().as_u16();
                if status == 503 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert_eq!(status, 503, "/health after PostgreSQL went away");
            assert!(
                cut_at.elapsed() < Duration::from_millis(2500),
                "the outage took {:?} to show",
                cut_at.elapsed()
            );
            // The service comes back by itself with the database.
            relay.restore().await;
            let mut healthy = false;
            for _ in 0..50 {
                if app.get("/health").await.status() == 200 {
                    healthy = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert!(
                healthy,
                "health recovers when PostgreSQL is reachable again"
            );
        }
    }
}

/// The relay's state is reported, and does not make /health fail: Herald
/// still takes signups and queues the mail while the relay is down.
async fn health_reports_the_relay_and_stays_200_while_it_is_down(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let relay = |body: serde_json::Value| body["relay"].as_str().map(str::to_owned);
    let response = app.get("/health").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        relay(response.json().await.expect("JSON")).as_deref(),
        Some("reachable")
    );

    app.smtp.stop().await;
    assert_eq!(app.sign_up("waiting@example.com", "").await.status(), 200);
    let mut seen = None;
    for _ in 0..100 {
        let response = app.get("/health").await;
        assert_eq!(response.status(), 200, "/health with the relay down");
        seen = relay(response.json().await.expect("JSON"));
        if seen.as_deref() == Some("unreachable") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen.as_deref(), Some("unreachable"));

    app.smtp.restart().await;
    app.next_mail_to("waiting@example.com", 0).await;
    let response = app.get("/health").await;
    assert_eq!(
        relay(response.json().await.expect("JSON")).as_deref(),
        Some("reachable")
    );
}

async fn security_headers_and_a_request_id_come_with_every_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in [
        "/",
        "/health",
        "/subscriptions/confirm?token=x",
        "/no-such-page",
    ] {
        let response = app.get(path).await;
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert!(headers.contains_key("content-security-policy"), "{path}");
        assert_eq!(headers["x-request-id"].len(), 16, "{path}");
    }
    assert_eq!(app.get("/no-such-page").await.status(), 404);
}

on_both_databases!(
    health_is_ok_while_the_database_answers,
    health_is_503_when_the_database_is_gone,
    health_reports_the_relay_and_stays_200_while_it_is_down,
    security_headers_and_a_request_id_come_with_every_page,
);
