//! The Atom feed (RFC 4287) of sent issues, at `/feed.atom`.

use askama::Template;
use atom_syndication::{Content, Entry, Feed, FixedDateTime, Link, Person, Text};

use super::domain::Issue;
use super::render::IssueView;
use crate::config::BaseUrl;
use crate::store::{now_millis, timestamps};

/// How many issues the feed carries; readers poll it, so keep it short.
pub const FEED_LENGTH: i64 = 20;

/// The body of an issue without page or mail around it: the archive page
/// includes it, the feed carries it as entry content.
#[derive(Template)]
#[template(path = "issues/body.html")]
struct IssueBody<'a> {
    issue: &'a IssueView,
}

fn at(millis: i64) -> Option<FixedDateTime> {
    FixedDateTime::parse_from_rfc3339(&timestamps::rfc3339(millis)).ok()
}

fn link(href: String, rel: &str) -> Link {
    let mut link = Link::default();
    link.set_href(href);
    link.set_rel(rel);
    link
}

/// The feed of `issues` (sent ones, the latest first).
pub fn atom_feed(
    issues: &[Issue],
    site_url: &BaseUrl,
    newsletter_name: &str,
) -> Result<String, askama::Error> {
    let mut feed = Feed::default();
    feed.set_title(Text::plain(newsletter_name));
    feed.set_id(site_url.join("/feed.atom"));
    feed.set_links(vec![
        link(site_url.join("/feed.atom"), "self"),
        link(site_url.join("/issues"), "alternate"),
    ]);
    let mut author = Person::default();
    author.set_name(newsletter_name);
    author.set_uri(Some(site_url.as_str().to_owned()));
    feed.set_authors(vec![author]);
    let newest = issues
        .iter()
        .filter_map(|i| i.sent_at)
        .max()
        .unwrap_or_else(now_millis);
    if let Some(updated) = at(newest) {
        feed.set_updated(updated);
    }

    let mut entries = Vec::with_capacity(issues.len());
    for issue in issues {
        let view = IssueView::of(issue);
        let url = site_url.join(&format!("/issues/{}", issue.id));
        let mut entry = Entry::default();
        entry.set_id(url.clone());
        entry.set_title(Text::plain(view.subject.clone()));
        entry.set_links(vec![link(url, "alternate")]);
        let sent = issue.sent_at.unwrap_or(issue.updated_at);
        if let Some(sent) = at(sent) {
            entry.set_updated(sent);
            entry.set_published(Some(sent));
        }
        if let Some(preheader) = &view.preheader {
            entry.set_summary(Some(Text::plain(preheader.clone())));
        }
        let mut content = Content::default();
        content.set_content_type(Some("html".to_owned()));
        content.set_value(Some(IssueBody { issue: &view }.render()?));
        entry.set_content(Some(content));
        entries.push(entry);
    }
    feed.set_entries(entries);
    Ok(feed.to_string())
}
