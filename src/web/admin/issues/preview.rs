//! The preview (HTML and plain text side by side, with the size warning) and
//! the test send.

use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::{failure, issues_of, PageError};
use crate::issues::{IssueStatus, RenderedIssue, TestSendError, Tester, HTML_WARNING_BYTES};
use crate::subscriptions::SubscriberEmail;
use crate::web::admin::auth::{AdminContext, SignedIn};
use crate::web::pages::html;
use crate::web::AppState;

#[derive(Template)]
#[template(path = "admin/issue_preview.html")]
struct PreviewPage {
    ctx: AdminContext,
    id: i64,
    subject: String,
    status: IssueStatus,
    html_size: String,
    too_big: bool,
    warning_size: String,
    text: String,
    from: String,
    reply_to: String,
    test_to: String,
    to_error: Option<String>,
    error: Option<String>,
}

/// `12.3 KB`, in units of 1,024 bytes as mail clients count them.
pub(super) fn kilobytes(bytes: usize) -> String {
    format!("{:.1} KB", bytes as f64 / 1024.0)
}

/// Why the last test send on the preview page did not go out (a test
/// copy that did go out redirects, with a notice).
#[derive(Default)]
struct Outcome {
    error: Option<String>,
    /// Why the test address was refused.
    to_error: Option<String>,
}

/// The preview shows what a reader gets; the token in its footer's links is a dummy.
const PREVIEW_TOKEN: &str = "preview";

async fn render_preview(
    state: &AppState,
    me: &SignedIn,
    id: i64,
    status: StatusCode,
    outcome: Outcome,
    test_to: Option<String>,
) -> Result<HttpResponse, PageError> {
    let issue = issues_of(state)
        .get(id)
        .await
        .map_err(|e| failure(state, e))?;
    let rendered = RenderedIssue::render_blocking(&issue, &state.identity)
        .await
        .map_err(|e| PageError::Internal(format!("cannot render issue {id}: {e}")))?;
    let (_, text) = rendered.personalize_sample(PREVIEW_TOKEN);
    let (from, reply_to) = crate::web::admin::checklist::sender_lines(state);
    let Outcome { error, to_error } = outcome;
    let page = PreviewPage {
        ctx: me.context(state, "issues"),
        id,
        subject: issue.header.subject.as_str().to_owned(),
        status: issue.status,
        html_size: kilobytes(rendered.html_bytes()),
        too_big: rendered.is_too_big_for_gmail(),
        warning_size: kilobytes(HTML_WARNING_BYTES),
        text,
        from,
        reply_to,
        test_to: test_to.unwrap_or_else(|| me.user.email.clone()),
        to_error,
        error,
    };
    let mut response = html(status, &page)?;
    // The page frames the preview document, which the site-wide policy forbids.
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; \
             form-action 'self'; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    Ok(response)
}

#[get("/{id:\\d+}/preview")]
#[tracing::instrument(name = "preview_page", skip_all)]
pub(super) async fn preview_page(
    state: web::Data<AppState>,
    me: SignedIn,
    id: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    render_preview(&state, &me, *id, StatusCode::OK, Outcome::default(), None).await
}

/// The HTML part exactly as mailed, for the preview's frame. It may only be
/// framed by our own pages, and runs sandboxed: no script, no forms, an
/// opaque origin, whatever the issue holds.
#[get("/{id:\\d+}/preview.html")]
#[tracing::instrument(name = "preview_document", skip_all)]
pub(super) async fn preview_document(
    state: web::Data<AppState>,
    _me: SignedIn,
    id: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let issue = issues_of(&state)
        .get(*id)
        .await
        .map_err(|e| failure(&state, e))?;
    let rendered = RenderedIssue::render_blocking(&issue, &state.identity)
        .await
        .map_err(|e| PageError::Internal(format!("cannot render issue {}: {e}", *id)))?;
    let (html_part, _) = rendered.personalize_sample(PREVIEW_TOKEN);
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("X-Frame-Options", "SAMEORIGIN"))
        .insert_header((
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; \
             form-action 'none'; base-uri 'none'; frame-ancestors 'self'; sandbox",
        ))
        .body(html_part))
}

#[derive(Deserialize)]
struct TestForm {
    #[serde(default)]
    to: String,
}

#[post("/{id:\\d+}/test")]
#[tracing::instrument(name = "send_test_issue", skip_all)]
pub(super) async fn send_test(
    req: HttpRequest,
    state: web::Data<AppState>,
    me: SignedIn,
    id: web::Path<i64>,
    form: web::Form<TestForm>,
) -> Result<HttpResponse, PageError> {
    let typed = form.into_inner().to;
    let to = match SubscriberEmail::parse(&typed) {
        Ok(to) => to,
        Err(error) => {
            let outcome = Outcome {
                to_error: Some(error.to_string()),
                ..Outcome::default()
            };
            return render_preview(
                &state,
                &me,
                *id,
                StatusCode::BAD_REQUEST,
                outcome,
                Some(typed),
            )
            .await;
        }
    };
    let issue = issues_of(&state)
        .get(*id)
        .await
        .map_err(|e| failure(&state, e))?;
    let tester = Tester::Account(me.user.id);
    let sent = state
        .send_test_copy(&req, me.actor(), tester, &issue, &to)
        .await;
    let (status, outcome) = match sent {
        // Post/redirect/get: a refresh of the page that follows sends nothing.
        Ok(()) => {
            return Ok(me.redirect_with_notice(
                &format!("/admin/issues/{}/preview", *id),
                format!("A test copy went to {to} ({}).", state.mailer.describe()),
            ))
        }
        // Shown on the page itself, with the address kept: trying again is
        // what the editor wants once the limit or the relay allows it.
        Err(error @ TestSendError::TooMany { .. }) => (
            StatusCode::TOO_MANY_REQUESTS,
            Outcome {
                error: Some(error.to_string()),
                ..Outcome::default()
            },
        ),
        // The relay said no: show the editor what it said.
        Err(TestSendError::Send(error)) => (
            StatusCode::BAD_GATEWAY,
            Outcome {
                error: Some(format!("The test copy was not sent: {error}")),
                ..Outcome::default()
            },
        ),
        Err(other) => {
            return Err(PageError::Internal(format!(
                "cannot prepare the test copy of issue {}: {other}",
                *id
            )))
        }
    };
    render_preview(&state, &me, *id, status, outcome, Some(to.to_string())).await
}
