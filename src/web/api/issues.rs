//! `/api/v1/issues`: create an issue, read it (status, delivery counts), edit
//! it while it is a draft, and send a test copy. Editors and admins alike.

use actix_web::http::header;
use actix_web::{get, post, put, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::reports;
use super::sends::{self, DeliveryCounts};
use super::{json_body, ApiCaller, ApiError, ErrorBody};
use crate::issues::{
    HeaderInput, InvalidInput, Issue, IssueContent, IssueError, Issues, ItemInput, RenderedIssue,
    TestSendError, Tester,
};
use crate::store::timestamps;
use crate::subscriptions::SubscriberEmail;
use crate::topics::TopicError;
use crate::web::AppState;

/// The largest issue body: 100 items of 5,000-character summaries, with room
/// for JSON escaping; more than the 256 KB default.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(
        utoipa_actix_web::scope("/issues")
            .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
            .service(create_issue)
            .service(get_issue)
            .service(update_issue)
            .service(send_test_issue)
            .service(sends::send_issue)
            .service(sends::pause_issue)
            .service(sends::resume_issue)
            .service(sends::cancel_issue)
            .service(sends::issue_progress)
            .service(reports::issue_report),
    );
}

/// An item of the digest, as sent.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ItemBody {
    #[serde(default)]
    pub title: String,
    /// An absolute http:// or https:// URL.
    #[serde(default)]
    pub url: String,
    /// Source or byline.
    #[serde(default)]
    pub source: Option<String>,
    /// `YYYY-MM-DD`
    #[serde(default)]
    pub date: Option<String>,
    /// Markdown.
    #[serde(default)]
    pub summary: Option<String>,
}

/// An issue, as sent to create or replace one.
#[derive(Debug, Deserialize, ToSchema)]
pub struct IssueBody {
    /// One line, at most 200 characters.
    #[serde(default)]
    pub subject: String,
    /// At most 200 characters.
    #[serde(default)]
    pub preheader: Option<String>,
    /// Markdown, at most 20,000 characters.
    #[serde(default)]
    pub intro: String,
    /// In order; at most 100.
    #[serde(default)]
    pub items: Vec<ItemBody>,
    /// Slugs of the topics it goes to (public or private), at least one.
    /// Left out: on creation the topics on by default, on a change the
    /// topics it went to.
    #[serde(default)]
    pub topics: Option<Vec<String>>,
}

impl IssueBody {
    /// The topics' ids, or None when the body names none.
    async fn topic_ids(&self, state: &AppState) -> Result<Option<Vec<i64>>, ApiError> {
        let Some(slugs) = &self.topics else {
            return Ok(None);
        };
        if slugs.is_empty() {
            return Err(ApiError::invalid(
                "topics",
                "an issue goes to at least one topic",
            ));
        }
        match state.topics.for_issue(slugs).await {
            Ok(ids) => Ok(Some(ids)),
            Err(TopicError::Store(error)) => Err(error.into()),
            Err(error) => Err(ApiError::invalid("topics", error)),
        }
    }

    fn parse(self) -> Result<IssueContent, ApiError> {
        let header = HeaderInput {
            subject: self.subject,
            preheader: self.preheader.unwrap_or_default(),
            intro: self.intro,
        };
        let items: Vec<ItemInput> = self
            .items
            .into_iter()
            .map(|item| ItemInput {
                title: item.title,
                url: item.url,
                source: item.source.unwrap_or_default(),
                date: item.date.unwrap_or_default(),
                summary: item.summary.unwrap_or_default(),
            })
            .collect();
        IssueContent::parse(&header, &items).map_err(invalid)
    }
}

fn invalid(error: InvalidInput) -> ApiError {
    match error.first() {
        Some(first) => ApiError::invalid(&first.field, &first.error),
        None => ApiError::BadRequest("the issue is invalid".into()),
    }
}

fn issue_not_found() -> ApiError {
    ApiError::NotFound("there is no such issue".into())
}

fn from_issue_error(error: IssueError) -> ApiError {
    match error {
        IssueError::NotFound | IssueError::ItemNotFound => issue_not_found(),
        error @ IssueError::NotDraft(_) => ApiError::Conflict(error.to_string()),
        IssueError::Invalid(error) => invalid(error),
        IssueError::Store(error) => error.into(),
    }
}

fn issue_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| issue_not_found())
}

fn parse_body(body: &[u8]) -> Result<IssueBody, ApiError> {
    json_body(body, "an issue")
}

/// A stored item.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemResponse {
    pub id: i64,
    pub title: String,
    pub url: String,
    pub source: Option<String>,
    /// `YYYY-MM-DD`
    pub date: Option<String>,
    /// Markdown.
    pub summary: Option<String>,
}

/// A stored issue.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssueResponse {
    pub id: i64,
    /// draft, sending, paused, sent or cancelled; only drafts can be changed.
    pub status: String,
    pub subject: String,
    pub preheader: Option<String>,
    pub intro: String,
    pub items: Vec<ItemResponse>,
    pub counts: DeliveryCounts,
    /// Size of the rendered HTML part in bytes.
    pub html_bytes: usize,
    /// True when the HTML passes 100 KB: Gmail clips messages at about 102 KB.
    pub html_size_warning: bool,
    /// RFC 3339
    pub created_at: String,
    /// RFC 3339
    pub updated_at: String,
    /// RFC 3339; null until sent.
    pub sent_at: Option<String>,
    /// Slugs of the topics it goes to: a send reaches the confirmed readers
    /// of any of them, once each.
    pub topics: Vec<String>,
}

impl IssueResponse {
    fn of(
        issue: Issue,
        rendered: &RenderedIssue,
        counts: DeliveryCounts,
        topics: Vec<String>,
    ) -> Self {
        let header = issue.header;
        Self {
            id: issue.id,
            status: issue.status.as_str().to_owned(),
            subject: header.subject.as_str().to_owned(),
            preheader: header.preheader.map(|p| p.as_str().to_owned()),
            intro: header.intro.as_str().to_owned(),
            items: issue
                .items
                .into_iter()
                .map(|item| ItemResponse {
                    id: item.id,
                    title: item.content.title.as_str().to_owned(),
                    url: item.content.url.as_str().to_owned(),
                    source: item.content.source.map(|s| s.as_str().to_owned()),
                    date: item.content.published_on.map(|d| d.iso()),
                    summary: item.content.summary.map(|s| s.as_str().to_owned()),
                })
                .collect(),
            counts,
            html_bytes: rendered.html_bytes(),
            html_size_warning: rendered.is_too_big_for_gmail(),
            created_at: timestamps::rfc3339(issue.created_at),
            updated_at: timestamps::rfc3339(issue.updated_at),
            sent_at: issue.sent_at.map(timestamps::rfc3339),
            topics,
        }
    }
}

/// Reads issue `id` back and describes it, size included.
async fn describe(state: &AppState, id: i64) -> Result<IssueResponse, ApiError> {
    let issue = Issues::new(state.store.clone())
        .get(id)
        .await
        .map_err(from_issue_error)?;
    let rendered = RenderedIssue::render_blocking(&issue, &state.identity)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let counts = if issue.status.is_draft() {
        DeliveryCounts::default()
    } else {
        let progress = state
            .sends
            .progress(id)
            .await
            .map_err(sends::from_send_error)?;
        sends::ProgressResponse::from(progress).counts
    };
    let topics = state.topics.of_issue(id).await?;
    let topics = topics.iter().map(|topic| topic.slug.to_string()).collect();
    Ok(IssueResponse::of(issue, &rendered, counts, topics))
}

/// Creates a draft issue.
#[utoipa::path(
    tag = "issues",
    request_body = IssueBody,
    responses(
        (status = 201, description = "Created as a draft", body = IssueResponse),
        (status = 400, description = "The body is not JSON of this shape", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 422, description = "A field is invalid; `field` names it, e.g. `items[1].url`", body = ErrorBody),
    )
)]
#[post("")]
#[tracing::instrument(name = "api_create_issue", skip_all)]
async fn create_issue(
    state: web::Data<AppState>,
    _caller: ApiCaller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = parse_body(&body)?;
    let topics = body.topic_ids(&state).await?;
    let content = body.parse()?;
    let id = Issues::new(state.store.clone())
        .create_addressed(&content, topics.as_deref())
        .await
        .map_err(from_issue_error)?;
    let issue = describe(&state, id).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/issues/{id}")))
        .json(issue))
}

/// One issue with its status and delivery counts.
#[utoipa::path(
    tag = "issues",
    params(("id" = i64, Path, description = "Issue id")),
    responses(
        (status = 200, description = "The issue", body = IssueResponse),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such issue", body = ErrorBody),
    )
)]
#[get("/{id}")]
#[tracing::instrument(name = "api_get_issue", skip_all)]
async fn get_issue(
    state: web::Data<AppState>,
    _caller: ApiCaller,
    id: web::Path<String>,
) -> Result<web::Json<IssueResponse>, ApiError> {
    Ok(web::Json(describe(&state, issue_id(&id)?).await?))
}

/// Replaces a draft's subject, preheader, intro and items.
#[utoipa::path(
    tag = "issues",
    params(("id" = i64, Path, description = "Issue id")),
    request_body = IssueBody,
    responses(
        (status = 200, description = "Saved", body = IssueResponse),
        (status = 400, description = "The body is not JSON of this shape", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such issue", body = ErrorBody),
        (status = 409, description = "The issue is no longer a draft", body = ErrorBody),
        (status = 422, description = "A field is invalid; `field` names it", body = ErrorBody),
    )
)]
#[put("/{id}")]
#[tracing::instrument(name = "api_update_issue", skip_all)]
async fn update_issue(
    state: web::Data<AppState>,
    _caller: ApiCaller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<web::Json<IssueResponse>, ApiError> {
    let id = issue_id(&id)?;
    let body = parse_body(&body)?;
    let topics = body.topic_ids(&state).await?;
    let content = body.parse()?;
    Issues::new(state.store.clone())
        .replace(id, &content, topics.as_deref())
        .await
        .map_err(from_issue_error)?;
    Ok(web::Json(describe(&state, id).await?))
}

/// Where to send a test copy.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TestRequest {
    #[serde(default)]
    pub to: String,
}

/// The test copy went out.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestSent {
    pub sent_to: String,
}

/// Sends one copy of the issue, as the list would get it, to `to`, with
/// `[Test]` before the subject.
#[utoipa::path(
    tag = "issues",
    params(("id" = i64, Path, description = "Issue id")),
    request_body = TestRequest,
    responses(
        (status = 200, description = "Handed to the mail server", body = TestSent),
        (status = 400, description = "The body is not JSON of this shape", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such issue", body = ErrorBody),
        (status = 422, description = "`to` is not an email address", body = ErrorBody),
        (status = 429, description = "This token sent its 20 test copies of the hour; `Retry-After` says when the next may go", body = ErrorBody),
        (status = 502, description = "The mail server refused the message; `error` says why", body = ErrorBody),
    )
)]
#[post("/{id}/test")]
#[tracing::instrument(name = "api_send_test_issue", skip_all)]
async fn send_test_issue(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = issue_id(&id)?;
    let request: TestRequest = json_body(&body, "{\"to\": …}")?;
    let to = SubscriberEmail::parse(&request.to).map_err(|e| ApiError::invalid("to", e))?;
    let issue = Issues::new(state.store.clone())
        .get(id)
        .await
        .map_err(from_issue_error)?;
    let tester = Tester::Token(caller.0.token_id);
    let sent = state
        .send_test_copy(&req, caller.actor(), tester, &issue, &to)
        .await;
    match sent {
        Ok(()) => Ok(HttpResponse::Ok().json(TestSent {
            sent_to: to.to_string(),
        })),
        Err(error @ TestSendError::TooMany { retry_after }) => Ok(HttpResponse::TooManyRequests()
            .insert_header((header::RETRY_AFTER, retry_after.as_secs().max(1)))
            .json(ErrorBody {
                error: error.to_string(),
                field: None,
            })),
        // Not the client's fault and not ours: the relay said no. Say what it said.
        Err(TestSendError::Send(error)) => Ok(HttpResponse::BadGateway().json(ErrorBody {
            error: error.to_string(),
            field: None,
        })),
        Err(other) => Err(ApiError::internal(&other)),
    }
}
