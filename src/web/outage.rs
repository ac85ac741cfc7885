//! While the database is unreachable (a PostgreSQL restart, a network cut),
//! a request that failed says so: 503 with `Retry-After`, which clients and
//! proxies know to retry, instead of a 500 that reads like a bug. The error
//! types that carry the database's error (`WebError`, `ApiError`,
//! `AuthError`) answer with these when `store::unavailable_in` says so.

use actix_web::http::header;
use actix_web::HttpResponse;

/// What a 503 tells clients to wait before trying again.
pub(super) const RETRY_AFTER_SECONDS: &str = "5";

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
