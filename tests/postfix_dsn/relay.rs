//! A real Postfix (Debian's package) started by the test as Herald's relay:
//! its own configuration directory, queue and data directory in a temporary
//! folder, one smtpd on a loopback port and no other listener. It relays
//! every reader's copy to a sink, and delivers the DSNs it writes to the
//! bounce domain through the pipe transport of docs/bounces.md. The system
//! instance (`/etc/postfix`, `/var/spool/postfix`) is never touched; `Drop`
//! stops this one, whatever the test's outcome.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const POSTFIX: &str = "/usr/sbin/postfix";
const POSTMAP: &str = "/usr/sbin/postmap";
const POSTALIAS: &str = "/usr/sbin/postalias";
/// The unprivileged user the pipe runs `herald bounces ingest` as: Postfix
/// refuses root there, and an operator's `herald` user has no more rights.
pub const PIPE_USER: &str = "nobody";
/// How long `postfix stop` may take to end its master process.
const STOP_WAIT: Duration = Duration::from_secs(10);

/// Why the Postfix test cannot run here, if it cannot.
pub fn unavailable() -> Option<String> {
    if !Path::new(POSTFIX).exists() || !Path::new(POSTMAP).exists() {
        return Some(
            "Postfix is not installed (DEBIAN_FRONTEND=noninteractive apt-get install -y postfix)"
                .to_owned(),
        );
    }
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned());
    match uid {
        Ok(uid) if uid == "0" => None,
        Ok(_) => Some("Postfix's master must be started as root; these tests are not".to_owned()),
        Err(e) => Some(format!("cannot tell whether these tests run as root: {e}")),
    }
}

/// What the test wires into Postfix.
pub struct Wiring<'a> {
    /// The loopback port Herald submits to (Postfix's smtpd).
    pub smtpd_port: u16,
    /// The loopback port of the sink every reader's copy is relayed to.
    pub sink_port: u16,
    /// `HERALD_BOUNCE_ADDRESS`: its domain is local to Postfix.
    pub bounce_address: &'a str,
    /// The `herald` executable the pipe runs.
    pub herald: &'a str,
    /// The pipe's working directory, holding the `.env` it reads.
    pub pipe_directory: &'a Path,
}

/// One running Postfix; stopped on drop.
pub struct Relay {
    config_directory: PathBuf,
    log_file: PathBuf,
    // Holds the configuration, queue and log; removed after the stop.
    _dir: tempfile::TempDir,
}

impl Relay {
    pub fn start(wiring: &Wiring<'_>) -> Relay {
        let dir = tempfile::Builder::new()
            .prefix("herald-postfix-")
            .tempdir()
            .expect("a temporary folder for Postfix");
        // Postfix's daemons run as the `postfix` user and must reach the
        // queue inside this folder.
        chmod(dir.path(), "755");
        let root = dir.path();
        for path in [root.to_str(), Some(wiring.herald)].into_iter().flatten() {
            assert!(
                !path.contains(char::is_whitespace),
                "a path Postfix reads must hold no spaces: {path}"
            );
        }
        let config_directory = root.join("config");
        let queue_directory = root.join("queue");
        let data_directory = root.join("data");
        let log_file = root.join("maillog");
        for directory in [&config_directory, &queue_directory, &data_directory] {
            std::fs::create_dir(directory).expect("create a Postfix folder");
        }
        chown(&data_directory, "postfix");
        let (local_part, bounce_domain) = wiring
            .bounce_address
            .split_once('@')
            .expect("a bounce address with a domain");
        let transport_file = config_directory.join("transport");
        let aliases_file = config_directory.join("aliases");
        write(
            &config_directory.join("main.cf"),
            &main_cf(&MainCf {
                root,
                queue_directory: &queue_directory,
                data_directory: &data_directory,
                log_file: &log_file,
                bounce_domain,
                sink_port: wiring.sink_port,
                transport_file: &transport_file,
                aliases_file: &aliases_file,
            }),
        );
        write(&config_directory.join("master.cf"), &master_cf(wiring));
        write(
            &transport_file,
            &format!("{local_part}@{bounce_domain}  herald-bounces:\n"),
        );
        write(&aliases_file, &format!("{local_part}: {PIPE_USER}\n"));
        let relay = Relay {
            config_directory,
            log_file,
            _dir: dir,
        };
        relay.run(POSTMAP, &[&format!("hash:{}", transport_file.display())]);
        relay.run(POSTALIAS, &[&format!("hash:{}", aliases_file.display())]);
        relay.run(POSTFIX, &["start"]);
        relay.wait_for_smtpd(wiring.smtpd_port);
        relay
    }

    /// Postfix's own log: what it relayed, bounced and piped, for a
    /// failure's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    /// Runs a Postfix command on this instance's configuration only.
    fn run(&self, program: &str, args: &[&str]) -> Output {
        let output = Command::new(program)
            .arg("-c")
            .arg(&self.config_directory)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        assert!(
            output.status.success(),
            "{program} {args:?} failed: {}{}\nlog:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            self.log()
        );
        output
    }

    fn wait_for_smtpd(&self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "Postfix's smtpd never listened on 127.0.0.1:{port}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether this instance's master still runs (`postfix status`).
    fn running(&self) -> bool {
        Command::new(POSTFIX)
            .arg("-c")
            .arg(&self.config_directory)
            .arg("status")
            .output()
            .is_ok_and(|output| output.status.success())
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let stopped = Command::new(POSTFIX)
            .arg("-c")
            .arg(&self.config_directory)
            .arg("stop")
            .output();
        if !stopped.is_ok_and(|output| output.status.success()) {
            eprintln!(
                "warning: `postfix stop` failed for {:?}",
                self.config_directory
            );
        }
        // The queue folder goes with the temporary folder: the master must
        // be gone first.
        let deadline = Instant::now() + STOP_WAIT;
        while self.running() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

struct MainCf<'a> {
    root: &'a Path,
    queue_directory: &'a Path,
    data_directory: &'a Path,
    log_file: &'a Path,
    bounce_domain: &'a str,
    sink_port: u16,
    transport_file: &'a Path,
    aliases_file: &'a Path,
}

/// Everything this instance needs, set here: nothing comes from the
/// system's `/etc/postfix/main.cf`, which may not even exist.
fn main_cf(cf: &MainCf<'_>) -> String {
    let mut text = String::new();
    let mut set = |name: &str, value: &dyn std::fmt::Display| {
        writeln!(text, "{name} = {value}").expect("write to a String");
    };
    set("compatibility_level", &"3.6");
    set("queue_directory", &cf.queue_directory.display());
    set("data_directory", &cf.data_directory.display());
    set("mail_owner", &"postfix");
    set("setgid_group", &"postdrop");
    // Logs to a file of its own instead of the system's syslog.
    set("maillog_file", &cf.log_file.display());
    set("maillog_file_prefixes", &cf.root.display());
    set("inet_interfaces", &"loopback-only");
    set("inet_protocols", &"ipv4");
    set("myhostname", &"relay.herald.test");
    set("mydomain", &"herald.test");
    set("myorigin", &"$myhostname");
    // The bounce domain is this Postfix's own: a DSN to it is not relayed.
    set("mydestination", &cf.bounce_domain);
    set("mynetworks", &"127.0.0.0/8");
    set("smtpd_relay_restrictions", &"permit_mynetworks, reject");
    set("relayhost", &format!("[127.0.0.1]:{}", cf.sink_port));
    // The bounce mailbox is a known local recipient (an alias), so that
    // smtpd takes DSNs from other servers; the transport still delivers it.
    set("alias_maps", &format!("hash:{}", cf.aliases_file.display()));
    set(
        "alias_database",
        &format!("hash:{}", cf.aliases_file.display()),
    );
    // The wiring of docs/bounces.md ("By pipe"):
    set("recipient_delimiter", &"+");
    set(
        "transport_maps",
        &format!("hash:{}", cf.transport_file.display()),
    );
    set("herald-bounces_destination_recipient_limit", &"1");
    text
}

/// The services a relay needs, none chrooted (the queue is not laid out for
/// it), one smtpd on the test's port, and the pipe of docs/bounces.md.
fn master_cf(wiring: &Wiring<'_>) -> String {
    format!(
        "\
127.0.0.1:{smtpd_port} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n -  0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n -  - trivial-rewrite
bounce    unix  - - n -  0 bounce
defer     unix  - - n -  0 bounce
trace     unix  - - n -  0 bounce
verify    unix  - - n -  1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -  - proxymap
smtp      unix  - - n -  - smtp
relay     unix  - - n -  - smtp
showq     unix  n - n -  - showq
error     unix  - - n -  - error
retry     unix  - - n -  - error
discard   unix  - - n -  - discard
local     unix  - n n -  - local
anvil     unix  - - n -  1 anvil
scache    unix  - - n -  1 scache
postlog   unix-dgram n - n - 1 postlogd
herald-bounces unix - n n - - pipe
  flags=Rq user={user} directory={directory} argv={herald} bounces ingest --recipient ${{original_recipient}}
",
        smtpd_port = wiring.smtpd_port,
        user = PIPE_USER,
        directory = wiring.pipe_directory.display(),
        herald = wiring.herald,
    )
}

fn write(path: &Path, contents: &str) {
    std::fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// `chown -R OWNER: PATH`, by the system's tool (it knows the user's group).
pub fn chown(path: &Path, owner: &str) {
    let status = Command::new("chown")
        .arg("-R")
        .arg(format!("{owner}:"))
        .arg(path)
        .status()
        .expect("run chown");
    assert!(status.success(), "chown -R {owner}: {}", path.display());
}

pub fn chmod(path: &Path, mode: &str) {
    let status = Command::new("chmod")
        .arg(mode)
        .arg(path)
        .status()
        .expect("run chmod");
    assert!(status.success(), "chmod {mode} {}", path.display());
}
