//! `herald dns --check`: asks DNS for each planned record and says whether
//! what it serves does the job (not whether it is byte for byte the plan:
//! an SPF record with more hosts, or a stricter DMARC policy, is fine).

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::NetError;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::TokioResolver;

use super::{Plan, Purpose, Record, RecordKind};

/// A look-up that has not answered by then will not: say so and go on.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
#[error("cannot set up the DNS resolver: {0}")]
pub struct CheckError(#[from] NetError);

/// What DNS serves for one record, judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ok(String),
    Missing(String),
    Wrong(String),
    /// The look-up itself failed (timeout, refused): nothing is known.
    Unresolved(String),
}

impl Verdict {
    pub fn label(&self) -> &'static str {
        match self {
            Self::Ok(_) => "ok",
            Self::Missing(_) => "missing",
            Self::Wrong(_) => "wrong",
            Self::Unresolved(_) => "error",
        }
    }

    pub fn detail(&self) -> &str {
        match self {
            Self::Ok(text) | Self::Missing(text) | Self::Wrong(text) | Self::Unresolved(text) => {
                text
            }
        }
    }

    pub fn is_ok(&self) -> bool {
        matches!(self, Self::Ok(_))
    }
}

#[derive(Debug)]
pub struct Finding {
    pub record: Record,
    pub verdict: Verdict,
}

/// The system's resolver (`/etc/resolv.conf`), or the server at `server`.
pub fn resolver(server: Option<SocketAddr>) -> Result<TokioResolver, CheckError> {
    let mut builder = match server {
        None => TokioResolver::builder_tokio()?,
        Some(server) => {
            // UDP first, TCP when a long answer (a 2048-bit DKIM key) is truncated.
            let connections = [ConnectionConfig::udp(), ConnectionConfig::tcp()]
                .into_iter()
                .map(|mut connection| {
                    connection.port = server.port();
                    connection
                })
                .collect();
            let name_server = NameServerConfig::new(server.ip(), true, connections);
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(vec![name_server]),
                TokioRuntimeProvider::default(),
            )
        }
    };
    let options = builder.options_mut();
    options.timeout = LOOKUP_TIMEOUT;
    options.edns0 = true;
    Ok(builder.build()?)
}

/// Every record of `plan`, looked up and judged.
pub async fn check(resolver: &TokioResolver, plan: &Plan) -> Vec<Finding> {
    let mut findings = Vec::with_capacity(plan.records.len());
    for record in &plan.records {
        let verdict = match record.kind {
            RecordKind::Txt => match txt(resolver, &record.name).await {
                Ok(texts) => judge_txt(&record.purpose, &texts),
                Err(error) => Verdict::Unresolved(error),
            },
            RecordKind::Mx => match mx(resolver, &record.name).await {
                Ok(hosts) if hosts.is_empty() => Verdict::Missing("no MX record".to_owned()),
                Ok(hosts) => Verdict::Ok(format!("mail goes to {}", hosts.join(", "))),
                Err(error) => Verdict::Unresolved(error),
            },
        };
        findings.push(Finding {
            record: record.clone(),
            verdict,
        });
    }
    findings
}

/// Each TXT record at `name`, its strings joined; none when the name or the
/// record does not exist.
async fn txt(resolver: &TokioResolver, name: &str) -> Result<Vec<String>, String> {
    match resolver.txt_lookup(fqdn(name)).await {
        Ok(lookup) => Ok(lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::TXT(txt) => Some(
                    txt.txt_data
                        .iter()
                        .map(|part| String::from_utf8_lossy(part))
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect()),
        Err(error) if error.is_no_records_found() || error.is_nx_domain() => Ok(Vec::new()),
        Err(error) => Err(format!("cannot look up TXT {name}: {error}")),
    }
}

async fn mx(resolver: &TokioResolver, name: &str) -> Result<Vec<String>, String> {
    match resolver.mx_lookup(fqdn(name)).await {
        Ok(lookup) => Ok(lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::MX(mx) => Some(format!("{} {}", mx.preference, mx.exchange)),
                _ => None,
            })
            .collect()),
        Err(error) if error.is_no_records_found() || error.is_nx_domain() => Ok(Vec::new()),
        Err(error) => Err(format!("cannot look up MX {name}: {error}")),
    }
}

/// Fully qualified, so no search domain of resolv.conf is tried.
fn fqdn(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.'))
}

fn judge_txt(purpose: &Purpose, texts: &[String]) -> Verdict {
    match purpose {
        Purpose::Dkim { kind, public } => judge_dkim(kind, public, texts),
        Purpose::Spf { relay } => judge_spf(relay.as_deref(), texts),
        Purpose::Dmarc => {
            let records: Vec<&String> = texts
                .iter()
                .filter(|t| starts_with_tag(t, "v=DMARC1"))
                .collect();
            match records.as_slice() {
                [] => Verdict::Missing("no DMARC record (v=DMARC1)".to_owned()),
                [record] => Verdict::Ok((*record).clone()),
                several => Verdict::Wrong(format!(
                    "{} DMARC records: receivers then apply none",
                    several.len()
                )),
            }
        }
        Purpose::BounceMx => Verdict::Wrong("an MX is not a TXT record".to_owned()),
    }
}

fn judge_dkim(kind: &str, public: &str, texts: &[String]) -> Verdict {
    let records: Vec<Vec<(String, String)>> = texts
        .iter()
        .map(|t| tags(t))
        .filter(|tags| tags.iter().any(|(name, _)| name == "p"))
        .collect();
    let record = match records.as_slice() {
        [] if texts.is_empty() => return Verdict::Missing("no TXT record".to_owned()),
        [] => return Verdict::Missing("no DKIM key (p=) among the TXT records".to_owned()),
        [record] => record,
        several => {
            return Verdict::Wrong(format!(
                "{} DKIM keys at one selector; publish one",
                several.len()
            ))
        }
    };
    let tag = |name: &str| {
        record
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let published_kind = tag("k").unwrap_or("rsa");
    let published = tag("p").unwrap_or("");
    if published.is_empty() {
        return Verdict::Wrong("p= is empty: the key is published as revoked".to_owned());
    }
    if !published_kind.eq_ignore_ascii_case(kind) {
        return Verdict::Wrong(format!(
            "k={published_kind}, but the configured key is {kind}"
        ));
    }
    if published != public {
        return Verdict::Wrong(format!(
            "p= does not match the configured key (published {}…, the key's is {}…)",
            prefix(published),
            prefix(public)
        ));
    }
    Verdict::Ok("the key matches".to_owned())
}

fn judge_spf(relay: Option<&str>, texts: &[String]) -> Verdict {
    let records: Vec<&String> = texts
        .iter()
        .filter(|t| {
            let lower = t.trim().to_ascii_lowercase();
            lower == "v=spf1" || lower.starts_with("v=spf1 ")
        })
        .collect();
    let record = match records.as_slice() {
        [] => return Verdict::Missing("no SPF record (v=spf1)".to_owned()),
        [record] => record.to_ascii_lowercase(),
        several => {
            return Verdict::Wrong(format!(
                "{} SPF records: receivers treat several as an error (RFC 7208 4.5), so SPF \
                 fails; merge them into one",
                several.len()
            ))
        }
    };
    if let Some(relay) = relay {
        // The relay itself, or a parent domain (a provider's include:).
        let labels: Vec<&str> = relay.split('.').collect();
        let named = (0..labels.len().saturating_sub(1))
            .map(|start| labels[start..].join("."))
            .any(|name| record.contains(&name));
        if !named {
            return Verdict::Wrong(format!(
                "does not name the relay {relay} from SMTP_URL (a:{relay}, or its provider's \
                 include:): `{record}`"
            ));
        }
    }
    Verdict::Ok(record)
}

/// `v=DKIM1; k=rsa; p=…` as (name, value) pairs; white space in values
/// removed (a key split over strings may carry some).
fn tags(text: &str) -> Vec<(String, String)> {
    text.split(';')
        .filter_map(|tag| {
            let (name, value) = tag.split_once('=')?;
            let value: String = value.chars().filter(|c| !c.is_whitespace()).collect();
            Some((name.trim().to_ascii_lowercase(), value))
        })
        .collect()
}

fn starts_with_tag(text: &str, tag: &str) -> bool {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    match compact.get(..tag.len()) {
        Some(start) if start.eq_ignore_ascii_case(tag) => {
            let rest = &compact[tag.len()..];
            rest.is_empty() || rest.starts_with(';')
        }
        _ => false,
    }
}

fn prefix(text: &str) -> &str {
    text.get(..12).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dkim_key_is_judged_by_its_p_and_k() {
        let ok = judge_dkim("rsa", "ABC", &["v=DKIM1; k=rsa; p=A B C".to_owned()]);
        assert!(ok.is_ok(), "{ok:?}");
        let wrong = judge_dkim("rsa", "ABC", &["v=DKIM1; k=rsa; p=XYZ".to_owned()]);
        assert!(wrong.detail().contains("does not match"), "{wrong:?}");
        let kind = judge_dkim("ed25519", "ABC", &["v=DKIM1; p=ABC".to_owned()]);
        assert!(kind.detail().contains("k=rsa"), "{kind:?}");
        assert_eq!(judge_dkim("rsa", "ABC", &[]).label(), "missing");
    }

    #[test]
    fn spf_must_be_one_record_naming_the_relay() {
        let relay = Some("smtp.mailgun.org");
        let ok = judge_spf(relay, &["v=spf1 include:mailgun.org ~all".to_owned()]);
        assert!(ok.is_ok(), "{ok:?}");
        let without = judge_spf(relay, &["v=spf1 mx ~all".to_owned()]);
        assert!(
            without.detail().contains("does not name the relay"),
            "{without:?}"
        );
        let two = judge_spf(
            None,
            &["v=spf1 mx ~all".to_owned(), "v=spf1 a -all".to_owned()],
        );
        assert!(two.detail().contains("2 SPF records"), "{two:?}");
        assert_eq!(
            judge_spf(None, &["google-site-verification=x".to_owned()]).label(),
            "missing"
        );
    }
}
