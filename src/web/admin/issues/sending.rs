//! Sending an issue from its page: the confirmation step before Send, then
//! pause, resume and cancel (with its own confirmation). Each step is one call
//! to `Sends`; a step the issue's state does not allow gets a 409 page and
//! changes nothing.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;

use super::preview::kilobytes;
use super::progress::progress_view;
use super::{control_failure, failure, issues_of, PageError};
use crate::audit::{AuditAction, AuditEntry};
use crate::delivery::SendControlError;
use crate::format::thousands;
use crate::issues::{IssueStatus, RenderedIssue, HTML_WARNING_BYTES};
use crate::web::admin::auth::{AdminContext, SignedIn};
use crate::web::admin::see_other;
use crate::web::pages::html;
use crate::web::AppState;

fn issue_path(id: i64) -> String {
    format!("/admin/issues/{id}")
}

#[derive(Template)]
#[template(path = "admin/issue_refused.html")]
struct RefusedPage {
    ctx: AdminContext,
    id: i64,
    message: String,
}

/// 409: the issue's state does not allow the step; says which state it is in.
fn refused(
    state: &AppState,
    me: &SignedIn,
    id: i64,
    why: String,
) -> Result<HttpResponse, PageError> {
    Ok(html(
        StatusCode::CONFLICT,
        &RefusedPage {
            ctx: me.context(state, "issues"),
            id,
            message: why,
        },
    )?)
}

/// The issue page after a step, or the 409 page.
fn after_step(
    state: &AppState,
    me: &SignedIn,
    id: i64,
    result: Result<(), SendControlError>,
) -> Result<HttpResponse, PageError> {
    match result {
        Ok(()) => Ok(see_other(&issue_path(id))),
        Err(SendControlError::Conflict(why)) => refused(state, me, id, why),
        Err(error @ SendControlError::Empty) => refused(state, me, id, error.to_string()),
        Err(other) => Err(control_failure(state, other)),
    }
}

#[derive(Template)]
#[template(path = "admin/issue_send.html")]
struct SendPage {
    ctx: AdminContext,
    id: i64,
    subject: String,
    items: usize,
    recipients: i64,
    recipients_text: String,
    html_size: String,
    too_big: bool,
    warning_size: String,
}

/// The confirmation step: what goes out, to how many people.
#[get("/{id:\\d+}/send")]
#[tracing::instrument(name = "send_issue_page", skip_all)]
pub(super) async fn send_page(
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
        let why = format!("This issue is {}: only a draft can be sent.", issue.status);
        return refused(&state, &me, id, why);
    }
    if !issue.has_content() {
        return refused(&state, &me, id, SendControlError::Empty.to_string());
    }
    let rendered = RenderedIssue::render_blocking(&issue, &state.identity)
        .await
        .map_err(|e| PageError::Internal(format!("cannot render issue {id}: {e}")))?;
    let recipients = state
        .sends
        .recipient_count()
        .await
        .map_err(|e| PageError::Web(e.into()))?;
    Ok(html(
        StatusCode::OK,
        &SendPage {
            ctx: me.context(&state, "issues"),
            id,
            subject: issue.header.subject.as_str().to_owned(),
            items: issue.items.len(),
            recipients,
            recipients_text: thousands(recipients),
            html_size: kilobytes(rendered.html_bytes()),
            too_big: rendered.is_too_big_for_gmail(),
            warning_size: kilobytes(HTML_WARNING_BYTES),
        },
    )?)
}

/// Send: the issue moves to sending with a copy queued per confirmed
/// subscriber. A second press gets the 409 page; nothing is queued twice.
#[post("/{id:\\d+}/send")]
#[tracing::instrument(name = "send_issue", skip_all)]
pub(super) async fn send(
    req: HttpRequest,
    state: web::Data<AppState>,
    me: SignedIn,
    id: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let result = state
        .sends
        .start(*id, &me.user.email, &state.identity)
        .await
        .map(drop);
    if result.is_ok() {
        state
            .record_audit(
                &req,
                AuditEntry::new(me.actor(), AuditAction::IssueSent).target(format!("issue {id}")),
            )
            .await;
    }
    after_step(&state, &me, *id, result)
}

#[post("/{id:\\d+}/pause")]
#[tracing::instrument(name = "pause_issue", skip_all)]
pub(super) async fn pause(
    req: HttpRequest,
    state: web::Data<AppState>,
    me: SignedIn,
    id: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let result = state.sends.pause(*id).await;
    if result.is_ok() {
        state
            .record_audit(
                &req,
                AuditEntry::new(me.actor(), AuditAction::IssuePaused).target(format!("issue {id}")),
            )
            .await;
    }
    after_step(&state, &me, *id, result)
}

#[post("/{id:\\d+}/resume")]
#[tracing::instrument(name = "resume_issue", skip_all)]
pub(super) async fn resume(
    req: HttpRequest,
    state: web::Data<AppState>,
    me: SignedIn,
    id: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let result = state.sends.resume(*id).await;
    if result.is_ok() {
        state
            .record_audit(
                &req,
                AuditEntry::new(me.actor(), AuditAction::IssueResumed)
                    .target(format!("issue {id}")),
            )
            .await;
    }
    after_step(&state, &me, *id, result)
}

#[derive(Template)]
#[template(path = "admin/issue_cancel.html")]
struct CancelPage {
    ctx: AdminContext,
    id: i64,
    subject: String,
    /// Copies not sent yet: the cancel drops them.
    remaining: String,
    sent: String,
}

/// The confirmation step before cancelling, which cannot be undone.
#[get("/{id:\\d+}/cancel")]
#[tracing::instrument(name = "cancel_issue_page", skip_all)]
pub(super) async fn cancel_page(
    state: web::Data<AppState>,
    me: SignedIn,
    id: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let id = *id;
    let issue = issues_of(&state)
        .get(id)
        .await
        .map_err(|e| failure(&state, e))?;
    if !matches!(issue.status, IssueStatus::Sending | IssueStatus::Paused) {
        let why = format!(
            "This issue is {}: only a send that is going out or paused can be cancelled.",
            issue.status
        );
        return refused(&state, &me, id, why);
    }
    let progress = progress_view(&state, id).await?;
    Ok(html(
        StatusCode::OK,
        &CancelPage {
            ctx: me.context(&state, "issues"),
            id,
            subject: issue.header.subject.as_str().to_owned(),
            remaining: thousands(progress.queued + progress.retrying),
            sent: thousands(progress.sent),
        },
    )?)
}

#[post("/{id:\\d+}/cancel")]
#[tracing::instrument(name = "cancel_issue", skip_all)]
pub(super) async fn cancel(
    req: HttpRequest,
    state: web::Data<AppState>,
    me: SignedIn,
    id: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let result = state.sends.cancel(*id).await.map(drop);
    if result.is_ok() {
        state
            .record_audit(
                &req,
                AuditEntry::new(me.actor(), AuditAction::IssueCancelled)
                    .target(format!("issue {id}")),
            )
            .await;
    }
    after_step(&state, &me, *id, result)
}
