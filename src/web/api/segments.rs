//! `/api/v1/segments`: saved filters over the list, and live counts of them
//! or of a filter not saved. Editors and admins alike, as on the admin pages.
//! A filter is refused with 422 naming the condition at fault
//! (`field: "filter.conditions[2]"`); nothing is stored then.

use actix_web::{delete, get, post, put, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::{json_body, ApiCaller, ApiError, ErrorBody};
use crate::audit::{AuditAction, AuditEntry};
use crate::segments::{
    Count as SegmentCount, Segment as StoredSegment, SegmentError, SegmentFilter, SegmentName,
};
use crate::store::timestamps;
use crate::web::AppState;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_segments)
        .service(create_segment)
        .service(count_filter)
        .service(get_segment)
        .service(update_segment)
        .service(delete_segment)
        .service(count_segment);
}

/// A saved segment.
#[derive(Debug, Serialize, ToSchema)]
pub struct Segment {
    pub id: i64,
    pub name: String,
    /// `{"match": "all"|"any", "conditions": [...]}`, as docs/api.md describes.
    #[schema(value_type = Object)]
    pub filter: serde_json::Value,
    /// RFC 3339
    pub created_at: String,
    /// RFC 3339
    pub updated_at: String,
}

impl From<StoredSegment> for Segment {
    fn from(segment: StoredSegment) -> Self {
        Self {
            id: segment.id,
            name: segment.name,
            filter: segment.filter.to_json(),
            created_at: timestamps::rfc3339(segment.created_at),
            updated_at: timestamps::rfc3339(segment.updated_at),
        }
    }
}

/// Every segment.
#[derive(Debug, Serialize, ToSchema)]
pub struct SegmentList {
    pub items: Vec<Segment>,
}

/// A segment as created or replaced.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SegmentInput {
    /// 1 to 80 characters, one line, unique.
    pub name: String,
    /// The filter; see docs/api.md, "Segments".
    #[schema(value_type = Object)]
    pub filter: serde_json::Value,
}

/// A filter to count without saving it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct FilterInput {
    #[schema(value_type = Object)]
    pub filter: serde_json::Value,
}

/// How many subscribers (of any status) match, now.
#[derive(Debug, Serialize, ToSchema)]
pub struct SegmentCountBody {
    pub subscribers: i64,
    /// How long counting took.
    pub millis: u64,
}

impl From<SegmentCount> for SegmentCountBody {
    fn from(count: SegmentCount) -> Self {
        Self {
            subscribers: count.subscribers,
            millis: count.millis,
        }
    }
}

fn parse_filter(value: &serde_json::Value) -> Result<SegmentFilter, ApiError> {
    SegmentFilter::from_json(value).map_err(|error| ApiError::invalid(&error.field(), &error))
}

impl SegmentInput {
    fn parse(&self) -> Result<(SegmentName, SegmentFilter), ApiError> {
        let name = SegmentName::parse(&self.name).map_err(|e| ApiError::invalid("name", e))?;
        Ok((name, parse_filter(&self.filter)?))
    }
}

fn from_segment_error(error: SegmentError) -> ApiError {
    match error {
        SegmentError::NotFound => ApiError::NotFound(error.to_string()),
        SegmentError::NameTaken(_) => ApiError::Conflict(error.to_string()),
        SegmentError::Filter(error) => ApiError::invalid(&error.field(), &error),
        SegmentError::Store(error) => error.into(),
    }
}

fn segment_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::NotFound(SegmentError::NotFound.to_string()))
}

/// Every segment, by name. Any token.
#[utoipa::path(
    tag = "segments",
    responses(
        (status = 200, description = "Every segment", body = SegmentList),
        (status = 401, description = "No valid token", body = ErrorBody),
    )
)]
#[get("/segments")]
#[tracing::instrument(name = "api_list_segments", skip_all)]
async fn list_segments(
    state: web::Data<AppState>,
    _caller: ApiCaller,
) -> Result<web::Json<SegmentList>, ApiError> {
    let segments = state.segments.list().await?;
    Ok(web::Json(SegmentList {
        items: segments.into_iter().map(Segment::from).collect(),
    }))
}

/// Saves a segment. Any token.
#[utoipa::path(
    tag = "segments",
    request_body = SegmentInput,
    responses(
        (status = 201, description = "Created", body = Segment),
        (status = 400, description = "The body is not JSON of this shape", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 422, description = "The name or a condition is invalid; `field` names it (`filter.conditions[N]`, 1-based)", body = ErrorBody),
    )
)]
#[post("/segments")]
#[tracing::instrument(name = "api_create_segment", skip_all)]
async fn create_segment(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: ApiCaller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: SegmentInput = json_body(&body, "a segment")?;
    let (name, filter) = body.parse()?;
    let segment = state
        .segments
        .create(&name, &filter)
        .await
        .map_err(from_segment_error)?;
    state
        .record_audit(
            &req,
            AuditEntry::new(caller.actor(), AuditAction::SegmentCreated)
                .target(format!("segment {}", segment.id))
                .detail(segment.name.clone()),
        )
        .await;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/segments/{}", segment.id)))
        .json(Segment::from(segment)))
}

/// Counts the subscribers a filter matches, without saving it. Any token.
#[utoipa::path(
    tag = "segments",
    request_body = FilterInput,
    responses(
        (status = 200, description = "The count", body = SegmentCountBody),
        (status = 400, description = "The body is not JSON of this shape", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 422, description = "A condition is invalid or names a topic that is not there; `field` names it", body = ErrorBody),
    )
)]
#[post("/segments/count")]
#[tracing::instrument(name = "api_count_filter", skip_all)]
async fn count_filter(
    state: web::Data<AppState>,
    _caller: ApiCaller,
    body: web::Bytes,
) -> Result<web::Json<SegmentCountBody>, ApiError> {
    let body: FilterInput = json_body(&body, "{\"filter\": {...}}")?;
    let filter = parse_filter(&body.filter)?;
    let count = state
        .segments
        .count(&filter)
        .await
        .map_err(from_segment_error)?;
    Ok(web::Json(count.into()))
}

/// One segment. Any token.
#[utoipa::path(
    tag = "segments",
    params(("id" = i64, Path, description = "Segment id")),
    responses(
        (status = 200, description = "The segment", body = Segment),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such segment", body = ErrorBody),
    )
)]
#[get("/segments/{id}")]
#[tracing::instrument(name = "api_get_segment", skip_all)]
async fn get_segment(
    state: web::Data<AppState>,
    _caller: ApiCaller,
    id: web::Path<String>,
) -> Result<web::Json<Segment>, ApiError> {
    let segment = state
        .segments
        .get(segment_id(&id)?)
        .await
        .map_err(from_segment_error)?;
    Ok(web::Json(Segment::from(segment)))
}

/// Replaces a segment's name and filter. Any token.
#[utoipa::path(
    tag = "segments",
    params(("id" = i64, Path, description = "Segment id")),
    request_body = SegmentInput,
    responses(
        (status = 200, description = "Saved", body = Segment),
        (status = 400, description = "The body is not JSON of this shape", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such segment", body = ErrorBody),
        (status = 409, description = "The name is taken by another segment", body = ErrorBody),
        (status = 422, description = "The name or a condition is invalid; `field` names it", body = ErrorBody),
    )
)]
#[put("/segments/{id}")]
#[tracing::instrument(name = "api_update_segment", skip_all)]
async fn update_segment(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<web::Json<Segment>, ApiError> {
    let id = segment_id(&id)?;
    let body: SegmentInput = json_body(&body, "a segment")?;
    let (name, filter) = body.parse()?;
    let segment = state
        .segments
        .update(id, &name, &filter)
        .await
        .map_err(from_segment_error)?;
    state
        .record_audit(
            &req,
            AuditEntry::new(caller.actor(), AuditAction::SegmentUpdated)
                .target(format!("segment {id}"))
                .detail(segment.name.clone()),
        )
        .await;
    Ok(web::Json(Segment::from(segment)))
}

/// Deletes a segment. Any token.
#[utoipa::path(
    tag = "segments",
    params(("id" = i64, Path, description = "Segment id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such segment", body = ErrorBody),
    )
)]
#[delete("/segments/{id}")]
#[tracing::instrument(name = "api_delete_segment", skip_all)]
async fn delete_segment(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = segment_id(&id)?;
    let name = state
        .segments
        .delete(id)
        .await
        .map_err(from_segment_error)?;
    state
        .record_audit(
            &req,
            AuditEntry::new(caller.actor(), AuditAction::SegmentDeleted)
                .target(format!("segment {id}"))
                .detail(name),
        )
        .await;
    Ok(HttpResponse::NoContent().finish())
}

/// Counts the subscribers a saved segment matches now; a segment naming a
/// topic deleted since is refused with 422 naming the condition. Any token.
#[utoipa::path(
    tag = "segments",
    params(("id" = i64, Path, description = "Segment id")),
    responses(
        (status = 200, description = "The count", body = SegmentCountBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such segment", body = ErrorBody),
        (status = 422, description = "A condition names a topic that is no longer there; `field` names it", body = ErrorBody),
    )
)]
#[get("/segments/{id}/count")]
#[tracing::instrument(name = "api_count_segment", skip_all)]
async fn count_segment(
    state: web::Data<AppState>,
    _caller: ApiCaller,
    id: web::Path<String>,
) -> Result<web::Json<SegmentCountBody>, ApiError> {
    let (_, count) = state
        .segments
        .count_saved(segment_id(&id)?)
        .await
        .map_err(from_segment_error)?;
    Ok(web::Json(count.into()))
}
