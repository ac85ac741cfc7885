//! The pages visitors see, as askama templates (escaped by default).

use std::sync::OnceLock;

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use askama::Template;

use super::error::WebError;
use crate::config::Language;

/// The `lang` of every page: `HERALD_LANGUAGE`, set once when the process
/// starts (one language per process, like the binary's templates).
static PAGE_LANGUAGE: OnceLock<Language> = OnceLock::new();

/// Sets the language of every page; the first call wins.
pub fn set_page_language(language: &Language) {
    let _ = PAGE_LANGUAGE.set(language.clone());
}

/// The `lang` attribute of every page's `<html>`: `en` until set.
pub fn page_language() -> &'static str {
    PAGE_LANGUAGE.get().map_or("en", Language::as_str)
}

/// What every page shows about the publication.
#[derive(Debug, Clone)]
pub struct Site {
    pub newsletter_name: String,
}

#[derive(Template)]
#[template(path = "signup.html")]
pub struct SignupPage<'a> {
    pub site: &'a Site,
    pub email: &'a str,
    pub name: &'a str,
    pub email_error: Option<String>,
    pub name_error: Option<String>,
    /// A likely correction of the address, offered with a button that uses it.
    pub suggestion: Option<String>,
    /// A checkbox per public topic; none while there is only one to choose.
    pub topics: Vec<TopicBox>,
    pub topics_error: Option<String>,
    /// An input per public custom field, in form order.
    pub fields: Vec<FieldBox>,
    /// A field named that the form does not have.
    pub fields_error: Option<String>,
}

/// A public custom field's input on the signup form.
#[derive(Debug, Clone)]
pub struct FieldBox {
    pub key: String,
    pub label: String,
    /// The input's type: text, number, date, checkbox, or select.
    pub input: &'static str,
    pub required: bool,
    /// What was typed, shown back.
    pub value: String,
    /// A yes/no box ticked.
    pub checked: bool,
    pub choices: Vec<ChoiceOption>,
    pub error: Option<String>,
}

/// One choice of a one-of-a-list field's select.
#[derive(Debug, Clone)]
pub struct ChoiceOption {
    pub value: String,
    pub selected: bool,
}

impl FieldBox {
    /// The inputs for the `public` fields, filled in from `given` (key →
    /// value as sent), each with its error among `errors`.
    pub fn for_form(
        public: &[crate::fields::Field],
        given: &std::collections::BTreeMap<String, serde_json::Value>,
        errors: &[crate::fields::FieldValueError],
    ) -> Vec<Self> {
        use crate::fields::FieldKind;
        public
            .iter()
            .map(|field| {
                let key = field.key().as_str();
                let value = given
                    .iter()
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case(key))
                    .map(|(_, v)| match v {
                        serde_json::Value::String(text) => text.clone(),
                        serde_json::Value::Null => String::new(),
                        other => other.to_string(),
                    })
                    .unwrap_or_default();
                let kind = &field.definition.kind;
                let input = match kind {
                    FieldKind::Text => "text",
                    FieldKind::Number => "number",
                    FieldKind::Date => "date",
                    FieldKind::YesNo => "checkbox",
                    FieldKind::Choice(_) => "select",
                };
                let checked = matches!(kind, FieldKind::YesNo)
                    && crate::fields::FieldValue::parse(
                        kind,
                        &crate::fields::RawValue::Text(&value),
                    ) == Ok(Some(crate::fields::FieldValue::YesNo(true)));
                let choices = kind
                    .choices()
                    .iter()
                    .map(|choice| ChoiceOption {
                        selected: choice.eq_ignore_ascii_case(value.trim()),
                        value: choice.clone(),
                    })
                    .collect();
                Self {
                    key: key.to_owned(),
                    label: field.definition.label.as_str().to_owned(),
                    input,
                    required: field.definition.required,
                    value,
                    checked,
                    choices,
                    error: errors
                        .iter()
                        .find(|error| error.key() == key)
                        .map(ToString::to_string),
                }
            })
            .collect()
    }
}

/// A topic's checkbox on the signup form.
#[derive(Debug, Clone)]
pub struct TopicBox {
    pub slug: String,
    pub name: String,
    pub description: String,
    pub checked: bool,
}

impl TopicBox {
    /// The boxes for `public` topics, ticked as `chosen` says, or as each
    /// topic's default when nothing was chosen; none for a single topic,
    /// which every signup joins without being asked.
    pub fn for_form(public: &[crate::topics::Topic], chosen: &[String]) -> Vec<Self> {
        if public.len() < 2 {
            return Vec::new();
        }
        public
            .iter()
            .map(|topic| Self {
                slug: topic.slug.to_string(),
                name: topic.name.clone(),
                description: topic.description.clone(),
                checked: if chosen.is_empty() {
                    topic.on_by_default
                } else {
                    chosen
                        .iter()
                        .any(|slug| slug.trim().eq_ignore_ascii_case(topic.slug.as_str()))
                },
            })
            .collect()
    }
}

impl<'a> SignupPage<'a> {
    /// The form with `email` and `name` filled in and nothing to point out.
    pub fn blank(site: &'a Site, email: &'a str, name: &'a str) -> Self {
        Self {
            site,
            email,
            name,
            email_error: None,
            name_error: None,
            suggestion: None,
            topics: Vec::new(),
            topics_error: None,
            fields: Vec::new(),
            fields_error: None,
        }
    }

    /// The same form with the custom fields' inputs.
    pub fn with_fields(self, fields: Vec<FieldBox>) -> Self {
        Self { fields, ..self }
    }

    /// The same form with the topics' checkboxes.
    pub fn with_topics(self, topics: Vec<TopicBox>) -> Self {
        Self { topics, ..self }
    }

    pub fn has_errors(&self) -> bool {
        self.email_error.is_some()
            || self.name_error.is_some()
            || self.topics_error.is_some()
            || self.fields_error.is_some()
            || self.fields.iter().any(|field| field.error.is_some())
    }
}

/// A link whose text says where it goes.
#[derive(Debug, Clone)]
pub struct Link {
    pub href: String,
    pub text: String,
}

impl Link {
    pub fn new(href: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            href: href.into(),
            text: text.into(),
        }
    }
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage<'a> {
    pub site: &'a Site,
    pub heading: &'a str,
    pub paragraphs: Vec<String>,
    pub offer_signup: bool,
    /// The address a mail went to, with the way to correct it.
    pub sent_to: Option<(String, Link)>,
    /// Where to go from here.
    pub link: Option<Link>,
}

#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage<'a> {
    pub site: &'a Site,
    pub token: &'a str,
}

#[derive(Template)]
#[template(path = "unsubscribe.html")]
pub struct UnsubscribePage<'a> {
    pub site: &'a Site,
    pub email: &'a str,
    pub token: &'a str,
    /// The issue whose copy the link came in, carried to the POST.
    pub issue: Option<i64>,
    /// The button leaves everything (`&all=1` on the POST).
    pub all: bool,
    /// The topics the button leaves, `“Daily”`; none: everything.
    pub leaving: Option<String>,
    /// The issue's topics, which the reader left already.
    pub already_left: Option<String>,
    /// The link came in an editor's test copy: the page says that
    /// unsubscribing here changes nothing.
    pub test_copy: bool,
}

/// A page that answers an error status (404, 403) in the site's style, with
/// the ways on from there.
#[derive(Template)]
#[template(path = "status.html")]
pub struct StatusPage<'a> {
    pub site: &'a Site,
    pub heading: &'a str,
    pub paragraphs: Vec<&'a str>,
    pub links: Vec<Link>,
}

impl StatusPage<'_> {
    /// The response, or a plain-text one if the page cannot be rendered: this
    /// runs where no error can be passed on.
    pub fn respond(&self, status: StatusCode) -> HttpResponse {
        html(status, self).unwrap_or_else(|error| {
            tracing::error!(%error, "cannot render a status page");
            HttpResponse::build(status)
                .content_type("text/plain; charset=utf-8")
                .body(format!("{}\n", self.heading))
        })
    }
}

/// The styled "not found" page, with a way home.
pub fn not_found_page(site: &Site) -> HttpResponse {
    StatusPage {
        site,
        heading: "Page not found",
        paragraphs: vec![
            "There is nothing at this address. The link may be mistyped, or the page may have moved.",
        ],
        links: vec![
            Link::new("/", format!("Subscribe to {}", site.newsletter_name)),
            Link::new("/issues", "Read past issues"),
        ],
    }
    .respond(StatusCode::NOT_FOUND)
}

/// The styled "admins only" page an editor gets on an admin's page. It is
/// answered where the site's settings are out of reach, so it names Herald.
pub fn forbidden_page() -> HttpResponse {
    StatusPage {
        site: &Site {
            newsletter_name: "Herald".to_owned(),
        },
        heading: "This page is for admins",
        paragraphs: vec![
            "Your account is an editor's. Ask an admin of this newsletter if you need to do what this page does.",
        ],
        links: vec![Link::new("/admin", "Back to the dashboard")],
    }
    .respond(StatusCode::FORBIDDEN)
}

/// Renders `page` as an HTML response with `status`. Pages reached through a
/// secret link are never cached, so the link does not linger in a shared cache.
pub fn html(status: StatusCode, page: &impl Template) -> Result<HttpResponse, WebError> {
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(page.render()?))
}

impl<'a> MessagePage<'a> {
    pub fn new(site: &'a Site, heading: &'a str, paragraphs: &[&str]) -> Self {
        Self {
            site,
            heading,
            paragraphs: paragraphs.iter().map(|p| (*p).to_owned()).collect(),
            offer_signup: false,
            sent_to: None,
            link: None,
        }
    }

    pub fn sent_to(mut self, address: String, correct_it: Link) -> Self {
        self.sent_to = Some((address, correct_it));
        self
    }

    pub fn linking(mut self, link: Link) -> Self {
        self.link = Some(link);
        self
    }

    pub fn offering_signup(mut self) -> Self {
        self.offer_signup = true;
        self
    }
}
