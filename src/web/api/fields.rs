//! `/api/v1/fields`: the custom fields readers' values are kept in. Reading,
//! creating, changing and deleting them takes an admin token, as on the
//! admin pages: internal fields are about the list, which is admins' business.

use actix_web::{delete, get, post, put, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::{json_body, ApiCaller, ApiError, ErrorBody};
use crate::audit::{AuditAction, AuditEntry};
use crate::fields::{Field as StoredField, FieldDefinition, FieldError};
use crate::store::timestamps;
use crate::web::AppState;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_fields)
        .service(create_field)
        .service(get_field)
        .service(update_field)
        .service(delete_field);
}

/// A custom field.
#[derive(Debug, Serialize, ToSchema)]
pub struct Field {
    pub id: i64,
    /// Lower-case letters, digits and underscores: the member of `fields` in
    /// JSON, the CSV column's header.
    pub key: String,
    pub label: String,
    /// `text`, `number`, `date` (`YYYY-MM-DD`), `yes_no` or `choice`
    #[serde(rename = "type")]
    pub kind: String,
    /// The choices of a `choice` field, in form order; empty otherwise.
    pub choices: Vec<String>,
    pub required: bool,
    /// `public` (on the signup form and in `POST /subscriptions`) or `internal` (admins only)
    pub visibility: String,
    /// Readers with a value for it, in any state.
    pub values: i64,
    /// RFC 3339
    pub created_at: String,
    /// RFC 3339
    pub updated_at: String,
}

impl From<StoredField> for Field {
    fn from(field: StoredField) -> Self {
        let definition = field.definition;
        Self {
            id: field.id,
            key: definition.key.to_string(),
            label: definition.label.as_str().to_owned(),
            kind: definition.kind.as_str().to_owned(),
            choices: definition.kind.choices().to_vec(),
            required: definition.required,
            visibility: definition.visibility.as_str().to_owned(),
            values: field.values.unwrap_or(0),
            created_at: timestamps::rfc3339(field.created_at),
            updated_at: timestamps::rfc3339(field.updated_at),
        }
    }
}

/// Every field, in the order of the form.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldList {
    pub items: Vec<Field>,
}

/// A field as created or replaced.
#[derive(Debug, Deserialize, ToSchema)]
pub struct FieldInput {
    /// Lower-case letters, digits and underscores, starting with a letter; at
    /// most 40. Fixed once readers have values.
    pub key: String,
    /// 1 to 80 characters, one line.
    pub label: String,
    /// `text`, `number`, `date`, `yes_no` or `choice`; fixed once readers have values.
    #[serde(rename = "type")]
    pub kind: String,
    /// For `choice`: 1 to 100 choices. Choices readers have chosen cannot be removed.
    #[serde(default)]
    pub choices: Vec<String>,
    /// False by default.
    #[serde(default)]
    pub required: bool,
    /// `internal` (the default) or `public`.
    #[serde(default = "internal")]
    pub visibility: String,
}

fn internal() -> String {
    "internal".into()
}

impl FieldInput {
    fn parse(&self) -> Result<FieldDefinition, ApiError> {
        FieldDefinition::parse(
            &self.key,
            &self.label,
            &self.kind,
            &self.choices.join("\n"),
            self.required,
            &self.visibility,
        )
        .map_err(|errors| {
            // The first problem, in the order of the members; each names its member.
            let first = &errors[0];
            ApiError::invalid(first.field(), first.message())
        })
    }
}

fn from_field_error(error: FieldError) -> ApiError {
    match error {
        FieldError::NotFound => ApiError::NotFound(error.to_string()),
        FieldError::KeyTaken(_)
        | FieldError::KeyInUse { .. }
        | FieldError::KindInUse { .. }
        | FieldError::ChoicesInUse { .. } => ApiError::Conflict(error.to_string()),
        FieldError::Store(error) => error.into(),
    }
}

fn field_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::NotFound(FieldError::NotFound.to_string()))
}

/// Every field, in the order of the form, with the readers who have a value
/// counted. Admin tokens only.
#[utoipa::path(
    tag = "fields",
    responses(
        (status = 200, description = "Every field", body = FieldList),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Needs an admin token", body = ErrorBody),
    )
)]
#[get("/fields")]
#[tracing::instrument(name = "api_list_fields", skip_all)]
async fn list_fields(
    state: web::Data<AppState>,
    caller: ApiCaller,
) -> Result<web::Json<FieldList>, ApiError> {
    caller.require_admin()?;
    let fields = state.fields.list().await?;
    Ok(web::Json(FieldList {
        items: fields.into_iter().map(Field::from).collect(),
    }))
}

/// Creates a field. Admin tokens only.
#[utoipa::path(
    tag = "fields",
    request_body = FieldInput,
    responses(
        (status = 201, description = "Created", body = Field),
        (status = 400, description = "The body is not JSON of this shape", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Needs an admin token", body = ErrorBody),
        (status = 409, description = "The key is taken", body = ErrorBody),
        (status = 422, description = "A member is invalid; `field` names it", body = ErrorBody),
    )
)]
#[post("/fields")]
#[tracing::instrument(name = "api_create_field", skip_all)]
async fn create_field(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: ApiCaller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let body: FieldInput = json_body(&body, "a field")?;
    let definition = body.parse()?;
    let field = state
        .fields
        .create(&definition)
        .await
        .map_err(from_field_error)?;
    state
        .record_audit(
            &req,
            AuditEntry::new(caller.actor(), AuditAction::FieldCreated)
                .target(format!("field {}", field.key()))
                .detail(field.definition.kind.as_str()),
        )
        .await;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/fields/{}", field.id)))
        .json(Field::from(field)))
}

/// One field. Admin tokens only.
#[utoipa::path(
    tag = "fields",
    params(("id" = i64, Path, description = "Field id")),
    responses(
        (status = 200, description = "The field", body = Field),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Needs an admin token", body = ErrorBody),
        (status = 404, description = "No such field", body = ErrorBody),
    )
)]
#[get("/fields/{id}")]
#[tracing::instrument(name = "api_get_field", skip_all)]
async fn get_field(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<web::Json<Field>, ApiError> {
    caller.require_admin()?;
    let field = state
        .fields
        .get(field_id(&id)?)
        .await
        .map_err(from_field_error)?;
    Ok(web::Json(Field::from(field)))
}

/// Replaces a field's definition. While readers have values, its key and
/// type cannot change and a choice they chose cannot go (409). Admin tokens only.
#[utoipa::path(
    tag = "fields",
    params(("id" = i64, Path, description = "Field id")),
    request_body = FieldInput,
    responses(
        (status = 200, description = "Saved", body = Field),
        (status = 400, description = "The body is not JSON of this shape", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Needs an admin token", body = ErrorBody),
        (status = 404, description = "No such field", body = ErrorBody),
        (status = 409, description = "The key is taken, or a change readers' values forbid", body = ErrorBody),
        (status = 422, description = "A member is invalid; `field` names it", body = ErrorBody),
    )
)]
#[put("/fields/{id}")]
#[tracing::instrument(name = "api_update_field", skip_all)]
async fn update_field(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<web::Json<Field>, ApiError> {
    caller.require_admin()?;
    let id = field_id(&id)?;
    let body: FieldInput = json_body(&body, "a field")?;
    let definition = body.parse()?;
    let field = state
        .fields
        .update(id, &definition)
        .await
        .map_err(from_field_error)?;
    state
        .record_audit(
            &req,
            AuditEntry::new(caller.actor(), AuditAction::FieldChanged)
                .target(format!("field {}", field.key())),
        )
        .await;
    Ok(web::Json(Field::from(field)))
}

/// Deletes a field and every reader's value of it. Admin tokens only.
#[utoipa::path(
    tag = "fields",
    params(("id" = i64, Path, description = "Field id")),
    responses(
        (status = 204, description = "Deleted, with its values"),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Needs an admin token", body = ErrorBody),
        (status = 404, description = "No such field", body = ErrorBody),
    )
)]
#[delete("/fields/{id}")]
#[tracing::instrument(name = "api_delete_field", skip_all)]
async fn delete_field(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let id = field_id(&id)?;
    let field = state.fields.delete(id).await.map_err(from_field_error)?;
    state
        .record_audit(
            &req,
            AuditEntry::new(caller.actor(), AuditAction::FieldDeleted)
                .target(format!("field {}", field.key()))
                .detail(format!("{} value(s) deleted", field.values.unwrap_or(0))),
        )
        .await;
    Ok(HttpResponse::NoContent().finish())
}
