//! Settings that work but will hurt delivery or the law once the list goes
//! public: warned about at start, one line each, never refused, so local use
//! stays zero-configuration.

use std::net::IpAddr;

use url::{Host, Url};

use super::Config;

impl Config {
    /// One line per setting a public list should change.
    pub fn startup_warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if let Some(dkim) = &self.dkim {
            let from_domain = self.from.email.domain();
            if !aligned(&dkim.domain, from_domain) {
                warnings.push(format!(
                    "DKIM_DOMAIN {} is not aligned with the From domain {from_domain}: DMARC \
                     ignores the signature; use the From domain or a domain one is a subdomain of",
                    dkim.domain
                ));
            }
        }
        if self.postal_address.trim().is_empty() {
            warnings.push(
                "HERALD_POSTAL_ADDRESS is empty: CAN-SPAM requires a postal address in every \
                 mail's footer"
                    .to_owned(),
            );
        }
        if !self.base_url.is_https() && !is_loopback(self.base_url.as_str()) {
            warnings.push(format!(
                "HERALD_BASE_URL {} is not https: mail clients only offer one-click \
                 unsubscribe links over https",
                self.base_url
            ));
        }
        warnings
    }
}

/// DMARC's relaxed alignment, simplified to what needs no public-suffix list:
/// the same domain, or one a subdomain of the other.
fn aligned(dkim_domain: &str, from_domain: &str) -> bool {
    let normal = |domain: &str| domain.trim_end_matches('.').to_ascii_lowercase();
    let (dkim, from) = (normal(dkim_domain), normal(from_domain));
    dkim == from || dkim.ends_with(&format!(".{from}")) || from.ends_with(&format!(".{dkim}"))
}

/// A base URL only this machine can open: plain http is no one's risk there.
fn is_loopback(base_url: &str) -> bool {
    match Url::parse(base_url)
        .ok()
        .and_then(|url| url.host().map(|h| h.to_owned()))
    {
        Some(Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn warnings(pairs: &[(&str, &str)]) -> Vec<String> {
        let mut vars: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        vars.entry("HERALD_POSTAL_ADDRESS".into())
            .or_insert_with(|| "1 Main St, Springfield".into());
        Config::from_vars(&vars)
            .expect("valid configuration")
            .startup_warnings()
    }

    #[test]
    fn local_defaults_warn_only_about_the_postal_address() {
        let warnings = Config::from_vars(&HashMap::new())
            .expect("defaults are valid")
            .startup_warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].starts_with("HERALD_POSTAL_ADDRESS is empty"));
        assert!(warnings[0].contains("CAN-SPAM"));
    }

    #[test]
    fn a_postal_address_of_spaces_is_empty() {
        let warnings = warnings(&[("HERALD_POSTAL_ADDRESS", "   ")]);
        assert!(
            warnings[0].contains("HERALD_POSTAL_ADDRESS"),
            "{warnings:?}"
        );
    }

    #[test]
    fn plain_http_is_warned_about_except_on_this_machine() {
        for local in [
            "http://127.0.0.1:8080",
            "http://localhost:3000",
            "http://news.localhost",
            "http://[::1]:8080",
            "https://news.example.com",
        ] {
            assert!(
                warnings(&[("HERALD_BASE_URL", local)]).is_empty(),
                "{local}"
            );
        }
        let warned = warnings(&[("HERALD_BASE_URL", "http://news.example.com")]);
        assert_eq!(warned.len(), 1, "{warned:?}");
        assert!(warned[0].starts_with("HERALD_BASE_URL http://news.example.com is not https"));
    }

    #[test]
    fn dkim_aligns_on_the_same_domain_or_a_subdomain_either_way() {
        assert!(aligned("example.com", "example.com"));
        assert!(aligned("Example.COM.", "example.com"));
        assert!(aligned("mail.example.com", "example.com"));
        assert!(aligned("example.com", "news.example.com"));
        assert!(!aligned("example.org", "example.com"));
        assert!(!aligned("badexample.com", "example.com"));
        assert!(!aligned("com", "examplecom"));
    }

    #[test]
    fn a_dkim_domain_apart_from_the_from_domain_is_warned_about() {
        let key = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let dkim = |domain: &'static str| {
            warnings(&[
                ("HERALD_FROM", "News <news@example.com>"),
                ("DKIM_DOMAIN", domain),
                ("DKIM_SELECTOR", "herald"),
                ("DKIM_PRIVATE_KEY", key),
            ])
        };
        assert!(dkim("example.com").is_empty());
        assert!(dkim("mail.example.com").is_empty());
        let warned = dkim("example.org");
        assert_eq!(warned.len(), 1, "{warned:?}");
        assert!(
            warned[0].starts_with(
                "DKIM_DOMAIN example.org is not aligned with the From domain example.com"
            ),
            "{warned:?}"
        );
    }
}
