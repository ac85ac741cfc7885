//! Message-IDs that name the mail they head, so that a report quoting the
//! original (In-Reply-To, References, the headers of a returned copy, a
//! provider's event) finds its reader even without a VERP return path.
//!
//! The left part carries the VERP token of the message (src/bounces/verp.rs):
//! keyed, unforgeable, showing no subscriber id. A reader's copy of an issue
//! is `<issue-N.TOKEN@domain>`, the same on every attempt, so a copy sent
//! twice after a crash is recognisably one message. Confirmation and welcome
//! mails add a random part, `<TOKEN.RANDOM@domain>`, since a reader may get
//! several and each must be unique (RFC 5322 3.6.4).

use super::verp::{target_of_token, token_for, ReturnTarget, TOKEN_LEN};
use crate::config::{secret_hex, SecretKey};

/// The Message-ID (with its angle brackets) of the mail `target` stands
/// for; `None` for an unsubscribe address, which heads no mail, or ids too
/// large for a token.
pub fn message_id_for(key: &SecretKey, target: ReturnTarget, domain: &str) -> Option<String> {
    let token = token_for(key, target)?;
    match target {
        ReturnTarget::IssueCopy { issue_id, .. } => {
            Some(format!("<issue-{issue_id}.{token}@{domain}>"))
        }
        ReturnTarget::Confirmation { .. } | ReturnTarget::Welcome { .. } => Some(format!(
            "<{token}.{}@{domain}>",
            secret_hex(&rand::random::<[u8; 8]>())
        )),
        ReturnTarget::Unsubscribe { .. } => None,
    }
}

/// The mail a Message-ID (with or without its angle brackets) names, when
/// Herald made it under `key`; anything else, an editor's test copy
/// included, names nothing.
pub fn target_of_message_id(key: &SecretKey, message_id: &str) -> Option<ReturnTarget> {
    let id = message_id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>');
    let (local, _domain) = id.rsplit_once('@')?;
    local
        .split('.')
        .filter(|part| part.len() == TOKEN_LEN)
        .find_map(|part| target_of_token(key, part))
        .filter(|target| !matches!(target, ReturnTarget::Unsubscribe { .. }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn key(secret: &str) -> SecretKey {
        SecretKey::from_secret(&SecretString::from(secret.to_owned()))
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_copy_keeps_its_message_id_and_names_itself() {
        let key = key(SECRET);
        let copy = ReturnTarget::IssueCopy {
            issue_id: 7,
            subscriber_id: 99,
        };
        let id = message_id_for(&key, copy, "news.example.org").expect("an id");
        assert_eq!(
            Some(&id),
            message_id_for(&key, copy, "news.example.org").as_ref()
        );
        assert!(
            id.starts_with("<issue-7.") && id.ends_with("@news.example.org>"),
            "{id}"
        );
        assert_eq!(target_of_message_id(&key, &id), Some(copy));
        assert_eq!(
            target_of_message_id(&key, id.trim_matches(['<', '>'])),
            Some(copy)
        );
    }

    #[test]
    fn signup_mails_are_unique_and_name_their_reader() {
        let key = key(SECRET);
        for target in [
            ReturnTarget::Confirmation { subscriber_id: 5 },
            ReturnTarget::Welcome { subscriber_id: 5 },
        ] {
            let first = message_id_for(&key, target, "news.example.org").expect("an id");
            let second = message_id_for(&key, target, "news.example.org").expect("an id");
            assert_ne!(first, second);
            assert_eq!(target_of_message_id(&key, &first), Some(target));
            assert_eq!(target_of_message_id(&key, &second), Some(target));
        }
    }

    #[test]
    fn forged_foreign_and_unsubscribe_ids_name_nothing() {
        let key_a = key(SECRET);
        let key_b = key("fedcba9876543210fedcba9876543210");
        let copy = ReturnTarget::IssueCopy {
            issue_id: 7,
            subscriber_id: 99,
        };
        let id = message_id_for(&key_a, copy, "news.example.org").expect("an id");
        assert_eq!(target_of_message_id(&key_b, &id), None);
        let mut forged = id.clone().into_bytes();
        forged[12] = if forged[12] == b'a' { b'b' } else { b'a' };
        let forged = String::from_utf8(forged).expect("ascii");
        assert_eq!(target_of_message_id(&key_a, &forged), None);
        assert_eq!(
            message_id_for(
                &key_a,
                ReturnTarget::Unsubscribe { subscriber_id: 1 },
                "x.org"
            ),
            None
        );
        for garbage in [
            "",
            "<>",
            "@",
            "<issue-7.0123456789abcdef01234567@news.example.org>",
            "no-at-sign",
        ] {
            assert_eq!(target_of_message_id(&key_a, garbage), None, "{garbage}");
        }
    }
}
