//! The subscriber pages under `/admin/subscribers`: the list (search, status
//! filter, keyset pages), one subscriber's history (with the addresses and
//! user agents of their consent) and the issues sent to them, and the
//! actions: unsubscribe, resend the confirmation, erase. All are for admins:
//! editors see counts on the dashboard, never the list (docs/security/web.md).
//! Import and export live in `transfer`.

mod transfer;

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::auth::{AdminContext, AdminOnly, SignedIn};
use crate::audit::{AuditAction, AuditEntry};
use crate::delivery::deliveries::ReceivedIssue;
use crate::fields::{check_values, FieldKind, FieldValue, RawValue, Scope};
use crate::store::timestamps;
use crate::subscriptions::admin::{
    Actor, AdminError, ListQuery, SearchTerm, SubscriberDetail, SubscriberRow,
};
use crate::subscriptions::domain::display_address;
use crate::subscriptions::{SignupOutcome, SubscriberStatus};
use crate::web::error::WebError;
use crate::web::origin::request_origin;
use crate::web::pages::{html, ChoiceOption};
use crate::web::AppState;

const STATUSES: [&str; 4] = ["pending", "confirmed", "unsubscribed", "bounced"];
/// Issues listed on a subscriber's page, newest first.
const ISSUES_SHOWN: i64 = 100;

pub fn routes(cfg: &mut web::ServiceConfig) {
    // The fixed paths first: `{id}` only takes digits, but order keeps it obvious.
    cfg.configure(transfer::routes)
        .service(list_page)
        .service(detail_page)
        .service(unsubscribe_page)
        .service(unsubscribe)
        .service(resend_confirmation)
        .service(update_fields)
        .service(erase);
}

/// Who acts, for the subscriber's history.
fn actor(me: &SignedIn, req: &HttpRequest, state: &AppState) -> Actor {
    Actor::new(
        format!("admin {}", me.user.email),
        request_origin(req, &state.config.trusted_proxies),
    )
}

struct ListedRow {
    id: i64,
    email: String,
    name: String,
    status: SubscriberStatus,
    since: String,
}

impl From<SubscriberRow> for ListedRow {
    fn from(row: SubscriberRow) -> Self {
        Self {
            id: row.id,
            // Stored as ASCII (punycode), shown as the subscriber wrote it.
            email: display_address(&row.email).into_owned(),
            name: row.name.unwrap_or_default(),
            status: row.status,
            since: timestamps::date(row.created_at),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/subscribers.html")]
struct ListPage {
    ctx: AdminContext,
    q: String,
    status: String,
    statuses: [&'static str; 4],
    rows: Vec<ListedRow>,
    first_url: Option<String>,
    next_url: Option<String>,
    notice: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ListParams {
    q: Option<String>,
    status: Option<String>,
    after: Option<String>,
}

fn list_url(q: &str, status: &str, after: Option<i64>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if !q.is_empty() {
        query.append_pair("q", q);
    }
    if !status.is_empty() {
        query.append_pair("status", status);
    }
    if let Some(after) = after {
        query.append_pair("after", &after.to_string());
    }
    let query = query.finish();
    if query.is_empty() {
        "/admin/subscribers".to_owned()
    } else {
        format!("/admin/subscribers?{query}")
    }
}

async fn render_list(
    state: &AppState,
    me: &SignedIn,
    params: ListParams,
    notice: Option<String>,
) -> Result<HttpResponse, WebError> {
    let search = params.q.as_deref().and_then(SearchTerm::parse);
    // A status or cursor that is not one of ours shows the whole first page.
    let status = params
        .status
        .as_deref()
        .and_then(|s| s.parse::<SubscriberStatus>().ok());
    let after = params.after.as_deref().and_then(|a| a.parse::<i64>().ok());
    let page = state
        .subscriptions
        .list(&ListQuery {
            search: search.clone(),
            status,
            after,
            ..ListQuery::default()
        })
        .await?;
    let q = search.map(|s| s.as_str().to_owned()).unwrap_or_default();
    let status = status.map(|s| s.as_str().to_owned()).unwrap_or_default();
    html(
        StatusCode::OK,
        &ListPage {
            first_url: after.map(|_| list_url(&q, &status, None)),
            next_url: page.next.map(|next| list_url(&q, &status, Some(next))),
            ctx: me.context(state, "subscribers"),
            rows: page.items.into_iter().map(ListedRow::from).collect(),
            statuses: STATUSES,
            q,
            status,
            notice,
        },
    )
}

#[get("/subscribers")]
#[tracing::instrument(name = "subscriber_list", skip_all)]
async fn list_page(
    state: web::Data<AppState>,
    AdminOnly(me): AdminOnly,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, WebError> {
    render_list(&state, &me, params.into_inner(), None).await
}

struct HistoryLine {
    when: String,
    what: String,
    note: String,
    ip: String,
    user_agent: String,
}

/// One issue on a subscriber's page: what became of their copy.
struct ReceivedLine {
    issue_id: i64,
    subject: String,
    /// sent, failed, cancelled, queued, or retrying (queued after a temporary failure).
    outcome: String,
    failed: bool,
    /// When it went out, or failed for good.
    when: String,
    /// The server's reply, or why it failed or was not sent.
    detail: String,
}

impl From<ReceivedIssue> for ReceivedLine {
    fn from(received: ReceivedIssue) -> Self {
        let outcome = match (received.status.as_str(), &received.failure) {
            ("failed", Some(failure)) => format!("failed ({failure})"),
            ("queued", _) if received.reply.is_some() => "retrying".to_owned(),
            (status, _) => status.to_owned(),
        };
        Self {
            issue_id: received.issue_id,
            subject: received.subject,
            outcome,
            failed: received.status == "failed",
            when: received
                .sent_at
                .or(received.failed_at)
                .map(timestamps::date_time)
                .unwrap_or_default(),
            detail: received.reply.unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/subscriber.html")]
struct DetailPage {
    ctx: AdminContext,
    id: i64,
    email: String,
    name: String,
    status: SubscriberStatus,
    since: String,
    history: Vec<HistoryLine>,
    received: Vec<ReceivedLine>,
    /// More issues went to them than are listed.
    received_truncated: bool,
    can_unsubscribe: bool,
    can_resend: bool,
    /// The slugs of their topics, shown when there is more than one topic.
    topics: Option<String>,
    /// Every custom field with its value, as inputs of one form.
    fields: Vec<FieldLine>,
}

/// A custom field's input on the subscriber's page. Yes/no is a select
/// (yes, no, or no value), so that every field is sent and an empty one
/// means "no value".
struct FieldLine {
    key: String,
    label: String,
    /// text, number, date or select
    input: &'static str,
    required: bool,
    public: bool,
    value: String,
    choices: Vec<ChoiceOption>,
}

impl FieldLine {
    fn of((field, value): (crate::fields::Field, Option<FieldValue>)) -> Self {
        let definition = field.definition;
        let value = value.map(|v| match v {
            FieldValue::YesNo(true) => "yes".to_owned(),
            FieldValue::YesNo(false) => "no".to_owned(),
            other => other.to_string(),
        });
        let value = value.unwrap_or_default();
        let (input, choices): (&'static str, Vec<String>) = match &definition.kind {
            FieldKind::Text => ("text", Vec::new()),
            FieldKind::Number => ("number", Vec::new()),
            FieldKind::Date => ("date", Vec::new()),
            FieldKind::YesNo => ("select", vec!["yes".into(), "no".into()]),
            FieldKind::Choice(choices) => ("select", choices.as_slice().to_vec()),
        };
        Self {
            key: definition.key.to_string(),
            label: definition.label.as_str().to_owned(),
            input,
            required: definition.required,
            public: definition.is_public(),
            choices: choices
                .into_iter()
                .map(|choice| ChoiceOption {
                    selected: choice == value,
                    value: choice,
                })
                .collect(),
            value,
        }
    }
}

impl DetailPage {
    /// `several_topics`: whether the site has more than one topic; with
    /// one, the page is as it was before topics.
    fn new(
        ctx: AdminContext,
        detail: SubscriberDetail,
        received: Vec<ReceivedIssue>,
        several_topics: bool,
    ) -> Self {
        let s = detail.subscriber;
        let topics = several_topics.then(|| detail.topics.join(", "));
        Self {
            ctx,
            id: s.id,
            email: display_address(&s.email).into_owned(),
            name: s.name.unwrap_or_default(),
            status: s.status,
            since: timestamps::date_time(s.created_at),
            history: detail
                .history
                .into_iter()
                .map(|entry| HistoryLine {
                    when: timestamps::date_time(entry.at),
                    what: if several_topics && !entry.topics.is_empty() {
                        format!(
                            "{} (topics: {})",
                            entry.description(),
                            entry.topics.join(", ")
                        )
                    } else {
                        entry.description().to_owned()
                    },
                    note: entry.note.unwrap_or_default(),
                    ip: entry.ip.unwrap_or_default(),
                    user_agent: entry.user_agent.unwrap_or_default(),
                })
                .collect(),
            received_truncated: received.len() as i64 >= ISSUES_SHOWN,
            received: received.into_iter().map(ReceivedLine::from).collect(),
            can_unsubscribe: matches!(
                s.status,
                SubscriberStatus::Pending | SubscriberStatus::Confirmed
            ),
            can_resend: s.status == SubscriberStatus::Pending,
            topics,
            fields: detail.fields.into_iter().map(FieldLine::of).collect(),
        }
    }
}

/// The detail page; 404 when there is no such subscriber.
async fn render_detail(state: &AppState, me: &SignedIn, id: i64) -> Result<HttpResponse, WebError> {
    let Some(detail) = state.subscriptions.detail(id).await? else {
        return not_found(state, me).await;
    };
    let received = state.sends.received_by(id, ISSUES_SHOWN).await?;
    let several_topics = state.topics.all().await?.len() > 1;
    let ctx = me.context(state, "subscribers");
    let page = DetailPage::new(ctx, detail, received, several_topics);
    html(StatusCode::OK, &page)
}

async fn not_found(state: &AppState, me: &SignedIn) -> Result<HttpResponse, WebError> {
    let mut response = render_list(
        state,
        me,
        ListParams::default(),
        Some("There is no such subscriber; they may have been erased.".to_owned()),
    )
    .await?;
    *response.status_mut() = StatusCode::NOT_FOUND;
    Ok(response)
}

#[get("/subscribers/{id:\\d+}")]
#[tracing::instrument(name = "subscriber_detail", skip_all)]
async fn detail_page(
    state: web::Data<AppState>,
    AdminOnly(me): AdminOnly,
    id: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    render_detail(&state, &me, *id).await
}

fn detail_url(id: i64) -> String {
    format!("/admin/subscribers/{id}")
}

/// Back to the subscriber's page with the outcome of an action (post/redirect/get).
fn after_action(
    me: &SignedIn,
    id: i64,
    result: Result<String, AdminError>,
) -> Result<HttpResponse, WebError> {
    match result {
        Ok(notice) => Ok(me.redirect_with_notice(&detail_url(id), notice)),
        Err(AdminError::NotFound) => Ok(me.redirect_with_error(
            "/admin/subscribers",
            "There is no such subscriber; they may have been erased.",
        )),
        Err(AdminError::Store(error)) => Err(error.into()),
        Err(error) => Ok(me.redirect_with_error(&detail_url(id), error.to_string())),
    }
}

/// `POST /subscribers/{id}/fields`: every custom field as typed
/// (`fields[key]=value`); an empty one loses its value. Nothing changes if
/// any value does not fit; the error names the field.
#[post("/subscribers/{id:\\d+}/fields")]
#[tracing::instrument(name = "admin_update_subscriber_fields", skip_all)]
async fn update_fields(
    req: HttpRequest,
    state: web::Data<AppState>,
    AdminOnly(me): AdminOnly,
    id: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let id = *id;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let given: Vec<(String, RawValue<'_>)> = pairs
        .iter()
        .filter_map(|(name, value)| {
            let key = name.strip_prefix("fields[")?.strip_suffix(']')?;
            Some((key.to_owned(), RawValue::Text(value)))
        })
        .collect();
    let fields = state.fields.all().await?;
    let values = match check_values(&fields, &given, Scope::Update) {
        Ok(values) => values,
        Err(errors) => {
            let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
            return Ok(me.redirect_with_error(
                &detail_url(id),
                format!("Nothing saved: {}", messages.join(" ")),
            ));
        }
    };
    let keys = crate::fields::keys_named(&fields, &values);
    let actor = actor(&me, &req, &state);
    let result = state
        .subscriptions
        .set_fields(id, &values, &keys, &actor)
        .await;
    if result.is_ok() && !values.is_empty() {
        state
            .record_audit(
                &req,
                AuditEntry::new(me.actor(), AuditAction::SubscriberFieldsChanged)
                    .target(format!("subscriber #{id}"))
                    .detail(keys),
            )
            .await;
    }
    after_action(&me, id, result.map(|()| "Custom fields saved.".to_owned()))
}

#[derive(Template)]
#[template(path = "admin/subscriber_unsubscribe.html")]
struct UnsubscribePage {
    ctx: AdminContext,
    id: i64,
    email: String,
    status: SubscriberStatus,
}

/// `GET /subscribers/{id}/unsubscribe`: what unsubscribing does, and the
/// button that does it.
#[get("/subscribers/{id:\\d+}/unsubscribe")]
#[tracing::instrument(name = "admin_unsubscribe_page", skip_all)]
async fn unsubscribe_page(
    state: web::Data<AppState>,
    AdminOnly(me): AdminOnly,
    id: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    let Some(detail) = state.subscriptions.detail(*id).await? else {
        return not_found(&state, &me).await;
    };
    let subscriber = detail.subscriber;
    if !matches!(
        subscriber.status,
        SubscriberStatus::Pending | SubscriberStatus::Confirmed
    ) {
        return Ok(
            me.redirect_with_error(&detail_url(*id), "This subscriber is already off the list.")
        );
    }
    html(
        StatusCode::OK,
        &UnsubscribePage {
            ctx: me.context(&state, "subscribers"),
            id: subscriber.id,
            email: display_address(&subscriber.email).into_owned(),
            status: subscriber.status,
        },
    )
}

/// A risky action's form carries `confirm=yes` only from its confirmation
/// page: a bare POST (an old page, a stray script) does nothing.
#[derive(Deserialize)]
struct ConfirmForm {
    confirm: Option<String>,
}

#[post("/subscribers/{id:\\d+}/unsubscribe")]
#[tracing::instrument(name = "admin_unsubscribe", skip_all)]
async fn unsubscribe(
    req: HttpRequest,
    state: web::Data<AppState>,
    me: AdminOnly,
    id: web::Path<i64>,
    form: web::Form<ConfirmForm>,
) -> Result<HttpResponse, WebError> {
    let me = me.0;
    if form.confirm.as_deref() != Some("yes") {
        return Ok(me.redirect_with_error(
            &format!("/admin/subscribers/{id}/unsubscribe"),
            "Nothing was changed: confirm on this page first.",
        ));
    }
    let result = state
        .subscriptions
        .unsubscribe_by(*id, &actor(&me, &req, &state))
        .await
        .map(|left| {
            if left {
                "Unsubscribed: no more mail goes to this address.".to_owned()
            } else {
                "This subscriber was already off the list.".to_owned()
            }
        });
    after_action(&me, *id, result)
}

#[post("/subscribers/{id:\\d+}/resend")]
#[tracing::instrument(name = "admin_resend_confirmation", skip_all)]
async fn resend_confirmation(
    req: HttpRequest,
    state: web::Data<AppState>,
    me: AdminOnly,
    id: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    let me = me.0;
    let result = state
        .subscriptions
        .resend_confirmation(*id, &actor(&me, &req, &state))
        .await;
    match result {
        Ok(SignupOutcome::ConfirmationWithheld) => {
            let config = &state.config;
            let error = format!(
                "Not sent: an address gets at most {} confirmation mails a day, {} apart, so that nobody can flood an inbox. Try again later.",
                config.confirmations_per_day,
                humantime::format_duration(config.confirmation_min_interval)
            );
            Ok(me.redirect_with_error(&detail_url(*id), error))
        }
        Ok(SignupOutcome::Suppressed) => Ok(me.redirect_with_error(
            &detail_url(*id),
            "Not sent: this address is on the suppression list (see Suppressions).",
        )),
        other => {
            let result = other.map(|_| "A new confirmation mail is on its way.".to_owned());
            after_action(&me, *id, result)
        }
    }
}

#[derive(Deserialize)]
struct EraseForm {
    confirm: Option<String>,
}

#[post("/subscribers/{id:\\d+}/erase")]
#[tracing::instrument(name = "admin_erase", skip_all)]
async fn erase(
    req: HttpRequest,
    state: web::Data<AppState>,
    me: AdminOnly,
    id: web::Path<i64>,
    form: web::Form<EraseForm>,
) -> Result<HttpResponse, WebError> {
    let me = me.0;
    if form.confirm.as_deref() != Some("yes") {
        let error = "Nothing was erased: tick the box to confirm, as erasing cannot be undone.";
        return Ok(me.redirect_with_error(&detail_url(*id), error));
    }
    match state.subscriptions.erase(*id).await {
        Ok(()) => {
            // By number only: the erased address must not live on here.
            state
                .record_audit(
                    &req,
                    AuditEntry::new(me.actor(), AuditAction::SubscriberErased)
                        .target(format!("subscriber #{id}")),
                )
                .await;
            let notice =
                "The subscriber and their history are erased; only the count of erasures is kept.";
            Ok(me.redirect_with_notice("/admin/subscribers", notice))
        }
        Err(error) => after_action(&me, *id, Err(error)),
    }
}
