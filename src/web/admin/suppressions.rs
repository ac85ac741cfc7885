//! The suppression list under `/admin/suppressions`: entries newest first
//! with a search and keyset pages, the form that adds an address or a
//! domain, and a remove button on each entry. For admins only, as the
//! subscriber list: it holds readers' addresses.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::auth::{AdminContext, AdminOnly, SignedIn};
use crate::store::timestamps;
use crate::suppressions::{Entry, ListQuery, Reason, SuppressionError, Target, MAX_REASON_LENGTH};
use crate::web::error::WebError;
use crate::web::pages::html;
use crate::web::AppState;

const LIST_PATH: &str = "/admin/suppressions";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list_page).service(add).service(remove);
}

struct ListedEntry {
    id: i64,
    kind: &'static str,
    shown: String,
    source: &'static str,
    reason: String,
    added_by: String,
    since: String,
}

impl From<Entry> for ListedEntry {
    fn from(entry: Entry) -> Self {
        Self {
            id: entry.id,
            kind: entry.suppressed.kind(),
            shown: entry.suppressed.display(),
            source: entry.source.as_str(),
            reason: entry.reason,
            added_by: entry.added_by.unwrap_or_default(),
            since: timestamps::date(entry.created_at),
        }
    }
}

/// The add form as typed, with what is wrong with it.
#[derive(Debug, Default, Deserialize)]
struct AddForm {
    #[serde(default)]
    value: String,
    #[serde(default)]
    reason: String,
}

#[derive(Template)]
#[template(path = "admin/suppressions.html")]
struct ListPage {
    ctx: AdminContext,
    q: String,
    rows: Vec<ListedEntry>,
    first_url: Option<String>,
    next_url: Option<String>,
    form: AddForm,
    value_error: Option<String>,
    reason_error: Option<String>,
    max_reason_length: usize,
}

#[derive(Debug, Default, Deserialize)]
struct ListParams {
    q: Option<String>,
    after: Option<String>,
}

fn list_url(q: &str, after: Option<i64>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if !q.is_empty() {
        query.append_pair("q", q);
    }
    if let Some(after) = after {
        query.append_pair("after", &after.to_string());
    }
    let query = query.finish();
    if query.is_empty() {
        LIST_PATH.to_owned()
    } else {
        format!("{LIST_PATH}?{query}")
    }
}

struct FormState {
    form: AddForm,
    value_error: Option<String>,
    reason_error: Option<String>,
}

async fn render(
    state: &AppState,
    me: &SignedIn,
    params: ListParams,
    status: StatusCode,
    form: FormState,
) -> Result<HttpResponse, WebError> {
    let q: String = params
        .q
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(254)
        .collect::<String>()
        .trim()
        .to_owned();
    // A cursor that is not one of ours shows the first page.
    let after = params.after.as_deref().and_then(|a| a.parse::<i64>().ok());
    let page = state
        .suppressions
        .list(&ListQuery {
            search: (!q.is_empty()).then(|| q.clone()),
            after,
            limit: None,
        })
        .await?;
    html(
        status,
        &ListPage {
            ctx: me.context(state, "suppressions"),
            first_url: after.map(|_| list_url(&q, None)),
            next_url: page.next.map(|next| list_url(&q, Some(next))),
            rows: page.items.into_iter().map(ListedEntry::from).collect(),
            q,
            form: form.form,
            value_error: form.value_error,
            reason_error: form.reason_error,
            max_reason_length: MAX_REASON_LENGTH,
        },
    )
}

#[get("/suppressions")]
#[tracing::instrument(name = "suppression_list", skip_all)]
async fn list_page(
    state: web::Data<AppState>,
    AdminOnly(me): AdminOnly,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, WebError> {
    let form = FormState {
        form: AddForm::default(),
        value_error: None,
        reason_error: None,
    };
    render(&state, &me, params.into_inner(), StatusCode::OK, form).await
}

#[post("/suppressions")]
#[tracing::instrument(name = "suppression_add", skip_all)]
async fn add(
    state: web::Data<AppState>,
    AdminOnly(me): AdminOnly,
    form: web::Form<AddForm>,
) -> Result<HttpResponse, WebError> {
    let form = form.into_inner();
    let target = Target::parse(&form.value);
    let reason = Reason::parse(&form.reason);
    let (target, reason) = match (target, reason) {
        (Ok(target), Ok(reason)) => (target, reason),
        (target, reason) => {
            let state_of_form = FormState {
                value_error: target.err().map(|e| e.to_string()),
                reason_error: reason.err().map(|e| e.to_string()),
                form,
            };
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return render(&state, &me, ListParams::default(), status, state_of_form).await;
        }
    };
    let added_by = format!("admin {}", me.user.email);
    match state.suppressions.add(&target, &reason, &added_by).await {
        Ok(entry) => Ok(me.redirect_with_notice(
            LIST_PATH,
            format!(
                "{} is suppressed: no mail goes there from now on.",
                entry.suppressed.display()
            ),
        )),
        Err(error @ SuppressionError::AlreadyListed(_)) => {
            let state_of_form = FormState {
                value_error: Some(error.to_string()),
                reason_error: None,
                form,
            };
            let status = StatusCode::CONFLICT;
            render(&state, &me, ListParams::default(), status, state_of_form).await
        }
        Err(SuppressionError::NotFound) => Ok(me.redirect_with_error(LIST_PATH, "Not added.")),
        Err(SuppressionError::Store(error)) => Err(error.into()),
    }
}

#[post("/suppressions/{id:\\d+}/remove")]
#[tracing::instrument(name = "suppression_remove", skip_all)]
async fn remove(
    state: web::Data<AppState>,
    AdminOnly(me): AdminOnly,
    id: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    match state.suppressions.remove(*id).await {
        Ok(entry) => Ok(me.redirect_with_notice(
            LIST_PATH,
            format!(
                "{} is no longer suppressed. Nobody was subscribed again: a reader who left stays off the list until they sign up.",
                entry.suppressed.display()
            ),
        )),
        Err(SuppressionError::Store(error)) => Err(error.into()),
        Err(error) => Ok(me.redirect_with_error(LIST_PATH, error.to_string())),
    }
}
