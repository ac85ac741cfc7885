//! SendGrid's Signed Event Webhook: ECDSA P-256 over timestamp ‖ body.

use base64::Engine as _;
use rcgen::PublicKeyData;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use serde_json::json;

use super::{
    confirmed_both, outcomes, post, statuses, two_readers_sent_an_issue, READER_1, READER_2,
};
use crate::on_both_databases;
use crate::support::{Backend, TestApp};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

struct Signer {
    key: EcdsaKeyPair,
    /// The verification key as SendGrid shows it: base64 of the SPKI DER.
    public: String,
}

fn signer() -> Signer {
    let generated =
        rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("a P-256 key");
    let rng = ring::rand::SystemRandom::new();
    let key = EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_ASN1_SIGNING,
        &generated.serialize_der(),
        &rng,
    )
    .expect("the key in PKCS#8");
    Signer {
        key,
        public: B64.encode(generated.subject_public_key_info()),
    }
}

impl Signer {
    fn headers(&self, timestamp: &str, body: &str) -> Vec<(&'static str, String)> {
        let rng = ring::rand::SystemRandom::new();
        let signature = self
            .key
            .sign(&rng, format!("{timestamp}{body}").as_bytes())
            .expect("a signature");
        vec![
            (
                "X-Twilio-Email-Event-Webhook-Signature",
                B64.encode(signature.as_ref()),
            ),
            (
                "X-Twilio-Email-Event-Webhook-Timestamp",
                timestamp.to_owned(),
            ),
        ]
    }
}

/// SendGrid's event webhook examples: a bounce with Herald's Message-ID as
/// its smtp-id, a spam report, and a delivery (nothing to do).
fn events(copy_1: &str) -> String {
    json!([
        {
            "email": READER_1,
            "timestamp": 1513299569,
            "smtp-id": copy_1,
            "event": "bounce",
            "category": "cat facts",
            "sg_event_id": "6g4ZI7SA-xmRDv57GoPIPw==",
            "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
            "reason": "550 5.1.1 The email account that you tried to reach does not exist.",
            "status": "5.1.1",
            "type": "bounce"
        },
        {
            "email": READER_2,
            "timestamp": 1513299569,
            "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
            "event": "spamreport",
            "category": "cat facts",
            "sg_event_id": "37nvH5QBz858KGVYCM4uOA==",
            "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"
        },
        {
            "email": READER_2,
            "timestamp": 1513299569,
            "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
            "event": "delivered",
            "category": "cat facts",
            "sg_event_id": "rWVYmVk90MjZJ9iohOBa3w==",
            "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
            "response": "250 OK"
        }
    ])
    .to_string()
}

async fn sendgrid_signed_events_bounce_and_unsubscribe(backend: Backend) {
    let signer = signer();
    let app = TestApp::spawn_with(backend, |config| {
        config.webhooks.sendgrid_public_key = Some(B64.decode(&signer.public).expect("base64"));
    })
    .await;
    let (copy_1, _) = two_readers_sent_an_issue(&app).await;
    let body = events(&copy_1);
    let timestamp = "1600112502";

    assert_eq!(
        post(&app, "sendgrid", &[], body.clone()).await.0,
        401,
        "unsigned"
    );
    let other = signer_headers_for_other_body(&signer, timestamp, &body);
    assert_eq!(
        post(&app, "sendgrid", &other, body.clone()).await.0,
        401,
        "signed another body"
    );
    let wrong_time = signer.headers("1600112503", &body);
    let mut wrong_time = wrong_time;
    wrong_time[1].1 = timestamp.to_owned();
    assert_eq!(
        post(&app, "sendgrid", &wrong_time, body.clone()).await.0,
        401,
        "another timestamp"
    );
    assert_eq!(statuses(&app).await, confirmed_both());

    let headers = signer.headers(timestamp, &body);
    let (status, answer) = post(&app, "sendgrid", &headers, body.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        outcomes(&answer),
        vec![
            format!(
                "hard bounce: {READER_1} bounced (5.1.1 550 5.1.1 The email account that you tried to reach does not exist.)"
            ),
            format!("complaint: {READER_2} unsubscribed (spamreport (SendGrid))"),
        ]
    );
    assert_eq!(
        statuses(&app).await,
        (Some("bounced".into()), Some("unsubscribed".into()))
    );
    let (_, again) = post(&app, "sendgrid", &headers, body).await;
    assert_eq!(
        outcomes(&again),
        vec!["duplicate: already handled", "duplicate: already handled"]
    );

    let garbage = "[{\"event\": ";
    let headers = signer.headers(timestamp, garbage);
    assert_eq!(post(&app, "sendgrid", &headers, garbage).await.0, 400);
}

/// Headers signing a body one byte off the one sent.
fn signer_headers_for_other_body(
    signer: &Signer,
    timestamp: &str,
    body: &str,
) -> Vec<(&'static str, String)> {
    signer.headers(timestamp, &body.replace("5.1.1", "5.1.2"))
}

on_both_databases!(sendgrid_signed_events_bounce_and_unsubscribe);
