//! The server's secret key: signs unsubscribe links and derives confirmation
//! tokens. Taken from `HERALD_SECRET`, or generated once and kept in
//! `HERALD_SECRET_FILE` (`./herald.secret`) so that links in mail already
//! sent stay valid.

use std::io::Write;
use std::path::Path;

use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::Sha256;

#[derive(Debug, thiserror::Error)]
pub enum SecretKeyError {
    #[error("HERALD_SECRET_FILE: cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("HERALD_SECRET_FILE: cannot create {path}: {source}")]
    Create {
        path: String,
        source: std::io::Error,
    },
    #[error("HERALD_SECRET_FILE: {path} holds fewer than 32 characters")]
    TooShort { path: String },
}

pub struct SecretKey(SecretBox<Vec<u8>>);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

impl SecretKey {
    pub fn from_secret(secret: &SecretString) -> Self {
        Self(SecretBox::new(Box::new(
            secret.expose_secret().as_bytes().to_vec(),
        )))
    }

    /// Uses `configured` when set; otherwise reads `file`, creating it with a
    /// fresh random key (readable by the owner only) on first start.
    pub fn load_or_create(
        configured: Option<&SecretString>,
        file: &Path,
    ) -> Result<Self, SecretKeyError> {
        if let Some(secret) = configured {
            return Ok(Self::from_secret(secret));
        }
        let path = file.display().to_string();
        match std::fs::read_to_string(file) {
            Ok(contents) => {
                let contents = contents.trim();
                if contents.len() < 32 {
                    return Err(SecretKeyError::TooShort { path });
                }
                Ok(Self::from_secret(&SecretString::from(contents.to_owned())))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 32];
                rand::rng().fill_bytes(&mut bytes);
                let encoded = hex(&bytes);
                write_private(file, &encoded)
                    .map_err(|source| SecretKeyError::Create { path, source })?;
                tracing::info!(file = %file.display(), "generated a new secret key");
                Ok(Self::from_secret(&SecretString::from(encoded)))
            }
            Err(source) => Err(SecretKeyError::Read { path, source }),
        }
    }

    /// `configured`, or the key in `file`, which must exist: for a command
    /// that reads what was signed before and must not make up a key.
    pub fn load_existing(
        configured: Option<&SecretString>,
        file: &Path,
    ) -> Result<Self, SecretKeyError> {
        if configured.is_none() && !file.exists() {
            return Err(SecretKeyError::Read {
                path: file.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such file; set HERALD_SECRET or HERALD_SECRET_FILE as `herald serve` has it",
                ),
            });
        }
        Self::load_or_create(configured, file)
    }

    /// HMAC-SHA256 of `message` under this key, separated by `purpose` so that a
    /// value made for one use can never be replayed for another.
    pub fn sign(&self, purpose: &str, message: &[u8]) -> [u8; 32] {
        self.mac(purpose, message).finalize().into_bytes().into()
    }

    /// Whether `tag` is the start (at least 16 bytes) of `sign(purpose, message)`,
    /// compared in constant time.
    pub fn verify(&self, purpose: &str, message: &[u8], tag: &[u8]) -> bool {
        tag.len() >= 16
            && self
                .mac(purpose, message)
                .verify_truncated_left(tag)
                .is_ok()
    }

    fn mac(&self, purpose: &str, message: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.0.expose_secret())
            .expect("HMAC accepts keys of any length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(message);
        mac
    }
}

fn write_private(file: &Path, contents: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut handle = options.open(file)?;
    handle.write_all(contents.as_bytes())?;
    handle.write_all(b"\n")?;
    handle.sync_all()
}

/// A fresh bearer secret: 256 random bits, base64url.
pub fn random_token() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database keeps of a bearer secret.
pub fn token_hash(token: &str) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(token.as_bytes()))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_is_kept_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("herald.secret");
        let first = SecretKey::load_or_create(None, &file).expect("created");
        let second = SecretKey::load_or_create(None, &file).expect("read back");
        assert_eq!(first.sign("t", b"x"), second.sign("t", b"x"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file)
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(
                mode & 0o077,
                0,
                "secret file must not be readable by others"
            );
        }
    }

    #[test]
    fn purposes_do_not_collide() {
        let key = SecretKey::from_secret(&SecretString::from("k".repeat(32)));
        assert_ne!(key.sign("confirm", b"1"), key.sign("unsubscribe", b"1"));
    }
}
