//! TLS for SMTP: the trusted roots (webpki's, plus HERALD_SMTP_CA_FILE), the
//! parameters lettre uses for STARTTLS, and implicit TLS (`smtps://`) on a
//! socket Herald opened itself. The bounce mailbox (IMAP) trusts the same
//! way, with its own extra roots.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use lettre::transport::smtp::client::{AsyncTokioStream, Certificate, TlsParameters};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// Certificate authorities trusted besides the public ones, for a relay with
/// a private or self-signed certificate.
#[derive(Debug, Clone, Default)]
pub struct ExtraRoots(Vec<CertificateDer<'static>>);

impl ExtraRoots {
    /// Every certificate in a PEM file; an error names no more than the path.
    pub fn load(path: &Path) -> Result<Self, String> {
        let pem = std::fs::read(path).map_err(|e| format!("cannot read it ({e})"))?;
        let certificates = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("is not a PEM file of certificates ({e})"))?;
        if certificates.is_empty() {
            return Err("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into());
        }
        // The same test rustls will apply, here where it can name the file.
        let mut store = RootCertStore::empty();
        for certificate in &certificates {
            store
                .add(certificate.clone())
                .map_err(|e| format!("holds a certificate rustls cannot use ({e})"))?;
        }
        Ok(Self(certificates))
    }

    /// What lettre needs to upgrade a connection with STARTTLS to `server_name`.
    pub fn starttls_parameters(&self, server_name: &str) -> Result<TlsParameters, String> {
        let mut builder = TlsParameters::builder(server_name.to_owned());
        for certificate in &self.0 {
            let certificate = Certificate::from_der(certificate.to_vec())
                .map_err(|e| format!("cannot use the certificate authority ({e})"))?;
            builder = builder.add_root_certificate(certificate);
        }
        builder
            .build_rustls()
            .map_err(|e| format!("cannot set up TLS ({e})"))
    }

    /// A client for implicit TLS to `server_name`, trusting what lettre's
    /// STARTTLS trusts: the webpki roots (lettre's `rustls-tls` store) and ours.
    pub fn implicit_tls(&self, server_name: &str) -> Result<ImplicitTls, String> {
        let server_name = ServerName::try_from(server_name.to_owned())
            .map_err(|_| "the host is neither a DNS name nor an IP address".to_owned())?;
        Ok(ImplicitTls {
            connector: self.connector()?,
            server_name,
        })
    }

    /// A rustls client (ring, the safe default protocol versions) trusting
    /// the webpki roots and ours.
    pub fn connector(&self) -> Result<TlsConnector, String> {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for certificate in &self.0 {
            roots
                .add(certificate.clone())
                .map_err(|e| format!("cannot use the certificate authority ({e})"))?;
        }
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS ({e})"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TlsConnector::from(Arc::new(config)))
    }
}

/// TLS from the first byte (`smtps://`, port 465).
///
/// Done here rather than by lettre's `connect_tokio1`, which opens its own
/// socket: Herald's sockets carry TCP_NODELAY, without which every message
/// waits about 40 ms on the receiver's delayed ACK (lettre writes the body
/// and the closing dot separately).
#[derive(Clone)]
pub struct ImplicitTls {
    connector: TlsConnector,
    server_name: ServerName<'static>,
}

impl ImplicitTls {
    pub async fn handshake(&self, tcp: TcpStream) -> io::Result<Box<dyn AsyncTokioStream>> {
        let stream = self
            .connector
            .connect(self.server_name.clone(), tcp)
            .await?;
        Ok(Box::new(TlsTransport(stream)))
    }
}

/// A TLS stream lettre can speak SMTP over. lettre sees a plain transport:
/// it is never asked for STARTTLS on it.
#[derive(Debug)]
struct TlsTransport(tokio_rustls::client::TlsStream<TcpStream>);

impl AsyncTokioStream for TlsTransport {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

impl AsyncRead for TlsTransport {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsTransport {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}
