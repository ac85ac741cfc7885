//! Postmark: the credentials of the webhook URL
//! (`https://user:password@news.example.org/webhooks/postmark`, Postmark's
//! documented way) arrive as Basic auth on each call; Bounce and
//! SpamComplaint records, one per call.

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::{bad_json, report, Delivery, Parsed, WebhookError};
use crate::bounces::{classify_failure, BounceClass, ProviderEvent};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Record {
    record_type: String,
    #[serde(rename = "ID")]
    id: serde_json::Value,
    #[serde(rename = "Type")]
    kind: Option<String>,
    type_code: Option<i64>,
    email: Option<String>,
    details: Option<String>,
    description: Option<String>,
    #[serde(default)]
    headers: Vec<Header>,
    #[serde(default)]
    metadata: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Header {
    name: String,
    value: String,
}

pub(crate) fn receive(
    credentials: &SecretString,
    delivery: Delivery<'_>,
) -> Result<Parsed, WebhookError> {
    authenticate(credentials, delivery.authorization)?;
    let record: Record = serde_json::from_slice(delivery.body).map_err(bad_json)?;
    let id = match &record.id {
        serde_json::Value::Number(number) => number.to_string(),
        serde_json::Value::String(text) if !text.is_empty() => text.clone(),
        _ => return Err(WebhookError::BadRequest("the record has no ID".into())),
    };
    let original = record
        .headers
        .iter()
        .find(|header| header.name.eq_ignore_ascii_case("Message-ID"))
        .map(|header| header.value.as_str())
        .or_else(|| {
            record
                .metadata
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("message-id"))
                .and_then(|(_, value)| value.as_str())
        });
    let kind = record.kind.as_deref().unwrap_or_default();
    let class = match record.record_type.as_str() {
        "SpamComplaint" => Some(BounceClass::Complaint),
        "Bounce" => class_of(kind, record.type_code),
        _ => None,
    };
    let Some(class) = class else {
        return Ok(Parsed::Events(Vec::new()));
    };
    let (class, status) = match class {
        BounceClass::Complaint => (class, None),
        _ => {
            // Postmark's Details carry the remote server's words and codes.
            let words = record.details.as_deref().unwrap_or_default();
            let (by_codes, status) = classify_failure(None, words);
            match (class, status) {
                (BounceClass::Hard | BounceClass::Soft | BounceClass::Policy, Some(status)) => {
                    (capped(class, by_codes), Some(status))
                }
                (class, status) => (class, status),
            }
        }
    };
    let diagnostic = match class {
        BounceClass::Complaint => Some(format!("{} (Postmark)", record.record_type)),
        _ => record.details.clone().or(record.description.clone()),
    };
    Ok(Parsed::Events(vec![ProviderEvent {
        provider: "postmark",
        event_id: format!("{}:{id}", record.record_type),
        report: report(class, record.email.as_deref(), status, diagnostic, original),
    }]))
}

/// What Postmark's bounce type says, before any code in its Details.
fn class_of(kind: &str, type_code: Option<i64>) -> Option<BounceClass> {
    Some(match (kind, type_code) {
        ("HardBounce" | "BadEmailAddress", _) | (_, Some(1 | 100_000)) => BounceClass::Hard,
        ("SoftBounce" | "Transient" | "DnsError", _) | (_, Some(2 | 256 | 4096)) => {
            BounceClass::Soft
        }
        ("SpamNotification" | "Blocked" | "DMARCPolicy", _)
        | (_, Some(512 | 100_006 | 100_009)) => BounceClass::Policy,
        ("AutoResponder", _) | (_, Some(64)) => BounceClass::AutoReply,
        ("SpamComplaint", _) | (_, Some(100_001)) => BounceClass::Complaint,
        _ => return None,
    })
}

/// A bounce type that says temporary is never made hard by a code; a code
/// that says policy or temporary makes a "hard" type softer.
fn capped(by_type: BounceClass, by_codes: BounceClass) -> BounceClass {
    match (by_type, by_codes) {
        (BounceClass::Hard, codes) => codes,
        (_, BounceClass::Hard) => by_type,
        (_, codes) => codes,
    }
}

/// `Authorization: Basic base64(user:password)`, compared in constant time.
fn authenticate(
    credentials: &SecretString,
    authorization: Option<&str>,
) -> Result<(), WebhookError> {
    let given = authorization
        .and_then(|value| {
            let (scheme, encoded) = value.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("basic").then(|| {
                base64::engine::general_purpose::STANDARD
                    .decode(encoded.trim())
                    .ok()
            })?
        })
        .ok_or(WebhookError::Unauthenticated(
            "Basic credentials are required",
        ))?;
    let expected = credentials.expose_secret().as_bytes();
    if bool::from(given.ct_eq(expected)) {
        Ok(())
    } else {
        Err(WebhookError::Unauthenticated("the credentials are wrong"))
    }
}
