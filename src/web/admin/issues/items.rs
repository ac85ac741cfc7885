//! Adding, editing, removing (and undoing the removal of), and moving the
//! items of a draft.

use std::time::Duration;

use actix_web::{post, web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::composer::{after_change, save_carried, CarriedHeader, Changed, Typed};
use super::{issues_of, PageError};
use crate::issues::{
    HeaderInput, InvalidInput, IssueError, IssueHeader, ItemContent, ItemInput, Move,
};
use crate::web::admin::auth::SignedIn;
use crate::web::admin::shelf::Shelf;
use crate::web::AppState;

/// A removed item, kept so that its removal can be undone.
#[derive(Clone)]
struct RemovedItem {
    /// Where it stood (0-based).
    index: usize,
    item: ItemContent,
}

/// An item's summary can be far bigger than the session cookie: the session
/// holds the ticket, this shelf the item. An hour is long enough for an undo.
static REMOVED: Shelf<RemovedItem> = Shelf::new(1_000, Duration::from_secs(60 * 60));

/// Where the session keeps the ticket of the last removal.
const UNDO: &str = "composer_undo";

#[derive(Serialize, Deserialize)]
struct UndoTicket {
    ticket: String,
    issue: i64,
    title: String,
}

/// The title of the item whose removal from `issue` can be undone.
pub(super) fn undo_offer(me: &SignedIn, issue: i64) -> Option<String> {
    let undo = me.session.get::<UndoTicket>(UNDO).ok().flatten()?;
    (undo.issue == issue && REMOVED.peek(&undo.ticket).is_some()).then_some(undo.title)
}

/// A later change ends the chance to undo: the item's old place may no
/// longer mean what it did.
pub(super) fn forget_undo(me: &SignedIn) {
    if let Some(undo) = me
        .session
        .remove_as::<UndoTicket>(UNDO)
        .and_then(Result::ok)
    {
        REMOVED.take(&undo.ticket);
    }
}

#[derive(Deserialize)]
struct ItemForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    summary: String,
}

impl From<&ItemForm> for ItemInput {
    fn from(form: &ItemForm) -> Self {
        Self {
            title: form.title.clone(),
            url: form.url.clone(),
            source: form.source.clone(),
            date: form.date.clone(),
            summary: form.summary.clone(),
        }
    }
}

/// The page's one form, submitted by "Add item" or "Save draft": the new
/// item and the header.
#[derive(Deserialize)]
pub(super) struct AddForm {
    #[serde(flatten)]
    item: ItemForm,
    #[serde(flatten)]
    pub header: CarriedHeader,
}

impl AddForm {
    /// Whether a new item was typed (a title or a URL), which "Save draft"
    /// then adds rather than drops: Enter in a field presses "Save draft".
    pub fn has_item(&self) -> bool {
        !self.item.title.trim().is_empty() || !self.item.url.trim().is_empty()
    }
}

/// Answers a header that could not be saved with the page and what was typed.
async fn header_refused(
    state: &AppState,
    me: &SignedIn,
    id: i64,
    refused: (HeaderInput, IssueError),
) -> Result<HttpResponse, PageError> {
    let (typed, error) = refused;
    after_change(state, me, id, Err(error), |e| Typed {
        header: Some((typed, e)),
        ..Typed::default()
    })
    .await
}

#[post("/{id:\\d+}/items")]
#[tracing::instrument(name = "add_issue_item", skip_all)]
pub(super) async fn add_item(
    state: web::Data<AppState>,
    me: SignedIn,
    id: web::Path<i64>,
    form: web::Form<AddForm>,
) -> Result<HttpResponse, PageError> {
    add_with_header(&state, &me, *id, &form).await
}

/// Saves the header the form carried and adds its new item, or neither.
pub(super) async fn add_with_header(
    state: &AppState,
    me: &SignedIn,
    id: i64,
    form: &AddForm,
) -> Result<HttpResponse, PageError> {
    let typed_item = ItemInput::from(&form.item);
    let typed_header = form.header.typed();
    // Both checked before either is saved, so a refusal keeps both as typed.
    let header_check = typed_header.as_ref().map(IssueHeader::parse).transpose();
    let item = match (ItemContent::parse(&typed_item), header_check) {
        (Ok(item), Ok(_)) => item,
        (item, header) => {
            let header_errors = header.err().map(|e| e.0).unwrap_or_default();
            let item_errors = item.err().map(|e| e.0).unwrap_or_default();
            let typed = Typed {
                header: typed_header.map(|h| (h, header_errors)),
                new_item: Some((typed_item, item_errors.clone())),
                item: None,
            };
            let error = IssueError::Invalid(InvalidInput(item_errors));
            return after_change(state, me, id, Err(error), |_| typed).await;
        }
    };
    if let Err(refused) = save_carried(state, id, &form.header).await {
        return header_refused(state, me, id, refused).await;
    }
    let result = issues_of(state).add_item(id, &item).await;
    if result.is_ok() {
        forget_undo(me);
    }
    let result = result.map(|item| Changed::new("The item is added.", Some(item)));
    after_change(state, me, id, result, |e| Typed {
        new_item: Some((typed_item, e)),
        ..Typed::default()
    })
    .await
}

#[post("/{id:\\d+}/items/{item:\\d+}")]
#[tracing::instrument(name = "update_issue_item", skip_all)]
pub(super) async fn update_item(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<(i64, i64)>,
    form: web::Form<ItemForm>,
) -> Result<HttpResponse, PageError> {
    let (id, item_id) = path.into_inner();
    let typed = ItemInput::from(&*form);
    let result = match ItemContent::parse(&typed) {
        Ok(item) => issues_of(&state).update_item(id, item_id, &item).await,
        Err(invalid) => Err(invalid.into()),
    };
    if result.is_ok() {
        forget_undo(&me);
    }
    let result = result.map(|()| Changed::new("The item is saved.", Some(item_id)));
    after_change(&state, &me, id, result, |e| Typed {
        item: Some((item_id, typed, e)),
        ..Typed::default()
    })
    .await
}

#[post("/{id:\\d+}/items/{item:\\d+}/remove")]
#[tracing::instrument(name = "remove_issue_item", skip_all)]
pub(super) async fn remove_item(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<(i64, i64)>,
    form: web::Form<CarriedHeader>,
) -> Result<HttpResponse, PageError> {
    let (id, item_id) = path.into_inner();
    if let Err(refused) = save_carried(&state, id, &form).await {
        return header_refused(&state, &me, id, refused).await;
    }
    let issues = issues_of(&state);
    // What the undo needs, read before the item goes.
    let removed = issues.get(id).await.ok().and_then(|issue| {
        let index = issue.items.iter().position(|i| i.id == item_id)?;
        let item = issue.items.get(index)?.content.clone();
        Some(RemovedItem { index, item })
    });
    let result = issues.remove_item(id, item_id).await;
    let mut notice = "The item is removed.".to_owned();
    if result.is_ok() {
        forget_undo(&me);
        if let Some(removed) = removed {
            let title = removed.item.title.as_str().to_owned();
            notice = format!("The item “{title}” is removed.");
            let ticket = REMOVED.put(removed);
            let undo = UndoTicket {
                ticket,
                issue: id,
                title,
            };
            if let Err(error) = me.session.insert(UNDO, undo) {
                tracing::warn!(%error, "cannot offer to undo the removal");
            }
        }
    }
    let result = result.map(|()| Changed::new(notice, None));
    after_change(&state, &me, id, result, |_| Typed::default()).await
}

#[post("/{id:\\d+}/items/undo")]
#[tracing::instrument(name = "undo_item_removal", skip_all)]
pub(super) async fn undo_remove(
    state: web::Data<AppState>,
    me: SignedIn,
    id: web::Path<i64>,
    form: web::Form<CarriedHeader>,
) -> Result<HttpResponse, PageError> {
    let id = *id;
    let location = format!("/admin/issues/{id}");
    let undo = me
        .session
        .remove_as::<UndoTicket>(UNDO)
        .and_then(Result::ok)
        .filter(|undo| undo.issue == id);
    let Some(removed) = undo.and_then(|undo| REMOVED.take(&undo.ticket)) else {
        return Ok(me.redirect_with_error(
            &location,
            "There is no removal to undo: it was undone already, or the draft changed since.",
        ));
    };
    if let Err(refused) = save_carried(&state, id, &form).await {
        return header_refused(&state, &me, id, refused).await;
    }
    let issues = issues_of(&state);
    let result = match issues.add_item(id, &removed.item).await {
        Ok(item_id) => issues
            .place_item(id, item_id, removed.index)
            .await
            .map(|()| item_id),
        Err(error) => Err(error),
    };
    let title = removed.item.title.as_str().to_owned();
    let result =
        result.map(|item| Changed::new(format!("The item “{title}” is back."), Some(item)));
    after_change(&state, &me, id, result, |_| Typed::default()).await
}

/// "Move up" and "Move down" (`direction`), or drag and drop (`position`,
/// 1-based), with the header the page's form carries.
#[derive(Deserialize)]
struct MoveForm {
    direction: Option<String>,
    /// A string: numbers do not survive `flatten` in a urlencoded form.
    position: Option<String>,
    #[serde(flatten)]
    header: CarriedHeader,
}

enum Placement {
    Step(Move),
    At(usize),
}

#[post("/{id:\\d+}/items/{item:\\d+}/move")]
#[tracing::instrument(name = "move_issue_item", skip_all)]
pub(super) async fn move_item(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<(i64, i64)>,
    form: web::Form<MoveForm>,
) -> Result<HttpResponse, PageError> {
    let (id, item_id) = path.into_inner();
    let placement = match (form.direction.as_deref(), form.position.as_deref()) {
        (Some("up"), _) => Placement::Step(Move::Up),
        (Some("down"), _) => Placement::Step(Move::Down),
        (None, Some(position)) => match position.trim().parse::<usize>() {
            Ok(position) if position >= 1 => Placement::At(position - 1),
            _ => return Ok(refused_move(&me, id)),
        },
        _ => return Ok(refused_move(&me, id)),
    };
    if let Err(refused) = save_carried(&state, id, &form.header).await {
        return header_refused(&state, &me, id, refused).await;
    }
    let issues = issues_of(&state);
    let result = match placement {
        Placement::Step(to) => issues.move_item(id, item_id, to).await,
        Placement::At(index) => issues.place_item(id, item_id, index).await,
    };
    if result.is_ok() {
        forget_undo(&me);
    }
    let result = result.map(|()| Changed::new("The item is moved.", Some(item_id)));
    after_change(&state, &me, id, result, |_| Typed::default()).await
}

fn refused_move(me: &SignedIn, id: i64) -> HttpResponse {
    me.redirect_with_error(
        &format!("/admin/issues/{id}"),
        "Move an item up or down, or to a place in the list.",
    )
}
