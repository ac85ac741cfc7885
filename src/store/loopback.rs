//! PostgreSQL on the same machine without TLS, when the operator did not ask
//! for TLS.
//!
//! libpq's default, `sslmode=prefer`, wraps even a loopback connection in TLS,
//! which protects nothing the kernel does not already protect and costs both
//! sides CPU on every statement: a sixteenth of PostgreSQL's samples in a
//! profile of a send (docs/performance.md). An A/B of the send with
//! `herald-bench --database` (three pairs, 2026-11-29, helpers building
//! beside it) could not tell the two apart from noise, so this is kept for
//! the work it removes, not for a figure. `sslmode=allow` (plain first, TLS
//! if the server insists) would be the right setting, but sqlx
//! treats it as `disable`. So Herald does what `allow` means itself: where the
//! URL names a loopback host and no `sslmode`, and `PGSSLMODE` is not set, it
//! tries plain text first and falls back to the URL as written.

use url::Url;

/// The URL to try first, if it differs from `url`: the same one with
/// `sslmode=disable`.
pub(super) fn plain_text_first(url: &str) -> Option<String> {
    if std::env::var_os("PGSSLMODE").is_some() {
        return None;
    }
    let mut parsed = Url::parse(url).ok()?;
    let names_tls = parsed
        .query_pairs()
        .any(|(name, _)| name == "sslmode" || name == "ssl-mode");
    // `host=` in the query names a socket directory or another server; the
    // URL's own host is then not the one connected to.
    let names_host = parsed.query_pairs().any(|(name, _)| name == "host");
    if names_tls || names_host || !is_loopback(parsed.host()?) {
        return None;
    }
    parsed.query_pairs_mut().append_pair("sslmode", "disable");
    Some(parsed.into())
}

fn is_loopback(host: url::Host<&str>) -> bool {
    match host {
        // `postgres:` is not a scheme the URL standard knows, so an IPv4
        // address arrives as a name.
        url::Host::Domain(name) => {
            name.eq_ignore_ascii_case("localhost")
                || name
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|address| address.is_loopback())
        }
        url::Host::Ipv4(address) => address.is_loopback(),
        url::Host::Ipv6(address) => address.is_loopback(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loopback_url_without_sslmode_is_tried_in_plain_text_first() {
        for url in [
            "postgres://postgres@127.0.0.1:5432/test",
            "postgres://herald:pw@localhost/herald",
            "postgresql://root@[::1]:5432/test?application_name=herald",
        ] {
            let first = plain_text_first(url).expect(url);
            assert!(first.ends_with("sslmode=disable"), "{first}");
            assert!(first.starts_with(url.split('?').next().unwrap_or(url)));
        }
    }

    #[test]
    fn an_operator_s_choice_or_a_remote_server_is_left_as_written() {
        for url in [
            "postgres://postgres@127.0.0.1:5432/test?sslmode=require",
            "postgres://postgres@127.0.0.1/test?ssl-mode=verify-full",
            "postgres://herald@db.example/herald",
            "postgres://herald@10.0.0.5/herald",
            "postgres://herald@localhost/herald?host=/run/postgresql",
        ] {
            assert_eq!(plain_text_first(url), None, "{url}");
        }
    }
}
