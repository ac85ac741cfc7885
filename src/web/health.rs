//! `GET /health`: 200 when the database answers and takes writes, 503
//! otherwise. The relay's state is reported beside it but does not change
//! the status: with the relay down Herald still takes signups and queues
//! the mail, so a load balancer or service manager must not act on it.

use actix_web::http::header;
use actix_web::{get, web, HttpResponse};
use serde_json::json;

use super::database_check::Verdict;
use super::error::error_chain;
use super::outage::RETRY_AFTER_SECONDS;
use super::AppState;

#[get("/health")]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let relay = relay_state(&state);
    match state.database_check.verdict(&state.store).await {
        Verdict::Ok => {
            HttpResponse::Ok().json(json!({ "status": "ok", "database": "ok", "relay": relay }))
        }
        Verdict::Unavailable => HttpResponse::ServiceUnavailable()
            .insert_header((header::RETRY_AFTER, RETRY_AFTER_SECONDS))
            .json(json!({ "status": "unavailable", "database": "unavailable", "relay": relay })),
    }
}

/// `reachable`, `unreachable`, or `files` when mail goes to the outbox folder.
fn relay_state(state: &AppState) -> &'static str {
    match state.mailer.relay_status() {
        None => "files",
        Some(status) if status.is_unreachable() => "unreachable",
        Some(_) => "reachable",
    }
}

/// `GET /metrics`: Prometheus text format.
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let Some(prometheus) = crate::telemetry::prometheus() else {
        return HttpResponse::ServiceUnavailable()
            .body("metrics are not available in this process\n");
    };
    match crate::delivery::outbox::queue_depth(state.store.pool()).await {
        // The gauge is a reading of the database, taken when scraped.
        Ok(depth) => ::metrics::gauge!(crate::telemetry::QUEUE_DEPTH).set(depth as f64),
        Err(error) => tracing::warn!(error = %error_chain(&error), "cannot read the outbox depth"),
    }
    match crate::delivery::deliveries::queue_depth(state.store.pool()).await {
        Ok(depth) => ::metrics::gauge!(crate::telemetry::DELIVERY_QUEUE_DEPTH).set(depth as f64),
        Err(error) => {
            tracing::warn!(error = %error_chain(&error), "cannot read the delivery queue depth");
        }
    }
    match state.reports.totals_by_class().await {
        Ok(totals) => crate::telemetry::set_report_totals(&totals),
        Err(error) => {
            tracing::warn!(error = %error_chain(&error), "cannot read the bounce and complaint totals");
        }
    }
    if let Some(status) = state.mailer.relay_status() {
        let up = if status.is_unreachable() { 0.0 } else { 1.0 };
        ::metrics::gauge!(crate::telemetry::RELAY_UP).set(up);
    }
    prometheus.run_upkeep();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(prometheus.render())
}

#[get("/assets/herald.css")]
pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(include_str!("../../assets/herald.css"))
}

#[get("/assets/admin.css")]
pub async fn admin_stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(include_str!("../../assets/admin.css"))
}

#[get("/assets/admin.js")]
pub async fn admin_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(include_str!("../../assets/admin.js"))
}

/// The copy button beside an API token shown once (the tokens page).
#[get("/assets/copy.js")]
pub async fn copy_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(include_str!("../../assets/copy.js"))
}
