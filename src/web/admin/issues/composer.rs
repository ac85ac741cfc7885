//! The composer page of one issue, and saving its subject, preheader and intro.
//! Once the issue is sent (or sending), the same page, read-only, shows the
//! send's progress above the content.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;

use super::progress::{progress_view, ProgressView};
use super::{failure, issues_of, FormErrors, HeaderForm, PageError};
use crate::issues::{
    self, FieldError, HeaderInput, IssueError, IssueHeader, IssueStatus, ItemContent, ItemInput,
};
use crate::store::timestamps;
use crate::web::admin::auth::{AdminContext, SignedIn};
use crate::web::pages::html;
use crate::web::AppState;

struct ItemRow {
    id: i64,
    number: usize,
    title: String,
    url: String,
    byline: Option<String>,
    input: ItemInput,
    errors: FormErrors,
    /// The edit form starts open when its last submission was refused.
    open: bool,
    is_first: bool,
    is_last: bool,
}

#[derive(Template)]
#[template(path = "admin/issue_edit.html")]
struct ComposerPage {
    ctx: AdminContext,
    id: i64,
    status: IssueStatus,
    editable: bool,
    subject: String,
    header: HeaderInput,
    header_errors: FormErrors,
    items: Vec<ItemRow>,
    new_item: ItemInput,
    new_item_errors: FormErrors,
    notice: Option<String>,
    error: Option<String>,
    created: String,
    updated: String,
    /// The send, once there is one.
    progress: Option<ProgressView>,
}

/// What the editor typed in the form that was refused, to show it again.
#[derive(Default)]
pub(super) enum Typed {
    #[default]
    Nothing,
    Header(HeaderInput, Vec<FieldError>),
    NewItem(ItemInput, Vec<FieldError>),
    Item(i64, ItemInput, Vec<FieldError>),
}

fn item_input(item: &ItemContent) -> ItemInput {
    ItemInput {
        title: item.title.as_str().to_owned(),
        url: item.url.as_str().to_owned(),
        source: item
            .source
            .as_ref()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        date: item.published_on.map(|d| d.iso()).unwrap_or_default(),
        summary: item
            .summary
            .as_ref()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
    }
}

pub(super) async fn render_composer(
    state: &AppState,
    me: &SignedIn,
    id: i64,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
    typed: Typed,
) -> Result<HttpResponse, PageError> {
    let issue = issues_of(state)
        .get(id)
        .await
        .map_err(|e| failure(state, e))?;
    let stored_header = HeaderInput {
        subject: issue.header.subject.as_str().to_owned(),
        preheader: issue
            .header
            .preheader
            .as_ref()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        intro: issue.header.intro.as_str().to_owned(),
    };
    let (mut header, mut header_errors) = (stored_header, Vec::new());
    let (mut new_item, mut new_item_errors) = (ItemInput::default(), Vec::new());
    let mut refused_item = None;
    match typed {
        Typed::Nothing => {}
        Typed::Header(input, errors) => (header, header_errors) = (input, errors),
        Typed::NewItem(input, errors) => (new_item, new_item_errors) = (input, errors),
        Typed::Item(item_id, input, errors) => refused_item = Some((item_id, input, errors)),
    }
    let count = issue.items.len();
    let view = issues::IssueView::of(&issue);
    let items = issue
        .items
        .iter()
        .zip(view.items)
        .enumerate()
        .map(|(index, (item, item_view))| {
            let refused = refused_item
                .as_ref()
                .filter(|(item_id, _, _)| *item_id == item.id);
            ItemRow {
                id: item.id,
                number: index + 1,
                title: item_view.title.clone(),
                url: item_view.url.clone(),
                byline: item_view.byline(),
                input: refused
                    .map_or_else(|| item_input(&item.content), |(_, input, _)| input.clone()),
                errors: FormErrors(refused.map(|(_, _, e)| e.clone()).unwrap_or_default()),
                open: refused.is_some(),
                is_first: index == 0,
                is_last: index + 1 == count,
            }
        })
        .collect();
    let progress = if issue.status.is_draft() {
        None
    } else {
        Some(progress_view(state, id).await?)
    };
    Ok(html(
        status,
        &ComposerPage {
            ctx: me.context(state, "issues"),
            id,
            status: issue.status,
            editable: issue.status.is_draft(),
            subject: issue.header.subject.as_str().to_owned(),
            header,
            header_errors: FormErrors(header_errors),
            items,
            new_item,
            new_item_errors: FormErrors(new_item_errors),
            notice,
            error,
            created: timestamps::date_time(issue.created_at),
            updated: timestamps::date_time(issue.updated_at),
            progress,
        },
    )?)
}

#[get("/{id:\\d+}")]
#[tracing::instrument(name = "composer_page", skip_all)]
pub(super) async fn composer_page(
    state: web::Data<AppState>,
    me: SignedIn,
    id: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    render_composer(&state, &me, *id, StatusCode::OK, None, None, Typed::Nothing).await
}

/// The composer again after a change: the notice, or what was refused and why.
pub(super) async fn after_change(
    state: &AppState,
    me: &SignedIn,
    id: i64,
    result: Result<&str, IssueError>,
    typed: impl FnOnce(Vec<FieldError>) -> Typed,
) -> Result<HttpResponse, PageError> {
    let (status, notice, error, typed) = match result {
        Ok(notice) => (
            StatusCode::OK,
            Some(notice.to_owned()),
            None,
            Typed::Nothing,
        ),
        Err(IssueError::Invalid(invalid)) => (
            StatusCode::BAD_REQUEST,
            None,
            Some("Nothing was saved: check the fields marked below.".to_owned()),
            typed(invalid.0),
        ),
        Err(error @ IssueError::NotDraft(_)) => (
            StatusCode::CONFLICT,
            None,
            Some(error.to_string()),
            Typed::Nothing,
        ),
        Err(other) => return Err(failure(state, other)),
    };
    render_composer(state, me, id, status, notice, error, typed).await
}

#[post("/{id:\\d+}")]
#[tracing::instrument(name = "save_issue", skip_all)]
pub(super) async fn save_header(
    state: web::Data<AppState>,
    me: SignedIn,
    id: web::Path<i64>,
    form: web::Form<HeaderForm>,
) -> Result<HttpResponse, PageError> {
    let typed = HeaderInput::from(form.into_inner());
    let result = match IssueHeader::parse(&typed) {
        Ok(header) => issues_of(&state).update_header(*id, &header).await,
        Err(invalid) => Err(invalid.into()),
    };
    let result = result.map(|()| "The draft is saved.");
    after_change(&state, &me, *id, result, |e| Typed::Header(typed, e)).await
}
