//! An email address a subscriber gave us, normalised and checked once.

use std::fmt;

use validator::ValidateEmail;

/// The longest address that fits a forward path (RFC 5321 §4.5.3.1.3).
pub const MAX_EMAIL_LENGTH: usize = 254;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("Enter your email address.")]
    Missing,
    #[error("An email address cannot contain line breaks or control characters.")]
    ControlCharacter,
    #[error("An email address has at most {MAX_EMAIL_LENGTH} characters.")]
    TooLong,
    #[error("That does not look like an email address; check it reads like name@example.com.")]
    Malformed,
}

/// A syntactically valid address: trimmed, domain lower-cased, at most 254
/// characters, no control characters, accepted by both `validator` and lettre
/// (so it can always be put in a mail header).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubscriberEmail(String);

impl SubscriberEmail {
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Missing);
        }
        if trimmed.chars().any(char::is_control) {
            return Err(EmailError::ControlCharacter);
        }
        if trimmed.chars().count() > MAX_EMAIL_LENGTH {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = trimmed.rsplit_once('@').ok_or(EmailError::Malformed)?;
        let normalised = format!("{local}@{}", domain.to_lowercase());
        if normalised.chars().count() > MAX_EMAIL_LENGTH {
            return Err(EmailError::TooLong);
        }
        if !normalised.validate_email() || normalised.parse::<lettre::Address>().is_err() {
            return Err(EmailError::Malformed);
        }
        Ok(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn to_address(&self) -> lettre::Address {
        self.0
            .parse()
            .expect("SubscriberEmail::parse only accepts what lettre parses")
    }
}

impl AsRef<str> for SubscriberEmail {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SubscriberEmail {
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
        assert_eq!(
            SubscriberEmail::parse("  Ursula@Example.COM \n").map(|e| e.0),
            Ok("Ursula@example.com".to_owned())
        );
        assert_eq!(SubscriberEmail::parse(""), Err(EmailError::Missing));
        assert_eq!(SubscriberEmail::parse("   "), Err(EmailError::Missing));
        assert_eq!(
            SubscriberEmail::parse("ursuladomain.com"),
            Err(EmailError::Malformed)
        );
        assert_eq!(
            SubscriberEmail::parse("@domain.com"),
            Err(EmailError::Malformed)
        );
        assert_eq!(
            SubscriberEmail::parse("a@b.com\r\nBcc: victim@x.com"),
            Err(EmailError::ControlCharacter)
        );
        let long = format!("{}@{}.com", "a".repeat(64), "b".repeat(200));
        assert_eq!(SubscriberEmail::parse(&long), Err(EmailError::TooLong));
    }

    fn valid_address() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9_+-]{1,12}(\\.[a-zA-Z0-9_+-]{1,12}){0,2}@[a-zA-Z0-9]{1,12}(\\.[a-zA-Z0-9]{1,12}){0,2}\\.[a-zA-Z]{2,6}"
    }

    proptest! {
        #[test]
        fn valid_addresses_are_accepted_and_normalised(
            address in valid_address(),
            before in "[ \t]{0,3}",
            after in "[ \t\n]{0,3}",
        ) {
            let parsed = SubscriberEmail::parse(&format!("{before}{address}{after}"))
                .expect("a valid address parses");
            let (local, domain) = address.rsplit_once('@').expect("has @");
            prop_assert_eq!(parsed.as_str(), format!("{local}@{}", domain.to_lowercase()));
            // Parsing is idempotent: a stored address reads back as itself.
            prop_assert_eq!(SubscriberEmail::parse(parsed.as_str()), Ok(parsed.clone()));
        }

        #[test]
        fn anything_accepted_is_safe_for_a_header(raw in "\\PC{0,300}|.{0,40}@.{0,40}") {
            if let Ok(email) = SubscriberEmail::parse(&raw) {
                prop_assert!(email.as_str().chars().count() <= MAX_EMAIL_LENGTH);
                prop_assert!(!email.as_str().chars().any(char::is_control));
                prop_assert_eq!(email.as_str().trim(), email.as_str());
                let domain = email.as_str().rsplit_once('@').expect("has @").1;
                prop_assert_eq!(domain.to_lowercase(), domain);
                let _ = email.to_address();
            }
        }

        #[test]
        fn control_characters_are_rejected(
            address in valid_address(),
            at in 1usize..10,
            control in prop::sample::select(vec!['\r', '\n', '\0', '\u{7}', '\u{1b}', '\u{85}']),
        ) {
            let mut chars: Vec<char> = address.chars().collect();
            let at = at.min(chars.len() - 1);
            chars.insert(at, control);
            let raw: String = chars.into_iter().collect();
            prop_assert_eq!(SubscriberEmail::parse(&raw), Err(EmailError::ControlCharacter));
        }

        #[test]
        fn addresses_over_254_characters_are_rejected(local in "[a-z]{60,64}", labels in 4usize..8) {
            let domain = vec!["d".repeat(50); labels].join(".");
            let raw = format!("{local}@{domain}.com");
            prop_assume!(raw.chars().count() > MAX_EMAIL_LENGTH);
            prop_assert_eq!(SubscriberEmail::parse(&raw), Err(EmailError::TooLong));
        }
    }
}
