//! Markdown, the editors' input, to what readers get: sanitised HTML for the
//! HTML part and the archive, plain text for the text part.

use std::collections::HashSet;
use std::sync::LazyLock;

use ammonia::UrlRelative;
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

fn parser(markdown: &str) -> Parser<'_> {
    Parser::new_ext(markdown, Options::ENABLE_STRIKETHROUGH)
}

/// Raw HTML in Markdown is allowed through pulldown-cmark and then cut down
/// by ammonia: no `<script>`/`<style>`, no event handlers or `style`
/// attributes, links only to http(s) and mailto (no `javascript:`, and no
/// relative links, which mean nothing in a mail), `rel="noopener noreferrer"`.
static SANITISER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::default();
    builder
        .url_schemes(HashSet::from(["http", "https", "mailto"]))
        .url_relative(UrlRelative::Deny)
        .link_rel(Some("noopener noreferrer"));
    builder
});

/// Markdown to sanitised HTML.
pub fn to_html(markdown: &str) -> String {
    if markdown.is_empty() {
        return String::new();
    }
    let mut html = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, parser(markdown));
    SANITISER.clean(&html).to_string()
}

/// Markdown to plain text: one logical line per paragraph or list item,
/// links written out after their text, raw HTML dropped. Lines are wrapped later.
pub fn to_text(markdown: &str) -> String {
    let mut writer = TextWriter::default();
    for event in parser(markdown) {
        writer.event(event);
    }
    writer.finish()
}

enum Container {
    Quote,
    /// A list item: its marker (`- `, `3. `) goes before its first line,
    /// as much blank space before the others.
    Item {
        marker: String,
        used: bool,
    },
}

#[derive(Default)]
struct TextWriter {
    lines: Vec<String>,
    line: String,
    containers: Vec<Container>,
    /// The next number of each open list; `None` for bullets.
    lists: Vec<Option<u64>>,
    /// Open links and images: their target and where their text starts in `line`.
    links: Vec<(String, usize)>,
    in_code_block: bool,
    /// Inside inline `<script>` or `<style>`: its text is not prose.
    in_raw_element: bool,
}

impl TextWriter {
    fn prefix(&mut self) -> String {
        let mut prefix = String::new();
        for container in &mut self.containers {
            match container {
                Container::Quote => prefix.push_str("> "),
                Container::Item { marker, used } => {
                    if *used {
                        prefix.push_str(&" ".repeat(marker.chars().count()));
                    } else {
                        prefix.push_str(marker);
                        *used = true;
                    }
                }
            }
        }
        prefix
    }

    /// Ends the current line, if it has text.
    fn flush(&mut self) {
        let text = std::mem::take(&mut self.line);
        let text = text.trim();
        if !text.is_empty() {
            let prefix = self.prefix();
            self.lines.push(format!("{prefix}{text}"));
        }
    }

    /// Separates blocks: one empty line (`>` inside a quote), never two.
    fn blank_line(&mut self) {
        let quotes = self
            .containers
            .iter()
            .filter(|c| matches!(c, Container::Quote))
            .count();
        match self.lines.last_mut() {
            None => {}
            Some(last) if last.trim_matches('>').is_empty() => *last = ">".repeat(quotes),
            Some(_) => self.lines.push(">".repeat(quotes)),
        }
    }

    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(text) if self.in_code_block => {
                for code_line in text.lines() {
                    let prefix = self.prefix();
                    self.lines.push(format!("{prefix}    {code_line}"));
                }
            }
            Event::Text(_) | Event::Code(_) if self.in_raw_element => {}
            Event::Text(text) | Event::Code(text) => self.line.push_str(&text),
            Event::SoftBreak => self.line.push(' '),
            Event::HardBreak => self.flush(),
            Event::Rule => {
                self.flush();
                self.lines.push("-".repeat(20));
                self.blank_line();
            }
            // Raw HTML is not text; ammonia decides what of it the HTML part keeps.
            Event::InlineHtml(html) => {
                let tag = html.trim_start_matches('<').to_ascii_lowercase();
                if tag.starts_with("script") || tag.starts_with("style") {
                    self.in_raw_element = true;
                } else if tag.starts_with("/script") || tag.starts_with("/style") {
                    self.in_raw_element = false;
                }
            }
            Event::Html(_) => {}
            _ => {}
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::BlockQuote(_) => {
                self.flush();
                self.containers.push(Container::Quote);
            }
            Tag::CodeBlock(_) => {
                self.flush();
                self.in_code_block = true;
            }
            Tag::List(first) => {
                self.flush();
                self.lists.push(first);
            }
            Tag::Item => {
                self.flush();
                let marker = match self.lists.last_mut() {
                    Some(Some(number)) => {
                        let marker = format!("{number}. ");
                        *number += 1;
                        marker
                    }
                    _ => "- ".to_owned(),
                };
                self.containers.push(Container::Item {
                    marker,
                    used: false,
                });
            }
            Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. } => {
                self.links.push((dest_url.into_string(), self.line.len()));
            }
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph | TagEnd::Heading(_) => {
                self.flush();
                self.blank_line();
            }
            TagEnd::BlockQuote(_) => {
                self.flush();
                self.containers.pop();
                self.blank_line();
            }
            TagEnd::CodeBlock => {
                self.in_code_block = false;
                self.blank_line();
            }
            TagEnd::List(_) => {
                self.flush();
                self.lists.pop();
                if self.lists.is_empty() {
                    self.blank_line();
                }
            }
            TagEnd::Item => {
                self.flush();
                self.containers.pop();
            }
            TagEnd::Link | TagEnd::Image => {
                if let Some((target, start)) = self.links.pop() {
                    let text = self.line.get(start..).unwrap_or_default().trim().to_owned();
                    let shown = target.strip_prefix("mailto:").unwrap_or(&target);
                    let safe = ["http://", "https://", "mailto:"]
                        .iter()
                        .any(|scheme| target.to_ascii_lowercase().starts_with(scheme));
                    if safe && text != shown {
                        if text.is_empty() {
                            self.line.push_str(shown);
                        } else {
                            self.line.push_str(&format!(" ({shown})"));
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn finish(mut self) -> String {
        self.flush();
        while self
            .lines
            .last()
            .is_some_and(|l| l.trim_matches('>').is_empty())
        {
            self.lines.pop();
        }
        self.lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_sanitised() {
        let html = to_html(
            "Hello <script>alert(1)</script> <img src=x onerror=alert(2)>\n\n\
             [click](javascript:alert(3)) <a href=\"JaVaScRiPt:alert(4)\">x</a> \
             <b onclick=\"alert(5)\" style=\"color:red\">bold</b> [rel](/relative)\n\n\
             <style>body{display:none}</style><iframe src=\"https://evil.example\"></iframe>",
        );
        let lower = html.to_lowercase();
        for forbidden in [
            "<script",
            "onerror",
            "onclick",
            "javascript:",
            "<style",
            "<iframe",
            "style=",
            "/relative",
        ] {
            assert!(!lower.contains(forbidden), "{forbidden} survived in {html}");
        }
        assert!(html.contains("<b>bold</b>"), "{html}");
    }

    #[test]
    fn links_get_noopener() {
        let html = to_html("[Herald](https://example.com/a?b=1&c=2)");
        assert_eq!(
            html,
            "<p><a href=\"https://example.com/a?b=1&amp;c=2\" rel=\"noopener noreferrer\">Herald</a></p>\n"
        );
    }

    #[test]
    fn text_writes_links_out_and_drops_html() {
        let text = to_text(
            "Read [the report](https://example.com/r) or <https://example.com/x>.\n\
             <script>alert(1)</script>\n\nInline <script>alert(2)</script>text.\n\n\
             - one\n- two with [bad](javascript:alert(1))\n\n\
             1. first\n2. second\n\n> quoted\n> text\n\n    code line",
        );
        assert_eq!(
            text,
            "Read the report (https://example.com/r) or https://example.com/x.\n\n\
             Inline text.\n\n- one\n- two with bad\n\n1. first\n2. second\n\n> quoted text\n\n    code line"
        );
    }

    #[test]
    fn nested_lists_indent() {
        let text = to_text("- outer\n  - inner\n- next");
        assert_eq!(text, "- outer\n  - inner\n- next");
    }
}
