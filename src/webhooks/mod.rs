//! Provider webhooks, `POST /webhooks/{provider}`: bounce and complaint
//! events that Amazon SES (through SNS), Postmark, Mailgun and SendGrid post,
//! each authenticated the way its provider documents (never an open
//! endpoint), read into reports and handed to bounce intake, once each.

pub mod mailgun;
pub mod postmark;
mod queries;
pub mod sendgrid;
pub mod ses;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::bounces::{BounceClass, Intake, Outcome, ProviderEvent, Report};
use crate::config::WebhookSettings;
use crate::store::Store;

/// A provider's batch is a few kilobytes per event; SendGrid posts up to a
/// thousand events at once. Anything larger is refused before it is read.
pub const MAX_BODY_SIZE: usize = 2 * 1024 * 1024;

/// How long a fetch of the SNS certificate or subscription URL may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest SNS signing certificate read (they are about 2 KB).
const MAX_CERTIFICATE_SIZE: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Ses,
    Postmark,
    Mailgun,
    Sendgrid,
}

impl Provider {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "ses" => Some(Self::Ses),
            "postmark" => Some(Self::Postmark),
            "mailgun" => Some(Self::Mailgun),
            "sendgrid" => Some(Self::Sendgrid),
            _ => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Ses => "ses",
            Self::Postmark => "postmark",
            Self::Mailgun => "mailgun",
            Self::Sendgrid => "sendgrid",
        }
    }
}

/// One call as it arrived: the headers the providers authenticate with,
/// and the body unread.
#[derive(Debug, Clone, Copy, Default)]
pub struct Delivery<'a> {
    pub authorization: Option<&'a str>,
    /// SendGrid's `X-Twilio-Email-Event-Webhook-Signature` and `-Timestamp`.
    pub signature: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub body: &'a [u8],
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// Unknown provider, or one whose secret is not set: as if no such URL.
    #[error("no such webhook")]
    NotConfigured,
    /// No credentials or signature, or ones that do not check out.
    #[error("not authenticated: {0}")]
    Unauthenticated(&'static str),
    /// Authenticated as nobody Herald takes events from: another SNS
    /// topic, a certificate off the AWS hosts, a stale or replayed call.
    #[error("refused: {0}")]
    Refused(String),
    #[error("{0}")]
    BadRequest(String),
    /// The SNS certificate or subscription URL could not be fetched.
    #[error("cannot fetch {what}: {problem}")]
    Fetch { what: &'static str, problem: String },
    #[error("database error: {0}")]
    Store(#[from] sqlx::Error),
}

/// What a provider's call asks for, once authenticated.
pub(crate) enum Parsed {
    Events(Vec<ProviderEvent>),
    /// SNS: confirm the subscription by fetching this (checked) URL.
    ConfirmSubscription(url::Url),
    /// A call that is nothing to act on (an SNS unsubscribe notice).
    Nothing,
}

/// The webhooks and what they share: intake, the HTTPS client, the cache of
/// SNS signing certificates.
pub struct Webhooks {
    settings: WebhookSettings,
    store: Store,
    intake: Intake,
    client: reqwest::Client,
    certificates: Mutex<HashMap<String, Arc<Vec<u8>>>>,
}

impl Webhooks {
    pub fn new(settings: WebhookSettings, store: Store, intake: Intake) -> Self {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            // A redirect could lead off the AWS hosts the URL was checked against.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            settings,
            store,
            intake,
            client,
            certificates: Mutex::new(HashMap::new()),
        }
    }

    /// Authenticates and applies one call. `provider` is the name in the URL.
    #[tracing::instrument(skip(self, delivery), fields(size = delivery.body.len()))]
    pub async fn receive(
        &self,
        provider: &str,
        delivery: Delivery<'_>,
    ) -> Result<Vec<Outcome>, WebhookError> {
        let provider = Provider::parse(provider).ok_or(WebhookError::NotConfigured)?;
        if delivery.body.len() > MAX_BODY_SIZE {
            return Err(WebhookError::BadRequest(format!(
                "the body is larger than {MAX_BODY_SIZE} bytes"
            )));
        }
        // The Mailgun token recorded for this call, given back if the call
        // fails on our side so that Mailgun's retry is not taken for a replay.
        let mut nonce = None;
        let parsed = match provider {
            Provider::Ses => ses::receive(self, delivery).await?,
            Provider::Postmark => {
                let credentials = self
                    .settings
                    .postmark_credentials
                    .as_ref()
                    .ok_or(WebhookError::NotConfigured)?;
                postmark::receive(credentials, delivery)?
            }
            Provider::Mailgun => {
                let key = self
                    .settings
                    .mailgun_signing_key
                    .as_ref()
                    .ok_or(WebhookError::NotConfigured)?;
                let (events, token) = mailgun::receive(key, delivery, crate::store::now_millis())?;
                if !queries::first_use(
                    self.store.pool(),
                    "mailgun",
                    &token,
                    crate::store::now_millis(),
                    mailgun::MAX_AGE,
                )
                .await?
                {
                    return Err(WebhookError::Refused(
                        "this signature was used before".into(),
                    ));
                }
                nonce = Some(token);
                events
            }
            Provider::Sendgrid => {
                let key = self
                    .settings
                    .sendgrid_public_key
                    .as_deref()
                    .ok_or(WebhookError::NotConfigured)?;
                sendgrid::receive(key, delivery)?
            }
        };
        match parsed {
            Parsed::Events(events) => {
                let mut outcomes = Vec::with_capacity(events.len());
                for event in &events {
                    match self.intake.apply_event(event).await {
                        Ok(outcome) => outcomes.push(outcome),
                        Err(error) => {
                            if let Some(token) = &nonce {
                                // Best effort: the database just failed us.
                                let _ = queries::forget(self.store.pool(), "mailgun", token).await;
                            }
                            return Err(error.into());
                        }
                    }
                }
                Ok(outcomes)
            }
            Parsed::ConfirmSubscription(url) => {
                self.fetch(&url, "the SNS subscription URL").await?;
                tracing::info!("SNS subscription confirmed");
                Ok(Vec::new())
            }
            Parsed::Nothing => Ok(Vec::new()),
        }
    }

    pub(crate) fn settings(&self) -> &WebhookSettings {
        &self.settings
    }

    /// The SNS signing certificate at `url` (already checked), fetched once.
    pub(crate) async fn certificate(&self, url: &url::Url) -> Result<Arc<Vec<u8>>, WebhookError> {
        let cached = self
            .certificates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(url.as_str())
            .cloned();
        if let Some(certificate) = cached {
            return Ok(certificate);
        }
        let pem = self.fetch(url, "the SNS signing certificate").await?;
        let der = Arc::new(ses::pem_to_der(&pem).ok_or_else(|| WebhookError::Fetch {
            what: "the SNS signing certificate",
            problem: "it is not a PEM certificate".into(),
        })?);
        self.certificates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(url.as_str().to_owned(), der.clone());
        Ok(der)
    }

    async fn fetch(&self, url: &url::Url, what: &'static str) -> Result<Vec<u8>, WebhookError> {
        let failed = |problem: String| WebhookError::Fetch { what, problem };
        let response = self
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| failed(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(failed(format!("answered {}", response.status())));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| failed(e.without_url().to_string()))?;
        if body.len() > MAX_CERTIFICATE_SIZE {
            return Err(failed("the answer is too large".into()));
        }
        Ok(body.to_vec())
    }
}

/// `<id@host>` and `id@host` alike, for the keyed Message-ID check.
fn message_id(raw: Option<&str>) -> Option<String> {
    let id = raw?.trim();
    (!id.is_empty() && id.len() <= 250).then(|| id.to_owned())
}

/// A report of `class` about `recipient`.
fn report(
    class: BounceClass,
    recipient: Option<&str>,
    status: Option<String>,
    diagnostic: Option<String>,
    original: Option<&str>,
) -> Report {
    Report {
        class,
        recipient: recipient.map(|address| address.trim().to_ascii_lowercase()),
        status,
        diagnostic: diagnostic.filter(|words| !words.trim().is_empty()),
        original_message_id: message_id(original),
    }
}

/// A failure the provider says is temporary is never a hard bounce,
/// whatever its codes say.
fn at_most_soft(class: BounceClass) -> BounceClass {
    match class {
        BounceClass::Hard => BounceClass::Soft,
        other => other,
    }
}

/// `serde_json`'s error, which names the line, column and what was wrong.
fn bad_json(error: serde_json::Error) -> WebhookError {
    WebhookError::BadRequest(format!("the body is not the JSON expected: {error}"))
}
