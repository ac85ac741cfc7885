//! How many messages one thread DKIM-signs per second with Herald's signer
//! (mail-auth over ring), for RSA-2048 and ed25519, over a 32 KB message like
//! an issue copy: the floor under `herald-bench --dkim`. See
//! docs/performance.md, "Signing with DKIM".
//!
//! `cargo run --release --example dkim_sign_speed`

use std::time::Instant;

use herald::config::{DkimKeySettings, DkimSettings};
use herald::mail::DkimSigner;
use secrecy::SecretString;

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/dkim");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut message = String::from(
        "From: news@example.com\r\nTo: reader@example.org\r\nSubject: Weekly\r\n\
         Date: Sun, 29 Nov 2026 01:00:00 +0000\r\nMessage-ID: <1@example.com>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n",
    );
    while message.len() < 32_000 {
        message.push_str(&"x".repeat(70));
        message.push_str("\r\n");
    }
    for (name, file, count) in [
        ("RSA-2048", "rsa2048.pem", 3_000),
        ("ed25519", "ed25519.pem", 20_000),
    ] {
        let signer = DkimSigner::new(&DkimSettings {
            domain: "example.com".into(),
            keys: vec![DkimKeySettings {
                selector: "bench".into(),
                private_key: SecretString::from(std::fs::read_to_string(format!("{KEYS}/{file}"))?),
            }],
        })?;
        let started = Instant::now();
        for _ in 0..count {
            std::hint::black_box(signer.sign(message.as_bytes())?);
        }
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{name}: {:.0} messages/s on one thread ({:.3} ms each)",
            f64::from(count) / seconds,
            seconds * 1000.0 / f64::from(count)
        );
    }
    Ok(())
}
