//! `/api/v1/issues/{id}/report`: what came back from an issue's copies, per
//! receiving domain. Editors and admins alike: it names domains, never readers.

use actix_web::{get, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::{ApiCaller, ApiError, ErrorBody};
use crate::reports::DomainCounts;
use crate::web::AppState;

/// One receiving domain's share of an issue, or the issue's totals.
#[derive(Debug, Serialize, ToSchema)]
pub struct DomainReport {
    /// The part of the readers' addresses after `@`, `(erased)` for readers
    /// erased since, or `all domains` for the totals.
    pub domain: String,
    /// Copies the relay took (an erased reader's are not counted).
    pub sent: i64,
    /// Hard bounces: the reader is `bounced`.
    pub hard: i64,
    /// Soft bounces: full mailbox, expired, other temporary failures.
    pub soft: i64,
    /// Policy or reputation refusals: not the reader's fault.
    pub policy: i64,
    /// Readers who marked their copy as spam.
    pub complaints: i64,
    /// Readers who left with the unsubscribe link of their copy.
    pub unsubscribes: i64,
}

impl From<DomainCounts> for DomainReport {
    fn from(counts: DomainCounts) -> Self {
        Self {
            domain: counts.domain,
            sent: counts.sent,
            hard: counts.hard,
            soft: counts.soft,
            policy: counts.policy,
            complaints: counts.complaints,
            unsubscribes: counts.unsubscribes,
        }
    }
}

/// An issue's report: its totals and every receiving domain.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssueReportResponse {
    pub issue_id: i64,
    pub totals: DomainReport,
    /// Most copies sent first; `(erased)` last.
    pub domains: Vec<DomainReport>,
}

/// Sent copies, bounces by class, complaints and unsubscribes of an issue,
/// per receiving domain. Zeros for a draft.
#[utoipa::path(
    tag = "issues",
    params(("id" = i64, Path, description = "Issue id")),
    responses(
        (status = 200, description = "The report", body = IssueReportResponse),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such issue", body = ErrorBody),
    )
)]
#[get("/{id}/report")]
#[tracing::instrument(name = "api_issue_report", skip_all)]
pub(super) async fn issue_report(
    state: web::Data<AppState>,
    _caller: ApiCaller,
    id: web::Path<String>,
) -> Result<web::Json<IssueReportResponse>, ApiError> {
    let no_such_issue = || ApiError::NotFound("there is no such issue".into());
    let id: i64 = id.parse().map_err(|_| no_such_issue())?;
    let report = state.reports.issue(id).await?.ok_or_else(no_such_issue)?;
    Ok(web::Json(IssueReportResponse {
        issue_id: report.issue_id,
        totals: report.totals.into(),
        domains: report.domains.into_iter().map(Into::into).collect(),
    }))
}
