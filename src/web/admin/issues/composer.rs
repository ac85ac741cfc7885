//! The composer page of one issue, and saving its subject, preheader and intro.
//! Once the issue is sent (or sending), the same page, read-only, shows the
//! send's progress above the content.
//!
//! Every change answers with a redirect back to the page (post/redirect/get),
//! at the item it touched (`#item-7`). The whole page is one form (`#draft`):
//! the buttons that add, move or remove an item submit the subject, preheader
//! and intro with them, so an edit not yet saved is saved rather than lost.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::items::{add_with_header, AddForm};
use super::progress::{progress_view, ProgressView};
use super::report::{report_view, ReportView};
use super::{failure, issues_of, FormErrors, PageError};
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
    /// Why nothing was saved, when the page comes back with what was typed.
    error: Option<String>,
    /// The title of the item just removed, while its removal can be undone.
    undo: Option<String>,
    created: String,
    updated: String,
    /// The send, once there is one.
    progress: Option<ProgressView>,
    /// What came back from it, per receiving domain.
    report: Option<ReportView>,
}

/// What the editor typed in the forms that were refused, to show it again.
#[derive(Default)]
pub(super) struct Typed {
    pub header: Option<(HeaderInput, Vec<FieldError>)>,
    pub new_item: Option<(ItemInput, Vec<FieldError>)>,
    pub item: Option<(i64, ItemInput, Vec<FieldError>)>,
}

impl Typed {
    fn has_errors(&self) -> bool {
        self.header.as_ref().is_some_and(|(_, e)| !e.is_empty())
            || self.new_item.as_ref().is_some_and(|(_, e)| !e.is_empty())
            || self.item.as_ref().is_some_and(|(_, _, e)| !e.is_empty())
    }
}

/// The subject, preheader and intro that the add, move, remove and undo
/// buttons carry from the page's one form; absent when a client posts the
/// item form alone.
#[derive(Deserialize, Default)]
pub(super) struct CarriedHeader {
    subject: Option<String>,
    preheader: Option<String>,
    intro: Option<String>,
}

impl CarriedHeader {
    pub fn typed(&self) -> Option<HeaderInput> {
        let subject = self.subject.clone()?;
        Some(HeaderInput {
            subject,
            preheader: self.preheader.clone().unwrap_or_default(),
            intro: self.intro.clone().unwrap_or_default(),
        })
    }
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
    let error = typed
        .has_errors()
        .then(|| "Nothing was saved: check the fields marked below.".to_owned());
    let (header, header_errors) = typed.header.unwrap_or((stored_header, Vec::new()));
    let (new_item, new_item_errors) = typed.new_item.unwrap_or_default();
    let refused_item = typed.item;
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
    let (progress, report) = if issue.status.is_draft() {
        (None, None)
    } else {
        (
            Some(progress_view(state, id).await?),
            report_view(state, id).await?,
        )
    };
    let editable = issue.status.is_draft();
    Ok(html(
        status,
        &ComposerPage {
            ctx: me.context(state, "issues"),
            id,
            status: issue.status,
            editable,
            subject: issue.header.subject.as_str().to_owned(),
            header,
            header_errors: FormErrors(header_errors),
            items,
            new_item,
            new_item_errors: FormErrors(new_item_errors),
            error,
            undo: super::items::undo_offer(me, id).filter(|_| editable),
            created: timestamps::date_time(issue.created_at),
            updated: timestamps::date_time(issue.updated_at),
            progress,
            report,
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
    render_composer(&state, &me, *id, StatusCode::OK, Typed::default()).await
}

/// What a change did: the message for the page, and the item to return to.
pub(super) struct Changed {
    pub notice: String,
    pub item: Option<i64>,
}

impl Changed {
    pub fn new(notice: impl Into<String>, item: Option<i64>) -> Self {
        Self {
            notice: notice.into(),
            item,
        }
    }
}

/// The answer to a change: back to the composer at the item touched, or the
/// page again with what was refused and why (422).
pub(super) async fn after_change(
    state: &AppState,
    me: &SignedIn,
    id: i64,
    result: Result<Changed, IssueError>,
    typed: impl FnOnce(Vec<FieldError>) -> Typed,
) -> Result<HttpResponse, PageError> {
    match result {
        Ok(changed) => {
            let fragment = changed
                .item
                .map_or_else(String::new, |item| format!("#item-{item}"));
            Ok(me.redirect_with_notice(&format!("/admin/issues/{id}{fragment}"), changed.notice))
        }
        Err(IssueError::Invalid(invalid)) => {
            render_composer(
                state,
                me,
                id,
                StatusCode::UNPROCESSABLE_ENTITY,
                typed(invalid.0),
            )
            .await
        }
        Err(error @ IssueError::NotDraft(_)) => {
            Ok(me.redirect_with_error(&format!("/admin/issues/{id}"), error.to_string()))
        }
        Err(other) => Err(failure(state, other)),
    }
}

/// Saves the subject, preheader and intro a button carried, if it carried
/// them; a refused header comes back as the typed input and its errors.
pub(super) async fn save_carried(
    state: &AppState,
    id: i64,
    carried: &CarriedHeader,
) -> Result<(), (HeaderInput, IssueError)> {
    let Some(typed) = carried.typed() else {
        return Ok(());
    };
    let result = match IssueHeader::parse(&typed) {
        Ok(header) => issues_of(state).update_header(id, &header).await,
        Err(invalid) => Err(invalid.into()),
    };
    result.map_err(|error| (typed, error))
}

#[post("/{id:\\d+}")]
#[tracing::instrument(name = "save_issue", skip_all)]
pub(super) async fn save_header(
    state: web::Data<AppState>,
    me: SignedIn,
    id: web::Path<i64>,
    form: web::Form<AddForm>,
) -> Result<HttpResponse, PageError> {
    if form.has_item() {
        return add_with_header(&state, &me, *id, &form).await;
    }
    let typed = form.header.typed().unwrap_or_default();
    let result = match IssueHeader::parse(&typed) {
        Ok(header) => issues_of(&state).update_header(*id, &header).await,
        Err(invalid) => Err(invalid.into()),
    };
    if result.is_ok() {
        super::items::forget_undo(&me);
    }
    let result = result.map(|()| Changed::new("The draft is saved.", None));
    after_change(&state, &me, *id, result, |e| Typed {
        header: Some((typed, e)),
        ..Typed::default()
    })
    .await
}
