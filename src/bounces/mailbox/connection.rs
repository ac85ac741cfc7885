//! Opening the bounce mailbox: TCP, TLS (from the first byte, or after
//! STARTTLS: never a password in plain text), then LOGIN.

use std::io;
use std::time::Duration;

use async_imap::{Client, Session};
use secrecy::ExposeSecret as _;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

use crate::config::{MailboxSecurity, MailboxUrl};

/// What every command of a mailbox session travels over.
pub type MailboxSession = Session<TlsStream<TcpStream>>;

/// Each step of opening a session may take this long; a server that
/// accepts the connection and then says nothing must not hang the reader.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the mailbox could not be read. None of these carries the password.
#[derive(Debug, thiserror::Error)]
pub enum MailboxError {
    #[error("cannot connect to {address}: {source}")]
    Connect { address: String, source: io::Error },
    #[error("TLS with {host} failed: {source}")]
    Tls { host: String, source: io::Error },
    #[error(
        "{host} does not offer STARTTLS ({answer}); Herald never logs in over plain text: \
         use imaps:// if the server has it"
    )]
    NoStartTls { host: String, answer: String },
    #[error("the server refused the login of {user}: {answer}")]
    LoginRefused { user: String, answer: String },
    #[error("the server did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the server closed the connection")]
    Closed,
    #[error("cannot use the folder {folder}: {source}")]
    Folder {
        folder: String,
        source: async_imap::error::Error,
    },
    #[error("IMAP: {0}")]
    Imap(#[from] async_imap::error::Error),
}

/// The TLS client and the name the server's certificate must carry.
#[derive(Clone)]
pub struct Tls {
    pub connector: TlsConnector,
    pub server_name: ServerName<'static>,
}

/// Connects, secures and logs in.
#[tracing::instrument(skip_all, fields(mailbox = %url))]
pub async fn open(url: &MailboxUrl, tls: &Tls) -> Result<MailboxSession, MailboxError> {
    let address = format!("{}:{}", url.host, url.port);
    let tcp = within(TcpStream::connect((url.host.as_str(), url.port)))
        .await?
        .map_err(|source| MailboxError::Connect {
            address: address.clone(),
            source,
        })?;
    // Commands are small and answered one at a time: no delayed-ACK waits.
    let _ = tcp.set_nodelay(true);
    let tcp = match url.security {
        MailboxSecurity::ImplicitTls => tcp,
        MailboxSecurity::StartTls => starttls(tcp, &url.host).await?,
    };
    let stream = within(tls.connector.connect(tls.server_name.clone(), tcp))
        .await?
        .map_err(|source| MailboxError::Tls {
            host: url.host.clone(),
            source,
        })?;
    let mut client = Client::new(stream);
    if url.security == MailboxSecurity::ImplicitTls {
        // The greeting; after STARTTLS there is none.
        within(client.read_response())
            .await?
            .map_err(async_imap::error::Error::Io)?
            .ok_or(MailboxError::Closed)?;
    }
    match within(client.login(&url.user, url.password.expose_secret())).await? {
        Ok(session) => Ok(session),
        Err((async_imap::error::Error::No(answer) | async_imap::error::Error::Bad(answer), _)) => {
            Err(MailboxError::LoginRefused {
                user: url.user.clone(),
                answer: server_text(&answer),
            })
        }
        Err((error, _)) => Err(error.into()),
    }
}

/// Reads the greeting and asks for STARTTLS in plain text; the server's
/// refusal ends it there, before any credential is sent. Whatever the
/// server wrote after its OK is dropped with the plain-text client, so no
/// answer injected before the handshake is ever read as one after it.
async fn starttls(tcp: TcpStream, host: &str) -> Result<TcpStream, MailboxError> {
    let mut client = Client::new(tcp);
    within(client.read_response())
        .await?
        .map_err(async_imap::error::Error::Io)?
        .ok_or(MailboxError::Closed)?;
    match within(client.run_command_and_check_ok("STARTTLS", None)).await? {
        Ok(()) => Ok(client.into_inner()),
        Err(async_imap::error::Error::No(answer) | async_imap::error::Error::Bad(answer)) => {
            Err(MailboxError::NoStartTls {
                host: host.to_owned(),
                answer: server_text(&answer),
            })
        }
        Err(error) => Err(error.into()),
    }
}

/// What the server said, out of async-imap's `code: …, info: Some("…")`.
fn server_text(answer: &str) -> String {
    answer
        .split_once("info: Some(\"")
        .and_then(|(_, rest)| rest.strip_suffix("\")"))
        .unwrap_or(answer)
        .to_owned()
}

/// One step, bounded by [`STEP_TIMEOUT`].
pub async fn within<T>(step: impl std::future::Future<Output = T>) -> Result<T, MailboxError> {
    tokio::time::timeout(STEP_TIMEOUT, step)
        .await
        .map_err(|_| MailboxError::Timeout(STEP_TIMEOUT))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_server_text_is_taken_out_of_the_crate_wrapping() {
        assert_eq!(
            super::server_text(
                r#"code: None, info: Some("[AUTHENTICATIONFAILED] Authentication failed.")"#
            ),
            "[AUTHENTICATIONFAILED] Authentication failed."
        );
        assert_eq!(super::server_text("odd"), "odd");
    }
}
