//! Amazon SES through SNS: each notification is signed by SNS with the key
//! of the certificate at its `SigningCertURL`, which must be served over
//! https by `sns.<region>.amazonaws.com` (or `.amazonaws.com.cn`), and its
//! topic must be one of `HERALD_SES_TOPIC_ARNS`. The signature is checked
//! over the canonical string AWS documents ("Verifying the signatures of
//! Amazon SNS messages"): SignatureVersion 1 is SHA1withRSA, 2 SHA256withRSA.

use base64::Engine as _;
use rustls_pki_types::{
    alg_id, AlgorithmIdentifier, CertificateDer, InvalidSignature, SignatureVerificationAlgorithm,
};
use serde::Deserialize;
use url::Url;

use super::{at_most_soft, bad_json, report, Delivery, Parsed, WebhookError, Webhooks};
use crate::bounces::{classify_failure, BounceClass, ProviderEvent};

/// The SNS envelope (`x-amz-sns-message-type` says the same as `Type`).
#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(rename = "MessageId")]
    message_id: String,
    #[serde(rename = "TopicArn")]
    topic_arn: String,
    #[serde(rename = "Subject")]
    subject: Option<String>,
    #[serde(rename = "Message")]
    message: String,
    #[serde(rename = "Timestamp")]
    timestamp: String,
    #[serde(rename = "SignatureVersion")]
    signature_version: String,
    #[serde(rename = "Signature")]
    signature: String,
    #[serde(rename = "SigningCertURL")]
    signing_cert_url: String,
    #[serde(rename = "SubscribeURL")]
    subscribe_url: Option<String>,
    #[serde(rename = "Token")]
    token: Option<String>,
}

pub(crate) async fn receive(
    webhooks: &Webhooks,
    delivery: Delivery<'_>,
) -> Result<Parsed, WebhookError> {
    let settings = webhooks.settings();
    if settings.ses_topic_arns.is_empty() {
        return Err(WebhookError::NotConfigured);
    }
    let envelope: Envelope = serde_json::from_slice(delivery.body).map_err(bad_json)?;
    if !settings.ses_topic_arns.contains(&envelope.topic_arn) {
        return Err(WebhookError::Refused(
            "the notification is from an SNS topic not in HERALD_SES_TOPIC_ARNS".into(),
        ));
    }
    let test_origin = settings.sns_test_origin.as_deref();
    let certificate_url = sns_url(&envelope.signing_cert_url, test_origin)
        .filter(|url| url.path().ends_with(".pem"))
        .ok_or_else(|| {
            WebhookError::Refused("the signing certificate is not on an SNS host of AWS".into())
        })?;
    let algorithm: &dyn SignatureVerificationAlgorithm = match envelope.signature_version.as_str() {
        "1" => &RSA_PKCS1_SHA1,
        "2" => webpki::ring::RSA_PKCS1_2048_8192_SHA256,
        _ => return Err(WebhookError::Unauthenticated("unknown SignatureVersion")),
    };
    let signature = base64::engine::general_purpose::STANDARD
        .decode(envelope.signature.trim())
        .map_err(|_| WebhookError::Unauthenticated("the Signature is not base64"))?;
    let canonical = canonical_string(&envelope).ok_or(WebhookError::BadRequest(
        "the notification lacks a field its type signs".into(),
    ))?;
    let der = webhooks.certificate(&certificate_url).await?;
    let certificate = CertificateDer::from(der.as_slice());
    let certificate =
        webpki::EndEntityCert::try_from(&certificate).map_err(|_| WebhookError::Fetch {
            what: "the SNS signing certificate",
            problem: "it cannot be parsed".into(),
        })?;
    certificate
        .verify_signature(algorithm, canonical.as_bytes(), &signature)
        .map_err(|_| WebhookError::Unauthenticated("the SNS signature does not verify"))?;

    match envelope.kind.as_str() {
        "SubscriptionConfirmation" => {
            let url = envelope
                .subscribe_url
                .as_deref()
                .and_then(|raw| sns_url(raw, test_origin))
                .ok_or_else(|| {
                    WebhookError::Refused("the SubscribeURL is not on an SNS host of AWS".into())
                })?;
            Ok(Parsed::ConfirmSubscription(url))
        }
        "Notification" => Ok(Parsed::Events(events(&envelope)?)),
        _ => Ok(Parsed::Nothing),
    }
}

/// `Name\nvalue\n` for each signed field, in the order AWS documents.
fn canonical_string(envelope: &Envelope) -> Option<String> {
    let mut fields: Vec<(&str, &str)> = vec![
        ("Message", &envelope.message),
        ("MessageId", &envelope.message_id),
    ];
    match envelope.kind.as_str() {
        "Notification" => {
            if let Some(subject) = &envelope.subject {
                fields.push(("Subject", subject));
            }
            fields.push(("Timestamp", &envelope.timestamp));
            fields.push(("TopicArn", &envelope.topic_arn));
        }
        _ => {
            fields.push(("SubscribeURL", envelope.subscribe_url.as_deref()?));
            fields.push(("Timestamp", &envelope.timestamp));
            fields.push(("Token", envelope.token.as_deref()?));
            fields.push(("TopicArn", &envelope.topic_arn));
        }
    }
    fields.push(("Type", &envelope.kind));
    Some(
        fields
            .iter()
            .map(|(name, value)| format!("{name}\n{value}\n"))
            .collect(),
    )
}

/// `raw` when it is an https URL on `sns.<region>.amazonaws.com` (or
/// `.amazonaws.com.cn`) with no port or credentials of its own; or, in the
/// tests only, on `test_origin`.
fn sns_url(raw: &str, test_origin: Option<&str>) -> Option<Url> {
    let url = Url::parse(raw).ok()?;
    if let Some(origin) = test_origin {
        if url.origin().ascii_serialization() == origin {
            return Some(url);
        }
    }
    let host = url.host_str()?;
    let region = host
        .strip_suffix(".amazonaws.com")
        .or_else(|| host.strip_suffix(".amazonaws.com.cn"))?
        .strip_prefix("sns.")?;
    let region_ok = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    (url.scheme() == "https"
        && region_ok
        && url.port().is_none()
        && url.username().is_empty()
        && url.password().is_none())
    .then_some(url)
}

/// The DER of the first certificate in `pem`.
pub(crate) fn pem_to_der(pem: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(pem).ok()?;
    let start = text.find("-----BEGIN CERTIFICATE-----")? + "-----BEGIN CERTIFICATE-----".len();
    let end = start + text[start..].find("-----END CERTIFICATE-----")?;
    let base64: String = text[start..end].split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(base64)
        .ok()
}

/// SignatureVersion 1: SHA1withRSA, which webpki rightly offers no more for
/// certificates, but SNS still signs with unless the topic asks for 2.
#[derive(Debug)]
struct RsaPkcs1Sha1;

static RSA_PKCS1_SHA1: RsaPkcs1Sha1 = RsaPkcs1Sha1;

impl SignatureVerificationAlgorithm for RsaPkcs1Sha1 {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            public_key,
        )
        .verify(message, signature)
        .map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::RSA_ENCRYPTION
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        // sha1WithRSAEncryption (1.2.840.113549.1.1.5) with NULL parameters.
        AlgorithmIdentifier::from_slice(&[
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00,
        ])
    }
}

/// SES's notification (`notificationType`) or event (`eventType`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    notification_type: Option<String>,
    event_type: Option<String>,
    bounce: Option<Bounce>,
    complaint: Option<Complaint>,
    mail: Option<Mail>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bounce {
    bounce_type: String,
    bounce_sub_type: Option<String>,
    bounced_recipients: Vec<Recipient>,
    feedback_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recipient {
    email_address: String,
    status: Option<String>,
    diagnostic_code: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Complaint {
    complained_recipients: Vec<Recipient>,
    feedback_id: Option<String>,
    complaint_feedback_type: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Mail {
    common_headers: Option<CommonHeaders>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommonHeaders {
    message_id: Option<String>,
}

/// One event per recipient of a Bounce or Complaint; nothing for the rest
/// (Delivery, Send, Open…).
fn events(envelope: &Envelope) -> Result<Vec<ProviderEvent>, WebhookError> {
    let notification: Notification = serde_json::from_str(&envelope.message).map_err(|e| {
        WebhookError::BadRequest(format!("the SNS Message is not an SES notification: {e}"))
    })?;
    let original = notification
        .mail
        .as_ref()
        .and_then(|mail| mail.common_headers.as_ref())
        .and_then(|headers| headers.message_id.as_deref());
    let kind = notification
        .notification_type
        .as_deref()
        .or(notification.event_type.as_deref())
        .unwrap_or_default();
    let event_id = |feedback: Option<&String>, n: usize| {
        format!("{}:{n}", feedback.unwrap_or(&envelope.message_id))
    };
    let mut events = Vec::new();
    match (kind, &notification.bounce, &notification.complaint) {
        ("Bounce", Some(bounce), _) => {
            for (n, recipient) in bounce.bounced_recipients.iter().enumerate() {
                let diagnostic = recipient.diagnostic_code.clone().map(|code| {
                    code.split_once(';')
                        .map_or(code.as_str(), |(_, words)| words)
                        .trim()
                        .to_owned()
                });
                let (class, status) = classify_failure(
                    recipient.status.as_deref(),
                    diagnostic.as_deref().unwrap_or_default(),
                );
                let class = match bounce.bounce_type.as_str() {
                    // SES names the address dead itself, or has it on its
                    // suppression list for an earlier hard bounce.
                    "Permanent"
                        if status.is_none()
                            && matches!(
                                bounce.bounce_sub_type.as_deref(),
                                Some("NoEmail" | "Suppressed" | "OnAccountSuppressionList")
                            ) =>
                    {
                        BounceClass::Hard
                    }
                    "Permanent" => class,
                    _ => at_most_soft(class),
                };
                events.push(ProviderEvent {
                    provider: "ses",
                    event_id: event_id(bounce.feedback_id.as_ref(), n),
                    report: report(
                        class,
                        Some(&recipient.email_address),
                        status,
                        diagnostic,
                        original,
                    ),
                });
            }
        }
        ("Complaint", _, Some(complaint)) => {
            let feedback_type = complaint.complaint_feedback_type.as_deref();
            if matches!(feedback_type, Some("not-spam")) {
                return Ok(events);
            }
            for (n, recipient) in complaint.complained_recipients.iter().enumerate() {
                events.push(ProviderEvent {
                    provider: "ses",
                    event_id: event_id(complaint.feedback_id.as_ref(), n),
                    report: report(
                        BounceClass::Complaint,
                        Some(&recipient.email_address),
                        None,
                        Some(format!(
                            "feedback-type {}",
                            feedback_type.unwrap_or("abuse")
                        )),
                        original,
                    ),
                });
            }
        }
        _ => {}
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_sns_hosts_of_aws_are_trusted() {
        for good in [
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem",
        ] {
            assert!(sns_url(good, None).is_some(), "{good}");
        }
        for bad in [
            "http://sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com.evil.example/x.pem",
            "https://evil.example/sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com:8443/x.pem",
            "https://user@sns.us-east-1.amazonaws.com/x.pem",
            "https://s3.amazonaws.com/x.pem",
            "https://sns..amazonaws.com/x.pem",
            "https://sns.EVIL_HOST.amazonaws.com/x.pem",
            "http://127.0.0.1:8080/x.pem",
            "not a url",
        ] {
            assert!(sns_url(bad, None).is_none(), "{bad}");
        }
        assert!(sns_url("http://127.0.0.1:8080/x.pem", Some("http://127.0.0.1:8080")).is_some());
        assert!(sns_url("http://127.0.0.1:8081/x.pem", Some("http://127.0.0.1:8080")).is_none());
    }
}
