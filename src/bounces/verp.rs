//! VERP: when `HERALD_BOUNCE_ADDRESS` is `bounces@news.example.org`, each
//! message leaves with the envelope sender `bounces+TOKEN@news.example.org`,
//! so whatever comes back to it names the copy it is about.
//!
//! TOKEN is 31 characters of lowercase base32 (RFC 4648, no padding) over 19
//! bytes: an 8-byte tag, HMAC(secret, kind ‖ issue ‖ subscriber), then those
//! 11 bytes XOR-masked with HMAC(secret, tag). The mask hides the ids; the tag
//! makes a token that Herald did not make fail (one try in 2^64), so nobody
//! can forge or enumerate one. Being deterministic, the same copy carries the
//! same token on every attempt. Base32 survives an MTA that lower-cases or
//! upper-cases the local part.

use data_encoding::BASE32_NOPAD;
use lettre::Address;
use subtle::ConstantTimeEq;

use crate::config::SecretKey;

const TAG_PURPOSE: &str = "verp-tag";
const MASK_PURPOSE: &str = "verp-mask";
const TAG_LEN: usize = 8;
/// Kind (1 byte), issue id and subscriber id (5 bytes each).
const PAYLOAD_LEN: usize = 11;
/// 2^40 - 1: ids past a trillion get no token, and the From address as
/// their envelope sender, rather than a longer token for everyone.
const MAX_ID: i64 = (1 << 40) - 1;
/// Base32 of `TAG_LEN + PAYLOAD_LEN` bytes.
pub const TOKEN_LEN: usize = 31;

/// The message a token stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnTarget {
    /// A reader's copy of an issue.
    IssueCopy { issue_id: i64, subscriber_id: i64 },
    /// The double opt-in mail.
    Confirmation { subscriber_id: i64 },
    /// The mail after confirming.
    Welcome { subscriber_id: i64 },
    /// The `mailto:` of a reader's `List-Unsubscribe` (RFC 2369): whatever
    /// arrives at it takes the reader off the list.
    Unsubscribe { subscriber_id: i64 },
}

impl ReturnTarget {
    pub fn subscriber_id(&self) -> i64 {
        match *self {
            Self::IssueCopy { subscriber_id, .. }
            | Self::Confirmation { subscriber_id }
            | Self::Welcome { subscriber_id }
            | Self::Unsubscribe { subscriber_id } => subscriber_id,
        }
    }

    fn pack(&self) -> Option<[u8; PAYLOAD_LEN]> {
        let (kind, issue_id, subscriber_id) = match *self {
            Self::IssueCopy {
                issue_id,
                subscriber_id,
            } => (1u8, issue_id, subscriber_id),
            Self::Confirmation { subscriber_id } => (2, 0, subscriber_id),
            Self::Welcome { subscriber_id } => (3, 0, subscriber_id),
            Self::Unsubscribe { subscriber_id } => (4, 0, subscriber_id),
        };
        if !(0..=MAX_ID).contains(&issue_id) || !(0..=MAX_ID).contains(&subscriber_id) {
            return None;
        }
        let mut payload = [0u8; PAYLOAD_LEN];
        payload[0] = kind;
        payload[1..6].copy_from_slice(&issue_id.to_be_bytes()[3..]);
        payload[6..].copy_from_slice(&subscriber_id.to_be_bytes()[3..]);
        Some(payload)
    }

    fn unpack(payload: &[u8; PAYLOAD_LEN]) -> Option<Self> {
        let id = |bytes: &[u8]| {
            let mut wide = [0u8; 8];
            wide[3..].copy_from_slice(bytes);
            i64::from_be_bytes(wide)
        };
        let (issue_id, subscriber_id) = (id(&payload[1..6]), id(&payload[6..]));
        match payload[0] {
            1 => Some(Self::IssueCopy {
                issue_id,
                subscriber_id,
            }),
            2 if issue_id == 0 => Some(Self::Confirmation { subscriber_id }),
            3 if issue_id == 0 => Some(Self::Welcome { subscriber_id }),
            4 if issue_id == 0 => Some(Self::Unsubscribe { subscriber_id }),
            _ => None,
        }
    }
}

/// The bounce mailbox, and the envelope senders made from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnPath {
    mailbox: Address,
}

impl ReturnPath {
    pub fn new(mailbox: Address) -> Self {
        Self { mailbox }
    }

    /// `local+TOKEN@domain` for `target`; `None` for ids too large for a token.
    pub fn sender_for(&self, key: &SecretKey, target: ReturnTarget) -> Option<Address> {
        let token = token_for(key, target)?;
        Address::new(
            format!("{}+{token}", self.mailbox.user()),
            self.mailbox.domain(),
        )
        .ok()
    }

    /// The message `recipient` names, when it is this mailbox with a token
    /// Herald made; anything else (another address, a forged or mangled
    /// token) is `None`. Case does not matter, as MTAs may change it.
    pub fn target_of(&self, key: &SecretKey, recipient: &str) -> Option<ReturnTarget> {
        target_of_token(key, self.token_in(recipient)?)
    }

    /// Whether `recipient` is this mailbox with something after the `+`: a
    /// return address, genuine or not.
    pub fn carries_token(&self, recipient: &str) -> bool {
        self.token_in(recipient).is_some()
    }

    fn token_in<'a>(&self, recipient: &'a str) -> Option<&'a str> {
        let recipient = recipient
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>');
        let (local, domain) = recipient.rsplit_once('@')?;
        if !domain.eq_ignore_ascii_case(self.mailbox.domain()) {
            return None;
        }
        let user = self.mailbox.user();
        let prefix = local.get(..user.len())?;
        if !prefix.eq_ignore_ascii_case(user) {
            return None;
        }
        local[user.len()..].strip_prefix('+')
    }
}

/// The token for `target`: the same for the same target under one key.
pub(super) fn token_for(key: &SecretKey, target: ReturnTarget) -> Option<String> {
    let payload = target.pack()?;
    let tag = key.sign(TAG_PURPOSE, &payload);
    let tag = &tag[..TAG_LEN];
    let mask = key.sign(MASK_PURPOSE, tag);
    let mut bytes = Vec::with_capacity(TAG_LEN + PAYLOAD_LEN);
    bytes.extend_from_slice(tag);
    bytes.extend(payload.iter().zip(mask).map(|(byte, mask)| byte ^ mask));
    Some(BASE32_NOPAD.encode(&bytes).to_ascii_lowercase())
}

/// The target `token` names, when Herald made it under `key`.
pub(super) fn target_of_token(key: &SecretKey, token: &str) -> Option<ReturnTarget> {
    if token.len() != TOKEN_LEN {
        return None;
    }
    let bytes = BASE32_NOPAD
        .decode(token.to_ascii_uppercase().as_bytes())
        .ok()?;
    let (tag, masked) = bytes.split_at_checked(TAG_LEN)?;
    let mask = key.sign(MASK_PURPOSE, tag);
    let mut payload = [0u8; PAYLOAD_LEN];
    if masked.len() != PAYLOAD_LEN {
        return None;
    }
    for ((out, byte), mask) in payload.iter_mut().zip(masked).zip(mask) {
        *out = byte ^ mask;
    }
    let expected = key.sign(TAG_PURPOSE, &payload);
    if !bool::from(expected[..TAG_LEN].ct_eq(tag)) {
        return None;
    }
    ReturnTarget::unpack(&payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn key(secret: &str) -> SecretKey {
        SecretKey::from_secret(&SecretString::from(secret.to_owned()))
    }

    fn path() -> ReturnPath {
        ReturnPath::new("bounces@news.example.org".parse().expect("address"))
    }

    const COPY: ReturnTarget = ReturnTarget::IssueCopy {
        issue_id: 42,
        subscriber_id: 1_234_567,
    };

    #[test]
    fn a_sender_names_its_target_again_and_shows_no_id() {
        let key = key("0123456789abcdef0123456789abcdef");
        for target in [
            COPY,
            ReturnTarget::Confirmation { subscriber_id: 7 },
            ReturnTarget::Welcome {
                subscriber_id: MAX_ID,
            },
            ReturnTarget::IssueCopy {
                issue_id: MAX_ID,
                subscriber_id: 0,
            },
        ] {
            let sender = path().sender_for(&key, target).expect("a sender");
            let sender = sender.to_string();
            let (local, domain) = sender.split_once('@').expect("an @");
            assert_eq!(domain, "news.example.org");
            let token = local.strip_prefix("bounces+").expect("the mailbox's user");
            assert_eq!(token.len(), TOKEN_LEN);
            assert!(token
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
            assert!(
                !token.contains("1234567") && !token.contains("42"),
                "{token}"
            );
            assert_eq!(path().target_of(&key, &sender), Some(target));
        }
    }

    #[test]
    fn the_same_copy_gets_the_same_sender_and_another_copy_another() {
        let key = key("0123456789abcdef0123456789abcdef");
        let first = path().sender_for(&key, COPY);
        assert_eq!(first, path().sender_for(&key, COPY));
        let neighbour = ReturnTarget::IssueCopy {
            issue_id: 42,
            subscriber_id: 1_234_568,
        };
        assert_ne!(first, path().sender_for(&key, neighbour));
    }

    #[test]
    fn case_changes_by_an_mta_do_not_matter() {
        let key = key("0123456789abcdef0123456789abcdef");
        let sender = path().sender_for(&key, COPY).expect("a sender").to_string();
        assert_eq!(
            path().target_of(&key, &sender.to_ascii_uppercase()),
            Some(COPY)
        );
        assert_eq!(path().target_of(&key, &format!("<{sender}>")), Some(COPY));
    }

    #[test]
    fn a_token_from_another_key_or_with_any_changed_character_is_refused() {
        let key_a = key("0123456789abcdef0123456789abcdef");
        let key_b = key("fedcba9876543210fedcba9876543210");
        let sender = path()
            .sender_for(&key_a, COPY)
            .expect("a sender")
            .to_string();
        assert_eq!(path().target_of(&key_b, &sender), None);
        let (local, domain) = sender.split_once('@').expect("an @");
        for position in "bounces+".len()..local.len() {
            let mut changed = local.as_bytes().to_vec();
            changed[position] = if changed[position] == b'a' {
                b'b'
            } else {
                b'a'
            };
            let changed = format!("{}@{domain}", String::from_utf8(changed).expect("ascii"));
            assert_eq!(path().target_of(&key_a, &changed), None, "{changed}");
        }
    }

    #[test]
    fn other_addresses_and_garbage_name_nothing() {
        let key = key("0123456789abcdef0123456789abcdef");
        let sender = path().sender_for(&key, COPY).expect("a sender").to_string();
        let token = sender
            .strip_prefix("bounces+")
            .and_then(|rest| rest.split_once('@'))
            .map(|(token, _)| token.to_owned())
            .expect("a token");
        for recipient in [
            "bounces@news.example.org".to_owned(),
            format!("bounces+{token}@elsewhere.example"),
            format!("other+{token}@news.example.org"),
            format!("bounces+{token}x@news.example.org"),
            format!("bounces+{}@news.example.org", &token[1..]),
            "".to_owned(),
            "@".to_owned(),
            "bounces+!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!@news.example.org".to_owned(),
            "bö+x@news.example.org".to_owned(),
        ] {
            assert_eq!(path().target_of(&key, &recipient), None, "{recipient}");
        }
    }

    #[test]
    fn ids_too_large_for_a_token_get_none() {
        let key = key("0123456789abcdef0123456789abcdef");
        let huge = ReturnTarget::Welcome {
            subscriber_id: MAX_ID + 1,
        };
        assert_eq!(path().sender_for(&key, huge), None);
        let negative = ReturnTarget::IssueCopy {
            issue_id: -1,
            subscriber_id: 1,
        };
        assert_eq!(path().sender_for(&key, negative), None);
    }
}
