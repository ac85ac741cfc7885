//! The single values an issue is made of, each parsed once: a value of one of
//! these types is within its limits and safe where it is used (the subject in a
//! mail header, a URL in an `href`).

use std::fmt;

use time::{Date, Month};

pub const MAX_SUBJECT_CHARS: usize = 200;
pub const MAX_PREHEADER_CHARS: usize = 200;
pub const MAX_INTRO_CHARS: usize = 20_000;
pub const MAX_TITLE_CHARS: usize = 300;
pub const MAX_URL_CHARS: usize = 2_000;
pub const MAX_SOURCE_CHARS: usize = 200;
pub const MAX_SUMMARY_CHARS: usize = 5_000;

/// Why a value was refused, in words an editor can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("{0} is required.")]
    Missing(&'static str),
    #[error("{what} has at most {max} characters ({actual} given).")]
    TooLong {
        what: &'static str,
        max: usize,
        actual: usize,
    },
    #[error("{0} must be one line, without control characters.")]
    NotOneLine(&'static str),
    #[error("{0} cannot contain control characters.")]
    ControlCharacter(&'static str),
    #[error(
        "The URL must be a full http:// or https:// address, like https://example.com/article."
    )]
    BadUrl,
    #[error("The date must read YYYY-MM-DD, like 2019-03-28.")]
    BadDate,
    #[error("An issue has at most {max} items ({actual} given).")]
    TooManyItems { max: usize, actual: usize },
    #[error("{0}")]
    Tag(#[from] crate::issues::render::personal::TagError),
    /// Tags are spliced into the body only; a header line is the same for everyone.
    #[error(
        "{0} cannot hold personalisation tags ({{{{ … }}}}); use them in the intro and summaries."
    )]
    TagOutsideBody(&'static str),
    #[error("The tag {tag} on line {line} names {reason}")]
    UnusableField {
        tag: String,
        line: usize,
        reason: String,
    },
}

/// Refuses `{{` in a plain-text value, which readers would see as typed.
fn no_tags(value: String, what: &'static str) -> Result<String, ValueError> {
    if value.contains("{{") {
        return Err(ValueError::TagOutsideBody(what));
    }
    Ok(value)
}

/// Refuses a malformed tag in Markdown.
fn well_formed_tags(value: String) -> Result<String, ValueError> {
    crate::issues::render::personal::tags(&value)?;
    Ok(value)
}

/// Line and paragraph separators break a header as surely as CR/LF do.
fn breaks_a_line(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Trimmed one-line text within `max` characters; `None` when blank.
fn one_line(raw: &str, what: &'static str, max: usize) -> Result<Option<String>, ValueError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    if trimmed.chars().any(breaks_a_line) {
        return Err(ValueError::NotOneLine(what));
    }
    let actual = trimmed.chars().count();
    if actual > max {
        return Err(ValueError::TooLong { what, max, actual });
    }
    Ok(Some(trimmed.to_owned()))
}

/// Markdown source: line ends made `\n`, outer blank space trimmed, no control
/// characters but newline and tab, within `max` characters; `None` when blank.
fn markdown(raw: &str, what: &'static str, max: usize) -> Result<Option<String>, ValueError> {
    let normalised = raw.replace("\r\n", "\n").replace('\r', "\n");
    let trimmed = normalised.trim_matches(|c: char| c.is_whitespace());
    if trimmed.is_empty() {
        return Ok(None);
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ValueError::ControlCharacter(what));
    }
    let actual = trimmed.chars().count();
    if actual > max {
        return Err(ValueError::TooLong { what, max, actual });
    }
    Ok(Some(trimmed.to_owned()))
}

macro_rules! text_value {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_value!(
    /// The subject line: required, one line of at most 200 characters. It
    /// goes into the `Subject:` header, so no CR, LF or other control character.
    Subject
);
text_value!(
    /// The preview text mail clients show after the subject; at most 200 characters.
    Preheader
);
text_value!(
    /// The opening text of an issue, Markdown, at most 20,000 characters; may be empty.
    Intro
);
text_value!(
    /// An item's headline: required, one line of at most 300 characters.
    ItemTitle
);
text_value!(
    /// Where an item links to: an absolute http(s) URL, normalised.
    ItemUrl
);
text_value!(
    /// Who published an item ("CTM News", a byline); one line of at most 200 characters.
    Byline
);
text_value!(
    /// What an item is about, Markdown, at most 5,000 characters.
    Summary
);

impl Subject {
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        one_line(raw, "The subject", MAX_SUBJECT_CHARS)?
            .map(|s| no_tags(s, "The subject"))
            .transpose()?
            .map(Self)
            .ok_or(ValueError::Missing("The subject"))
    }
}

impl Preheader {
    pub fn parse(raw: &str) -> Result<Option<Self>, ValueError> {
        Ok(one_line(raw, "The preheader", MAX_PREHEADER_CHARS)?
            .map(|s| no_tags(s, "The preheader"))
            .transpose()?
            .map(Self))
    }
}

impl Intro {
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        Ok(Self(
            markdown(raw, "The intro", MAX_INTRO_CHARS)?
                .map(well_formed_tags)
                .transpose()?
                .unwrap_or_default(),
        ))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl ItemTitle {
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        one_line(raw, "The title", MAX_TITLE_CHARS)?
            .map(|s| no_tags(s, "The title"))
            .transpose()?
            .map(Self)
            .ok_or(ValueError::Missing("The title"))
    }
}

impl ItemUrl {
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        // The url crate silently drops tabs and newlines; refuse them instead.
        let trimmed =
            one_line(raw, "The URL", MAX_URL_CHARS)?.ok_or(ValueError::Missing("The URL"))?;
        let url = url::Url::parse(&trimmed).map_err(|_| ValueError::BadUrl)?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            return Err(ValueError::BadUrl);
        }
        let normalised = url.as_str();
        // WHATWG URL parsing lets a few of these through in a host; none belongs in a link.
        if normalised
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '<' | '>' | '`' | '\\'))
        {
            return Err(ValueError::BadUrl);
        }
        let actual = normalised.chars().count();
        if actual > MAX_URL_CHARS {
            return Err(ValueError::TooLong {
                what: "The URL",
                max: MAX_URL_CHARS,
                actual,
            });
        }
        Ok(Self(normalised.to_owned()))
    }

    /// The host without a leading `www.`, for "Read it at example.com".
    pub fn site(&self) -> String {
        let host = url::Url::parse(&self.0)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        host.strip_prefix("www.").map(str::to_owned).unwrap_or(host)
    }
}

impl Byline {
    pub fn parse(raw: &str) -> Result<Option<Self>, ValueError> {
        Ok(one_line(raw, "The source", MAX_SOURCE_CHARS)?.map(Self))
    }
}

impl Summary {
    pub fn parse(raw: &str) -> Result<Option<Self>, ValueError> {
        Ok(markdown(raw, "The summary", MAX_SUMMARY_CHARS)?
            .map(well_formed_tags)
            .transpose()?
            .map(Self))
    }
}

/// The day an article appeared, given as `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PublishedOn(Date);

impl PublishedOn {
    /// Blank is no date; anything else must be a real calendar day written `YYYY-MM-DD`.
    pub fn parse(raw: &str) -> Result<Option<Self>, ValueError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        let bytes = raw.as_bytes();
        let well_formed = bytes.len() == 10
            && bytes[4] == b'-'
            && bytes[7] == b'-'
            && bytes
                .iter()
                .enumerate()
                .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
        if !well_formed {
            return Err(ValueError::BadDate);
        }
        let number = |range: std::ops::Range<usize>| raw[range].parse::<u16>().ok();
        let (Some(year), Some(month), Some(day)) = (number(0..4), number(5..7), number(8..10))
        else {
            return Err(ValueError::BadDate);
        };
        let month = u8::try_from(month)
            .ok()
            .and_then(|m| Month::try_from(m).ok())
            .ok_or(ValueError::BadDate)?;
        let day = u8::try_from(day).map_err(|_| ValueError::BadDate)?;
        Date::from_calendar_date(i32::from(year), month, day)
            .map(|d| Some(Self(d)))
            .map_err(|_| ValueError::BadDate)
    }

    /// `2019-03-28`: how it is stored and sent over the API.
    pub fn iso(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}",
            self.0.year(),
            u8::from(self.0.month()),
            self.0.day()
        )
    }

    /// `28 March 2019`: how readers see it.
    pub fn long(&self) -> String {
        format!("{} {} {}", self.0.day(), self.0.month(), self.0.year())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn subjects() {
        assert_eq!(
            Subject::parse("  Weekly digest ").map(|s| s.0),
            Ok("Weekly digest".into())
        );
        assert_eq!(Subject::parse(" "), Err(ValueError::Missing("The subject")));
        assert_eq!(
            Subject::parse("Hi\r\nBcc: victim@example.com"),
            Err(ValueError::NotOneLine("The subject"))
        );
        assert_eq!(
            Subject::parse("a\u{2028}b"),
            Err(ValueError::NotOneLine("The subject"))
        );
        assert!(Subject::parse(&"é".repeat(200)).is_ok());
        assert!(matches!(
            Subject::parse(&"é".repeat(201)),
            Err(ValueError::TooLong {
                max: 200,
                actual: 201,
                ..
            })
        ));
    }

    #[test]
    fn urls_must_be_absolute_http() {
        assert_eq!(
            ItemUrl::parse(" https://Example.com/a b ").map(|u| u.0),
            Ok("https://example.com/a%20b".into())
        );
        for bad in [
            "javascript:alert(1)",
            "JAVASCRIPT:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "/relative/path",
            "ftp://example.com/file",
            "https://",
            "https://example.com/\nx",
            "mailto:a@example.com",
        ] {
            assert!(ItemUrl::parse(bad).is_err(), "{bad} was accepted");
        }
        assert_eq!(ItemUrl::parse(""), Err(ValueError::Missing("The URL")));
        assert_eq!(
            ItemUrl::parse("https://www.ctmnews.example/x")
                .expect("valid")
                .site(),
            "ctmnews.example"
        );
    }

    #[test]
    fn dates() {
        let date = PublishedOn::parse("2019-03-28")
            .expect("valid")
            .expect("some");
        assert_eq!(date.iso(), "2019-03-28");
        assert_eq!(date.long(), "28 March 2019");
        assert_eq!(PublishedOn::parse(" "), Ok(None));
        for bad in [
            "2019-02-30",
            "2019-3-28",
            "28/03/2019",
            "2019-13-01",
            "2019-03-28x",
            "２０１９-03-28",
        ] {
            assert_eq!(PublishedOn::parse(bad), Err(ValueError::BadDate), "{bad}");
        }
    }

    #[test]
    fn markdown_keeps_lines_but_not_other_controls() {
        assert_eq!(
            Intro::parse("a\r\n\r\nb\n").map(|i| i.0),
            Ok("a\n\nb".into())
        );
        assert_eq!(Intro::parse("   ").map(|i| i.is_empty()), Ok(true));
        assert_eq!(
            Summary::parse("a\u{1b}[31m"),
            Err(ValueError::ControlCharacter("The summary"))
        );
        assert!(Intro::parse(&"x".repeat(20_000)).is_ok());
        assert!(Intro::parse(&"x".repeat(20_001)).is_err());
    }

    proptest! {
        #[test]
        fn an_accepted_subject_is_a_safe_header(raw in "\\PC{0,250}|.{0,250}|[a-z\r\n\t]{0,40}") {
            if let Ok(subject) = Subject::parse(&raw) {
                prop_assert!(!subject.as_str().is_empty());
                prop_assert!(subject.as_str().chars().count() <= MAX_SUBJECT_CHARS);
                prop_assert!(!subject.as_str().chars().any(breaks_a_line));
                prop_assert_eq!(subject.as_str().trim(), subject.as_str());
            }
        }

        #[test]
        fn an_accepted_url_is_http_or_https(raw in "(https?|javascript|data|ftp|)(:|://)[ -~]{0,60}") {
            if let Ok(url) = ItemUrl::parse(&raw) {
                let parsed = url::Url::parse(url.as_str()).expect("stays a URL");
                prop_assert!(matches!(parsed.scheme(), "http" | "https"));
                prop_assert!(!url.as_str().chars().any(char::is_control));
                prop_assert!(!url.as_str().contains('"'));
            }
        }

        #[test]
        fn every_real_day_round_trips(days in 0i32..100_000) {
            let date = Date::from_julian_day(2_400_000 + days).expect("in range");
            let iso = PublishedOn(date).iso();
            prop_assert_eq!(PublishedOn::parse(&iso), Ok(Some(PublishedOn(date))));
        }
    }
}
