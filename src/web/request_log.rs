//! One log line per request, with a request id that is also sent back in
//! `X-Request-Id`. Only the path is logged, never the query string: it carries
//! confirmation and unsubscribe tokens.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = format!("{:016x}", rand::random::<u64>());
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %req.method(),
        path = %req.path(),
    );
    let started = Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let _entered = span.enter();
    match result {
        Ok(mut response) => {
            tracing::info!(
                status = response.status().as_u16(),
                elapsed_ms = format_args!("{elapsed_ms:.1}"),
                "request"
            );
            if let Ok(value) = HeaderValue::from_str(&request_id) {
                response
                    .headers_mut()
                    .insert(HeaderName::from_static("x-request-id"), value);
            }
            Ok(response)
        }
        Err(error) => {
            tracing::warn!(
                error = %error,
                elapsed_ms = format_args!("{elapsed_ms:.1}"),
                "request failed"
            );
            Err(error)
        }
    }
}
