//! The composer under `/admin/issues`, for editors and admins: the list, a new
//! draft, editing the draft and its items, the preview (HTML and plain text
//! side by side, from the renderer sending uses), the test send, and sending
//! to the list with its progress.

mod audience;
mod composer;
mod drafts;
mod items;
mod preview;
mod progress;
mod report;
mod sending;

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse, ResponseError};
use askama::Template;
use serde::Deserialize;

use super::auth::{AdminContext, SignedIn};
use super::MAX_FORM_BYTES;
use crate::delivery::SendControlError;
use crate::issues::{
    self, FieldError, HeaderInput, IssueContent, IssueError, IssueHeader, IssueStatus,
    IssueSummary, Issues,
};
use crate::store::timestamps;
use crate::web::error::WebError;
use crate::web::pages::{html, MessagePage};
use crate::web::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/issues")
            .app_data(web::FormConfig::default().limit(MAX_FORM_BYTES))
            .service(list_page)
            .service(new_page)
            .service(create)
            .service(stylesheet)
            .service(composer::composer_page)
            .service(composer::save_header)
            .service(items::add_item)
            .service(items::update_item)
            .service(items::remove_item)
            .service(items::move_item)
            .service(items::undo_remove)
            .service(composer_script)
            .service(preview::preview_page)
            .service(preview::preview_document)
            .service(preview::send_test)
            .service(progress::script)
            .service(progress::progress_json)
            .service(sending::send_page)
            .service(audience::readdress)
            .service(sending::send)
            .service(sending::pause)
            .service(sending::resume)
            .service(sending::cancel_page)
            .service(sending::cancel)
            .service(drafts::duplicate)
            .service(drafts::delete_page)
            .service(drafts::delete),
    );
}

/// What a composer handler can fail with besides its own outcomes.
#[derive(Debug, thiserror::Error)]
enum PageError {
    #[error("no such issue or item")]
    NotFound { site: crate::web::Site },
    #[error(transparent)]
    Web(#[from] WebError),
    /// A failure the editor cannot act on: logged, and a 500.
    #[error("{0}")]
    Internal(String),
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Web(error) => error.status_code(),
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::NotFound { site } => {
                let page = MessagePage::new(
                    site,
                    "No such issue",
                    &["There is no such issue or item. It may have been removed."],
                );
                html(StatusCode::NOT_FOUND, &page).unwrap_or_else(|e| e.error_response())
            }
            Self::Web(error) => error.error_response(),
            Self::Internal(detail) => {
                tracing::error!(error = %detail, "composer request failed");
                HttpResponse::InternalServerError()
                    .content_type("text/plain; charset=utf-8")
                    .body("Something went wrong on our side. Please try again in a moment.\n")
            }
        }
    }
}

fn failure(state: &AppState, error: IssueError) -> PageError {
    match error {
        IssueError::NotFound | IssueError::ItemNotFound => PageError::NotFound {
            site: state.site.clone(),
        },
        IssueError::Store(error) => PageError::Web(WebError::Store(error)),
        other => PageError::Internal(format!("unexpected outcome: {other}")),
    }
}

/// The failures of a send step other than its refusal (409), which the
/// handlers show as a page of their own.
fn control_failure(state: &AppState, error: SendControlError) -> PageError {
    match error {
        SendControlError::NotFound => PageError::NotFound {
            site: state.site.clone(),
        },
        SendControlError::Store(error) => PageError::Web(WebError::Store(error)),
        other => PageError::Internal(format!("unexpected outcome: {other}")),
    }
}

fn issues_of(state: &AppState) -> Issues {
    Issues::new(state.store.clone())
}

/// Form errors, by field name, for a template to show next to each field.
#[derive(Debug, Default)]
struct FormErrors(Vec<FieldError>);

impl FormErrors {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn get(&self, field: &str) -> Option<String> {
        self.0
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.error.to_string())
    }
}

/// An issue as the lists (and the dashboard) show it.
pub struct IssueRow {
    pub id: i64,
    pub subject: String,
    pub status: IssueStatus,
    pub items: i64,
    pub created: String,
    pub updated: String,
    pub sent: String,
}

impl From<IssueSummary> for IssueRow {
    fn from(issue: IssueSummary) -> Self {
        Self {
            id: issue.id,
            subject: issue.subject,
            status: issue.status,
            items: issue.item_count,
            created: timestamps::date_time(issue.created_at),
            updated: timestamps::date_time(issue.updated_at),
            sent: issue.sent_at.map(timestamps::date_time).unwrap_or_default(),
        }
    }
}

/// The latest issues, for the dashboard.
pub async fn latest_issues(state: &AppState, count: i64) -> Result<Vec<IssueRow>, WebError> {
    let issues = issues_of(state).list(count).await?;
    Ok(issues.into_iter().map(IssueRow::from).collect())
}

#[derive(Template)]
#[template(path = "admin/issues.html")]
struct ListPage {
    ctx: AdminContext,
    issues: Vec<IssueRow>,
}

#[get("")]
#[tracing::instrument(name = "issues_page", skip_all)]
async fn list_page(state: web::Data<AppState>, me: SignedIn) -> Result<HttpResponse, PageError> {
    let issues = issues_of(&state)
        .list(issues::LIST_LIMIT)
        .await
        .map_err(WebError::from)?;
    Ok(html(
        StatusCode::OK,
        &ListPage {
            ctx: me.context(&state, "issues"),
            issues: issues.into_iter().map(IssueRow::from).collect(),
        },
    )?)
}

#[get("/composer.css")]
async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(include_str!("../../../assets/composer.css"))
}

/// Drag and drop, and focus back on the item moved; the page works without it.
#[get("/composer.js")]
async fn composer_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(include_str!("../../../assets/composer.js"))
}

#[derive(Template)]
#[template(path = "admin/issue_new.html")]
struct NewPage {
    ctx: AdminContext,
    header: HeaderInput,
    header_errors: FormErrors,
}

#[get("/new")]
async fn new_page(state: web::Data<AppState>, me: SignedIn) -> Result<HttpResponse, PageError> {
    Ok(html(
        StatusCode::OK,
        &NewPage {
            ctx: me.context(&state, "issues"),
            header: HeaderInput::default(),
            header_errors: FormErrors::default(),
        },
    )?)
}

#[derive(Deserialize)]
struct HeaderForm {
    #[serde(default)]
    subject: String,
    #[serde(default)]
    preheader: String,
    #[serde(default)]
    intro: String,
}

impl From<HeaderForm> for HeaderInput {
    fn from(form: HeaderForm) -> Self {
        Self {
            subject: form.subject,
            preheader: form.preheader,
            intro: form.intro,
        }
    }
}

#[post("")]
#[tracing::instrument(name = "create_issue", skip_all)]
async fn create(
    state: web::Data<AppState>,
    me: SignedIn,
    form: web::Form<HeaderForm>,
) -> Result<HttpResponse, PageError> {
    let typed = HeaderInput::from(form.into_inner());
    let header = match IssueHeader::parse(&typed) {
        Ok(header) => header,
        Err(invalid) => {
            return Ok(html(
                StatusCode::UNPROCESSABLE_ENTITY,
                &NewPage {
                    ctx: me.context(&state, "issues"),
                    header: typed,
                    header_errors: FormErrors(invalid.0),
                },
            )?)
        }
    };
    let content = IssueContent {
        header,
        items: Vec::new(),
    };
    let id = match issues_of(&state).create(&content).await {
        Ok(id) => id,
        // A personalisation tag naming an internal or unknown field.
        Err(IssueError::Invalid(invalid)) => {
            return Ok(html(
                StatusCode::UNPROCESSABLE_ENTITY,
                &NewPage {
                    ctx: me.context(&state, "issues"),
                    header: typed,
                    header_errors: FormErrors(invalid.0),
                },
            )?)
        }
        Err(other) => return Err(failure(&state, other)),
    };
    Ok(me.redirect_with_notice(
        &format!("/admin/issues/{id}"),
        "The draft is created: add its items below.",
    ))
}
