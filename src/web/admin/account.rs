//! "Your account": the password, two-factor sign-in's state, signing out everywhere.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;
use secrecy::SecretString;
use serde::Deserialize;

use super::auth::{start_session, AdminContext, SignedIn};
use crate::accounts::{AccountError, HashError, NewPassword};
use crate::audit::{AuditAction, AuditEntry};
use crate::web::error::WebError;
use crate::web::pages::html;
use crate::web::AppState;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(account_page).service(change_password);
}

#[derive(Template)]
#[template(path = "admin/account.html")]
struct AccountPage {
    ctx: AdminContext,
    /// What is wrong with the password form, beside the field it is about.
    password_error: Option<PasswordFieldError>,
    two_factor: TwoFactorStatus,
}

struct PasswordFieldError {
    /// `current` or `new`.
    field: &'static str,
    text: String,
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

/// The account page, with what was wrong in its two-factor forms if anything.
pub(super) async fn render_account(
    state: &AppState,
    me: &SignedIn,
    status: StatusCode,
    two_factor_error: Option<String>,
) -> Result<HttpResponse, WebError> {
    html(
        status,
        &AccountPage {
            ctx: me.context(state, "account"),
            password_error: None,
            two_factor: TwoFactorStatus::of(state, me, two_factor_error).await?,
        },
    )
}

#[get("/account")]
async fn account_page(state: web::Data<AppState>, me: SignedIn) -> Result<HttpResponse, WebError> {
    render_account(&state, &me, StatusCode::OK, None).await
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
    let (status, password_error) = match outcome {
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
            return Ok(me.redirect_with_notice("/admin/account", "Your password has been changed."));
        }
        Err(error @ AccountError::WrongPassword) => (
            StatusCode::BAD_REQUEST,
            PasswordFieldError {
                field: "current",
                text: error.to_string(),
            },
        ),
        Err(error @ AccountError::Password(_)) => (
            StatusCode::BAD_REQUEST,
            PasswordFieldError {
                field: "new",
                text: error.to_string(),
            },
        ),
        Err(error @ AccountError::Hash(HashError::Busy)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            PasswordFieldError {
                field: "current",
                text: error.to_string(),
            },
        ),
        Err(other) => return Err(WebError::Account(other)),
    };
    html(
        status,
        &AccountPage {
            ctx: me.context(&state, "account"),
            password_error: Some(password_error),
            two_factor: TwoFactorStatus::of(&state, &me, None).await?,
        },
    )
}
