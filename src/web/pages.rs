//! The pages visitors see, as askama templates (escaped by default).

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use askama::Template;

use super::error::WebError;

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
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage<'a> {
    pub site: &'a Site,
    pub heading: &'a str,
    pub paragraphs: Vec<String>,
    pub offer_signup: bool,
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
        }
    }

    pub fn offering_signup(mut self) -> Self {
        self.offer_signup = true;
        self
    }
}
