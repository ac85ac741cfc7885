//! Personalisation tags in an issue's Markdown: `{{ name }}`,
//! `{{ fields.city | default("your town") }}`. Each tag becomes a placeholder
//! of letters and digits before Markdown rendering (which would otherwise
//! escape its quotes), so the issue is still rendered once per send and
//! each reader's values are spliced in where the placeholders were.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::fields::{FieldKey, FieldValue};

/// Starts a tag's placeholder; the tag's canonical text follows in hex,
/// then [`PLACEHOLDER_END`]. Letters and digits only, which Markdown,
/// sanitising, CSS inlining and quoted-printable leave as they are.
const PLACEHOLDER_START: &str = "HERALDTAG";
const PLACEHOLDER_END: char = 'X';

/// Defaults are shown in the mail, so they are one short line.
pub const MAX_DEFAULT_CHARS: usize = 200;

/// What a tag stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// The reader's link token (the footer's links).
    Token,
    Name {
        default: Option<String>,
    },
    Field {
        key: FieldKey,
        default: Option<String>,
    },
}

impl Slot {
    /// The reader's value, or the default, or nothing.
    pub fn value<'a>(&'a self, reader: &'a Reader<'_>) -> &'a str {
        let (value, default) = match self {
            Self::Token => return reader.token,
            Self::Name { default } => (reader.name, default),
            Self::Field { key, default } => (
                reader
                    .fields
                    .and_then(|fields| fields.get(key.as_str()))
                    .map(String::as_str),
                default,
            ),
        };
        match value.filter(|v| !v.is_empty()) {
            Some(value) => value,
            None => default.as_deref().unwrap_or(""),
        }
    }

    /// The key of a field tag.
    pub fn field_key(&self) -> Option<&FieldKey> {
        match self {
            Self::Field { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// Public field values of one reader as they read in a mail, by key.
pub type FieldTexts = HashMap<String, String>;

/// One reader's values for the slots of a rendered issue.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    pub token: &'a str,
    pub name: Option<&'a str>,
    /// None when the issue uses no field (nothing was loaded).
    pub fields: Option<&'a FieldTexts>,
}

/// A field value as a tag shows it: dates as written (`YYYY-MM-DD`),
/// numbers as stored, yes/no as `yes` or `no`.
pub fn field_text(value: &FieldValue) -> String {
    match value {
        FieldValue::YesNo(yes) => if *yes { "yes" } else { "no" }.to_owned(),
        other => other.to_string(),
    }
}

/// A malformed tag, with its line (from 1) in the Markdown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("The tag {tag} on line {line} {reason}")]
pub struct TagError {
    pub tag: String,
    pub line: usize,
    pub reason: String,
}

/// A tag as found in the Markdown, with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundTag {
    pub slot: Slot,
    pub source: String,
    pub line: usize,
}

/// Every tag of `markdown`, or the first malformed one.
pub fn tags(markdown: &str) -> Result<Vec<FoundTag>, TagError> {
    let mut found = Vec::new();
    scan(markdown, |tag| {
        found.push(tag);
        String::new()
    })?;
    Ok(found)
}

/// `markdown` with each tag replaced by its placeholder.
pub fn to_placeholders(markdown: &str) -> Cow<'_, str> {
    if !markdown.contains("{{") {
        return Cow::Borrowed(markdown);
    }
    // Malformed tags were refused on save; one that is not stays as typed.
    match scan(markdown, |tag| placeholder(&tag.slot)) {
        Ok(replaced) => Cow::Owned(replaced),
        Err(_) => Cow::Borrowed(markdown),
    }
}

fn scan(markdown: &str, mut each: impl FnMut(FoundTag) -> String) -> Result<String, TagError> {
    let mut out = String::with_capacity(markdown.len());
    let mut rest = markdown;
    let mut line = 1;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        line += rest[..start].matches('\n').count();
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            let shown: String = rest[start..]
                .lines()
                .next()
                .unwrap_or("{{")
                .chars()
                .take(40)
                .collect();
            return Err(TagError {
                tag: shown,
                line,
                reason: "has no closing }}.".to_owned(),
            });
        };
        let inner = &after[..end];
        let source = format!("{{{{{inner}}}}}");
        let slot = parse_inner(inner).map_err(|reason| TagError {
            tag: source.clone(),
            line,
            reason,
        })?;
        out.push_str(&each(FoundTag { slot, source, line }));
        line += inner.matches('\n').count();
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `name`, `fields.KEY`, each optionally followed by `| default("…")`.
fn parse_inner(inner: &str) -> Result<Slot, String> {
    let (what, filter) = match inner.split_once('|') {
        Some((what, filter)) => (what.trim(), Some(filter.trim())),
        None => (inner.trim(), None),
    };
    let default = match filter {
        None => None,
        Some(filter) => Some(parse_default(filter)?),
    };
    if what == "name" {
        return Ok(Slot::Name { default });
    }
    if let Some(key) = what.strip_prefix("fields.") {
        let key = FieldKey::parse(key).map_err(|_| {
            "names no field: a field tag reads fields.KEY, with the field's key.".to_owned()
        })?;
        if key.as_str() != what["fields.".len()..].trim() {
            return Err("names no field: keys are lower-case.".to_owned());
        }
        return Ok(Slot::Field { key, default });
    }
    Err("is not one Herald knows: use {{ name }} or {{ fields.KEY }}, optionally with | default(\"…\").".to_owned())
}

fn parse_default(filter: &str) -> Result<String, String> {
    let malformed = || "has a malformed default: write | default(\"text\").".to_owned();
    let args = filter
        .strip_prefix("default")
        .map(str::trim_start)
        .and_then(|f| f.strip_prefix('('))
        .and_then(|f| f.strip_suffix(')'))
        .map(str::trim)
        .ok_or_else(malformed)?;
    let text = args
        .strip_prefix('"')
        .and_then(|a| a.strip_suffix('"'))
        .ok_or_else(malformed)?;
    if text.contains('"') || text.chars().any(char::is_control) {
        return Err(malformed());
    }
    if text.chars().count() > MAX_DEFAULT_CHARS {
        return Err(format!(
            "has a default over {MAX_DEFAULT_CHARS} characters."
        ));
    }
    Ok(text.to_owned())
}

/// The canonical text of a slot, which its placeholder carries in hex.
fn canonical(slot: &Slot) -> String {
    let with = |what: &str, default: &Option<String>| match default {
        Some(default) => format!("{what}|default(\"{default}\")"),
        None => what.to_owned(),
    };
    match slot {
        Slot::Token => String::new(),
        Slot::Name { default } => with("name", default),
        Slot::Field { key, default } => with(&format!("fields.{}", key.as_str()), default),
    }
}

fn placeholder(slot: &Slot) -> String {
    let mut out = String::from(PLACEHOLDER_START);
    for byte in canonical(slot).bytes() {
        out.push_str(&format!("{byte:02x}"));
    }
    out.push(PLACEHOLDER_END);
    out
}

/// `rendered` cut at every placeholder (the token's and the tags'): the
/// pieces between them, and the slot after each piece but the last.
pub fn split(rendered: &str, token_placeholder: &str) -> (Vec<String>, Vec<Slot>) {
    let mut pieces = Vec::new();
    let mut slots = Vec::new();
    let mut rest = rendered;
    loop {
        let token = rest.find(token_placeholder);
        let tag = find_tag(rest);
        match (token, tag) {
            (Some(t), Some((g, _, _))) if t < g => {
                pieces.push(rest[..t].to_owned());
                slots.push(Slot::Token);
                rest = &rest[t + token_placeholder.len()..];
            }
            (_, Some((g, len, slot))) => {
                pieces.push(rest[..g].to_owned());
                slots.push(slot);
                rest = &rest[g + len..];
            }
            (Some(t), None) => {
                pieces.push(rest[..t].to_owned());
                slots.push(Slot::Token);
                rest = &rest[t + token_placeholder.len()..];
            }
            (None, None) => break,
        }
    }
    pieces.push(rest.to_owned());
    (pieces, slots)
}

/// Opens and closes a short marker of a tag: private-use characters,
/// which no issue's text holds.
const SHORT_START: char = '\u{E000}';
const SHORT_END: char = '\u{E001}';

/// The plain text with each tag's placeholder (as long as its hex) cut
/// down to a marker a few characters wide, so that wrapping at 78 columns
/// sees about a value's width; returns the slots the markers index.
pub fn shorten(text: &str) -> (String, Vec<Slot>) {
    let mut out = String::with_capacity(text.len());
    let mut slots = Vec::new();
    let mut rest = text;
    while let Some((at, len, slot)) = find_tag(rest) {
        out.push_str(&rest[..at]);
        out.push(SHORT_START);
        out.push_str(&slots.len().to_string());
        out.push(SHORT_END);
        slots.push(slot);
        rest = &rest[at + len..];
    }
    out.push_str(rest);
    (out, slots)
}

/// `split` for text whose tags were shortened by [`shorten`].
pub fn split_short(text: &str, token_placeholder: &str, tags: &[Slot]) -> (Vec<String>, Vec<Slot>) {
    let mut pieces = Vec::new();
    let mut slots = Vec::new();
    let mut rest = text;
    loop {
        let token = rest.find(token_placeholder);
        let tag = rest.find(SHORT_START).and_then(|at| {
            let end = rest[at..].find(SHORT_END)? + at;
            let index: usize = rest[at + SHORT_START.len_utf8()..end].parse().ok()?;
            Some((
                at,
                end + SHORT_END.len_utf8() - at,
                tags.get(index)?.clone(),
            ))
        });
        match (token, tag) {
            (Some(t), Some((g, _, _))) if t < g => {
                pieces.push(rest[..t].to_owned());
                slots.push(Slot::Token);
                rest = &rest[t + token_placeholder.len()..];
            }
            (_, Some((g, len, slot))) => {
                pieces.push(rest[..g].to_owned());
                slots.push(slot);
                rest = &rest[g + len..];
            }
            (Some(t), None) => {
                pieces.push(rest[..t].to_owned());
                slots.push(Slot::Token);
                rest = &rest[t + token_placeholder.len()..];
            }
            (None, None) => break,
        }
    }
    pieces.push(rest.to_owned());
    (pieces, slots)
}

/// The first well-formed placeholder in `text`: where, how long, its slot.
fn find_tag(text: &str) -> Option<(usize, usize, Slot)> {
    let mut from = 0;
    while let Some(at) = text[from..].find(PLACEHOLDER_START) {
        let start = from + at;
        let hex_start = start + PLACEHOLDER_START.len();
        if let Some(end) = text[hex_start..].find(PLACEHOLDER_END) {
            let hex = &text[hex_start..hex_start + end];
            if let Some(slot) = decode(hex) {
                return Some((start, PLACEHOLDER_START.len() + end + 1, slot));
            }
        }
        from = hex_start;
    }
    None
}

fn decode(hex: &str) -> Option<Slot> {
    if hex.is_empty() || !hex.len().is_multiple_of(2) {
        return None;
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    parse_inner(&String::from_utf8(bytes).ok()?).ok()
}

/// `rendered` with each tag's placeholder replaced by its default (or
/// nothing): the archive, the feed and pages show no reader's values.
pub fn fill_defaults(rendered: String, html: bool) -> String {
    if !rendered.contains(PLACEHOLDER_START) {
        return rendered;
    }
    let reader = Reader {
        token: "",
        name: None,
        fields: None,
    };
    let (pieces, slots) = split(&rendered, "\u{0}never\u{0}");
    join(&pieces, &slots, &reader, html)
}

/// The pieces joined with `reader`'s values, HTML-escaped when `html`.
pub fn join(pieces: &[String], slots: &[Slot], reader: &Reader<'_>, html: bool) -> String {
    let mut out = String::with_capacity(pieces.iter().map(String::len).sum::<usize>() + 64);
    for (index, piece) in pieces.iter().enumerate() {
        out.push_str(piece);
        if let Some(slot) = slots.get(index) {
            let value = slot.value(reader);
            if html {
                out.push_str(&super::escape_attribute(value));
            } else {
                out.push_str(value);
            }
        }
    }
    out
}

/// The name a preview and a test copy show for `{{ name }}`.
pub const SAMPLE_NAME: &str = "Sample Reader";

/// The reader a preview and a test copy show: [`SAMPLE_NAME`] and each
/// field tag's default.
pub fn sample_reader(token: &str) -> Reader<'_> {
    Reader {
        token,
        name: Some(SAMPLE_NAME),
        fields: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(markdown: &str) -> Slot {
        let found = tags(markdown).expect("parses");
        assert_eq!(found.len(), 1);
        found[0].slot.clone()
    }

    #[test]
    fn tags_read_with_or_without_spaces_and_defaults() {
        assert_eq!(slot("Hi {{name}}!"), Slot::Name { default: None });
        assert_eq!(
            slot("Hi {{ name | default(\"reader\") }}!"),
            Slot::Name {
                default: Some("reader".into())
            }
        );
        assert_eq!(
            slot("In {{fields.city|default( \"your town\" )}}"),
            Slot::Field {
                key: FieldKey::parse("city").expect("a key"),
                default: Some("your town".into())
            }
        );
    }

    #[test]
    fn malformed_tags_are_refused_with_their_line() {
        let error = tags("one\ntwo {{ nme }}").expect_err("refused");
        assert_eq!(error.line, 2);
        assert_eq!(error.tag, "{{ nme }}");
        assert!(tags("{{ name").is_err());
        assert!(tags("{{ name | default(reader) }}").is_err());
        assert!(tags("{{ name | upper }}").is_err());
        assert!(tags("{{ fields.Bad-Key }}").is_err());
        assert!(tags("{{ fields.City }}").is_err());
        assert!(tags("no tags { here }").expect("parses").is_empty());
    }

    #[test]
    fn placeholders_survive_markdown_and_split_back_into_slots() {
        let markdown = "Hello **{{ name | default(\"<reader>\") }}** from {{ fields.city }}.";
        let html = super::super::markdown::to_html(&to_placeholders(markdown));
        let (pieces, slots) = split(&html, "TOKEN");
        assert_eq!(slots.len(), 2);
        let fields = FieldTexts::from([("city".to_owned(), "Lyon".to_owned())]);
        let reader = Reader {
            token: "t",
            name: Some("<b>Ann</b>"),
            fields: Some(&fields),
        };
        let joined = join(&pieces, &slots, &reader, true);
        assert!(
            joined.contains("<strong>&lt;b&gt;Ann&lt;/b&gt;</strong> from Lyon."),
            "{joined}"
        );
        let nobody = Reader {
            token: "t",
            name: None,
            fields: None,
        };
        let joined = join(&pieces, &slots, &nobody, false);
        assert!(
            joined.contains("<strong><reader></strong> from ."),
            "{joined}"
        );
    }

    #[test]
    fn markdown_without_tags_is_left_as_it_is() {
        assert!(matches!(to_placeholders("plain"), Cow::Borrowed("plain")));
        assert_eq!(fill_defaults("plain".into(), true), "plain");
    }
}
