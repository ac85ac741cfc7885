//! Who is signed in to the admin pages. The session lives in an encrypted,
//! HttpOnly cookie (actix-session); the server still decides: the account must
//! exist, be enabled, have the same session epoch (a password change or a
//! disable ends old sessions), and have been active within the idle timeout.

use std::future::Future;
use std::pin::Pin;

use actix_session::{Session, SessionExt};
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};

use crate::accounts::User;
use crate::audit::Actor;
use crate::config::random_token as random_csrf_token;
use crate::store::{millis, now_millis, unavailable_in};
use crate::web::AppState;

pub(super) const USER_ID: &str = "uid";
const EPOCH: &str = "epoch";
const LAST_SEEN: &str = "seen";
pub(super) const CSRF: &str = "csrf";

/// What every admin page shows about the session.
#[derive(Debug, Clone)]
pub struct AdminContext {
    pub site_name: String,
    pub user_email: String,
    pub is_admin: bool,
    pub csrf_token: String,
    /// The navigation entry to highlight.
    pub section: &'static str,
}

/// A signed-in editor or admin.
pub struct SignedIn {
    pub user: User,
    pub csrf_token: String,
    pub session: Session,
}

impl SignedIn {
    pub fn context(&self, state: &AppState, section: &'static str) -> AdminContext {
        AdminContext {
            site_name: state.site.newsletter_name.clone(),
            user_email: self.user.email.clone(),
            is_admin: self.user.is_admin(),
            csrf_token: self.csrf_token.clone(),
            section,
        }
    }
}

impl SignedIn {
    /// Who the audit log names for what this session does.
    pub fn actor(&self) -> Actor {
        Actor::Account {
            id: self.user.id,
            email: self.user.email.clone(),
        }
    }
}

/// A signed-in admin; editors get 403.
pub struct AdminOnly(pub SignedIn);

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("sign in first")]
    NotSignedIn { login_url: String },
    #[error("this page is for admins")]
    Forbidden,
    #[error("cannot check the session: {0}")]
    Internal(String),
    #[error("the database is unavailable")]
    Unavailable,
}

impl AuthError {
    fn failure(error: &(dyn std::error::Error + 'static)) -> Self {
        if unavailable_in(error) {
            Self::Unavailable
        } else {
            Self::Internal(error.to_string())
        }
    }
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NotSignedIn { .. } => StatusCode::SEE_OTHER,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::NotSignedIn { login_url } => HttpResponse::SeeOther()
                .insert_header((header::LOCATION, login_url.as_str()))
                .finish(),
            Self::Forbidden => HttpResponse::Forbidden()
                .content_type("text/html; charset=utf-8")
                .body(
                    "<!DOCTYPE html><title>Forbidden</title><h1>This page is for admins</h1>\
                     <p><a href=\"/admin\">Back to the dashboard</a></p>",
                ),
            Self::Unavailable => crate::web::outage::unavailable_page(),
            Self::Internal(detail) => {
                tracing::error!(error = %detail, "session check failed");
                HttpResponse::InternalServerError().body("Something went wrong on our side.")
            }
        }
    }
}

/// Starts a signed-in session for `user`: a new session id (no fixation), a new CSRF token.
pub fn start_session(
    session: &Session,
    user: &User,
) -> Result<(), actix_session::SessionInsertError> {
    session.renew();
    session.insert(USER_ID, user.id)?;
    session.insert(EPOCH, user.session_epoch)?;
    session.insert(LAST_SEEN, now_millis())?;
    session.insert(CSRF, random_csrf_token())?;
    Ok(())
}

/// The CSRF token of the session, creating one (also before sign-in, for the login form).
pub fn csrf_token(session: &Session) -> String {
    if let Ok(Some(token)) = session.get::<String>(CSRF) {
        return token;
    }
    let token = random_csrf_token();
    if let Err(error) = session.insert(CSRF, &token) {
        tracing::error!(%error, "cannot store a CSRF token in the session");
    }
    token
}

fn login_url(req: &HttpRequest) -> String {
    let next = req.uri().path_and_query().map_or("/admin", |p| p.as_str());
    format!(
        "/admin/login?next={}",
        url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
    )
}

async fn signed_in(req: HttpRequest) -> Result<SignedIn, AuthError> {
    let session = req.get_session();
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| AuthError::Internal("application state missing".into()))?
        .clone();
    let not_signed_in = || AuthError::NotSignedIn {
        login_url: login_url(&req),
    };
    let user_id = session
        .get::<i64>(USER_ID)
        .ok()
        .flatten()
        .ok_or_else(not_signed_in)?;
    let now = now_millis();
    let last_seen = session.get::<i64>(LAST_SEEN).ok().flatten().unwrap_or(0);
    if now - last_seen > millis(state.config.session_idle_timeout) {
        session.purge();
        return Err(not_signed_in());
    }
    let user = state
        .accounts
        .user(user_id)
        .await
        .map_err(|e| AuthError::failure(&e))?;
    let epoch = session.get::<i64>(EPOCH).ok().flatten();
    let Some(user) = user.filter(|u| !u.disabled && Some(u.session_epoch) == epoch) else {
        session.purge();
        return Err(not_signed_in());
    };
    session
        .insert(LAST_SEEN, now)
        .map_err(|e| AuthError::Internal(e.to_string()))?;
    let csrf_token = csrf_token(&session);
    Ok(SignedIn {
        user,
        csrf_token,
        session,
    })
}

impl FromRequest for SignedIn {
    type Error = AuthError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        Box::pin(signed_in(req.clone()))
    }
}

impl FromRequest for AdminOnly {
    type Error = AuthError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let signed_in = signed_in(req).await?;
            if signed_in.user.is_admin() {
                Ok(AdminOnly(signed_in))
            } else {
                Err(AuthError::Forbidden)
            }
        })
    }
}
