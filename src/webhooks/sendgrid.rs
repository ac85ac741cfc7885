//! SendGrid's Signed Event Webhook: an ECDSA P-256 signature (base64 DER)
//! over the timestamp header ‖ the raw body, with the public key SendGrid
//! shows (base64 DER), in `X-Twilio-Email-Event-Webhook-Signature` and
//! `-Timestamp`. The body is a JSON array of events: `bounce` (type bounce
//! or blocked), `dropped` for a bounced address, and `spamreport`.

use base64::Engine as _;
use serde::Deserialize;

use super::{at_most_soft, bad_json, report, Delivery, Parsed, WebhookError};
use crate::bounces::{classify_failure, BounceClass, ProviderEvent};

/// The SubjectPublicKeyInfo of every P-256 key with an uncompressed point:
/// SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING (65 bytes) }.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The point of a P-256 public key given as SubjectPublicKeyInfo DER.
pub fn p256_point(der: &[u8]) -> Option<&[u8]> {
    let point = der.strip_prefix(P256_SPKI_PREFIX.as_slice())?;
    (point.len() == 65 && point[0] == 0x04).then_some(point)
}

#[derive(Debug, Deserialize)]
struct Event {
    email: Option<String>,
    event: String,
    sg_event_id: Option<String>,
    #[serde(rename = "smtp-id")]
    smtp_id: Option<String>,
    reason: Option<String>,
    status: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

pub(crate) fn receive(public_key: &[u8], delivery: Delivery<'_>) -> Result<Parsed, WebhookError> {
    let (Some(signature), Some(timestamp)) = (delivery.signature, delivery.timestamp) else {
        return Err(WebhookError::Unauthenticated(
            "the X-Twilio-Email-Event-Webhook-Signature and -Timestamp headers are required",
        ));
    };
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|_| WebhookError::Unauthenticated("the signature is not base64"))?;
    let point = p256_point(public_key).ok_or(WebhookError::Unauthenticated(
        "the configured key is not a P-256 key",
    ))?;
    let mut signed = Vec::with_capacity(timestamp.len() + delivery.body.len());
    signed.extend_from_slice(timestamp.as_bytes());
    signed.extend_from_slice(delivery.body);
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, point)
        .verify(&signed, &signature)
        .map_err(|_| WebhookError::Unauthenticated("the signature does not verify"))?;

    let events: Vec<Event> = serde_json::from_slice(delivery.body).map_err(bad_json)?;
    let mut found = Vec::new();
    for event in &events {
        let class = match (event.event.as_str(), event.kind.as_deref()) {
            ("spamreport", _) => BounceClass::Complaint,
            ("bounce", kind) => {
                let (class, _) = classify_failure(
                    event.status.as_deref(),
                    event.reason.as_deref().unwrap_or_default(),
                );
                // "blocked" is SendGrid's word for a refusal it retries
                // or puts down to reputation: never the reader's fault.
                if kind == Some("blocked") {
                    at_most_soft(class)
                } else {
                    class
                }
            }
            // SendGrid keeps the address on its own bounce list.
            ("dropped", _) if event.reason.as_deref() == Some("Bounced Address") => {
                BounceClass::Hard
            }
            _ => continue,
        };
        let Some(event_id) = event.sg_event_id.as_deref().filter(|id| !id.is_empty()) else {
            return Err(WebhookError::BadRequest(format!(
                "a {} event has no sg_event_id",
                event.event
            )));
        };
        let status = match class {
            BounceClass::Complaint => None,
            _ => {
                classify_failure(
                    event.status.as_deref(),
                    event.reason.as_deref().unwrap_or_default(),
                )
                .1
            }
        };
        let diagnostic = match class {
            BounceClass::Complaint => Some("spamreport (SendGrid)".to_owned()),
            _ => event.reason.clone(),
        };
        found.push(ProviderEvent {
            provider: "sendgrid",
            event_id: event_id.to_owned(),
            report: report(
                class,
                event.email.as_deref(),
                status,
                diagnostic,
                event.smtp_id.as_deref(),
            ),
        });
    }
    Ok(Parsed::Events(found))
}
