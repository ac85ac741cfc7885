//! The admin side under `/admin`: sign-in, first-run setup, dashboard, accounts
//! and API tokens. Other capabilities add their pages with `routes`.

mod account;
mod audit;
pub mod auth;
pub(crate) mod checklist;
mod csrf;
pub(crate) mod dashboard;
mod fields;
mod issues;
mod segments;
mod shelf;
mod sign_in;
mod subscribers;
mod suppressions;
mod topics;
mod two_factor;
mod users;

use actix_session::config::{CookieContentSecurity, PersistentSession, TtlExtensionPolicy};
use actix_session::storage::CookieSessionStore;
use actix_session::SessionMiddleware;
use actix_web::cookie::{Key, SameSite};
use actix_web::http::header;
use actix_web::middleware::from_fn;
use actix_web::{web, HttpResponse};

use crate::config::SecretKey;

/// The largest urlencoded form of the admin pages (an intro holds 20,000
/// characters, far more than actix's 16 KB default once URL-encoded). Bigger
/// forms get 413 from the CSRF check, before any handler.
pub(crate) const MAX_FORM_BYTES: usize = 512 * 1024;

/// The session cookie: encrypted and signed with a key derived from the
/// secret, HttpOnly, SameSite=Lax, Secure when the public URL is https, sent
/// only to `/admin`.
pub fn session_middleware(key: &SecretKey, secure: bool) -> SessionMiddleware<CookieSessionStore> {
    let mut material = key.sign("herald session cookie key", b"1").to_vec();
    material.extend_from_slice(&key.sign("herald session cookie key", b"2"));
    SessionMiddleware::builder(CookieSessionStore::default(), Key::from(&material))
        .cookie_name("herald_session".into())
        .cookie_path("/admin".into())
        .cookie_http_only(true)
        .cookie_same_site(SameSite::Lax)
        .cookie_secure(secure)
        .cookie_content_security(CookieContentSecurity::Private)
        .session_lifecycle(
            PersistentSession::default()
                .session_ttl(actix_web::cookie::time::Duration::days(7))
                .session_ttl_extension_policy(TtlExtensionPolicy::OnEveryRequest),
        )
        .build()
}

/// Routes under `/admin`, behind the CSRF check.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin")
            .wrap(from_fn(csrf::verify_csrf))
            .configure(sign_in::routes)
            .service(dashboard::dashboard)
            .configure(account::routes)
            .configure(two_factor::routes)
            .configure(users::routes)
            .configure(audit::routes)
            .configure(subscribers::routes)
            .configure(suppressions::routes)
            .configure(topics::routes)
            .configure(fields::routes)
            .configure(segments::routes)
            .configure(issues::routes),
    );
}

pub(crate) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}
