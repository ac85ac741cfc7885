//! `GET /` (the signup form) and `POST /subscriptions` (form or JSON).

use actix_web::http::{header, StatusCode};
use actix_web::{get, web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;

use super::error::WebError;
use super::origin::{client_ip, request_origin, wants_json};
use super::pages::{html, MessagePage, SignupPage};
use super::AppState;
use crate::subscriptions::{SubscriberEmail, SubscriberName, SubscriptionError};
use crate::telemetry;

#[get("/")]
#[tracing::instrument(name = "signup_page", skip_all)]
pub async fn signup_page(state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    html(
        StatusCode::OK,
        &SignupPage {
            site: &state.site,
            email: "",
            name: "",
            email_error: None,
            name_error: None,
        },
    )
}

/// The fields a signup may carry; all optional here so that a missing one is
/// reported like any other invalid field.
#[derive(Debug, Default, Deserialize)]
struct SignupRequest {
    email: Option<String>,
    name: Option<String>,
    /// The honeypot: hidden from people, filled in by naive bots.
    website: Option<String>,
}

/// A problem with one field, named so the form can show it next to the field.
struct FieldError {
    field: &'static str,
    message: String,
}

/// `POST /subscriptions`, routed in `web::routes` with its CORS policy.
#[tracing::instrument(name = "subscribe", skip_all)]
pub async fn subscribe(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let json = wants_json(&req);
    if let Some(ip) = client_ip(&req, &state.config.trusted_proxies) {
        if let Err(wait) = state.signup_limiter.check(ip) {
            let seconds = wait.as_secs() + 1;
            tracing::info!(retry_after = seconds, "signup rate limit reached");
            metrics::counter!(telemetry::SIGNUPS_DROPPED, "reason" => "rate_limited").increment(1);
            return refuse(
                &state,
                json,
                StatusCode::TOO_MANY_REQUESTS,
                &format!("Too many signups from your address. Try again in {seconds} seconds."),
            )
            .map(|mut response| {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
                response
            });
        }
    }

    let body = match read_limited(payload, state.config.max_body_bytes).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            let message = format!(
                "The request is larger than the {} bytes a signup may have.",
                state.config.max_body_bytes
            );
            return refuse(&state, json, StatusCode::PAYLOAD_TOO_LARGE, &message);
        }
        Err(BodyError::Broken(why)) => {
            return refuse(&state, json, StatusCode::BAD_REQUEST, &why);
        }
    };
    let request: SignupRequest = match parse_body(&req, &body) {
        Ok(request) => request,
        Err((status, message)) => return refuse(&state, json, status, &message),
    };

    if request
        .website
        .as_deref()
        .is_some_and(|v| !v.trim().is_empty())
    {
        tracing::info!("honeypot field filled in; signup dropped");
        metrics::counter!(telemetry::SIGNUPS_DROPPED, "reason" => "honeypot").increment(1);
        return accepted(&state, json);
    }

    let email_raw = request.email.as_deref().unwrap_or("");
    let name_raw = request.name.as_deref().unwrap_or("");
    let email = SubscriberEmail::parse(email_raw).map_err(|e| FieldError {
        field: "email",
        message: e.to_string(),
    });
    let name = SubscriberName::parse(name_raw).map_err(|e| FieldError {
        field: "name",
        message: e.to_string(),
    });
    let (email, name) = match (email, name) {
        (Ok(email), Ok(name)) => (email, name),
        (email, name) => {
            let email_error = email.err();
            let name_error = name.err();
            if json {
                let first = email_error.or(name_error).expect("one of them failed");
                return Ok(HttpResponse::BadRequest()
                    .json(json!({ "error": first.message, "field": first.field })));
            }
            return html(
                StatusCode::BAD_REQUEST,
                &SignupPage {
                    site: &state.site,
                    email: email_raw,
                    name: name_raw,
                    email_error: email_error.map(|e| e.message),
                    name_error: name_error.map(|e| e.message),
                },
            );
        }
    };

    // The same work whatever the address's state (issue 10, item 12): one
    // row queued; the state-dependent rest happens after the answer.
    let origin = request_origin(&req, &state.config.trusted_proxies);
    state
        .subscriptions
        .request_signup(&email, name.as_ref(), &origin)
        .await
        .map_err(SubscriptionError::from)?;
    accepted(&state, json)
}

/// The same answer whatever the address's state: nobody learns who is subscribed.
fn accepted(state: &AppState, json: bool) -> Result<HttpResponse, WebError> {
    if json {
        return Ok(HttpResponse::Ok().json(json!({ "status": "pending" })));
    }
    html(
        StatusCode::OK,
        &MessagePage::new(
            &state.site,
            "Check your inbox",
            &[
                "We have sent you an email with a link to confirm your subscription.",
                "If it does not arrive within a few minutes, look in your spam folder.",
            ],
        ),
    )
}

fn refuse(
    state: &AppState,
    json: bool,
    status: StatusCode,
    message: &str,
) -> Result<HttpResponse, WebError> {
    if json {
        return Ok(HttpResponse::build(status).json(json!({ "error": message })));
    }
    html(
        status,
        &MessagePage::new(&state.site, "We could not take your signup", &[message]),
    )
}

fn parse_body(req: &HttpRequest, body: &[u8]) -> Result<SignupRequest, (StatusCode, String)> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/x-www-form-urlencoded");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => serde_json::from_slice(body).map_err(|e| {
            (
                StatusCode::BAD_REQUEST,
                format!("The body is not the JSON object {{\"email\", \"name\"}} we expect: {e}"),
            )
        }),
        "application/x-www-form-urlencoded" | "" => serde_urlencoded::from_bytes(body)
            .map_err(|e| (StatusCode::BAD_REQUEST, format!("The form data cannot be read: {e}"))),
        other => Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Send the signup as application/x-www-form-urlencoded or application/json, not {other}."
            ),
        )),
    }
}

enum BodyError {
    TooLarge,
    Broken(String),
}

/// Reads the body, stopping as soon as it passes `limit` bytes.
async fn read_limited(mut payload: web::Payload, limit: usize) -> Result<Vec<u8>, BodyError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| BodyError::Broken(format!("The request body broke off: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
