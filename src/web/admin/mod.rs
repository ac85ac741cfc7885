//! The admin side under `/admin`: sign-in, first-run setup, dashboard, accounts
//! and API tokens. Other capabilities add their pages with `routes`.

mod audit;
pub mod auth;
mod csrf;
mod issues;
mod subscribers;
mod two_factor;
mod users;

use actix_session::config::{CookieContentSecurity, PersistentSession, TtlExtensionPolicy};
use actix_session::storage::CookieSessionStore;
use actix_session::{Session, SessionMiddleware};
use actix_web::cookie::{Key, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::from_fn;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;
use secrecy::SecretString;
use serde::Deserialize;

use self::auth::{
    await_second_factor, csrf_token, end_session, start_session, AdminContext, SignedIn,
};
use super::error::WebError;
use super::origin::client_ip;
use super::pages::html;
use super::rate_limit::client_key;
use super::AppState;
use crate::accounts::{AccountError, HashError, LoginError, NewPassword, HASH_QUEUE_WAIT};
use crate::audit::{Actor, AuditAction, AuditEntry};
use crate::config::SecretKey;
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
            .service(login_page)
            .service(log_in)
            .service(log_out)
            .service(setup_page)
            .service(set_up)
            .service(dashboard)
            .service(account_page)
            .service(change_password)
            .service(sign_out_everywhere)
            .configure(two_factor::routes)
            .configure(users::routes)
            .configure(audit::routes)
            .configure(subscribers::routes)
            .configure(issues::routes),
    );
}

#[derive(Template)]
#[template(path = "admin/login.html")]
struct LoginPage<'a> {
    site_name: &'a str,
    heading: &'a str,
    action: &'a str,
    button: &'a str,
    csrf_token: String,
    email: &'a str,
    error: Option<String>,
    notice: Option<String>,
    next: Option<String>,
    setup_token: Option<String>,
    show_form: bool,
}

impl<'a> LoginPage<'a> {
    fn login(state: &'a AppState, session: &Session) -> Self {
        Self {
            site_name: &state.site.newsletter_name,
            heading: "Sign in",
            action: "/admin/login",
            button: "Sign in",
            csrf_token: csrf_token(session),
            email: "",
            error: None,
            notice: None,
            next: None,
            setup_token: None,
            show_form: true,
        }
    }

    fn setup(state: &'a AppState, session: &Session, token: &str) -> Self {
        Self {
            heading: "Create the first admin",
            action: "/admin/setup",
            button: "Create admin account",
            setup_token: Some(token.to_owned()),
            ..Self::login(state, session)
        }
    }
}

/// Only a path on this site may be a redirect target after sign-in.
fn safe_next(next: Option<&str>) -> Option<String> {
    next.filter(|n| n.starts_with("/admin") && !n.starts_with("//") && !n.contains('\\'))
        .map(str::to_owned)
}

#[derive(Debug, Deserialize)]
struct NextParam {
    next: Option<String>,
}

#[get("/login")]
#[tracing::instrument(name = "login_page", skip_all)]
async fn login_page(
    state: web::Data<AppState>,
    session: Session,
    query: Option<web::Query<NextParam>>,
) -> Result<HttpResponse, WebError> {
    let mut page = LoginPage::login(&state, &session);
    page.next = safe_next(query.as_ref().and_then(|q| q.next.as_deref()));
    html(StatusCode::OK, &page)
}

#[derive(Deserialize)]
struct LoginForm {
    email: String,
    password: String,
    next: Option<String>,
}

#[post("/login")]
#[tracing::instrument(name = "log_in", skip_all)]
async fn log_in(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, WebError> {
    let form = form.into_inner();
    // An IPv6 client holds a whole /64: the lock keys the network, not one address.
    let client = client_ip(&req, &state.config.trusted_proxies)
        .map_or_else(|| "unknown".to_owned(), |ip| client_key(ip).to_string());
    let result = state
        .accounts
        .log_in(&form.email, SecretString::from(form.password), &client)
        .await;
    match result {
        Ok(user) if user.two_factor => {
            await_second_factor(&session, &user)?;
            let next = safe_next(form.next.as_deref())
                .map(|next| {
                    format!(
                        "?next={}",
                        url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                    )
                })
                .unwrap_or_default();
            Ok(see_other(&format!("/admin/login/code{next}")))
        }
        Ok(user) => {
            start_session(&state, &session, &user).await?;
            tracing::info!(user_id = user.id, "signed in");
            state
                .record_audit(
                    &req,
                    AuditEntry::new(
                        Actor::Account {
                            id: user.id,
                            email: user.email.clone(),
                        },
                        AuditAction::SignIn,
                    ),
                )
                .await;
            let target = safe_next(form.next.as_deref()).unwrap_or_else(|| "/admin".into());
            Ok(see_other(&target))
        }
        Err(LoginError::Account(error)) => Err(WebError::Account(error)),
        Err(error) => {
            state
                .record_audit(
                    &req,
                    AuditEntry::new(Actor::Visitor, AuditAction::SignInFailed)
                        .target(form.email.trim())
                        .detail(error.to_string()),
                )
                .await;
            let (status, retry_after) = match &error {
                LoginError::Throttled { retry_after } => (
                    StatusCode::TOO_MANY_REQUESTS,
                    Some(retry_after.as_secs() + 1),
                ),
                LoginError::Busy => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Some(HASH_QUEUE_WAIT.as_secs().max(1)),
                ),
                _ => (StatusCode::UNAUTHORIZED, None),
            };
            let mut page = LoginPage::login(&state, &session);
            page.email = &form.email;
            page.error = Some(error.to_string());
            page.next = safe_next(form.next.as_deref());
            let mut response = html(status, &page)?;
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
            }
            Ok(response)
        }
    }
}

#[post("/logout")]
async fn log_out(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    me: Option<SignedIn>,
) -> Result<HttpResponse, WebError> {
    if let Some(me) = &me {
        state
            .record_audit(&req, AuditEntry::new(me.actor(), AuditAction::SignOut))
            .await;
    }
    end_session(&state, &session).await?;
    Ok(see_other("/admin/login"))
}

/// Ends every session of the signed-in account, this one included, and shows
/// the sign-in form with a note saying so.
#[post("/account/sessions/end")]
#[tracing::instrument(name = "sign_out_everywhere", skip_all)]
async fn sign_out_everywhere(
    req: HttpRequest,
    state: web::Data<AppState>,
    me: SignedIn,
) -> Result<HttpResponse, WebError> {
    state.accounts.end_all_sessions(me.user.id).await?;
    state
        .record_audit(
            &req,
            AuditEntry::new(me.actor(), AuditAction::SignOutEverywhere),
        )
        .await;
    // The cookie stays, emptied, to carry the sign-in form's new CSRF token.
    me.session.renew();
    me.session.clear();
    let mut page = LoginPage::login(&state, &me.session);
    page.notice = Some("You are signed out everywhere.".into());
    html(StatusCode::OK, &page)
}

#[derive(Debug, Deserialize)]
struct SetupParams {
    token: Option<String>,
}

#[get("/setup")]
#[tracing::instrument(name = "setup_page", skip_all)]
async fn setup_page(
    state: web::Data<AppState>,
    session: Session,
    query: Option<web::Query<SetupParams>>,
) -> Result<HttpResponse, WebError> {
    let token = query.and_then(|q| q.into_inner().token).unwrap_or_default();
    if state.accounts.admin_exists().await? || !state.accounts.setup_token_is_valid(&token).await? {
        return setup_link_spent(&state, &session);
    }
    html(StatusCode::OK, &LoginPage::setup(&state, &session, &token))
}

fn setup_link_spent(state: &AppState, session: &Session) -> Result<HttpResponse, WebError> {
    let mut page = LoginPage::login(state, session);
    page.heading = "This setup link no longer works";
    page.error = Some(
        "Setup links work once, for an hour, and only while no admin exists. Restart Herald for a new one, or sign in."
            .into(),
    );
    page.show_form = false;
    html(StatusCode::GONE, &page)
}

#[derive(Deserialize)]
struct SetupForm {
    token: String,
    email: String,
    password: String,
}

#[post("/setup")]
#[tracing::instrument(name = "set_up", skip_all)]
async fn set_up(
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<SetupForm>,
) -> Result<HttpResponse, WebError> {
    let form = form.into_inner();
    let password = match NewPassword::parse(SecretString::from(form.password)) {
        Ok(password) => password,
        Err(error) => {
            let mut page = LoginPage::setup(&state, &session, &form.token);
            page.email = &form.email;
            page.error = Some(error.to_string());
            return html(StatusCode::BAD_REQUEST, &page);
        }
    };
    match state
        .accounts
        .create_first_admin(&form.token, &form.email, password)
        .await
    {
        Ok(user) => {
            start_session(&state, &session, &user).await?;
            Ok(see_other("/admin"))
        }
        Err(AccountError::SetupLinkInvalid) => setup_link_spent(&state, &session),
        Err(error @ AccountError::InvalidEmail(_)) => {
            let mut page = LoginPage::setup(&state, &session, &form.token);
            page.email = &form.email;
            page.error = Some(error.to_string());
            html(StatusCode::BAD_REQUEST, &page)
        }
        Err(other) => Err(WebError::Account(other)),
    }
}

#[derive(Template)]
#[template(path = "admin/dashboard.html")]
struct DashboardPage {
    ctx: AdminContext,
    stats: SubscriberStats,
    latest_issues: Vec<issues::IssueRow>,
}

#[get("")]
#[tracing::instrument(name = "dashboard", skip_all)]
async fn dashboard(state: web::Data<AppState>, me: SignedIn) -> Result<HttpResponse, WebError> {
    let mut conn = state.store.pool().acquire().await?;
    let stats = subscriber_stats(&mut conn).await?;
    drop(conn);
    let latest_issues = issues::latest_issues(&state, 5).await?;
    html(
        StatusCode::OK,
        &DashboardPage {
            ctx: me.context(&state, "dashboard"),
            stats,
            latest_issues,
        },
    )
}

#[derive(Template)]
#[template(path = "admin/account.html")]
struct AccountPage {
    ctx: AdminContext,
    notice: Option<String>,
    error: Option<String>,
    two_factor: TwoFactorStatus,
}

/// The two-factor part of the account page.
pub(super) struct TwoFactorStatus {
    on: bool,
    /// `HERALD_REQUIRE_2FA` covers this account.
    required: bool,
    recovery_codes_left: i64,
    error: Option<String>,
}

impl TwoFactorStatus {
    pub(super) async fn of(
        state: &AppState,
        me: &SignedIn,
        error: Option<String>,
    ) -> Result<Self, WebError> {
        let recovery_codes_left = if me.user.two_factor {
            state.accounts.recovery_codes_left(me.user.id).await?
        } else {
            0
        };
        Ok(Self {
            on: me.user.two_factor,
            required: state.config.require_two_factor.requires(me.user.role),
            recovery_codes_left,
            error,
        })
    }
}

/// The account page with an outcome: a notice, or an error in one of its parts.
pub(super) async fn render_account(
    state: &AppState,
    me: &SignedIn,
    status: StatusCode,
    notice: Option<String>,
    two_factor_error: Option<String>,
) -> Result<HttpResponse, WebError> {
    html(
        status,
        &AccountPage {
            ctx: me.context(state, "account"),
            notice,
            error: None,
            two_factor: TwoFactorStatus::of(state, me, two_factor_error).await?,
        },
    )
}

#[get("/account")]
async fn account_page(state: web::Data<AppState>, me: SignedIn) -> Result<HttpResponse, WebError> {
    render_account(&state, &me, StatusCode::OK, None, None).await
}

#[derive(Deserialize)]
struct PasswordForm {
    current: String,
    new: String,
}

#[post("/account/password")]
#[tracing::instrument(name = "change_password", skip_all)]
async fn change_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    me: SignedIn,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, WebError> {
    let form = form.into_inner();
    let outcome = match NewPassword::parse(SecretString::from(form.new)) {
        Ok(new) => {
            state
                .accounts
                .change_password(me.user.id, SecretString::from(form.current), new)
                .await
        }
        Err(error) => Err(error.into()),
    };
    let (status, notice, error) = match outcome {
        Ok(()) => {
            state
                .record_audit(
                    &req,
                    AuditEntry::new(me.actor(), AuditAction::PasswordChanged)
                        .target(me.user.email.clone()),
                )
                .await;
            // Every session of the account ended with the change; this one
            // goes on as a new session.
            start_session(&state, &me.session, &me.user).await?;
            (
                StatusCode::OK,
                Some("Your password has been changed.".to_owned()),
                None,
            )
        }
        Err(error @ (AccountError::WrongPassword | AccountError::Password(_))) => {
            (StatusCode::BAD_REQUEST, None, Some(error.to_string()))
        }
        Err(error @ AccountError::Hash(HashError::Busy)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            Some(error.to_string()),
        ),
        Err(other) => return Err(WebError::Account(other)),
    };
    let me = SignedIn {
        csrf_token: csrf_token(&me.session),
        ..me
    };
    html(
        status,
        &AccountPage {
            ctx: me.context(&state, "account"),
            notice,
            error,
            two_factor: TwoFactorStatus::of(&state, &me, None).await?,
        },
    )
}

pub(crate) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}
