//! The HTTP side: routes, thin handlers, pages. Handlers parse input into domain
//! types, call one function of a capability and map the result to a response.

pub mod admin;
pub mod api;
mod archive;
mod confirm;
mod database_check;
mod error;
mod health;
mod origin;
pub(crate) mod outage;
mod pages;
mod preferences;
mod rate_limit;
mod request_log;
mod signup;
mod unsubscribe;
mod webhooks;

use actix_cors::Cors;
use actix_web::http::header;
use actix_web::middleware::DefaultHeaders;
use actix_web::web;

pub use database_check::DatabaseCheck;
pub use error::{error_chain, WebError};
pub use pages::{set_page_language, Site};
pub use rate_limit::SignupLimiter;
pub use request_log::log_request;

use std::sync::Arc;

use crate::accounts::Accounts;
use crate::audit::{Actor, AuditAction, AuditEntry, AuditLog};
use crate::config::Config;
use crate::delivery::Sends;
use crate::fields::Fields;
use crate::issues::{self, Issue, TestSendError, Tester};
use crate::mail::{MailIdentity, Mailer};
use crate::reports::Reports;
use crate::segments::Segments;
use crate::store::recently_counted::RecentlyCounted;
use crate::store::Store;
use crate::subscriptions::{SubscriberEmail, Subscriptions};
use crate::suppressions::Suppressions;
use crate::topics::Topics;
use crate::webhooks::Webhooks;

/// What handlers share.
pub struct AppState {
    pub site: Site,
    pub store: Store,
    pub config: Arc<Config>,
    pub mailer: Arc<Mailer>,
    pub identity: MailIdentity,
    pub accounts: Accounts,
    pub audit: AuditLog,
    pub subscriptions: Subscriptions,
    pub suppressions: Suppressions,
    pub topics: Topics,
    pub fields: Fields,
    pub segments: Segments,
    pub sends: Sends,
    pub reports: Reports,
    pub signup_limiter: SignupLimiter,
    pub webhooks: Arc<Webhooks>,
    /// `/health`'s database check, shared by every worker.
    pub database_check: Arc<DatabaseCheck>,
    /// The dashboard's figures while an issue goes out, counted every few seconds.
    pub dashboard_figures: Arc<RecentlyCounted<(), admin::dashboard::DashboardFigures>>,
}

impl AppState {
    /// Writes `entry` to the audit log with the client's address, the one the
    /// rate limits see.
    pub async fn record_audit(&self, req: &actix_web::HttpRequest, entry: AuditEntry) {
        let ip = origin::client_ip(req, &self.config.trusted_proxies).map(|ip| ip.to_string());
        self.audit.record(entry.ip(ip)).await;
    }

    /// Sends one test copy of `issue` to `to` for `tester` (under its hourly
    /// limit) and, once it went, writes it to the audit log as `actor`'s.
    pub async fn send_test_copy(
        &self,
        req: &actix_web::HttpRequest,
        actor: Actor,
        tester: Tester,
        issue: &Issue,
        to: &SubscriberEmail,
    ) -> Result<(), TestSendError> {
        issues::send_test(&self.store, tester, issue, to, &self.identity, &self.mailer).await?;
        self.record_audit(
            req,
            AuditEntry::new(actor, AuditAction::TestSent)
                .target(format!("issue {}", issue.id))
                .detail(format!("to {to}")),
        )
        .await;
        Ok(())
    }
}

/// Every route; `cors_origins` are the sites whose pages may post signups from the browser.
pub fn routes(cfg: &mut web::ServiceConfig, cors_origins: &[String]) {
    cfg.service(signup::signup_page)
        .service(
            web::resource("/subscriptions")
                .wrap(signup_cors(cors_origins))
                .route(web::post().to(signup::subscribe)),
        )
        .service(confirm::confirm_page)
        .service(confirm::confirm)
        .service(unsubscribe::unsubscribe_page)
        .service(unsubscribe::unsubscribe)
        .service(preferences::preferences_page)
        .service(preferences::save_preferences)
        .service(preferences::download_data)
        .service(preferences::request_erasure)
        .service(preferences::erasure_page)
        .service(preferences::erase)
        .service(health::health)
        .service(health::metrics)
        .service(health::stylesheet)
        .service(health::admin_stylesheet)
        .service(health::admin_script)
        .service(health::copy_script)
        .configure(archive::routes)
        .configure(webhooks::routes)
        .configure(admin::routes)
        .default_service(web::to(not_found));
}

/// Any URL no route takes: JSON under `/api/`, where clients read JSON;
/// elsewhere the site's own page with a way home.
async fn not_found(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
) -> actix_web::HttpResponse {
    if req.path().starts_with("/api/") {
        return actix_web::HttpResponse::NotFound()
            .json(serde_json::json!({ "error": "there is no such API endpoint" }));
    }
    pages::not_found_page(&state.site)
}

/// CORS for `POST /subscriptions` only. Other origins get no CORS headers but
/// are not blocked: a plain HTML form on another site needs none.
fn signup_cors(origins: &[String]) -> Cors {
    let cors = Cors::default()
        .allowed_methods(["POST"])
        .allowed_header(header::CONTENT_TYPE)
        .max_age(3600);
    if origins.iter().any(|o| o == "*") {
        return cors.allow_any_origin();
    }
    origins
        .iter()
        .fold(cors, |cors, origin| cors.allowed_origin(origin))
}

/// How long browsers keep to HTTPS after seeing Herald over it: a year, the
/// usual value. Without `includeSubDomains`: Herald may run on a subdomain
/// (or a path) of a site whose other hosts it cannot speak for.
pub const HSTS: &str = "max-age=31536000";

/// Headers on every answer. `https` is whether the public URL is https:
/// only then is HSTS sent (over plain http it would be ignored, and it would
/// lock out an installation that has no certificate).
pub fn security_headers(https: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "no-referrer"))
        .add((
            "Content-Security-Policy",
            "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ));
    if https {
        headers.add((header::STRICT_TRANSPORT_SECURITY, HSTS))
    } else {
        headers
    }
}
