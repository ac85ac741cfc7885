//! Custom fields under `/admin/fields`: the list with each field's readers
//! and the form that creates one, a field's own form, and a confirmation step
//! before deleting (which takes every reader's value with it). Admins only.

use crate::format::capitalised;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::auth::{AdminContext, AdminOnly, SignedIn};
use crate::audit::{AuditAction, AuditEntry};
use crate::fields::{
    Field, FieldDefinition, FieldError, FieldInputError, MAX_KEY_LENGTH, MAX_LABEL_LENGTH,
};
use crate::format::thousands;
use crate::web::error::WebError;
use crate::web::pages::html;
use crate::web::AppState;

const LIST_PATH: &str = "/admin/fields";

/// The types, as the form's select offers them.
const KINDS: [(&str, &str); 5] = [
    ("text", "Text"),
    ("number", "Number"),
    ("date", "Date (YYYY-MM-DD)"),
    ("yes_no", "Yes/no"),
    ("choice", "One of a list"),
];

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list_page)
        .service(create)
        .service(edit_page)
        .service(update)
        .service(delete_page)
        .service(delete);
}

/// The field form as typed. A checkbox that is not ticked sends nothing.
#[derive(Debug, Default, Deserialize)]
struct FieldForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    label: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    choices: String,
    #[serde(default)]
    required: Option<String>,
    #[serde(default)]
    visibility: String,
}

impl FieldForm {
    fn of(field: &Field) -> Self {
        let definition = &field.definition;
        Self {
            key: definition.key.to_string(),
            label: definition.label.as_str().to_owned(),
            kind: definition.kind.as_str().to_owned(),
            choices: definition.kind.choices().join("\n"),
            required: definition.required.then(|| "yes".to_owned()),
            visibility: definition.visibility.as_str().to_owned(),
        }
    }

    fn parse(&self) -> Result<FieldDefinition, Vec<FieldInputError>> {
        FieldDefinition::parse(
            &self.key,
            &self.label,
            &self.kind,
            &self.choices,
            self.required.is_some(),
            &self.visibility,
        )
    }

    fn is_public(&self) -> bool {
        self.visibility == "public"
    }

    fn is_required(&self) -> bool {
        self.required.is_some()
    }
}

/// What is wrong with each part of the form, if anything.
#[derive(Debug, Default)]
struct FormErrors {
    key: Option<String>,
    label: Option<String>,
    kind: Option<String>,
    choices: Option<String>,
    visibility: Option<String>,
}

impl FormErrors {
    fn of(errors: &[FieldInputError]) -> Self {
        let mut form = Self::default();
        for error in errors {
            let slot = match error.field() {
                "key" => &mut form.key,
                "label" => &mut form.label,
                "type" => &mut form.kind,
                "choices" => &mut form.choices,
                _ => &mut form.visibility,
            };
            *slot = Some(error.message());
        }
        form
    }

    /// A refusal of the store, shown where it belongs.
    fn refused(error: &FieldError) -> Self {
        let message = format!("{}.", capitalised(&error.to_string()));
        match error {
            FieldError::KindInUse { .. } => Self {
                kind: Some(message),
                ..Self::default()
            },
            FieldError::ChoicesInUse { .. } => Self {
                choices: Some(message),
                ..Self::default()
            },
            _ => Self {
                key: Some(message),
                ..Self::default()
            },
        }
    }

    fn any(&self) -> bool {
        self.key.is_some()
            || self.label.is_some()
            || self.kind.is_some()
            || self.choices.is_some()
            || self.visibility.is_some()
    }
}

/// A row of the list.
struct ListedField {
    id: i64,
    key: String,
    label: String,
    kind: &'static str,
    choices: String,
    required: bool,
    visibility: &'static str,
    values: String,
}

impl From<Field> for ListedField {
    fn from(field: Field) -> Self {
        let definition = field.definition;
        Self {
            id: field.id,
            key: definition.key.to_string(),
            label: definition.label.as_str().to_owned(),
            kind: definition.kind.label(),
            choices: definition.kind.choices().join(" · "),
            required: definition.required,
            visibility: definition.visibility.as_str(),
            values: thousands(field.values.unwrap_or(0)),
        }
    }
}

struct Limits {
    key: usize,
    label: usize,
}

const LIMITS: Limits = Limits {
    key: MAX_KEY_LENGTH,
    label: MAX_LABEL_LENGTH,
};

#[derive(Template)]
#[template(path = "admin/fields.html")]
struct ListPage {
    ctx: AdminContext,
    rows: Vec<ListedField>,
    form: FieldForm,
    errors: FormErrors,
    limits: Limits,
    kinds: [(&'static str, &'static str); 5],
}

#[derive(Template)]
#[template(path = "admin/field.html")]
struct EditPage {
    ctx: AdminContext,
    id: i64,
    title: String,
    values: String,
    form: FieldForm,
    errors: FormErrors,
    limits: Limits,
    kinds: [(&'static str, &'static str); 5],
}

#[derive(Template)]
#[template(path = "admin/field_delete.html")]
struct DeletePage {
    ctx: AdminContext,
    id: i64,
    key: String,
    label: String,
    values: String,
}

async fn render_list(
    state: &AppState,
    me: &SignedIn,
    status: StatusCode,
    form: FieldForm,
    errors: FormErrors,
) -> Result<HttpResponse, WebError> {
    let fields = state.fields.list().await?;
    html(
        status,
        &ListPage {
            ctx: me.context(state, "fields"),
            rows: fields.into_iter().map(ListedField::from).collect(),
            form,
            errors,
            limits: LIMITS,
            kinds: KINDS,
        },
    )
}

fn render_edit(
    state: &AppState,
    me: &SignedIn,
    status: StatusCode,
    field: &Field,
    form: FieldForm,
    errors: FormErrors,
) -> Result<HttpResponse, WebError> {
    html(
        status,
        &EditPage {
            ctx: me.context(state, "fields"),
            id: field.id,
            title: field.definition.label.as_str().to_owned(),
            values: thousands(field.values.unwrap_or(0)),
            form,
            errors,
            limits: LIMITS,
            kinds: KINDS,
        },
    )
}

/// A field that is gone (or a store failure) on its way to a page.
fn not_found_or(me: &SignedIn, error: FieldError) -> Result<HttpResponse, WebError> {
    match error {
        FieldError::Store(error) => Err(error.into()),
        error => {
            Ok(me.redirect_with_error(LIST_PATH, format!("{}.", capitalised(&error.to_string()))))
        }
    }
}

#[get("/fields")]
#[tracing::instrument(name = "field_list", skip_all)]
async fn list_page(
    state: web::Data<AppState>,
    AdminOnly(me): AdminOnly,
) -> Result<HttpResponse, WebError> {
    let form = FieldForm {
        kind: "text".into(),
        visibility: "internal".into(),
        ..FieldForm::default()
    };
    render_list(&state, &me, StatusCode::OK, form, FormErrors::default()).await
}

#[post("/fields")]
#[tracing::instrument(name = "field_create", skip_all)]
async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    AdminOnly(me): AdminOnly,
    form: web::Form<FieldForm>,
) -> Result<HttpResponse, WebError> {
    let form = form.into_inner();
    let definition = match form.parse() {
        Ok(definition) => definition,
        Err(errors) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return render_list(&state, &me, status, form, FormErrors::of(&errors)).await;
        }
    };
    match state.fields.create(&definition).await {
        Ok(field) => {
            state
                .record_audit(
                    &req,
                    AuditEntry::new(me.actor(), AuditAction::FieldCreated)
                        .target(format!("field {}", field.key()))
                        .detail(field.definition.kind.as_str()),
                )
                .await;
            Ok(me.redirect_with_notice(
                LIST_PATH,
                format!(
                    "Field {} ({}) created.",
                    field.definition.label.as_str(),
                    field.key()
                ),
            ))
        }
        Err(FieldError::Store(error)) => Err(error.into()),
        Err(error) => {
            let errors = FormErrors::refused(&error);
            render_list(&state, &me, StatusCode::CONFLICT, form, errors).await
        }
    }
}

#[get("/fields/{id:\\d+}")]
#[tracing::instrument(name = "field_edit_page", skip_all)]
async fn edit_page(
    state: web::Data<AppState>,
    AdminOnly(me): AdminOnly,
    id: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    match state.fields.get(*id).await {
        Ok(field) => {
            let form = FieldForm::of(&field);
            render_edit(
                &state,
                &me,
                StatusCode::OK,
                &field,
                form,
                FormErrors::default(),
            )
        }
        Err(error) => not_found_or(&me, error),
    }
}

#[post("/fields/{id:\\d+}")]
#[tracing::instrument(name = "field_update", skip_all)]
async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    AdminOnly(me): AdminOnly,
    id: web::Path<i64>,
    form: web::Form<FieldForm>,
) -> Result<HttpResponse, WebError> {
    let form = form.into_inner();
    let field = match state.fields.get(*id).await {
        Ok(field) => field,
        Err(error) => return not_found_or(&me, error),
    };
    let definition = match form.parse() {
        Ok(definition) => definition,
        Err(errors) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return render_edit(&state, &me, status, &field, form, FormErrors::of(&errors));
        }
    };
    match state.fields.update(field.id, &definition).await {
        Ok(field) => {
            state
                .record_audit(
                    &req,
                    AuditEntry::new(me.actor(), AuditAction::FieldChanged)
                        .target(format!("field {}", field.key())),
                )
                .await;
            Ok(me.redirect_with_notice(
                LIST_PATH,
                format!(
                    "Field {} ({}) saved.",
                    field.definition.label.as_str(),
                    field.key()
                ),
            ))
        }
        Err(FieldError::Store(error)) => Err(error.into()),
        Err(FieldError::NotFound) => not_found_or(&me, FieldError::NotFound),
        Err(error) => {
            let errors = FormErrors::refused(&error);
            render_edit(&state, &me, StatusCode::CONFLICT, &field, form, errors)
        }
    }
}

/// The step before deleting: every reader's value goes with the field.
#[get("/fields/{id:\\d+}/delete")]
#[tracing::instrument(name = "field_delete_page", skip_all)]
async fn delete_page(
    state: web::Data<AppState>,
    AdminOnly(me): AdminOnly,
    id: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    match state.fields.get(*id).await {
        Ok(field) => html(
            StatusCode::OK,
            &DeletePage {
                ctx: me.context(&state, "fields"),
                id: field.id,
                key: field.key().to_string(),
                values: thousands(field.values.unwrap_or(0)),
                label: field.definition.label.as_str().to_owned(),
            },
        ),
        Err(error) => not_found_or(&me, error),
    }
}

#[post("/fields/{id:\\d+}/delete")]
#[tracing::instrument(name = "field_delete", skip_all)]
async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    AdminOnly(me): AdminOnly,
    id: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    match state.fields.delete(*id).await {
        Ok(field) => {
            let values = field.values.unwrap_or(0);
            state
                .record_audit(
                    &req,
                    AuditEntry::new(me.actor(), AuditAction::FieldDeleted)
                        .target(format!("field {}", field.key()))
                        .detail(format!("{values} value(s) deleted")),
                )
                .await;
            Ok(me.redirect_with_notice(
                LIST_PATH,
                format!(
                    "Field {} deleted, with {} reader value(s).",
                    field.definition.label.as_str(),
                    thousands(values)
                ),
            ))
        }
        Err(error) => not_found_or(&me, error),
    }
}
