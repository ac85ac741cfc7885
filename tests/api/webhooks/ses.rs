//! Amazon SES through SNS: real RSA signatures (SignatureVersion 1 and 2)
//! checked against a certificate made here (rcgen) and served by a local
//! server, which the app trusts through its test-only hook
//! (`WebhookSettings::sns_test_origin`); production trusts only
//! https://sns.<region>.amazonaws.com.
//!
//! ring can neither generate RSA keys nor sign with SHA-1, so the key is a
//! fixture (`openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`)
//! and so is the one SignatureVersion 1 signature, of the complaint below
//! (`openssl dgst -sha1 -sign sns-test-key.pem` over its canonical string);
//! every other signature is made here with ring.

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{
    confirmed_both, outcomes, post, statuses, two_readers_sent_an_issue, READER_1, READER_2,
};
use crate::on_both_databases;
use crate::support::{Backend, TestApp};

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:herald-bounces";
const KEY_PEM: &str = include_str!("../../fixtures/webhooks/sns-test-key.pem");
const V1_SIGNATURE: &str = include_str!("../../fixtures/webhooks/sns-v1-complaint.sig");
const V1_CANONICAL: &str = include_str!("../../fixtures/webhooks/sns-v1-complaint.canonical");

/// A local HTTP server: the certificate at /cert.pem, and a record of every
/// path asked for (the subscription confirmation among them).
struct CertificateServer {
    origin: String,
    requests: Arc<Mutex<Vec<String>>>,
}

async fn certificate_server(pem: String) -> CertificateServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let origin = format!("http://{}", listener.local_addr().expect("an address"));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buffer = vec![0u8; 8192];
            let read = socket.read(&mut buffer).await.unwrap_or(0);
            let request = String::from_utf8_lossy(&buffer[..read]).to_string();
            let path = request
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_owned();
            seen.lock().expect("the record").push(path.clone());
            let body = if path == "/cert.pem" {
                pem.clone()
            } else {
                "<ConfirmSubscriptionResponse/>".to_owned()
            };
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
        }
    });
    CertificateServer { origin, requests }
}

struct Signer {
    key: ring::signature::RsaKeyPair,
}

impl Signer {
    fn new() -> (Self, String) {
        let key_pair = rcgen::KeyPair::from_pem(KEY_PEM).expect("the fixture key");
        let params =
            rcgen::CertificateParams::new(vec!["sns.amazonaws.test".to_owned()]).expect("params");
        let certificate = params.self_signed(&key_pair).expect("a certificate");
        let key =
            ring::signature::RsaKeyPair::from_pkcs8(&key_pair.serialize_der()).expect("an RSA key");
        (Self { key }, certificate.pem())
    }

    /// `message` with its SNS signature over the canonical string.
    fn sign(&self, mut message: Value, version: &str) -> String {
        let fields: &[&str] = if message["Type"] == "Notification" {
            &[
                "Message",
                "MessageId",
                "Subject",
                "Timestamp",
                "TopicArn",
                "Type",
            ]
        } else {
            &[
                "Message",
                "MessageId",
                "SubscribeURL",
                "Timestamp",
                "Token",
                "TopicArn",
                "Type",
            ]
        };
        let canonical: String = fields
            .iter()
            .filter_map(|name| Some(format!("{name}\n{}\n", message[*name].as_str()?)))
            .collect();
        let signature = if version == "1" {
            assert_eq!(
                canonical, V1_CANONICAL,
                "the SHA-1 fixture signs this very string"
            );
            V1_SIGNATURE.trim().to_owned()
        } else {
            let mut signature = vec![0u8; self.key.public().modulus_len()];
            self.key
                .sign(
                    &ring::signature::RSA_PKCS1_SHA256,
                    &ring::rand::SystemRandom::new(),
                    canonical.as_bytes(),
                    &mut signature,
                )
                .expect("a signature");
            base64::engine::general_purpose::STANDARD.encode(&signature)
        };
        message["SignatureVersion"] = json!(version);
        message["Signature"] = json!(signature);
        message.to_string()
    }
}

/// The SNS envelope of AWS's example, around `message`.
fn notification(id: &str, topic: &str, cert_url: &str, message: &Value) -> Value {
    json!({
        "Type": "Notification",
        "MessageId": id,
        "TopicArn": topic,
        "Message": message.to_string(),
        "Timestamp": "2026-11-29T05:00:00.000Z",
        "SigningCertURL": cert_url,
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"
    })
}

/// SES's bounce notification example, about `email`.
fn ses_bounce(email: &str, message_id: &str) -> Value {
    json!({
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [{
                "emailAddress": email,
                "action": "failed",
                "status": "5.1.1",
                "diagnosticCode": "smtp; 550 5.1.1 user unknown"
            }],
            "timestamp": "2026-11-29T04:59:00.000Z",
            "feedbackId": "000001378603176d-5a4b5ad9-6f30-4198-a8c3-b1eb0c270a1d-000000",
            "remoteMtaIp": "127.0.2.0",
            "reportingMTA": "dsn; a8-70.smtp-out.amazonses.com"
        },
        "mail": {
            "timestamp": "2026-11-29T04:58:00.000Z",
            "source": "news@news.example.org",
            "messageId": "00000137860315fd-34208509-5b74-41f3-95c5-22c1edc3c924-000000",
            "destination": [email],
            "commonHeaders": {
                "from": ["The Weekly <news@news.example.org>"],
                "to": [email],
                "messageId": message_id,
                "subject": "Webhooks"
            }
        }
    })
}

/// SES's complaint notification example, about `email`.
fn ses_complaint(email: &str) -> Value {
    json!({
        "notificationType": "Complaint",
        "complaint": {
            "userAgent": "AnyCompany Feedback Loop (V0.01)",
            "complainedRecipients": [{"emailAddress": email}],
            "complaintFeedbackType": "abuse",
            "arrivalDate": "2026-11-29T04:59:00.000Z",
            "timestamp": "2026-11-29T05:00:00.000Z",
            "feedbackId": "000001378603177f-18c07c78-fa81-4a58-9dd1-fedc3cb8f49a-000000"
        },
        "mail": {
            "timestamp": "2026-11-29T04:58:00.000Z",
            "source": "news@news.example.org",
            "messageId": "000001378603177f-7a5433e7-8edb-42ae-af10-f0181f34d6ee-000000",
            "destination": [email],
            "commonHeaders": {"messageId": "<unknown@elsewhere.example>"}
        }
    })
}

async fn ses_notifications_are_verified_against_the_sns_certificate(backend: Backend) {
    let (signer, pem) = Signer::new();
    let server = certificate_server(pem).await;
    let origin = server.origin.clone();
    let app = TestApp::spawn_with(backend, |config| {
        config.webhooks.ses_topic_arns = vec![TOPIC.to_owned()];
        config.webhooks.sns_test_origin = Some(origin);
    })
    .await;
    let (copy_1, _) = two_readers_sent_an_issue(&app).await;
    let cert_url = format!("{}/cert.pem", server.origin);

    // The subscription is confirmed by fetching SubscribeURL.
    let confirmation = json!({
        "Type": "SubscriptionConfirmation",
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37f",
        "TopicArn": TOPIC,
        "Message": "You have chosen to subscribe to the topic. To confirm, visit the SubscribeURL.",
        "SubscribeURL": format!("{}/?Action=ConfirmSubscription&Token=2336412f37f", server.origin),
        "Timestamp": "2026-11-29T05:00:00.000Z",
        "SigningCertURL": cert_url,
    });
    let (status, answer) = post(&app, "ses", &[], signer.sign(confirmation, "2")).await;
    assert_eq!(status, 200, "{answer}");
    assert!(server
        .requests
        .lock()
        .expect("the record")
        .iter()
        .any(|path| path.starts_with("/?Action=ConfirmSubscription&Token=2336412f37f")));

    let bounce = ses_bounce(READER_1, &copy_1);
    // Signed, then changed: refused.
    let signed = signer.sign(notification("n-1", TOPIC, &cert_url, &bounce), "2");
    let forged = signed.replace(READER_1, READER_2);
    assert_eq!(post(&app, "ses", &[], forged).await.0, 401);
    // Genuinely signed, but from another topic, or a certificate off AWS.
    let other_topic = "arn:aws:sns:us-east-1:123456789012:someone-else";
    let elsewhere = signer.sign(notification("n-2", other_topic, &cert_url, &bounce), "2");
    assert_eq!(post(&app, "ses", &[], elsewhere).await.0, 403);
    let off_aws = signer.sign(
        notification(
            "n-3",
            TOPIC,
            "https://sns.us-east-1.amazonaws.com.evil.example/cert.pem",
            &bounce,
        ),
        "2",
    );
    assert_eq!(post(&app, "ses", &[], off_aws).await.0, 403);
    assert_eq!(post(&app, "ses", &[], "{\"Type\": 1}").await.0, 400);
    assert_eq!(statuses(&app).await, confirmed_both());

    let (status, answer) = post(&app, "ses", &[], signed.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        outcomes(&answer),
        vec![format!(
            "hard bounce: {READER_1} bounced (5.1.1 550 5.1.1 user unknown)"
        )]
    );
    let (_, again) = post(&app, "ses", &[], signed).await;
    assert_eq!(outcomes(&again), vec!["duplicate: already handled"]);

    // SignatureVersion 1; attributed by its recipient, whom Herald mailed.
    let complaint = signer.sign(
        notification("n-4", TOPIC, &cert_url, &ses_complaint(READER_2)),
        "1",
    );
    let (status, answer) = post(&app, "ses", &[], complaint).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        statuses(&app).await,
        (Some("bounced".into()), Some("unsubscribed".into()))
    );
    let fetched = server.requests.lock().expect("the record").clone();
    assert_eq!(
        fetched.iter().filter(|path| *path == "/cert.pem").count(),
        1,
        "the certificate is fetched once: {fetched:?}"
    );
}

on_both_databases!(ses_notifications_are_verified_against_the_sns_certificate);
