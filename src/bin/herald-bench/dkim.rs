//! `--dkim`: keys made for the run, so the send signs every copy as a
//! production one does (one private-key operation per key and copy).

use std::path::Path;
use std::process::Command;

use anyhow::Context;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DkimKeys {
    /// One RSA-2048 key (`openssl genrsa 2048`).
    Rsa,
    /// One ed25519 key (made with ring).
    Ed25519,
    /// Both: two signatures per copy.
    Both,
}

/// The DKIM_* variables for `keys`, with the key files written into `dir`.
pub fn env(dir: &Path, keys: DkimKeys) -> anyhow::Result<Vec<(String, String)>> {
    let mut selectors = Vec::new();
    let mut files = Vec::new();
    if matches!(keys, DkimKeys::Rsa | DkimKeys::Both) {
        let path = dir.join("dkim-rsa.pem");
        let output = Command::new("openssl")
            .args(["genrsa", "2048"])
            .output()
            .context("cannot run `openssl genrsa 2048` for the RSA key")?;
        anyhow::ensure!(
            output.status.success(),
            "`openssl genrsa 2048` failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        std::fs::write(&path, &output.stdout)?;
        selectors.push("rsa");
        files.push(path.display().to_string());
    }
    if matches!(keys, DkimKeys::Ed25519 | DkimKeys::Both) {
        let path = dir.join("dkim-ed25519.pem");
        let pkcs8 =
            ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
                .map_err(|_| anyhow::anyhow!("ring cannot make an ed25519 key"))?;
        let body = BASE64.encode(pkcs8.as_ref());
        std::fs::write(
            &path,
            format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n"),
        )?;
        selectors.push("ed25519");
        files.push(path.display().to_string());
    }
    Ok(vec![
        ("DKIM_DOMAIN".to_owned(), "example.com".to_owned()),
        ("DKIM_SELECTOR".to_owned(), selectors.join(",")),
        ("DKIM_PRIVATE_KEY".to_owned(), files.join(",")),
    ])
}
