//! `/api/v1/suppressions`: the suppression list (addresses and domains Herald
//! never mails), a page at a time; adding an entry; removing one. Admin
//! tokens only, as the admin pages: the list holds readers' addresses.

use actix_web::{delete, get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::{json_body, ApiCaller, ApiError, ErrorBody};
use crate::store::timestamps;
use crate::suppressions::{Entry, ListQuery, Reason, SuppressionError, Target, MAX_PAGE_SIZE};
use crate::web::AppState;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_suppressions)
        .service(add_suppression)
        .service(remove_suppression);
}

/// An entry of the suppression list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Suppression {
    pub id: i64,
    /// `address` or `domain`
    pub kind: String,
    /// The address or domain (ASCII, an international domain as punycode);
    /// null for the address of an erased subscriber, of which only a keyed
    /// hash is kept.
    pub value: Option<String>,
    /// `admin` (added by hand), `bounce` (a hard bounce) or `complaint`
    pub source: String,
    /// Why: the admin's words, or the bounce's diagnostic
    pub reason: String,
    /// Who added it by hand: `admin ann@example.com`, `API token 3`
    pub added_by: Option<String>,
    /// RFC 3339
    pub created_at: String,
}

impl From<Entry> for Suppression {
    fn from(entry: Entry) -> Self {
        Self {
            id: entry.id,
            kind: entry.suppressed.kind().to_owned(),
            value: entry.suppressed.value().map(str::to_owned),
            source: entry.source.as_str().to_owned(),
            reason: entry.reason,
            added_by: entry.added_by,
            created_at: timestamps::rfc3339(entry.created_at),
        }
    }
}

/// A page of the list, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuppressionList {
    pub items: Vec<Suppression>,
    /// Pass as `after` for the next page; null on the last page.
    pub next: Option<i64>,
}

/// Query of the list; every parameter is optional.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Entries whose address or domain contains it (case-insensitive).
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
        search: params.q.filter(|q| !q.trim().is_empty()),
        ..ListQuery::default()
    };
    if let Some(after) = params.after.filter(|a| !a.is_empty()) {
        query.after = Some(after.parse().map_err(|_| {
            ApiError::invalid("after", "after is the `next` value of the previous page")
        })?);
    }
    if let Some(limit) = params.limit.filter(|l| !l.is_empty()) {
        query.limit = Some(
            limit
                .parse::<i64>()
                .ok()
                .filter(|l| (1..=MAX_PAGE_SIZE).contains(l))
                .ok_or_else(|| {
                    ApiError::invalid("limit", format!("limit is from 1 to {MAX_PAGE_SIZE}"))
                })?,
        );
    }
    Ok(query)
}

/// The suppression list, newest first, a page at a time. Admin tokens only.
#[utoipa::path(
    tag = "suppressions",
    params(ListParams),
    responses(
        (status = 200, description = "A page of entries", body = SuppressionList),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Needs an admin token", body = ErrorBody),
        (status = 422, description = "A parameter is invalid; `field` names it", body = ErrorBody),
    )
)]
#[get("/suppressions")]
#[tracing::instrument(name = "api_list_suppressions", skip_all)]
async fn list_suppressions(
    state: web::Data<AppState>,
    caller: ApiCaller,
    params: web::Query<ListParams>,
) -> Result<web::Json<SuppressionList>, ApiError> {
    caller.require_admin()?;
    let query = list_query(params.into_inner())?;
    let page = state.suppressions.list(&query).await?;
    Ok(web::Json(SuppressionList {
        items: page.items.into_iter().map(Suppression::from).collect(),
        next: page.next,
    }))
}

/// A new entry.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewSuppression {
    /// An email address (`ann@example.org`) or a whole domain (`example.org`).
    pub value: String,
    /// Why nothing may be mailed there; one line, at most 500 characters.
    pub reason: String,
}

fn from_suppression_error(error: SuppressionError) -> ApiError {
    match error {
        SuppressionError::AlreadyListed(_) => ApiError::Conflict(error.to_string()),
        SuppressionError::NotFound => entry_not_found(),
        SuppressionError::Store(error) => error.into(),
    }
}

fn entry_not_found() -> ApiError {
    ApiError::NotFound("there is no such entry on the suppression list".into())
}

/// Adds an address or a domain: no mail goes there from now on, and copies
/// of an issue still queued for it are cancelled. Nobody's status changes.
/// Admin tokens only.
#[utoipa::path(
    tag = "suppressions",
    request_body = NewSuppression,
    responses(
        (status = 201, description = "Added", body = Suppression),
        (status = 400, description = "The body is not JSON of this shape", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Needs an admin token", body = ErrorBody),
        (status = 409, description = "The address or domain is already on the list", body = ErrorBody),
        (status = 422, description = "Not an address, not a domain, or no reason; `field` names it", body = ErrorBody),
    )
)]
#[post("/suppressions")]
#[tracing::instrument(name = "api_add_suppression", skip_all)]
async fn add_suppression(
    state: web::Data<AppState>,
    caller: ApiCaller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let body: NewSuppression = json_body(&body, "a suppression entry")?;
    let target = Target::parse(&body.value).map_err(|e| ApiError::invalid("value", e))?;
    let reason = Reason::parse(&body.reason).map_err(|e| ApiError::invalid("reason", e))?;
    let added_by = format!("API token {}", caller.0.token_id);
    let entry = state
        .suppressions
        .add(&target, &reason, &added_by)
        .await
        .map_err(from_suppression_error)?;
    Ok(HttpResponse::Created().json(Suppression::from(entry)))
}

/// Removes an entry. Nobody is subscribed again by it: a reader who bounced
/// or complained stays off the list until they sign up again. Admin tokens only.
#[utoipa::path(
    tag = "suppressions",
    params(("id" = i64, Path, description = "Entry id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Needs an admin token", body = ErrorBody),
        (status = 404, description = "No such entry", body = ErrorBody),
    )
)]
#[delete("/suppressions/{id}")]
#[tracing::instrument(name = "api_remove_suppression", skip_all)]
async fn remove_suppression(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let id: i64 = id.parse().map_err(|_| entry_not_found())?;
    state
        .suppressions
        .remove(id)
        .await
        .map_err(from_suppression_error)?;
    Ok(HttpResponse::NoContent().finish())
}
