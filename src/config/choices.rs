//! Settings that choose between a few ways of behaving, each spelled as a word.

use std::str::FromStr;

/// How log lines are written: for a person at a terminal, or one JSON object
/// a line for a log shipper (journald, Loki, Vector, Elasticsearch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl FromStr for LogFormat {
    type Err = &'static str;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err("the log format is `text` or `json`"),
        }
    }
}

/// Which accounts must sign in with a one-time code as well as a password
/// (`HERALD_REQUIRE_2FA`). Accounts it covers that have not set it up can
/// reach only their account page, to set it up, until they do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwoFactorPolicy {
    None,
    Admins,
    All,
}

impl TwoFactorPolicy {
    pub fn requires(self, role: crate::accounts::Role) -> bool {
        match self {
            Self::None => false,
            Self::Admins => role == crate::accounts::Role::Admin,
            Self::All => true,
        }
    }
}

impl FromStr for TwoFactorPolicy {
    type Err = &'static str;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(Self::None),
            "admins" => Ok(Self::Admins),
            "all" => Ok(Self::All),
            _ => Err("use none, admins or all"),
        }
    }
}
