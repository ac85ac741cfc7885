//! The secrets of the provider webhooks (`POST /webhooks/{provider}`): a
//! provider whose secret is not set has no webhook at all (404).

use base64::Engine as _;
use secrecy::SecretString;

use super::{ConfigError, Env};

#[derive(Debug, Clone, Default)]
pub struct WebhookSettings {
    /// `HERALD_SES_TOPIC_ARNS`: the SNS topics whose notifications are taken.
    pub ses_topic_arns: Vec<String>,
    /// `HERALD_POSTMARK_WEBHOOK_CREDENTIALS`: `user:password` of the Basic
    /// auth Postmark sends with each call.
    pub postmark_credentials: Option<SecretString>,
    /// `HERALD_MAILGUN_WEBHOOK_SIGNING_KEY`.
    pub mailgun_signing_key: Option<SecretString>,
    /// `HERALD_SENDGRID_WEBHOOK_PUBLIC_KEY`, as the DER it is the base64 of.
    pub sendgrid_public_key: Option<Vec<u8>>,
    /// TEST HOOK, never read from the environment: an `http://127.0.0.1:PORT`
    /// origin trusted besides `https://sns.<region>.amazonaws.com` for the
    /// SNS signing certificate and subscription confirmations, so that the
    /// tests can serve a certificate of their own.
    pub sns_test_origin: Option<String>,
}

pub(super) fn webhook_settings(env: &Env<'_>) -> Result<WebhookSettings, ConfigError> {
    Ok(WebhookSettings {
        ses_topic_arns: env.with("HERALD_SES_TOPIC_ARNS", "", parse_topic_arns)?,
        postmark_credentials: env.optional("HERALD_POSTMARK_WEBHOOK_CREDENTIALS", |raw| {
            match raw.split_once(':') {
                Some((user, password)) if !user.is_empty() && password.len() >= 16 => {
                    Ok(SecretString::from(raw.to_owned()))
                }
                // The value is never repeated: it is a password.
                _ => Err("must be user:password, the password at least 16 characters".into()),
            }
        })?,
        mailgun_signing_key: env.optional("HERALD_MAILGUN_WEBHOOK_SIGNING_KEY", |raw| {
            if raw.len() < 16 || raw.chars().any(char::is_whitespace) {
                Err("must be the webhook signing key Mailgun shows (no spaces)".into())
            } else {
                Ok(SecretString::from(raw.to_owned()))
            }
        })?,
        sendgrid_public_key: env.optional("HERALD_SENDGRID_WEBHOOK_PUBLIC_KEY", |raw| {
            let der = base64::engine::general_purpose::STANDARD
                .decode(raw)
                .map_err(|e| format!("is not base64 ({e})"))?;
            if crate::webhooks::sendgrid::p256_point(&der).is_none() {
                return Err(
                    "is not an ECDSA P-256 public key (the base64 DER SendGrid shows)".into(),
                );
            }
            Ok(der)
        })?,
        sns_test_origin: None,
    })
}

/// `arn:aws:sns:eu-west-1:123456789012:bounces, …`.
fn parse_topic_arns(raw: &str) -> Result<Vec<String>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|arn| !arn.is_empty())
        .map(|arn| {
            let parts: Vec<&str> = arn.split(':').collect();
            if parts.len() == 6
                && parts[0] == "arn"
                && parts[1].starts_with("aws")
                && parts[2] == "sns"
                && parts.iter().all(|part| !part.is_empty())
            {
                Ok(arn.to_owned())
            } else {
                Err(format!(
                    "{arn:?} is not an SNS topic ARN like arn:aws:sns:eu-west-1:123456789012:bounces"
                ))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::super::Config;

    fn error_of(name: &str, value: &str) -> String {
        let vars = HashMap::from([(name.to_owned(), value.to_owned())]);
        Config::from_vars(&vars)
            .expect_err("a bad value")
            .to_string()
    }

    #[test]
    fn bad_webhook_secrets_name_their_setting_and_never_repeat_it() {
        for (name, value) in [
            ("HERALD_SES_TOPIC_ARNS", "arn:aws:sqs:eu-west-1:1:q"),
            (
                "HERALD_POSTMARK_WEBHOOK_CREDENTIALS",
                "user-without-password",
            ),
            ("HERALD_POSTMARK_WEBHOOK_CREDENTIALS", "user:short-secret"),
            ("HERALD_MAILGUN_WEBHOOK_SIGNING_KEY", "short-secret"),
            (
                "HERALD_SENDGRID_WEBHOOK_PUBLIC_KEY",
                "bm90IGEga2V5IGF0IGFsbA==",
            ),
            ("HERALD_SENDGRID_WEBHOOK_PUBLIC_KEY", "not base64!"),
        ] {
            let error = error_of(name, value);
            assert!(error.starts_with(&format!("{name}: ")), "{error}");
            if name != "HERALD_SES_TOPIC_ARNS" {
                assert!(!error.contains("secret"), "{error}");
            }
        }
    }
}
