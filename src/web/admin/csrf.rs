//! CSRF protection for every state-changing request under `/admin`: the
//! session's token must come back in the `csrf_token` field of a urlencoded
//! form, the `csrf_token` query parameter (multipart uploads), or the
//! `X-CSRF-Token` header. Anything else gets 403 before a handler runs, so no
//! handler can forget the check.
//!
//! Written here rather than taken from a crate: the actix CSRF crates check a
//! double-submit cookie, which a form cannot carry together with our
//! encrypted session; the synchronizer token below is a few lines.

use actix_session::SessionExt;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};

use super::auth::CSRF;

/// Largest form this check reads; bigger forms are multipart uploads.
const MAX_FORM_BYTES: usize = 1024 * 1024;

pub async fn verify_csrf(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let expected = req.get_session().get::<String>(CSRF).ok().flatten();
    let mut presented = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| field(req.query_string().as_bytes()));
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if presented.is_none() && is_form {
        let body = req.extract::<web::Bytes>().await.unwrap_or_default();
        if body.len() <= MAX_FORM_BYTES {
            presented = field(&body);
        }
        req.set_payload(Payload::from(body));
    }
    let genuine = matches!((&expected, &presented), (Some(e), Some(p)) if constant_time_eq(e.as_bytes(), p.as_bytes()));
    if !genuine {
        tracing::warn!("request refused: CSRF token missing or wrong");
        let response = HttpResponse::Forbidden()
            .content_type("text/html; charset=utf-8")
            .body(
                "<!DOCTYPE html><title>Forbidden</title><h1>This form has expired</h1>\
                 <p>Go back, reload the page and try again.</p>",
            );
        return Ok(req.into_response(response).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

fn field(urlencoded: &[u8]) -> Option<String> {
    url::form_urlencoded::parse(urlencoded)
        .find(|(name, _)| name == "csrf_token")
        .map(|(_, value)| value.into_owned())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
