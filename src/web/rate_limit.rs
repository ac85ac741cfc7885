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

/// How long to wait, as a visitor would say it: "in 30 seconds", "in a minute".
pub fn wait_in_words(wait: Duration) -> String {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    match seconds {
        0 | 1 => "in a second".to_owned(),
        2..=59 => format!("in {seconds} seconds"),
        60 => "in a minute".to_owned(),
        _ => match seconds.div_ceil(60) {
            1 => "in a minute".to_owned(),
            minutes => format!("in {minutes} minutes"),
        },
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
    fn waits_read_as_plain_words_with_the_right_plural() {
        let words = |millis| wait_in_words(Duration::from_millis(millis));
        assert_eq!(words(0), "in a second");
        assert_eq!(words(400), "in a second");
        assert_eq!(words(1_000), "in a second");
        assert_eq!(words(1_200), "in 2 seconds");
        assert_eq!(words(30_000), "in 30 seconds");
        assert_eq!(words(59_500), "in a minute");
        assert_eq!(words(60_000), "in a minute");
        assert_eq!(words(61_000), "in 2 minutes");
    }

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
