//! TLS in front of the plain test SMTP server: a self-signed certificate,
//! and a relay that ends TLS and passes the session on, either from the first
//! byte (`smtps://`) or after offering and accepting STARTTLS.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// A self-signed certificate for `localhost` and `127.0.0.1`, and its PEM
/// file for HERALD_SMTP_CA_FILE.
pub struct TestCertificate {
    pub pem_file: PathBuf,
    acceptor: TlsAcceptor,
    _dir: tempfile::TempDir,
}

impl TestCertificate {
    pub fn generate() -> Self {
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let certified = rcgen::generate_simple_self_signed(names).expect("a certificate");
        let dir = tempfile::tempdir().expect("a temporary folder");
        let pem_file = dir.path().join("relay-ca.pem");
        std::fs::write(&pem_file, certified.cert.pem()).expect("write the certificate");

        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        ));
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![certified.cert.der().clone()], key)
            .expect("the certificate and key match");
        Self {
            pem_file,
            acceptor: TlsAcceptor::from(Arc::new(config)),
            _dir: dir,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// TLS from the first byte, as on port 465.
    Implicit,
    /// Plain until the client asks for STARTTLS, which the relay adds to the
    /// server's EHLO reply and answers itself.
    StartTls,
}

pub struct TlsRelay {
    port: u16,
    handshakes: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl TlsRelay {
    /// Listens on 127.0.0.1 and passes each session on to the plain SMTP
    /// server on `backend_port`.
    pub async fn start(mode: TlsMode, certificate: &TestCertificate, backend_port: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the TLS relay");
        let port = listener.local_addr().expect("local address").port();
        let handshakes = Arc::new(AtomicUsize::new(0));
        let acceptor = certificate.acceptor.clone();
        let counter = Arc::clone(&handshakes);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let counter = Arc::clone(&counter);
                // A failed session (say, a client that rejects the
                // certificate) just ends; the test sees it from the client.
                tokio::spawn(async move {
                    let _ = relay(mode, client, acceptor, counter, backend_port).await;
                });
            }
        });
        Self {
            port,
            handshakes,
            task,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// TLS handshakes completed with clients.
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }
}

impl Drop for TlsRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(
    mode: TlsMode,
    client: TcpStream,
    acceptor: TlsAcceptor,
    handshakes: Arc<AtomicUsize>,
    backend_port: u16,
) -> io::Result<()> {
    let backend = TcpStream::connect(("127.0.0.1", backend_port)).await?;
    let (client, mut backend) = match mode {
        TlsMode::Implicit => (client, backend),
        TlsMode::StartTls => offer_starttls(client, backend).await?,
    };
    let mut client = acceptor.accept(client).await?;
    handshakes.fetch_add(1, Ordering::SeqCst);
    tokio::io::copy_bidirectional(&mut client, &mut backend).await?;
    Ok(())
}

/// Greeting and EHLO pass through, with STARTTLS added to the EHLO reply;
/// the client's STARTTLS is answered here. Returns both sides ready for TLS.
async fn offer_starttls(
    client: TcpStream,
    backend: TcpStream,
) -> io::Result<(TcpStream, TcpStream)> {
    let mut client = BufReader::new(client);
    let mut backend = BufReader::new(backend);

    let greeting = read_reply(&mut backend).await?;
    client.get_mut().write_all(greeting.as_bytes()).await?;

    let ehlo = read_line(&mut client).await?;
    if !ehlo.to_ascii_uppercase().starts_with("EHLO ") {
        return Err(io::Error::other(format!("expected EHLO, got {ehlo:?}")));
    }
    backend.get_mut().write_all(ehlo.as_bytes()).await?;
    let reply = read_reply(&mut backend).await?;
    let (first, rest) = reply
        .split_once("\r\n")
        .filter(|(_, rest)| !rest.is_empty())
        .ok_or_else(|| io::Error::other("expected a multi-line EHLO reply"))?;
    let offered = format!("{first}\r\n250-STARTTLS\r\n{rest}");
    client.get_mut().write_all(offered.as_bytes()).await?;

    let starttls = read_line(&mut client).await?;
    if !starttls.eq_ignore_ascii_case("STARTTLS\r\n") {
        return Err(io::Error::other(format!(
            "expected STARTTLS, got {starttls:?}"
        )));
    }
    client
        .get_mut()
        .write_all(b"220 2.0.0 Ready to start TLS\r\n")
        .await?;
    // Nothing is buffered: the client waits for the 220 before its handshake,
    // and the server for the next EHLO.
    Ok((client.into_inner(), backend.into_inner()))
}

async fn read_line(reader: &mut BufReader<TcpStream>) -> io::Result<String> {
    let mut line = String::new();
    if reader.read_line(&mut line).await? == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(line)
}

/// A whole reply: lines up to the one with a space after the code.
async fn read_reply(reader: &mut BufReader<TcpStream>) -> io::Result<String> {
    let mut reply = String::new();
    loop {
        let line = read_line(reader).await?;
        let last = line.as_bytes().get(3) != Some(&b'-');
        reply.push_str(&line);
        if last {
            return Ok(reply);
        }
    }
}
