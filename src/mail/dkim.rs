//! DKIM signatures (RFC 6376) with the operator's keys, so receivers can tell
//! that mail claiming the newsletter's domain really comes from it. Every key
//! signs the same bytes: an RSA and an ed25519 signature side by side reach
//! both the receivers that only check RSA and those that prefer ed25519.

mod key;

use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter as _;
use mail_auth::dkim::{Canonicalization, Done};

pub use key::{DkimKey, DkimKeyError};

use crate::config::DkimSettings;

/// The headers the signature covers. Each is named as often as it may
/// appear, and those in [`OVER_SIGNED`] once more: a header named more often
/// than it is present is signed as absent, so nobody can add another on the
/// way (a second Subject or List-Unsubscribe a client might show instead).
const SIGNED_HEADERS: &[&str] = &[
    "From",
    "Reply-To",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    // Signed so multipart/alternative cannot become multipart/mixed on the way.
    "Content-Type",
    "Content-Transfer-Encoding",
    "List-Id",
    "List-Unsubscribe",
    // RFC 8058: one-click unsubscribe counts only when this is signed.
    "List-Unsubscribe-Post",
    "List-Archive",
    "Precedence",
    "Feedback-ID",
    "Auto-Submitted",
];

/// Headers a message has at most once, whose second copy a reader's client
/// could show or act on.
const OVER_SIGNED: &[&str] = &[
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
];

#[derive(Debug, thiserror::Error)]
pub enum DkimSignError {
    #[error("cannot sign with DKIM selector {selector}: {problem}")]
    Key { selector: String, problem: String },
    #[error("DKIM signing was cut short: Herald is shutting down")]
    Interrupted,
}

/// Signs messages for one domain with one or more keys.
pub struct DkimSigner {
    domain: String,
    keys: Vec<SelectorSigner>,
}

struct SelectorSigner {
    selector: String,
    signer: KeySigner,
}

enum KeySigner {
    Rsa(mail_auth::dkim::DkimSigner<RsaKey<Sha256>, Done>),
    Ed25519(mail_auth::dkim::DkimSigner<Ed25519Key, Done>),
}

// By hand: the keys stay out of logs.
impl std::fmt::Debug for DkimSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let selectors: Vec<&str> = self.keys.iter().map(|k| k.selector.as_str()).collect();
        f.debug_struct("DkimSigner")
            .field("domain", &self.domain)
            .field("selectors", &selectors)
            .finish_non_exhaustive()
    }
}

/// The `h=` list: every signed header once, the over-signed ones twice.
fn header_list() -> Vec<String> {
    SIGNED_HEADERS
        .iter()
        .chain(OVER_SIGNED)
        .map(|name| (*name).to_owned())
        .collect()
}

impl DkimSigner {
    pub fn new(settings: &DkimSettings) -> Result<Self, DkimKeyError> {
        let keys = settings
            .keys
            .iter()
            .map(|key| {
                use secrecy::ExposeSecret as _;
                let signer = match DkimKey::parse(key.private_key.expose_secret())? {
                    DkimKey::Rsa { key: rsa, .. } => KeySigner::Rsa(
                        mail_auth::dkim::DkimSigner::from_key(rsa)
                            .domain(&settings.domain)
                            .selector(&key.selector)
                            .headers(header_list())
                            // Relaxed headers too: a relay that refolds a
                            // long header must not break the signature.
                            .header_canonicalization(Canonicalization::Relaxed)
                            .body_canonicalization(Canonicalization::Relaxed),
                    ),
                    DkimKey::Ed25519 { key: ed25519, .. } => KeySigner::Ed25519(
                        mail_auth::dkim::DkimSigner::from_key(ed25519)
                            .domain(&settings.domain)
                            .selector(&key.selector)
                            .headers(header_list())
                            .header_canonicalization(Canonicalization::Relaxed)
                            .body_canonicalization(Canonicalization::Relaxed),
                    ),
                };
                Ok(SelectorSigner {
                    selector: key.selector.clone(),
                    signer,
                })
            })
            .collect::<Result<_, DkimKeyError>>()?;
        Ok(Self {
            domain: settings.domain.clone(),
            keys,
        })
    }

    /// `message` (the bytes as they go on the wire) with one `DKIM-Signature`
    /// per key in front. Each key costs a private-key operation (about
    /// 0.6 ms of CPU for RSA-2048 with ring): call from a blocking context.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, DkimSignError> {
        let mut headers = String::new();
        for key in &self.keys {
            let signature = match &key.signer {
                KeySigner::Rsa(signer) => signer.sign(message),
                KeySigner::Ed25519(signer) => signer.sign(message),
            }
            .map_err(|error| DkimSignError::Key {
                selector: key.selector.clone(),
                problem: error.to_string(),
            })?;
            headers.push_str(&signature.to_header());
        }
        let mut signed = Vec::with_capacity(headers.len() + message.len());
        signed.extend_from_slice(headers.as_bytes());
        signed.extend_from_slice(message);
        Ok(signed)
    }
}

#[cfg(test)]
mod tests;
