//! `GET /health`: 200 when the database answers, 503 otherwise.

use std::time::Duration;

use actix_web::{get, web, HttpResponse};
use serde_json::json;

use super::error::error_chain;
use super::AppState;

const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

#[get("/health")]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    match state.store.ping(HEALTH_TIMEOUT).await {
        Ok(()) => HttpResponse::Ok().json(json!({ "status": "ok", "database": "ok" })),
        Err(error) => {
            tracing::error!(error = %error_chain(&error), "health check: database unavailable");
            HttpResponse::ServiceUnavailable()
                .json(json!({ "status": "unavailable", "database": "unavailable" }))
        }
    }
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
