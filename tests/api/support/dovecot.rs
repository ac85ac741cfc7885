//! A real Dovecot (Debian's dovecot-imapd) for the bounce mailbox tests:
//! its own configuration folder, a passwd-file user, a Maildir and a
//! self-signed certificate in a temporary folder, loopback ports picked
//! free; never the system instance. Stopped when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use async_imap::Session;
use futures_util::TryStreamExt as _;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

pub const USER: &str = "herald";
/// Characters that must be percent-encoded in a URL, to prove they are decoded.
pub const PASSWORD: &str = "p@ss:w/rd%1";

/// Where the program is, or why it cannot run. Missing, a test says so
/// loudly and passes; under `CI=true` it fails.
fn program() -> Option<PathBuf> {
    let found = ["/usr/sbin/dovecot", "/usr/local/sbin/dovecot"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.is_file());
    if found.is_none() {
        let why = "dovecot is not installed (apt-get install dovecot-imapd)";
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("the bounce mailbox tests cannot run under CI=true: {why}");
        }
        eprintln!("\n*** bounce mailbox (Dovecot) test NOT run: {why} ***\n");
    }
    found
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DovecotTls {
    /// imaps on one port, STARTTLS on the other; no login before TLS.
    On,
    /// No TLS at all, plain-text logins allowed: a server Herald must refuse.
    Off,
}

pub struct Dovecot {
    /// 993's stand-in; 0 when TLS is off.
    pub imaps_port: u16,
    /// 143's stand-in.
    pub imap_port: u16,
    /// The certificate authority for HERALD_BOUNCE_MAILBOX_CA_FILE.
    pub ca_file: PathBuf,
    certificate: CertificateDer<'static>,
    log_file: PathBuf,
    child: Child,
    dir: tempfile::TempDir,
}

impl Dovecot {
    /// None when Dovecot is not installed (outside CI).
    pub async fn start(tls: DovecotTls) -> Option<Self> {
        Self::start_with(tls, "").await
    }

    /// With `extra` lines added to the configuration.
    pub async fn start_with(tls: DovecotTls, extra: &str) -> Option<Self> {
        let program = program()?;
        let dir = tempfile::tempdir().expect("a temporary folder");
        let root = dir.path();
        // Dovecot's unprivileged processes read the configuration's files
        // and the mail processes run as the mail user: the folder must be
        // reachable for them.
        set_mode(root, 0o755);
        let home = root.join("home");
        std::fs::create_dir(&home).expect("the home folder");
        set_mode(&home, 0o777);

        let certified =
            rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
                .expect("a certificate");
        let ca_file = root.join("ca.pem");
        std::fs::write(&ca_file, certified.cert.pem()).expect("write the certificate");
        let key_file = root.join("key.pem");
        std::fs::write(&key_file, certified.signing_key.serialize_pem()).expect("write the key");
        // Base64, since a passwd-file field cannot hold the password's colon.
        let password = {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(PASSWORD)
        };
        std::fs::write(
            root.join("passwd"),
            format!("{USER}:{{PLAIN.b64}}{password}\n"),
        )
        .expect("write the passwd file");

        let (imaps_port, imap_port) = match tls {
            DovecotTls::On => (free_port(), free_port()),
            DovecotTls::Off => (0, free_port()),
        };
        let log_file = root.join("dovecot.log");
        let ssl = match tls {
            DovecotTls::On => format!(
                "ssl = yes\nssl_cert = <{}\nssl_key = <{}\ndisable_plaintext_auth = yes\n",
                ca_file.display(),
                key_file.display()
            ),
            DovecotTls::Off => "ssl = no\ndisable_plaintext_auth = no\n".to_owned(),
        };
        let (internal_user, mail_ids) = users();
        let config = format!(
            "base_dir = {root}/run\n\
             state_dir = {root}/state\n\
             log_path = {log}\n\
             protocols = imap\n\
             listen = 127.0.0.1\n\
             {internal_user}\
             {ssl}\
             auth_mechanisms = plain\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%n {root}/passwd\n}}\n\
             userdb {{\n  driver = static\n  args = {mail_ids} home={root}/home/%n\n}}\n\
             mail_location = maildir:~/Maildir\n\
             service imap-login {{\n  chroot =\n  inet_listener imap {{\n    port = {imap_port}\n  }}\n  \
             inet_listener imaps {{\n    port = {imaps_port}\n  }}\n}}\n\
             service anvil {{\n  chroot =\n}}\n\
             {extra}\n",
            root = root.display(),
            log = log_file.display(),
        );
        let config_file = root.join("dovecot.conf");
        std::fs::write(&config_file, config).expect("write the configuration");
        let child = Command::new(program)
            .arg("-F")
            .arg("-c")
            .arg(&config_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start dovecot");
        let dovecot = Self {
            imaps_port,
            imap_port,
            ca_file,
            certificate: certified.cert.der().clone(),
            log_file,
            child,
            dir,
        };
        dovecot.wait_until_listening().await;
        Some(dovecot)
    }

    async fn wait_until_listening(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if TcpStream::connect(("127.0.0.1", self.imap_port))
                .await
                .is_ok()
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "dovecot did not listen on {} within 20 s; its log:\n{}",
                self.imap_port,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `imaps://herald:PASSWORD@127.0.0.1:PORT/INBOX`, the password encoded.
    pub fn imaps_url(&self, password: &str) -> String {
        format!(
            "imaps://{USER}:{}@127.0.0.1:{}/INBOX",
            encoded(password),
            self.imaps_port
        )
    }

    /// `imap://…` (STARTTLS).
    pub fn imap_url(&self, password: &str) -> String {
        format!(
            "imap://{USER}:{}@127.0.0.1:{}/INBOX",
            encoded(password),
            self.imap_port
        )
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    /// A client of the test's own, over implicit TLS, logged in.
    pub async fn client(&self) -> MailboxClient {
        let mut roots = RootCertStore::empty();
        roots.add(self.certificate.clone()).expect("the test CA");
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tcp = TcpStream::connect(("127.0.0.1", self.imaps_port))
            .await
            .expect("connect to dovecot");
        let name = ServerName::try_from("127.0.0.1").expect("a server name");
        let stream = TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .expect("TLS with dovecot");
        let mut client = async_imap::Client::new(stream);
        client
            .read_response()
            .await
            .expect("the greeting")
            .expect("a greeting");
        let session = client
            .login(USER, PASSWORD)
            .await
            .map_err(|(error, _)| error)
            .expect("the test logs in");
        MailboxClient { session }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // SIGTERM lets the master stop its children; SIGKILL if it lingers.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = &self.dir;
    }
}

/// As root, Dovecot runs its internal processes as its own users and the
/// mail processes as `nobody`; otherwise everything as the current user.
fn users() -> (String, String) {
    let id = |flag: &str| {
        let output = Command::new("id").arg(flag).output().expect("run id");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    if id("-u") == "0" {
        (String::new(), "uid=65534 gid=65534".to_owned())
    } else {
        let name = id("-un");
        (
            format!("default_internal_user = {name}\ndefault_login_user = {name}\n"),
            format!("uid={} gid={}", id("-u"), id("-g")),
        )
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn encoded(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The test's view of the mailbox, as a mail client would have it.
pub struct MailboxClient {
    session: Session<TlsStream<TcpStream>>,
}

impl MailboxClient {
    pub async fn append(&mut self, folder: &str, message: &[u8]) {
        self.session
            .append(folder, None, None, message)
            .await
            .expect("APPEND");
    }

    /// How many messages `folder` holds (0 when it does not exist).
    pub async fn count(&mut self, folder: &str) -> u32 {
        match self.session.examine(folder).await {
            Ok(mailbox) => mailbox.exists,
            Err(_) => 0,
        }
    }

    /// The Message-ID header of each message in `folder`.
    pub async fn message_ids(&mut self, folder: &str) -> Vec<String> {
        let exists = self.session.examine(folder).await.expect("EXAMINE").exists;
        if exists == 0 {
            return Vec::new();
        }
        self.session
            .fetch("1:*", "BODY.PEEK[HEADER]")
            .await
            .expect("FETCH")
            .map_ok(|fetch| {
                String::from_utf8_lossy(fetch.header().unwrap_or_default())
                    .lines()
                    .find(|line| line.to_ascii_lowercase().starts_with("message-id:"))
                    .unwrap_or_default()
                    .to_owned()
            })
            .try_collect()
            .await
            .expect("FETCH answers")
    }

    /// The names of every folder.
    pub async fn folders(&mut self) -> Vec<String> {
        self.session
            .list(Some(""), Some("*"))
            .await
            .expect("LIST")
            .map_ok(|name| name.name().to_owned())
            .try_collect()
            .await
            .expect("LIST answers")
    }
}
