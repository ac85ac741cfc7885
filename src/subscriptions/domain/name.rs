//! The name a subscriber may give with their address.

use std::fmt;

pub const MAX_NAME_LENGTH: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("A name has at most {MAX_NAME_LENGTH} characters.")]
    TooLong,
    #[error("A name cannot contain line breaks or control characters.")]
    ControlCharacter,
}

/// A non-empty, trimmed name of at most 100 characters without control characters.
/// The name is optional: blank input parses to `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberName(String);

impl SubscriberName {
    pub fn parse(raw: &str) -> Result<Option<Self>, NameError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Ok(None);
        }
        if trimmed.chars().any(char::is_control) {
            return Err(NameError::ControlCharacter);
        }
        if trimmed.chars().count() > MAX_NAME_LENGTH {
            return Err(NameError::TooLong);
        }
        Ok(Some(Self(trimmed.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for SubscriberName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SubscriberName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        assert_eq!(SubscriberName::parse("  "), Ok(None));
        assert_eq!(
            SubscriberName::parse(" Ursula Le Guin ").map(|n| n.map(|n| n.0)),
            Ok(Some("Ursula Le Guin".to_owned()))
        );
        assert_eq!(
            SubscriberName::parse("Eve\r\nBcc: x@y.z"),
            Err(NameError::ControlCharacter)
        );
        assert_eq!(
            SubscriberName::parse(&"ё".repeat(100)).map(|n| n.is_some()),
            Ok(true)
        );
        assert_eq!(
            SubscriberName::parse(&"ё".repeat(101)),
            Err(NameError::TooLong)
        );
    }

    proptest! {
        #[test]
        fn printable_names_up_to_100_characters_are_kept(name in "[^\\p{C}\\s][^\\p{C}]{0,98}[^\\p{C}\\s]") {
            let parsed = SubscriberName::parse(&name).expect("valid").expect("not blank");
            prop_assert_eq!(parsed.as_str(), name.as_str());
        }

        #[test]
        fn anything_accepted_holds_the_invariants(raw in "\\PC{0,120}|.{0,120}") {
            if let Ok(Some(name)) = SubscriberName::parse(&raw) {
                prop_assert!(name.as_str().chars().count() <= MAX_NAME_LENGTH);
                prop_assert!(!name.as_str().chars().any(char::is_control));
                prop_assert!(!name.as_str().is_empty());
                prop_assert_eq!(name.as_str().trim(), name.as_str());
            }
        }

        #[test]
        fn names_over_100_characters_are_rejected(name in "[a-zA-Zé ]{101,300}") {
            prop_assume!(name.trim().chars().count() > MAX_NAME_LENGTH);
            prop_assert_eq!(SubscriberName::parse(&name), Err(NameError::TooLong));
        }
    }
}
