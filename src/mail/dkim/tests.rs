//! Signatures are checked by a verifier written here from RFC 6376 (relaxed
//! canonicalization), independent of lettre's signing code, against the
//! public half of the key.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::Verifier as _;
use lettre::message::{Mailbox, MultiPart};
use lettre::Message;
use rsa::pkcs1::{EncodeRsaPrivateKey as _, LineEnding};
use rsa::pkcs1v15::Pkcs1v15Sign;
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::{RsaPrivateKey, RsaPublicKey};
use secrecy::SecretString;
use sha2::{Digest as _, Sha256};

use super::{DkimKeyError, DkimSigner};
use crate::config::DkimSettings;
use crate::mail::{ListUnsubscribe, ListUnsubscribePost};

/// `openssl genrsa 1024` (PKCS#8, as openssl 3 writes it). Short for test speed.
const RSA_PKCS8: &str = "-----BEGIN PRIVATE KEY-----
MIICdwIBADANBgkqhkiG9w0BAQEFAASCAmEwggJdAgEAAoGBAKEAIVub189Yayf4
HxAtIOPR+ueXWMVJi5WAqh1sZmyGgo0IMBT2axecoRHKDLZgSjeQCLF+fxRoaI1t
yOM6h3QQpUmzRz+Sf8Wkw5p9eXwo6XH673s5ghwe9nI/fmLpByLTXTUfLmZtRvyY
pa3WTXycKXmsCm8SEuBsb7ASuIZ3AgMBAAECgYApWP44J7Lp9jw23JslrWFYAPJe
DdlneXbWo1+NBOzdDEJ089hdWdexDbGz/t7664nD8UK6StFaLWJEiCBicwKcHM5m
f5p+pDTM7rd7LDj6uMycEeKR8VVXWKJVNZPANpNrpBYJiPJDQeaCsT1QxnVhTA2I
QLwJKDMk2qrv/0g1uQJBANVPWZk5wXpIjGdCfB5JLV9svQn0GZ1Ba9oB7DhcvLfD
8350EPpfeiwq4+68bDFOg4IXLmEeNJKBR4z3n4tUOHUCQQDBOMaQKJ+fPl7FTvUo
O4iajySydYFXBwwjaB9FMGAs+pGkQEkDXVDpbW45U48guiqmR7UDdi9kM4ma3Bc/
lQW7AkAQffkUcrW1yaQpW6eTA99hMFwRR/EvCl7XVSy5Uto4bwsFbN3fLcCZZ5uF
2sWWrlZWmYo5cgdoiFxK1t5b/F/9AkEAr6uu2+ITPfS2tSzUN3/o8pyyAI5UyYre
vlIsG/ufdUVapLrNpwFwTsnvLK+LsXWQ0RzgtgT9kVxJ/0Ga4XPbgQJBAJzWq6xC
kElM+xSxD7pmcv19+XfU2EDhNyS9t1y8rT97i6Bbth7wTigOr5gEAi4imbIP6ARa
BQfBq/dS3maxWh4=
-----END PRIVATE KEY-----
";

/// `openssl genpkey -algorithm ed25519`.
const ED25519_PKCS8: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIL7fs9n1eIrWJk3nNujFTIoQM0Y/pWH6Ixwp7C/IBqLl
-----END PRIVATE KEY-----
";

/// `openssl genrsa 512 | openssl rsa -traditional`: too short to be trusted.
const RSA_512_PKCS1: &str = "-----BEGIN RSA PRIVATE KEY-----
MIIBOgIBAAJBAMtAiO/CNgSX2iN3uLgS7C8sAfTJNe0AE5TCEN2MZhgdTk0GiFev
HMp6p9q/HNd6DcCK296lB6TZOaQWDsGL/rsCAwEAAQJAWNTcxIUKHNnNYgD6P6Et
jrRaKoUiR3HoHPTwcBPjrxegAi+afPPxt9TQEVYuI3n8mFOqG/6xwbu9Sx/wZbA5
WQIhAPPcEgrisiPDHyINPO2UCDdofK4262jKqsnMmyI6xPTnAiEA1V7ubKGlQxHm
LoH+EIn89aG5zasUFI6Jt2pSszQ3GQ0CIQCtrctb3WEqf0mpIuyF+KxxagWCvrKj
C9TfrM3Ab0LfeQIgDau6bP1iYEy6ScqMY7Tjnz1QcUv/yl1jl3vZdp/m09UCIDsu
hIyDfT2vg26hM5GMSahPJeSrBqe9CWQGfRdm1cHr
-----END RSA PRIVATE KEY-----
";

enum PublicKey {
    Rsa(RsaPublicKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

fn settings(key: &str) -> DkimSettings {
    DkimSettings {
        domain: "news.example.com".into(),
        selector: "herald2025".into(),
        private_key: SecretString::from(key.to_owned()),
    }
}

fn rsa_public() -> PublicKey {
    let private = RsaPrivateKey::from_pkcs8_pem(RSA_PKCS8).expect("test key");
    PublicKey::Rsa(RsaPublicKey::from(&private))
}

fn ed25519_public() -> PublicKey {
    use ed25519_dalek::pkcs8::DecodePrivateKey as _;
    let private = ed25519_dalek::SigningKey::from_pkcs8_pem(ED25519_PKCS8).expect("test key");
    PublicKey::Ed25519(private.verifying_key())
}

/// A newsletter-like message: multipart, list headers, a subject long enough
/// to be folded, and body lines with the trailing and repeated white space
/// that relaxed canonicalization rewrites.
fn newsletter() -> Message {
    let from: Mailbox = "The Daily Herald <news@news.example.com>"
        .parse()
        .expect("mailbox");
    let to: Mailbox = "Reader <reader@example.org>".parse().expect("mailbox");
    Message::builder()
        .from(from)
        .to(to)
        .message_id(None)
        .subject(
            "Issue 42: a subject long enough that the header has to be folded \
             over more than one line by the mail builder",
        )
        .header(ListUnsubscribe::new(
            "https://news.example.com/unsubscribe?token=abc",
        ))
        .header(ListUnsubscribePost)
        .multipart(MultiPart::alternative_plain_html(
            "Hello  reader,  \n\tthe news.\t\n\n\n".to_owned(),
            "<p>Hello   reader,</p>  \n<p>the news.</p>\n".to_owned(),
        ))
        .expect("message")
}

fn signed(key: &str) -> Vec<u8> {
    let signer = DkimSigner::new(&settings(key)).expect("key is accepted");
    let mut message = newsletter();
    signer.sign(&mut message);
    message.formatted()
}

#[test]
fn an_rsa_pkcs8_key_signs_and_the_signature_verifies() {
    let raw = signed(RSA_PKCS8);
    let tags = verify(&raw, &rsa_public()).expect("signature verifies");
    assert_eq!(tag(&tags, "d"), "news.example.com");
    assert_eq!(tag(&tags, "s"), "herald2025");
    assert_eq!(tag(&tags, "a"), "rsa-sha256");
    assert_eq!(tag(&tags, "c"), "relaxed/relaxed");
    let signed_headers = tag(&tags, "h").to_ascii_lowercase();
    for name in ["from", "to", "subject", "date", "message-id"] {
        assert!(
            signed_headers.split(':').any(|h| h == name),
            "{name} is not signed: h={signed_headers}"
        );
    }
    assert!(
        signed_headers
            .split(':')
            .any(|h| h == "list-unsubscribe-post"),
        "RFC 8058 needs List-Unsubscribe-Post signed: h={signed_headers}"
    );
}

#[test]
fn an_rsa_pkcs1_key_signs_too() {
    let private = RsaPrivateKey::from_pkcs8_pem(RSA_PKCS8).expect("test key");
    let pkcs1 = private.to_pkcs1_pem(LineEnding::LF).expect("PKCS#1 PEM");
    assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    verify(&signed(&pkcs1), &rsa_public()).expect("signature verifies");
}

#[test]
fn an_ed25519_pkcs8_key_signs_and_the_signature_verifies() {
    let raw = signed(ED25519_PKCS8);
    let tags = verify(&raw, &ed25519_public()).expect("signature verifies");
    assert_eq!(tag(&tags, "a"), "ed25519-sha256");
    assert_eq!(tag(&tags, "d"), "news.example.com");
    assert_eq!(tag(&tags, "s"), "herald2025");
}

#[test]
fn an_ed25519_seed_in_base64_is_accepted() {
    use ed25519_dalek::pkcs8::DecodePrivateKey as _;
    let private = ed25519_dalek::SigningKey::from_pkcs8_pem(ED25519_PKCS8).expect("test key");
    let seed = BASE64.encode(private.to_bytes());
    verify(&signed(&seed), &ed25519_public()).expect("signature verifies");
}

#[test]
fn the_verifier_rejects_a_changed_subject_or_body() {
    let raw = String::from_utf8(signed(RSA_PKCS8)).expect("ASCII message");
    let subject_changed = raw.replacen("Issue 42", "Issue 43", 1);
    assert_ne!(subject_changed, raw);
    let error = verify(subject_changed.as_bytes(), &rsa_public()).expect_err("tampered");
    assert!(error.contains("signature"), "{error}");

    let body_changed = raw.replacen("the news.", "the nevvs.", 1);
    assert_ne!(body_changed, raw);
    let error = verify(body_changed.as_bytes(), &rsa_public()).expect_err("tampered");
    assert!(error.contains("body hash"), "{error}");

    // White space alone may change: that is what relaxed canonicalization is for.
    let refolded = raw.replacen("Hello  reader,", "Hello reader,", 1);
    assert_ne!(refolded, raw);
    verify(refolded.as_bytes(), &rsa_public()).expect("white space is not content");
}

#[test]
fn a_key_of_the_wrong_kind_is_refused_without_repeating_it() {
    let error = DkimSigner::new(&settings("not-a-key-at-all")).expect_err("not a key");
    assert!(matches!(error, DkimKeyError::Unreadable));
    assert!(!error.to_string().contains("not-a-key"));

    let ec = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBm1\n-----END EC PRIVATE KEY-----\n";
    let error = DkimSigner::new(&settings(ec)).expect_err("EC keys are not DKIM keys");
    assert!(matches!(error, DkimKeyError::Unreadable));
    assert!(!error.to_string().contains("MHcC"));

    let encrypted =
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHz\n-----END ENCRYPTED PRIVATE KEY-----\n";
    let error = DkimSigner::new(&settings(encrypted)).expect_err("encrypted");
    assert!(matches!(error, DkimKeyError::Encrypted));

    let error = DkimSigner::new(&settings(RSA_512_PKCS1)).expect_err("too short");
    assert!(matches!(error, DkimKeyError::RsaTooShort(512)));
}

fn tag<'a>(tags: &'a [(String, String)], name: &str) -> &'a str {
    tags.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name}= tag in {tags:?}"))
}

/// Checks the one `DKIM-Signature` of `raw`; returns its tags.
fn verify(raw: &[u8], key: &PublicKey) -> Result<Vec<(String, String)>, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let header_block = std::str::from_utf8(&raw[..split + 2]).map_err(|e| e.to_string())?;
    let body = &raw[split + 4..];
    let headers = unfold(header_block);

    let signature_header = headers
        .iter()
        .find(|h| name_of(h).eq_ignore_ascii_case("DKIM-Signature"))
        .ok_or("no DKIM-Signature header")?;
    let value = &signature_header[signature_header.find(':').ok_or("no colon")? + 1..];
    let tags: Vec<(String, String)> = value
        .split(';')
        .filter(|t| !t.trim().is_empty())
        .map(|t| {
            let (name, value) = t.split_once('=').unwrap_or((t, ""));
            let value: String = value.chars().filter(|c| !c.is_whitespace()).collect();
            (name.trim().to_owned(), value)
        })
        .collect();
    if tag(&tags, "c") != "relaxed/relaxed" {
        return Err(format!(
            "this verifier knows relaxed/relaxed, not {}",
            tag(&tags, "c")
        ));
    }

    let body_hash = BASE64.encode(Sha256::digest(relaxed_body(body)));
    if body_hash != tag(&tags, "bh") {
        return Err("body hash mismatch".into());
    }

    let mut hasher = Sha256::new();
    let mut used = vec![false; headers.len()];
    for name in tag(&tags, "h").split(':') {
        // The last unused instance of the name; an absent one adds nothing.
        if let Some(i) = (0..headers.len())
            .rev()
            .find(|&i| !used[i] && name_of(&headers[i]).eq_ignore_ascii_case(name))
        {
            used[i] = true;
            hasher.update(relaxed_header(&headers[i]));
            hasher.update(b"\r\n");
        }
    }
    let without_b: Vec<String> = signature_header
        .split(';')
        .map(|t| match t.split_once('=') {
            Some((name, _)) if name.trim() == "b" => format!("{name}="),
            _ => t.to_owned(),
        })
        .collect();
    hasher.update(relaxed_header(&without_b.join(";")));
    let digest = hasher.finalize();

    let signature = BASE64
        .decode(tag(&tags, "b"))
        .map_err(|e| format!("b= is not base64: {e}"))?;
    let verified = match key {
        PublicKey::Rsa(key) => key
            .verify(Pkcs1v15Sign::new::<Sha256>(), &digest, &signature)
            .is_ok(),
        PublicKey::Ed25519(key) => ed25519_dalek::Signature::from_slice(&signature)
            .is_ok_and(|signature| key.verify(&digest, &signature).is_ok()),
    };
    if verified {
        Ok(tags)
    } else {
        Err("signature does not verify".into())
    }
}

/// One string per header field, continuation lines kept with their CRLF.
fn unfold(block: &str) -> Vec<String> {
    let mut fields: Vec<String> = Vec::new();
    for line in block.split_inclusive("\r\n") {
        match fields.last_mut() {
            Some(field) if line.starts_with([' ', '\t']) => field.push_str(line),
            _ => fields.push(line.to_owned()),
        }
    }
    fields
        .into_iter()
        .map(|f| f.trim_end_matches("\r\n").to_owned())
        .collect()
}

fn name_of(field: &str) -> &str {
    field.split(':').next().unwrap_or("").trim()
}

/// RFC 6376 3.4.2: lower-case name, unfolded value, white space runs as one
/// space, none around the colon or at the end.
fn relaxed_header(field: &str) -> String {
    let (name, value) = field.split_once(':').unwrap_or((field, ""));
    let unfolded = value.replace("\r\n", "");
    let value = unfolded.split([' ', '\t']).filter(|w| !w.is_empty());
    format!(
        "{}:{}",
        name.trim().to_ascii_lowercase(),
        value.collect::<Vec<_>>().join(" ")
    )
}

/// RFC 6376 3.4.4: white space runs as one space, none at line ends, no empty
/// lines at the end.
fn relaxed_body(body: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(body);
    let mut lines: Vec<String> = text
        .split("\r\n")
        .map(|line| {
            let mut out = String::new();
            let mut in_space = false;
            for c in line.chars() {
                if c == ' ' || c == '\t' {
                    in_space = true;
                } else {
                    if in_space {
                        out.push(' ');
                    }
                    in_space = false;
                    out.push(c);
                }
            }
            out
        })
        .collect();
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    let mut out = Vec::new();
    for line in lines {
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}
