//! The two kinds of link a subscriber receives.
//!
//! A confirmation token is 256 bits derived with the secret key from a random
//! 128-bit seed; only its SHA-256 is stored with the subscriber, and the seed
//! waits in the outbox until the mail is sent, then is erased. A copy of the
//! database alone therefore never holds a working link.
//!
//! An unsubscribe token is the subscriber's link key (a random value on their
//! row) and an HMAC of it: valid as long as the secret key and the row, and
//! for that row only. Tokens mailed before link keys existed (the id and an
//! HMAC of it) are still read, for the subscribers of that time only.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::config::SecretKey;

const CONFIRMATION_PURPOSE: &str = "herald confirmation token v1";
/// Links made from the subscriber's link key.
const UNSUBSCRIBE_PURPOSE: &str = "herald unsubscribe token v2";
/// The link of the mail that confirms a reader's "erase me".
const ERASURE_PURPOSE: &str = "herald erasure link v1";
/// Links made from the subscriber id, mailed before the link keys.
const LEGACY_UNSUBSCRIBE_PURPOSE: &str = "herald unsubscribe token v1";
const LEGACY_ID_BYTES: usize = 8;
const LINK_KEY_BYTES: usize = 16;
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

/// The random value on a subscriber's row that their links are made from
/// (`subscribers.link_key`, 32 hex digits). Unlike the id it is never given to
/// anyone else, so a link made from it reaches its subscriber or nobody.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkKey(String);

impl LinkKey {
    pub fn generate() -> Self {
        let mut bytes = [0u8; LINK_KEY_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        Self(crate::config::secret_hex(&bytes))
    }

    /// `count` fresh keys in ascending order, for a bulk insert: the unique
    /// index on the key then takes them from left to right, each page once,
    /// instead of each on a random page.
    pub fn generate_sorted(count: usize) -> Vec<Self> {
        let mut keys: Vec<Self> = (0..count).map(|_| Self::generate()).collect();
        keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        keys
    }

    /// The stored value, as read with the subscriber's row.
    pub fn from_stored(stored: String) -> Self {
        Self(stored)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whom an unsubscribe link is for, once its signature checks out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnsubscribeTarget {
    /// A link of today's format: the subscriber whose row holds this key.
    LinkKey(LinkKey),
    /// A link mailed before the link keys (`base64url(id ‖ tag)`): valid only
    /// for a subscriber who existed when they were introduced.
    LegacyId(i64),
}

/// The secret in an unsubscribe link: `base64url(link key ‖ tag)`, the tag an
/// HMAC of the key under the secret key. A copy of the database alone holds no
/// working link, and the link says nothing about the subscriber's id.
#[derive(Clone, PartialEq, Eq)]
pub struct UnsubscribeToken(String);

impl std::fmt::Debug for UnsubscribeToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UnsubscribeToken([redacted])")
    }
}

impl UnsubscribeToken {
    /// The link for the subscriber whose row holds `link_key`. A stored value
    /// not of the key's shape (never written by Herald) is used as text, so
    /// every subscriber still gets a working link.
    pub fn for_link_key(key: &SecretKey, link_key: &LinkKey) -> Self {
        let material =
            decode_hex(link_key.as_str()).unwrap_or_else(|| link_key.as_str().as_bytes().to_vec());
        let tag = key.sign(UNSUBSCRIBE_PURPOSE, &material);
        let mut bytes = material;
        bytes.extend_from_slice(&tag[..UNSUBSCRIBE_TAG_BYTES]);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Whom the token was made for, when the token is genuine.
    pub fn verify(key: &SecretKey, raw: &str) -> Option<UnsubscribeTarget> {
        let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).ok()?;
        let split = bytes.len().checked_sub(UNSUBSCRIBE_TAG_BYTES)?;
        let (material, tag) = bytes.split_at(split);
        if material.len() == LEGACY_ID_BYTES {
            if !key.verify(LEGACY_UNSUBSCRIBE_PURPOSE, material, tag) {
                return None;
            }
            return Some(UnsubscribeTarget::LegacyId(i64::from_be_bytes(
                material.try_into().ok()?,
            )));
        }
        if material.is_empty() || !key.verify(UNSUBSCRIBE_PURPOSE, material, tag) {
            return None;
        }
        let link_key = if material.len() == LINK_KEY_BYTES {
            crate::config::secret_hex(material)
        } else {
            String::from_utf8(material.to_vec()).ok()?
        };
        Some(UnsubscribeTarget::LinkKey(LinkKey(link_key)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The secret in the link that confirms a reader's "erase me":
/// `base64url(link key ‖ expiry ‖ tag)`, the tag an HMAC of both under the
/// secret key. Stateless: nothing is stored, it names no id, it stops
/// working at its expiry and with the row whose key it holds (so once used).
#[derive(Clone, PartialEq, Eq)]
pub struct ErasureToken(String);

impl std::fmt::Debug for ErasureToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ErasureToken([redacted])")
    }
}

impl ErasureToken {
    /// The link for the reader whose row holds `link_key`, good until
    /// `expires_at` (Unix milliseconds).
    pub fn new(key: &SecretKey, link_key: &LinkKey, expires_at: i64) -> Self {
        let mut material =
            decode_hex(link_key.as_str()).unwrap_or_else(|| link_key.as_str().as_bytes().to_vec());
        material.extend_from_slice(&expires_at.to_be_bytes());
        let tag = key.sign(ERASURE_PURPOSE, &material);
        let mut bytes = material;
        bytes.extend_from_slice(&tag[..UNSUBSCRIBE_TAG_BYTES]);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The link key and expiry a genuine token was made for; expired or
    /// not, the caller judges.
    pub fn verify(key: &SecretKey, raw: &str) -> Option<(LinkKey, i64)> {
        let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).ok()?;
        let split = bytes.len().checked_sub(UNSUBSCRIBE_TAG_BYTES)?;
        let (material, tag) = bytes.split_at(split);
        let key_len = material.len().checked_sub(8)?;
        if key_len == 0 || !key.verify(ERASURE_PURPOSE, material, tag) {
            return None;
        }
        let (link_key, expiry) = material.split_at(key_len);
        let expires_at = i64::from_be_bytes(expiry.try_into().ok()?);
        let link_key = if link_key.len() == LINK_KEY_BYTES {
            crate::config::secret_hex(link_key)
        } else {
            String::from_utf8(link_key.to_vec()).ok()?
        };
        Some((LinkKey(link_key), expires_at))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Lower-case hex of exactly [`LINK_KEY_BYTES`] bytes, as Herald and the
/// migration write link keys.
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != LINK_KEY_BYTES * 2
        || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
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
        let link_key = LinkKey::generate();
        assert_ne!(link_key, LinkKey::generate());
        let token = UnsubscribeToken::for_link_key(&key('a'), &link_key);
        assert_eq!(
            UnsubscribeToken::verify(&key('a'), token.as_str()),
            Some(UnsubscribeTarget::LinkKey(link_key.clone()))
        );
        assert_eq!(UnsubscribeToken::verify(&key('b'), token.as_str()), None);
        let mut forged = URL_SAFE_NO_PAD.decode(token.as_str()).expect("base64");
        forged[3] ^= 1;
        assert_eq!(
            UnsubscribeToken::verify(&key('a'), &URL_SAFE_NO_PAD.encode(forged)),
            None
        );
        assert_eq!(UnsubscribeToken::verify(&key('a'), "garbage"), None);
        assert_eq!(UnsubscribeToken::verify(&key('a'), ""), None);
    }

    /// Built the way releases before link keys built it.
    fn legacy_token(key: &SecretKey, id: i64) -> String {
        let id = id.to_be_bytes();
        let mut bytes = id.to_vec();
        bytes.extend_from_slice(&key.sign(LEGACY_UNSUBSCRIBE_PURPOSE, &id)[..16]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    #[test]
    fn old_tokens_still_name_their_id_and_new_ones_do_not() {
        let old = legacy_token(&key('a'), 42);
        assert_eq!(
            UnsubscribeToken::verify(&key('a'), &old),
            Some(UnsubscribeTarget::LegacyId(42))
        );
        assert_eq!(UnsubscribeToken::verify(&key('b'), &old), None);
        // An id signed under the new purpose, or a key under the old one, is no token.
        let mut cross = 42i64.to_be_bytes().to_vec();
        cross.extend_from_slice(&key('a').sign(UNSUBSCRIBE_PURPOSE, &42i64.to_be_bytes())[..16]);
        assert_eq!(
            UnsubscribeToken::verify(&key('a'), &URL_SAFE_NO_PAD.encode(cross)),
            None
        );
    }

    #[test]
    fn erasure_links_carry_their_expiry_and_are_no_unsubscribe_links() {
        let link_key = LinkKey::generate();
        let token = ErasureToken::new(&key('a'), &link_key, 1_700_000_000_000);
        assert_eq!(
            ErasureToken::verify(&key('a'), token.as_str()),
            Some((link_key.clone(), 1_700_000_000_000))
        );
        assert_eq!(ErasureToken::verify(&key('b'), token.as_str()), None);
        let mut later = URL_SAFE_NO_PAD.decode(token.as_str()).expect("base64");
        later[LINK_KEY_BYTES] ^= 1;
        assert_eq!(
            ErasureToken::verify(&key('a'), &URL_SAFE_NO_PAD.encode(later)),
            None,
            "a changed expiry breaks the tag"
        );
        // Neither kind of link passes for the other.
        let unsubscribe = UnsubscribeToken::for_link_key(&key('a'), &link_key);
        assert_eq!(ErasureToken::verify(&key('a'), unsubscribe.as_str()), None);
        assert_eq!(UnsubscribeToken::verify(&key('a'), token.as_str()), None);
    }

    #[test]
    fn a_stored_key_of_another_shape_still_gives_a_working_link() {
        let odd = LinkKey::from_stored("Hand-Written".to_owned());
        let token = UnsubscribeToken::for_link_key(&key('a'), &odd);
        assert_eq!(
            UnsubscribeToken::verify(&key('a'), token.as_str()),
            Some(UnsubscribeTarget::LinkKey(odd))
        );
    }
}
