//! The SMTP relay that SMTP_URL names, and how one session with it is opened:
//! TCP with TCP_NODELAY, TLS, EHLO, STARTTLS and AUTH, each step by lettre's
//! SMTP client on a socket Herald opened itself.

use std::borrow::Cow;
use std::fmt::Display;

use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::commands::Ehlo;
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::{SMTP_PORT, SUBMISSIONS_PORT, SUBMISSION_PORT};
use tokio::net::TcpStream;
use url::{Host, Url};

use super::tls::{ExtraRoots, ImplicitTls};
use super::SendError;

pub struct Relay {
    /// A DNS name or an IP address (without the brackets of an IPv6 URL).
    host: String,
    port: u16,
    security: Security,
    credentials: Option<Credentials>,
    hello: ClientId,
    /// `smtps://host:port`, never with the credentials.
    name: String,
}

enum Security {
    /// `smtp://` without `tls=`: plain text, even if the server offers
    /// STARTTLS (as lettre reads such a URL).
    Plain,
    /// `tls=opportunistic` upgrades when the server offers STARTTLS;
    /// `tls=required` gives up on a server that does not.
    StartTls {
        parameters: TlsParameters,
        required: bool,
    },
    /// `smtps://`: TLS from the first byte.
    Implicit(ImplicitTls),
}

impl Relay {
    /// Reads SMTP_URL as lettre's `AsyncSmtpTransport::from_url` does:
    /// `smtp://host[:25]` plain, `smtp://host[:587]?tls=required` or
    /// `?tls=opportunistic` with STARTTLS, `smtps://host[:465]` implicit TLS;
    /// `user:password@` (percent-encoded) for AUTH PLAIN or LOGIN, used only
    /// when a password is given; a path names the host in EHLO
    /// (`smtp://relay/mta.example.com`), else the machine's host name.
    ///
    /// An error never repeats the URL: it may hold a password.
    pub fn from_url(url: &str, roots: &ExtraRoots) -> Result<Self, String> {
        let url = Url::parse(url).map_err(|e| format!("not a URL ({e})"))?;
        let (host, tls_name) = match url.host() {
            Some(Host::Domain(domain)) if !domain.is_empty() => {
                (domain.to_owned(), domain.to_owned())
            }
            Some(Host::Ipv4(address)) => (address.to_string(), address.to_string()),
            Some(Host::Ipv6(address)) => (address.to_string(), address.to_string()),
            _ => return Err("has no host".into()),
        };
        let tls = url
            .query_pairs()
            .find(|(key, _)| key == "tls")
            .map(|(_, value)| value.into_owned());
        let (security, default_port, marker) = match (url.scheme(), tls.as_deref()) {
            ("smtp", None) => (Security::Plain, SMTP_PORT, ""),
            ("smtp", Some(mode @ ("required" | "opportunistic"))) => (
                Security::StartTls {
                    parameters: roots.starttls_parameters(&tls_name)?,
                    required: mode == "required",
                },
                SUBMISSION_PORT,
                if mode == "required" {
                    " (STARTTLS required)"
                } else {
                    " (STARTTLS if offered)"
                },
            ),
            ("smtp", Some(_)) => {
                return Err("tls= must be `required` or `opportunistic`".into());
            }
            ("smtps", _) => (
                Security::Implicit(roots.implicit_tls(&tls_name)?),
                SUBMISSIONS_PORT,
                "",
            ),
            _ => return Err("scheme must be smtp:// or smtps://".into()),
        };
        let port = url.port().unwrap_or(default_port);
        let credentials = match url.password() {
            Some(password) => Some(Credentials::new(
                percent_decoded(url.username(), "user name")?,
                percent_decoded(password, "password")?,
            )),
            None => None,
        };
        let hello = match url.path().trim_matches('/') {
            "" => ClientId::default(),
            name => ClientId::Domain(name.to_owned()),
        };
        let name = format!(
            "{}://{}:{port}{marker}",
            url.scheme(),
            url.host_str().unwrap_or(&host)
        );
        Ok(Self {
            host,
            port,
            security,
            credentials,
            hello,
            name,
        })
    }

    /// Where mail goes, e.g. `smtp://relay.example.com:587 (STARTTLS required)`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A session ready for `MAIL FROM`: greeted, encrypted as the URL asks,
    /// authenticated if it has credentials; and whether the relay takes
    /// pipelined commands.
    pub async fn open(&self) -> Result<(AsyncSmtpConnection, bool), SendError> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| self.unreachable(e))?;
        tcp.set_nodelay(true).map_err(|e| self.unreachable(e))?;
        let stream: Box<dyn AsyncTokioStream> = match &self.security {
            Security::Implicit(tls) => tls.handshake(tcp).await.map_err(|e| self.unreachable(e))?,
            Security::Plain | Security::StartTls { .. } => Box::new(tcp),
        };
        let mut connection = AsyncSmtpConnection::connect_with_transport(stream, &self.hello)
            .await
            .map_err(|e| self.refused(e))?;
        if let Security::StartTls {
            parameters,
            required,
        } = &self.security
        {
            // lettre's `starttls` upgrades the socket in place: TCP_NODELAY stays.
            if *required || connection.can_starttls() {
                connection
                    .starttls(parameters.clone(), &self.hello)
                    .await
                    .map_err(|e| self.refused(e))?;
            }
        }
        if let Some(credentials) = &self.credentials {
            connection
                .auth(DEFAULT_MECHANISMS, credentials)
                .await
                .map_err(|e| self.refused(e))?;
        }
        // lettre keeps no note of PIPELINING (RFC 2920); a second EHLO, once
        // per session, reads the relay's extensions again.
        let extensions = connection
            .command(Ehlo::new(self.hello.clone()))
            .await
            .map_err(|e| self.refused(e))?;
        let pipelining = extensions.message().any(|line| {
            line.split_whitespace()
                .next()
                .is_some_and(|keyword| keyword.eq_ignore_ascii_case("PIPELINING"))
        });
        Ok((connection, pipelining))
    }

    fn unreachable(&self, error: impl Display) -> SendError {
        SendError::Transient(format!("cannot connect to {}: {error}", self.name))
    }

    /// A 5xx while opening (such as 535 for wrong credentials) is permanent.
    fn refused(&self, error: lettre::transport::smtp::Error) -> SendError {
        let text = format!("{}: cannot open a session: {error}", self.name);
        if error.is_permanent() {
            SendError::Permanent(text)
        } else {
            SendError::Transient(text)
        }
    }
}

fn percent_decoded(raw: &str, what: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(Cow::into_owned)
        .map_err(|_| format!("the {what} is not UTF-8 once percent-decoded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relay(url: &str) -> Relay {
        Relay::from_url(url, &ExtraRoots::default())
            .unwrap_or_else(|e| panic!("{url} is refused: {e}"))
    }

    #[test]
    fn ports_and_security_follow_lettres_reading_of_the_url() {
        let plain = relay("smtp://mail.example.com");
        assert_eq!(plain.port, 25);
        assert!(matches!(plain.security, Security::Plain));
        assert!(plain.credentials.is_none());

        let required = relay("smtp://mail.example.com?tls=required");
        assert_eq!(required.port, 587);
        assert!(matches!(
            required.security,
            Security::StartTls { required: true, .. }
        ));

        let opportunistic = relay("smtp://mail.example.com:2525?tls=opportunistic");
        assert_eq!(opportunistic.port, 2525);
        assert!(matches!(
            opportunistic.security,
            Security::StartTls {
                required: false,
                ..
            }
        ));

        let implicit = relay("smtps://mail.example.com");
        assert_eq!(implicit.port, 465);
        assert!(matches!(implicit.security, Security::Implicit(_)));
        assert_eq!(implicit.name(), "smtps://mail.example.com:465");
    }

    #[test]
    fn credentials_are_used_only_with_a_password_and_are_percent_decoded() {
        assert!(relay("smtp://someone@mail.example.com")
            .credentials
            .is_none());
        let with = relay("smtp://a%40b.c:p%3Aw%2F@mail.example.com");
        assert_eq!(
            with.credentials,
            Some(Credentials::new("a@b.c".into(), "p:w/".into()))
        );
    }

    #[test]
    fn the_path_names_the_host_in_ehlo() {
        let named = relay("smtp://127.0.0.1:2525/mta.example.com");
        assert_eq!(named.hello, ClientId::Domain("mta.example.com".into()));
        assert_eq!(relay("smtp://127.0.0.1/").hello, ClientId::default());
    }

    #[test]
    fn an_ipv6_host_is_dialled_without_brackets() {
        let v6 = relay("smtps://[::1]:4650");
        assert_eq!(v6.host, "::1");
        assert_eq!(v6.name(), "smtps://[::1]:4650");
    }

    #[test]
    fn errors_never_repeat_the_url() {
        for url in [
            "smtp://user:hunter2@mail.example.com?tls=sometimes",
            "http://user:hunter2@mail.example.com",
            "smtp://user:hunter2@",
            "smtp://user:hunter2%ff@mail.example.com",
        ] {
            let error = Relay::from_url(url, &ExtraRoots::default())
                .err()
                .unwrap_or_else(|| panic!("{url} is accepted"));
            assert!(!error.contains("hunter2"), "{error}");
        }
    }
}
