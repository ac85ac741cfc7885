//! `/api/v1/subscribers`: the list (keyset pages, search, status filter), one
//! subscriber with their history, adding one, and erasure. Reading and erasing
//! take an admin token: the list and its consent evidence are not editors'
//! (docs/security/web.md). Any token may add a pending subscriber, who gets
//! the confirmation mail as from the signup form.

use actix_web::http::header;
use std::collections::BTreeMap;

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::{json_body, ApiCaller, ApiError, ErrorBody};
use crate::audit::{AuditAction, AuditEntry};
use crate::fields::{self as custom_fields, FieldValueError, RawValue, Scope};
use crate::store::timestamps;
use crate::subscriptions::admin::{
    Actor, AdminError, Admission, ConsentNote, HistoryEntry, ListQuery, SearchTerm,
    SubscriberDetail, SubscriberRow, MAX_PAGE_SIZE,
};
use crate::subscriptions::{SubscriberEmail, SubscriberName, SubscriberStatus};
use crate::web::origin::request_origin;
use crate::web::AppState;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_subscribers)
        .service(add_subscriber)
        .service(get_subscriber)
        .service(update_subscriber_fields)
        .service(erase_subscriber);
}

/// A subscriber.
#[derive(Debug, Serialize, ToSchema)]
pub struct Subscriber {
    pub id: i64,
    pub email: String,
    pub name: Option<String>,
    /// pending, confirmed, unsubscribed or bounced
    pub status: String,
    /// RFC 3339
    pub created_at: String,
}

impl From<SubscriberRow> for Subscriber {
    fn from(row: SubscriberRow) -> Self {
        Self {
            id: row.id,
            email: row.email,
            name: row.name,
            status: row.status.as_str().to_owned(),
            created_at: timestamps::rfc3339(row.created_at),
        }
    }
}

/// A page of the list, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriberList {
    pub items: Vec<Subscriber>,
    /// Pass as `after` for the next page; null on the last page.
    pub next: Option<i64>,
}

/// One step of a subscriber's history (consent evidence).
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryItem {
    /// signed_up, confirmed, unsubscribed, imported, added, confirmation_resent, …
    pub kind: String,
    /// RFC 3339
    pub at: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// e.g. the consent note of an import, or which admin acted
    pub note: Option<String>,
    /// The slugs of the topics this step covered (a signup's choice, what a
    /// confirmation agreed to), as they were then; empty for other steps.
    pub topics: Vec<String>,
}

impl From<HistoryEntry> for HistoryItem {
    fn from(entry: HistoryEntry) -> Self {
        Self {
            kind: entry.kind,
            at: timestamps::rfc3339(entry.at),
            ip: entry.ip,
            user_agent: entry.user_agent,
            note: entry.note,
            topics: entry.topics,
        }
    }
}

/// A subscriber with their history, oldest step first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriberWithHistory {
    pub id: i64,
    pub email: String,
    pub name: Option<String>,
    pub status: String,
    pub created_at: String,
    /// The slugs of the topics they are in; in effect while `confirmed`.
    pub topics: Vec<String>,
    /// Every custom field (public and internal) by key: a string (text,
    /// choice, date `YYYY-MM-DD`), a number, true/false (yes/no), or null
    /// when they have no value.
    #[schema(value_type = Object)]
    pub fields: BTreeMap<String, serde_json::Value>,
    pub history: Vec<HistoryItem>,
}

impl From<SubscriberDetail> for SubscriberWithHistory {
    fn from(detail: SubscriberDetail) -> Self {
        let s = Subscriber::from(detail.subscriber);
        Self {
            id: s.id,
            email: s.email,
            name: s.name,
            status: s.status,
            created_at: s.created_at,
            topics: detail.topics,
            fields: detail
                .fields
                .iter()
                .map(|(field, value)| {
                    let value = value
                        .as_ref()
                        .map_or(serde_json::Value::Null, |v| v.to_json());
                    (field.key().to_string(), value)
                })
                .collect(),
            history: detail.history.into_iter().map(HistoryItem::from).collect(),
        }
    }
}

/// Query of the list; every parameter is optional.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// pending, confirmed, unsubscribed or bounced
    status: Option<String>,
    /// Addresses starting with it, or names with words starting with its words.
    q: Option<String>,
    /// The `next` of the previous page.
    #[param(value_type = Option<i64>)]
    after: Option<String>,
    /// Rows per page, 1 to 500 (default 50).
    #[param(value_type = Option<i64>)]
    limit: Option<String>,
}

fn list_query(params: ListParams) -> Result<ListQuery, ApiError> {
    let mut query = ListQuery {
        search: params.q.as_deref().and_then(SearchTerm::parse),
        ..ListQuery::default()
    };
    if let Some(status) = params.status.filter(|s| !s.is_empty()) {
        query.status = Some(status.parse::<SubscriberStatus>().map_err(|_| {
            ApiError::invalid(
                "status",
                "status is one of pending, confirmed, unsubscribed, bounced",
            )
        })?);
    }
    if let Some(after) = params.after.filter(|a| !a.is_empty()) {
        query.after = Some(after.parse().map_err(|_| {
            ApiError::invalid("after", "after is the `next` value of the previous page")
        })?);
    }
    if let Some(limit) = params.limit.filter(|l| !l.is_empty()) {
        query.limit = limit
            .parse::<i64>()
            .ok()
            .filter(|l| (1..=MAX_PAGE_SIZE).contains(l))
            .ok_or_else(|| {
                ApiError::invalid("limit", format!("limit is from 1 to {MAX_PAGE_SIZE}"))
            })?;
    }
    Ok(query)
}

/// The subscriber list, newest first, a page at a time. Admin tokens only.
#[utoipa::path(
    tag = "subscribers",
    params(ListParams),
    responses(
        (status = 200, description = "A page of subscribers", body = SubscriberList),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Needs an admin token", body = ErrorBody),
        (status = 422, description = "A parameter is invalid; `field` names it", body = ErrorBody),
    )
)]
#[get("/subscribers")]
#[tracing::instrument(name = "api_list_subscribers", skip_all)]
async fn list_subscribers(
    state: web::Data<AppState>,
    caller: ApiCaller,
    params: web::Query<ListParams>,
) -> Result<web::Json<SubscriberList>, ApiError> {
    caller.require_admin()?;
    let query = list_query(params.into_inner())?;
    let page = state.subscriptions.list(&query).await?;
    Ok(web::Json(SubscriberList {
        items: page.items.into_iter().map(Subscriber::from).collect(),
        next: page.next,
    }))
}

/// A new subscriber.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewSubscriber {
    pub email: String,
    #[serde(default)]
    pub name: Option<String>,
    /// `pending` (default: a confirmation mail is sent) or `confirmed`
    /// (admin tokens only, with a `consent_note`).
    #[serde(default)]
    pub status: Option<String>,
    /// How the person gave consent; required with `confirmed`, kept in the history.
    #[serde(default)]
    pub consent_note: Option<String>,
    /// Custom field values by key (public or internal); every required field must be given.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub fields: BTreeMap<String, serde_json::Value>,
}

/// A subscriber's custom field values to change.
#[derive(Debug, Deserialize, ToSchema)]
pub struct FieldsUpdate {
    /// By key: the new value, or null to remove it (a required field cannot
    /// be removed). Fields not named keep their value.
    #[schema(value_type = Object)]
    pub fields: BTreeMap<String, serde_json::Value>,
}

/// Checks JSON values against every field; the first problem names its field.
async fn checked_fields(
    state: &AppState,
    given: &BTreeMap<String, serde_json::Value>,
    scope: Scope,
) -> Result<custom_fields::CheckedValues, ApiError> {
    let fields = state.fields.all().await?;
    let raw: Vec<(String, RawValue<'_>)> = given
        .iter()
        .map(|(key, value)| (key.clone(), RawValue::Json(value)))
        .collect();
    custom_fields::check_values(&fields, &raw, scope).map_err(|errors| field_refusal(&errors))
}

/// 422 naming the first field at fault.
pub fn field_refusal(errors: &[FieldValueError]) -> ApiError {
    match errors.first() {
        Some(first) => ApiError::invalid(&format!("fields.{}", first.key()), first),
        None => ApiError::invalid("fields", "the fields are invalid"),
    }
}

fn subscriber_not_found() -> ApiError {
    ApiError::NotFound("there is no such subscriber".into())
}

fn from_admin_error(error: AdminError) -> ApiError {
    match error {
        AdminError::NotFound => subscriber_not_found(),
        AdminError::AlreadyListed(_) => ApiError::Conflict(error.to_string()),
        AdminError::NotPending => ApiError::Conflict(error.to_string()),
        AdminError::Suppressed { .. } => ApiError::invalid("email", error),
        AdminError::Store(error) => error.into(),
    }
}

/// Adds one subscriber: pending with a confirmation mail (any token, as the
/// signup form would), or confirmed on the strength of a consent note (admin
/// tokens only).
#[utoipa::path(
    tag = "subscribers",
    request_body = NewSubscriber,
    responses(
        (status = 201, description = "Added", body = Subscriber),
        (status = 400, description = "The body is not JSON of this shape", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "`confirmed` needs an admin token", body = ErrorBody),
        (status = 409, description = "The address is already on the list", body = ErrorBody),
        (status = 422, description = "A member or custom field value is invalid (`field` is e.g. `fields.plan`), or the address is on the suppression list", body = ErrorBody),
    )
)]
#[post("/subscribers")]
#[tracing::instrument(name = "api_add_subscriber", skip_all)]
async fn add_subscriber(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: ApiCaller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: NewSubscriber = json_body(&body, "a subscriber")?;
    let admission = match body.status.as_deref().unwrap_or("pending") {
        "pending" => Admission::Pending,
        "confirmed" => {
            caller.require_admin()?;
            let note = ConsentNote::parse(body.consent_note.as_deref().unwrap_or_default())
                .map_err(|e| ApiError::invalid("consent_note", e))?;
            Admission::Confirmed(note)
        }
        _ => {
            return Err(ApiError::invalid(
                "status",
                "a new subscriber is pending or confirmed",
            ))
        }
    };
    let email = SubscriberEmail::parse(&body.email).map_err(|e| ApiError::invalid("email", e))?;
    let name = SubscriberName::parse(body.name.as_deref().unwrap_or_default())
        .map_err(|e| ApiError::invalid("name", e))?;
    let values = checked_fields(&state, &body.fields, Scope::NewReader).await?;
    let actor = Actor::new(
        format!("API token {}", caller.0.token_id),
        request_origin(&req, &state.config.trusted_proxies),
    );
    let added = state
        .subscriptions
        .add(&email, name.as_ref(), &values, &admission, &actor)
        .await
        .map_err(from_admin_error)?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/subscribers/{}", added.id),
        ))
        .json(Subscriber::from(added)))
}

fn subscriber_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| subscriber_not_found())
}

/// One subscriber and their history. Admin tokens only.
#[utoipa::path(
    tag = "subscribers",
    params(("id" = i64, Path, description = "Subscriber id")),
    responses(
        (status = 200, description = "The subscriber", body = SubscriberWithHistory),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Needs an admin token", body = ErrorBody),
        (status = 404, description = "No such subscriber", body = ErrorBody),
    )
)]
#[get("/subscribers/{id}")]
#[tracing::instrument(name = "api_get_subscriber", skip_all)]
async fn get_subscriber(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<web::Json<SubscriberWithHistory>, ApiError> {
    caller.require_admin()?;
    let id = subscriber_id(&id)?;
    let detail = state
        .subscriptions
        .detail(id)
        .await?
        .ok_or_else(subscriber_not_found)?;
    Ok(web::Json(detail.into()))
}

/// Changes a subscriber's custom field values: those named are set (or
/// removed with null); the others stay. Recorded in their history and the
/// audit log. Admin tokens only.
#[utoipa::path(
    tag = "subscribers",
    params(("id" = i64, Path, description = "Subscriber id")),
    request_body = FieldsUpdate,
    responses(
        (status = 200, description = "The subscriber as now", body = SubscriberWithHistory),
        (status = 400, description = "The body is not JSON of this shape", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Needs an admin token", body = ErrorBody),
        (status = 404, description = "No such subscriber", body = ErrorBody),
        (status = 422, description = "A value is invalid; `field` names it, e.g. `fields.plan`", body = ErrorBody),
    )
)]
#[patch("/subscribers/{id}")]
#[tracing::instrument(name = "api_update_subscriber_fields", skip_all)]
async fn update_subscriber_fields(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<web::Json<SubscriberWithHistory>, ApiError> {
    caller.require_admin()?;
    let id = subscriber_id(&id)?;
    let body: FieldsUpdate = json_body(&body, "an object with `fields`")?;
    let values = checked_fields(&state, &body.fields, Scope::Update).await?;
    let keys = body.fields.keys().cloned().collect::<Vec<_>>().join(", ");
    let actor = Actor::new(
        format!("API token {}", caller.0.token_id),
        request_origin(&req, &state.config.trusted_proxies),
    );
    state
        .subscriptions
        .set_fields(id, &values, &keys, &actor)
        .await
        .map_err(from_admin_error)?;
    if !values.is_empty() {
        state
            .record_audit(
                &req,
                AuditEntry::new(caller.actor(), AuditAction::SubscriberFieldsChanged)
                    .target(format!("subscriber #{id}"))
                    .detail(keys),
            )
            .await;
    }
    let detail = state
        .subscriptions
        .detail(id)
        .await?
        .ok_or_else(subscriber_not_found)?;
    Ok(web::Json(detail.into()))
}

/// Erases a subscriber (GDPR): the row, history, links and queued mail go;
/// only a count of erasures is kept. Admin tokens only.
#[utoipa::path(
    tag = "subscribers",
    params(("id" = i64, Path, description = "Subscriber id")),
    responses(
        (status = 204, description = "Erased"),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Needs an admin token", body = ErrorBody),
        (status = 404, description = "No such subscriber", body = ErrorBody),
    )
)]
#[delete("/subscribers/{id}")]
#[tracing::instrument(name = "api_erase_subscriber", skip_all)]
async fn erase_subscriber(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let id = subscriber_id(&id)?;
    state
        .subscriptions
        .erase(id)
        .await
        .map_err(from_admin_error)?;
    // By number only: the erased address must not live on here.
    state
        .record_audit(
            &req,
            AuditEntry::new(caller.actor(), AuditAction::SubscriberErased)
                .target(format!("subscriber #{id}")),
        )
        .await;
    Ok(HttpResponse::NoContent().finish())
}
