//! `HERALD_LANGUAGE`: the language pages and mails are written in, as the
//! `lang` attribute and the `Content-Language` header give it to screen
//! readers, translators and spam filters.

use std::fmt;

/// A BCP 47-like language tag (`en`, `fr`, `pt-BR`, `zh-Hant-TW`): a first
/// subtag of 2 to 8 letters, then subtags of 1 to 8 letters or digits, joined
/// by hyphens. Nothing else can reach an HTML attribute or a mail header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Language(String);

impl Language {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut subtags = raw.split('-');
        let primary = subtags.next().unwrap_or_default();
        let primary_ok =
            (2..=8).contains(&primary.len()) && primary.chars().all(|c| c.is_ascii_alphabetic());
        let rest_ok = subtags.all(|tag| {
            (1..=8).contains(&tag.len()) && tag.chars().all(|c| c.is_ascii_alphanumeric())
        });
        if primary_ok && rest_ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(format!(
                "cannot use {raw:?}: give a language tag like `en`, `fr` or `pt-BR` \
                 (letters, digits and hyphens)"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Language {
    fn default() -> Self {
        Self("en".to_owned())
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_tags_are_letters_digits_and_hyphens() {
        for good in ["en", "fr", "pt-BR", "zh-Hant-TW", "es-419", "de-CH-1996"] {
            assert_eq!(Language::parse(good).expect(good).as_str(), good);
        }
        for bad in [
            "",
            "e",
            "en_US",
            "en-",
            "-en",
            "en US",
            "fr\"",
            "ab<cd>",
            "123",
            "en--us",
            "français",
            "toolongprimary",
        ] {
            let err = Language::parse(bad).expect_err(bad);
            assert!(err.contains("language tag"), "{err}");
        }
    }
}
