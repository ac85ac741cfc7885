//! The public archive: `GET /issues`, `GET /issues/{id}` and `GET /feed.atom`.
//! Only sent issues exist here; drafts answer 404 like unknown ids. Pages
//! carry no personal link: an archived issue is the same for everyone.

use actix_web::http::StatusCode;
use actix_web::{get, web, HttpResponse};
use askama::Template;

use super::error::WebError;
use super::pages::{html, Link, Site, StatusPage};
use super::AppState;
use crate::issues::feed::{atom_feed, FEED_LENGTH};
use crate::issues::{IssueView, Issues, LIST_LIMIT};
use crate::store::timestamps;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(archive_page).service(issue_page).service(feed);
}

struct ArchiveRow {
    id: i64,
    subject: String,
    sent_on: String,
}

#[derive(Template)]
#[template(path = "issues/index.html")]
struct ArchivePage<'a> {
    site: &'a Site,
    issues: Vec<ArchiveRow>,
}

#[get("/issues")]
#[tracing::instrument(name = "archive_page", skip_all)]
async fn archive_page(state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    let issues = Issues::new(state.store.clone())
        .list_sent(LIST_LIMIT)
        .await?
        .into_iter()
        .map(|issue| ArchiveRow {
            id: issue.id,
            subject: issue.subject,
            sent_on: issue.sent_at.map(timestamps::date).unwrap_or_default(),
        })
        .collect();
    html(
        StatusCode::OK,
        &ArchivePage {
            site: &state.site,
            issues,
        },
    )
}

#[derive(Template)]
#[template(path = "issues/show.html")]
struct IssuePage<'a> {
    site: &'a Site,
    issue: IssueView,
    sent_on: String,
}

#[get("/issues/{id:\\d+}")]
#[tracing::instrument(name = "archived_issue_page", skip_all)]
async fn issue_page(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    let issue = Issues::new(state.store.clone()).find_sent(*id).await?;
    let Some(issue) = issue else {
        return Ok(StatusPage {
            site: &state.site,
            heading: "No such issue",
            paragraphs: vec![
                "There is no sent issue at this address: the number may be mistyped, or the issue was never sent.",
            ],
            links: vec![
                Link::new("/issues", "See all past issues"),
                Link::new("/", format!("Subscribe to {}", state.site.newsletter_name)),
            ],
        }
        .respond(StatusCode::NOT_FOUND));
    };
    html(
        StatusCode::OK,
        &IssuePage {
            site: &state.site,
            sent_on: issue.sent_at.map(timestamps::date).unwrap_or_default(),
            issue: IssueView::of(&issue),
        },
    )
}

#[get("/feed.atom")]
#[tracing::instrument(name = "atom_feed", skip_all)]
async fn feed(state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    let issues = Issues::new(state.store.clone())
        .latest_sent(FEED_LENGTH)
        .await?;
    let xml = atom_feed(
        &issues,
        &state.identity.site_url,
        &state.identity.newsletter_name,
    )?;
    Ok(HttpResponse::Ok()
        .content_type("application/atom+xml; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=300"))
        .body(xml))
}
