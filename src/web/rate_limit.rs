//! Per-client signup limit (GCRA, from `governor`).

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

pub struct SignupLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl SignupLimiter {
    pub fn per_minute(limit: NonZeroU32) -> Self {
        Self {
            limiter: RateLimiter::keyed(Quota::per_minute(limit)),
        }
    }

    /// `Err(wait)` when the client must wait before signing up again.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        self.limiter
            .check_key(&client_key(ip))
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Forgets clients whose limit has fully recovered, so memory stays flat.
    pub fn forget_idle_clients(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// One IPv6 user usually holds a whole /64; limiting single addresses would
/// let them rotate through it. The login lock keys clients the same way.
pub(crate) fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_applies_per_client_and_per_ipv6_prefix() {
        let limiter = SignupLimiter::per_minute(NonZeroU32::new(2).expect("non-zero"));
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        assert!(limiter.check(a).is_ok());
        assert!(limiter.check(a).is_ok());
        let wait = limiter.check(a).expect_err("third is over the limit");
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(30));
        assert!(limiter.check(b).is_ok());
        let v6a: IpAddr = "2001:db8::1".parse().expect("ip");
        let v6b: IpAddr = "2001:db8::ffff".parse().expect("ip");
        assert!(limiter.check(v6a).is_ok());
        assert!(limiter.check(v6b).is_ok());
        assert!(limiter.check(v6a).is_err());
    }
}
