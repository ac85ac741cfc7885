//! Admin pages for accounts and API tokens.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;
use secrecy::SecretString;
use serde::Deserialize;

use super::auth::{AdminContext, AdminOnly};
use crate::accounts::{AccountError, HashError, NewPassword, Role, User};
use crate::audit::{AuditAction, AuditEntry};
use crate::store::timestamps;
use crate::web::error::WebError;
use crate::web::pages::html;
use crate::web::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(users_page)
        .service(add_user)
        .service(switch_user)
        .service(reset_password)
        .service(remove_user)
        .service(end_sessions)
        .service(tokens_page)
        .service(create_token)
        .service(revoke_token);
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    ctx: AdminContext,
    users: Vec<User>,
    notice: Option<String>,
    error: Option<String>,
}

async fn render_users(
    state: &AppState,
    me: &AdminOnly,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Result<HttpResponse, WebError> {
    html(
        status,
        &UsersPage {
            ctx: me.0.context(state, "users"),
            users: state.accounts.users().await?,
            notice,
            error,
        },
    )
}

/// The page again with the outcome of an action: a notice, or a refusal the admin can act on.
async fn outcome(
    state: &AppState,
    me: &AdminOnly,
    result: Result<String, AccountError>,
) -> Result<HttpResponse, WebError> {
    match result {
        Ok(notice) => render_users(state, me, StatusCode::OK, Some(notice), None).await,
        Err(error @ AccountError::Hash(HashError::Busy)) => {
            render_users(
                state,
                me,
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                Some(error.to_string()),
            )
            .await
        }
        Err(error @ AccountError::Store(_) | error @ AccountError::Hash(_)) => {
            Err(WebError::Account(error))
        }
        Err(error @ AccountError::NotFound) => {
            render_users(
                state,
                me,
                StatusCode::NOT_FOUND,
                None,
                Some(error.to_string()),
            )
            .await
        }
        Err(error @ AccountError::LastAdmin) => {
            render_users(
                state,
                me,
                StatusCode::CONFLICT,
                None,
                Some(error.to_string()),
            )
            .await
        }
        Err(error) => {
            render_users(
                state,
                me,
                StatusCode::BAD_REQUEST,
                None,
                Some(error.to_string()),
            )
            .await
        }
    }
}

#[get("/users")]
async fn users_page(state: web::Data<AppState>, me: AdminOnly) -> Result<HttpResponse, WebError> {
    render_users(&state, &me, StatusCode::OK, None, None).await
}

#[derive(Deserialize)]
struct NewUserForm {
    email: String,
    role: String,
    password: String,
}

#[post("/users")]
#[tracing::instrument(name = "add_user", skip_all)]
async fn add_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    me: AdminOnly,
    form: web::Form<NewUserForm>,
) -> Result<HttpResponse, WebError> {
    let form = form.into_inner();
    let result = async {
        let role: Role = form.role.parse().map_err(|_| {
            AccountError::InvalidEmail("choose the role admin or editor".to_owned())
        })?;
        let password = NewPassword::parse(SecretString::from(form.password))?;
        let user = state
            .accounts
            .create_user(&form.email, role, password)
            .await?;
        state
            .record_audit(
                &req,
                AuditEntry::new(me.0.actor(), AuditAction::UserAdded)
                    .target(user.email.clone())
                    .detail(format!("role {}", user.role)),
            )
            .await;
        Ok(format!("{} can now sign in as {}.", user.email, user.role))
    }
    .await;
    outcome(&state, &me, result).await
}

/// `POST /users/{id}/disable` and `/enable`.
#[post("/users/{id}/{switch:(disable|enable)}")]
async fn switch_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    me: AdminOnly,
    path: web::Path<(i64, String)>,
) -> Result<HttpResponse, WebError> {
    let (id, switch) = path.into_inner();
    let disable = switch == "disable";
    let target = account_label(&state, id).await?;
    let result = state.accounts.set_disabled(id, disable).await;
    if result.is_ok() {
        let action = if disable {
            AuditAction::UserDisabled
        } else {
            AuditAction::UserEnabled
        };
        state
            .record_audit(&req, AuditEntry::new(me.0.actor(), action).target(target))
            .await;
    }
    let result = result.map(|()| {
        if disable {
            "The account is disabled; its sessions have ended.".to_owned()
        } else {
            "The account is enabled again.".to_owned()
        }
    });
    outcome(&state, &me, result).await
}

#[derive(Deserialize)]
struct ResetForm {
    password: String,
}

#[post("/users/{id}/password")]
#[tracing::instrument(name = "reset_password", skip_all)]
async fn reset_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    me: AdminOnly,
    id: web::Path<i64>,
    form: web::Form<ResetForm>,
) -> Result<HttpResponse, WebError> {
    let target = account_label(&state, *id).await?;
    let result = async {
        let password = NewPassword::parse(SecretString::from(form.into_inner().password))?;
        state.accounts.reset_password(*id, password).await?;
        state
            .record_audit(
                &req,
                AuditEntry::new(me.0.actor(), AuditAction::PasswordChanged).target(target),
            )
            .await;
        Ok("The password is reset; the user's sessions have ended.".to_owned())
    }
    .await;
    outcome(&state, &me, result).await
}

#[post("/users/{id}/remove")]
async fn remove_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    me: AdminOnly,
    id: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    let target = account_label(&state, *id).await?;
    let result = state.accounts.remove(*id).await;
    if result.is_ok() {
        state
            .record_audit(
                &req,
                AuditEntry::new(me.0.actor(), AuditAction::UserRemoved).target(target),
            )
            .await;
    }
    let result = result.map(|()| "The account is removed.".to_owned());
    outcome(&state, &me, result).await
}

/// `POST /users/{id}/sessions/end`: signs the account out everywhere (an
/// admin's own account too; the admin then signs in again).
#[post("/users/{id}/sessions/end")]
async fn end_sessions(
    req: HttpRequest,
    state: web::Data<AppState>,
    me: AdminOnly,
    id: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    let target = account_label(&state, *id).await?;
    let result = state.accounts.end_all_sessions(*id).await;
    if let Ok(ended) = &result {
        state
            .record_audit(
                &req,
                AuditEntry::new(me.0.actor(), AuditAction::SignOutEverywhere)
                    .target(target)
                    .detail(format!("{ended} sessions ended")),
            )
            .await;
    }
    let result = result.map(|ended| format!("Signed out everywhere: {ended} sessions ended."));
    outcome(&state, &me, result).await
}

/// An account as the audit log names it: its address, while it exists.
async fn account_label(state: &AppState, id: i64) -> Result<String, WebError> {
    Ok(state
        .accounts
        .user(id)
        .await?
        .map_or_else(|| format!("account {id}"), |user| user.email))
}

struct TokenRow {
    id: i64,
    name: String,
    role: Role,
    /// Who made it, or why that is not known.
    owner: String,
    created: String,
    last_used: String,
    revoked: bool,
}

#[derive(Template)]
#[template(path = "admin/tokens.html")]
struct TokensPage {
    ctx: AdminContext,
    tokens: Vec<TokenRow>,
    new_token: Option<String>,
    error: Option<String>,
}

async fn render_tokens(
    state: &AppState,
    me: &AdminOnly,
    status: StatusCode,
    new_token: Option<String>,
) -> Result<HttpResponse, WebError> {
    render_tokens_page(state, me, status, new_token, None).await
}

async fn render_tokens_page(
    state: &AppState,
    me: &AdminOnly,
    status: StatusCode,
    new_token: Option<String>,
    error: Option<String>,
) -> Result<HttpResponse, WebError> {
    let tokens = state
        .accounts
        .api_tokens()
        .await?
        .into_iter()
        .map(|t| TokenRow {
            id: t.id,
            name: t.name,
            role: t.role,
            owner: match (t.owner_email, t.owner_exists) {
                (Some(email), true) => email,
                (Some(email), false) => format!("{email} (removed)"),
                (None, _) => "unknown (made before owners were recorded)".into(),
            },
            created: timestamps::date_time(t.created_at),
            last_used: t
                .last_used_at
                .map_or_else(|| "never".into(), timestamps::date_time),
            revoked: t.revoked,
        })
        .collect();
    html(
        status,
        &TokensPage {
            ctx: me.0.context(state, "tokens"),
            tokens,
            new_token,
            error,
        },
    )
}

#[get("/tokens")]
async fn tokens_page(state: web::Data<AppState>, me: AdminOnly) -> Result<HttpResponse, WebError> {
    render_tokens(&state, &me, StatusCode::OK, None).await
}

#[derive(Deserialize)]
struct TokenForm {
    name: String,
    role: String,
}

#[post("/tokens")]
#[tracing::instrument(name = "create_token", skip_all)]
async fn create_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    me: AdminOnly,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, WebError> {
    let form = form.into_inner();
    let name = form.name.trim();
    let Ok(role) = form.role.parse::<Role>() else {
        return render_tokens(&state, &me, StatusCode::BAD_REQUEST, None).await;
    };
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return render_tokens(&state, &me, StatusCode::BAD_REQUEST, None).await;
    }
    // The signed-in admin owns the token: it dies with their account.
    match state
        .accounts
        .create_api_token(name, role, me.0.user.id)
        .await
    {
        Ok((id, token)) => {
            state
                .record_audit(
                    &req,
                    AuditEntry::new(me.0.actor(), AuditAction::TokenCreated)
                        .target(format!("API token #{id} “{name}”"))
                        .detail(format!("role {role}")),
                )
                .await;
            render_tokens(&state, &me, StatusCode::OK, Some(token)).await
        }
        Err(error @ (AccountError::Store(_) | AccountError::Hash(_))) => {
            Err(WebError::Account(error))
        }
        Err(error) => {
            render_tokens_page(
                &state,
                &me,
                StatusCode::CONFLICT,
                None,
                Some(error.to_string()),
            )
            .await
        }
    }
}

#[post("/tokens/{id}/revoke")]
async fn revoke_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    me: AdminOnly,
    id: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    let status = if state.accounts.revoke_api_token(*id).await? {
        state
            .record_audit(
                &req,
                AuditEntry::new(me.0.actor(), AuditAction::TokenRevoked)
                    .target(format!("API token #{id}")),
            )
            .await;
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    render_tokens(&state, &me, status, None).await
}
