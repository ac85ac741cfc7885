//! Sending an issue from its page: the confirmation step before Send, then
//! pause, resume and cancel (with its own confirmation). Each step is one call
//! to `Sends`; a step the issue's state does not allow gets a 409 page and
//! changes nothing.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::audience::{issue_topics, IssueTopicBox};
use super::preview::kilobytes;
use super::progress::progress_view;
use super::{control_failure, failure, issues_of, PageError};
use crate::audit::{AuditAction, AuditEntry};
use crate::delivery::SendControlError;
use crate::format::thousands;
use crate::issues::{IssueStatus, RenderedIssue, HTML_WARNING_BYTES};
use crate::web::admin::auth::{AdminContext, SignedIn};
use crate::web::admin::checklist::{mail_to_files, send_checklist, sender_lines, Check};
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

/// The issue page after a step, with `notice` on it, or the 409 page.
fn after_step(
    state: &AppState,
    me: &SignedIn,
    id: i64,
    result: Result<(), SendControlError>,
    notice: &str,
) -> Result<HttpResponse, PageError> {
    match result {
        Ok(()) => Ok(me.redirect_with_notice(&issue_path(id), notice)),
        Err(SendControlError::Conflict(why)) => refused(state, me, id, why),
        Err(error @ (SendControlError::Empty | SendControlError::Invalid(_))) => {
            refused(state, me, id, error.to_string())
        }
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
    checks: Vec<Check>,
    /// Nothing to read: the checklist says so and there is no Send button.
    blocked: bool,
    from: String,
    reply_to: String,
    /// Set while mail only goes to files: where they go.
    mail_to_files: Option<String>,
    /// The send asks for the number of readers to be typed.
    ask_count: bool,
    typed_count: String,
    count_error: Option<String>,
    /// A box per topic, and the names of those the issue goes to; both
    /// empty on a site with one topic.
    topics: Vec<IssueTopicBox>,
    topic_names: String,
}

/// Whether a send to `recipients` readers asks for the number to be typed.
fn asks_for_count(state: &AppState, recipients: i64) -> bool {
    state
        .config
        .send_confirm_above
        .is_some_and(|above| u64::try_from(recipients).is_ok_and(|n| n > above))
}

/// The send page, with what was typed and why it was refused after a POST.
async fn render_send_page(
    state: &AppState,
    me: &SignedIn,
    id: i64,
    typed: Option<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let issue = issues_of(state)
        .get(id)
        .await
        .map_err(|e| failure(state, e))?;
    if issue.status != IssueStatus::Draft {
        let why = format!("This issue is {}: only a draft can be sent.", issue.status);
        return refused(state, me, id, why);
    }
    let last_test = issues_of(state)
        .last_test_send(id)
        .await
        .map_err(|e| PageError::Web(e.into()))?;
    let checks = send_checklist(state, &issue, last_test);
    let blocked = !issue.has_content();
    let rendered = RenderedIssue::render_blocking(&issue, &state.identity)
        .await
        .map_err(|e| PageError::Internal(format!("cannot render issue {id}: {e}")))?;
    let recipients = state
        .sends
        .recipient_count(id)
        .await
        .map_err(|e| PageError::Web(e.into()))?;
    let (topics, topic_names) = issue_topics(state, id).await?;
    let (from, reply_to) = sender_lines(state);
    let status = match (&typed, blocked) {
        (_, true) => StatusCode::CONFLICT,
        (Some(_), false) => StatusCode::UNPROCESSABLE_ENTITY,
        (None, false) => StatusCode::OK,
    };
    let (typed_count, count_error) = match typed {
        Some((typed, error)) => (typed, Some(error)),
        None => (String::new(), None),
    };
    Ok(html(
        status,
        &SendPage {
            ctx: me.context(state, "issues"),
            id,
            subject: issue.header.subject.as_str().to_owned(),
            items: issue.items.len(),
            recipients,
            recipients_text: thousands(recipients),
            html_size: kilobytes(rendered.html_bytes()),
            too_big: rendered.is_too_big_for_gmail(),
            warning_size: kilobytes(HTML_WARNING_BYTES),
            checks,
            blocked,
            from,
            reply_to,
            mail_to_files: mail_to_files(state),
            ask_count: asks_for_count(state, recipients),
            typed_count,
            count_error,
            topics,
            topic_names,
        },
    )?)
}

/// The confirmation step: the pre-send checklist, what goes out, to how
/// many people. An issue with nothing to read gets the checklist saying so,
/// with a 409 and no Send button.
#[get("/{id:\\d+}/send")]
#[tracing::instrument(name = "send_issue_page", skip_all)]
pub(super) async fn send_page(
    state: web::Data<AppState>,
    me: SignedIn,
    id: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    render_send_page(&state, &me, *id, None).await
}

#[derive(Deserialize)]
pub(super) struct SendForm {
    /// The number of readers, typed by the editor when the send asks for it.
    #[serde(default)]
    confirm_count: String,
}

/// Why the typed number does not confirm a send to `recipients` readers, if it does not.
fn count_mismatch(typed: &str, recipients: i64) -> Option<String> {
    let digits: String = typed
        .chars()
        .filter(|c| !matches!(c, ',' | '.' | ' ' | '\u{202f}'))
        .collect();
    if digits.is_empty() {
        return Some(format!(
            "Type the number of readers, {}, to send this issue to all of them.",
            thousands(recipients)
        ));
    }
    match digits.parse::<i64>() {
        Ok(n) if n == recipients => None,
        _ => Some(format!(
            "“{typed}” is not the number of readers: this issue would go to {}. Nothing was sent.",
            thousands(recipients)
        )),
    }
}

/// Send: the issue moves to sending with a copy queued per confirmed
/// subscriber. Above the threshold, the typed number of readers must match,
/// or nothing is sent and the form comes back with the error. A second
/// press gets the 409 page; nothing is queued twice.
#[post("/{id:\\d+}/send")]
#[tracing::instrument(name = "send_issue", skip_all)]
pub(super) async fn send(
    req: HttpRequest,
    state: web::Data<AppState>,
    me: SignedIn,
    id: web::Path<i64>,
    form: web::Form<SendForm>,
) -> Result<HttpResponse, PageError> {
    let id = *id;
    let recipients = state
        .sends
        .recipient_count(id)
        .await
        .map_err(|e| PageError::Web(e.into()))?;
    if asks_for_count(&state, recipients) {
        let typed = form.into_inner().confirm_count;
        if let Some(error) = count_mismatch(&typed, recipients) {
            // Only a draft shows the form again; any other state gets its 409.
            return render_send_page(&state, &me, id, Some((typed, error))).await;
        }
    }
    let result = state.sends.start(id, &me.user.email, &state.identity).await;
    match result {
        Ok(queued) => {
            state
                .record_audit(
                    &req,
                    AuditEntry::new(me.actor(), AuditAction::IssueSent)
                        .target(format!("issue {id}")),
                )
                .await;
            Ok(me.redirect_with_notice(
                &issue_path(id),
                format!(
                    "Sending started: {} copies queued.",
                    thousands(i64::try_from(queued).unwrap_or(i64::MAX))
                ),
            ))
        }
        Err(error) => after_step(&state, &me, id, Err(error), ""),
    }
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
    after_step(
        &state,
        &me,
        *id,
        result,
        "Send paused: no more copies go out until you resume it.",
    )
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
    after_step(&state, &me, *id, result, "Send resumed.")
}

#[derive(Template)]
#[template(path = "admin/issue_cancel.html")]
struct CancelPage {
    ctx: AdminContext,
    id: i64,
    subject: String,
    /// Copies not sent yet: the cancel drops them, but for those in flight.
    remaining: String,
    sent: String,
    total: String,
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
            total: thousands(progress.total),
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
    let result = state.sends.cancel(*id).await;
    let notice = match &result {
        Ok(dropped) => format!(
            "Send cancelled: at most {} copies not sent yet will not go out; below, how far it got.",
            thousands(i64::try_from(*dropped).unwrap_or(i64::MAX))
        ),
        Err(_) => String::new(),
    };
    let result = result.map(drop);
    if result.is_ok() {
        state
            .record_audit(
                &req,
                AuditEntry::new(me.actor(), AuditAction::IssueCancelled)
                    .target(format!("issue {id}")),
            )
            .await;
    }
    after_step(&state, &me, *id, result, &notice)
}

#[cfg(test)]
mod tests {
    use super::count_mismatch;

    #[test]
    fn only_the_number_of_readers_confirms_a_send() {
        assert_eq!(count_mismatch("51", 51), None);
        assert_eq!(count_mismatch(" 1,234 ", 1234), None);
        assert!(count_mismatch("", 51).is_some_and(|e| e.contains("51")));
        assert!(count_mismatch("50", 51).is_some_and(|e| e.contains("Nothing was sent")));
        assert!(count_mismatch("fifty-one", 51).is_some());
        assert!(count_mismatch("-51", 51).is_some());
    }
}
