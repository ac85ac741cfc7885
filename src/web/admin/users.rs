//! Admin pages for accounts and API tokens.

use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;
use secrecy::SecretString;
use serde::Deserialize;

use super::auth::{AdminContext, AdminOnly};
use crate::accounts::{AccountError, ApiTokenRecord, HashError, NewPassword, Role, User};
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
        .service(remove_page)
        .service(remove_user)
        .service(end_sessions)
        .service(tokens_page)
        .service(create_token)
        .service(revoke_page)
        .service(revoke_token);
}

const USERS_PAGE: &str = "/admin/users";
const TOKENS_PAGE: &str = "/admin/tokens";
/// Where a token's secret waits, in the encrypted session cookie, between its
/// creation and the one tokens page that shows it.
const NEW_TOKEN: &str = "new_token";

/// The add-user form as typed (never the password), with what is wrong in it.
#[derive(Default)]
struct NewUserFields {
    email: String,
    role: String,
    email_error: Option<String>,
    role_error: Option<String>,
    password_error: Option<String>,
}

impl NewUserFields {
    fn has_errors(&self) -> bool {
        self.email_error.is_some() || self.role_error.is_some() || self.password_error.is_some()
    }
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    ctx: AdminContext,
    users: Vec<User>,
    /// The signed-in admin's own row says "(you)" and offers no action that
    /// cannot work on oneself.
    me_id: i64,
    form: NewUserFields,
}

async fn render_users(
    state: &AppState,
    me: &AdminOnly,
    status: StatusCode,
    form: NewUserFields,
) -> Result<HttpResponse, WebError> {
    html(
        status,
        &UsersPage {
            ctx: me.0.context(state, "users"),
            users: state.accounts.users().await?,
            me_id: me.0.user.id,
            form,
        },
    )
}

/// Back to the users page with the outcome of an action: a notice, or a
/// refusal the admin can act on. Failures of the database are errors.
fn outcome(me: &AdminOnly, result: Result<String, AccountError>) -> Result<HttpResponse, WebError> {
    match result {
        Ok(notice) => Ok(me.0.redirect_with_notice(USERS_PAGE, notice)),
        Err(
            error @ (AccountError::Store(_)
            | AccountError::Hash(HashError::Hash(_) | HashError::Stopped(_))),
        ) => Err(WebError::Account(error)),
        Err(error) => Ok(me.0.redirect_with_error(USERS_PAGE, error.to_string())),
    }
}

#[get("/users")]
async fn users_page(state: web::Data<AppState>, me: AdminOnly) -> Result<HttpResponse, WebError> {
    let form = NewUserFields {
        role: Role::Editor.to_string(),
        ..NewUserFields::default()
    };
    render_users(&state, &me, StatusCode::OK, form).await
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
    let mut fields = NewUserFields {
        email: form.email.clone(),
        role: form.role.clone(),
        ..NewUserFields::default()
    };
    let role = form.role.parse::<Role>();
    if role.is_err() {
        fields.role_error = Some("Choose the role admin or editor.".to_owned());
    }
    let password = NewPassword::parse(SecretString::from(form.password));
    if let Err(error) = &password {
        fields.password_error = Some(error.to_string());
    }
    if let (Ok(role), Ok(password)) = (role, password) {
        match state
            .accounts
            .create_user(&form.email, role, password)
            .await
        {
            Ok(user) => {
                state
                    .record_audit(
                        &req,
                        AuditEntry::new(me.0.actor(), AuditAction::UserAdded)
                            .target(user.email.clone())
                            .detail(format!("role {}", user.role)),
                    )
                    .await;
                let notice = format!("{} can now sign in as {}.", user.email, user.role);
                return Ok(me.0.redirect_with_notice(USERS_PAGE, notice));
            }
            Err(error @ (AccountError::InvalidEmail(_) | AccountError::EmailTaken)) => {
                fields.email_error = Some(error.to_string());
            }
            Err(error @ AccountError::Password(_)) => {
                fields.password_error = Some(error.to_string());
            }
            Err(error @ AccountError::Hash(HashError::Busy)) => {
                return Ok(me.0.redirect_with_error(USERS_PAGE, error.to_string()));
            }
            Err(error) => return Err(WebError::Account(error)),
        }
    }
    debug_assert!(fields.has_errors());
    render_users(&state, &me, StatusCode::UNPROCESSABLE_ENTITY, fields).await
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
    outcome(&me, result)
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
    outcome(&me, result)
}

#[derive(Template)]
#[template(path = "admin/user_remove.html")]
struct RemovePage {
    ctx: AdminContext,
    user: User,
    tokens: usize,
}

/// `GET /users/{id}/remove`: what removing the account does, and the button
/// that does it.
#[get("/users/{id}/remove")]
async fn remove_page(
    state: web::Data<AppState>,
    me: AdminOnly,
    id: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    let Some(user) = state.accounts.user(*id).await? else {
        return Ok(me
            .0
            .redirect_with_error(USERS_PAGE, AccountError::NotFound.to_string()));
    };
    let tokens = state
        .accounts
        .api_tokens()
        .await?
        .iter()
        .filter(|t| !t.revoked && t.owner_exists && t.owner_email.as_deref() == Some(&user.email))
        .count();
    html(
        StatusCode::OK,
        &RemovePage {
            ctx: me.0.context(&state, "users"),
            user,
            tokens,
        },
    )
}

/// A risky action's form carries `confirm=yes` only from its confirmation
/// page: a bare POST (an old page, a stray script) does nothing.
#[derive(Deserialize)]
struct ConfirmForm {
    confirm: Option<String>,
}

impl ConfirmForm {
    fn confirmed(&self) -> bool {
        self.confirm.as_deref() == Some("yes")
    }
}

#[post("/users/{id}/remove")]
async fn remove_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    me: AdminOnly,
    id: web::Path<i64>,
    form: web::Form<ConfirmForm>,
) -> Result<HttpResponse, WebError> {
    if !form.confirmed() {
        return Ok(me.0.redirect_with_error(
            &format!("{USERS_PAGE}/{id}/remove"),
            "Nothing was removed: confirm on this page first.",
        ));
    }
    let target = account_label(&state, *id).await?;
    let result = state.accounts.remove(*id).await;
    if result.is_ok() {
        state
            .record_audit(
                &req,
                AuditEntry::new(me.0.actor(), AuditAction::UserRemoved).target(target.clone()),
            )
            .await;
    }
    let result = result.map(|()| format!("The account {target} is removed."));
    outcome(&me, result)
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
    outcome(&me, result)
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
    /// The token's first characters, or "—" for a token made before they were kept.
    prefix: String,
    role: Role,
    /// Who made it, or why that is not known.
    owner: String,
    created: String,
    last_used: String,
    revoked: bool,
}

impl From<ApiTokenRecord> for TokenRow {
    fn from(t: ApiTokenRecord) -> Self {
        Self {
            id: t.id,
            name: t.name,
            prefix: t.prefix.map_or_else(|| "—".to_owned(), |p| format!("{p}…")),
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
        }
    }
}

/// The token's form as typed, with what is wrong in it.
#[derive(Default)]
struct TokenFields {
    name: String,
    role: String,
    name_error: Option<String>,
    role_error: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/tokens.html")]
struct TokensPage {
    ctx: AdminContext,
    tokens: Vec<TokenRow>,
    new_token: Option<String>,
    form: TokenFields,
}

async fn render_tokens(
    state: &AppState,
    me: &AdminOnly,
    status: StatusCode,
    new_token: Option<String>,
    form: TokenFields,
) -> Result<HttpResponse, WebError> {
    let tokens = state
        .accounts
        .api_tokens()
        .await?
        .into_iter()
        .map(TokenRow::from)
        .collect();
    html(
        status,
        &TokensPage {
            ctx: me.0.context(state, "tokens"),
            tokens,
            new_token,
            form,
        },
    )
}

/// The tokens page; right after a token is made, it shows that token's
/// secret, once: it leaves the session as it is shown.
#[get("/tokens")]
async fn tokens_page(state: web::Data<AppState>, me: AdminOnly) -> Result<HttpResponse, WebError> {
    let new_token =
        me.0.session
            .remove_as::<String>(NEW_TOKEN)
            .and_then(Result::ok);
    let form = TokenFields {
        role: Role::Editor.to_string(),
        ..TokenFields::default()
    };
    let mut response = render_tokens(&state, &me, StatusCode::OK, new_token.clone(), form).await?;
    if new_token.is_some() {
        // The secret must not come back from a cache with the back button.
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
    }
    Ok(response)
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
    let mut fields = TokenFields {
        name: form.name.clone(),
        role: form.role.clone(),
        ..TokenFields::default()
    };
    let role = form.role.parse::<Role>();
    if role.is_err() {
        fields.role_error = Some("Choose the role admin or editor.".to_owned());
    }
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        fields.name_error =
            Some("Give the token a name of 1 to 100 characters, on one line.".to_owned());
    }
    let Ok(role) = role else {
        return render_tokens(&state, &me, StatusCode::UNPROCESSABLE_ENTITY, None, fields).await;
    };
    if fields.name_error.is_some() {
        return render_tokens(&state, &me, StatusCode::UNPROCESSABLE_ENTITY, None, fields).await;
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
            me.0.session
                .insert(NEW_TOKEN, token)
                .map_err(|e| WebError::Session(e.to_string()))?;
            Ok(me.0.redirect_with_notice(
                TOKENS_PAGE,
                format!("The token “{name}” is made. Copy it now: it is shown only this once."),
            ))
        }
        Err(error @ (AccountError::Store(_) | AccountError::Hash(_))) => {
            Err(WebError::Account(error))
        }
        Err(error) => Ok(me.0.redirect_with_error(TOKENS_PAGE, error.to_string())),
    }
}

#[derive(Template)]
#[template(path = "admin/token_revoke.html")]
struct RevokePage {
    ctx: AdminContext,
    token: TokenRow,
}

/// `GET /tokens/{id}/revoke`: which token, who uses it, and the button that
/// revokes it.
#[get("/tokens/{id}/revoke")]
async fn revoke_page(
    state: web::Data<AppState>,
    me: AdminOnly,
    id: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    let token = state
        .accounts
        .api_tokens()
        .await?
        .into_iter()
        .find(|t| t.id == *id && !t.revoked);
    let Some(token) = token else {
        return Ok(me.0.redirect_with_error(
            TOKENS_PAGE,
            "There is no such live token; it may be revoked already.",
        ));
    };
    html(
        StatusCode::OK,
        &RevokePage {
            ctx: me.0.context(&state, "tokens"),
            token: TokenRow::from(token),
        },
    )
}

#[post("/tokens/{id}/revoke")]
async fn revoke_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    me: AdminOnly,
    id: web::Path<i64>,
    form: web::Form<ConfirmForm>,
) -> Result<HttpResponse, WebError> {
    if !form.confirmed() {
        return Ok(me.0.redirect_with_error(
            &format!("{TOKENS_PAGE}/{id}/revoke"),
            "Nothing was revoked: confirm on this page first.",
        ));
    }
    if state.accounts.revoke_api_token(*id).await? {
        state
            .record_audit(
                &req,
                AuditEntry::new(me.0.actor(), AuditAction::TokenRevoked)
                    .target(format!("API token #{id}")),
            )
            .await;
        Ok(me.0.redirect_with_notice(
            TOKENS_PAGE,
            format!("API token #{id} is revoked: calls with it are refused from now on."),
        ))
    } else {
        Ok(me.0.redirect_with_error(
            TOKENS_PAGE,
            "There is no such live token; it may be revoked already.",
        ))
    }
}
