//! DKIM signatures (RFC 6376) with the operator's key, so receivers can tell
//! that mail claiming the newsletter's domain really comes from it.

use base64::Engine as _;
use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
    DkimSigningKey,
};
use lettre::message::header::HeaderName;
use lettre::Message;
use rsa::pkcs1::{DecodeRsaPrivateKey as _, EncodeRsaPrivateKey as _, LineEnding};
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::traits::PublicKeyParts as _;
use rsa::RsaPrivateKey;
use secrecy::{ExposeSecret, SecretString};

use crate::config::DkimSettings;

/// The headers the signature covers, over-signed: one absent from a message
/// is signed as absent, so nobody can add it on the way.
///
/// `Content-Type` and `Content-Transfer-Encoding` are left out on purpose:
/// lettre keeps them with a MIME body part, not in `Message::headers`, so it
/// would sign them as absent while a verifier finds them, and fail.
/// `List-Unsubscribe-Post` must be signed for one-click unsubscribe (RFC 8058).
const SIGNED_HEADERS: &[&str] = &[
    "From",
    "Reply-To",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
];

/// Receivers ignore RSA signatures from shorter keys (RFC 8301).
const MIN_RSA_BITS: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum DkimKeyError {
    #[error("the key is encrypted; Herald needs it without a passphrase (`openssl pkey -in KEY -out PLAIN.pem`)")]
    Encrypted,
    #[error("the RSA key has {0} bits; receivers ignore DKIM keys shorter than {MIN_RSA_BITS}")]
    RsaTooShort(usize),
    /// Never says more about the text: it is secret.
    #[error(
        "is neither an RSA nor an ed25519 private key in PEM form (as written by \
         `openssl genrsa 2048` or `openssl genpkey -algorithm ed25519`), nor the \
         base64 of a 32-byte ed25519 seed"
    )]
    Unreadable,
}

/// Signs messages for one domain and selector.
pub struct DkimSigner {
    config: DkimConfig,
    domain: String,
    selector: String,
    algorithm: DkimSigningAlgorithm,
}

// By hand: lettre's `DkimConfig` would print the private key.
impl std::fmt::Debug for DkimSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DkimSigner")
            .field("domain", &self.domain)
            .field("selector", &self.selector)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl DkimSigner {
    pub fn new(settings: &DkimSettings) -> Result<Self, DkimKeyError> {
        let (key, algorithm) = signing_key(settings.private_key.expose_secret())?;
        let headers = SIGNED_HEADERS
            .iter()
            .map(|name| HeaderName::new_from_ascii_str(name))
            .collect();
        // Relaxed headers too: a relay that refolds a long header must not
        // break the signature.
        let canonicalization = DkimCanonicalization {
            header: DkimCanonicalizationType::Relaxed,
            body: DkimCanonicalizationType::Relaxed,
        };
        let config = DkimConfig::new(
            settings.selector.clone(),
            settings.domain.clone(),
            key,
            headers,
            canonicalization,
        );
        Ok(Self {
            config,
            domain: settings.domain.clone(),
            selector: settings.selector.clone(),
            algorithm,
        })
    }

    /// Adds the `DKIM-Signature` header. Sign last: a header added or changed
    /// afterwards may break the signature.
    pub fn sign(&self, message: &mut Message) {
        message.sign(&self.config);
    }
}

/// lettre reads RSA keys as PKCS#1 PEM and ed25519 keys as the base64 of the
/// 32-byte seed; openssl 3 writes both as PKCS#8 PEM, so those are converted.
fn signing_key(text: &str) -> Result<(DkimSigningKey, DkimSigningAlgorithm), DkimKeyError> {
    let text = text.trim();
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        || text.contains("Proc-Type: 4,ENCRYPTED")
    {
        return Err(DkimKeyError::Encrypted);
    }
    let rsa = if text.contains("-----BEGIN RSA PRIVATE KEY-----") {
        RsaPrivateKey::from_pkcs1_pem(text).ok()
    } else if text.contains("-----BEGIN PRIVATE KEY-----") {
        RsaPrivateKey::from_pkcs8_pem(text).ok()
    } else {
        None
    };
    if let Some(rsa) = rsa {
        let bits = rsa.size() * 8;
        if bits < MIN_RSA_BITS {
            return Err(DkimKeyError::RsaTooShort(bits));
        }
        let pkcs1 = rsa
            .to_pkcs1_pem(LineEnding::LF)
            .map_err(|_| DkimKeyError::Unreadable)?;
        let key = DkimSigningKey::new(&pkcs1, DkimSigningAlgorithm::Rsa)
            .map_err(|_| DkimKeyError::Unreadable)?;
        return Ok((key, DkimSigningAlgorithm::Rsa));
    }
    let seed = if text.contains("-----BEGIN PRIVATE KEY-----") {
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(text)
            .map_err(|_| DkimKeyError::Unreadable)?;
        SecretString::from(base64::engine::general_purpose::STANDARD.encode(key.to_bytes()))
    } else if text.contains("-----BEGIN") {
        return Err(DkimKeyError::Unreadable);
    } else {
        SecretString::from(text.to_owned())
    };
    let key = DkimSigningKey::new(seed.expose_secret(), DkimSigningAlgorithm::Ed25519)
        .map_err(|_| DkimKeyError::Unreadable)?;
    Ok((key, DkimSigningAlgorithm::Ed25519))
}

#[cfg(test)]
mod tests;
