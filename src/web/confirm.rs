//! `/subscriptions/confirm`: a GET shows the Confirm button and changes nothing
//! (mail scanners open links); only the POST confirms.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::error::WebError;
use super::origin::request_origin;
use super::pages::{html, ConfirmPage, MessagePage};
use super::AppState;
use crate::subscriptions::{ConfirmOutcome, ConfirmationToken, SubscriptionError, TokenProblem};

#[derive(Debug, Default, Deserialize)]
pub struct TokenParams {
    pub token: Option<String>,
}

#[get("/subscriptions/confirm")]
#[tracing::instrument(name = "confirm_page", skip_all)]
pub async fn confirm_page(
    query: Option<web::Query<TokenParams>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let raw = query.and_then(|q| q.into_inner().token).unwrap_or_default();
    let Some(token) = ConfirmationToken::parse(&raw) else {
        return token_problem_page(&state, TokenProblem::Unknown);
    };
    match state.subscriptions.check_confirmation(&token).await {
        Ok(ConfirmOutcome::Confirmed) => html(
            StatusCode::OK,
            &ConfirmPage {
                site: &state.site,
                token: token.as_str(),
            },
        ),
        Ok(ConfirmOutcome::AlreadyConfirmed) => already_confirmed(&state),
        Err(SubscriptionError::Token(problem)) => token_problem_page(&state, problem),
        Err(other) => Err(other.into()),
    }
}

#[post("/subscriptions/confirm")]
#[tracing::instrument(name = "confirm", skip_all)]
pub async fn confirm(
    req: HttpRequest,
    form: Option<web::Form<TokenParams>>,
    query: Option<web::Query<TokenParams>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let raw = form
        .and_then(|f| f.into_inner().token)
        .or_else(|| query.and_then(|q| q.into_inner().token))
        .unwrap_or_default();
    let Some(token) = ConfirmationToken::parse(&raw) else {
        return token_problem_page(&state, TokenProblem::Unknown);
    };
    let origin = request_origin(&req, &state.config.trusted_proxies);
    match state.subscriptions.confirm(&token, &origin).await {
        Ok(ConfirmOutcome::Confirmed) => {
            tracing::info!("subscription confirmed");
            html(
                StatusCode::OK,
                &MessagePage::new(
                    &state.site,
                    "You are subscribed",
                    &[
                        "Thank you for confirming. The next issue will arrive in your inbox.",
                        "Every issue has a link at the bottom to unsubscribe with one click.",
                    ],
                ),
            )
        }
        Ok(ConfirmOutcome::AlreadyConfirmed) => already_confirmed(&state),
        Err(SubscriptionError::Token(problem)) => token_problem_page(&state, problem),
        Err(other) => Err(other.into()),
    }
}

fn already_confirmed(state: &AppState) -> Result<HttpResponse, WebError> {
    html(
        StatusCode::OK,
        &MessagePage::new(
            &state.site,
            "You're already subscribed",
            &["This address is confirmed; there is nothing more to do. The next issue will arrive in your inbox."],
        ),
    )
}

/// A link that does not work: say why, and offer to sign up again.
fn token_problem_page(state: &AppState, problem: TokenProblem) -> Result<HttpResponse, WebError> {
    let (status, heading, detail) = match problem {
        TokenProblem::Unknown => (
            StatusCode::BAD_REQUEST,
            "This link does not work",
            "It may have been cut short when it was copied. Open the link from the email again, or sign up again for a new one.",
        ),
        TokenProblem::Expired => (
            StatusCode::GONE,
            "This link has expired",
            "Confirmation links work for a limited time. Sign up again and we will send you a new one.",
        ),
        TokenProblem::Used => (
            StatusCode::GONE,
            "This link has already been used",
            "Each confirmation link works once, and this address is not on the list any more. Sign up again to get a new link.",
        ),
        TokenProblem::Withdrawn => (
            StatusCode::GONE,
            "This link no longer works",
            "The address left the list after this link was sent. Sign up again to come back.",
        ),
    };
    html(
        status,
        &MessagePage::new(&state.site, heading, &[detail]).offering_signup(),
    )
}
