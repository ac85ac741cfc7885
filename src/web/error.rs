//! The one error type of the HTTP layer: whatever a handler cannot turn into a
//! page of its own becomes a 500 whose detail goes to the log, never to the client.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::accounts::AccountError;
use crate::store::unavailable_in;
use crate::subscriptions::SubscriptionError;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("database error: {0}")]
    Store(#[from] sqlx::Error),
    #[error("cannot render a page: {0}")]
    Template(#[from] askama::Error),
    #[error("{0}")]
    Subscription(#[from] SubscriptionError),
    #[error("{0}")]
    Account(#[from] AccountError),
    #[error("cannot update the session: {0}")]
    Session(String),
    #[error("cannot write CSV: {0}")]
    Csv(#[from] csv::Error),
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        if unavailable_in(self) {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }

    fn error_response(&self) -> HttpResponse {
        if unavailable_in(self) {
            return super::outage::unavailable_page();
        }
        tracing::error!(error = %error_chain(self), "request failed");
        HttpResponse::InternalServerError()
            .content_type("text/plain; charset=utf-8")
            .body("Something went wrong on our side. Please try again in a moment.\n")
    }
}

/// `error: cause: cause`, so the log shows why, not just what.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
