//! Duplicating an issue as a new draft, and deleting a draft after a
//! confirmation step. Both go to the audit log.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;

use super::{failure, issues_of, PageError};
use crate::audit::{AuditAction, AuditEntry};
use crate::issues::{IssueError, IssueStatus};
use crate::web::admin::auth::{AdminContext, SignedIn};
use crate::web::pages::html;
use crate::web::AppState;

/// A new draft with the content of issue `id` (never its send); the
/// composer of the copy, with a notice.
#[post("/{id:\\d+}/duplicate")]
#[tracing::instrument(name = "duplicate_issue", skip_all)]
pub(super) async fn duplicate(
    req: HttpRequest,
    state: web::Data<AppState>,
    me: SignedIn,
    id: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let id = *id;
    let copy = issues_of(&state)
        .duplicate(id)
        .await
        .map_err(|e| failure(&state, e))?;
    state
        .record_audit(
            &req,
            AuditEntry::new(me.actor(), AuditAction::IssueDuplicated)
                .target(format!("issue {copy}"))
                .detail(format!("copy of issue {id}")),
        )
        .await;
    Ok(me.redirect_with_notice(
        &format!("/admin/issues/{copy}"),
        format!("This draft is a copy of issue {id}: change what you need, then send it."),
    ))
}

#[derive(Template)]
#[template(path = "admin/issue_delete.html")]
struct DeletePage {
    ctx: AdminContext,
    id: i64,
    subject: String,
    items: usize,
}

/// The confirmation step before deleting a draft, which cannot be undone.
#[get("/{id:\\d+}/delete")]
#[tracing::instrument(name = "delete_issue_page", skip_all)]
pub(super) async fn delete_page(
    state: web::Data<AppState>,
    me: SignedIn,
    id: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let id = *id;
    let issue = issues_of(&state)
        .get(id)
        .await
        .map_err(|e| failure(&state, e))?;
    if issue.status != IssueStatus::Draft {
        return Ok(not_a_draft(&me, id, issue.status));
    }
    Ok(html(
        StatusCode::OK,
        &DeletePage {
            ctx: me.context(&state, "issues"),
            id,
            subject: issue.header.subject.as_str().to_owned(),
            items: issue.items.len(),
        },
    )?)
}

#[post("/{id:\\d+}/delete")]
#[tracing::instrument(name = "delete_issue", skip_all)]
pub(super) async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    me: SignedIn,
    id: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let id = *id;
    let issue = issues_of(&state)
        .get(id)
        .await
        .map_err(|e| failure(&state, e))?;
    match issues_of(&state).delete_draft(id).await {
        Ok(()) => {}
        Err(IssueError::NotDraft(status)) => return Ok(not_a_draft(&me, id, status)),
        Err(other) => return Err(failure(&state, other)),
    }
    state
        .record_audit(
            &req,
            AuditEntry::new(me.actor(), AuditAction::IssueDeleted)
                .target(format!("issue {id}"))
                .detail(issue.header.subject.as_str().to_owned()),
        )
        .await;
    Ok(me.redirect_with_notice(
        "/admin/issues",
        format!("The draft “{}” was deleted.", issue.header.subject.as_str()),
    ))
}

/// Only drafts are deleted: an issue that went out is the record of who got it.
fn not_a_draft(me: &SignedIn, id: i64, status: IssueStatus) -> HttpResponse {
    me.redirect_with_error(
        &format!("/admin/issues/{id}"),
        format!("This issue is {status}: only a draft can be deleted. Nothing was changed."),
    )
}
