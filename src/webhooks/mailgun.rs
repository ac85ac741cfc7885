//! Mailgun: each call carries `signature: {timestamp, token, signature}`,
//! the signature being hex HMAC-SHA256 of timestamp ‖ token under the
//! webhook signing key (Mailgun's "Securing webhooks"). A stale timestamp
//! is refused, and so is a token seen before (the caller records it).
//! Events: `failed` (severity permanent or temporary) and `complained`.

use std::time::Duration;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::Sha256;

use super::{at_most_soft, bad_json, report, Delivery, Parsed, WebhookError};
use crate::bounces::{classify_failure, BounceClass, ProviderEvent};

/// A call signed longer ago (or further ahead) than this is refused: the
/// window a captured call could be replayed in, were its token not kept.
pub const MAX_AGE: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Deserialize)]
struct Call {
    signature: Signature,
    #[serde(rename = "event-data")]
    event_data: EventData,
}

#[derive(Debug, Deserialize)]
struct Signature {
    timestamp: String,
    token: String,
    signature: String,
}

#[derive(Debug, Deserialize)]
struct EventData {
    event: String,
    id: String,
    severity: Option<String>,
    reason: Option<String>,
    recipient: Option<String>,
    message: Option<MessageData>,
    #[serde(rename = "delivery-status")]
    delivery_status: Option<DeliveryStatus>,
}

#[derive(Debug, Deserialize)]
struct MessageData {
    #[serde(default)]
    headers: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct DeliveryStatus {
    code: Option<serde_json::Value>,
    message: Option<String>,
    description: Option<String>,
    #[serde(rename = "enhanced-code")]
    enhanced_code: Option<String>,
}

/// The events of an authenticated call, and its token, which the caller
/// must record to refuse the call replayed.
pub(crate) fn receive(
    key: &SecretString,
    delivery: Delivery<'_>,
    now_millis: i64,
) -> Result<(Parsed, String), WebhookError> {
    let call: Call = serde_json::from_slice(delivery.body).map_err(|error| {
        // Without a readable signature the call is not authenticated either,
        // but a body that is not JSON is the clearer answer to give.
        bad_json(error)
    })?;
    verify(key, &call.signature, now_millis)?;
    let data = &call.event_data;
    let original = data
        .message
        .as_ref()
        .and_then(|message| message.headers.get("message-id"))
        .and_then(|value| value.as_str());
    let events = match data.event.as_str() {
        "failed" => {
            let status = data.delivery_status.as_ref();
            let code = status
                .and_then(|s| s.code.as_ref())
                .map(|code| code.to_string().trim_matches('"').to_owned());
            let words = [
                code.as_deref(),
                status.and_then(|s| s.message.as_deref()),
                status.and_then(|s| s.description.as_deref()),
            ]
            .into_iter()
            .flatten()
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
            let enhanced = status
                .and_then(|s| s.enhanced_code.as_deref())
                .filter(|code| !code.is_empty());
            let (class, status) = classify_failure(enhanced, &words);
            let class = match data.severity.as_deref() {
                // Mailgun no longer sends to an address that bounced hard.
                Some("permanent") if data.reason.as_deref() == Some("suppress-bounce") => {
                    BounceClass::Hard
                }
                Some("permanent") => class,
                _ => at_most_soft(class),
            };
            vec![ProviderEvent {
                provider: "mailgun",
                event_id: data.id.clone(),
                report: report(
                    class,
                    data.recipient.as_deref(),
                    status,
                    Some(words),
                    original,
                ),
            }]
        }
        "complained" => vec![ProviderEvent {
            provider: "mailgun",
            event_id: data.id.clone(),
            report: report(
                BounceClass::Complaint,
                data.recipient.as_deref(),
                None,
                Some("complained (Mailgun)".into()),
                original,
            ),
        }],
        _ => Vec::new(),
    };
    Ok((Parsed::Events(events), call.signature.token))
}

fn verify(key: &SecretString, signature: &Signature, now_millis: i64) -> Result<(), WebhookError> {
    let expected = hex_decode(&signature.signature)
        .ok_or(WebhookError::Unauthenticated("the signature is not hex"))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(key.expose_secret().as_bytes())
        .map_err(|_| WebhookError::Unauthenticated("the signing key is unusable"))?;
    mac.update(signature.timestamp.as_bytes());
    mac.update(signature.token.as_bytes());
    // verify_slice compares in constant time.
    mac.verify_slice(&expected)
        .map_err(|_| WebhookError::Unauthenticated("the signature does not verify"))?;
    let signed_at: i64 = signature
        .timestamp
        .parse()
        .map_err(|_| WebhookError::Refused("the timestamp is not a number".into()))?;
    let age = (now_millis / 1000).saturating_sub(signed_at).unsigned_abs();
    if age > MAX_AGE.as_secs() {
        return Err(WebhookError::Refused(
            "the signature's timestamp is too old or in the future".into(),
        ));
    }
    Ok(())
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    data_encoding::HEXLOWER_PERMISSIVE
        .decode(text.as_bytes())
        .ok()
}
