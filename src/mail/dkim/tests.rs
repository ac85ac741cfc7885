//! Signatures are checked by a verifier written here from RFC 6376 (relaxed
//! canonicalization), independent of mail-auth's signing code, against the
//! public half of the key as ring computes it. tests/api/dkim_verify.rs
//! checks real mail with dkimpy too.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use lettre::message::{Mailbox, MultiPart};
use lettre::Message;
use ring::signature::KeyPair as _;
use secrecy::SecretString;
use sha2::{Digest as _, Sha256};

use super::key::pem_body;
use super::{DkimKey, DkimKeyError, DkimSigner};
use crate::config::{DkimKeySettings, DkimSettings};
use crate::mail::{ListUnsubscribe, ListUnsubscribePost};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/dkim/",
            $name
        ))
    };
}

/// `openssl genrsa 2048` (PKCS#8, as openssl 3 writes it).
const RSA_PKCS8: &str = fixture!("rsa2048.pem");
/// The same key as `openssl rsa -traditional` writes it.
const RSA_PKCS1: &str = fixture!("rsa2048-pkcs1.pem");
/// `openssl genrsa 1024`: receivers would take it, ring signs with 2048 bits and up.
const RSA_1024: &str = fixture!("rsa1024.pem");
/// `openssl genpkey -algorithm ed25519`.
const ED25519_PKCS8: &str = fixture!("ed25519.pem");
/// What openssl says the public halves (and the ed25519 seed) are.
const PUBLIC: &str = fixture!("public.txt");

fn published(name: &str) -> &'static str {
    PUBLIC
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{name} is not in public.txt"))
}

enum PublicKey {
    /// PKCS#1 RSAPublicKey, as ring verifies with it.
    Rsa(Vec<u8>),
    Ed25519(Vec<u8>),
}

fn settings(keys: &[(&str, &str)]) -> DkimSettings {
    DkimSettings {
        domain: "news.example.com".into(),
        keys: keys
            .iter()
            .map(|(selector, key)| DkimKeySettings {
                selector: (*selector).to_owned(),
                private_key: SecretString::from((*key).to_owned()),
            })
            .collect(),
    }
}

fn rsa_public() -> PublicKey {
    let der = pem_body(RSA_PKCS8, "PRIVATE KEY").expect("test key");
    let pair = ring::signature::RsaKeyPair::from_pkcs8(&der).expect("test key");
    PublicKey::Rsa(pair.public_key().as_ref().to_vec())
}

fn ed25519_public() -> PublicKey {
    PublicKey::Ed25519(BASE64.decode(published("ed25519")).expect("base64"))
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

fn signed_with(keys: &[(&str, &str)]) -> Vec<u8> {
    let signer = DkimSigner::new(&settings(keys)).expect("keys are accepted");
    signer.sign(&newsletter().formatted()).expect("signed")
}

fn signed(key: &str) -> Vec<u8> {
    signed_with(&[("herald2025", key)])
}

fn count(list: &str, name: &str) -> usize {
    list.split(':')
        .filter(|h| h.eq_ignore_ascii_case(name))
        .count()
}

#[test]
fn an_rsa_pkcs8_key_signs_and_the_signature_verifies() {
    let raw = signed(RSA_PKCS8);
    let tags = verify(&raw, "herald2025", &rsa_public()).expect("signature verifies");
    assert_eq!(tag(&tags, "d"), "news.example.com");
    assert_eq!(tag(&tags, "s"), "herald2025");
    assert_eq!(tag(&tags, "a"), "rsa-sha256");
    assert_eq!(tag(&tags, "c"), "relaxed/relaxed");
}

#[test]
fn the_mime_and_list_headers_are_signed_and_the_single_ones_over_signed() {
    let raw = signed(ED25519_PKCS8);
    let tags = verify(&raw, "herald2025", &ed25519_public()).expect("signature verifies");
    let h = tag(&tags, "h");
    // Present once, named twice: a second copy added on the way breaks the signature.
    for name in [
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
    ] {
        assert_eq!(count(h, name), 2, "{name} is not over-signed: h={h}");
    }
    // Absent, named twice: none may be added, nor two.
    for name in ["Reply-To", "List-Id"] {
        assert_eq!(count(h, name), 2, "{name} is not over-signed: h={h}");
    }
    for name in [
        "MIME-Version",
        "Content-Type",
        "Content-Transfer-Encoding",
        "Cc",
        "List-Archive",
        "Precedence",
        "Feedback-ID",
        "Auto-Submitted",
    ] {
        assert_eq!(count(h, name), 1, "{name} is not signed once: h={h}");
    }
}

#[test]
fn an_rsa_pkcs1_key_signs_too() {
    assert!(RSA_PKCS1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    verify(&signed(RSA_PKCS1), "herald2025", &rsa_public()).expect("signature verifies");
}

#[test]
fn an_ed25519_pkcs8_key_signs_and_the_signature_verifies() {
    let raw = signed(ED25519_PKCS8);
    let tags = verify(&raw, "herald2025", &ed25519_public()).expect("signature verifies");
    assert_eq!(tag(&tags, "a"), "ed25519-sha256");
    assert_eq!(tag(&tags, "d"), "news.example.com");
    assert_eq!(tag(&tags, "s"), "herald2025");
}

#[test]
fn an_ed25519_seed_in_base64_is_accepted() {
    let seed = published("ed25519-seed");
    verify(&signed(seed), "herald2025", &ed25519_public()).expect("signature verifies");
}

#[test]
fn two_keys_give_two_signatures_that_verify_each_on_its_own() {
    let raw = signed_with(&[("rsa2026", RSA_PKCS8), ("ed2026", ED25519_PKCS8)]);
    let text = String::from_utf8_lossy(&raw);
    assert_eq!(text.matches("DKIM-Signature:").count(), 2);
    let rsa = verify(&raw, "rsa2026", &rsa_public()).expect("RSA signature verifies");
    assert_eq!(tag(&rsa, "a"), "rsa-sha256");
    let ed = verify(&raw, "ed2026", &ed25519_public()).expect("ed25519 signature verifies");
    assert_eq!(tag(&ed, "a"), "ed25519-sha256");
}

#[test]
fn the_dns_records_hold_the_public_keys_openssl_computes() {
    let rsa = DkimKey::parse(RSA_PKCS8).expect("key");
    assert_eq!(
        rsa.dns_record(),
        format!("v=DKIM1; k=rsa; p={}", published("rsa2048"))
    );
    let rsa_pkcs1 = DkimKey::parse(RSA_PKCS1).expect("key");
    assert_eq!(rsa_pkcs1.dns_record(), rsa.dns_record());
    let ed = DkimKey::parse(ED25519_PKCS8).expect("key");
    assert_eq!(
        ed.dns_record(),
        format!("v=DKIM1; k=ed25519; p={}", published("ed25519"))
    );
    let seed = DkimKey::parse(published("ed25519-seed")).expect("key");
    assert_eq!(seed.dns_record(), ed.dns_record());
}

#[test]
fn the_verifier_rejects_a_changed_subject_or_body() {
    let raw = String::from_utf8(signed(RSA_PKCS8)).expect("ASCII message");
    let subject_changed = raw.replacen("Issue 42", "Issue 43", 1);
    assert_ne!(subject_changed, raw);
    let error =
        verify(subject_changed.as_bytes(), "herald2025", &rsa_public()).expect_err("tampered");
    assert!(error.contains("signature"), "{error}");

    let body_changed = raw.replacen("the news.", "the nevvs.", 1);
    assert_ne!(body_changed, raw);
    let error = verify(body_changed.as_bytes(), "herald2025", &rsa_public()).expect_err("tampered");
    assert!(error.contains("body hash"), "{error}");

    // White space alone may change: that is what relaxed canonicalization is for.
    let refolded = raw.replacen("Hello  reader,", "Hello reader,", 1);
    assert_ne!(refolded, raw);
    verify(refolded.as_bytes(), "herald2025", &rsa_public()).expect("white space is not content");
}

#[test]
fn headers_added_on_the_way_break_the_signature() {
    let raw = String::from_utf8(signed(ED25519_PKCS8)).expect("ASCII message");
    let key = ed25519_public();
    for added in [
        "Subject: Something else\r\n",
        "List-Unsubscribe: <https://evil.example/>\r\n",
        "From: someone@evil.example\r\n",
        "List-Id: <other.example.com>\r\n",
    ] {
        let tampered = format!("{added}{raw}");
        verify(tampered.as_bytes(), "herald2025", &key).expect_err(added);
    }
    let mixed = raw.replacen("multipart/alternative", "multipart/mixed", 1);
    assert_ne!(mixed, raw);
    verify(mixed.as_bytes(), "herald2025", &key).expect_err("Content-Type changed");
}

#[test]
fn a_key_of_the_wrong_kind_is_refused_without_repeating_it() {
    let error = DkimSigner::new(&settings(&[("s", "not-a-key-at-all")])).expect_err("not a key");
    assert!(matches!(error, DkimKeyError::Unreadable));
    assert!(!error.to_string().contains("not-a-key"));

    let ec = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBm1\n-----END EC PRIVATE KEY-----\n";
    let error = DkimSigner::new(&settings(&[("s", ec)])).expect_err("EC keys are not DKIM keys");
    assert!(matches!(error, DkimKeyError::Unreadable));
    assert!(!error.to_string().contains("MHcC"));

    let encrypted =
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHz\n-----END ENCRYPTED PRIVATE KEY-----\n";
    let error = DkimSigner::new(&settings(&[("s", encrypted)])).expect_err("encrypted");
    assert!(matches!(error, DkimKeyError::Encrypted));

    let error = DkimSigner::new(&settings(&[("s", RSA_1024)])).expect_err("too short");
    assert!(matches!(error, DkimKeyError::RsaSize));
    assert!(error.to_string().contains("2048"), "{error}");
}

fn tag<'a>(tags: &'a [(String, String)], name: &str) -> &'a str {
    tags.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name}= tag in {tags:?}"))
}

/// Checks the `DKIM-Signature` of `raw` with selector `selector`; returns its tags.
fn verify(raw: &[u8], selector: &str, key: &PublicKey) -> Result<Vec<(String, String)>, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let header_block = std::str::from_utf8(&raw[..split + 2]).map_err(|e| e.to_string())?;
    let body = &raw[split + 4..];
    let headers = unfold(header_block);

    let (signature_header, tags) = headers
        .iter()
        .filter(|h| name_of(h).eq_ignore_ascii_case("DKIM-Signature"))
        .map(|h| (h, tags_of(h)))
        .find(|(_, tags)| tags.iter().any(|(n, v)| n == "s" && v == selector))
        .ok_or_else(|| format!("no DKIM-Signature with s={selector}"))?;
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

    let mut signed_data = Vec::new();
    let mut used = vec![false; headers.len()];
    for name in tag(&tags, "h").split(':') {
        // The last unused instance of the name; an absent one adds nothing.
        if let Some(i) = (0..headers.len())
            .rev()
            .find(|&i| !used[i] && name_of(&headers[i]).eq_ignore_ascii_case(name))
        {
            used[i] = true;
            signed_data.extend_from_slice(relaxed_header(&headers[i]).as_bytes());
            signed_data.extend_from_slice(b"\r\n");
        }
    }
    let without_b: Vec<String> = signature_header
        .split(';')
        .map(|t| match t.split_once('=') {
            Some((name, _)) if name.trim() == "b" => format!("{name}="),
            _ => t.to_owned(),
        })
        .collect();
    signed_data.extend_from_slice(relaxed_header(&without_b.join(";")).as_bytes());

    let signature = BASE64
        .decode(tag(&tags, "b"))
        .map_err(|e| format!("b= is not base64: {e}"))?;
    let verified = match key {
        PublicKey::Rsa(key) => ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            key,
        )
        .verify(&signed_data, &signature)
        .is_ok(),
        // RFC 8463: ed25519 signs the SHA-256 of the data, not the data.
        PublicKey::Ed25519(key) => {
            ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, key)
                .verify(&Sha256::digest(&signed_data), &signature)
                .is_ok()
        }
    };
    if verified {
        Ok(tags)
    } else {
        Err("signature does not verify".into())
    }
}

fn tags_of(signature_header: &str) -> Vec<(String, String)> {
    let value = signature_header
        .split_once(':')
        .map(|(_, value)| value)
        .unwrap_or("");
    value
        .split(';')
        .filter(|t| !t.trim().is_empty())
        .map(|t| {
            let (name, value) = t.split_once('=').unwrap_or((t, ""));
            let value: String = value.chars().filter(|c| !c.is_whitespace()).collect();
            (name.trim().to_owned(), value)
        })
        .collect()
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
