//! Topics under `/admin/topics`: the list with each topic's readers and the
//! form that creates one, a topic's own form, and a confirmation step before
//! deleting. For admins only, like the other settings of the list.

use crate::format::capitalised;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::auth::{AdminContext, AdminOnly, SignedIn};
use crate::format::thousands;
use crate::topics::{
    Topic, TopicDefinition, TopicError, TopicInputError, MAX_DESCRIPTION_LENGTH, MAX_SLUG_LENGTH,
    MAX_TOPIC_NAME_LENGTH,
};
use crate::web::error::WebError;
use crate::web::pages::html;
use crate::web::AppState;

const LIST_PATH: &str = "/admin/topics";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list_page)
        .service(create)
        .service(edit_page)
        .service(update)
        .service(delete_page)
        .service(delete);
}

/// The topic form as typed. A checkbox that is not ticked sends nothing.
#[derive(Debug, Default, Deserialize)]
struct TopicForm {
    #[serde(default)]
    slug: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    visibility: String,
    #[serde(default)]
    on_by_default: Option<String>,
}

impl TopicForm {
    fn of(topic: &Topic) -> Self {
        Self {
            slug: topic.slug.to_string(),
            name: topic.name.clone(),
            description: topic.description.clone(),
            visibility: topic.visibility.as_str().to_owned(),
            on_by_default: topic.on_by_default.then(|| "yes".to_owned()),
        }
    }

    fn parse(&self) -> Result<TopicDefinition, Vec<TopicInputError>> {
        TopicDefinition::parse(
            &self.slug,
            &self.name,
            &self.description,
            &self.visibility,
            self.on_by_default.is_some(),
        )
    }

    fn is_private(&self) -> bool {
        self.visibility == "private"
    }

    fn is_on_by_default(&self) -> bool {
        self.on_by_default.is_some()
    }
}

/// What is wrong with each field of the form, if anything.
#[derive(Debug, Default)]
struct FieldErrors {
    slug: Option<String>,
    name: Option<String>,
    description: Option<String>,
    visibility: Option<String>,
    on_by_default: Option<String>,
}

impl FieldErrors {
    fn of(errors: &[TopicInputError]) -> Self {
        let mut fields = Self::default();
        for error in errors {
            let slot = match error.field() {
                "slug" => &mut fields.slug,
                "name" => &mut fields.name,
                "description" => &mut fields.description,
                "visibility" => &mut fields.visibility,
                _ => &mut fields.on_by_default,
            };
            *slot = Some(error.message());
        }
        fields
    }

    fn slug_taken(error: &TopicError) -> Self {
        Self {
            slug: Some(format!("{}.", capitalised(&error.to_string()))),
            ..Self::default()
        }
    }

    fn any(&self) -> bool {
        self.slug.is_some()
            || self.name.is_some()
            || self.description.is_some()
            || self.visibility.is_some()
            || self.on_by_default.is_some()
    }
}

/// A row of the list.
struct ListedTopic {
    id: i64,
    slug: String,
    name: String,
    description: String,
    visibility: &'static str,
    on_by_default: bool,
    readers: String,
}

impl From<Topic> for ListedTopic {
    fn from(topic: Topic) -> Self {
        Self {
            id: topic.id,
            slug: topic.slug.to_string(),
            name: topic.name,
            description: topic.description,
            visibility: topic.visibility.as_str(),
            on_by_default: topic.on_by_default,
            readers: thousands(topic.readers.unwrap_or(0)),
        }
    }
}

/// The limits the form's inputs show and enforce in the browser too.
struct Limits {
    slug: usize,
    name: usize,
    description: usize,
}

const LIMITS: Limits = Limits {
    slug: MAX_SLUG_LENGTH,
    name: MAX_TOPIC_NAME_LENGTH,
    description: MAX_DESCRIPTION_LENGTH,
};

#[derive(Template)]
#[template(path = "admin/topics.html")]
struct ListPage {
    ctx: AdminContext,
    rows: Vec<ListedTopic>,
    form: TopicForm,
    errors: FieldErrors,
    limits: Limits,
}

#[derive(Template)]
#[template(path = "admin/topic.html")]
struct EditPage {
    ctx: AdminContext,
    id: i64,
    title: String,
    readers: String,
    form: TopicForm,
    errors: FieldErrors,
    limits: Limits,
}

#[derive(Template)]
#[template(path = "admin/topic_delete.html")]
struct DeletePage {
    ctx: AdminContext,
    id: i64,
    name: String,
    readers: String,
}

async fn render_list(
    state: &AppState,
    me: &SignedIn,
    status: StatusCode,
    form: TopicForm,
    errors: FieldErrors,
) -> Result<HttpResponse, WebError> {
    let topics = state.topics.list().await?;
    html(
        status,
        &ListPage {
            ctx: me.context(state, "topics"),
            rows: topics.into_iter().map(ListedTopic::from).collect(),
            form,
            errors,
            limits: LIMITS,
        },
    )
}

fn render_edit(
    state: &AppState,
    me: &SignedIn,
    status: StatusCode,
    topic: &Topic,
    form: TopicForm,
    errors: FieldErrors,
) -> Result<HttpResponse, WebError> {
    html(
        status,
        &EditPage {
            ctx: me.context(state, "topics"),
            id: topic.id,
            title: topic.name.clone(),
            readers: thousands(topic.readers.unwrap_or(0)),
            form,
            errors,
            limits: LIMITS,
        },
    )
}

#[get("/topics")]
#[tracing::instrument(name = "topic_list", skip_all)]
async fn list_page(
    state: web::Data<AppState>,
    AdminOnly(me): AdminOnly,
) -> Result<HttpResponse, WebError> {
    let form = TopicForm {
        visibility: "public".into(),
        ..TopicForm::default()
    };
    render_list(&state, &me, StatusCode::OK, form, FieldErrors::default()).await
}

#[post("/topics")]
#[tracing::instrument(name = "topic_create", skip_all)]
async fn create(
    state: web::Data<AppState>,
    AdminOnly(me): AdminOnly,
    form: web::Form<TopicForm>,
) -> Result<HttpResponse, WebError> {
    let form = form.into_inner();
    let definition = match form.parse() {
        Ok(definition) => definition,
        Err(errors) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return render_list(&state, &me, status, form, FieldErrors::of(&errors)).await;
        }
    };
    match state.topics.create(&definition).await {
        Ok(topic) => Ok(me.redirect_with_notice(
            LIST_PATH,
            format!("Topic {} ({}) created.", topic.name, topic.slug),
        )),
        Err(error @ TopicError::SlugTaken(_)) => {
            let errors = FieldErrors::slug_taken(&error);
            render_list(&state, &me, StatusCode::CONFLICT, form, errors).await
        }
        Err(TopicError::Store(error)) => Err(error.into()),
        Err(error) => Ok(me.redirect_with_error(LIST_PATH, format!("Not created: {error}."))),
    }
}

#[get("/topics/{id:\\d+}")]
#[tracing::instrument(name = "topic_edit_page", skip_all)]
async fn edit_page(
    state: web::Data<AppState>,
    AdminOnly(me): AdminOnly,
    id: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    match state.topics.get(*id).await {
        Ok(topic) => {
            let form = TopicForm::of(&topic);
            render_edit(
                &state,
                &me,
                StatusCode::OK,
                &topic,
                form,
                FieldErrors::default(),
            )
        }
        Err(TopicError::Store(error)) => Err(error.into()),
        Err(error) => {
            Ok(me.redirect_with_error(LIST_PATH, format!("{}.", capitalised(&error.to_string()))))
        }
    }
}

#[post("/topics/{id:\\d+}")]
#[tracing::instrument(name = "topic_update", skip_all)]
async fn update(
    state: web::Data<AppState>,
    AdminOnly(me): AdminOnly,
    id: web::Path<i64>,
    form: web::Form<TopicForm>,
) -> Result<HttpResponse, WebError> {
    let form = form.into_inner();
    let topic = match state.topics.get(*id).await {
        Ok(topic) => topic,
        Err(TopicError::Store(error)) => return Err(error.into()),
        Err(error) => {
            return Ok(
                me.redirect_with_error(LIST_PATH, format!("{}.", capitalised(&error.to_string())))
            )
        }
    };
    let definition = match form.parse() {
        Ok(definition) => definition,
        Err(errors) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return render_edit(&state, &me, status, &topic, form, FieldErrors::of(&errors));
        }
    };
    match state.topics.update(topic.id, &definition).await {
        Ok(topic) => Ok(me.redirect_with_notice(
            LIST_PATH,
            format!("Topic {} ({}) saved.", topic.name, topic.slug),
        )),
        Err(error @ TopicError::SlugTaken(_)) => {
            let errors = FieldErrors::slug_taken(&error);
            render_edit(&state, &me, StatusCode::CONFLICT, &topic, form, errors)
        }
        Err(TopicError::Store(error)) => Err(error.into()),
        Err(error) => Ok(me.redirect_with_error(LIST_PATH, format!("Not saved: {error}."))),
    }
}

/// The step before deleting: readers lose the topic, which cannot be undone.
#[get("/topics/{id:\\d+}/delete")]
#[tracing::instrument(name = "topic_delete_page", skip_all)]
async fn delete_page(
    state: web::Data<AppState>,
    AdminOnly(me): AdminOnly,
    id: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    match state.topics.get(*id).await {
        Ok(topic) => html(
            StatusCode::OK,
            &DeletePage {
                ctx: me.context(&state, "topics"),
                id: topic.id,
                readers: thousands(topic.readers.unwrap_or(0)),
                name: topic.name,
            },
        ),
        Err(TopicError::Store(error)) => Err(error.into()),
        Err(error) => {
            Ok(me.redirect_with_error(LIST_PATH, format!("{}.", capitalised(&error.to_string()))))
        }
    }
}

#[post("/topics/{id:\\d+}/delete")]
#[tracing::instrument(name = "topic_delete", skip_all)]
async fn delete(
    state: web::Data<AppState>,
    AdminOnly(me): AdminOnly,
    id: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    match state.topics.delete(*id).await {
        Ok(topic) => Ok(me.redirect_with_notice(
            LIST_PATH,
            format!(
                "Topic {} deleted. Its readers stay on the list in their other topics.",
                topic.name
            ),
        )),
        Err(TopicError::Store(error)) => Err(error.into()),
        Err(error) => Ok(me.redirect_with_error(LIST_PATH, format!("Not deleted: {error}."))),
    }
}
