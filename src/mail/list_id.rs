//! `List-Id` (RFC 2919): the list's name and an ASCII id under the From
//! domain, which readers filter on; the id stays ASCII whatever the name.

use lettre::message::header::{Header, HeaderName, HeaderValue};
use unicode_normalization::UnicodeNormalization;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The slug of the topic migration 0023 made of the one list there was.
const DEFAULT_TOPIC_SLUG: &str = "newsletter";

/// `List-Id: "Name" <name.example.com>` (RFC 2919): lets readers filter the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListId {
    /// The phrase as a reader reads it.
    name: String,
    /// `label.domain`, ASCII.
    id: String,
}

impl ListId {
    /// The id is the newsletter's name made into an ASCII label, under the From domain.
    pub fn new(newsletter_name: &str, domain: &str) -> Self {
        Self {
            name: newsletter_name.to_owned(),
            id: format!("{}.{domain}", list_label(newsletter_name)),
        }
    }

    /// The List-Id of one topic (issue 14: readers filter each newsletter of
    /// the site apart): `slug.label.domain` under the site's own id, named
    /// "Site: Topic". The topic every site had before topics (slug
    /// `newsletter`, made by the upgrade) keeps the site's List-Id, so the
    /// filters readers made before stay true. A slug is lower-case letters,
    /// digits and hyphens, at most 40: a DNS label as it is.
    pub fn for_topic(newsletter_name: &str, domain: &str, slug: &str, topic_name: &str) -> Self {
        let site = Self::new(newsletter_name, domain);
        if slug == DEFAULT_TOPIC_SLUG {
            return site;
        }
        Self {
            name: format!("{newsletter_name}: {topic_name}"),
            id: format!("{slug}.{}", site.id),
        }
    }

    /// `label.domain`.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl Header for ListId {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Id")
    }

    fn parse(s: &str) -> Result<Self, BoxError> {
        let (name, id) = s
            .rsplit_once('<')
            .ok_or("a List-Id has its id in angle brackets")?;
        Ok(Self {
            name: name.trim().trim_matches('"').to_owned(),
            id: id.trim_end_matches('>').to_owned(),
        })
    }

    fn display(&self) -> HeaderValue {
        // An ASCII name goes in quotes; any other as RFC 2047 encoded words,
        // which may stand for a phrase but not inside quotes.
        let encoded = if self.name.is_ascii() {
            let quoted = self.name.replace('\\', "\\\\").replace('"', "\\\"");
            format!("\"{quoted}\" <{}>", self.id)
        } else {
            use base64::Engine;
            let words: Vec<String> = utf8_chunks(&self.name, 45)
                .map(|chunk| {
                    format!(
                        "=?utf-8?b?{}?=",
                        base64::engine::general_purpose::STANDARD.encode(chunk)
                    )
                })
                .collect();
            format!("{} <{}>", words.join("\r\n "), self.id)
        };
        HeaderValue::dangerous_new_pre_encoded(Self::name(), self.name.clone(), encoded)
    }
}

/// Pieces of at most `max_bytes` bytes, each whole characters, so that each
/// encoded word stays under RFC 2047's 75 characters.
fn utf8_chunks(text: &str, max_bytes: usize) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = rest.len().min(max_bytes);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (chunk, tail) = rest.split_at(end);
        rest = tail;
        Some(chunk)
    })
}

/// The newsletter's name as a lower-case ASCII label: accents dropped
/// (Unicode NFKD, then the combining marks left out: "Café Ñews" is
/// `cafe-news`), spaces and punctuation as single hyphens. A name with no
/// ASCII letter or digit at all goes through IDNA (`xn--…`), and
/// `newsletter` is the last resort.
fn list_label(newsletter_name: &str) -> String {
    let mut label = String::new();
    let mut non_ascii_dropped = false;
    for c in newsletter_name.nfkd() {
        if c.is_ascii_alphanumeric() {
            label.push(c.to_ascii_lowercase());
        } else if c.is_ascii() || c.is_whitespace() {
            if !label.is_empty() && !label.ends_with('-') {
                label.push('-');
            }
        } else if !is_combining_mark(c) {
            non_ascii_dropped = true;
        }
    }
    let label = label.trim_end_matches('-');
    if !label.is_empty() {
        return label
            .chars()
            .take(63)
            .collect::<String>()
            .trim_end_matches('-')
            .to_owned();
    }
    if non_ascii_dropped {
        let words: Vec<String> = newsletter_name
            .split(|c: char| !c.is_alphanumeric())
            .filter(|word| !word.is_empty())
            .map(str::to_lowercase)
            .collect();
        if let Ok(ascii) = idna::domain_to_ascii(&words.join("-")) {
            if !ascii.is_empty() && ascii.len() <= 63 && !ascii.contains('.') {
                return ascii;
            }
        }
    }
    "newsletter".to_owned()
}

/// The accents NFKD splits off a letter (the Combining Diacritical Marks
/// blocks); other non-ASCII characters stand for letters of their own.
fn is_combining_mark(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{20D0}'..='\u{20FF}'
        | '\u{FE20}'..='\u{FE2F}'
        | '\u{3099}'..='\u{309A}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_labels_are_ascii_and_keep_the_letters_under_the_accents() {
        assert_eq!(list_label("Café Ñews"), "cafe-news");
        assert_eq!(list_label("The \"Weekly\" Digest"), "the-weekly-digest");
        assert_eq!(list_label("Ärzte-Blatt · München"), "arzte-blatt-munchen");
        assert_eq!(list_label("ﬁnance Ⅳ"), "finance-iv");
        assert_eq!(list_label("日本語ニュース"), "xn--zck9awe6ds833acvb2w6i");
        assert_eq!(list_label("Новости"), "xn--b1amnebsh");
        assert_eq!(list_label("!!!"), "newsletter");
        assert_eq!(list_label(""), "newsletter");
    }

    fn list_id_line(name: &str) -> String {
        let message = lettre::Message::builder()
            .from("a@example.com".parse().unwrap())
            .to("b@example.com".parse().unwrap())
            .header(ListId::new(name, "example.com"))
            .body(String::new())
            .unwrap();
        let formatted = String::from_utf8(message.formatted()).unwrap();
        let start = formatted.find("List-Id: ").unwrap();
        let end = start + formatted[start..].find("\r\n").unwrap();
        formatted[start..end].to_owned()
    }

    #[test]
    fn each_topic_has_its_own_list_id_and_the_default_keeps_the_sites() {
        let site = ListId::new("The Herald", "example.com");
        assert_eq!(site.id(), "the-herald.example.com");
        assert_eq!(
            ListId::for_topic("The Herald", "example.com", "newsletter", "Newsletter"),
            site
        );
        let weekly = ListId::for_topic("The Herald", "example.com", "weekly", "Weekly");
        assert_eq!(weekly.id(), "weekly.the-herald.example.com");
        assert_eq!(weekly.name, "The Herald: Weekly");
    }

    #[test]
    fn a_non_ascii_list_name_is_encoded_and_the_id_stays_plain() {
        let encoded = list_id_line("Café Ñews");
        assert_eq!(
            encoded,
            "List-Id: =?utf-8?b?Q2Fmw6kgw5Fld3M=?= <cafe-news.example.com>"
        );
        assert_eq!(
            list_id_line("The \"Weekly\" Digest"),
            "List-Id: \"The \\\"Weekly\\\" Digest\" <the-weekly-digest.example.com>"
        );
    }
}
