//! `/unsubscribe`: a GET shows one button; a POST unsubscribes at once. The POST
//! is also the RFC 8058 one-click target, so it needs no cookie, no CSRF token
//! and ignores the body (`List-Unsubscribe=One-Click`): the token is the proof.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};

use super::error::WebError;
use super::origin::request_origin;
use super::pages::{html, MessagePage, UnsubscribePage};
use super::AppState;
use crate::issues::is_test_copy_token;
use crate::subscriptions::domain::display_address;
use crate::subscriptions::{SubscriberStatus, SubscriptionError};

/// `?token=U&issue=N`: the link of a reader's copy names the issue it came
/// in, so the issue's report can count the unsubscribe. The number is not
/// signed; one that is not a number, or names no copy the reader was sent,
/// only goes uncounted (the token alone decides who leaves).
#[derive(Debug, serde::Deserialize)]
pub struct UnsubscribeParams {
    pub token: Option<String>,
    pub issue: Option<String>,
}

#[get("/unsubscribe")]
#[tracing::instrument(name = "unsubscribe_page", skip_all)]
pub async fn unsubscribe_page(
    query: Option<web::Query<UnsubscribeParams>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let (raw, issue) = params_of(query);
    if is_test_copy_token(&raw) {
        return html(
            StatusCode::OK,
            &UnsubscribePage {
                site: &state.site,
                email: "",
                token: raw.trim(),
                issue: None,
                test_copy: true,
            },
        );
    }
    match state.subscriptions.unsubscribe_target(&raw).await {
        Ok(Some(subscriber))
            if matches!(
                subscriber.status,
                SubscriberStatus::Pending | SubscriberStatus::Confirmed
            ) =>
        {
            html(
                StatusCode::OK,
                &UnsubscribePage {
                    site: &state.site,
                    // Stored as ASCII (punycode), shown as the reader wrote it.
                    email: &display_address(&subscriber.email),
                    token: raw.trim(),
                    issue,
                    test_copy: false,
                },
            )
        }
        Ok(_) => unsubscribed(&state),
        Err(SubscriptionError::InvalidUnsubscribeLink) => invalid_link(&state),
        Err(other) => Err(other.into()),
    }
}

#[post("/unsubscribe")]
#[tracing::instrument(name = "unsubscribe", skip_all)]
pub async fn unsubscribe(
    req: HttpRequest,
    query: Option<web::Query<UnsubscribeParams>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let (raw, issue) = params_of(query);
    if is_test_copy_token(&raw) {
        tracing::info!("unsubscribe link of a test copy used: nothing changed");
        return html(
            StatusCode::OK,
            &MessagePage::new(
                &state.site,
                "This was a test copy: nothing changed",
                &["A reader who unsubscribes with this link in their copy of the issue is unsubscribed at once and sees “You are unsubscribed”."],
            ),
        );
    }
    let origin = request_origin(&req, &state.config.trusted_proxies);
    match state.subscriptions.unsubscribe(&raw, issue, &origin).await {
        Ok(()) => {
            tracing::info!("unsubscribed");
            unsubscribed(&state)
        }
        Err(SubscriptionError::InvalidUnsubscribeLink) => invalid_link(&state),
        Err(other) => Err(other.into()),
    }
}

fn params_of(query: Option<web::Query<UnsubscribeParams>>) -> (String, Option<i64>) {
    let Some(params) = query.map(web::Query::into_inner) else {
        return (String::new(), None);
    };
    let issue = params.issue.and_then(|raw| raw.trim().parse().ok());
    (params.token.unwrap_or_default(), issue)
}

fn unsubscribed(state: &AppState) -> Result<HttpResponse, WebError> {
    html(
        StatusCode::OK,
        &MessagePage::new(
            &state.site,
            "You are unsubscribed",
            &["You will not receive any more issues. If this was a mistake, you can sign up again."],
        )
        .offering_signup(),
    )
}

fn invalid_link(state: &AppState) -> Result<HttpResponse, WebError> {
    html(
        StatusCode::BAD_REQUEST,
        &MessagePage::new(
            &state.site,
            "This unsubscribe link does not work",
            &["It may have been cut short when it was copied. Open it again from the email, or use the unsubscribe link of a more recent issue."],
        ),
    )
}
