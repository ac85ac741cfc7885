//! One DKIM private key: read from the forms openssl writes, and the TXT
//! record that publishes its public half.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use ring::signature::KeyPair as _;

/// ring signs with RSA keys of 2048 to 8192 bits; receivers ignore keys
/// shorter than 1024 (RFC 8301), and 2048 is what they recommend.
const RSA_BITS: &str = "2048 to 8192";

/// `rsaEncryption` (1.2.840.113549.1.1.1), DER-encoded with its tag.
const RSA_ENCRYPTION_OID: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
];

#[derive(Debug, thiserror::Error)]
pub enum DkimKeyError {
    #[error("the key is encrypted; Herald needs it without a passphrase (`openssl pkey -in KEY -out PLAIN.pem`)")]
    Encrypted,
    #[error("the RSA key cannot be used: it must have {RSA_BITS} bits (`openssl genrsa 2048`)")]
    RsaSize,
    /// Never says more about the text: it is secret.
    #[error(
        "is neither an RSA nor an ed25519 private key in PEM form (as written by \
         `openssl genrsa 2048` or `openssl genpkey -algorithm ed25519`), nor the \
         base64 of a 32-byte ed25519 seed"
    )]
    Unreadable,
}

/// A private key ready to sign, with its public half for DNS.
pub enum DkimKey {
    Rsa {
        key: RsaKey<Sha256>,
        /// SubjectPublicKeyInfo, DER: what a DKIM record's `p=` holds for RSA.
        public: Vec<u8>,
    },
    Ed25519 {
        key: Ed25519Key,
        /// The raw 32 bytes (RFC 8463).
        public: Vec<u8>,
    },
}

impl DkimKey {
    /// Reads PKCS#8 PEM (RSA or ed25519, as openssl 3 writes them), PKCS#1
    /// PEM (`openssl genrsa -traditional`), or the base64 of a 32-byte
    /// ed25519 seed.
    pub fn parse(text: &str) -> Result<Self, DkimKeyError> {
        let text = text.trim();
        if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
            || text.contains("Proc-Type: 4,ENCRYPTED")
        {
            return Err(DkimKeyError::Encrypted);
        }
        if text.contains("-----BEGIN RSA PRIVATE KEY-----") {
            return rsa(&pem_body(text, "RSA PRIVATE KEY")?, RsaForm::Pkcs1);
        }
        if text.contains("-----BEGIN PRIVATE KEY-----") {
            let der = pem_body(text, "PRIVATE KEY")?;
            if der
                .windows(RSA_ENCRYPTION_OID.len())
                .any(|w| w == RSA_ENCRYPTION_OID)
            {
                return rsa(&der, RsaForm::Pkcs8);
            }
            // openssl writes ed25519 keys as PKCS#8 v1, without the public
            // key, which ring's checked reader insists on.
            let pair = ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
                .map_err(|_| DkimKeyError::Unreadable)?;
            let public = pair.public_key().as_ref().to_vec();
            let key = Ed25519Key::from_pkcs8_maybe_unchecked_der(&der)
                .map_err(|_| DkimKeyError::Unreadable)?;
            return Ok(Self::Ed25519 { key, public });
        }
        if text.contains("-----BEGIN") {
            return Err(DkimKeyError::Unreadable);
        }
        let seed = BASE64.decode(text).map_err(|_| DkimKeyError::Unreadable)?;
        let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed)
            .map_err(|_| DkimKeyError::Unreadable)?;
        let public = pair.public_key().as_ref().to_vec();
        let key = Ed25519Key::from_seed_and_public_key(&seed, &public)
            .map_err(|_| DkimKeyError::Unreadable)?;
        Ok(Self::Ed25519 { key, public })
    }

    /// `rsa` or `ed25519`: the `k=` of the DNS record.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Rsa { .. } => "rsa",
            Self::Ed25519 { .. } => "ed25519",
        }
    }

    /// The value of the `SELECTOR._domainkey.DOMAIN` TXT record.
    pub fn dns_record(&self) -> String {
        let public = match self {
            Self::Rsa { public, .. } | Self::Ed25519 { public, .. } => public,
        };
        format!("v=DKIM1; k={}; p={}", self.kind(), BASE64.encode(public))
    }
}

enum RsaForm {
    Pkcs1,
    Pkcs8,
}

fn rsa(der: &[u8], form: RsaForm) -> Result<DkimKey, DkimKeyError> {
    let pair = match form {
        RsaForm::Pkcs1 => ring::signature::RsaKeyPair::from_der(der),
        RsaForm::Pkcs8 => ring::signature::RsaKeyPair::from_pkcs8(der),
    }
    .map_err(|_| DkimKeyError::RsaSize)?;
    let public = subject_public_key_info(pair.public_key().as_ref());
    let der = match form {
        RsaForm::Pkcs1 => rustls_pki_types::PrivateKeyDer::Pkcs1(der.to_vec().into()),
        RsaForm::Pkcs8 => rustls_pki_types::PrivateKeyDer::Pkcs8(der.to_vec().into()),
    };
    let key = RsaKey::from_key_der(der).map_err(|_| DkimKeyError::RsaSize)?;
    Ok(DkimKey::Rsa { key, public })
}

/// The DER between a PEM's BEGIN and END lines.
pub(super) fn pem_body(text: &str, label: &str) -> Result<Vec<u8>, DkimKeyError> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin).ok_or(DkimKeyError::Unreadable)? + begin.len();
    let stop = text[start..].find(&end).ok_or(DkimKeyError::Unreadable)? + start;
    let base64: String = text[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    BASE64.decode(base64).map_err(|_| DkimKeyError::Unreadable)
}

/// ring gives the PKCS#1 RSAPublicKey; DKIM publishes it wrapped in a
/// SubjectPublicKeyInfo (RFC 6376 3.6.1), as `openssl rsa -pubout` writes.
fn subject_public_key_info(rsa_public_key: &[u8]) -> Vec<u8> {
    let mut algorithm = RSA_ENCRYPTION_OID.to_vec();
    algorithm.extend_from_slice(&[0x05, 0x00]);
    let mut bits = vec![0x00];
    bits.extend_from_slice(rsa_public_key);
    let mut content = der(0x30, &algorithm);
    content.extend(der(0x03, &bits));
    der(0x30, &content)
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}
