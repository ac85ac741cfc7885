//! Who is signed in to the admin pages. The encrypted, HttpOnly cookie
//! (actix-session) carries a random session key and the CSRF token; the
//! session itself is a row on the server (`accounts::sessions`), which decides:
//! the row must exist (sign-out, a password change, a disable, a removal and
//! "sign out everywhere" delete it), the account must be enabled, and the
//! session must have been active within the idle timeout.

use std::future::Future;
use std::pin::Pin;

use actix_session::{Session, SessionExt};
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};

use crate::accounts::User;
use crate::audit::Actor;
use crate::config::random_token as random_csrf_token;
use crate::store::{now_millis, unavailable_in};
use crate::web::error::WebError;
use crate::web::AppState;

/// The random key of the server-side session.
const SESSION_KEY: &str = "sk";
/// Between the password and the one-time code: (account id, when the password
/// was right). Only the encrypted cookie holds it; it signs nobody in.
const PENDING_SECOND_FACTOR: &str = "2fa";
/// How long the code may take to type after the password.
const SECOND_FACTOR_WAIT: std::time::Duration = std::time::Duration::from_secs(5 * 60);
/// Where an account that must set up two-factor sign-in is sent.
pub const TWO_FACTOR_SETUP_PAGE: &str = "/admin/account#two-factor";
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
    /// The one-time message left by the action that redirected here.
    pub flash: Option<Flash>,
}

/// Where the one-time message waits in the session between a POST and the
/// page it redirects to (post/redirect/get).
const FLASH: &str = "flash";

/// A one-time message shown on the next admin page, after a redirect: what an
/// action did, or why it did nothing.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Flash {
    pub kind: FlashKind,
    pub text: String,
}

#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub enum FlashKind {
    Notice,
    Error,
}

impl Flash {
    pub fn is_error(&self) -> bool {
        self.kind == FlashKind::Error
    }
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
            flash: self.take_flash(),
        }
    }

    /// Redirects (303) to `location` and leaves `text` for the page there:
    /// a refresh of that page repeats nothing and shows the message once.
    pub fn redirect_with_notice(&self, location: &str, text: impl Into<String>) -> HttpResponse {
        self.leave_flash(FlashKind::Notice, text.into());
        super::see_other(location)
    }

    /// Like `redirect_with_notice`, for an action that was refused.
    pub fn redirect_with_error(&self, location: &str, text: impl Into<String>) -> HttpResponse {
        self.leave_flash(FlashKind::Error, text.into());
        super::see_other(location)
    }

    fn leave_flash(&self, kind: FlashKind, text: String) {
        if let Err(error) = self.session.insert(FLASH, Flash { kind, text }) {
            // The action itself is done; only its message is lost.
            tracing::warn!(%error, "cannot keep the message for the next page");
        }
    }

    /// The waiting message, removed so that it shows once.
    pub fn take_flash(&self) -> Option<Flash> {
        self.session.remove_as::<Flash>(FLASH).and_then(Result::ok)
    }
}

impl SignedIn {
    /// Who the audit log names for what this session does.
    pub fn actor(&self) -> Actor {
        Actor::from(&self.user)
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
    #[error("set up two-factor sign-in first")]
    TwoFactorRequired,
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
            Self::NotSignedIn { .. } | Self::TwoFactorRequired => StatusCode::SEE_OTHER,
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
            Self::TwoFactorRequired => HttpResponse::SeeOther()
                .insert_header((header::LOCATION, TWO_FACTOR_SETUP_PAGE))
                .finish(),
            Self::Forbidden => crate::web::pages::forbidden_page(),
            Self::Unavailable => crate::web::outage::unavailable_page(),
            Self::Internal(detail) => {
                tracing::error!(error = %detail, "session check failed");
                HttpResponse::InternalServerError().body("Something went wrong on our side.")
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("cannot record the session: {0}")]
    Store(#[from] sqlx::Error),
    #[error("cannot write the session cookie: {0}")]
    Cookie(#[from] actix_session::SessionInsertError),
}

impl From<SessionError> for WebError {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::Store(error) => Self::Store(error),
            SessionError::Cookie(error) => Self::Session(error.to_string()),
        }
    }
}

/// Starts a signed-in session for `user`: a new server-side session with a
/// new key (no fixation), a new CSRF token.
pub async fn start_session(
    state: &AppState,
    session: &Session,
    user: &User,
) -> Result<(), SessionError> {
    let key = state
        .accounts
        .start_session(user.id, state.config.session_idle_timeout)
        .await?;
    session.renew();
    session.clear();
    session.insert(SESSION_KEY, key)?;
    session.insert(CSRF, random_csrf_token())?;
    Ok(())
}

/// The password was right for an account that signs in with a code too: the
/// cookie remembers whose code to ask for, and nothing else.
pub fn await_second_factor(session: &Session, user: &User) -> Result<(), SessionError> {
    session.renew();
    session.clear();
    session.insert(PENDING_SECOND_FACTOR, (user.id, now_millis()))?;
    session.insert(CSRF, random_csrf_token())?;
    Ok(())
}

/// The account whose password was right in this browser within the last few
/// minutes and whose code is awaited.
pub fn pending_second_factor(session: &Session) -> Option<i64> {
    let (user_id, since) = session
        .get::<(i64, i64)>(PENDING_SECOND_FACTOR)
        .ok()
        .flatten()?;
    (now_millis() - since <= crate::store::millis(SECOND_FACTOR_WAIT)).then_some(user_id)
}

/// Signs out: the server-side session ends, so a copy of the cookie is worthless.
pub async fn end_session(state: &AppState, session: &Session) -> Result<(), sqlx::Error> {
    if let Ok(Some(key)) = session.get::<String>(SESSION_KEY) {
        state.accounts.end_session(&key).await?;
    }
    session.purge();
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
    let key = session
        .get::<String>(SESSION_KEY)
        .ok()
        .flatten()
        .ok_or_else(not_signed_in)?;
    let user = state
        .accounts
        .session_user(&key, state.config.session_idle_timeout)
        .await
        .map_err(|e| AuthError::failure(&e))?;
    let Some(user) = user else {
        session.purge();
        return Err(not_signed_in());
    };
    // An account that must use two-factor sign-in and has not set it up yet
    // reaches only its account page, where it sets it up.
    if state.config.require_two_factor.requires(user.role)
        && !user.two_factor
        && !req.path().starts_with("/admin/account")
    {
        return Err(AuthError::TwoFactorRequired);
    }
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
