//! Signing in and out: the login form, the one-time code step's shared
//! refusal, sign-out, "sign out everywhere", and the first-run setup link.

use actix_session::Session;
use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;
use secrecy::SecretString;
use serde::Deserialize;

use super::auth::{await_second_factor, csrf_token, end_session, start_session, SignedIn};
use super::see_other;
use crate::accounts::{
    AccountError, HashError, LoginError, NewPassword, PasswordResetEmail, ResetRequest,
    HASH_QUEUE_WAIT, LOGIN_FAILURE_WINDOW, RESET_LINK_TTL,
};
use crate::audit::{Actor, AuditAction, AuditEntry};
use crate::web::error::WebError;
use crate::web::origin::client_ip;
use crate::web::pages::html;
use crate::web::rate_limit::client_key;
use crate::web::AppState;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(login_page)
        .service(log_in)
        .service(log_out)
        .service(sign_out_everywhere)
        .service(setup_page)
        .service(set_up)
        .service(forgot_page)
        .service(forgot)
        .service(reset_page)
        .service(reset);
}

/// A message for the next sign-in page, kept in the (signed-out) session:
/// after signing out everywhere, asking for a reset link, or setting a new password.
const LOGIN_NOTICE: &str = "login_notice";

fn leave_login_notice(session: &Session, text: &str) -> HttpResponse {
    if let Err(error) = session.insert(LOGIN_NOTICE, text) {
        // What was asked is done; only its message is lost.
        tracing::warn!(%error, "cannot keep the message for the sign-in page");
    }
    see_other("/admin/login")
}

fn take_login_notice(session: &Session) -> Option<String> {
    session
        .remove_as::<String>(LOGIN_NOTICE)
        .and_then(Result::ok)
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
    /// Said before the next failure locks the door.
    warning: Option<String>,
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
            warning: None,
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
pub(super) fn safe_next(next: Option<&str>) -> Option<String> {
    next.filter(|n| n.starts_with("/admin") && !n.starts_with("//") && !n.contains('\\'))
        .map(str::to_owned)
}

#[derive(Debug, Deserialize)]
pub(super) struct NextParam {
    pub(super) next: Option<String>,
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
    page.notice = take_login_notice(&session);
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
                    AuditEntry::new(Actor::from(&user), AuditAction::SignIn),
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
            let mut page = LoginPage::login(&state, &session);
            page.email = &form.email;
            page.error = Some(error.to_string());
            page.next = safe_next(form.next.as_deref());
            if matches!(error, LoginError::Rejected) {
                page.warning = lock_warning(&state, &form.email, &client).await?;
            }
            refused_sign_in(&error, &page)
        }
    }
}

/// "One more wrong password locks…" when the next failure would lock sign-in
/// for the address typed or for this client. The address counts whether or
/// not an account has it, so the warning tells nothing about accounts.
async fn lock_warning(
    state: &AppState,
    email: &str,
    client: &str,
) -> Result<Option<String>, WebError> {
    let left = state
        .accounts
        .sign_ins_left(email, client)
        .await
        .map_err(WebError::Store)?;
    let minutes = LOGIN_FAILURE_WINDOW.as_secs() / 60;
    Ok(if left.address == 1 {
        Some(format!(
            "One more wrong password locks sign-in with this email address for {minutes} minutes. Not sure of it? Reset your password instead."
        ))
    } else if left.client == 1 {
        Some(format!(
            "One more failed sign-in from your network locks sign-in from it for {minutes} minutes."
        ))
    } else {
        None
    })
}

/// A refused sign-in step (password or code) shows `page` again: 401 for a
/// wrong answer, 429 while locked, 503 while every hashing thread is busy,
/// with `Retry-After` for the last two.
pub(super) fn refused_sign_in(
    error: &LoginError,
    page: &impl Template,
) -> Result<HttpResponse, WebError> {
    let (status, retry_after) = match error {
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
    let mut response = html(status, page)?;
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
    }
    Ok(response)
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
    // The cookie stays, emptied, to carry the sign-in page's message.
    me.session.renew();
    me.session.clear();
    Ok(leave_login_notice(
        &me.session,
        "You are signed out everywhere.",
    ))
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
#[template(path = "admin/password_forgot.html")]
struct ForgotPage<'a> {
    site_name: &'a str,
    csrf_token: String,
    email: &'a str,
    error: Option<String>,
}

#[get("/login/forgot")]
async fn forgot_page(
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, WebError> {
    html(
        StatusCode::OK,
        &ForgotPage {
            site_name: &state.site.newsletter_name,
            csrf_token: csrf_token(&session),
            email: "",
            error: None,
        },
    )
}

#[derive(Deserialize)]
struct ForgotForm {
    email: String,
}

/// The same answer whether or not an account has the address; the mail goes
/// out in the background, so the answer takes as long either way.
#[post("/login/forgot")]
#[tracing::instrument(name = "forgot_password", skip_all)]
async fn forgot(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<ForgotForm>,
) -> Result<HttpResponse, WebError> {
    let form = form.into_inner();
    let client = client_ip(&req, &state.config.trusted_proxies)
        .map_or_else(|| "unknown".to_owned(), |ip| client_key(ip).to_string());
    match state
        .accounts
        .request_password_reset(&form.email, &client)
        .await
    {
        Ok(ResetRequest::Send { user, token }) => {
            let link = state
                .config
                .base_url
                .join(&format!("/admin/login/reset?token={token}"));
            let state = state.clone();
            actix_web::rt::spawn(async move {
                let mail = user
                    .email
                    .parse::<lettre::Address>()
                    .map_err(|e| e.to_string())
                    .and_then(|to| {
                        PasswordResetEmail {
                            to: &to,
                            link: &link,
                        }
                        .build(&state.identity)
                        .map_err(|e| e.to_string())
                    });
                let sent = match mail {
                    Ok(message) => state.mailer.send(&message).await.map_err(|e| e.to_string()),
                    Err(error) => Err(error),
                };
                if let Err(error) = sent {
                    tracing::error!(user_id = user.id, %error, "cannot send the password reset mail");
                }
            });
        }
        Ok(ResetRequest::Nothing) => {}
        Err(LoginError::Account(error)) => return Err(WebError::Account(error)),
        Err(LoginError::Throttled { retry_after }) => {
            let page = ForgotPage {
                site_name: &state.site.newsletter_name,
                csrf_token: csrf_token(&session),
                email: &form.email,
                error: Some(format!(
                    "Too many reset requests from your network. Try again in {} minutes.",
                    retry_after.as_secs().div_ceil(60).max(1)
                )),
            };
            return refused_sign_in(&LoginError::Throttled { retry_after }, &page);
        }
        Err(error) => {
            let page = ForgotPage {
                site_name: &state.site.newsletter_name,
                csrf_token: csrf_token(&session),
                email: &form.email,
                error: Some(error.to_string()),
            };
            return refused_sign_in(&error, &page);
        }
    }
    Ok(leave_login_notice(
        &session,
        &format!(
            "If an account has the address {}, a link to choose a new password is on its way to it. The link works once, for {} minutes.",
            form.email.trim(),
            RESET_LINK_TTL.as_secs() / 60
        ),
    ))
}

#[derive(Template)]
#[template(path = "admin/password_reset.html")]
struct ResetPage<'a> {
    site_name: &'a str,
    csrf_token: String,
    /// The link's secret, carried to the form; `None` once the link no longer works.
    token: Option<String>,
    email: String,
    password_error: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct ResetParams {
    token: Option<String>,
}

fn reset_link_spent(state: &AppState, session: &Session) -> Result<HttpResponse, WebError> {
    html(
        StatusCode::GONE,
        &ResetPage {
            site_name: &state.site.newsletter_name,
            csrf_token: csrf_token(session),
            token: None,
            email: String::new(),
            password_error: None,
            error: Some(AccountError::ResetLinkInvalid.to_string()),
        },
    )
}

/// The page the mailed link opens: the new password's form. Opening it
/// changes nothing (mail scanners open links too).
#[get("/login/reset")]
async fn reset_page(
    state: web::Data<AppState>,
    session: Session,
    query: Option<web::Query<ResetParams>>,
) -> Result<HttpResponse, WebError> {
    let token = query.and_then(|q| q.into_inner().token).unwrap_or_default();
    let Some(user) = state.accounts.password_reset_account(&token).await? else {
        return reset_link_spent(&state, &session);
    };
    let mut response = html(
        StatusCode::OK,
        &ResetPage {
            site_name: &state.site.newsletter_name,
            csrf_token: csrf_token(&session),
            token: Some(token),
            email: user.email,
            password_error: None,
            error: None,
        },
    )?;
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

#[derive(Deserialize)]
struct ResetForm {
    token: String,
    password: String,
}

#[post("/login/reset")]
#[tracing::instrument(name = "reset_password_with_link", skip_all)]
async fn reset(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<ResetForm>,
) -> Result<HttpResponse, WebError> {
    let form = form.into_inner();
    let again = |password_error: Option<String>, error: Option<String>, email: String| ResetPage {
        site_name: &state.site.newsletter_name,
        csrf_token: csrf_token(&session),
        token: Some(form.token.clone()),
        email,
        password_error,
        error,
    };
    let password = match NewPassword::parse(SecretString::from(form.password.clone())) {
        Ok(password) => password,
        Err(error) => {
            let Some(user) = state.accounts.password_reset_account(&form.token).await? else {
                return reset_link_spent(&state, &session);
            };
            let page = again(Some(error.to_string()), None, user.email);
            return html(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    match state
        .accounts
        .reset_password_with_link(&form.token, password)
        .await
    {
        Ok(user) => {
            state
                .record_audit(
                    &req,
                    AuditEntry::new(Actor::from(&user), AuditAction::PasswordChanged)
                        .target(user.email.clone())
                        .detail("with a reset link sent by mail; every session ended"),
                )
                .await;
            // This browser starts signed out too, keeping only the message.
            session.renew();
            session.clear();
            Ok(leave_login_notice(
                &session,
                "Your new password is set and every session of the account has ended. Sign in with it.",
            ))
        }
        Err(AccountError::ResetLinkInvalid) => reset_link_spent(&state, &session),
        Err(error @ AccountError::Hash(HashError::Busy)) => {
            let page = again(None, Some(error.to_string()), String::new());
            let mut response = html(StatusCode::SERVICE_UNAVAILABLE, &page)?;
            response.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from(HASH_QUEUE_WAIT.as_secs().max(1)),
            );
            Ok(response)
        }
        Err(other) => Err(WebError::Account(other)),
    }
}
