//! `GET /` (the signup form) and `POST /subscriptions` (form or JSON).

use std::collections::BTreeMap;

use actix_web::http::{header, StatusCode};
use actix_web::{get, web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;

use super::error::WebError;
use super::origin::{client_ip, request_origin, wants_json};
use super::pages::{html, FieldBox, Link, MessagePage, SignupPage, TopicBox};
use super::rate_limit::wait_in_words;
use super::AppState;
use crate::fields::{check_values, FieldValueError, RawValue, Scope};
use crate::subscriptions::domain::{
    display_address, suggest_correction, suggest_for_raw, EmailError,
};
use crate::subscriptions::{SubscriberEmail, SubscriberName, SubscriptionError};
use crate::telemetry;
use crate::topics::{TopicChoiceError, UnknownTopics};

/// What the "wrong address?" link of the check-your-inbox page brings back.
#[derive(Debug, Default, Deserialize)]
pub struct Prefill {
    email: Option<String>,
    name: Option<String>,
}

#[get("/")]
#[tracing::instrument(name = "signup_page", skip_all)]
pub async fn signup_page(
    query: Option<web::Query<Prefill>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let prefill = query.map(web::Query::into_inner).unwrap_or_default();
    let topics = topic_boxes(&state, &[]).await?;
    let fields = field_boxes(&state, &BTreeMap::new(), &[]).await?;
    html(
        StatusCode::OK,
        &SignupPage::blank(
            &state.site,
            prefill.email.as_deref().unwrap_or(""),
            prefill.name.as_deref().unwrap_or(""),
        )
        .with_topics(topics)
        .with_fields(fields),
    )
}

/// The fields a signup may carry; all optional here so that a missing one is
/// reported like any other invalid field.
#[derive(Debug, Default, Deserialize)]
struct SignupRequest {
    email: Option<String>,
    name: Option<String>,
    /// The honeypot: hidden from people, filled in by naive bots.
    website: Option<String>,
    /// The address we suggested a correction for. Sent back unchanged, it
    /// means the visitor insists the address is right.
    checked: Option<String>,
    /// The corrected address, from the "Use …" button next to a suggestion.
    #[serde(rename = "use")]
    use_suggestion: Option<String>,
    /// Slugs of the public topics chosen; none: the ones on by default.
    /// A form sends one `topics` field per ticked box.
    #[serde(default)]
    topics: Vec<String>,
    /// Public custom fields' values by key: `"fields": {"company": "Acme"}`
    /// in JSON, `fields[company]=Acme` in a form.
    #[serde(default)]
    fields: BTreeMap<String, serde_json::Value>,
}

impl SignupRequest {
    /// The address to sign up: the suggestion if its button was pressed,
    /// unless the field was edited since (Enter in the field presses the
    /// form's first button, which may be the suggestion's).
    fn chosen_email(&self) -> &str {
        let typed = self.email.as_deref().unwrap_or("");
        match (&self.use_suggestion, &self.checked) {
            (Some(suggestion), Some(checked)) if checked.trim() == typed.trim() => suggestion,
            _ => typed,
        }
    }

    fn insists_on(&self, typed: &str) -> bool {
        self.checked
            .as_deref()
            .is_some_and(|checked| checked.trim() == typed.trim())
    }
}

/// A problem with one field, named so the form can show it next to the field.
struct FieldError {
    field: &'static str,
    message: String,
}

/// `POST /subscriptions`, routed in `web::routes` with its CORS policy.
#[tracing::instrument(name = "subscribe", skip_all)]
pub async fn subscribe(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let json = wants_json(&req);
    if let Some(ip) = client_ip(&req, &state.config.trusted_proxies) {
        if let Err(wait) = state.signup_limiter.check(ip) {
            let seconds = wait.as_secs() + 1;
            tracing::info!(retry_after = seconds, "signup rate limit reached");
            metrics::counter!(telemetry::SIGNUPS_DROPPED, "reason" => "rate_limited").increment(1);
            // "Your address" would read as the email address; the limit is on the network.
            return refuse(
                &state,
                json,
                StatusCode::TOO_MANY_REQUESTS,
                &format!(
                    "Too many signups came from your network in the last minute. Please try again {}.",
                    wait_in_words(wait)
                ),
            )
            .map(|mut response| {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
                response
            });
        }
    }

    let body = match read_limited(payload, state.config.max_body_bytes).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            let message = format!(
                "The request is larger than the {} bytes a signup may have.",
                state.config.max_body_bytes
            );
            return refuse(&state, json, StatusCode::PAYLOAD_TOO_LARGE, &message);
        }
        Err(BodyError::Broken(why)) => {
            return refuse(&state, json, StatusCode::BAD_REQUEST, &why);
        }
    };
    let request: SignupRequest = match parse_body(&req, &body) {
        Ok(request) => request,
        Err((status, message)) => return refuse(&state, json, status, &message),
    };

    if request
        .website
        .as_deref()
        .is_some_and(|v| !v.trim().is_empty())
    {
        tracing::info!("honeypot field filled in; signup dropped");
        metrics::counter!(telemetry::SIGNUPS_DROPPED, "reason" => "honeypot").increment(1);
        if json {
            return Ok(HttpResponse::Ok().json(json!({ "status": "pending" })));
        }
        // Looks like a real signup's answer, so the bot learns nothing.
        let typed = SubscriberEmail::parse(request.email.as_deref().unwrap_or("")).ok();
        return check_your_inbox(&state, typed.as_ref());
    }

    let email_raw = request.chosen_email();
    let name_raw = request.name.as_deref().unwrap_or("");
    let mut suggestion = None;
    let email = SubscriberEmail::parse(email_raw).map_err(|e| {
        if e == EmailError::NoDotInDomain {
            suggestion = suggest_for_raw(email_raw);
        }
        FieldError {
            field: "email",
            message: e.to_string(),
        }
    });
    let name = SubscriberName::parse(name_raw).map_err(|e| FieldError {
        field: "name",
        message: e.to_string(),
    });
    let (email, name) = match (email, name) {
        (Ok(email), Ok(name)) => (email, name),
        (email, name) => {
            let email_error = email.err();
            let name_error = name.err();
            if json {
                let first = email_error.or(name_error).expect("one of them failed");
                let mut body = json!({ "error": first.message, "field": first.field });
                if let Some(suggestion) = suggestion.filter(|_| first.field == "email") {
                    body["suggestion"] = json!(suggestion);
                }
                return Ok(HttpResponse::BadRequest().json(body));
            }
            let topics = topic_boxes(&state, &request.topics).await?;
            let fields = field_boxes(&state, &request.fields, &[]).await?;
            return html(
                StatusCode::BAD_REQUEST,
                &SignupPage {
                    email_error: email_error.map(|e| e.message),
                    name_error: name_error.map(|e| e.message),
                    suggestion,
                    ..SignupPage::blank(&state.site, email_raw, name_raw)
                        .with_topics(topics)
                        .with_fields(fields)
                },
            );
        }
    };

    // A likely typo is asked about once; the JSON API never refuses for it.
    let correction = suggest_correction(&email).map(|better| better.as_str().to_owned());
    if let Some(better) = &correction {
        if !json && !request.insists_on(email_raw) {
            let topics = topic_boxes(&state, &request.topics).await?;
            let fields = field_boxes(&state, &request.fields, &[]).await?;
            return html(
                StatusCode::OK,
                &SignupPage {
                    suggestion: Some(better.clone()),
                    ..SignupPage::blank(&state.site, email_raw, name_raw)
                        .with_topics(topics)
                        .with_fields(fields)
                },
            );
        }
    }

    // Which topics exist says nothing about the address: checked here, so
    // that a bad slug is refused before anything is written.
    let topics = match state.topics.choose(&request.topics).await {
        Ok(topics) => topics,
        Err(TopicChoiceError::Unknown(unknown)) => {
            let form = (email_raw, name_raw, request.topics.as_slice());
            return refuse_topics(&state, json, &unknown, form, &request.fields).await;
        }
        Err(TopicChoiceError::Store(error)) => return Err(SubscriptionError::from(error).into()),
    };
    // Like the topics: what the fields are says nothing about the address.
    let all_fields = state.fields.all().await.map_err(SubscriptionError::from)?;
    let raw: Vec<(String, RawValue<'_>)> = request
        .fields
        .iter()
        .map(|(key, value)| (key.clone(), RawValue::Json(value)))
        .collect();
    let values = match check_values(&all_fields, &raw, Scope::Signup) {
        Ok(values) => values,
        Err(errors) => {
            let form = (email_raw, name_raw, request.topics.as_slice());
            return refuse_fields(&state, json, &errors, form, &request.fields).await;
        }
    };

    // The same work whatever the address's state (issue 10, item 12): one
    // row queued; the state-dependent rest happens after the answer.
    let origin = request_origin(&req, &state.config.trusted_proxies);
    state
        .subscriptions
        .request_signup(&email, name.as_ref(), &topics, &values, &origin)
        .await
        .map_err(SubscriptionError::from)?;
    if json {
        let mut body = json!({ "status": "pending" });
        if let Some(better) = correction {
            body["suggestion"] = json!(better);
        }
        return Ok(HttpResponse::Ok().json(body));
    }
    // The same answer whatever the address's state: nobody learns who is subscribed.
    check_your_inbox(&state, Some(&email))
}

/// The topics' checkboxes of the form, ticked as `chosen` says.
async fn topic_boxes(state: &AppState, chosen: &[String]) -> Result<Vec<TopicBox>, WebError> {
    let public = state
        .topics
        .public()
        .await
        .map_err(SubscriptionError::from)?;
    Ok(TopicBox::for_form(&public, chosen))
}

/// A signup naming topics nobody may choose: 422 naming them, nothing
/// stored. `form` is what was typed: address, name and topics.
async fn refuse_topics(
    state: &AppState,
    json: bool,
    unknown: &UnknownTopics,
    (email, name, chosen): (&str, &str, &[String]),
    given: &BTreeMap<String, serde_json::Value>,
) -> Result<HttpResponse, WebError> {
    tracing::info!(topics = ?unknown.0, "signup with unknown topics refused");
    if json {
        let body = json!({ "error": unknown.to_string(), "field": "topics", "unknown": unknown.0 });
        return Ok(HttpResponse::UnprocessableEntity().json(body));
    }
    let topics = topic_boxes(state, chosen).await?;
    let fields = field_boxes(state, given, &[]).await?;
    html(
        StatusCode::UNPROCESSABLE_ENTITY,
        &SignupPage {
            topics_error: Some(unknown.to_string()),
            ..SignupPage::blank(&state.site, email, name)
                .with_topics(topics)
                .with_fields(fields)
        },
    )
}

/// The public custom fields' inputs, filled in from `given`, with `errors`.
async fn field_boxes(
    state: &AppState,
    given: &BTreeMap<String, serde_json::Value>,
    errors: &[FieldValueError],
) -> Result<Vec<FieldBox>, WebError> {
    let public = state
        .fields
        .public()
        .await
        .map_err(SubscriptionError::from)?;
    Ok(FieldBox::for_form(&public, given, errors))
}

/// A signup whose custom field values do not fit: 422 naming the field
/// (each one, on the form), nothing stored.
async fn refuse_fields(
    state: &AppState,
    json: bool,
    errors: &[FieldValueError],
    (email, name, chosen): (&str, &str, &[String]),
    given: &BTreeMap<String, serde_json::Value>,
) -> Result<HttpResponse, WebError> {
    let keys: Vec<&str> = errors.iter().map(FieldValueError::key).collect();
    tracing::info!(fields = ?keys, "signup with invalid field values refused");
    if json {
        let first = &errors[0];
        let body = json!({
            "error": first.to_string(),
            "field": format!("fields.{}", first.key()),
            "fields": errors
                .iter()
                .map(|error| (error.key().to_owned(), error.to_string()))
                .collect::<BTreeMap<_, _>>(),
        });
        return Ok(HttpResponse::UnprocessableEntity().json(body));
    }
    let topics = topic_boxes(state, chosen).await?;
    let fields = field_boxes(state, given, errors).await?;
    let unknown: Vec<String> = errors
        .iter()
        .filter(|error| matches!(error, FieldValueError::Unknown(_)))
        .map(ToString::to_string)
        .collect();
    html(
        StatusCode::UNPROCESSABLE_ENTITY,
        &SignupPage {
            fields_error: (!unknown.is_empty()).then(|| unknown.join(" ")),
            ..SignupPage::blank(&state.site, email, name)
                .with_topics(topics)
                .with_fields(fields)
        },
    )
}

/// Shows the address back, so a visitor can spot a typo and correct it.
fn check_your_inbox(
    state: &AppState,
    sent_to: Option<&SubscriberEmail>,
) -> Result<HttpResponse, WebError> {
    let mut page = MessagePage::new(
        &state.site,
        "Check your inbox",
        &[
            "Open the email we sent and press its button to confirm your subscription.",
            "If it does not arrive within a few minutes, look in your spam folder.",
        ],
    );
    if let Some(email) = sent_to {
        let shown = display_address(email.as_str()).into_owned();
        let query = serde_urlencoded::to_string([("email", shown.as_str())]).unwrap_or_default();
        page = page.sent_to(
            shown,
            Link::new(
                format!("/?{query}"),
                "Wrong address? Correct it on the signup form",
            ),
        );
    }
    html(StatusCode::OK, &page)
}

fn refuse(
    state: &AppState,
    json: bool,
    status: StatusCode,
    message: &str,
) -> Result<HttpResponse, WebError> {
    if json {
        return Ok(HttpResponse::build(status).json(json!({ "error": message })));
    }
    html(
        status,
        &MessagePage::new(&state.site, "We could not take your signup", &[message])
            .linking(Link::new("/", "Back to the signup form")),
    )
}

fn parse_body(req: &HttpRequest, body: &[u8]) -> Result<SignupRequest, (StatusCode, String)> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/x-www-form-urlencoded");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => serde_json::from_slice(body).map_err(|e| {
            (
                StatusCode::BAD_REQUEST,
                format!(
                    "The body is not the JSON object {{\"email\", \"name\", \"topics\", \"fields\"}} we expect: {e}"
                ),
            )
        }),
        "application/x-www-form-urlencoded" | "" => parse_form(body)
            .map_err(|e| (StatusCode::BAD_REQUEST, format!("The form data cannot be read: {e}"))),
        other => Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Send the signup as application/x-www-form-urlencoded or application/json, not {other}."
            ),
        )),
    }
}

/// A form's fields; `topics` comes once per ticked box, which
/// `serde_urlencoded` cannot put in a list itself.
fn parse_form(body: &[u8]) -> Result<SignupRequest, serde_urlencoded::de::Error> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)?;
    let (topics, rest): (Vec<_>, Vec<_>) = pairs.into_iter().partition(|(key, _)| key == "topics");
    let (fields, rest): (Vec<_>, Vec<_>) = rest
        .into_iter()
        .partition(|(key, _)| form_field_key(key).is_some());
    let rest = serde_urlencoded::to_string(&rest)
        .map_err(|e| <serde_urlencoded::de::Error as serde::de::Error>::custom(e.to_string()))?;
    let mut request: SignupRequest = serde_urlencoded::from_str(&rest)?;
    request.topics = topics
        .into_iter()
        .map(|(_, slug)| slug)
        .filter(|slug| !slug.trim().is_empty())
        .collect();
    request.fields = fields
        .into_iter()
        .filter_map(|(key, value)| {
            Some((
                form_field_key(&key)?.to_owned(),
                serde_json::Value::String(value),
            ))
        })
        .collect();
    Ok(request)
}

/// `company` of a form input named `fields[company]`.
fn form_field_key(name: &str) -> Option<&str> {
    name.strip_prefix("fields[")?.strip_suffix(']')
}

enum BodyError {
    TooLarge,
    Broken(String),
}

/// Reads the body, stopping as soon as it passes `limit` bytes.
async fn read_limited(mut payload: web::Payload, limit: usize) -> Result<Vec<u8>, BodyError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| BodyError::Broken(format!("The request body broke off: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
