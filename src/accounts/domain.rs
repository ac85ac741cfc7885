//! Account types: a role, a password that meets the rules, a user.

use std::fmt;
use std::str::FromStr;

use secrecy::{ExposeSecret, SecretString};

pub const MIN_PASSWORD_LENGTH: usize = 12;
const MAX_PASSWORD_LENGTH: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Editor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Editor => "editor",
        }
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw.trim() {
            "admin" => Ok(Self::Admin),
            "editor" => Ok(Self::Editor),
            other => Err(format!("unknown role {other:?}: use admin or editor")),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A new password that meets the rules (12 to 1024 characters).
pub struct NewPassword(SecretString);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("A password needs at least {MIN_PASSWORD_LENGTH} characters.")]
    TooShort,
    #[error("A password has at most {MAX_PASSWORD_LENGTH} characters.")]
    TooLong,
}

impl NewPassword {
    pub fn parse(raw: SecretString) -> Result<Self, PasswordError> {
        let length = raw.expose_secret().chars().count();
        if length < MIN_PASSWORD_LENGTH {
            Err(PasswordError::TooShort)
        } else if length > MAX_PASSWORD_LENGTH {
            Err(PasswordError::TooLong)
        } else {
            Ok(Self(raw))
        }
    }

    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

/// A signed-in person or one listed on the users page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub role: Role,
    pub disabled: bool,
    pub session_epoch: i64,
    pub created_at: i64,
    /// Signs in with a one-time code after the password.
    pub two_factor: bool,
}

impl User {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_need_twelve_characters() {
        assert!(NewPassword::parse(SecretString::from("elevenchars")).is_err());
        assert!(NewPassword::parse(SecretString::from("twelve chars")).is_ok());
        assert_eq!(
            NewPassword::parse(SecretString::from("ééééééééééé")).err(),
            Some(PasswordError::TooShort)
        );
    }

    #[test]
    fn roles_parse() {
        assert_eq!("admin".parse::<Role>(), Ok(Role::Admin));
        assert_eq!(" editor ".parse::<Role>(), Ok(Role::Editor));
        assert!("root".parse::<Role>().is_err());
    }
}
