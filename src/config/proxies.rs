//! Which reverse proxies may tell us the client's address, and how the
//! address is read from `X-Forwarded-For` when they do.
//!
//! Every proxy appends the address it saw to `X-Forwarded-For`; whatever
//! stands left of the entry our own proxy appended was written by the client
//! and proves nothing. So the header is read from the right, starting from
//! the TCP peer, and only while each hop is a proxy we trust: the first
//! address that is not one of them is the client.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net};

/// The networks whose proxies we believe (`HERALD_TRUSTED_PROXIES`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl fmt::Debug for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(ToString::to_string))
            .finish()
    }
}

impl TrustedProxies {
    /// No proxy: the client is always the TCP peer.
    pub fn none() -> Self {
        Self(Vec::new())
    }

    /// Proxies on this machine only (127.0.0.0/8 and ::1): what the
    /// deprecated `HERALD_TRUST_PROXY_HEADERS=true` means now.
    pub fn loopback() -> Self {
        Self(vec![
            IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(127, 0, 0, 0), 8)),
            IpNet::from(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        ])
    }

    /// `10.0.0.0/8, 2001:db8::/32, 192.0.2.7`: CIDRs or single addresses,
    /// comma separated; empty means none.
    pub fn parse(raw: &str) -> Result<Self, String> {
        raw.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .map(|net| net.trunc())
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!("{entry:?} is not an address or a CIDR like 10.0.0.0/8 or fd00::/8")
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address, given the TCP peer and the `X-Forwarded-For`
    /// entries in header order. The header counts only when the peer is a
    /// trusted proxy; then each entry from the right is the hop before, until
    /// one is not a trusted proxy. An entry that is not an address ends the
    /// walk at the last proxy believed, so garbage never picks the address.
    pub fn client_address<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl DoubleEndedIterator<Item = &'a str>,
    ) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        for entry in forwarded_for.rev() {
            let Some(hop) = forwarded_entry(entry) else {
                break;
            };
            client = hop;
            if !self.trusts(hop) {
                break;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`
/// or `[2001:db8::1]:4711`.
fn forwarded_entry(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim();
    raw.parse::<IpAddr>()
        .ok()
        .or_else(|| raw.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(raw: &str) -> IpAddr {
        raw.parse().expect("an address")
    }

    fn walk(proxies: &TrustedProxies, peer: &str, header: &str) -> IpAddr {
        proxies.client_address(ip(peer), header.split(','))
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_peer() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").expect("valid");
        assert_eq!(
            walk(&proxies, "198.51.100.9", "203.0.113.5"),
            ip("198.51.100.9")
        );
        assert_eq!(
            walk(&TrustedProxies::none(), "10.0.0.1", "203.0.113.5"),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn the_entry_the_proxy_appended_wins_over_what_the_client_wrote() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, fd00::/8").expect("valid");
        // The client wrote 1.2.3.4; the proxy appended what it saw.
        assert_eq!(
            walk(&proxies, "10.0.0.1", "1.2.3.4, 203.0.113.5"),
            ip("203.0.113.5")
        );
        // Two proxies of ours: skip the inner one.
        assert_eq!(
            walk(&proxies, "10.0.0.1", "1.2.3.4, 203.0.113.5, 10.0.0.2"),
            ip("203.0.113.5")
        );
        assert_eq!(
            walk(&proxies, "fd00::1", "[2001:db8::7]:4711, fd00::2"),
            ip("2001:db8::7")
        );
        // Garbage stops the walk at the last proxy believed.
        assert_eq!(
            walk(&proxies, "10.0.0.1", "1.2.3.4, unknown"),
            ip("10.0.0.1")
        );
        // Only proxies all the way: the leftmost is as far as we know.
        assert_eq!(
            walk(&proxies, "10.0.0.1", "10.0.0.3, 10.0.0.2"),
            ip("10.0.0.3")
        );
        // An IPv4 peer seen through an IPv6 socket is still that IPv4 peer.
        assert_eq!(
            walk(&proxies, "::ffff:10.0.0.1", "203.0.113.5"),
            ip("203.0.113.5")
        );
    }

    #[test]
    fn loopback_trusts_this_machine_only() {
        let proxies = TrustedProxies::loopback();
        assert!(proxies.trusts(ip("127.0.0.1")));
        assert!(proxies.trusts(ip("::1")));
        assert!(!proxies.trusts(ip("10.0.0.1")));
    }

    #[test]
    fn a_bad_entry_is_named() {
        let error = TrustedProxies::parse("10.0.0.0/8, 10.0.0.0/33").expect_err("invalid");
        assert!(error.contains("10.0.0.0/33"), "{error}");
        assert!(TrustedProxies::parse("proxy.example.com").is_err());
        assert_eq!(
            TrustedProxies::parse(" 192.0.2.7 ").expect("valid"),
            TrustedProxies(vec![IpNet::from(ip("192.0.2.7"))])
        );
    }
}
