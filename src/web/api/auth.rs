//! Bearer-token authentication of the API (RFC 6750): `Authorization: Bearer TOKEN`.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};

use super::error::ApiError;
use crate::accounts::{ApiPrincipal, Role};
use crate::audit::Actor;
use crate::web::AppState;

/// A caller with a live token, of either role.
#[derive(Debug, Clone, Copy)]
pub struct ApiCaller(pub ApiPrincipal);

impl ApiCaller {
    pub fn is_admin(&self) -> bool {
        self.0.role == Role::Admin
    }

    /// Who the audit log names for what this caller does.
    pub fn actor(&self) -> Actor {
        Actor::Token {
            id: self.0.token_id,
        }
    }

    /// `API token #3`, as the audit log names it.
    pub fn actor_label(&self) -> String {
        format!("API token #{}", self.0.token_id)
    }

    /// Refuses with 403 unless the token is an admin token.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

impl FromRequest for ApiCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::to_owned);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let token = token.ok_or(ApiError::Unauthorized)?;
            let state =
                state.ok_or_else(|| ApiError::Internal("application state missing".into()))?;
            let principal = state
                .accounts
                .api_principal(&token)
                .await?
                .ok_or(ApiError::Unauthorized)?;
            Ok(ApiCaller(principal))
        })
    }
}
