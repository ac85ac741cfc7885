//! The one renderer of an issue: the admin preview, the test send, the public
//! archive, the feed and the real send all go through here, so what an editor
//! previews is what readers get.
//!
//! An issue is rendered once per send with a fixed placeholder where the
//! reader's link token goes (in the footer's three links: leave the issue's
//! topics, leave everything, the preference centre); `RenderedIssue::personalize`
//! swaps in each reader's token without rendering again.

mod markdown;
pub mod personal;
mod wrap;

use askama::Template;

pub use wrap::{fits as text_fits, wrap_text, TEXT_WIDTH};

use super::domain::{Issue, MarkdownRendering, Subject};
use crate::mail::MailIdentity;
pub use personal::{FieldTexts, Reader, Slot};

/// Stands for the reader's link token (their unsubscribe token, which the
/// preference centre takes too) in a rendered issue: one per-reader piece
/// for the footer's three links. Letters, digits and hyphens, which neither
/// askama, CSS inlining nor quoted-printable change, and which no real token
/// (base64url) is.
pub const TOKEN_PLACEHOLDER: &str = "HERALD-READER-TOKEN-PLACEHOLDER";

/// Gmail clips a message whose HTML passes about 102 KB, hiding the rest
/// (and the unsubscribe link) behind "View entire message"; warn a little before.
pub const HTML_WARNING_BYTES: usize = 100 * 1024;

/// Hidden filler after the preheader, so clients do not pull body text into
/// the preview line after it.
const PREHEADER_FILLER: &str = "&#847;&zwnj;&nbsp;";

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("cannot render the issue template: {0}")]
    Template(#[from] askama::Error),
    #[error("cannot inline the issue's CSS: {0}")]
    Inline(#[from] css_inline::InlineError),
    #[error("the renderer stopped: {0}")]
    Aborted(String),
}

/// One item, ready for any template: text as typed (templates escape it),
/// Markdown already sanitised to HTML or reduced to text.
#[derive(Debug, Clone)]
pub struct ItemView {
    pub title: String,
    pub url: String,
    /// `example.com`, for "Read the article at example.com".
    pub site: String,
    pub source: Option<String>,
    /// `2019-03-28` and `28 March 2019`.
    pub date: Option<(String, String)>,
    pub summary_html: String,
    pub summary_text: String,
}

impl ItemView {
    /// "CTM News · 28 March 2019", or whichever of the two there is.
    pub fn byline(&self) -> Option<String> {
        match (&self.source, &self.date) {
            (Some(source), Some((_, date))) => Some(format!("{source} · {date}")),
            (Some(source), None) => Some(source.clone()),
            (None, Some((_, date))) => Some(date.clone()),
            (None, None) => None,
        }
    }
}

/// An issue, ready for any template.
#[derive(Debug, Clone)]
pub struct IssueView {
    pub id: i64,
    pub subject: String,
    pub preheader: Option<String>,
    pub intro_html: String,
    pub intro_text: String,
    pub items: Vec<ItemView>,
}

/// Markdown to what readers get. This parses and sanitises: it runs when
/// the Markdown is saved, and pages use the stored result.
pub fn render_markdown(markdown: &str) -> MarkdownRendering {
    MarkdownRendering {
        html: markdown::to_html(&personal::to_placeholders(markdown)),
        text: markdown::to_text(&personal::to_placeholders(markdown)),
    }
}

impl IssueView {
    /// The view of `issue`, from its stored renderings; what was never
    /// stored is rendered here (`Issues::find` stores it on first need).
    /// Personalisation tags show their defaults: no reader is known here.
    pub fn of(issue: &Issue) -> Self {
        let mut view = Self::with_placeholders(issue);
        view.intro_html = personal::fill_defaults(view.intro_html, true);
        view.intro_text = personal::fill_defaults(view.intro_text, false);
        for item in &mut view.items {
            item.summary_html =
                personal::fill_defaults(std::mem::take(&mut item.summary_html), true);
            item.summary_text =
                personal::fill_defaults(std::mem::take(&mut item.summary_text), false);
        }
        view
    }

    /// The view with each tag's placeholder left in, for mail.
    fn with_placeholders(issue: &Issue) -> Self {
        let header = &issue.header;
        let intro = issue
            .renderings
            .intro
            .clone()
            .unwrap_or_else(|| render_markdown(header.intro.as_str()));
        Self {
            id: issue.id,
            subject: header.subject.as_str().to_owned(),
            preheader: header.preheader.as_ref().map(|p| p.as_str().to_owned()),
            intro_html: intro.html,
            intro_text: intro.text,
            items: issue
                .items
                .iter()
                .map(|stored| {
                    let item = &stored.content;
                    let summary = issue
                        .renderings
                        .summaries
                        .get(&stored.id)
                        .cloned()
                        .unwrap_or_else(|| {
                            render_markdown(item.summary.as_ref().map_or("", |s| s.as_str()))
                        });
                    ItemView {
                        title: item.title.as_str().to_owned(),
                        url: item.url.as_str().to_owned(),
                        site: item.url.site(),
                        source: item.source.as_ref().map(|s| s.as_str().to_owned()),
                        date: item.published_on.map(|d| (d.iso(), d.long())),
                        summary_html: summary.html,
                        summary_text: summary.text,
                    }
                })
                .collect(),
        }
    }
}

/// The footer's links, with the placeholder for the reader's token.
#[derive(Debug, Clone)]
struct FooterLinks {
    /// One click leaves the issue's topics (`&issue=N`).
    leave_topics: String,
    /// Leaves every topic: unsubscribed altogether (`&all=1`).
    leave_all: String,
    preferences: String,
    /// `“Daily” and “Weekly”`, or `this newsletter` for an issue not stored.
    topics_label: String,
}

impl FooterLinks {
    fn of(issue: &Issue, identity: &MailIdentity) -> Self {
        let link = |path: &str| identity.site_url.join(path);
        Self {
            leave_topics: link(&format!(
                "/unsubscribe?token={TOKEN_PLACEHOLDER}&issue={}",
                issue.id
            )),
            leave_all: link(&format!("/unsubscribe?token={TOKEN_PLACEHOLDER}&all=1")),
            preferences: link(&format!("/preferences?token={TOKEN_PLACEHOLDER}")),
            topics_label: topics_label(issue.topics.iter().map(|topic| topic.name.as_str())),
        }
    }

    /// The links as they go into `href="…"`: `&` as `&amp;`.
    fn escaped(&self) -> Self {
        Self {
            leave_topics: escape_attribute(&self.leave_topics),
            leave_all: escape_attribute(&self.leave_all),
            preferences: escape_attribute(&self.preferences),
            topics_label: self.topics_label.clone(),
        }
    }
}

/// `“Daily”`, `“Daily” and “Weekly”`, `“A”, “B” and “C”`; `this newsletter`
/// when there are none.
pub fn topics_label<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let quoted: Vec<String> = names.map(|name| format!("“{name}”")).collect();
    match quoted.as_slice() {
        [] => "this newsletter".to_owned(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

#[derive(Template)]
#[template(path = "email/issue.html")]
struct HtmlPart<'a> {
    issue: &'a IssueView,
    identity: &'a MailIdentity,
    /// Attribute-escaped: the template writes them as they are.
    links: &'a FooterLinks,
    web_url: &'a str,
    preheader_filler: String,
}

#[derive(Template)]
#[template(path = "email/issue.txt")]
struct TextPart<'a> {
    issue: &'a IssueView,
    identity: &'a MailIdentity,
    links: &'a FooterLinks,
    web_url: &'a str,
    underline: String,
}

/// The topic whose `List-Id` an issue's copies carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListTopic {
    pub slug: String,
    pub name: String,
}

/// Both parts of an issue, with the placeholder where each reader's
/// token goes.
#[derive(Debug, Clone)]
pub struct RenderedIssue {
    subject: Subject,
    /// The HTML split at each placeholder; personalising joins it with
    /// the reader's value for each slot.
    html_parts: Vec<String>,
    text_parts: Vec<String>,
    html_slots: Vec<Slot>,
    text_slots: Vec<Slot>,
    html_bytes: usize,
    list_topic: Option<ListTopic>,
}

impl RenderedIssue {
    /// Renders `issue` for mail: HTML with its CSS inlined, and plain text wrapped at 78 columns.
    pub fn render(issue: &Issue, identity: &MailIdentity) -> Result<Self, RenderError> {
        let view = IssueView::with_placeholders(issue);
        let web_url = identity.site_url.join(&format!("/issues/{}", issue.id));
        let links = FooterLinks::of(issue, identity);
        let html = HtmlPart {
            issue: &view,
            identity,
            links: &links.escaped(),
            web_url: &web_url,
            preheader_filler: PREHEADER_FILLER.repeat(60),
        }
        .render()?;
        let inliner = css_inline::CSSInliner::options()
            .load_remote_stylesheets(false)
            .keep_at_rules(true)
            .build();
        let html = inliner.inline(&html)?;
        let text = TextPart {
            issue: &view,
            identity,
            links: &links,
            web_url: &web_url,
            underline: "=".repeat(view.subject.chars().count().min(TEXT_WIDTH)),
        }
        .render()?;
        let (text, tags) = personal::shorten(&text);
        let text = wrap_text(&text);
        let (html_parts, html_slots) = personal::split(&html, TOKEN_PLACEHOLDER);
        let (text_parts, text_slots) = personal::split_short(&text, TOKEN_PLACEHOLDER, &tags);
        Ok(Self {
            subject: issue.header.subject.clone(),
            html_bytes: html.len(),
            html_parts,
            text_parts,
            html_slots,
            text_slots,
            // The oldest topic: an issue to the first topic there was (the
            // default one of an upgraded site) keeps the site's List-Id.
            list_topic: issue
                .topics
                .iter()
                .min_by_key(|topic| topic.id)
                .map(|topic| ListTopic {
                    slug: topic.slug.to_string(),
                    name: topic.name.clone(),
                }),
        })
    }

    /// The topic whose `List-Id` the copies carry: the oldest the issue
    /// goes to; none for an issue never stored (the site's List-Id).
    pub fn list_topic(&self) -> Option<&ListTopic> {
        self.list_topic.as_ref()
    }

    /// `render` on a blocking thread: the largest issue takes tens of
    /// milliseconds of CPU (hundreds in a debug build), too long to hold an
    /// async worker that serves other requests.
    pub async fn render_blocking(
        issue: &Issue,
        identity: &MailIdentity,
    ) -> Result<Self, RenderError> {
        let (issue, identity) = (issue.clone(), identity.clone());
        tokio::task::spawn_blocking(move || Self::render(&issue, &identity))
            .await
            .map_err(|e| RenderError::Aborted(e.to_string()))?
    }

    pub fn subject(&self) -> &Subject {
        &self.subject
    }

    /// The size of the HTML part in bytes, before transfer encoding.
    pub fn html_bytes(&self) -> usize {
        self.html_bytes
    }

    /// Whether the HTML is big enough for Gmail to clip it.
    pub fn is_too_big_for_gmail(&self) -> bool {
        self.html_bytes > HTML_WARNING_BYTES
    }

    /// The HTML split at each place a reader's value goes, and what goes there.
    pub fn html_parts(&self) -> (&[String], &[Slot]) {
        (&self.html_parts, &self.html_slots)
    }

    /// The plain text split at each place a reader's value goes, and what goes there.
    pub fn text_parts(&self) -> (&[String], &[Slot]) {
        (&self.text_parts, &self.text_slots)
    }

    /// Whether a copy needs the reader's field values.
    pub fn uses_fields(&self) -> bool {
        self.html_slots
            .iter()
            .chain(&self.text_slots)
            .any(|slot| slot.field_key().is_some())
    }

    /// (HTML, text) for one reader, with their values in place.
    pub fn personalize(&self, reader: &Reader<'_>) -> (String, String) {
        (
            personal::join(&self.html_parts, &self.html_slots, reader, true),
            personal::join(&self.text_parts, &self.text_slots, reader, false),
        )
    }

    /// (HTML, text) with `token` and the sample reader's values.
    pub fn personalize_sample(&self, token: &str) -> (String, String) {
        self.personalize(&personal::sample_reader(token))
    }
}

/// The link goes into `href="…"` and into text; escape what HTML would read as markup.
pub fn escape_attribute(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
pub(crate) mod tests;
