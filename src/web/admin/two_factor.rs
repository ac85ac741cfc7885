//! Two-factor sign-in pages: the code step after the password, and setting
//! it up, turning it off and renewing recovery codes on the account page.

use actix_session::Session;
use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::account::render_account;
use super::auth::{csrf_token, pending_second_factor, start_session, AdminContext, SignedIn};
use super::see_other;
use super::sign_in::{refused_sign_in, safe_next, NextParam};
use crate::accounts::{LoginError, TwoFactorError};
use crate::audit::{Actor, AuditAction, AuditEntry};
use crate::web::error::WebError;
use crate::web::origin::client_ip;
use crate::web::pages::html;
use crate::web::rate_limit::client_key;
use crate::web::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(code_page)
        .service(check_code)
        .service(begin_setup)
        .service(setup_page)
        .service(confirm_setup)
        .service(codes_page)
        .service(turn_off)
        .service(renew_recovery_codes);
}

#[derive(Template)]
#[template(path = "admin/login_code.html")]
struct CodePage<'a> {
    site_name: &'a str,
    csrf_token: String,
    next: Option<String>,
    error: Option<String>,
}

impl<'a> CodePage<'a> {
    fn new(
        state: &'a AppState,
        session: &Session,
        next: Option<String>,
        error: Option<String>,
    ) -> Self {
        Self {
            site_name: &state.site.newsletter_name,
            csrf_token: csrf_token(session),
            next,
            error,
        }
    }
}

/// The second step of signing in; without a right password first, back to the first.
#[get("/login/code")]
async fn code_page(
    state: web::Data<AppState>,
    session: Session,
    query: Option<web::Query<NextParam>>,
) -> Result<HttpResponse, WebError> {
    if pending_second_factor(&session).is_none() {
        return Ok(see_other("/admin/login"));
    }
    let next = safe_next(query.and_then(|q| q.into_inner().next).as_deref());
    html(StatusCode::OK, &CodePage::new(&state, &session, next, None))
}

#[derive(Deserialize)]
struct CodeForm {
    code: String,
    next: Option<String>,
}

#[post("/login/code")]
#[tracing::instrument(name = "log_in_second_factor", skip_all)]
async fn check_code(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, WebError> {
    let form = form.into_inner();
    let next = safe_next(form.next.as_deref());
    let Some(user_id) = pending_second_factor(&session) else {
        let mut response = see_other("/admin/login");
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
        return Ok(response);
    };
    let client = client_ip(&req, &state.config.trusted_proxies)
        .map_or_else(|| "unknown".to_owned(), |ip| client_key(ip).to_string());
    match state
        .accounts
        .log_in_second_factor(user_id, &form.code, &client)
        .await
    {
        Ok(user) => {
            start_session(&state, &session, &user).await?;
            tracing::info!(user_id = user.id, "signed in with a second factor");
            state
                .record_audit(
                    &req,
                    AuditEntry::new(Actor::from(&user), AuditAction::SignIn)
                        .detail("with a one-time code"),
                )
                .await;
            Ok(see_other(&next.unwrap_or_else(|| "/admin".into())))
        }
        Err(LoginError::Account(error)) => Err(WebError::Account(error)),
        Err(error) => {
            state
                .record_audit(
                    &req,
                    AuditEntry::new(Actor::Visitor, AuditAction::SignInFailed)
                        .target(format!("account {user_id}"))
                        .detail(format!("one-time code: {error}")),
                )
                .await;
            let message = match error {
                LoginError::Rejected => {
                    "That code is not right. Type the six digits your app shows now, or a recovery code."
                        .to_owned()
                }
                ref other => other.to_string(),
            };
            refused_sign_in(
                &error,
                &CodePage::new(&state, &session, next, Some(message)),
            )
        }
    }
}

#[derive(Template)]
#[template(path = "admin/two_factor_setup.html")]
struct SetupPage {
    ctx: AdminContext,
    secret_text: String,
    qr_svg: String,
    error: Option<String>,
}

/// What an authenticator app shows as the account's name.
fn issuer(state: &AppState) -> String {
    state.site.newsletter_name.replace(':', " ")
}

const SETUP_PAGE: &str = "/admin/account/2fa/setup";
const CODES_PAGE: &str = "/admin/account/2fa/codes";
/// Where new recovery codes wait, in the encrypted session cookie, for the
/// one page that shows them.
const NEW_CODES: &str = "new_recovery_codes";

/// Starts setting up: a new secret, shown on the set-up page.
#[post("/account/2fa/setup")]
#[tracing::instrument(name = "begin_two_factor", skip_all)]
async fn begin_setup(state: web::Data<AppState>, me: SignedIn) -> Result<HttpResponse, WebError> {
    match state
        .accounts
        .begin_two_factor(&me.user, &issuer(&state))
        .await
    {
        Ok(_) => Ok(see_other(SETUP_PAGE)),
        Err(error) => refused(&state, &me, error).await,
    }
}

/// The set-up under way, as a QR code and as text; reloading it shows the
/// same secret.
#[get("/account/2fa/setup")]
async fn setup_page(state: web::Data<AppState>, me: SignedIn) -> Result<HttpResponse, WebError> {
    match state
        .accounts
        .pending_enrolment(&me.user, &issuer(&state))
        .await
    {
        Ok(Some(enrolment)) => {
            let mut response = html(
                StatusCode::OK,
                &SetupPage {
                    ctx: me.context(&state, "account"),
                    secret_text: enrolment.secret_text,
                    qr_svg: enrolment.qr_svg,
                    error: None,
                },
            )?;
            no_store(&mut response);
            Ok(response)
        }
        Ok(None) => Ok(see_other("/admin/account#two-factor")),
        Err(error) => refused(&state, &me, error).await,
    }
}

fn no_store(response: &mut HttpResponse) {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
}

#[derive(Deserialize)]
struct CodeOnly {
    code: String,
}

#[derive(Template)]
#[template(path = "admin/two_factor_codes.html")]
struct RecoveryCodesPage {
    ctx: AdminContext,
    heading: String,
    codes: Vec<String>,
}

/// Leaves the new recovery codes for the page that shows them once.
fn show_recovery_codes(
    me: &SignedIn,
    heading: &'static str,
    codes: Vec<String>,
) -> Result<HttpResponse, WebError> {
    me.session
        .insert(NEW_CODES, (heading, codes))
        .map_err(|e| WebError::Session(e.to_string()))?;
    Ok(see_other(CODES_PAGE))
}

/// The recovery codes just made, this once: they leave the session as they
/// are shown, and a reload goes back to the account page.
#[get("/account/2fa/codes")]
async fn codes_page(state: web::Data<AppState>, me: SignedIn) -> Result<HttpResponse, WebError> {
    let Some((heading, codes)) = me
        .session
        .remove_as::<(String, Vec<String>)>(NEW_CODES)
        .and_then(Result::ok)
    else {
        return Ok(see_other("/admin/account#two-factor"));
    };
    let mut response = html(
        StatusCode::OK,
        &RecoveryCodesPage {
            ctx: me.context(&state, "account"),
            heading,
            codes,
        },
    )?;
    no_store(&mut response);
    Ok(response)
}

/// Confirms the set-up with a code from the app; shows the recovery codes once.
#[post("/account/2fa/confirm")]
#[tracing::instrument(name = "confirm_two_factor", skip_all)]
async fn confirm_setup(
    req: HttpRequest,
    state: web::Data<AppState>,
    me: SignedIn,
    form: web::Form<CodeOnly>,
) -> Result<HttpResponse, WebError> {
    match state
        .accounts
        .confirm_two_factor(me.user.id, &issuer(&state), &form.code)
        .await
    {
        Ok(codes) => {
            state
                .record_audit(&req, AuditEntry::new(me.actor(), AuditAction::TwoFactorOn))
                .await;
            show_recovery_codes(&me, "Two-factor sign-in is on", codes)
        }
        Err(TwoFactorError::WrongCode) => {
            // The same QR code again, so a mistyped code costs no new scan.
            match state
                .accounts
                .pending_enrolment(&me.user, &issuer(&state))
                .await
            {
                Ok(Some(enrolment)) => html(
                    StatusCode::BAD_REQUEST,
                    &SetupPage {
                        ctx: me.context(&state, "account"),
                        secret_text: enrolment.secret_text,
                        qr_svg: enrolment.qr_svg,
                        error: Some(TwoFactorError::WrongCode.to_string()),
                    },
                ),
                Ok(None) => refused(&state, &me, TwoFactorError::NotStarted).await,
                Err(error) => refused(&state, &me, error).await,
            }
        }
        Err(error) => refused(&state, &me, error).await,
    }
}

#[post("/account/2fa/disable")]
#[tracing::instrument(name = "disable_two_factor", skip_all)]
async fn turn_off(
    req: HttpRequest,
    state: web::Data<AppState>,
    me: SignedIn,
    form: web::Form<CodeOnly>,
) -> Result<HttpResponse, WebError> {
    if state.config.require_two_factor.requires(me.user.role) {
        let why = "This server requires two-factor sign-in for your account (HERALD_REQUIRE_2FA); it cannot be turned off.";
        return render_account(&state, &me, StatusCode::CONFLICT, Some(why.into())).await;
    }
    match state
        .accounts
        .disable_two_factor(me.user.id, &form.code)
        .await
    {
        Ok(()) => {
            state
                .record_audit(&req, AuditEntry::new(me.actor(), AuditAction::TwoFactorOff))
                .await;
            Ok(me.redirect_with_notice("/admin/account", "Two-factor sign-in is off."))
        }
        Err(error) => refused(&state, &me, error).await,
    }
}

#[post("/account/2fa/recovery-codes")]
#[tracing::instrument(name = "renew_recovery_codes", skip_all)]
async fn renew_recovery_codes(
    req: HttpRequest,
    state: web::Data<AppState>,
    me: SignedIn,
    form: web::Form<CodeOnly>,
) -> Result<HttpResponse, WebError> {
    match state
        .accounts
        .renew_recovery_codes(me.user.id, &form.code)
        .await
    {
        Ok(codes) => {
            state
                .record_audit(
                    &req,
                    AuditEntry::new(me.actor(), AuditAction::RecoveryCodesRenewed),
                )
                .await;
            show_recovery_codes(&me, "New recovery codes", codes)
        }
        Err(error) => refused(&state, &me, error).await,
    }
}

/// The account page with what went wrong, beside the two-factor forms.
async fn refused(
    state: &AppState,
    me: &SignedIn,
    error: TwoFactorError,
) -> Result<HttpResponse, WebError> {
    let status = match &error {
        TwoFactorError::Account(_) | TwoFactorError::Secret(_) => {
            return Err(match error {
                TwoFactorError::Account(error) => WebError::Account(error),
                other => WebError::Session(other.to_string()),
            })
        }
        TwoFactorError::WrongCode => StatusCode::BAD_REQUEST,
        TwoFactorError::AlreadyOn | TwoFactorError::NotOn | TwoFactorError::NotStarted => {
            StatusCode::CONFLICT
        }
    };
    render_account(state, me, status, Some(error.to_string())).await
}
