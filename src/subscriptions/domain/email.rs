//! An email address a subscriber gave us, normalised and checked once.
//!
//! One inbox must be one subscriber, so look-alikes of an address are made
//! the same address before anything is stored or compared: the domain goes
//! through UTS-46 (IDNA) to its ASCII form — full-width letters, the
//! ideographic full stop and upper case map onto the plain domain, and an
//! international domain is stored and mailed as punycode — and the local part
//! is put in Unicode NFC. Invisible characters (Default_Ignorable_Code_Point:
//! zero-width spaces and joiners, the soft hyphen, …) are refused rather than
//! silently dropped, so the visitor sees what was wrong.

use std::borrow::Cow;
use std::fmt;

use unicode_normalization::UnicodeNormalization;
use validator::ValidateEmail;

/// The longest address that fits a forward path (RFC 5321 §4.5.3.1.3).
pub const MAX_EMAIL_LENGTH: usize = 254;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("Enter your email address.")]
    Missing,
    #[error("An email address cannot contain line breaks or control characters.")]
    ControlCharacter,
    #[error("An email address cannot contain invisible characters (such as zero-width spaces or soft hyphens); type it again rather than pasting it.")]
    InvisibleCharacter,
    #[error("An email address has at most {MAX_EMAIL_LENGTH} characters.")]
    TooLong,
    #[error("That does not look like an email address; check it reads like name@example.com.")]
    Malformed,
    /// `jane@gmail`: valid to RFC 5321, but no mailbox on the internet has it.
    #[error("The email address needs a full domain after the @, with a dot, like gmail.com or example.org.")]
    NoDotInDomain,
}

/// A syntactically valid address: trimmed, local part in NFC, domain in its
/// lower-case ASCII (punycode) form, at most 254 characters, no control or
/// invisible characters, accepted by both `validator` and lettre (so it can
/// always be put in a mail header).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubscriberEmail(String);

impl SubscriberEmail {
    /// An address entering the list (signup, import, API, a test copy): also
    /// refuses a domain without a dot (`jane@gmail`), which no reader on the
    /// internet has.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let email = Self::parse_any_domain(raw)?;
        let domain = email.0.rsplit_once('@').map_or("", |(_, domain)| domain);
        if !domain.starts_with('[') && !domain.trim_end_matches('.').contains('.') {
            return Err(EmailError::NoDotInDomain);
        }
        Ok(email)
    }

    /// An address valid to RFC 5321 whatever its domain (`ops@intranet`):
    /// for addresses already on the list before the dot was required, which
    /// must still get their mail, and for staff accounts on a local domain.
    pub fn parse_any_domain(raw: &str) -> Result<Self, EmailError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Missing);
        }
        if trimmed.chars().any(char::is_control) {
            return Err(EmailError::ControlCharacter);
        }
        if trimmed.chars().any(is_default_ignorable) {
            return Err(EmailError::InvisibleCharacter);
        }
        if trimmed.chars().count() > MAX_EMAIL_LENGTH {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = trimmed.rsplit_once('@').ok_or(EmailError::Malformed)?;
        let local: String = local.nfc().collect();
        let normalised = format!("{local}@{}", ascii_domain(domain)?);
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

/// A stored address as a person reads it: a punycode domain shown in Unicode.
/// Anything that does not decode cleanly is shown as stored.
pub fn display_address(stored: &str) -> Cow<'_, str> {
    let Some((local, domain)) = stored.rsplit_once('@') else {
        return Cow::Borrowed(stored);
    };
    if !domain.split('.').any(|label| label.starts_with("xn--")) {
        return Cow::Borrowed(stored);
    }
    match idna::domain_to_unicode(domain) {
        (unicode, Ok(())) => Cow::Owned(format!("{local}@{unicode}")),
        (_, Err(_)) => Cow::Borrowed(stored),
    }
}

/// The domain's UTS-46 ASCII form; an address literal (`[192.0.2.1]`) as it is.
fn ascii_domain(domain: &str) -> Result<String, EmailError> {
    if domain.starts_with('[') {
        return Ok(domain.to_lowercase());
    }
    if domain.is_empty() {
        return Err(EmailError::Malformed);
    }
    idna::domain_to_ascii(domain).map_err(|_| EmailError::Malformed)
}

/// Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt,
/// Unicode 15.1): characters that render as nothing.
pub fn is_default_ignorable(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
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
        // Valid to RFC 5321, but no mailbox on the internet: "jane.doe@gmail".
        assert_eq!(
            SubscriberEmail::parse("jane.doe@gmail"),
            Err(EmailError::NoDotInDomain)
        );
        assert_eq!(
            SubscriberEmail::parse("jane@localhost"),
            Err(EmailError::NoDotInDomain)
        );
        assert!(SubscriberEmail::parse("jane@[192.0.2.1]").is_ok());
        // What was stored before the dot was required keeps working.
        assert_eq!(
            SubscriberEmail::parse_any_domain("ops@intranet").map(|e| e.as_str().to_owned()),
            Ok("ops@intranet".to_owned())
        );
        assert_eq!(
            SubscriberEmail::parse_any_domain("a@b.com\r\nBcc: victim@x.com"),
            Err(EmailError::ControlCharacter)
        );
        let long = format!("{}@{}.com", "a".repeat(64), "b".repeat(200));
        assert_eq!(SubscriberEmail::parse(&long), Err(EmailError::TooLong));
    }

    #[test]
    fn look_alikes_are_one_address_and_invisible_characters_are_refused() {
        for look_alike in [
            "v@example.com",
            "v@EXAMPLE.com",
            "v@ｅｘａｍｐｌｅ.ｃｏｍ",
            "v@example。com",
            "v@example｡com",
        ] {
            assert_eq!(
                SubscriberEmail::parse(look_alike).map(|e| e.0),
                Ok("v@example.com".to_owned()),
                "{look_alike}"
            );
        }
        for invisible in [
            "v@exam\u{AD}ple.com",
            "v\u{200B}@example.com",
            "v@exa\u{200D}mple.com",
            "\u{FEFF}v@example.com",
            "v\u{2060}@example.com",
        ] {
            assert_eq!(
                SubscriberEmail::parse(invisible),
                Err(EmailError::InvisibleCharacter),
                "{invisible:?}"
            );
        }
        // NFD and NFC spellings of the same local part are one address.
        assert_eq!(
            SubscriberEmail::parse("zoe\u{0308}@example.com"),
            SubscriberEmail::parse("zoë@example.com")
        );
    }

    #[test]
    fn international_domains_are_stored_as_punycode_and_shown_in_unicode() {
        let email = SubscriberEmail::parse("Leser@Bücher.example").expect("valid");
        assert_eq!(email.as_str(), "Leser@xn--bcher-kva.example");
        assert_eq!(display_address(email.as_str()), "Leser@bücher.example");
        assert_eq!(display_address("plain@example.com"), "plain@example.com");
        assert_eq!(display_address("odd@xn--zz.example"), "odd@xn--zz.example");
    }

    fn valid_address() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9_+-]{1,12}(\\.[a-zA-Z0-9_+-]{1,12}){0,2}@[a-zA-Z0-9]{1,12}(\\.[a-zA-Z0-9]{1,12}){0,2}\\.[a-zA-Z]{2,6}"
    }

    /// The full-width form (U+FF01…U+FF5E) of printable ASCII.
    fn full_width(text: &str) -> String {
        text.chars()
            .map(|c| match c {
                '!'..='~' => char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap_or(c),
                other => other,
            })
            .collect()
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
        fn anything_accepted_is_safe_for_a_header_and_reads_back_as_itself(
            raw in "\\PC{0,300}|.{0,40}@.{0,40}",
        ) {
            if let Ok(email) = SubscriberEmail::parse(&raw) {
                prop_assert!(email.as_str().chars().count() <= MAX_EMAIL_LENGTH);
                prop_assert!(!email.as_str().chars().any(char::is_control));
                prop_assert!(!email.as_str().chars().any(is_default_ignorable));
                prop_assert_eq!(email.as_str().trim(), email.as_str());
                let (local, domain) = email.as_str().rsplit_once('@').expect("has @");
                prop_assert!(domain.is_ascii());
                prop_assert_eq!(domain.to_lowercase(), domain);
                prop_assert_eq!(local.nfc().collect::<String>(), local);
                prop_assert_eq!(SubscriberEmail::parse(email.as_str()), Ok(email.clone()));
                let _ = email.to_address();
            }
        }

        #[test]
        fn full_width_and_ideographic_domains_are_the_plain_domain(address in valid_address()) {
            let (local, domain) = address.rsplit_once('@').expect("has @");
            let plain = SubscriberEmail::parse(&address).expect("valid");
            let wide = format!("{local}@{}", full_width(domain).replace('．', "。"));
            prop_assert_eq!(SubscriberEmail::parse(&wide), Ok(plain));
        }

        #[test]
        fn invisible_characters_are_refused_wherever_they_are(
            address in valid_address(),
            at in 0usize..40,
            invisible in prop::sample::select(vec![
                '\u{AD}', '\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{FEFF}', '\u{180E}', '\u{E0041}',
            ]),
        ) {
            let mut chars: Vec<char> = address.chars().collect();
            let at = at.min(chars.len());
            chars.insert(at, invisible);
            let raw: String = chars.into_iter().collect();
            prop_assert_eq!(SubscriberEmail::parse(&raw), Err(EmailError::InvisibleCharacter));
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
