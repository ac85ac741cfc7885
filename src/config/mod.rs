//! Configuration: every setting comes from the environment (and `.env` when
//! present) and has a zero-configuration default. `.env.example` lists them all.
//! A bad value is reported as one line naming the variable.

mod choices;
mod language;
mod mailbox;
mod percent;
mod proxies;
mod secret;
mod warnings;
mod webhooks;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use lettre::message::Mailbox;
use secrecy::SecretString;
use url::Url;

pub use choices::{LogFormat, TwoFactorPolicy};
pub use language::Language;
pub use mailbox::{MailboxSecurity, MailboxUrl};
pub use percent::{format_rate, Percent};
pub use proxies::TrustedProxies;
pub use secret::{hex as secret_hex, random_token, token_hash, SecretKey, SecretKeyError};
pub use webhooks::WebhookSettings;

/// A variable whose value cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

impl std::fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The public URL of the service, without a trailing slash, always http or https.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(String);

impl BaseUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = Url::parse(raw.trim()).map_err(|e| format!("not a URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "scheme must be http or https, not {}",
                url.scheme()
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("must not have a query or a fragment".into());
        }
        Ok(Self(url.as_str().trim_end_matches('/').to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }

    /// An absolute URL for `path_and_query`, which starts with `/`.
    pub fn join(&self, path_and_query: &str) -> String {
        format!("{}{}", self.0, path_and_query)
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub base_url: BaseUrl,
    pub database_url: String,
    pub database_max_connections: u32,
    /// Holds a password when the URL carries one, hence secret.
    pub smtp_url: Option<SecretString>,
    pub outbox_dir: PathBuf,
    /// `HERALD_FROM` as given; unset, the newsletter's name at
    /// `newsletter@localhost`, so readers see whose mail it is.
    pub from: Mailbox,
    /// Whether `HERALD_FROM` was set (the first-run checklist asks for it).
    pub from_is_set: bool,
    pub newsletter_name: String,
    pub postal_address: String,
    /// `HERALD_REPLY_TO`: where readers' replies go, on every mail; unset, to From.
    pub reply_to: Option<Mailbox>,
    /// `HERALD_LANGUAGE`: the `lang` of pages and mails.
    pub language: Language,
    /// The send page asks the editor to type the number of readers when a
    /// send goes to more than this many; `None` never asks.
    pub send_confirm_above: Option<u64>,
    pub send_concurrency: NonZeroUsize,
    pub send_rate: Option<NonZeroU32>,
    pub secret: Option<SecretString>,
    pub secret_file: PathBuf,
    pub confirmation_ttl: Duration,
    pub signup_rate_per_minute: NonZeroU32,
    pub confirmations_per_day: u32,
    pub confirmation_min_interval: Duration,
    pub max_body_bytes: usize,
    /// Reverse proxies whose `X-Forwarded-For` entries are believed.
    pub trusted_proxies: TrustedProxies,
    /// `HERALD_TRUST_PROXY_HEADERS=true` was set: deprecated, warned about at start.
    pub legacy_trust_proxy_headers: bool,
    /// Web pages on other sites allowed to post signups from the browser (CORS).
    pub cors_allowed_origins: Vec<String>,
    pub retry_min_delay: Duration,
    pub retry_max_delay: Duration,
    /// A message still failing temporarily this long after it was queued is given up.
    pub retry_horizon: Duration,
    /// A message is given up after this many attempts, whatever the horizon.
    pub retry_max_attempts: NonZeroU32,
    /// Refusals (5xx) at send time that do not name the address as dead, in
    /// a row across issues, after which a subscriber is `bounced`. One that
    /// does (5.1.1) bounces them at once; a policy refusal never does.
    pub bounce_after_failures: NonZeroU32,
    /// How long a worker's claim on queued mail lasts unless renewed; a
    /// process that dies leaves its claims to others after this.
    pub claim_lease: Duration,
    /// Messages one SMTP connection carries before it is closed and replaced.
    pub smtp_messages_per_connection: NonZeroU32,
    /// Extra certificate authorities (PEM) trusted for SMTP over TLS, for a
    /// relay with a private or self-signed certificate.
    pub smtp_ca_file: Option<PathBuf>,
    pub dkim: Option<DkimSettings>,
    /// The mailbox bounces go to; `herald dns` names the records its domain
    /// needs.
    pub bounce_address: Option<lettre::Address>,
    /// Soft bounces within 30 days, with no successful delivery between,
    /// after which a reader is `bounced`.
    pub soft_bounce_limit: NonZeroU32,
    /// The IMAP mailbox the worker reads bounces and complaints from.
    pub bounce_mailbox: Option<MailboxUrl>,
    /// Extra certificate authorities (PEM) trusted for the bounce mailbox,
    /// for a server with a private or self-signed certificate.
    pub bounce_mailbox_ca_file: Option<PathBuf>,
    /// How often the mailbox is read when its server offers no IDLE.
    pub bounce_mailbox_poll_interval: Duration,
    /// A send pauses itself when, after 1,000 copies tried, more than this
    /// share of them came back as hard bounces.
    pub pause_bounce_rate: Percent,
    /// The same for complaints (Gmail's threshold by default).
    pub pause_complaint_rate: Percent,
    /// The provider webhooks' secrets; a provider without one has no webhook.
    pub webhooks: WebhookSettings,
    pub session_idle_timeout: Duration,
    pub log_format: LogFormat,
    pub require_two_factor: TwoFactorPolicy,
}

/// DKIM signing: all three variables, or none.
#[derive(Debug, Clone)]
pub struct DkimSettings {
    pub domain: String,
    /// One signature per key, all for `domain`.
    pub keys: Vec<DkimKeySettings>,
}

/// One DKIM key and the selector its public half is published under.
#[derive(Debug, Clone)]
pub struct DkimKeySettings {
    pub selector: String,
    /// PEM text of an RSA or ed25519 private key, or the base64 of an
    /// ed25519 seed.
    pub private_key: SecretString,
}

impl Config {
    /// Reads the process environment, after loading `.env` if there is one.
    pub fn from_env() -> Result<Self, ConfigError> {
        if let Err(e) = dotenvy::dotenv() {
            if !e.not_found() {
                return Err(ConfigError {
                    variable: ".env",
                    problem: e.to_string(),
                });
            }
        }
        Self::from_vars(&std::env::vars().collect())
    }

    /// Builds the configuration from explicit variables; unset or empty ones take their default.
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let env = Env(vars);
        let newsletter_name = env.with("HERALD_NEWSLETTER_NAME", "Herald", single_line)?;
        Ok(Self {
            bind: env.parse("HERALD_BIND", "127.0.0.1:8080")?,
            base_url: env.with("HERALD_BASE_URL", "http://127.0.0.1:8080", BaseUrl::parse)?,
            database_url: env.with("DATABASE_URL", "sqlite://herald.db", check_database_url)?,
            database_max_connections: env.parse("HERALD_DATABASE_MAX_CONNECTIONS", "10")?,
            smtp_url: env.optional("SMTP_URL", check_smtp_url)?,
            outbox_dir: PathBuf::from(env.get("HERALD_OUTBOX_DIR").unwrap_or("./outbox")),
            from: env
                .optional("HERALD_FROM", parse_mailbox)?
                .unwrap_or_else(|| default_from(&newsletter_name)),
            from_is_set: env.get("HERALD_FROM").is_some(),
            newsletter_name,
            postal_address: env.get("HERALD_POSTAL_ADDRESS").unwrap_or("").to_owned(),
            reply_to: env.optional("HERALD_REPLY_TO", parse_mailbox)?,
            language: env.with("HERALD_LANGUAGE", "en", Language::parse)?,
            send_confirm_above: env.with("HERALD_SEND_CONFIRM_ABOVE", "50", parse_confirm_above)?,
            send_concurrency: env.parse("HERALD_SEND_CONCURRENCY", "8")?,
            send_rate: env.optional("HERALD_SEND_RATE", |raw| {
                NonZeroU32::from_str(raw).map_err(|_| "must be a whole number above 0".into())
            })?,
            secret: env.optional("HERALD_SECRET", |raw| {
                if raw.len() < 32 {
                    Err("must be at least 32 characters long".into())
                } else {
                    Ok(SecretString::from(raw.to_owned()))
                }
            })?,
            secret_file: PathBuf::from(env.get("HERALD_SECRET_FILE").unwrap_or("./herald.secret")),
            confirmation_ttl: env.duration("HERALD_CONFIRMATION_TTL", "48h")?,
            signup_rate_per_minute: env.parse("HERALD_SIGNUP_RATE_PER_MINUTE", "10")?,
            confirmations_per_day: env.parse("HERALD_CONFIRMATIONS_PER_DAY", "3")?,
            confirmation_min_interval: env.duration("HERALD_CONFIRMATION_MIN_INTERVAL", "10m")?,
            max_body_bytes: env.parse("HERALD_MAX_BODY_BYTES", "16384")?,
            trusted_proxies: trusted_proxies(&env)?,
            legacy_trust_proxy_headers: env.parse("HERALD_TRUST_PROXY_HEADERS", "false")?,
            cors_allowed_origins: env.with("HERALD_CORS_ALLOWED_ORIGINS", "", parse_origins)?,
            retry_min_delay: env.duration("HERALD_RETRY_MIN_DELAY", "5s")?,
            retry_max_delay: env.duration("HERALD_RETRY_MAX_DELAY", "15m")?,
            retry_horizon: env.duration("HERALD_RETRY_HORIZON", "24h")?,
            retry_max_attempts: env.parse("HERALD_RETRY_MAX_ATTEMPTS", "100")?,
            bounce_after_failures: env.parse("HERALD_BOUNCE_AFTER_FAILURES", "3")?,
            claim_lease: env.with("HERALD_CLAIM_LEASE", "60s", parse_claim_lease)?,
            smtp_messages_per_connection: env
                .parse("HERALD_SMTP_MESSAGES_PER_CONNECTION", "1000")?,
            smtp_ca_file: env.optional("HERALD_SMTP_CA_FILE", readable_file)?,
            dkim: dkim_settings(&env)?,
            bounce_address: env.optional("HERALD_BOUNCE_ADDRESS", |raw| {
                raw.parse::<lettre::Address>()
                    .map_err(|e| format!("not an address like `bounces@example.com` ({e})"))
            })?,
            soft_bounce_limit: env.parse("HERALD_SOFT_BOUNCE_LIMIT", "5")?,
            bounce_mailbox: env.optional("HERALD_BOUNCE_MAILBOX", MailboxUrl::parse)?,
            bounce_mailbox_ca_file: env.optional("HERALD_BOUNCE_MAILBOX_CA_FILE", readable_file)?,
            bounce_mailbox_poll_interval: env.with(
                "HERALD_BOUNCE_MAILBOX_POLL_INTERVAL",
                "60s",
                parse_poll_interval,
            )?,
            pause_bounce_rate: env.parse("HERALD_PAUSE_BOUNCE_RATE", "5")?,
            pause_complaint_rate: env.parse("HERALD_PAUSE_COMPLAINT_RATE", "0.3")?,
            webhooks: webhooks::webhook_settings(&env)?,
            session_idle_timeout: env.duration("HERALD_SESSION_IDLE_TIMEOUT", "8h")?,
            log_format: env.parse("HERALD_LOG_FORMAT", "text")?,
            require_two_factor: env.parse("HERALD_REQUIRE_2FA", "none")?,
        })
    }

    /// Settings still honoured but on their way out, one warning each.
    pub fn deprecations(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.legacy_trust_proxy_headers {
            warnings.push(format!(
                "HERALD_TRUST_PROXY_HEADERS is deprecated; set HERALD_TRUSTED_PROXIES to the \
                 addresses of your proxies (now trusted: {:?})",
                self.trusted_proxies
            ));
        }
        warnings
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}

struct Env<'a>(&'a HashMap<String, String>);

impl Env<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    fn with<T>(
        &self,
        name: &'static str,
        default: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let raw = self.get(name).unwrap_or(default);
        parse(raw).map_err(|problem| ConfigError {
            variable: name,
            problem,
        })
    }

    fn optional<T>(
        &self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        self.get(name)
            .map(parse)
            .transpose()
            .map_err(|problem| ConfigError {
                variable: name,
                problem,
            })
    }

    fn parse<T: FromStr>(&self, name: &'static str, default: &str) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        self.with(name, default, |raw| {
            raw.parse::<T>()
                .map_err(|e| format!("cannot use {raw:?}: {e}"))
        })
    }

    fn duration(&self, name: &'static str, default: &str) -> Result<Duration, ConfigError> {
        self.with(name, default, |raw| {
            humantime::parse_duration(raw)
                .map_err(|e| format!("cannot use {raw:?} as a duration like `48h` or `10m`: {e}"))
        })
    }
}

/// `HERALD_TRUSTED_PROXIES` names the proxies; without it, the deprecated
/// `HERALD_TRUST_PROXY_HEADERS=true` trusts proxies on this machine only
/// (where it always worked safely), and nothing is trusted by default.
fn trusted_proxies(env: &Env<'_>) -> Result<TrustedProxies, ConfigError> {
    let listed = env.with("HERALD_TRUSTED_PROXIES", "", TrustedProxies::parse)?;
    let legacy: bool = env.parse("HERALD_TRUST_PROXY_HEADERS", "false")?;
    Ok(if !listed.is_empty() {
        listed
    } else if legacy {
        TrustedProxies::loopback()
    } else {
        TrustedProxies::none()
    })
}

fn readable_file(raw: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(raw);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("{raw:?} is not a readable file"))
    }
}

/// A second at least: a shorter one would only load the mail server.
fn parse_poll_interval(raw: &str) -> Result<Duration, String> {
    let interval = humantime::parse_duration(raw)
        .map_err(|e| format!("cannot use {raw:?} as a duration like `60s`: {e}"))?;
    if interval < Duration::from_secs(1) {
        return Err(format!("{raw:?} is too short; use at least 1s"));
    }
    Ok(interval)
}

/// Renewed at a third of its length, so a few seconds is the least that
/// leaves a renewal time to land.
fn parse_claim_lease(raw: &str) -> Result<Duration, String> {
    let lease = humantime::parse_duration(raw)
        .map_err(|e| format!("cannot use {raw:?} as a duration like `60s`: {e}"))?;
    if lease < Duration::from_secs(3) {
        return Err(format!("{raw:?} is too short; use at least 3s"));
    }
    Ok(lease)
}

/// `DKIM_SELECTOR` and `DKIM_PRIVATE_KEY` are comma-separated lists paired
/// by position (`rsa2026,ed2026` with `rsa.pem,ed.pem`); each key is PEM text
/// or the path of a PEM file.
fn dkim_settings(env: &Env<'_>) -> Result<Option<DkimSettings>, ConfigError> {
    let domain = env.get("DKIM_DOMAIN");
    let selector = env.get("DKIM_SELECTOR");
    let key = env.get("DKIM_PRIVATE_KEY");
    if domain.is_none() && selector.is_none() && key.is_none() {
        return Ok(None);
    }
    let required = |variable: &'static str, value: Option<&str>| {
        value.map(str::to_owned).ok_or_else(|| ConfigError {
            variable,
            problem: "must be set when any DKIM_* variable is set".into(),
        })
    };
    let domain = required("DKIM_DOMAIN", domain)?;
    let selectors = required("DKIM_SELECTOR", selector)?;
    let keys = required("DKIM_PRIVATE_KEY", key)?;
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_';
    let checked = |variable: &'static str, value: &str| {
        if value.is_empty() || !value.chars().all(allowed) {
            return Err(ConfigError {
                variable,
                problem: "may hold only letters, digits, '-', '_' and '.' (selectors separated by commas)"
                    .into(),
            });
        }
        Ok(())
    };
    checked("DKIM_DOMAIN", &domain)?;
    let selectors: Vec<&str> = selectors.split(',').map(str::trim).collect();
    for selector in &selectors {
        checked("DKIM_SELECTOR", selector)?;
    }
    // Neither PEM text nor base64 holds a comma, so the keys split as the
    // selectors do.
    let keys: Vec<&str> = keys.split(',').map(str::trim).collect();
    if keys.len() != selectors.len() {
        return Err(ConfigError {
            variable: "DKIM_PRIVATE_KEY",
            problem: format!(
                "lists {} but DKIM_SELECTOR lists {}; they pair up by position",
                crate::format::counted(keys.len() as i128, "key", "keys"),
                crate::format::counted(selectors.len() as i128, "selector", "selectors")
            ),
        });
    }
    for (index, selector) in selectors.iter().enumerate() {
        if selectors[..index].contains(selector) {
            return Err(ConfigError {
                variable: "DKIM_SELECTOR",
                problem: format!("names {selector} twice; each key needs its own selector"),
            });
        }
    }
    let keys = selectors
        .into_iter()
        .zip(keys)
        .map(|(selector, key)| {
            let pem = if key.contains("-----BEGIN") {
                // A PEM pasted into one environment line keeps its line breaks as `\n`.
                key.replace("\\n", "\n")
            } else {
                std::fs::read_to_string(key).map_err(|e| ConfigError {
                    variable: "DKIM_PRIVATE_KEY",
                    problem: format!(
                        "the key for selector {selector} is neither PEM text nor a readable file ({e})"
                    ),
                })?
            };
            Ok(DkimKeySettings {
                selector: selector.to_owned(),
                private_key: SecretString::from(pem),
            })
        })
        .collect::<Result<_, ConfigError>>()?;
    Ok(Some(DkimSettings { domain, keys }))
}

/// The From of a list whose sender is not set yet: the newsletter's name,
/// at an address that says it is not set.
fn default_from(newsletter_name: &str) -> Mailbox {
    let address = "newsletter@localhost"
        .parse()
        .unwrap_or_else(|_| unreachable!("a valid address"));
    Mailbox::new(Some(newsletter_name.to_owned()), address)
}

/// `Name <address@example.com>` or a bare address.
fn parse_mailbox(raw: &str) -> Result<Mailbox, String> {
    raw.parse::<Mailbox>()
        .map_err(|e| format!("not a mailbox like `Name <address@example.com>` ({e})"))
}

/// A number of readers, or `off`.
fn parse_confirm_above(raw: &str) -> Result<Option<u64>, String> {
    if raw.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    raw.parse::<u64>().map(Some).map_err(|_| {
        format!("cannot use {raw:?}: give a number of readers, like 50, or `off` to never ask")
    })
}

fn check_database_url(raw: &str) -> Result<String, String> {
    if raw.starts_with("sqlite:")
        || raw.starts_with("postgres://")
        || raw.starts_with("postgresql://")
    {
        Ok(raw.to_owned())
    } else {
        Err("must start with sqlite:// or postgres://".into())
    }
}

/// `https://news.example.com, https://www.example.com` or `*`.
fn parse_origins(raw: &str) -> Result<Vec<String>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            if entry == "*" {
                return Ok("*".to_owned());
            }
            let url = Url::parse(entry).map_err(|e| format!("{entry:?} is not a URL ({e})"))?;
            if !matches!(url.scheme(), "http" | "https")
                || url.path() != "/"
                || url.query().is_some()
            {
                return Err(format!(
                    "{entry:?} is not an origin like https://news.example.com"
                ));
            }
            Ok(url.origin().ascii_serialization())
        })
        .collect()
}

fn check_smtp_url(raw: &str) -> Result<SecretString, String> {
    // The message never repeats the URL: it may hold a password.
    let url = Url::parse(raw).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(url.scheme(), "smtp" | "smtps") {
        return Err("scheme must be smtp:// or smtps://".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("has no host".into());
    }
    Ok(SecretString::from(raw.to_owned()))
}

fn single_line(raw: &str) -> Result<String, String> {
    if raw.chars().any(char::is_control) {
        Err("must not contain control characters or line breaks".into())
    } else {
        Ok(raw.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_need_no_variables() {
        let config = Config::from_vars(&HashMap::new()).expect("defaults are valid");
        assert_eq!(config.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(config.database_url, "sqlite://herald.db");
        assert!(config.smtp_url.is_none());
        assert_eq!(config.confirmation_ttl, Duration::from_secs(48 * 3600));
    }

    #[test]
    fn bad_value_names_the_variable() {
        let err = Config::from_vars(&vars(&[("HERALD_SEND_CONCURRENCY", "zero")])).unwrap_err();
        assert_eq!(err.variable, "HERALD_SEND_CONCURRENCY");
        let err = Config::from_vars(&vars(&[("HERALD_BASE_URL", "ftp://x")])).unwrap_err();
        assert!(err.to_string().starts_with("HERALD_BASE_URL: "));
    }

    #[test]
    fn pause_rates_are_percents_from_0_to_100() {
        let config =
            Config::from_vars(&vars(&[("HERALD_PAUSE_COMPLAINT_RATE", "0.5%")])).expect("valid");
        assert_eq!(config.pause_complaint_rate.value(), 0.5);
        assert_eq!(config.pause_bounce_rate.value(), 5.0);
        for (variable, bad) in [
            ("HERALD_PAUSE_BOUNCE_RATE", "120"),
            ("HERALD_PAUSE_BOUNCE_RATE", "-1"),
            ("HERALD_PAUSE_COMPLAINT_RATE", "lots"),
        ] {
            let err = Config::from_vars(&vars(&[(variable, bad)])).unwrap_err();
            assert_eq!(err.variable, variable);
            assert!(err.to_string().contains("percent"), "{err}");
        }
    }

    #[test]
    fn smtp_url_error_does_not_echo_the_password() {
        let err =
            Config::from_vars(&vars(&[("SMTP_URL", "http://user:hunter2@host")])).unwrap_err();
        assert_eq!(err.variable, "SMTP_URL");
        assert!(!err.to_string().contains("hunter2"));
    }

    /// `.env.example` documents the defaults; copying it unchanged must change nothing.
    #[test]
    fn env_example_documents_the_real_defaults() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/.env.example");
        let documented: HashMap<String, String> = dotenvy::from_path_iter(path)
            .expect(".env.example is readable")
            .map(|item| item.expect(".env.example parses"))
            .collect();
        let from_example = Config::from_vars(&documented).expect(".env.example is valid");
        let defaults = Config::from_vars(&HashMap::new()).expect("defaults are valid");
        assert_eq!(format!("{from_example:?}"), format!("{defaults:?}"));
        let text = std::fs::read_to_string(path).expect("read .env.example");
        for variable in [
            "HERALD_BIND",
            "HERALD_BASE_URL",
            "DATABASE_URL",
            "HERALD_DATABASE_MAX_CONNECTIONS",
            "SMTP_URL",
            "HERALD_OUTBOX_DIR",
            "HERALD_FROM",
            "HERALD_NEWSLETTER_NAME",
            "HERALD_POSTAL_ADDRESS",
            "HERALD_REPLY_TO",
            "HERALD_SES_TOPIC_ARNS",
            "HERALD_POSTMARK_WEBHOOK_CREDENTIALS",
            "HERALD_MAILGUN_WEBHOOK_SIGNING_KEY",
            "HERALD_SENDGRID_WEBHOOK_PUBLIC_KEY",
            "HERALD_LANGUAGE",
            "HERALD_SEND_CONFIRM_ABOVE",
            "HERALD_SEND_CONCURRENCY",
            "HERALD_SEND_RATE",
            "HERALD_SECRET",
            "HERALD_SECRET_FILE",
            "HERALD_CONFIRMATION_TTL",
            "HERALD_SIGNUP_RATE_PER_MINUTE",
            "HERALD_CONFIRMATIONS_PER_DAY",
            "HERALD_CONFIRMATION_MIN_INTERVAL",
            "HERALD_MAX_BODY_BYTES",
            "HERALD_TRUST_PROXY_HEADERS",
            "HERALD_TRUSTED_PROXIES",
            "HERALD_RETRY_MIN_DELAY",
            "HERALD_RETRY_MAX_DELAY",
            "HERALD_RETRY_HORIZON",
            "HERALD_RETRY_MAX_ATTEMPTS",
            "HERALD_BOUNCE_AFTER_FAILURES",
            "HERALD_PAUSE_BOUNCE_RATE",
            "HERALD_PAUSE_COMPLAINT_RATE",
            "HERALD_SMTP_MESSAGES_PER_CONNECTION",
            "HERALD_CLAIM_LEASE",
            "HERALD_SMTP_CA_FILE",
            "HERALD_BOUNCE_MAILBOX",
            "HERALD_BOUNCE_MAILBOX_CA_FILE",
            "HERALD_BOUNCE_MAILBOX_POLL_INTERVAL",
            "DKIM_DOMAIN",
            "DKIM_SELECTOR",
            "DKIM_PRIVATE_KEY",
        ] {
            assert!(
                text.contains(&format!("{variable}=")),
                "{variable} is not in .env.example"
            );
        }
    }

    #[test]
    fn the_from_name_is_the_newsletter_name_unless_from_is_set() {
        let config = Config::from_vars(&vars(&[("HERALD_NEWSLETTER_NAME", "Morning Brief")]))
            .expect("valid");
        assert_eq!(
            config.from.to_string(),
            "Morning Brief <newsletter@localhost>"
        );
        assert!(!config.from_is_set);
        let config = Config::from_vars(&vars(&[
            ("HERALD_NEWSLETTER_NAME", "Morning Brief"),
            ("HERALD_FROM", "Jane <jane@example.com>"),
        ]))
        .expect("valid");
        assert_eq!(config.from.to_string(), "Jane <jane@example.com>");
        assert!(config.from_is_set);
    }

    #[test]
    fn the_send_confirmation_threshold_is_a_number_or_off() {
        let config = Config::from_vars(&HashMap::new()).expect("defaults are valid");
        assert_eq!(config.send_confirm_above, Some(50));
        let config =
            Config::from_vars(&vars(&[("HERALD_SEND_CONFIRM_ABOVE", "0")])).expect("valid");
        assert_eq!(config.send_confirm_above, Some(0));
        let config =
            Config::from_vars(&vars(&[("HERALD_SEND_CONFIRM_ABOVE", "off")])).expect("valid");
        assert_eq!(config.send_confirm_above, None);
        let err = Config::from_vars(&vars(&[("HERALD_SEND_CONFIRM_ABOVE", "many")])).unwrap_err();
        assert_eq!(err.variable, "HERALD_SEND_CONFIRM_ABOVE");
        assert!(err.to_string().contains("`off`"), "{err}");
    }

    #[test]
    fn dkim_needs_all_three_variables() {
        let err = Config::from_vars(&vars(&[("DKIM_DOMAIN", "example.com")])).unwrap_err();
        assert_eq!(err.variable, "DKIM_SELECTOR");
        let err = Config::from_vars(&vars(&[
            ("DKIM_DOMAIN", "example.com"),
            ("DKIM_SELECTOR", "herald"),
            ("DKIM_PRIVATE_KEY", "/nonexistent/dkim.pem"),
        ]))
        .unwrap_err();
        assert_eq!(err.variable, "DKIM_PRIVATE_KEY");
    }

    #[test]
    fn reply_to_is_a_mailbox_and_language_a_tag() {
        let config = Config::from_vars(&HashMap::new()).expect("defaults are valid");
        assert!(config.reply_to.is_none());
        assert_eq!(config.language.as_str(), "en");
        let config = Config::from_vars(&vars(&[
            ("HERALD_REPLY_TO", "Editors <editors@example.com>"),
            ("HERALD_LANGUAGE", "pt-BR"),
        ]))
        .expect("valid");
        assert_eq!(
            config.reply_to.map(|m| m.to_string()).as_deref(),
            Some("Editors <editors@example.com>")
        );
        assert_eq!(config.language.as_str(), "pt-BR");
        let err =
            Config::from_vars(&vars(&[("HERALD_REPLY_TO", "editors at example")])).unwrap_err();
        assert_eq!(err.variable, "HERALD_REPLY_TO");
        assert!(err.to_string().contains("not a mailbox"), "{err}");
        let err = Config::from_vars(&vars(&[("HERALD_LANGUAGE", "en_US")])).unwrap_err();
        assert_eq!(err.variable, "HERALD_LANGUAGE");
    }

    #[test]
    fn dkim_selectors_and_keys_pair_up_by_position() {
        use secrecy::ExposeSecret as _;
        let pem = |name: &str| {
            format!("-----BEGIN PRIVATE KEY-----\\n{name}\\n-----END PRIVATE KEY-----")
        };
        let config = Config::from_vars(&vars(&[
            ("DKIM_DOMAIN", "example.com"),
            ("DKIM_SELECTOR", "rsa2026, ed2026"),
            (
                "DKIM_PRIVATE_KEY",
                &format!("{},{}", pem("first"), pem("second")),
            ),
        ]))
        .expect("valid");
        let dkim = config.dkim.expect("DKIM is on");
        assert_eq!(dkim.domain, "example.com");
        let pairs: Vec<(&str, bool)> = dkim
            .keys
            .iter()
            .map(|k| {
                (
                    k.selector.as_str(),
                    k.private_key.expose_secret().contains("first"),
                )
            })
            .collect();
        assert_eq!(pairs, [("rsa2026", true), ("ed2026", false)]);

        let err = Config::from_vars(&vars(&[
            ("DKIM_DOMAIN", "example.com"),
            ("DKIM_SELECTOR", "rsa2026,ed2026"),
            ("DKIM_PRIVATE_KEY", &pem("only")),
        ]))
        .unwrap_err();
        assert_eq!(err.variable, "DKIM_PRIVATE_KEY");
        let text = err.to_string();
        assert!(
            text.contains("DKIM_SELECTOR")
                && text.contains("1 key ")
                && text.contains("2 selectors"),
            "{text}"
        );
        assert!(!text.contains("only"), "the key leaked: {text}");

        let err = Config::from_vars(&vars(&[
            ("DKIM_DOMAIN", "example.com"),
            ("DKIM_SELECTOR", "herald,herald"),
            ("DKIM_PRIVATE_KEY", &format!("{},{}", pem("a"), pem("b"))),
        ]))
        .unwrap_err();
        assert_eq!(err.variable, "DKIM_SELECTOR");
        assert!(err.to_string().contains("herald twice"), "{err}");
    }

    #[test]
    fn cors_origins_are_origins() {
        let config = Config::from_vars(&vars(&[(
            "HERALD_CORS_ALLOWED_ORIGINS",
            "https://news.example.com/, http://localhost:3000",
        )]))
        .expect("valid origins");
        assert_eq!(
            config.cors_allowed_origins,
            ["https://news.example.com", "http://localhost:3000"]
        );
        let err = Config::from_vars(&vars(&[(
            "HERALD_CORS_ALLOWED_ORIGINS",
            "https://news.example.com/signup",
        )]))
        .unwrap_err();
        assert_eq!(err.variable, "HERALD_CORS_ALLOWED_ORIGINS");
    }

    #[test]
    fn trusted_proxies_come_from_the_list_or_the_deprecated_switch() {
        let config = Config::from_vars(&HashMap::new()).expect("defaults are valid");
        assert!(config.trusted_proxies.is_empty());
        assert!(config.deprecations().is_empty());
        let config =
            Config::from_vars(&vars(&[("HERALD_TRUST_PROXY_HEADERS", "true")])).expect("valid");
        assert_eq!(config.trusted_proxies, TrustedProxies::loopback());
        assert_eq!(config.deprecations().len(), 1);
        let config = Config::from_vars(&vars(&[
            ("HERALD_TRUST_PROXY_HEADERS", "true"),
            ("HERALD_TRUSTED_PROXIES", "10.0.0.0/8, fd00::/8"),
        ]))
        .expect("valid");
        assert!(config
            .trusted_proxies
            .trusts("10.1.2.3".parse().expect("ip")));
        assert!(!config
            .trusted_proxies
            .trusts("127.0.0.1".parse().expect("ip")));
        let err =
            Config::from_vars(&vars(&[("HERALD_TRUSTED_PROXIES", "10.0.0.0/40")])).unwrap_err();
        assert_eq!(err.variable, "HERALD_TRUSTED_PROXIES");
        assert!(err.to_string().contains("10.0.0.0/40"), "{err}");
    }

    #[test]
    fn the_bounce_mailbox_setting_names_itself_and_hides_its_password() {
        let config = Config::from_vars(&vars(&[(
            "HERALD_BOUNCE_MAILBOX",
            "imaps://bounces:s3cret@mail.example.org/INBOX",
        )]))
        .expect("valid");
        let mailbox = config.bounce_mailbox.as_ref().expect("set");
        assert_eq!(
            mailbox.to_string(),
            "imaps://bounces@mail.example.org:993/INBOX"
        );
        assert!(!format!("{config:?}").contains("s3cret"));
        assert_eq!(config.bounce_mailbox_poll_interval, Duration::from_secs(60));
        let err = Config::from_vars(&vars(&[(
            "HERALD_BOUNCE_MAILBOX",
            "https://bounces:s3cret@mail.example.org/INBOX",
        )]))
        .unwrap_err();
        assert_eq!(err.variable, "HERALD_BOUNCE_MAILBOX");
        assert!(!err.to_string().contains("s3cret"), "{err}");
        let err = Config::from_vars(&vars(&[("HERALD_BOUNCE_MAILBOX_POLL_INTERVAL", "10ms")]))
            .unwrap_err();
        assert_eq!(err.variable, "HERALD_BOUNCE_MAILBOX_POLL_INTERVAL");
        let err = Config::from_vars(&vars(&[(
            "HERALD_BOUNCE_MAILBOX_CA_FILE",
            "/nonexistent/ca.pem",
        )]))
        .unwrap_err();
        assert_eq!(err.variable, "HERALD_BOUNCE_MAILBOX_CA_FILE");
    }

    #[test]
    fn base_url_loses_its_trailing_slash() {
        let url = BaseUrl::parse("https://news.example.com/herald/").expect("valid");
        assert_eq!(
            url.join("/unsubscribe"),
            "https://news.example.com/herald/unsubscribe"
        );
        assert!(url.is_https());
    }
}
