//! `HERALD_BOUNCE_MAILBOX`: the IMAP mailbox the worker reads bounces and
//! complaints from, parsed once into its parts; the password stays secret.

use std::fmt;

use percent_encoding::percent_decode_str;
use secrecy::SecretString;
use url::{Host, Url};

/// How the connection is secured. There is no plain-text variant: Herald
/// never sends a mailbox password unencrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailboxSecurity {
    /// `imaps://`, TLS from the first byte (port 993).
    ImplicitTls,
    /// `imap://`, upgraded with STARTTLS before logging in (port 143).
    StartTls,
}

/// `imaps://user:pass@host[:port]/FOLDER` or `imap://…` (STARTTLS).
#[derive(Clone)]
pub struct MailboxUrl {
    pub security: MailboxSecurity,
    /// A DNS name or an IP address, without brackets.
    pub host: String,
    pub port: u16,
    /// Percent-decoded.
    pub user: String,
    /// Percent-decoded.
    pub password: SecretString,
    /// The folder reports arrive in, `INBOX` unless the path names another.
    pub folder: String,
}

impl MailboxUrl {
    /// An error never repeats the URL or the password.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = Url::parse(raw).map_err(|e| format!("not a URL ({e})"))?;
        let (security, default_port) = match url.scheme() {
            "imaps" => (MailboxSecurity::ImplicitTls, 993),
            "imap" => (MailboxSecurity::StartTls, 143),
            other => {
                return Err(format!(
                    "scheme must be imaps:// (TLS) or imap:// (STARTTLS), not {other}://"
                ))
            }
        };
        let host = match url.host() {
            Some(Host::Domain(name)) if !name.is_empty() => name.to_owned(),
            Some(Host::Ipv4(address)) => address.to_string(),
            Some(Host::Ipv6(address)) => address.to_string(),
            _ => return Err("has no host".into()),
        };
        let user = decoded(url.username(), "user name")?;
        if user.is_empty() {
            return Err("has no user name (imaps://USER:PASSWORD@host/INBOX)".into());
        }
        let password = decoded(url.password().unwrap_or(""), "password")?;
        if password.is_empty() {
            return Err("has no password (imaps://USER:PASSWORD@host/INBOX)".into());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("must not have a query or a fragment".into());
        }
        let folder = decoded(url.path().trim_start_matches('/'), "folder")?;
        let folder = if folder.is_empty() {
            "INBOX".to_owned()
        } else {
            folder
        };
        Ok(Self {
            security,
            host,
            port: url.port().unwrap_or(default_port),
            user,
            password: SecretString::from(password),
            folder,
        })
    }
}

/// IMAP quotes user, password and folder, but a line break or a NUL
/// cannot travel in a quoted string, and the text must be UTF-8.
fn decoded(raw: &str, what: &str) -> Result<String, String> {
    let text = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| format!("its {what} is not UTF-8 once percent-decoded"))?;
    if text.chars().any(|c| matches!(c, '\r' | '\n' | '\0')) {
        return Err(format!("its {what} holds a line break or a NUL"));
    }
    Ok(text.into_owned())
}

/// `imaps://bounces@mail.example.org:993/INBOX`: what logs may show.
impl fmt::Display for MailboxUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.security {
            MailboxSecurity::ImplicitTls => "imaps",
            MailboxSecurity::StartTls => "imap",
        };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        write!(
            f,
            "{scheme}://{}@{host}:{}/{}",
            self.user, self.port, self.folder
        )
    }
}

impl fmt::Debug for MailboxUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MailboxUrl({self}, password: [REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;

    use super::*;

    #[test]
    fn user_password_and_folder_are_percent_decoded() {
        let url = MailboxUrl::parse(
            "imaps://bounces%40example.org:p%40ss%3Aw%2Frd@mail.example.org/Bounce%20reports",
        )
        .expect("valid");
        assert_eq!(url.security, MailboxSecurity::ImplicitTls);
        assert_eq!(url.host, "mail.example.org");
        assert_eq!(url.port, 993);
        assert_eq!(url.user, "bounces@example.org");
        assert_eq!(url.password.expose_secret(), "p@ss:w/rd");
        assert_eq!(url.folder, "Bounce reports");
    }

    #[test]
    fn imap_means_starttls_on_143_and_the_folder_defaults_to_the_inbox() {
        let url = MailboxUrl::parse("imap://u:p@[::1]").expect("valid");
        assert_eq!(url.security, MailboxSecurity::StartTls);
        assert_eq!((url.host.as_str(), url.port), ("::1", 143));
        assert_eq!(url.folder, "INBOX");
        assert_eq!(url.to_string(), "imap://u@[::1]:143/INBOX");
    }

    #[test]
    fn the_password_shows_nowhere() {
        let url = MailboxUrl::parse("imaps://u:hunter2@host:1993/INBOX").expect("valid");
        assert!(!format!("{url:?}").contains("hunter2"));
        assert!(!url.to_string().contains("hunter2"));
        for bad in [
            "pop3://u:hunter2@host/INBOX",
            "imaps://u:hunter2@/INBOX",
            "imaps://:hunter2@host/INBOX",
            "imaps://u:hunter2@host/INBOX?x=1",
            "imaps://u:hunter2%0D%0A@host/INBOX",
            "imaps://u:hunter2%FF@host/INBOX",
        ] {
            let problem = MailboxUrl::parse(bad).expect_err(bad);
            assert!(!problem.contains("hunter2"), "{problem}");
        }
        let problem = MailboxUrl::parse("imaps://u@host/INBOX").expect_err("no password");
        assert!(problem.contains("no password"), "{problem}");
    }
}
