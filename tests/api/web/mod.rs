//! The hardening of the web side (issue 10): the client address behind
//! proxies, security headers, oversized admin forms, limited test sends and
//! issues rendered once when saved. See docs/security/web.md.

mod addresses;
mod forms;
mod headers;
mod proxies;
mod renderings;
mod status_pages;
mod test_sends;
