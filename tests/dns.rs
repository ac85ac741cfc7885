//! `herald dns --check` against a real DNS server: dnsmasq, started by the
//! test on a loopback port and serving the records the test chooses. The
//! real `herald` executable runs as an operator runs it.

use std::net::{TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/dkim");
const READY_WAIT: Duration = Duration::from_secs(10);
const START_ATTEMPTS: usize = 5;

/// dnsmasq serving `records` (name, TXT value) and answering "no such name"
/// for anything else under example.com; killed on drop.
struct DnsServer {
    child: Child,
    port: u16,
}

impl DnsServer {
    /// None (after a loud note) when dnsmasq is not installed, except under
    /// CI=true, where that fails the test.
    fn start(records: &[(&str, String)]) -> Option<Self> {
        if Command::new("dnsmasq").arg("--version").output().is_err() {
            let why = "dnsmasq is not installed (apt-get install dnsmasq)";
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("herald dns --check test cannot run under CI=true: {why}");
            }
            eprintln!("\n*** herald dns --check test NOT run: {why} ***\n");
            return None;
        }
        // The port is free for UDP when chosen; its TCP twin, or the port
        // itself a moment later, may not be, and then dnsmasq exits at once:
        // try another port rather than wait for a server that is gone.
        for _ in 0..START_ATTEMPTS {
            let port = UdpSocket::bind("127.0.0.1:0")
                .and_then(|s| s.local_addr())
                .expect("a free port")
                .port();
            let mut command = Command::new("dnsmasq");
            command.args([
                "--no-daemon",
                "--conf-file=/dev/null",
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                "--no-resolv",
                "--no-hosts",
                "--local=/example.com/",
                "--pid-file=",
                &format!("--port={port}"),
            ]);
            for (name, value) in records {
                command.arg(format!("--txt-record={name},{value}"));
            }
            let child = command
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("dnsmasq starts");
            let mut server = Self { child, port };
            let started = Instant::now();
            loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Some(server);
                }
                if matches!(server.child.try_wait(), Ok(Some(_))) {
                    break;
                }
                assert!(started.elapsed() < READY_WAIT, "dnsmasq did not start");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("dnsmasq exited at once on {START_ATTEMPTS} ports in a row")
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What openssl says the public half of a test key is.
fn public(name: &str) -> String {
    std::fs::read_to_string(format!("{KEYS}/public.txt"))
        .expect("public.txt")
        .lines()
        .find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')
                .map(str::to_owned)
        })
        .expect("key in public.txt")
}

fn herald_dns(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("dns")
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs([
            ("HERALD_FROM", "The Herald <news@example.com>".to_owned()),
            (
                "SMTP_URL",
                "smtp://sender:hunter2@smtp.example.com:587".to_owned(),
            ),
            ("DKIM_DOMAIN", "example.com".to_owned()),
            ("DKIM_SELECTOR", "rsa2026,ed2026".to_owned()),
            (
                "DKIM_PRIVATE_KEY",
                format!("{KEYS}/rsa2048.pem,{KEYS}/ed25519.pem"),
            ),
        ])
        .output()
        .expect("herald runs")
}

fn check(server: &DnsServer) -> (i32, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let resolver = format!("127.0.0.1:{}", server.port);
    let output = herald_dns(dir.path(), &["--check", "--resolver", &resolver]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !text.contains("hunter2"),
        "the SMTP password leaked: {text}"
    );
    (output.status.code().unwrap_or(-1), text)
}

fn line<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find(|l| l.split_whitespace().nth(1) == Some(name))
        .unwrap_or_else(|| panic!("no line for {name} in:\n{text}"))
}

#[test]
fn dns_prints_paste_able_records_computed_from_the_keys() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = herald_dns(dir.path(), &[]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    let rsa = text
        .lines()
        .find(|l| l.starts_with("rsa2026._domainkey.example.com. 3600 IN TXT "))
        .unwrap_or_else(|| panic!("no RSA record in:\n{text}"));
    // The 392-byte value as two strings of at most 255 bytes.
    let strings: Vec<&str> = rsa.split('"').skip(1).step_by(2).collect();
    assert_eq!(strings.len(), 2, "{rsa}");
    assert!(strings.iter().all(|s| s.len() <= 255));
    assert_eq!(
        strings.concat(),
        format!("v=DKIM1; k=rsa; p={}", public("rsa2048"))
    );
    assert!(text.contains(&format!(
        "ed2026._domainkey.example.com. 3600 IN TXT \"v=DKIM1; k=ed25519; p={}\"",
        public("ed25519")
    )));
    assert!(text.contains("example.com. 3600 IN TXT \"v=spf1 a:smtp.example.com ~all\""));
    assert!(text.contains(
        "_dmarc.example.com. 3600 IN TXT \"v=DMARC1; p=none; rua=mailto:dmarc-reports@example.com\""
    ));
    assert!(
        !text.contains("hunter2") && !text.contains("sender:"),
        "{text}"
    );
    // Everything that is not a record is a zone file comment.
    for l in text.lines().filter(|l| !l.contains(" 3600 IN ")) {
        assert!(l.starts_with(';'), "not a comment: {l}");
    }
}

#[test]
fn check_says_ok_for_each_record_when_dns_serves_them_all() {
    let Some(server) = DnsServer::start(&[
        (
            "rsa2026._domainkey.example.com",
            format!("v=DKIM1; k=rsa; p={}", public("rsa2048")),
        ),
        (
            "ed2026._domainkey.example.com",
            format!("v=DKIM1; k=ed25519; p={}", public("ed25519")),
        ),
        (
            "example.com",
            "v=spf1 include:_spf.example.com a:smtp.example.com ~all".to_owned(),
        ),
        ("example.com", "google-site-verification=abc".to_owned()),
        (
            "_dmarc.example.com",
            "v=DMARC1; p=quarantine; rua=mailto:d@example.com".to_owned(),
        ),
    ]) else {
        return;
    };
    let (code, text) = check(&server);
    assert_eq!(code, 0, "{text}");
    for name in [
        "rsa2026._domainkey.example.com",
        "ed2026._domainkey.example.com",
        "example.com",
        "_dmarc.example.com",
    ] {
        assert!(line(&text, name).starts_with("ok "), "{text}");
    }
    assert!(text.contains("All 4 records are in place."), "{text}");
}

#[test]
fn check_names_a_wrong_key_a_missing_key_a_missing_dmarc_and_two_spf_records() {
    let Some(server) = DnsServer::start(&[
        (
            // The ed25519 key published under the RSA selector.
            "rsa2026._domainkey.example.com",
            format!("v=DKIM1; k=rsa; p={}", public("ed25519")),
        ),
        ("example.com", "v=spf1 a:smtp.example.com ~all".to_owned()),
        ("example.com", "v=spf1 mx -all".to_owned()),
    ]) else {
        return;
    };
    let (code, text) = check(&server);
    assert_eq!(code, 1, "{text}");
    let rsa = line(&text, "rsa2026._domainkey.example.com");
    assert!(
        rsa.starts_with("wrong ") && rsa.contains("p= does not match"),
        "{text}"
    );
    let ed = line(&text, "ed2026._domainkey.example.com");
    assert!(ed.starts_with("missing "), "{text}");
    let dmarc = line(&text, "_dmarc.example.com");
    assert!(
        dmarc.starts_with("missing ") && dmarc.contains("no DMARC record"),
        "{text}"
    );
    let spf = line(&text, "example.com");
    assert!(
        spf.starts_with("wrong ") && spf.contains("2 SPF records"),
        "{text}"
    );
    // What to publish instead, for each record that is not right.
    assert!(
        text.contains(&format!(
            "publish: ed2026._domainkey.example.com. 3600 IN TXT \"v=DKIM1; k=ed25519; p={}\"",
            public("ed25519")
        )),
        "{text}"
    );
}

#[test]
fn check_reports_an_spf_record_without_the_relay() {
    let Some(server) = DnsServer::start(&[(
        "example.com",
        "v=spf1 include:_spf.google.com ~all".to_owned(),
    )]) else {
        return;
    };
    let (code, text) = check(&server);
    assert_eq!(code, 1, "{text}");
    let spf = line(&text, "example.com");
    assert!(
        spf.starts_with("wrong ") && spf.contains("does not name the relay smtp.example.com"),
        "{text}"
    );
}
