//! While the database is unreachable (a PostgreSQL restart, a network cut),
//! a request that failed says so: 503 with `Retry-After`, which clients and
//! proxies know to retry, instead of a 500 that reads like a bug.

use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};

use crate::web::AppState;

/// How long the database gets to answer before a failed request is blamed on it.
const PING_WITHIN: Duration = Duration::from_secs(1);
/// What a 503 tells clients to wait before trying again.
pub(super) const RETRY_AFTER_SECONDS: &str = "5";

/// The error types that carry the database's error answer 503 themselves
/// (`store::unavailable_in`); a 500 from anywhere else is checked here
/// against the database, once, only when it happens.
pub async fn unavailable_while_database_is_down(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let is_api = req.path().starts_with("/api/");
    let response = next.call(req).await?.map_into_boxed_body();
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return Ok(response);
    }
    let Some(state) = state else {
        return Ok(response);
    };
    if state.store.ping(PING_WITHIN).await.is_ok() {
        return Ok(response);
    }
    let (request, _) = response.into_parts();
    let unavailable = if is_api {
        unavailable_json()
    } else {
        unavailable_page()
    };
    Ok(ServiceResponse::new(request, unavailable))
}

/// The 503 of a page while the database is away.
pub fn unavailable_page() -> HttpResponse {
    tracing::warn!("the database is unreachable; answering 503");
    HttpResponse::ServiceUnavailable()
        .insert_header((header::RETRY_AFTER, RETRY_AFTER_SECONDS))
        .content_type("text/plain; charset=utf-8")
        .body("Herald cannot reach its database for a moment. Please try again shortly.\n")
}

/// The 503 of the API while the database is away.
pub fn unavailable_json() -> HttpResponse {
    tracing::warn!("the database is unreachable; answering 503");
    HttpResponse::ServiceUnavailable()
        .insert_header((header::RETRY_AFTER, RETRY_AFTER_SECONDS))
        .json(serde_json::json!({
            "error": "the database is unavailable for a moment; try again shortly"
        }))
}
