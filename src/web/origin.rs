//! Who is asking: the client address (for rate limits and consent evidence)
//! and whether they speak JSON or HTML.

use std::net::IpAddr;

use actix_web::http::header;
use actix_web::HttpRequest;

use crate::subscriptions::RequestOrigin;

/// The client's address: the TCP peer, or the address reported by a reverse
/// proxy when `HERALD_TRUST_PROXY_HEADERS` says one sits in front of us
/// (otherwise anyone could forge `X-Forwarded-For` to dodge the rate limit).
pub fn client_ip(req: &HttpRequest, trust_proxy_headers: bool) -> Option<IpAddr> {
    if trust_proxy_headers {
        let info = req.connection_info();
        if let Some(ip) = info.realip_remote_addr().and_then(parse_ip) {
            return Some(ip);
        }
    }
    req.peer_addr().map(|addr| addr.ip())
}

fn parse_ip(raw: &str) -> Option<IpAddr> {
    raw.parse::<IpAddr>()
        .ok()
        .or_else(|| raw.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| raw.trim_matches(['[', ']']).parse().ok())
}

pub fn request_origin(req: &HttpRequest, trust_proxy_headers: bool) -> RequestOrigin {
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    RequestOrigin::new(
        client_ip(req, trust_proxy_headers).map(|ip| ip.to_string()),
        user_agent,
    )
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
