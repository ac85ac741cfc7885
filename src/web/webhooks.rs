//! `POST /webhooks/{provider}`: the thin HTTP side of the provider webhooks
//! (src/webhooks). Answers: 200 with what became of each event; 404 for a
//! provider without a secret set; 401 or 403 when authentication fails;
//! 400 naming what is wrong with the body; 413 past the size limit.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::error::error_chain;
use super::AppState;
use crate::store::unavailable_in;
use crate::webhooks::{Delivery, WebhookError, MAX_BODY_SIZE};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/webhooks/{provider}")
            .app_data(web::PayloadConfig::new(MAX_BODY_SIZE))
            .route(web::post().to(receive)),
    );
}

#[tracing::instrument(skip_all, fields(provider = %provider))]
async fn receive(
    req: HttpRequest,
    provider: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
    };
    let delivery = Delivery {
        authorization: header("Authorization"),
        signature: header("X-Twilio-Email-Event-Webhook-Signature"),
        timestamp: header("X-Twilio-Email-Event-Webhook-Timestamp"),
        body: &body,
    };
    match state.webhooks.receive(&provider, delivery).await {
        Ok(outcomes) => HttpResponse::Ok().json(json!({
            "outcomes": outcomes.iter().map(ToString::to_string).collect::<Vec<_>>()
        })),
        Err(error) => error_response(&error),
    }
}

fn error_response(error: &WebhookError) -> HttpResponse {
    let status = match error {
        WebhookError::NotConfigured => StatusCode::NOT_FOUND,
        WebhookError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        WebhookError::Refused(_) => StatusCode::FORBIDDEN,
        WebhookError::BadRequest(_) => StatusCode::BAD_REQUEST,
        WebhookError::Fetch { .. } => StatusCode::BAD_GATEWAY,
        WebhookError::Store(_) if unavailable_in(error) => StatusCode::SERVICE_UNAVAILABLE,
        WebhookError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if status.is_server_error() {
        tracing::error!(error = %error_chain(error), "webhook call failed");
    } else {
        tracing::warn!(error = %error, "webhook call refused");
    }
    let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
        "something went wrong on our side; try again".to_owned()
    } else {
        error.to_string()
    };
    let mut response = HttpResponse::build(status);
    if status == StatusCode::UNAUTHORIZED {
        // RFC 7235: a 401 names how to authenticate; Postmark's is Basic.
        response.insert_header(("WWW-Authenticate", "Basic realm=\"herald-webhooks\""));
    }
    response.json(json!({ "error": message }))
}
