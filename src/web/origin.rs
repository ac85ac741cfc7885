//! Who is asking: the client address (for rate limits and consent evidence)
//! and whether they speak JSON or HTML.

use std::net::IpAddr;

use actix_web::http::header;
use actix_web::HttpRequest;

use crate::config::TrustedProxies;
use crate::subscriptions::RequestOrigin;

const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// The client's address: the TCP peer, or, when the peer is a proxy named in
/// `HERALD_TRUSTED_PROXIES`, the address those proxies appended to
/// `X-Forwarded-For` (read from the right; what the client wrote there itself
/// is never taken). Every client address of Herald comes from here.
pub fn client_ip(req: &HttpRequest, proxies: &TrustedProxies) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    if !proxies.trusts(peer) {
        return Some(peer.to_canonical());
    }
    // Several header lines form one list, in order (RFC 9110, section 5.3).
    let entries: Vec<&str> = req
        .headers()
        .get_all(X_FORWARDED_FOR)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect();
    Some(proxies.client_address(peer, entries.into_iter()))
}

pub fn request_origin(req: &HttpRequest, proxies: &TrustedProxies) -> RequestOrigin {
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    RequestOrigin::new(client_ip(req, proxies).map(|ip| ip.to_string()), user_agent)
}

/// Whether to answer in JSON: the client sent JSON, or asked for it.
pub fn wants_json(req: &HttpRequest) -> bool {
    let sent_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    let accepts = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    sent_json || (accepts.contains("application/json") && !accepts.contains("text/html"))
}
