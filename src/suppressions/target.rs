//! What an admin types into the suppression list, parsed once: an address
//! (normalised as a subscriber's is) or a whole domain (its lower-case ASCII
//! form, as the domain of a stored address reads), and the reason.

use std::fmt;

use crate::subscriptions::domain::{is_default_ignorable, EmailError};
use crate::subscriptions::SubscriberEmail;

/// The longest domain name (RFC 1035 §2.3.4, without the final dot).
const MAX_DOMAIN_LENGTH: usize = 253;
pub const MAX_REASON_LENGTH: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("Enter an email address or a domain to suppress.")]
    Missing,
    #[error("{value:?} is not an email address: {problem}")]
    NotAnAddress { value: String, problem: EmailError },
    #[error("{value:?} is not a domain: {problem}")]
    NotADomain {
        value: String,
        problem: &'static str,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReasonError {
    #[error("Give a reason: say why nothing may be mailed there.")]
    Missing,
    #[error("A reason has at most {MAX_REASON_LENGTH} characters.")]
    TooLong,
    #[error("A reason is one line without control characters.")]
    ControlCharacter,
}

/// A lower-case ASCII domain, `example.org` or `xn--bcher-kva.example`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuppressedDomain(String);

impl SuppressedDomain {
    pub fn parse(raw: &str) -> Result<Self, TargetError> {
        let value = raw.trim();
        let refuse = |problem| TargetError::NotADomain {
            value: shortened(value),
            problem,
        };
        // `@example.org` is how people often write "everyone at".
        let bare = value.strip_prefix('@').unwrap_or(value);
        let bare = bare.strip_suffix('.').unwrap_or(bare);
        if bare.is_empty() {
            return Err(TargetError::Missing);
        }
        if bare
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || is_default_ignorable(c))
        {
            return Err(refuse("it holds spaces, control or invisible characters"));
        }
        let ascii = idna::domain_to_ascii(bare)
            .map_err(|_| refuse("it is not a valid (international) domain name"))?;
        if ascii.len() > MAX_DOMAIN_LENGTH {
            return Err(refuse("a domain has at most 253 characters"));
        }
        let labels: Vec<&str> = ascii.split('.').collect();
        if labels.len() < 2 {
            return Err(refuse("a domain has a dot, like example.org"));
        }
        let label_ok = |label: &&str| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if !labels.iter().all(label_ok) {
            return Err(refuse(
                "each part between dots is 1 to 63 letters, digits or inner hyphens",
            ));
        }
        Ok(Self(ascii))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SuppressedDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One entry's subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Address(SubscriberEmail),
    Domain(SuppressedDomain),
}

impl Target {
    /// An address when `raw` holds an `@` with something before it, a
    /// domain otherwise; each refused with what is wrong with it.
    pub fn parse(raw: &str) -> Result<Self, TargetError> {
        let value = raw.trim();
        if value.is_empty() {
            return Err(TargetError::Missing);
        }
        match value.rfind('@') {
            Some(at) if at > 0 => {
                SubscriberEmail::parse(value)
                    .map(Self::Address)
                    .map_err(|problem| TargetError::NotAnAddress {
                        value: shortened(value),
                        problem,
                    })
            }
            _ => SuppressedDomain::parse(value).map(Self::Domain),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Address(_) => "address",
            Self::Domain(_) => "domain",
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Address(email) => f.write_str(email.as_str()),
            Self::Domain(domain) => f.write_str(domain.as_str()),
        }
    }
}

/// Why an entry is there: one line, at most [`MAX_REASON_LENGTH`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason(String);

impl Reason {
    pub fn parse(raw: &str) -> Result<Self, ReasonError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(ReasonError::Missing);
        }
        if trimmed.chars().any(char::is_control) {
            return Err(ReasonError::ControlCharacter);
        }
        if trimmed.chars().count() > MAX_REASON_LENGTH {
            return Err(ReasonError::TooLong);
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// A diagnostic from a remote server or a count: cleaned and cut to
    /// fit rather than refused, as nobody is there to type it again.
    pub fn from_diagnostic(text: &str) -> Self {
        let clean: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(MAX_REASON_LENGTH)
            .collect();
        let clean = clean.trim();
        Self(if clean.is_empty() {
            "no diagnostic given".to_owned()
        } else {
            clean.to_owned()
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A value quoted back in an error, bounded.
fn shortened(value: &str) -> String {
    let mut shown: String = value.chars().take(80).collect();
    if value.chars().count() > 80 {
        shown.push('…');
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn addresses_and_domains_are_told_apart_and_normalised() {
        assert_eq!(
            Target::parse(" Ann@Example.ORG ").map(|t| t.to_string()),
            Ok("Ann@example.org".to_owned())
        );
        assert_eq!(
            Target::parse("@Example.ORG.").map(|t| t.to_string()),
            Ok("example.org".to_owned())
        );
        assert_eq!(
            Target::parse("Bücher.example").map(|t| t.to_string()),
            Ok("xn--bcher-kva.example".to_owned())
        );
        assert!(matches!(
            Target::parse("ann@"),
            Err(TargetError::NotAnAddress { .. })
        ));
        assert!(matches!(
            Target::parse("localhost"),
            Err(TargetError::NotADomain { .. })
        ));
        assert!(matches!(
            Target::parse("exa mple.org"),
            Err(TargetError::NotADomain { .. })
        ));
        assert!(matches!(
            Target::parse("-bad.example"),
            Err(TargetError::NotADomain { .. })
        ));
        assert_eq!(Target::parse("  "), Err(TargetError::Missing));
    }

    #[test]
    fn reasons_are_one_bounded_line() {
        assert_eq!(Reason::parse(" "), Err(ReasonError::Missing));
        assert_eq!(Reason::parse("a\nb"), Err(ReasonError::ControlCharacter));
        assert_eq!(Reason::parse(&"x".repeat(501)), Err(ReasonError::TooLong));
        assert_eq!(
            Reason::from_diagnostic("550 5.1.1\r\nUser unknown").as_str(),
            "550 5.1.1  User unknown"
        );
    }

    proptest! {
        #[test]
        fn accepted_domains_are_lower_case_ascii_with_a_dot(raw in "\\PC{0,80}") {
            if let Ok(domain) = SuppressedDomain::parse(&raw) {
                let value = domain.as_str();
                prop_assert!(value.is_ascii());
                prop_assert_eq!(value.to_ascii_lowercase(), value);
                prop_assert!(value.contains('.'));
                prop_assert!(!value.contains('@'));
            }
        }
    }
}
