//! JSON errors of the API: `{"error": "…"}` (and `"field"` when one input is
//! at fault) with the status that says what went wrong.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::unavailable_in;
use crate::web::error_chain;

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No token, or one that is unknown or revoked.
    #[error("a valid bearer token is required")]
    Unauthorized,
    #[error("this token's role may not do that")]
    Forbidden,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    /// Well-formed input that breaks a rule, naming the field.
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error("{0}")]
    Conflict(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// The database cannot be reached for now: 503, try again.
    #[error("the database is unavailable")]
    Unavailable,
}

impl ApiError {
    pub fn invalid(field: &str, message: impl ToString) -> Self {
        Self::Invalid {
            field: field.to_owned(),
            message: message.to_string(),
        }
    }

    pub fn internal(error: &(dyn std::error::Error + 'static)) -> Self {
        if unavailable_in(error) {
            return Self::Unavailable;
        }
        Self::Internal(error_chain(error))
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        Self::internal(&error)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if matches!(self, Self::Unavailable) {
            return crate::web::outage::unavailable_json();
        }
        let mut response = HttpResponse::build(self.status_code());
        let body = match self {
            Self::Internal(detail) => {
                tracing::error!(error = %detail, "API request failed");
                ErrorBody {
                    error: "internal error; the details are in the server log".into(),
                    field: None,
                }
            }
            Self::Invalid { field, message } => ErrorBody {
                error: message.clone(),
                field: Some(field.clone()),
            },
            other => ErrorBody {
                error: other.to_string(),
                field: None,
            },
        };
        if matches!(self, Self::Unauthorized) {
            // RFC 6750 §3: a 401 names the scheme the client should use.
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"herald\""));
        }
        response.json(body)
    }
}
