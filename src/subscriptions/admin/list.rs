//! The subscriber list: newest first, filtered by status, searched by address
//! or name, and paged with a keyset cursor (the last id shown), never OFFSET,
//! so the millionth row costs what the first does.
//!
//! A search matches addresses that start with the term (case-insensitive) and
//! names with words that start with each word of the term: "ann" finds
//! ann@example.com and "Ann Smith", "smi" finds "Ann Smith". Both walk an
//! index; a substring anywhere in an address would read every row.

use super::super::admin_queries::{self, ListFilter, SubscriberRow};
use super::super::{SubscriberStatus, Subscriptions};
use crate::store::Dialect;

pub const DEFAULT_PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 500;
/// Longer than any address; a longer search cannot match.
const MAX_SEARCH_LENGTH: usize = 254;

/// What was typed in the search box: trimmed, without control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchTerm(String);

impl SearchTerm {
    /// `None` for a blank search.
    pub fn parse(raw: &str) -> Option<Self> {
        let cleaned: String = raw
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_SEARCH_LENGTH)
            .collect();
        let trimmed = cleaned.trim();
        (!trimmed.is_empty()).then(|| Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Addresses starting with the term, as the range `[term, end)` of
    /// case-folded addresses. Folding follows the engine's `lower()`: ASCII
    /// only on SQLite.
    fn email_range(&self, dialect: Dialect) -> (String, String) {
        let folded = match dialect {
            Dialect::Sqlite => self.0.to_ascii_lowercase(),
            Dialect::Postgres => self.0.to_lowercase(),
        };
        let end = prefix_end(&folded);
        (folded, end)
    }

    /// Every word of the term as the start of a word of the name, in the
    /// engine's full-text syntax. Words are letters and digits only, so
    /// nothing typed can be read as an operator.
    fn name_query(&self, dialect: Dialect) -> Option<String> {
        let words: Vec<String> = self
            .0
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        if words.is_empty() {
            return None;
        }
        Some(match dialect {
            Dialect::Sqlite => words
                .iter()
                .map(|w| format!("\"{w}\"*"))
                .collect::<Vec<_>>()
                .join(" "),
            Dialect::Postgres => words
                .iter()
                .map(|w| format!("{w}:*"))
                .collect::<Vec<_>>()
                .join(" & "),
        })
    }
}

/// The smallest string above every string that starts with `prefix`, in code
/// point order (which is UTF-8 byte order, SQLite's BINARY and PostgreSQL's "C").
fn prefix_end(prefix: &str) -> String {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = u32::from(last) + 1;
        if next == 0xD800 {
            next = 0xE000;
        }
        if let Some(next) = char::from_u32(next) {
            chars.push(next);
            return chars.into_iter().collect();
        }
    }
    // Only U+10FFFF: above any address, which has at most 254 characters.
    char::MAX.to_string().repeat(MAX_SEARCH_LENGTH + 1)
}

/// One page of the list to show.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub search: Option<SearchTerm>,
    pub status: Option<SubscriberStatus>,
    /// The cursor: show subscribers with a smaller id than this.
    pub after: Option<i64>,
    /// Rows per page, 1 to [`MAX_PAGE_SIZE`].
    pub limit: i64,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            search: None,
            status: None,
            after: None,
            limit: DEFAULT_PAGE_SIZE,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SubscriberPage {
    pub items: Vec<SubscriberRow>,
    /// The cursor of the next page, when there is one.
    pub next: Option<i64>,
}

impl Subscriptions {
    /// A page of the subscriber list, newest first.
    #[tracing::instrument(skip_all)]
    pub async fn list(&self, query: &ListQuery) -> Result<SubscriberPage, sqlx::Error> {
        let dialect = self.store.dialect();
        let limit = query.limit.clamp(1, MAX_PAGE_SIZE);
        let filter = ListFilter {
            status: query.status,
            email_range: query.search.as_ref().map(|s| s.email_range(dialect)),
            name_query: query.search.as_ref().and_then(|s| s.name_query(dialect)),
            before: query.after,
            // One more than shown tells whether a next page exists.
            limit: limit + 1,
        };
        let mut conn = self.store.pool().acquire().await?;
        let mut items = admin_queries::list(&mut conn, dialect, &filter).await?;
        let next = if items.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
            items.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            items.last().map(|row| row.id)
        } else {
            None
        };
        Ok(SubscriberPage { items, next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn search_terms() {
        assert_eq!(SearchTerm::parse("  \t "), None);
        let term = SearchTerm::parse(" Ann Smith\n").expect("a term");
        assert_eq!(term.as_str(), "Ann Smith");
        assert_eq!(
            term.name_query(Dialect::Sqlite).as_deref(),
            Some("\"ann\"* \"smith\"*")
        );
        assert_eq!(
            term.name_query(Dialect::Postgres).as_deref(),
            Some("ann:* & smith:*")
        );
        let operators = SearchTerm::parse("\"a\" OR b* ) & !c:").expect("a term");
        assert_eq!(
            operators.name_query(Dialect::Postgres).as_deref(),
            Some("a:* & or:* & b:* & c:*")
        );
        assert_eq!(
            SearchTerm::parse("@.")
                .expect("a term")
                .name_query(Dialect::Sqlite),
            None
        );
        assert_eq!(
            SearchTerm::parse("Ann@X")
                .expect("a term")
                .email_range(Dialect::Sqlite),
            ("ann@x".to_owned(), "ann@y".to_owned())
        );
    }

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end("abc"), "abd");
        assert_eq!(prefix_end("a\u{D7FF}"), "a\u{E000}");
        assert_eq!(prefix_end("a\u{10FFFF}"), "b");
    }

    proptest! {
        #[test]
        fn the_range_holds_exactly_the_strings_with_the_prefix(prefix in "\\PC{1,6}", rest in "\\PC{0,6}", other in "\\PC{0,8}") {
            let end = prefix_end(&prefix);
            let with_prefix = format!("{prefix}{rest}");
            prop_assert!(prefix.as_str() <= with_prefix.as_str() && with_prefix < end);
            if !other.starts_with(&prefix) {
                prop_assert!(!(prefix.as_str() <= other.as_str() && other < end));
            }
        }
    }
}
