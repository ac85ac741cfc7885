//! The DNS records Herald's mail needs (DKIM keys, SPF, DMARC, the bounce
//! domain), computed from the configuration, and a check of what DNS serves.
//! `herald dns` prints them; `herald dns --check` resolves them.

mod check;

use std::net::IpAddr;

use secrecy::ExposeSecret as _;

pub use check::{check, resolver, CheckError, Finding, Verdict};

use crate::config::Config;
use crate::mail::{DkimKey, DkimKeyError};

/// A TXT string holds at most 255 bytes (RFC 1035 3.3); longer values are
/// published as several strings that receivers join.
const TXT_STRING_MAX: usize = 255;

/// What a record is for, which decides how `--check` judges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// `k=` and `p=` of the published key must be these.
    Dkim { kind: &'static str, public: String },
    /// One `v=spf1` record, naming the relay when there is one.
    Spf { relay: Option<String> },
    /// One `v=DMARC1` record; any policy.
    Dmarc,
    /// At least one MX record.
    BounceMx,
}

/// One record to publish.
#[derive(Debug, Clone)]
pub struct Record {
    /// Fully qualified, without the final dot.
    pub name: String,
    pub kind: RecordKind,
    /// The value as one string (TXT: before splitting into 255-byte strings).
    pub value: String,
    /// Why it is there and what to adapt, for the operator.
    pub note: String,
    pub purpose: Purpose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    Txt,
    Mx,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Txt => "TXT",
            Self::Mx => "MX",
        }
    }
}

impl Record {
    /// The record as a zone file line: `NAME. 3600 IN TXT "…" "…"`.
    pub fn zone_line(&self) -> String {
        let data = match self.kind {
            RecordKind::Txt => txt_strings(&self.value)
                .iter()
                .map(|part| format!("\"{part}\""))
                .collect::<Vec<_>>()
                .join(" "),
            RecordKind::Mx => self.value.clone(),
        };
        format!("{}. 3600 IN {} {data}", self.name, self.kind.as_str())
    }
}

/// `value` cut into strings of at most 255 bytes (the values are ASCII).
pub fn txt_strings(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = value;
    while rest.len() > TXT_STRING_MAX {
        let (part, tail) = rest.split_at(TXT_STRING_MAX);
        parts.push(part);
        rest = tail;
    }
    parts.push(rest);
    parts
}

/// What `herald dns` prints: the records, and what it could not compute.
#[derive(Debug, Default)]
pub struct Plan {
    pub records: Vec<Record>,
    /// Said before the records: what is not configured and how to fix it.
    pub notes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("DKIM_PRIVATE_KEY: the key for selector {selector} {source}")]
pub struct PlanError {
    selector: String,
    source: DkimKeyError,
}

/// The records for the configured domains.
pub fn plan(config: &Config) -> Result<Plan, PlanError> {
    let mut plan = Plan::default();
    let from_domain = config.from.email.domain().to_ascii_lowercase();
    match &config.dkim {
        Some(dkim) => {
            for key in &dkim.keys {
                let parsed = DkimKey::parse(key.private_key.expose_secret()).map_err(|source| {
                    PlanError {
                        selector: key.selector.clone(),
                        source,
                    }
                })?;
                let value = parsed.dns_record();
                let public = value
                    .rsplit_once("p=")
                    .map(|(_, p)| p.to_owned())
                    .unwrap_or_default();
                plan.records.push(Record {
                    name: format!("{}._domainkey.{}", key.selector, dkim.domain),
                    kind: RecordKind::Txt,
                    note: format!(
                        "DKIM: the public half of the {} key with selector {}.",
                        if parsed.kind() == "rsa" {
                            "RSA"
                        } else {
                            "ed25519"
                        },
                        key.selector
                    ),
                    value,
                    purpose: Purpose::Dkim {
                        kind: parsed.kind(),
                        public,
                    },
                });
            }
            if !dkim.domain.eq_ignore_ascii_case(&from_domain) {
                plan.notes.push(format!(
                    "DKIM_DOMAIN ({}) is not the From domain ({from_domain}): DMARC needs them \
                     aligned (the same domain, or one under the other).",
                    dkim.domain
                ));
            }
        }
        None => plan.notes.push(
            "DKIM is not configured, so no DKIM record is printed. Make a key and set \
             DKIM_DOMAIN, DKIM_SELECTOR and DKIM_PRIVATE_KEY (see docs/sending.md):\n  \
             openssl genpkey -algorithm ed25519 -out dkim-ed25519.pem\n  \
             openssl genrsa -out dkim-rsa.pem 2048\n\
             Gmail and Microsoft check only RSA signatures: sign with RSA, or with both."
                .to_owned(),
        ),
    }
    if !config.from_is_set {
        plan.notes.push(format!(
            "HERALD_FROM is not set, so the From domain is {from_domain}; set it to the \
             address readers see."
        ));
    }
    let relay = relay_host(config);
    plan.records
        .push(spf(&from_domain, relay.as_deref(), "the From domain"));
    plan.records.push(Record {
        name: format!("_dmarc.{from_domain}"),
        kind: RecordKind::Txt,
        value: format!("v=DMARC1; p=none; rua=mailto:dmarc-reports@{from_domain}"),
        note: "DMARC: p=none only asks receivers for reports (to the rua= mailbox) and \
               changes no delivery. Read them for a few weeks; once every source of your \
               mail passes SPF or DKIM, move to p=quarantine, then p=reject."
            .to_owned(),
        purpose: Purpose::Dmarc,
    });
    if let Some(bounce) = &config.bounce_address {
        let domain = bounce.domain().to_ascii_lowercase();
        plan.records.push(Record {
            name: domain.clone(),
            kind: RecordKind::Mx,
            value: format!("10 mail.{domain}."),
            note: format!(
                "Bounces: mail to {bounce} must reach a mailbox Herald reads; point MX at the \
                 host that receives it (mail.{domain} is a placeholder)."
            ),
            purpose: Purpose::BounceMx,
        });
        if domain != from_domain {
            plan.records
                .push(spf(&domain, relay.as_deref(), "the bounce domain"));
        }
    }
    Ok(plan)
}

fn spf(domain: &str, relay: Option<&str>, what: &str) -> Record {
    let (value, note) = match relay {
        Some(host) if !is_loopback(host) => (
            format!("v=spf1 a:{host} ~all"),
            format!(
                "SPF for {what}: names the hosts allowed to send its mail. Mail leaves through \
                 {host} (SMTP_URL); if that is a provider's relay, use the include: they \
                 document instead of a:{host}. Keep one SPF record per name: add to an \
                 existing one rather than publishing a second."
            ),
        ),
        _ => (
            "v=spf1 a mx ~all".to_owned(),
            format!(
                "SPF for {what}: names the hosts allowed to send its mail. SMTP_URL is not set \
                 or is a relay on this machine, so list the host (a:, ip4:, include:) whose \
                 address the receiving servers see. Keep one SPF record per name."
            ),
        ),
    };
    Record {
        name: domain.to_owned(),
        kind: RecordKind::Txt,
        value,
        note,
        purpose: Purpose::Spf {
            relay: relay.filter(|h| !is_loopback(h)).map(str::to_owned),
        },
    }
}

/// The relay's host from SMTP_URL; never its credentials.
fn relay_host(config: &Config) -> Option<String> {
    let url = url::Url::parse(config.smtp_url.as_ref()?.expose_secret()).ok()?;
    let host = url
        .host_str()?
        .trim_matches(['[', ']'])
        .to_ascii_lowercase();
    Some(host)
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests;
