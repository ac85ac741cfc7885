//! `/preferences?token=U`: the preference centre (issue 14, item 3). The
//! token is the reader's keyed link (their unsubscribe token): it names no
//! id, works for their row only and dies with it. There is no login and no
//! session, so no CSRF token either: a POST without the reader's token
//! changes nothing, and a forged page cannot know it, so the token is both
//! the proof of who asks and the CSRF protection of these forms.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;

use super::error::WebError;
use super::origin::request_origin;
use super::pages::{html, MessagePage, Site};
use super::AppState;
use crate::audit::{Actor, AuditAction, AuditEntry};
use crate::issues::is_test_copy_token;
use crate::subscriptions::domain::display_address;
use crate::subscriptions::{
    ErasureLinkError, PreferenceChange, PreferenceError, Preferences, SubscriberName,
    SubscriberStatus, SubscriptionError,
};

#[derive(Debug, serde::Deserialize)]
pub struct TokenParams {
    pub token: Option<String>,
}

fn token_of(query: Option<web::Query<TokenParams>>) -> String {
    query
        .and_then(|query| query.into_inner().token)
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// A topic's checkbox.
pub struct TopicBox {
    pub slug: String,
    pub name: String,
    pub description: String,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "preferences.html")]
struct PreferencesPage<'a> {
    site: &'a Site,
    email: &'a str,
    token: &'a str,
    name: &'a str,
    name_error: Option<String>,
    topics: Vec<TopicBox>,
    topics_error: Option<String>,
    notice: Option<&'a str>,
}

/// The page of a reader who is not (or not yet) confirmed: what their
/// status means, and their data.
#[derive(Template)]
#[template(path = "preferences_closed.html")]
struct ClosedPage<'a> {
    site: &'a Site,
    heading: &'a str,
    paragraphs: Vec<&'a str>,
    offer_signup: bool,
    token: &'a str,
}

#[get("/preferences")]
#[tracing::instrument(name = "preferences_page", skip_all)]
pub async fn preferences_page(
    query: Option<web::Query<TokenParams>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let token = token_of(query);
    if is_test_copy_token(&token) {
        return html(
            StatusCode::OK,
            &MessagePage::new(
                &state.site,
                "Your preferences",
                &["This link came in a test copy. A reader who opens it from their copy of the issue sees their name and topics here, and can change them, download their data or erase it."],
            ),
        );
    }
    match state.subscriptions.preferences(&token).await {
        Ok(Some(preferences)) => show(&state, &token, &preferences, Form::Stored, None),
        Ok(None) => invalid_link(&state),
        Err(SubscriptionError::InvalidUnsubscribeLink) => invalid_link(&state),
        Err(other) => Err(other.into()),
    }
}

#[post("/preferences")]
#[tracing::instrument(name = "preferences_save", skip_all)]
pub async fn save_preferences(
    req: HttpRequest,
    query: Option<web::Query<TokenParams>>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let token = token_of(query);
    // `topics` comes once per ticked box, which a struct cannot take.
    let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) else {
        return html(
            StatusCode::BAD_REQUEST,
            &MessagePage::new(
                &state.site,
                "The form cannot be read",
                &["Open the page again from the link in your mail."],
            ),
        );
    };
    let name_raw = pairs
        .iter()
        .find(|(key, _)| key == "name")
        .map_or("", |(_, value)| value.as_str());
    let chosen: Vec<String> = pairs
        .iter()
        .filter(|(key, _)| key == "topics")
        .map(|(_, value)| value.clone())
        .collect();
    let preferences = match state.subscriptions.preferences(&token).await {
        Ok(Some(preferences)) => preferences,
        Ok(None) | Err(SubscriptionError::InvalidUnsubscribeLink) => return invalid_link(&state),
        Err(other) => return Err(other.into()),
    };
    let typed = Form::Typed {
        name: name_raw,
        chosen: &chosen,
    };
    let name = match SubscriberName::parse(name_raw) {
        Ok(name) => name,
        Err(error) => {
            let error = Problem::Name(error.to_string());
            return show(&state, &token, &preferences, typed, Some(error));
        }
    };
    let origin = request_origin(&req, &state.config.trusted_proxies);
    match state
        .subscriptions
        .save_preferences(&token, name.as_ref(), &chosen, &origin)
        .await
    {
        Ok(PreferenceChange::Saved) => match state.subscriptions.preferences(&token).await? {
            Some(saved) => show(&state, &token, &saved, Form::Saved, None),
            None => invalid_link(&state),
        },
        Ok(PreferenceChange::Unsubscribed) => html(
            StatusCode::OK,
            &MessagePage::new(
                &state.site,
                "You are unsubscribed",
                &["You left every topic, so you will not receive any more issues. If this was a mistake, you can sign up again."],
            )
            .offering_signup(),
        ),
        // The page they had was stale: show what holds now.
        Ok(PreferenceChange::NotConfirmed(_)) => {
            show(&state, &token, &preferences, Form::Stored, None)
        }
        Err(PreferenceError::UnknownTopics(unknown)) => {
            let error = Problem::Topics(format!(
                "{} Tick the topics this page offers.",
                unknown
            ));
            show(&state, &token, &preferences, typed, Some(error))
        }
        Err(PreferenceError::Subscription(SubscriptionError::InvalidUnsubscribeLink)) => {
            invalid_link(&state)
        }
        Err(PreferenceError::Subscription(other)) => Err(other.into()),
    }
}

/// What the form shows.
enum Form<'a> {
    /// What is stored.
    Stored,
    /// What is stored, just saved.
    Saved,
    /// What was sent, refused.
    Typed { name: &'a str, chosen: &'a [String] },
}

enum Problem {
    Name(String),
    Topics(String),
}

fn show(
    state: &AppState,
    token: &str,
    preferences: &Preferences,
    form: Form<'_>,
    problem: Option<Problem>,
) -> Result<HttpResponse, WebError> {
    let subscriber = &preferences.subscriber;
    match subscriber.status {
        SubscriberStatus::Confirmed => {}
        SubscriberStatus::Pending => {
            return closed(
                state,
                token,
                "Confirm your address first",
                &["We sent you a mail with a link to confirm your subscription. Once you confirm, this page lets you choose your topics and change your name."],
                false,
            )
        }
        SubscriberStatus::Unsubscribed | SubscriberStatus::Bounced => {
            return closed(
                state,
                token,
                "You are not subscribed",
                &["You left the list (or mail to your address could not be delivered), so you receive no issues. You can sign up again at any time."],
                true,
            )
        }
    }
    // What was sent back, when refused; else what is stored.
    let (name, chosen) = match form {
        Form::Typed { name, chosen } => (name, Some(chosen)),
        Form::Stored | Form::Saved => (subscriber.name.as_deref().unwrap_or(""), None),
    };
    let topics = preferences
        .topics
        .iter()
        .map(|offer| TopicBox {
            slug: offer.topic.slug.to_string(),
            name: offer.topic.name.clone(),
            description: offer.topic.description.clone(),
            checked: chosen.map_or(offer.member, |chosen| {
                chosen
                    .iter()
                    .any(|c| c.trim().eq_ignore_ascii_case(offer.topic.slug.as_str()))
            }),
        })
        .collect();
    let (name_error, topics_error) = match problem {
        Some(Problem::Name(error)) => (Some(error), None),
        Some(Problem::Topics(error)) => (None, Some(error)),
        None => (None, None),
    };
    let status = if name_error.is_some() || topics_error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    html(
        status,
        &PreferencesPage {
            site: &state.site,
            email: &display_address(&subscriber.email),
            token,
            name,
            name_error,
            topics,
            topics_error,
            notice: matches!(form, Form::Saved).then_some("Your preferences are saved."),
        },
    )
}

fn closed(
    state: &AppState,
    token: &str,
    heading: &str,
    paragraphs: &[&str],
    offer_signup: bool,
) -> Result<HttpResponse, WebError> {
    html(
        StatusCode::OK,
        &ClosedPage {
            site: &state.site,
            heading,
            paragraphs: paragraphs.to_vec(),
            offer_signup,
            token,
        },
    )
}

/// A forged or mangled token, or the link of a reader since erased.
pub(super) fn invalid_link(state: &AppState) -> Result<HttpResponse, WebError> {
    html(
        StatusCode::BAD_REQUEST,
        &MessagePage::new(
            &state.site,
            "This link does not work",
            &["It may have been cut short when it was copied. Open it again from the email, or use the link at the bottom of a more recent issue."],
        ),
    )
}

/// `GET /preferences/data?token=U`: everything held about the reader, as a
/// JSON file to save (GDPR articles 15 and 20). A GET changes nothing, and
/// this one only reads: a mail scanner that fetches it learns nothing the
/// mail's reader could not.
#[get("/preferences/data")]
#[tracing::instrument(name = "preferences_data", skip_all)]
pub async fn download_data(
    query: Option<web::Query<TokenParams>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let token = token_of(query);
    let data = match state.subscriptions.personal_data(&token).await {
        Ok(Some(data)) => data,
        Ok(None) | Err(SubscriptionError::InvalidUnsubscribeLink) => return invalid_link(&state),
        Err(other) => return Err(other.into()),
    };
    let body = serde_json::to_vec_pretty(&data)
        .map_err(|error| WebError::Subscription(SubscriptionError::Export(error.to_string())))?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header((
            "Content-Disposition",
            "attachment; filename=\"my-newsletter-data.json\"",
        ))
        .body(body))
}

/// `POST /preferences/erase?token=U`: the page's "Erase me" only sends the
/// mail whose link erases: whoever holds a forwarded issue holds its
/// reader's token, but not their inbox.
#[post("/preferences/erase")]
#[tracing::instrument(name = "preferences_erase_request", skip_all)]
pub async fn request_erasure(
    req: HttpRequest,
    query: Option<web::Query<TokenParams>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let token = token_of(query);
    let origin = request_origin(&req, &state.config.trusted_proxies);
    match state.subscriptions.request_erasure(&token, &origin).await {
        Ok(true) => html(
            StatusCode::OK,
            &MessagePage::new(
                &state.site,
                "Check your inbox",
                &["We sent you a mail with a link that erases your data. It works for 24 hours; nothing is erased before you open it and press the button."],
            ),
        ),
        Ok(false) => html(
            StatusCode::TOO_MANY_REQUESTS,
            &MessagePage::new(
                &state.site,
                "We sent you that mail already",
                &["Look for the mail with the link that erases your data (perhaps in your spam folder). You can ask again tomorrow."],
            ),
        ),
        Err(SubscriptionError::InvalidUnsubscribeLink) => invalid_link(&state),
        Err(other) => Err(other.into()),
    }
}

#[derive(Template)]
#[template(path = "erasure.html")]
struct ErasurePage<'a> {
    site: &'a Site,
    email: &'a str,
    token: &'a str,
}

/// `GET /preferences/erasure?token=E`, the link of the erasure mail: one
/// button; a GET changes nothing (mail scanners open links).
#[get("/preferences/erasure")]
#[tracing::instrument(name = "erasure_page", skip_all)]
pub async fn erasure_page(
    query: Option<web::Query<TokenParams>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let token = token_of(query);
    match state.subscriptions.erasure_target(&token).await {
        Ok(subscriber) => html(
            StatusCode::OK,
            &ErasurePage {
                site: &state.site,
                email: &display_address(&subscriber.email),
                token: &token,
            },
        ),
        Err(error) => erasure_refused(&state, error),
    }
}

#[post("/preferences/erasure")]
#[tracing::instrument(name = "erasure", skip_all)]
pub async fn erase(
    req: HttpRequest,
    query: Option<web::Query<TokenParams>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let token = token_of(query);
    match state.subscriptions.erase_by_link(&token).await {
        Ok(id) => {
            // As the admin's erasure records it: by number only.
            state
                .record_audit(
                    &req,
                    AuditEntry::new(Actor::Visitor, AuditAction::SubscriberErased)
                        .target(format!("subscriber #{id}"))
                        .detail("by the reader, confirmed by mail"),
                )
                .await;
            html(
                StatusCode::OK,
                &MessagePage::new(
                    &state.site,
                    "Your data is erased",
                    &["Your subscription and its history are gone; we keep only the count of erasures. You will receive nothing more from us."],
                )
                .offering_signup(),
            )
        }
        Err(error) => erasure_refused(&state, error),
    }
}

fn erasure_refused(state: &AppState, error: ErasureLinkError) -> Result<HttpResponse, WebError> {
    let (status, heading, paragraph) = match error {
        ErasureLinkError::Invalid => (
            StatusCode::BAD_REQUEST,
            "This link does not work",
            "It may have been cut short when it was copied. Open it again from the email.",
        ),
        ErasureLinkError::Expired => (
            StatusCode::GONE,
            "This link has expired",
            "Erasure links work for 24 hours. Ask again from the preferences link at the bottom of any issue.",
        ),
        ErasureLinkError::Gone => (
            StatusCode::GONE,
            "There is nothing to erase",
            "This address is not on record (any more): it was erased already.",
        ),
        ErasureLinkError::Admin(error) => {
            return Err(WebError::Subscription(SubscriptionError::Export(error.to_string())))
        }
        ErasureLinkError::Store(error) => return Err(error.into()),
    };
    html(
        status,
        &MessagePage::new(&state.site, heading, &[paragraph]),
    )
}
