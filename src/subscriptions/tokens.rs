//! The two kinds of link a subscriber receives.
//!
//! A confirmation token is 256 bits derived with the secret key from a random
//! 128-bit seed; only its SHA-256 is stored with the subscriber, and the seed
//! waits in the outbox until the mail is sent, then is erased. A copy of the
//! database alone therefore never holds a working link.
//!
//! An unsubscribe token is the subscriber id and an HMAC of it: nothing to
//! store, nothing to leak, valid as long as the secret key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::config::SecretKey;

const CONFIRMATION_PURPOSE: &str = "herald confirmation token v1";
const UNSUBSCRIBE_PURPOSE: &str = "herald unsubscribe token v1";
const CONFIRMATION_TOKEN_LENGTH: usize = 43;
const UNSUBSCRIBE_TAG_BYTES: usize = 16;

/// Random material from which a confirmation token is derived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSeed(String);

impl TokenSeed {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        Self(crate::config::secret_hex(&bytes))
    }

    pub fn from_stored(stored: String) -> Self {
        Self(stored)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The secret in a confirmation link.
#[derive(Clone, PartialEq, Eq)]
pub struct ConfirmationToken(String);

impl std::fmt::Debug for ConfirmationToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConfirmationToken([redacted])")
    }
}

impl ConfirmationToken {
    pub fn derive(key: &SecretKey, seed: &TokenSeed) -> Self {
        Self(URL_SAFE_NO_PAD.encode(key.sign(CONFIRMATION_PURPOSE, seed.0.as_bytes())))
    }

    /// Accepts only strings of the token's shape, so junk never reaches the database.
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        let well_formed = raw.len() == CONFIRMATION_TOKEN_LENGTH
            && URL_SAFE_NO_PAD.decode(raw).is_ok_and(|b| b.len() == 32);
        well_formed.then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the database stores and looks up.
    pub fn hash(&self) -> String {
        crate::config::secret_hex(&Sha256::digest(self.0.as_bytes()))
    }
}

/// The secret in an unsubscribe link: `base64url(id ‖ tag)`.
#[derive(Clone, PartialEq, Eq)]
pub struct UnsubscribeToken(String);

impl std::fmt::Debug for UnsubscribeToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UnsubscribeToken([redacted])")
    }
}

impl UnsubscribeToken {
    pub fn for_subscriber(key: &SecretKey, subscriber_id: i64) -> Self {
        let id = subscriber_id.to_be_bytes();
        let tag = key.sign(UNSUBSCRIBE_PURPOSE, &id);
        let mut bytes = id.to_vec();
        bytes.extend_from_slice(&tag[..UNSUBSCRIBE_TAG_BYTES]);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The subscriber id the token was made for, when the token is genuine.
    pub fn verify(key: &SecretKey, raw: &str) -> Option<i64> {
        let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).ok()?;
        if bytes.len() != 8 + UNSUBSCRIBE_TAG_BYTES {
            return None;
        }
        let (id, tag) = bytes.split_at(8);
        if !key.verify(UNSUBSCRIBE_PURPOSE, id, tag) {
            return None;
        }
        Some(i64::from_be_bytes(id.try_into().ok()?))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn key(byte: char) -> SecretKey {
        SecretKey::from_secret(&SecretString::from(byte.to_string().repeat(32)))
    }

    #[test]
    fn confirmation_tokens_are_long_random_and_parse_back() {
        let seed = TokenSeed::generate();
        assert_ne!(seed, TokenSeed::generate());
        let token = ConfirmationToken::derive(&key('a'), &seed);
        assert_eq!(
            ConfirmationToken::parse(token.as_str()),
            Some(token.clone())
        );
        assert_ne!(token, ConfirmationToken::derive(&key('b'), &seed));
        assert_eq!(token.hash().len(), 64);
        assert_eq!(ConfirmationToken::parse("short"), None);
        assert_eq!(ConfirmationToken::parse(&"!".repeat(43)), None);
    }

    #[test]
    fn unsubscribe_tokens_verify_only_under_their_key() {
        let token = UnsubscribeToken::for_subscriber(&key('a'), 42);
        assert_eq!(
            UnsubscribeToken::verify(&key('a'), token.as_str()),
            Some(42)
        );
        assert_eq!(UnsubscribeToken::verify(&key('b'), token.as_str()), None);
        let mut forged = URL_SAFE_NO_PAD.decode(token.as_str()).expect("base64");
        forged[7] = 43;
        assert_eq!(
            UnsubscribeToken::verify(&key('a'), &URL_SAFE_NO_PAD.encode(forged)),
            None
        );
        assert_eq!(UnsubscribeToken::verify(&key('a'), "garbage"), None);
    }
}
