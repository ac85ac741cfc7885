//! The JSON API under `/api/v1`, authenticated with bearer tokens. Routes are
//! registered through utoipa-actix-web, so the OpenAPI document at
//! `/api/v1/openapi.json` is built from the very routes the router serves.

pub mod auth;
pub mod error;
mod fields;
mod issues;
mod reports;
mod segments;
mod sends;
mod subscribers;
mod suppressions;
mod topics;

use actix_web::{get, web, HttpResponse};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::OpenApi as OpenApiDocument;
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::service_config::ServiceConfig;

pub use auth::ApiCaller;
pub use error::{ApiError, ErrorBody};

/// The parts of the document that do not come from routes.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Herald API",
        version = "1",
        description = "Subscribers and issues of a Herald newsletter. Authenticate with `Authorization: Bearer TOKEN`; tokens are made by admins (`herald token create --name NAME --owner EMAIL`)."
    ),
    modifiers(&BearerSecurity),
    security(("bearer" = [])),
    components(schemas(ErrorBody))
)]
pub struct ApiDoc;

struct BearerSecurity;

impl Modify for BearerSecurity {
    fn modify(&self, openapi: &mut OpenApiDocument) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Reads a JSON request body; a malformed one is a 400 naming what was expected.
pub fn json_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
    expected: &str,
) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not {expected}: {e}")))
}

/// Every route under `/api/v1`; each capability adds its own with `configure`.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(openapi_json)
        .configure(subscribers::routes)
        .configure(suppressions::routes)
        .configure(topics::routes)
        .configure(fields::routes)
        .configure(segments::routes)
        .configure(issues::routes);
}

/// This document.
#[utoipa::path(
    tag = "meta",
    security(()),
    responses((status = 200, description = "The OpenAPI 3 document of this API"))
)]
#[get("/openapi.json")]
async fn openapi_json(document: web::Data<OpenApiDocument>) -> HttpResponse {
    HttpResponse::Ok().json(document.get_ref())
}
