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
use futures_util::StreamExt;

use super::auth::CSRF;
use super::MAX_FORM_BYTES;

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
        let Some(body) = read_form(&mut req).await? else {
            tracing::warn!("request refused: form over {MAX_FORM_BYTES} bytes");
            return Ok(req.into_response(too_large()).map_into_right_body());
        };
        presented = field(&body);
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

/// The whole form body, or `None` when it is bigger than any admin form may
/// be (then the rest is never read). Read here with our own limit: actix's
/// default for an extracted body is smaller than the composer's forms.
async fn read_form(req: &mut ServiceRequest) -> Result<Option<web::Bytes>, actix_web::Error> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > MAX_FORM_BYTES) {
        return Ok(None);
    }
    let mut payload = req.parts_mut().1.take();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > MAX_FORM_BYTES {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body.freeze()))
}

/// 413 as a page: the editor sees what went wrong and what to do.
fn too_large() -> HttpResponse {
    HttpResponse::PayloadTooLarge()
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!DOCTYPE html><title>Too large</title><h1>This form is too large</h1>\
             <p>Herald takes forms of up to {} KB. Go back, shorten the text and try again; \
             nothing was saved.</p>",
            MAX_FORM_BYTES / 1024
        ))
}

fn field(urlencoded: &[u8]) -> Option<String> {
    url::form_urlencoded::parse(urlencoded)
        .find(|(name, _)| name == "csrf_token")
        .map(|(_, value)| value.into_owned())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
