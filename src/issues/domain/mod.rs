//! What an issue is: its parsed parts, its items and its status. Input from a
//! form or the API is parsed here into these types; everything after trusts them.

mod fields;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

pub use fields::{
    Byline, Intro, ItemTitle, ItemUrl, Preheader, PublishedOn, Subject, Summary, ValueError,
    MAX_INTRO_CHARS, MAX_PREHEADER_CHARS, MAX_SOURCE_CHARS, MAX_SUBJECT_CHARS, MAX_SUMMARY_CHARS,
    MAX_TITLE_CHARS, MAX_URL_CHARS,
};

/// More items than anyone reads in one mail, and the HTML would pass Gmail's clip long before.
pub const MAX_ITEMS: usize = 100;

/// Where an issue is in its life. Only drafts can be edited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueStatus {
    Draft,
    /// Going out: the delivery queue holds a row per subscriber.
    Sending,
    /// Sending stopped by an editor; resuming carries on where it stopped.
    Paused,
    /// Every delivery has an outcome.
    Sent,
    /// Stopped for good: the rows not yet sent were cancelled.
    Cancelled,
}

impl IssueStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Sending => "sending",
            Self::Paused => "paused",
            Self::Sent => "sent",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn is_draft(self) -> bool {
        self == Self::Draft
    }
}

impl fmt::Display for IssueStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IssueStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "draft" => Ok(Self::Draft),
            "sending" => Ok(Self::Sending),
            "paused" => Ok(Self::Paused),
            "sent" => Ok(Self::Sent),
            "cancelled" => Ok(Self::Cancelled),
            other => Err(format!("unknown issue status {other:?}")),
        }
    }
}

/// One refused input, naming the field as the form or the API calls it
/// (`subject`, `items[2].url`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {error}")]
pub struct FieldError {
    pub field: String,
    pub error: ValueError,
}

/// Every refused input of one submission, so a form can show them all at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct InvalidInput(pub Vec<FieldError>);

impl InvalidInput {
    pub fn one(field: impl Into<String>, error: ValueError) -> Self {
        Self(vec![FieldError {
            field: field.into(),
            error,
        }])
    }

    /// The first refused field, for answers that name one (the API's `field`).
    pub fn first(&self) -> Option<&FieldError> {
        self.0.first()
    }

    /// The message for `field`, if it was refused.
    pub fn message_for(&self, field: &str) -> Option<String> {
        self.0
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.error.to_string())
    }
}

/// Collects the field errors of one submission.
#[derive(Default)]
struct Checker {
    prefix: String,
    errors: Vec<FieldError>,
}

impl Checker {
    fn with_prefix(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            errors: Vec::new(),
        }
    }

    fn check<T>(&mut self, field: &str, result: Result<T, ValueError>) -> Option<T> {
        result
            .map_err(|error| {
                self.errors.push(FieldError {
                    field: format!("{}{field}", self.prefix),
                    error,
                });
            })
            .ok()
    }

    fn finish<T>(self, value: impl FnOnce() -> Option<T>) -> Result<T, InvalidInput> {
        if self.errors.is_empty() {
            value().ok_or_else(|| InvalidInput(Vec::new()))
        } else {
            Err(InvalidInput(self.errors))
        }
    }
}

/// An issue's own text, as typed.
#[derive(Debug, Clone, Default)]
pub struct HeaderInput {
    pub subject: String,
    pub preheader: String,
    pub intro: String,
}

/// An item, as typed.
#[derive(Debug, Clone, Default)]
pub struct ItemInput {
    pub title: String,
    pub url: String,
    pub source: String,
    pub date: String,
    pub summary: String,
}

/// Subject, preheader and intro.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueHeader {
    pub subject: Subject,
    pub preheader: Option<Preheader>,
    pub intro: Intro,
}

impl IssueHeader {
    pub fn parse(input: &HeaderInput) -> Result<Self, InvalidInput> {
        let mut checker = Checker::default();
        let subject = checker.check("subject", Subject::parse(&input.subject));
        let preheader = checker.check("preheader", Preheader::parse(&input.preheader));
        let intro = checker.check("intro", Intro::parse(&input.intro));
        checker.finish(|| {
            Some(Self {
                subject: subject?,
                preheader: preheader?,
                intro: intro?,
            })
        })
    }
}

/// One article of the digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemContent {
    pub title: ItemTitle,
    pub url: ItemUrl,
    pub source: Option<Byline>,
    pub published_on: Option<PublishedOn>,
    pub summary: Option<Summary>,
}

impl ItemContent {
    pub fn parse(input: &ItemInput) -> Result<Self, InvalidInput> {
        Self::parse_at(input, "")
    }

    /// Parses with field names prefixed by `prefix`, e.g. `items[2].`.
    fn parse_at(input: &ItemInput, prefix: &str) -> Result<Self, InvalidInput> {
        let mut checker = Checker::with_prefix(prefix);
        let title = checker.check("title", ItemTitle::parse(&input.title));
        let url = checker.check("url", ItemUrl::parse(&input.url));
        let source = checker.check("source", Byline::parse(&input.source));
        let published_on = checker.check("date", PublishedOn::parse(&input.date));
        let summary = checker.check("summary", Summary::parse(&input.summary));
        checker.finish(|| {
            Some(Self {
                title: title?,
                url: url?,
                source: source?,
                published_on: published_on?,
                summary: summary?,
            })
        })
    }
}

/// A whole issue as composed: what `POST /api/v1/issues` creates and `PUT` replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueContent {
    pub header: IssueHeader,
    pub items: Vec<ItemContent>,
}

impl IssueContent {
    pub fn parse(header: &HeaderInput, items: &[ItemInput]) -> Result<Self, InvalidInput> {
        let mut errors = Vec::new();
        let header = IssueHeader::parse(header)
            .map_err(|e| errors.extend(e.0))
            .ok();
        if items.len() > MAX_ITEMS {
            errors.push(FieldError {
                field: "items".into(),
                error: ValueError::TooManyItems {
                    max: MAX_ITEMS,
                    actual: items.len(),
                },
            });
        }
        let mut parsed = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            match ItemContent::parse_at(item, &format!("items[{index}].")) {
                Ok(item) => parsed.push(item),
                Err(invalid) => errors.extend(invalid.0),
            }
        }
        match header {
            Some(header) if errors.is_empty() => Ok(Self {
                header,
                items: parsed,
            }),
            _ => Err(InvalidInput(errors)),
        }
    }
}

/// A stored item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub id: i64,
    pub content: ItemContent,
}

/// A stored issue with its items in order.
#[derive(Debug, Clone)]
pub struct Issue {
    pub id: i64,
    pub status: IssueStatus,
    pub header: IssueHeader,
    pub items: Vec<Item>,
    pub created_at: i64,
    pub updated_at: i64,
    pub sent_at: Option<i64>,
    /// The intro and summaries as rendered when saved.
    pub renderings: Renderings,
    /// The topics it goes to, by name: its footer offers to leave them, and
    /// the oldest of them names its `List-Id`. Empty for an issue never stored.
    pub topics: Vec<crate::topics::Topic>,
}

impl Issue {
    /// Whether there is something to read: an intro or at least one item.
    /// An issue without either must never go to the list.
    pub fn has_content(&self) -> bool {
        !self.header.intro.is_empty() || !self.items.is_empty()
    }

    /// Whether some Markdown of the issue has no stored rendering (it was
    /// saved before Herald stored them).
    pub fn lacks_renderings(&self) -> bool {
        self.renderings.intro.is_none()
            || self
                .items
                .iter()
                .any(|item| !self.renderings.summaries.contains_key(&item.id))
    }
}

/// Markdown as readers get it: sanitised HTML and plain text. Made once, when
/// the Markdown is saved, and stored beside it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MarkdownRendering {
    pub html: String,
    pub text: String,
}

/// The stored renderings of an issue: its intro's, and its items' summaries'
/// by item id (an item without a summary has an empty one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Renderings {
    pub intro: Option<MarkdownRendering>,
    pub summaries: HashMap<i64, MarkdownRendering>,
}

/// An issue as the lists show it.
#[derive(Debug, Clone)]
pub struct IssueSummary {
    pub id: i64,
    pub subject: String,
    pub status: IssueStatus,
    pub item_count: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub sent_at: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(title: &str, url: &str) -> ItemInput {
        ItemInput {
            title: title.into(),
            url: url.into(),
            ..ItemInput::default()
        }
    }

    #[test]
    fn every_bad_field_is_named() {
        let header = HeaderInput {
            subject: String::new(),
            preheader: "x".repeat(201),
            intro: "fine".into(),
        };
        let items = [
            item("ok", "https://example.com"),
            item("", "javascript:alert(1)"),
        ];
        let error = IssueContent::parse(&header, &items).expect_err("invalid");
        let fields: Vec<&str> = error.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["subject", "preheader", "items[1].title", "items[1].url"]
        );
        assert_eq!(error.first().map(|e| e.field.as_str()), Some("subject"));
        assert_eq!(
            error.message_for("items[1].url"),
            Some(ValueError::BadUrl.to_string())
        );
    }

    #[test]
    fn a_valid_issue_parses() {
        let header = HeaderInput {
            subject: "Digest".into(),
            ..HeaderInput::default()
        };
        let items = [ItemInput {
            date: "2019-03-28".into(),
            source: "CTM News".into(),
            ..item("Title", "https://example.com/a")
        }];
        let content = IssueContent::parse(&header, &items).expect("valid");
        assert_eq!(content.header.preheader, None);
        assert!(content.header.intro.is_empty());
        assert_eq!(
            content.items[0].published_on.map(|d| d.iso()),
            Some("2019-03-28".into())
        );
    }

    #[test]
    fn too_many_items_are_refused() {
        let header = HeaderInput {
            subject: "Digest".into(),
            ..HeaderInput::default()
        };
        let items = vec![item("t", "https://example.com"); MAX_ITEMS + 1];
        let error = IssueContent::parse(&header, &items).expect_err("too many");
        assert_eq!(error.first().map(|e| e.field.as_str()), Some("items"));
    }

    #[test]
    fn statuses_round_trip() {
        for status in [
            IssueStatus::Draft,
            IssueStatus::Sending,
            IssueStatus::Paused,
            IssueStatus::Sent,
            IssueStatus::Cancelled,
        ] {
            assert_eq!(status.as_str().parse(), Ok(status));
        }
        assert!("archived".parse::<IssueStatus>().is_err());
    }
}
