//! `/unsubscribe`: a GET shows one button; a POST leaves at once. The POST
//! is also the RFC 8058 one-click target, so it needs no cookie, no CSRF token
//! and ignores the body (`List-Unsubscribe=One-Click`): the token is the proof.
//! The link of an issue's copy (`&issue=N`) leaves the issue's topics; without
//! it, or with `&all=1`, the reader leaves everything.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};

use super::error::WebError;
use super::origin::request_origin;
use super::pages::{html, Link, MessagePage, StatusPage, UnsubscribePage};
use super::AppState;
use crate::issues::is_test_copy_token;
use crate::issues::render::topics_label;
use crate::subscriptions::domain::display_address;
use crate::subscriptions::{Leave, Left, SubscriptionError};
use crate::topics::Topic;

/// `?token=U&issue=N`: the link of a reader's copy names the issue it came
/// in, so the issue's report can count the unsubscribe. The number is not
/// signed; one that is not a number, or names no copy the reader was sent,
/// only goes uncounted (the token alone decides who leaves). The issue also
/// decides what is left: its topics; `all=1` leaves everything whatever the issue.
#[derive(Debug, serde::Deserialize)]
pub struct UnsubscribeParams {
    pub token: Option<String>,
    pub issue: Option<String>,
    pub all: Option<String>,
}

#[get("/unsubscribe")]
#[tracing::instrument(name = "unsubscribe_page", skip_all)]
pub async fn unsubscribe_page(
    query: Option<web::Query<UnsubscribeParams>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let (raw, issue, all) = params_of(query);
    if is_test_copy_token(&raw) {
        return html(
            StatusCode::OK,
            &UnsubscribePage {
                site: &state.site,
                email: "",
                token: raw.trim(),
                issue: None,
                all: false,
                leaving: None,
                already_left: None,
                test_copy: true,
            },
        );
    }
    match state.subscriptions.unsubscribe_plan(&raw, issue, all).await {
        Ok(Some((subscriber, leave))) => {
            let (leaving, already_left) = match &leave {
                Leave::Everything => (None, None),
                Leave::Topics(topics) => (Some(label(topics)), None),
                Leave::AlreadyLeft(topics) => (None, Some(label(topics))),
            };
            html(
                StatusCode::OK,
                &UnsubscribePage {
                    site: &state.site,
                    // Stored as ASCII (punycode), shown as the reader wrote it.
                    email: &display_address(&subscriber.email),
                    token: raw.trim(),
                    // The issue goes on to the POST, which counts the
                    // leaving in its report; `all=1` where the page offers
                    // everything but the issue alone would not take it.
                    issue,
                    all: all || already_left.is_some(),
                    leaving,
                    already_left,
                    test_copy: false,
                },
            )
        }
        Ok(None) => unsubscribed(&state),
        Err(SubscriptionError::InvalidUnsubscribeLink) => invalid_link(&state),
        Err(other) => Err(other.into()),
    }
}

fn label(topics: &[Topic]) -> String {
    topics_label(topics.iter().map(|topic| topic.name.as_str()))
}

#[post("/unsubscribe")]
#[tracing::instrument(name = "unsubscribe", skip_all)]
pub async fn unsubscribe(
    req: HttpRequest,
    query: Option<web::Query<UnsubscribeParams>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let (raw, issue, all) = params_of(query);
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
    match state
        .subscriptions
        .unsubscribe(&raw, issue, all, &origin)
        .await
    {
        Ok(Left::Everything) => {
            tracing::info!("unsubscribed");
            unsubscribed(&state)
        }
        Ok(Left::Topics(topics)) => {
            tracing::info!("left topics");
            left_topics(&state, &raw, &label(&topics), "You have left")
        }
        Ok(Left::AlreadyLeft(topics)) => {
            left_topics(&state, &raw, &label(&topics), "You are no longer in")
        }
        Err(SubscriptionError::InvalidUnsubscribeLink) => invalid_link(&state),
        Err(other) => Err(other.into()),
    }
}

fn params_of(query: Option<web::Query<UnsubscribeParams>>) -> (String, Option<i64>, bool) {
    let Some(params) = query.map(web::Query::into_inner) else {
        return (String::new(), None, false);
    };
    let issue = params.issue.and_then(|raw| raw.trim().parse().ok());
    let all = params
        .all
        .is_some_and(|raw| matches!(raw.trim(), "1" | "true" | "yes"));
    (params.token.unwrap_or_default(), issue, all)
}

/// The reader is still on the list, in their other topics.
fn left_topics(
    state: &AppState,
    raw_token: &str,
    topics: &str,
    done: &str,
) -> Result<HttpResponse, WebError> {
    let token = raw_token.trim();
    let heading = format!("{done} {topics}");
    Ok(StatusPage {
        site: &state.site,
        heading: &heading,
        paragraphs: vec!["You stay subscribed to your other topics."],
        links: vec![
            Link::new(
                format!("/preferences?token={token}"),
                "Manage your preferences",
            ),
            Link::new(
                format!("/unsubscribe?token={token}&all=1"),
                "Leave everything",
            ),
        ],
    }
    .respond(StatusCode::OK))
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
