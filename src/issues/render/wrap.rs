//! Wrapping the plain-text part at 78 columns (RFC 5322 §2.1.1's advice),
//! keeping list markers and quotes hanging, and never breaking a URL.

use textwrap::{Options, WordSeparator, WordSplitter};

pub const TEXT_WIDTH: usize = 78;

/// The part of `line` that continuation lines repeat or indent under:
/// leading spaces, `> ` quotes, and a list marker (`- `, `* `, `12. `).
fn hanging_prefix(line: &str) -> (String, String) {
    let mut rest = line;
    let mut first = String::new();
    let mut next = String::new();
    loop {
        let spaces = rest.len() - rest.trim_start_matches(' ').len();
        if spaces > 0 {
            first.push_str(&rest[..spaces]);
            next.push_str(&rest[..spaces]);
            rest = &rest[spaces..];
        }
        if let Some(after) = rest.strip_prefix("> ") {
            first.push_str("> ");
            next.push_str("> ");
            rest = after;
            continue;
        }
        break;
    }
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let marker_len = if rest.starts_with("- ") || rest.starts_with("* ") {
        2
    } else if digits > 0 && digits <= 3 && rest[digits..].starts_with(". ") {
        digits + 2
    } else {
        0
    };
    first.push_str(&rest[..marker_len]);
    next.push_str(&" ".repeat(marker_len));
    (first, next)
}

/// Wraps every line longer than 78 columns at spaces. A word longer than the
/// line (a URL) stays whole on a line of its own: a broken link is worse than
/// a long line.
pub fn wrap_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    for line in text.lines() {
        if textwrap::core::display_width(line) <= TEXT_WIDTH {
            out.push_str(line);
        } else {
            let (first, next) = hanging_prefix(line);
            let body = &line[first.len()..];
            let options = Options::new(TEXT_WIDTH)
                .initial_indent(&first)
                .subsequent_indent(&next)
                .break_words(false)
                .word_separator(WordSeparator::AsciiSpace)
                .word_splitter(WordSplitter::NoHyphenation);
            let wrapped = textwrap::wrap(body, options);
            out.push_str(&wrapped.join("\n"));
        }
        out.push('\n');
    }
    out
}

/// Whether every line fits in 78 columns, except lines that hold one long
/// word (a URL) after their indent or list marker.
pub fn fits(text: &str) -> bool {
    text.lines().all(|line| {
        let (first, _) = hanging_prefix(line);
        textwrap::core::display_width(line) <= TEXT_WIDTH
            || line[first.len()..].split_whitespace().count() == 1
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_wrap_with_hanging_markers() {
        let long = "word ".repeat(40);
        let text = format!("{long}\n- {long}\n12. {long}\n> {long}\nshort");
        let wrapped = wrap_text(&text);
        for line in wrapped.lines() {
            assert!(line.chars().count() <= TEXT_WIDTH, "too long: {line:?}");
        }
        assert!(wrapped.contains("\n- word"));
        assert!(wrapped.contains("\n  word"));
        assert!(wrapped.contains("\n12. word"));
        assert!(wrapped.contains("\n    word"));
        assert!(wrapped.contains("\n> word"));
        assert!(wrapped.ends_with("short\n"));
    }

    #[test]
    fn urls_are_never_broken() {
        let url = format!("https://example.com/{}-with-hyphens", "a".repeat(90));
        let wrapped = wrap_text(&format!("See the long report at {url} for more."));
        assert!(wrapped.lines().any(|l| l == url), "{wrapped}");
        assert!(fits(&wrapped));
    }

    #[test]
    fn signature_separator_keeps_its_space() {
        assert_eq!(wrap_text("-- \nHerald"), "-- \nHerald\n");
    }
}
