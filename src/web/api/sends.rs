//! `/api/v1/issues/{id}/send|pause|resume|cancel|progress`: sending an issue
//! to the list and following it. Editors and admins alike.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::{ApiCaller, ApiError, ErrorBody};
use crate::audit::{AuditAction, AuditEntry};
use crate::delivery::{SendControlError, SendProgress};
use crate::store::timestamps;
use crate::web::AppState;

/// What happened to the copies of an issue; zeros until it is sent.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct DeliveryCounts {
    /// One per confirmed subscriber when the send started.
    pub total: i64,
    /// Waiting for a first attempt, or in flight.
    pub queued: i64,
    /// Waiting to try again after a temporary failure.
    pub retrying: i64,
    pub sent: i64,
    pub failed: i64,
    /// Not sent: the reader left, or the send was cancelled.
    pub cancelled: i64,
}

/// How a send stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgressResponse {
    pub issue_id: i64,
    /// draft, sending, paused, sent or cancelled.
    pub status: String,
    pub counts: DeliveryCounts,
    /// Messages per second over the last seconds.
    pub rate_per_second: f64,
    /// At the current rate; null when nothing is moving.
    pub seconds_left: Option<f64>,
    /// RFC 3339; null until sent.
    pub started_at: Option<String>,
    /// RFC 3339; null until every copy has an outcome.
    pub finished_at: Option<String>,
    /// Why a paused send paused itself, e.g. "paused itself: hard-bounce rate
    /// 6.1 % (73 of 1,200 copies) passes HERALD_PAUSE_BOUNCE_RATE 5 %"; null
    /// when an editor paused it, or it is not paused.
    pub pause_reason: Option<String>,
}

impl From<SendProgress> for ProgressResponse {
    fn from(progress: SendProgress) -> Self {
        let counts = progress.counts;
        Self {
            issue_id: progress.issue_id,
            status: progress.status.as_str().to_owned(),
            counts: DeliveryCounts {
                total: counts.total,
                queued: counts.queued,
                retrying: counts.retrying,
                sent: counts.sent,
                failed: counts.failed,
                cancelled: counts.cancelled,
            },
            rate_per_second: progress.rate_per_second,
            seconds_left: progress.seconds_left,
            started_at: progress.started_at.map(timestamps::rfc3339),
            finished_at: progress.finished_at.map(timestamps::rfc3339),
            pause_reason: progress.pause_reason,
        }
    }
}

pub(super) fn from_send_error(error: SendControlError) -> ApiError {
    match error {
        SendControlError::NotFound => ApiError::NotFound("there is no such issue".into()),
        SendControlError::Conflict(why) => ApiError::Conflict(why),
        error @ SendControlError::Empty => ApiError::invalid("items", error),
        SendControlError::Invalid(invalid) => match invalid.first() {
            Some(first) => ApiError::invalid(&first.field, &first.error),
            None => ApiError::invalid("intro", &invalid),
        },
        SendControlError::Render(error) => ApiError::internal(&error),
        SendControlError::Store(error) => error.into(),
    }
}

fn issue_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::NotFound("there is no such issue".into()))
}

async fn progress_of(state: &AppState, id: i64) -> Result<ProgressResponse, ApiError> {
    Ok(state
        .sends
        .progress(id)
        .await
        .map_err(from_send_error)?
        .into())
}

/// Sends a draft to every confirmed subscriber. The issue moves to `sending`
/// and a copy per subscriber is queued in one step; a second call gets 409.
#[utoipa::path(
    tag = "issues",
    params(("id" = i64, Path, description = "Issue id")),
    responses(
        (status = 202, description = "Queued; the body is the progress", body = ProgressResponse),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such issue", body = ErrorBody),
        (status = 409, description = "Not a draft: already sending, paused, sent or cancelled", body = ErrorBody),
        (status = 422, description = "The issue has no intro and no items: nothing to send", body = ErrorBody),
    )
)]
#[post("/{id}/send")]
#[tracing::instrument(name = "api_send_issue", skip_all)]
pub(super) async fn send_issue(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = issue_id(&id)?;
    let sent_by = format!("API token #{}", caller.0.token_id);
    state
        .sends
        .start(id, &sent_by, &state.identity)
        .await
        .map_err(from_send_error)?;
    state
        .record_audit(
            &req,
            AuditEntry::new(caller.actor(), AuditAction::IssueSent).target(format!("issue {id}")),
        )
        .await;
    Ok(HttpResponse::Accepted().json(progress_of(&state, id).await?))
}

/// Pauses a send; messages in flight finish, nothing more goes out until resumed.
#[utoipa::path(
    tag = "issues",
    params(("id" = i64, Path, description = "Issue id")),
    responses(
        (status = 200, description = "Paused", body = ProgressResponse),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such issue", body = ErrorBody),
        (status = 409, description = "The issue is not sending", body = ErrorBody),
    )
)]
#[post("/{id}/pause")]
#[tracing::instrument(name = "api_pause_issue", skip_all)]
pub(super) async fn pause_issue(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<web::Json<ProgressResponse>, ApiError> {
    let id = issue_id(&id)?;
    state.sends.pause(id).await.map_err(from_send_error)?;
    state
        .record_audit(
            &req,
            AuditEntry::new(caller.actor(), AuditAction::IssuePaused).target(format!("issue {id}")),
        )
        .await;
    Ok(web::Json(progress_of(&state, id).await?))
}

/// Resumes a paused send.
#[utoipa::path(
    tag = "issues",
    params(("id" = i64, Path, description = "Issue id")),
    responses(
        (status = 200, description = "Sending again", body = ProgressResponse),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such issue", body = ErrorBody),
        (status = 409, description = "The send is not paused", body = ErrorBody),
    )
)]
#[post("/{id}/resume")]
#[tracing::instrument(name = "api_resume_issue", skip_all)]
pub(super) async fn resume_issue(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<web::Json<ProgressResponse>, ApiError> {
    let id = issue_id(&id)?;
    state.sends.resume(id).await.map_err(from_send_error)?;
    state
        .record_audit(
            &req,
            AuditEntry::new(caller.actor(), AuditAction::IssueResumed)
                .target(format!("issue {id}")),
        )
        .await;
    Ok(web::Json(progress_of(&state, id).await?))
}

/// Cancels a send for good; the copies not yet sent are marked cancelled.
#[utoipa::path(
    tag = "issues",
    params(("id" = i64, Path, description = "Issue id")),
    responses(
        (status = 200, description = "Cancelled", body = ProgressResponse),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such issue", body = ErrorBody),
        (status = 409, description = "The issue is not sending or paused", body = ErrorBody),
    )
)]
#[post("/{id}/cancel")]
#[tracing::instrument(name = "api_cancel_issue", skip_all)]
pub(super) async fn cancel_issue(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<web::Json<ProgressResponse>, ApiError> {
    let id = issue_id(&id)?;
    state.sends.cancel(id).await.map_err(from_send_error)?;
    state
        .record_audit(
            &req,
            AuditEntry::new(caller.actor(), AuditAction::IssueCancelled)
                .target(format!("issue {id}")),
        )
        .await;
    Ok(web::Json(progress_of(&state, id).await?))
}

/// How the send of an issue stands: counts, rate, time left.
#[utoipa::path(
    tag = "issues",
    params(("id" = i64, Path, description = "Issue id")),
    responses(
        (status = 200, description = "The progress", body = ProgressResponse),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such issue", body = ErrorBody),
    )
)]
#[get("/{id}/progress")]
#[tracing::instrument(name = "api_issue_progress", skip_all)]
pub(super) async fn issue_progress(
    state: web::Data<AppState>,
    _caller: ApiCaller,
    id: web::Path<String>,
) -> Result<web::Json<ProgressResponse>, ApiError> {
    Ok(web::Json(progress_of(&state, issue_id(&id)?).await?))
}
