//! Segments under `/admin/segments`: the list with each segment's live
//! count, a form that builds the filter (one section per kind of condition,
//! joined by all or any, and one custom-field condition; the JSON API takes
//! any mix), a Count button that
//! shows the count of the form as it stands, and a confirmation step before
//! deleting. Editors and admins, as both will send to segments.

use crate::format::capitalised;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;
use serde_json::{json, Value};

use super::auth::{AdminContext, SignedIn};
use crate::audit::{AuditAction, AuditEntry};
use crate::fields::Field;
use crate::format::thousands;
use crate::segments::{
    Condition, DateRange, FieldTest, Segment, SegmentError, SegmentFilter, SegmentName, Source,
    MAX_SEGMENT_NAME_LENGTH,
};
use crate::topics::Topic;
use crate::web::error::WebError;
use crate::web::pages::html;
use crate::web::AppState;

const LIST_PATH: &str = "/admin/segments";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list_page)
        .service(new_page)
        .service(create)
        .service(count_form)
        .service(edit_page)
        .service(update)
        .service(delete_page)
        .service(delete);
}

/// The form as typed: one section per kind of condition; a section with
/// nothing chosen is not used. Boxes send one field each, so the body is
/// read pair by pair.
#[derive(Debug, Default, Clone)]
struct SegmentForm {
    /// Set on a saved segment's form, so Count shows the same page.
    id: Option<i64>,
    name: String,
    combine: String,
    statuses: Vec<String>,
    topic_op: String,
    topics: Vec<i64>,
    signed_up_op: String,
    signed_up_date: String,
    signed_up_until: String,
    sources: Vec<String>,
    received: String,
    received_since: String,
    bounced: String,
    bounced_since: String,
    /// The one field condition the form holds: field id, op, value, and the
    /// upper end of a "between".
    field: Option<i64>,
    field_op: String,
    field_value: String,
    field_until: String,
}

impl SegmentForm {
    fn read(body: &[u8]) -> Self {
        let mut form = Self::default();
        for (key, value) in url::form_urlencoded::parse(body) {
            let value = value.into_owned();
            match key.as_ref() {
                "id" => form.id = value.parse().ok(),
                "name" => form.name = value,
                "match" => form.combine = value,
                "status" => form.statuses.push(value),
                "topic_op" => form.topic_op = value,
                // A box names a topic id; anything else is no topic.
                "topic" => form.topics.extend(value.parse::<i64>().ok()),
                "signed_up_op" => form.signed_up_op = value,
                "signed_up_date" => form.signed_up_date = value,
                "signed_up_until" => form.signed_up_until = value,
                "source" => form.sources.push(value),
                "received" => form.received = value,
                "received_since" => form.received_since = value,
                "bounced" => form.bounced = value,
                "bounced_since" => form.bounced_since = value,
                "field" => form.field = value.parse().ok(),
                "field_op" => form.field_op = value,
                "field_value" => form.field_value = value,
                "field_until" => form.field_until = value,
                _ => {}
            }
        }
        form
    }

    /// The form of a saved filter; `None` when it has conditions the form
    /// cannot show (two of a kind, made through the API).
    fn of(segment: &Segment) -> Option<Self> {
        let filter = &segment.filter;
        let mut form = Self {
            id: Some(segment.id),
            name: segment.name.clone(),
            combine: filter.combine().as_str().to_owned(),
            ..Self::default()
        };
        let mut seen: Vec<&str> = Vec::new();
        for condition in filter.conditions() {
            if seen.contains(&condition.kind()) {
                return None;
            }
            seen.push(condition.kind());
            match condition {
                Condition::Status(statuses) => {
                    form.statuses = statuses.iter().map(|s| s.as_str().to_owned()).collect();
                }
                Condition::Topics(test, ids) => {
                    form.topic_op = test.as_str().to_owned();
                    form.topics = ids.clone();
                }
                Condition::SignedUp(range) => match range {
                    DateRange::Before(day) => {
                        form.signed_up_op = "before".into();
                        form.signed_up_date = day.to_string();
                    }
                    DateRange::After(day) => {
                        form.signed_up_op = "after".into();
                        form.signed_up_date = day.to_string();
                    }
                    DateRange::Between(from, to) => {
                        form.signed_up_op = "between".into();
                        form.signed_up_date = from.to_string();
                        form.signed_up_until = to.to_string();
                    }
                },
                Condition::Source(sources) => {
                    form.sources = sources.iter().map(|s| s.as_str().to_owned()).collect();
                }
                Condition::Received(happened, since) => {
                    form.received = happened.as_str().to_owned();
                    form.received_since = since.map(|d| d.to_string()).unwrap_or_default();
                }
                Condition::Bounced(happened, since) => {
                    form.bounced = happened.as_str().to_owned();
                    form.bounced_since = since.map(|d| d.to_string()).unwrap_or_default();
                }
                Condition::Field(id, test) => {
                    form.field = Some(*id);
                    form.field_op = test.op().to_owned();
                    let (value, until) = match test {
                        FieldTest::Empty | FieldTest::NotEmpty => (String::new(), String::new()),
                        FieldTest::TextEq(text) | FieldTest::Contains(text) => {
                            (text.clone(), String::new())
                        }
                        FieldTest::TextIn(values) => (values.join(", "), String::new()),
                        FieldTest::NumberEq(n) | FieldTest::Lt(n) | FieldTest::Gt(n) => {
                            (n.get().to_string(), String::new())
                        }
                        FieldTest::NumberBetween(from, to) => {
                            (from.get().to_string(), to.get().to_string())
                        }
                        FieldTest::Before(day) | FieldTest::After(day) => {
                            (day.to_string(), String::new())
                        }
                        FieldTest::DateBetween(from, to) => (from.to_string(), to.to_string()),
                        FieldTest::Is(yes) => {
                            ((if *yes { "yes" } else { "no" }).to_owned(), String::new())
                        }
                    };
                    form.field_value = value;
                    form.field_until = until;
                }
            }
        }
        Some(form)
    }

    /// The field condition as JSON; what the typed value means follows from
    /// the chosen field's kind (a number field compares numbers).
    fn field_condition(&self, fields: &[Field]) -> Option<Value> {
        let id = self.field?;
        let op = if self.field_op.is_empty() {
            "not_empty"
        } else {
            self.field_op.as_str()
        };
        let kind = fields
            .iter()
            .find(|f| f.id == id)
            .map_or("text", |f| f.definition.kind.as_str());
        let typed = |raw: &str| -> Value {
            let raw = raw.trim();
            match (kind, raw.parse::<f64>()) {
                ("number", Ok(n)) => json!(n),
                _ => Value::String(raw.to_owned()),
            }
        };
        let mut condition = json!({"type": "field", "field": id, "op": op});
        match op {
            "empty" | "not_empty" => {}
            "in" => {
                let values: Vec<&str> = self
                    .field_value
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .collect();
                condition["values"] = json!(values);
            }
            "between" => {
                condition["from"] = typed(&self.field_value);
                condition["to"] = typed(&self.field_until);
            }
            "before" | "after" => condition["date"] = typed(&self.field_value),
            "is" => {
                condition["value"] = match self.field_value.trim().to_lowercase().as_str() {
                    "yes" | "true" => Value::Bool(true),
                    "no" | "false" => Value::Bool(false),
                    other => Value::String(other.to_owned()),
                }
            }
            _ => condition["value"] = typed(&self.field_value),
        }
        Some(condition)
    }

    /// The filter as JSON, through the same parser as the API's.
    fn filter(&self, fields: &[Field]) -> Result<SegmentFilter, String> {
        let mut conditions: Vec<Value> = Vec::new();
        if !self.statuses.is_empty() {
            conditions.push(json!({"type": "status", "in": self.statuses}));
        }
        if !self.topics.is_empty() {
            let op = if self.topic_op.is_empty() {
                "any"
            } else {
                self.topic_op.as_str()
            };
            conditions.push(json!({"type": "topics", "op": op, "topics": self.topics}));
        }
        match self.signed_up_op.as_str() {
            "" => {}
            "between" => conditions.push(json!({
                "type": "signed_up", "op": "between",
                "from": self.signed_up_date, "to": self.signed_up_until,
            })),
            op => {
                conditions.push(json!({"type": "signed_up", "op": op, "date": self.signed_up_date}))
            }
        }
        if !self.sources.is_empty() {
            conditions.push(json!({"type": "source", "in": self.sources}));
        }
        for (kind, op, since) in [
            ("received", &self.received, &self.received_since),
            ("bounced", &self.bounced, &self.bounced_since),
        ] {
            if op.is_empty() {
                continue;
            }
            let mut condition = json!({"type": kind, "op": op});
            if !since.trim().is_empty() {
                condition["since"] = Value::String(since.clone());
            }
            conditions.push(condition);
        }
        conditions.extend(self.field_condition(fields));
        let combine = if self.combine == "any" { "any" } else { "all" };
        SegmentFilter::from_json(&json!({"match": combine, "conditions": conditions}))
            .map_err(|e| format!("{}.", capitalised(&e.to_string())))
    }

    fn parse(&self, fields: &[Field]) -> Result<(SegmentName, SegmentFilter), FormErrors> {
        let name = SegmentName::parse(&self.name);
        let filter = self.filter(fields);
        match (name, filter) {
            (Ok(name), Ok(filter)) => Ok((name, filter)),
            (name, filter) => Err(FormErrors {
                name: name.err().map(|e| e.to_string()),
                filter: filter.err(),
            }),
        }
    }

    fn has_status(&self, status: &str) -> bool {
        self.statuses.iter().any(|s| s == status)
    }

    fn has_source(&self, source: &str) -> bool {
        self.sources.iter().any(|s| s == source)
    }

    fn has_topic(&self, id: &i64) -> bool {
        self.topics.contains(id)
    }

    fn has_field(&self, id: &i64) -> bool {
        self.field == Some(*id)
    }

    fn is_any(&self) -> bool {
        self.combine == "any"
    }
}

#[derive(Debug, Default)]
struct FormErrors {
    name: Option<String>,
    filter: Option<String>,
}

impl FormErrors {
    fn any(&self) -> bool {
        self.name.is_some() || self.filter.is_some()
    }

    fn of(error: SegmentError) -> Result<Self, WebError> {
        match error {
            SegmentError::NameTaken(_) => Ok(Self {
                name: Some(format!("{}.", capitalised(&error.to_string()))),
                filter: None,
            }),
            SegmentError::Filter(error) => Ok(Self {
                name: None,
                filter: Some(format!("{}.", capitalised(&error.to_string()))),
            }),
            SegmentError::NotFound => Ok(Self {
                name: None,
                filter: Some("There is no such segment.".into()),
            }),
            SegmentError::Store(error) => Err(error.into()),
        }
    }
}

/// A row of the list.
struct ListedSegment {
    id: i64,
    name: String,
    /// The count, or why it cannot be counted (a topic deleted since).
    count: String,
    counted: bool,
}

/// A field in the form's select.
struct FieldOption {
    id: i64,
    label: String,
    kind: &'static str,
}

/// The ops of a field condition, with what the form says of each.
const FIELD_OPS: [(&str, &str); 11] = [
    ("not_empty", "has a value"),
    ("empty", "has no value"),
    ("eq", "is (text, choice, number)"),
    ("in", "is one of, comma-separated (text, choice)"),
    ("contains", "contains (text)"),
    ("lt", "is below (number)"),
    ("gt", "is above (number)"),
    (
        "between",
        "from the value to the upper value, both included (number, date)",
    ),
    ("before", "is before the day (date)"),
    ("after", "is after the day (date)"),
    ("is", "is yes or no (yes/no)"),
];

/// A topic's box on the form.
struct TopicBox {
    id: i64,
    name: String,
}

#[derive(Template)]
#[template(path = "admin/segments.html")]
struct ListPage {
    ctx: AdminContext,
    rows: Vec<ListedSegment>,
}

#[derive(Template)]
#[template(path = "admin/segment.html")]
struct FormPage {
    ctx: AdminContext,
    title: String,
    form: SegmentForm,
    errors: FormErrors,
    topics: Vec<TopicBox>,
    fields: Vec<FieldOption>,
    field_ops: [(&'static str, &'static str); 11],
    /// The live count, when asked for.
    count: Option<String>,
    /// A saved filter the form cannot show, as JSON.
    api_only: Option<String>,
    max_name: usize,
    sources: [(&'static str, &'static str); 3],
}

#[derive(Template)]
#[template(path = "admin/segment_delete.html")]
struct DeletePage {
    ctx: AdminContext,
    id: i64,
    name: String,
}

const SOURCES: [(&str, &str); 3] = [
    (
        Source::Signup.as_str(),
        "the signup form or POST /subscriptions",
    ),
    (Source::Import.as_str(), "a CSV import"),
    (
        Source::Added.as_str(),
        "added by an admin, on the pages or through the API",
    ),
];

async fn render_form(
    state: &AppState,
    me: &SignedIn,
    status: StatusCode,
    form: SegmentForm,
    errors: FormErrors,
    count: Option<String>,
) -> Result<HttpResponse, WebError> {
    let topics: Vec<Topic> = state.topics.all().await?;
    let fields = field_options(&state.fields.all().await?);
    let title = if form.id.is_some() {
        format!("Segment: {}", form.name)
    } else {
        "New segment".to_owned()
    };
    html(
        status,
        &FormPage {
            ctx: me.context(state, "segments"),
            title,
            form,
            errors,
            topics: topics
                .into_iter()
                .map(|t| TopicBox {
                    id: t.id,
                    name: t.name,
                })
                .collect(),
            fields,
            field_ops: FIELD_OPS,
            count,
            api_only: None,
            max_name: MAX_SEGMENT_NAME_LENGTH,
            sources: SOURCES,
        },
    )
}

fn field_options(fields: &[Field]) -> Vec<FieldOption> {
    fields
        .iter()
        .map(|f| FieldOption {
            id: f.id,
            label: f.definition.label.as_str().to_owned(),
            kind: f.definition.kind.label(),
        })
        .collect()
}

fn counted(subscribers: i64, millis: u64) -> String {
    let noun = if subscribers == 1 {
        "subscriber"
    } else {
        "subscribers"
    };
    format!(
        "{} {noun} match now (counted in {millis} ms).",
        thousands(subscribers)
    )
}

#[get("/segments")]
#[tracing::instrument(name = "segment_list", skip_all)]
async fn list_page(state: web::Data<AppState>, me: SignedIn) -> Result<HttpResponse, WebError> {
    let segments = state.segments.list().await?;
    let mut rows = Vec::with_capacity(segments.len());
    for segment in segments {
        let (count, counted) = match state.segments.count(&segment.filter).await {
            Ok(count) => (thousands(count.subscribers), true),
            Err(SegmentError::Store(error)) => return Err(error.into()),
            Err(error) => (capitalised(&error.to_string()), false),
        };
        rows.push(ListedSegment {
            id: segment.id,
            name: segment.name,
            count,
            counted,
        });
    }
    html(
        StatusCode::OK,
        &ListPage {
            ctx: me.context(&state, "segments"),
            rows,
        },
    )
}

#[get("/segments/new")]
#[tracing::instrument(name = "segment_new_page", skip_all)]
async fn new_page(state: web::Data<AppState>, me: SignedIn) -> Result<HttpResponse, WebError> {
    let form = SegmentForm {
        combine: "all".into(),
        topic_op: "any".into(),
        ..SegmentForm::default()
    };
    render_form(
        &state,
        &me,
        StatusCode::OK,
        form,
        FormErrors::default(),
        None,
    )
    .await
}

#[post("/segments")]
#[tracing::instrument(name = "segment_create", skip_all)]
async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    me: SignedIn,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let mut form = SegmentForm::read(&body);
    form.id = None;
    let fields = state.fields.all().await?;
    let (name, filter) = match form.parse(&fields) {
        Ok(parsed) => parsed,
        Err(errors) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return render_form(&state, &me, status, form, errors, None).await;
        }
    };
    match state.segments.create(&name, &filter).await {
        Ok(segment) => {
            state
                .record_audit(
                    &req,
                    AuditEntry::new(me.actor(), AuditAction::SegmentCreated)
                        .target(format!("segment {}", segment.id))
                        .detail(segment.name.clone()),
                )
                .await;
            Ok(me.redirect_with_notice(
                &format!("{LIST_PATH}/{}", segment.id),
                format!("Segment {} created.", segment.name),
            ))
        }
        Err(error) => {
            let status = refusal_status(&error);
            let errors = FormErrors::of(error)?;
            render_form(&state, &me, status, form, errors, None).await
        }
    }
}

fn refusal_status(error: &SegmentError) -> StatusCode {
    match error {
        SegmentError::NameTaken(_) => StatusCode::CONFLICT,
        SegmentError::NotFound => StatusCode::NOT_FOUND,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// The Count button: the same form again with how many match it now;
/// nothing is saved.
#[post("/segments/count")]
#[tracing::instrument(name = "segment_count", skip_all)]
async fn count_form(
    state: web::Data<AppState>,
    me: SignedIn,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let form = SegmentForm::read(&body);
    let fields = state.fields.all().await?;
    let filter = match form.filter(&fields) {
        Ok(filter) => filter,
        Err(message) => {
            let errors = FormErrors {
                name: None,
                filter: Some(message),
            };
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return render_form(&state, &me, status, form, errors, None).await;
        }
    };
    match state.segments.count(&filter).await {
        Ok(count) => {
            let shown = counted(count.subscribers, count.millis);
            render_form(
                &state,
                &me,
                StatusCode::OK,
                form,
                FormErrors::default(),
                Some(shown),
            )
            .await
        }
        Err(error) => {
            let status = refusal_status(&error);
            let errors = FormErrors::of(error)?;
            render_form(&state, &me, status, form, errors, None).await
        }
    }
}

#[get("/segments/{id:\\d+}")]
#[tracing::instrument(name = "segment_edit_page", skip_all)]
async fn edit_page(
    state: web::Data<AppState>,
    me: SignedIn,
    id: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    let segment = match state.segments.get(*id).await {
        Ok(segment) => segment,
        Err(SegmentError::Store(error)) => return Err(error.into()),
        Err(error) => {
            return Ok(
                me.redirect_with_error(LIST_PATH, format!("{}.", capitalised(&error.to_string())))
            )
        }
    };
    let (count, errors) = match state.segments.count(&segment.filter).await {
        Ok(count) => (
            Some(counted(count.subscribers, count.millis)),
            FormErrors::default(),
        ),
        Err(error) => (None, FormErrors::of(error)?),
    };
    match SegmentForm::of(&segment) {
        Some(form) => render_form(&state, &me, StatusCode::OK, form, errors, count).await,
        None => {
            // Made through the API with two conditions of one kind: shown,
            // not editable here, so saving the form cannot drop any.
            let topics = Vec::new();
            html(
                StatusCode::OK,
                &FormPage {
                    ctx: me.context(&state, "segments"),
                    title: format!("Segment: {}", segment.name),
                    form: SegmentForm {
                        id: Some(segment.id),
                        name: segment.name.clone(),
                        ..SegmentForm::default()
                    },
                    errors,
                    topics,
                    fields: Vec::new(),
                    field_ops: FIELD_OPS,
                    count,
                    api_only: Some(
                        serde_json::to_string_pretty(&segment.filter.to_json()).unwrap_or_default(),
                    ),
                    max_name: MAX_SEGMENT_NAME_LENGTH,
                    sources: SOURCES,
                },
            )
        }
    }
}

#[post("/segments/{id:\\d+}")]
#[tracing::instrument(name = "segment_update", skip_all)]
async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    me: SignedIn,
    id: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let id = *id;
    let mut form = SegmentForm::read(&body);
    form.id = Some(id);
    let fields = state.fields.all().await?;
    let (name, filter) = match form.parse(&fields) {
        Ok(parsed) => parsed,
        Err(errors) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return render_form(&state, &me, status, form, errors, None).await;
        }
    };
    match state.segments.update(id, &name, &filter).await {
        Ok(segment) => {
            state
                .record_audit(
                    &req,
                    AuditEntry::new(me.actor(), AuditAction::SegmentUpdated)
                        .target(format!("segment {id}"))
                        .detail(segment.name.clone()),
                )
                .await;
            Ok(me.redirect_with_notice(
                &format!("{LIST_PATH}/{id}"),
                format!("Segment {} saved.", segment.name),
            ))
        }
        Err(SegmentError::NotFound) => {
            Ok(me.redirect_with_error(LIST_PATH, "There is no such segment."))
        }
        Err(error) => {
            let status = refusal_status(&error);
            let errors = FormErrors::of(error)?;
            render_form(&state, &me, status, form, errors, None).await
        }
    }
}

/// The step before deleting.
#[get("/segments/{id:\\d+}/delete")]
#[tracing::instrument(name = "segment_delete_page", skip_all)]
async fn delete_page(
    state: web::Data<AppState>,
    me: SignedIn,
    id: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    match state.segments.get(*id).await {
        Ok(segment) => html(
            StatusCode::OK,
            &DeletePage {
                ctx: me.context(&state, "segments"),
                id: segment.id,
                name: segment.name,
            },
        ),
        Err(SegmentError::Store(error)) => Err(error.into()),
        Err(error) => {
            Ok(me.redirect_with_error(LIST_PATH, format!("{}.", capitalised(&error.to_string()))))
        }
    }
}

#[post("/segments/{id:\\d+}/delete")]
#[tracing::instrument(name = "segment_delete", skip_all)]
async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    me: SignedIn,
    id: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    let id = *id;
    match state.segments.delete(id).await {
        Ok(name) => {
            state
                .record_audit(
                    &req,
                    AuditEntry::new(me.actor(), AuditAction::SegmentDeleted)
                        .target(format!("segment {id}"))
                        .detail(name.clone()),
                )
                .await;
            Ok(me.redirect_with_notice(LIST_PATH, format!("Segment {name} deleted.")))
        }
        Err(SegmentError::Store(error)) => Err(error.into()),
        Err(error) => Ok(me.redirect_with_error(LIST_PATH, format!("Not deleted: {error}."))),
    }
}
