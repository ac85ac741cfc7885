//! What a topic is made of; each type holds only valid values, so the store
//! and the pages never check them again.

use std::fmt;

pub const MAX_SLUG_LENGTH: usize = 40;
pub const MAX_TOPIC_NAME_LENGTH: usize = 80;
pub const MAX_DESCRIPTION_LENGTH: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlugError {
    #[error("A slug cannot be empty.")]
    Empty,
    #[error("A slug has at most {MAX_SLUG_LENGTH} characters.")]
    TooLong,
    #[error(
        "A slug is lower-case letters a to z, digits and single hyphens between them, like daily-digest."
    )]
    Malformed,
}

/// The name of a topic in URLs, forms and the API: `daily-digest`. Lower-case
/// ASCII letters and digits in words joined by single hyphens, so it needs no
/// escaping anywhere and two slugs that look alike are the same slug.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicSlug(String);

impl TopicSlug {
    /// Trims and lower-cases what was typed; anything else must already fit.
    pub fn parse(raw: &str) -> Result<Self, SlugError> {
        let slug = raw.trim().to_ascii_lowercase();
        if slug.is_empty() {
            return Err(SlugError::Empty);
        }
        if slug.chars().count() > MAX_SLUG_LENGTH {
            return Err(SlugError::TooLong);
        }
        let well_formed = slug.split('-').all(|word| {
            !word.is_empty()
                && word
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
        if !well_formed {
            return Err(SlugError::Malformed);
        }
        Ok(Self(slug))
    }

    /// A slug read back from the database, where only parsed slugs are written.
    pub(crate) fn from_stored(stored: String) -> Self {
        Self(stored)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TopicSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicNameError {
    #[error("A topic needs a name.")]
    Empty,
    #[error("A topic name has at most {MAX_TOPIC_NAME_LENGTH} characters.")]
    TooLong,
    #[error("A topic name cannot contain line breaks or control characters.")]
    ControlCharacter,
}

/// What readers see next to a topic's checkbox: trimmed, one line, 1 to 80 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicName(String);

impl TopicName {
    pub fn parse(raw: &str) -> Result<Self, TopicNameError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(TopicNameError::Empty);
        }
        if name.chars().any(char::is_control) {
            return Err(TopicNameError::ControlCharacter);
        }
        if name.chars().count() > MAX_TOPIC_NAME_LENGTH {
            return Err(TopicNameError::TooLong);
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DescriptionError {
    #[error("A description has at most {MAX_DESCRIPTION_LENGTH} characters.")]
    TooLong,
    #[error("A description cannot contain control characters other than line breaks.")]
    ControlCharacter,
}

/// A few words on what a topic brings, shown under its name; may be empty.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicDescription(String);

impl TopicDescription {
    pub fn parse(raw: &str) -> Result<Self, DescriptionError> {
        let description = raw.trim().replace("\r\n", "\n");
        if description.chars().any(|c| c.is_control() && c != '\n') {
            return Err(DescriptionError::ControlCharacter);
        }
        if description.chars().count() > MAX_DESCRIPTION_LENGTH {
            return Err(DescriptionError::TooLong);
        }
        Ok(Self(description))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether readers may choose a topic. Private topics are for the admins'
/// own use (a press list, a test group): never on the form, refused if named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    Public,
    Private,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Private => "private",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim() {
            "public" => Some(Self::Public),
            "private" => Some(Self::Private),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicInputError {
    #[error("slug: {0}")]
    Slug(#[from] SlugError),
    #[error("name: {0}")]
    Name(#[from] TopicNameError),
    #[error("description: {0}")]
    Description(#[from] DescriptionError),
    #[error("visibility is public or private")]
    Visibility,
    /// Readers would be put in a topic they can neither see nor choose.
    #[error(
        "A private topic cannot be on by default: new readers would join a topic they cannot see."
    )]
    PrivateByDefault,
}

impl TopicInputError {
    /// The form field or JSON member at fault.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Slug(_) => "slug",
            Self::Name(_) => "name",
            Self::Description(_) => "description",
            Self::Visibility => "visibility",
            Self::PrivateByDefault => "on_by_default",
        }
    }

    /// The message alone, without the field's name in front.
    pub fn message(&self) -> String {
        match self {
            Self::Slug(e) => e.to_string(),
            Self::Name(e) => e.to_string(),
            Self::Description(e) => e.to_string(),
            other => other.to_string(),
        }
    }
}

/// A topic as an admin defines it; parsed whole, so a topic that cannot be
/// stored cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDefinition {
    pub slug: TopicSlug,
    pub name: TopicName,
    pub description: TopicDescription,
    pub visibility: Visibility,
    pub on_by_default: bool,
}

impl TopicDefinition {
    /// Every field's problem, in the order of the form.
    pub fn parse(
        slug: &str,
        name: &str,
        description: &str,
        visibility: &str,
        on_by_default: bool,
    ) -> Result<Self, Vec<TopicInputError>> {
        let slug = TopicSlug::parse(slug).map_err(TopicInputError::from);
        let name = TopicName::parse(name).map_err(TopicInputError::from);
        let description = TopicDescription::parse(description).map_err(TopicInputError::from);
        let visibility = Visibility::parse(visibility).ok_or(TopicInputError::Visibility);
        match (slug, name, description, visibility) {
            (Ok(slug), Ok(name), Ok(description), Ok(visibility)) => {
                if visibility == Visibility::Private && on_by_default {
                    return Err(vec![TopicInputError::PrivateByDefault]);
                }
                Ok(Self {
                    slug,
                    name,
                    description,
                    visibility,
                    on_by_default,
                })
            }
            (slug, name, description, visibility) => {
                Err(
                    [slug.err(), name.err(), description.err(), visibility.err()]
                        .into_iter()
                        .flatten()
                        .collect(),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn slugs() {
        assert_eq!(
            TopicSlug::parse(" Daily-Digest ").unwrap().as_str(),
            "daily-digest"
        );
        assert_eq!(TopicSlug::parse("a1").unwrap().as_str(), "a1");
        assert_eq!(TopicSlug::parse(""), Err(SlugError::Empty));
        for bad in ["-a", "a-", "a--b", "a b", "a_b", "ä", "a/b"] {
            assert_eq!(TopicSlug::parse(bad), Err(SlugError::Malformed), "{bad}");
        }
        assert_eq!(TopicSlug::parse(&"a".repeat(41)), Err(SlugError::TooLong));
    }

    #[test]
    fn a_private_topic_is_never_on_by_default() {
        let refused = TopicDefinition::parse("press", "Press", "", "private", true);
        assert_eq!(refused, Err(vec![TopicInputError::PrivateByDefault]));
        assert!(TopicDefinition::parse("press", "Press", "", "private", false).is_ok());
    }

    #[test]
    fn every_bad_field_is_reported() {
        let errors = TopicDefinition::parse("", "", "", "secret", false).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(TopicInputError::field).collect();
        assert_eq!(fields, ["slug", "name", "visibility"]);
    }

    proptest! {
        #[test]
        fn a_parsed_slug_parses_to_itself(raw in "\\PC{0,50}") {
            if let Ok(slug) = TopicSlug::parse(&raw) {
                prop_assert_eq!(TopicSlug::parse(slug.as_str()), Ok(slug.clone()));
                prop_assert!(slug.as_str().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
            }
        }

        #[test]
        fn words_joined_by_hyphens_are_slugs(words in proptest::collection::vec("[a-z0-9]{1,6}", 1..5)) {
            let raw = words.join("-");
            prop_assert_eq!(TopicSlug::parse(&raw).map(|s| s.as_str().to_owned()), Ok(raw));
        }
    }
}
