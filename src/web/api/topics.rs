//! `/api/v1/topics`: the topics readers choose among. Any token reads them
//! (editors will address issues to them); creating, changing and deleting
//! one takes an admin token, as on the admin pages.

use actix_web::{delete, get, post, put, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::{json_body, ApiCaller, ApiError, ErrorBody};
use crate::store::timestamps;
use crate::subscriptions::SetTopicsError;
use crate::topics::{Topic as StoredTopic, TopicDefinition, TopicError};
use crate::web::AppState;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_topics)
        .service(create_topic)
        .service(get_topic)
        .service(update_topic)
        .service(delete_topic)
        .service(subscriber_topics)
        .service(set_subscriber_topics);
}

/// A topic.
#[derive(Debug, Serialize, ToSchema)]
pub struct Topic {
    pub id: i64,
    /// Lower-case letters, digits and hyphens: what signups name it by.
    pub slug: String,
    pub name: String,
    pub description: String,
    /// `public` (on the signup form, choosable in `POST /subscriptions`) or
    /// `private` (admins only)
    pub visibility: String,
    /// Whether a signup that chooses no topic joins it.
    pub on_by_default: bool,
    /// Confirmed readers in it.
    pub readers: i64,
    /// RFC 3339
    pub created_at: String,
    /// RFC 3339
    pub updated_at: String,
}

impl From<StoredTopic> for Topic {
    fn from(topic: StoredTopic) -> Self {
        Self {
            id: topic.id,
            slug: topic.slug.to_string(),
            name: topic.name,
            description: topic.description,
            visibility: topic.visibility.as_str().to_owned(),
            on_by_default: topic.on_by_default,
            readers: topic.readers.unwrap_or(0),
            created_at: timestamps::rfc3339(topic.created_at),
            updated_at: timestamps::rfc3339(topic.updated_at),
        }
    }
}

/// Every topic.
#[derive(Debug, Serialize, ToSchema)]
pub struct TopicList {
    pub items: Vec<Topic>,
}

/// A topic as created or replaced.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TopicInput {
    pub slug: String,
    /// 1 to 80 characters, one line.
    pub name: String,
    /// At most 500 characters.
    #[serde(default)]
    pub description: String,
    /// `public` (the default) or `private`.
    #[serde(default = "public")]
    pub visibility: String,
    /// False by default; a private topic cannot be on by default.
    #[serde(default)]
    pub on_by_default: bool,
}

fn public() -> String {
    "public".into()
}

impl TopicInput {
    fn parse(&self) -> Result<TopicDefinition, ApiError> {
        TopicDefinition::parse(
            &self.slug,
            &self.name,
            &self.description,
            &self.visibility,
            self.on_by_default,
        )
        .map_err(|errors| {
            // The first problem, in the order of the fields; each names its field.
            let first = &errors[0];
            ApiError::invalid(first.field(), first.message())
        })
    }
}

fn from_topic_error(error: TopicError) -> ApiError {
    match error {
        TopicError::NotFound => ApiError::NotFound(error.to_string()),
        TopicError::SlugTaken(_) | TopicError::LastTopic | TopicError::HasIssues { .. } => {
            ApiError::Conflict(error.to_string())
        }
        TopicError::Unknown(_) => ApiError::invalid("topics", error),
        TopicError::Store(error) => error.into(),
    }
}

fn topic_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::NotFound(TopicError::NotFound.to_string()))
}

/// Every topic, by name, with its confirmed readers counted. Any token.
#[utoipa::path(
    tag = "topics",
    responses(
        (status = 200, description = "Every topic", body = TopicList),
        (status = 401, description = "No valid token", body = ErrorBody),
    )
)]
#[get("/topics")]
#[tracing::instrument(name = "api_list_topics", skip_all)]
async fn list_topics(
    state: web::Data<AppState>,
    _caller: ApiCaller,
) -> Result<web::Json<TopicList>, ApiError> {
    let topics = state.topics.list().await?;
    Ok(web::Json(TopicList {
        items: topics.into_iter().map(Topic::from).collect(),
    }))
}

/// Creates a topic. Admin tokens only.
#[utoipa::path(
    tag = "topics",
    request_body = TopicInput,
    responses(
        (status = 201, description = "Created", body = Topic),
        (status = 400, description = "The body is not JSON of this shape", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Needs an admin token", body = ErrorBody),
        (status = 409, description = "The slug is taken", body = ErrorBody),
        (status = 422, description = "A field is invalid; `field` names it", body = ErrorBody),
    )
)]
#[post("/topics")]
#[tracing::instrument(name = "api_create_topic", skip_all)]
async fn create_topic(
    state: web::Data<AppState>,
    caller: ApiCaller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let body: TopicInput = json_body(&body, "a topic")?;
    let definition = body.parse()?;
    let topic = state
        .topics
        .create(&definition)
        .await
        .map_err(from_topic_error)?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/topics/{}", topic.id)))
        .json(Topic::from(topic)))
}

/// One topic. Any token.
#[utoipa::path(
    tag = "topics",
    params(("id" = i64, Path, description = "Topic id")),
    responses(
        (status = 200, description = "The topic", body = Topic),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such topic", body = ErrorBody),
    )
)]
#[get("/topics/{id}")]
#[tracing::instrument(name = "api_get_topic", skip_all)]
async fn get_topic(
    state: web::Data<AppState>,
    _caller: ApiCaller,
    id: web::Path<String>,
) -> Result<web::Json<Topic>, ApiError> {
    let topic = state
        .topics
        .get(topic_id(&id)?)
        .await
        .map_err(from_topic_error)?;
    Ok(web::Json(Topic::from(topic)))
}

/// Replaces a topic's definition; its readers stay in it. Admin tokens only.
#[utoipa::path(
    tag = "topics",
    params(("id" = i64, Path, description = "Topic id")),
    request_body = TopicInput,
    responses(
        (status = 200, description = "Saved", body = Topic),
        (status = 400, description = "The body is not JSON of this shape", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Needs an admin token", body = ErrorBody),
        (status = 404, description = "No such topic", body = ErrorBody),
        (status = 409, description = "The slug is taken by another topic", body = ErrorBody),
        (status = 422, description = "A field is invalid; `field` names it", body = ErrorBody),
    )
)]
#[put("/topics/{id}")]
#[tracing::instrument(name = "api_update_topic", skip_all)]
async fn update_topic(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<web::Json<Topic>, ApiError> {
    caller.require_admin()?;
    let id = topic_id(&id)?;
    let body: TopicInput = json_body(&body, "a topic")?;
    let definition = body.parse()?;
    let topic = state
        .topics
        .update(id, &definition)
        .await
        .map_err(from_topic_error)?;
    Ok(web::Json(Topic::from(topic)))
}

/// Deletes a topic; its readers leave it and stay in their other topics.
/// The last topic, and one that issues went or go to, cannot be deleted
/// (409). Admin tokens only.
#[utoipa::path(
    tag = "topics",
    params(("id" = i64, Path, description = "Topic id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Needs an admin token", body = ErrorBody),
        (status = 404, description = "No such topic", body = ErrorBody),
        (status = 409, description = "The last topic, or one that issues went or go to", body = ErrorBody),
    )
)]
#[delete("/topics/{id}")]
#[tracing::instrument(name = "api_delete_topic", skip_all)]
async fn delete_topic(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let id = topic_id(&id)?;
    state.topics.delete(id).await.map_err(from_topic_error)?;
    Ok(HttpResponse::NoContent().finish())
}

/// The topics a subscriber is in, by slug.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SubscriberTopics {
    /// Slugs, alphabetical; in a PUT, at least one (public or private).
    pub topics: Vec<String>,
}

fn subscriber_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::NotFound(SetTopicsError::NotFound.to_string()))
}

/// The topics a subscriber is in. Admin tokens only, as reading a subscriber is.
#[utoipa::path(
    tag = "topics",
    params(("id" = i64, Path, description = "Subscriber id")),
    responses(
        (status = 200, description = "Their topics", body = SubscriberTopics),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Needs an admin token", body = ErrorBody),
        (status = 404, description = "No such subscriber", body = ErrorBody),
    )
)]
#[get("/subscribers/{id}/topics")]
#[tracing::instrument(name = "api_subscriber_topics", skip_all)]
async fn subscriber_topics(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<web::Json<SubscriberTopics>, ApiError> {
    caller.require_admin()?;
    let slugs = state
        .subscriptions
        .topics_of(subscriber_id(&id)?)
        .await?
        .ok_or_else(|| ApiError::NotFound(SetTopicsError::NotFound.to_string()))?;
    Ok(web::Json(SubscriberTopics {
        topics: slugs.iter().map(ToString::to_string).collect(),
    }))
}

/// Sets the topics a subscriber is in to exactly these (public or
/// private); no confirmation mail. Each change is an event in their history
/// naming the token. To take a reader off the list, unsubscribe them (an
/// empty list is refused). Admin tokens only.
#[utoipa::path(
    tag = "topics",
    params(("id" = i64, Path, description = "Subscriber id")),
    request_body = SubscriberTopics,
    responses(
        (status = 200, description = "Saved; their topics now", body = SubscriberTopics),
        (status = 400, description = "The body is not JSON of this shape", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Needs an admin token", body = ErrorBody),
        (status = 404, description = "No such subscriber", body = ErrorBody),
        (status = 422, description = "No topic, or slugs that name none (`field`: `topics`)", body = ErrorBody),
    )
)]
#[put("/subscribers/{id}/topics")]
#[tracing::instrument(name = "api_set_subscriber_topics", skip_all)]
async fn set_subscriber_topics(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<web::Json<SubscriberTopics>, ApiError> {
    caller.require_admin()?;
    let id = subscriber_id(&id)?;
    let body: SubscriberTopics = json_body(&body, "{\"topics\": [slugs]}")?;
    let note = format!("by {}", caller.actor_label());
    let slugs = state
        .subscriptions
        .set_topics(id, &body.topics, &note)
        .await
        .map_err(|error| match error {
            SetTopicsError::NotFound => ApiError::NotFound(error.to_string()),
            SetTopicsError::Unknown(_) | SetTopicsError::Empty => {
                ApiError::invalid("topics", error)
            }
            SetTopicsError::Store(error) => error.into(),
        })?;
    Ok(web::Json(SubscriberTopics {
        topics: slugs.iter().map(ToString::to_string).collect(),
    }))
}
