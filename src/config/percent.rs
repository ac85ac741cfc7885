//! A rate given in percent, as `HERALD_PAUSE_BOUNCE_RATE=5` or `0.3 %`.

use std::fmt;
use std::str::FromStr;

/// A share between 0 and 100 percent.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Percent(f64);

impl Percent {
    pub fn new(value: f64) -> Result<Self, String> {
        if value.is_finite() && (0.0..=100.0).contains(&value) {
            Ok(Self(value))
        } else {
            Err(format!("{value} is not a percent from 0 to 100"))
        }
    }

    pub fn value(self) -> f64 {
        self.0
    }

    /// Whether `part` of `whole` is more than this share; never for an empty whole.
    pub fn is_passed_by(self, part: i64, whole: i64) -> bool {
        // part / whole > p / 100, in integers where both fit: 100·part > p·whole.
        #[allow(clippy::cast_precision_loss)]
        let passed = whole > 0 && (part as f64) * 100.0 > self.0 * whole as f64;
        passed
    }
}

impl FromStr for Percent {
    type Err = String;

    /// `5`, `5%`, `0.3 %`; a comma is not a decimal point here, to keep
    /// `0,3` from meaning 3.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let number = raw.trim().trim_end_matches('%').trim();
        let value: f64 = number
            .parse()
            .map_err(|_| format!("{raw:?} is not a percent like 5 or 0.3"))?;
        Self::new(value)
    }
}

impl fmt::Display for Percent {
    /// `5 %`, `0.3 %`: as few decimals as the value needs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} %", trim_decimals(self.0))
    }
}

/// A rate to one decimal, `6.1`, or to two under one percent, `0.45`.
pub fn format_rate(value: f64) -> String {
    if value < 1.0 {
        trim_decimals((value * 100.0).round() / 100.0)
    } else {
        trim_decimals((value * 10.0).round() / 10.0)
    }
}

fn trim_decimals(value: f64) -> String {
    let text = format!("{value:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percents_parse_with_or_without_the_sign() {
        assert_eq!("5".parse::<Percent>().map(Percent::value), Ok(5.0));
        assert_eq!("0.3 %".parse::<Percent>().map(Percent::value), Ok(0.3));
        assert_eq!("100%".parse::<Percent>().map(Percent::value), Ok(100.0));
        for bad in ["", "-1", "100.5", "five", "0,3", "NaN", "inf"] {
            assert!(bad.parse::<Percent>().is_err(), "{bad:?} was taken");
        }
    }

    #[test]
    fn a_rate_passes_only_above_the_share() {
        let five = Percent::new(5.0).expect("valid");
        assert!(!five.is_passed_by(50, 1_000));
        assert!(five.is_passed_by(51, 1_000));
        assert!(!five.is_passed_by(1, 0));
        assert_eq!(five.to_string(), "5 %");
        assert_eq!(Percent::new(0.3).expect("valid").to_string(), "0.3 %");
        assert_eq!(format_rate(6.083), "6.1");
        assert_eq!(format_rate(0.4), "0.4");
    }
}
