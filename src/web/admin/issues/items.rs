//! Adding, editing, removing and moving the items of a draft.

use actix_web::http::StatusCode;
use actix_web::{post, web, HttpResponse};
use serde::Deserialize;

use super::composer::{after_change, render_composer, Typed};
use super::{issues_of, PageError};
use crate::issues::{ItemContent, ItemInput, Move};
use crate::web::admin::auth::SignedIn;
use crate::web::AppState;

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

impl From<ItemForm> for ItemInput {
    fn from(form: ItemForm) -> Self {
        Self {
            title: form.title,
            url: form.url,
            source: form.source,
            date: form.date,
            summary: form.summary,
        }
    }
}

#[post("/{id:\\d+}/items")]
#[tracing::instrument(name = "add_issue_item", skip_all)]
pub(super) async fn add_item(
    state: web::Data<AppState>,
    me: SignedIn,
    id: web::Path<i64>,
    form: web::Form<ItemForm>,
) -> Result<HttpResponse, PageError> {
    let typed = ItemInput::from(form.into_inner());
    let result = match ItemContent::parse(&typed) {
        Ok(item) => issues_of(&state).add_item(*id, &item).await.map(drop),
        Err(invalid) => Err(invalid.into()),
    };
    let result = result.map(|()| "The item is added.");
    after_change(&state, &me, *id, result, |e| Typed::NewItem(typed, e)).await
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
    let typed = ItemInput::from(form.into_inner());
    let result = match ItemContent::parse(&typed) {
        Ok(item) => issues_of(&state).update_item(id, item_id, &item).await,
        Err(invalid) => Err(invalid.into()),
    };
    let result = result.map(|()| "The item is saved.");
    after_change(&state, &me, id, result, |e| Typed::Item(item_id, typed, e)).await
}

#[post("/{id:\\d+}/items/{item:\\d+}/remove")]
#[tracing::instrument(name = "remove_issue_item", skip_all)]
pub(super) async fn remove_item(
    state: web::Data<AppState>,
    me: SignedIn,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, PageError> {
    let (id, item_id) = path.into_inner();
    let result = issues_of(&state).remove_item(id, item_id).await;
    let result = result.map(|()| "The item is removed.");
    after_change(&state, &me, id, result, |_| Typed::Nothing).await
}

#[derive(Deserialize)]
struct MoveForm {
    direction: String,
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
    let to = match form.direction.as_str() {
        "up" => Move::Up,
        "down" => Move::Down,
        _ => {
            let error = Some("Move an item up or down.".to_owned());
            return render_composer(
                &state,
                &me,
                id,
                StatusCode::BAD_REQUEST,
                None,
                error,
                Typed::Nothing,
            )
            .await;
        }
    };
    let result = issues_of(&state).move_item(id, item_id, to).await;
    let result = result.map(|()| "The item is moved.");
    after_change(&state, &me, id, result, |_| Typed::Nothing).await
}
