//! The admin side under `/admin`: sign-in, first-run setup, dashboard, accounts
//! and API tokens. Other capabilities add their pages with `routes`.

mod account;
mod audit;
pub mod auth;
pub(crate) mod checklist;
mod csrf;
mod issues;
mod shelf;
mod sign_in;
mod subscribers;
mod suppressions;
mod two_factor;
mod users;

use actix_session::config::{CookieContentSecurity, PersistentSession, TtlExtensionPolicy};
use actix_session::storage::CookieSessionStore;
use actix_session::SessionMiddleware;
use actix_web::cookie::{Key, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::from_fn;
use actix_web::{get, web, HttpResponse};
use askama::Template;

use self::auth::{AdminContext, SignedIn};
use self::checklist::{first_run, mail_to_files, Check, FirstRunFacts};
use super::error::WebError;
use super::pages::html;
use super::AppState;
use crate::config::SecretKey;
use crate::reports::PolicyBounces;
use crate::subscriptions::stats::{subscriber_stats, SubscriberStats};

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
            .service(dashboard)
            .configure(account::routes)
            .configure(two_factor::routes)
            .configure(users::routes)
            .configure(audit::routes)
            .configure(subscribers::routes)
            .configure(suppressions::routes)
            .configure(issues::routes),
    );
}

#[derive(Template)]
#[template(path = "admin/dashboard.html")]
struct DashboardPage {
    ctx: AdminContext,
    stats: SubscriberStats,
    latest_issues: Vec<issues::IssueRow>,
    /// Where mail goes while it is only written to files.
    mail_to_files: Option<String>,
    /// What is left to set up; empty once all is done, and then hidden.
    first_run: Vec<Check>,
    /// No subscriber yet: the checklist stands in for the rows of zeros.
    no_subscribers: bool,
    /// Admins only: receiving domains that refused mail on policy or
    /// reputation grounds lately, which no reader can fix.
    policy_bounces: Option<Vec<PolicyBounces>>,
}

/// Domains listed with their policy refusals on the dashboard.
const POLICY_DOMAINS_SHOWN: i64 = 10;

#[get("")]
#[tracing::instrument(name = "dashboard", skip_all)]
async fn dashboard(state: web::Data<AppState>, me: SignedIn) -> Result<HttpResponse, WebError> {
    let mut conn = state.store.pool().acquire().await?;
    let stats = subscriber_stats(&mut conn).await?;
    drop(conn);
    let latest_issues = issues::latest_issues(&state, 5).await?;
    let test_sent = crate::issues::Issues::new(state.store.clone())
        .any_test_sent()
        .await?;
    // Erased subscribers were subscribers once: the list is not new.
    let subscribers = stats.by_status.iter().map(|(_, n)| n).sum::<i64>() + stats.erased;
    let policy_bounces = if me.user.is_admin() {
        Some(
            state
                .reports
                .policy_bounces_by_domain(POLICY_DOMAINS_SHOWN)
                .await?,
        )
    } else {
        None
    };
    let facts = FirstRunFacts {
        subscribers,
        test_sent,
        is_admin: me.user.is_admin(),
    };
    html(
        StatusCode::OK,
        &DashboardPage {
            ctx: me.context(&state, "dashboard"),
            first_run: first_run(&state, &facts),
            no_subscribers: subscribers == 0,
            mail_to_files: mail_to_files(&state),
            stats,
            latest_issues,
            policy_bounces,
        },
    )
}

pub(crate) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}
