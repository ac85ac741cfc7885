//! Runs the real `herald` executable as a child process, the way an operator
//! would: each test in its own empty working directory, with an environment
//! that holds nothing but `PATH` and the variables the test sets.

#[path = "api/support/smtp_server.rs"]
#[allow(dead_code)]
mod smtp_server;

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use mail_parser::MessageParser;
use sqlx::{ConnectOptions, Connection};
use tokio::time::Instant;

use smtp_server::TestSmtpServer;

/// How long `herald serve` may take to answer `/health`.
const READY_WAIT: Duration = Duration::from_secs(30);
/// How long a process may take to exit after SIGTERM, or a one-shot command to finish.
const EXIT_WAIT: Duration = Duration::from_secs(20);
/// How long a bad configuration may take to stop start-up.
const CONFIG_ERROR_WAIT: Duration = Duration::from_secs(10);
/// How long mail may take to arrive.
const MAIL_WAIT: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(50);

// ---------------------------------------------------------------------------
// The child process
// ---------------------------------------------------------------------------

/// A running `herald` command whose stdout and stderr are collected by
/// background threads. Dropping it kills the process.
struct Process {
    child: Child,
    /// stdout and stderr, line by line in the order they arrived.
    output: Arc<Mutex<String>>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl Process {
    /// Starts `herald ARGS` in `dir` with only `PATH` and `envs` set: nothing
    /// (`DATABASE_URL`, `SMTP_URL`, `HERALD_*`, `RUST_LOG`, …) leaks in from
    /// the environment running the tests.
    fn spawn(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Process {
        let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
        command.args(args);
        Self::spawn_command(command, dir, args, envs)
    }

    /// `spawn`, but through `sh -c 'umask UMASK; exec herald ARGS'`: files
    /// are created as an operator's shell with that umask would create them.
    fn spawn_under_umask(umask: &str, dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Process {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_herald"))
            .args(args);
        Self::spawn_command(command, dir, args, envs)
    }

    fn spawn_command(
        mut command: Command,
        dir: &Path,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> Process {
        command
            .current_dir(dir)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        command.envs(envs.iter().copied());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start herald {args:?}: {e}"));

        let output = Arc::new(Mutex::new(String::new()));
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let stdout_pipe = child.stdout.take().expect("stdout is piped");
        let stderr_pipe = child.stderr.take().expect("stderr is piped");
        let readers = vec![
            collect(stdout_pipe, vec![output.clone(), stdout.clone()]),
            collect(stderr_pipe, vec![output.clone(), stderr.clone()]),
        ];
        Process {
            child,
            output,
            stdout,
            stderr,
            readers,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child
            .try_wait()
            .unwrap_or_else(|e| panic!("cannot ask whether herald exited: {e}"))
    }

    /// The exit status, once the process has ended and all its output has been
    /// read; `None` if it is still running after `within`.
    async fn wait_for_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.exit_status() {
                // The pipes are closed now, so the readers are at their end.
                for reader in self.readers.drain(..) {
                    let _ = reader.join();
                }
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Everything written to stdout and stderr so far.
    fn output(&self) -> String {
        lock(&self.output).clone()
    }

    fn stdout(&self) -> String {
        lock(&self.stdout).clone()
    }

    fn stderr(&self) -> String {
        lock(&self.stderr).clone()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Copies `stream` line by line into each of `sinks` until it ends.
fn collect(stream: impl Read + Send + 'static, sinks: Vec<Arc<Mutex<String>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line);
                    for sink in &sinks {
                        lock(sink).push_str(&text);
                    }
                }
            }
        }
    })
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port on 127.0.0.1");
    listener
        .local_addr()
        .expect("the address of a bound listener")
        .port()
}

// ---------------------------------------------------------------------------
// `herald serve`
// ---------------------------------------------------------------------------

/// `herald serve` on 127.0.0.1:PORT, which is also its public base URL.
struct Herald {
    process: Process,
    port: u16,
    client: reqwest::Client,
    /// `/health` requests that reached the server while waiting for it; each
    /// of them has a line in the request log.
    health_requests: usize,
}

impl Herald {
    async fn start(dir: &Path, envs: &[(&str, &str)]) -> Herald {
        Self::start_on(dir, free_port(), envs).await
    }

    /// Starts `herald serve` on `port` and waits until `/health` answers 200.
    async fn start_on(dir: &Path, port: u16, envs: &[(&str, &str)]) -> Herald {
        Self::start_under(None, dir, port, envs).await
    }

    /// `start_on`, with the process's umask set to `umask` when given.
    async fn start_under(
        umask: Option<&str>,
        dir: &Path,
        port: u16,
        envs: &[(&str, &str)],
    ) -> Herald {
        let bind = format!("127.0.0.1:{port}");
        let base_url = format!("http://127.0.0.1:{port}");
        let mut all_envs = vec![
            ("HERALD_BIND", bind.as_str()),
            ("HERALD_BASE_URL", base_url.as_str()),
        ];
        all_envs.extend_from_slice(envs);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("herald-process-tests/1.0")
            .timeout(Duration::from_secs(10))
            // No idle keep-alive connections: they would hold up a graceful stop.
            .pool_max_idle_per_host(0)
            .build()
            .expect("an HTTP client");
        let process = match umask {
            Some(umask) => Process::spawn_under_umask(umask, dir, &["serve"], &all_envs),
            None => Process::spawn(dir, &["serve"], &all_envs),
        };
        let mut herald = Herald {
            process,
            port,
            client,
            health_requests: 0,
        };
        herald.wait_until_ready().await;
        herald
    }

    async fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + READY_WAIT;
        let health = self.url("/health");
        loop {
            if let Some(status) = self.process.exit_status() {
                self.process.wait_for_exit(Duration::ZERO).await;
                panic!(
                    "herald serve exited with {status} before it was ready; output:\n{}",
                    self.process.output()
                );
            }
            if let Ok(response) = self.client.get(&health).send().await {
                self.health_requests += 1;
                if response.status() == 200 {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "herald serve did not answer GET /health with 200 within {READY_WAIT:?}; output:\n{}",
                self.process.output()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `path`, or a full link that must point at this server.
    fn url(&self, path_or_link: &str) -> String {
        if path_or_link.starts_with("http") {
            assert!(
                path_or_link.starts_with(&self.address()),
                "{path_or_link} does not point at {}",
                self.address()
            );
            path_or_link.to_owned()
        } else {
            format!("{}{path_or_link}", self.address())
        }
    }

    async fn get(&self, path_or_link: &str) -> reqwest::Response {
        let url = self.url(path_or_link);
        self.client
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"))
    }

    async fn post_form(&self, path_or_link: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let url = self.url(path_or_link);
        self.client
            .post(&url)
            .form(fields)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"))
    }

    /// stdout and stderr so far.
    fn logs(&self) -> String {
        self.process.output()
    }

    /// Waits (bounded) until stdout contains `needle`.
    async fn wait_for_stdout(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.process.stdout().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "herald never printed {needle:?} on stdout; output:\n{}",
                self.logs()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Stops the server as a service manager would (SIGTERM) and waits for it
    /// to exit; all its output has been collected when this returns.
    async fn stop(&mut self) -> ExitStatus {
        let pid = self.process.pid().to_string();
        let kill = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap_or_else(|e| panic!("cannot run `kill -TERM {pid}`: {e}"));
        assert!(kill.success(), "`kill -TERM {pid}` failed: {kill}");
        match self.process.wait_for_exit(EXIT_WAIT).await {
            Some(status) => status,
            None => panic!(
                "herald serve did not exit within {EXIT_WAIT:?} of SIGTERM; output:\n{}",
                self.logs()
            ),
        }
    }
}

/// Runs a command that should end by itself, such as `herald migrate`.
async fn run_to_end(
    dir: &Path,
    args: &[&str],
    envs: &[(&str, &str)],
    within: Duration,
) -> (ExitStatus, Process) {
    let mut process = Process::spawn(dir, args, envs);
    match process.wait_for_exit(within).await {
        Some(status) => (status, process),
        None => panic!(
            "herald {args:?} with {envs:?} was still running after {within:?}; output:\n{}",
            process.output()
        ),
    }
}

// ---------------------------------------------------------------------------
// Mail
// ---------------------------------------------------------------------------

/// A received message, read as a mail client would.
struct Mail {
    to: String,
    subject: String,
    text: String,
    headers: Vec<(String, String)>,
}

impl Mail {
    fn parse(raw: &[u8]) -> Option<Mail> {
        let parsed = MessageParser::default().parse(raw)?;
        Some(Mail {
            to: parsed
                .to()
                .and_then(|to| to.first())
                .and_then(|addr| addr.address())
                .unwrap_or_default()
                .to_owned(),
            subject: parsed.subject().unwrap_or_default().to_owned(),
            text: parsed
                .body_text(0)
                .map(|text| text.into_owned())
                .unwrap_or_default(),
            headers: parsed
                .headers_raw()
                .map(|(name, value)| (name.to_owned(), value.trim().to_owned()))
                .collect(),
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first link in the text part that starts with `prefix`.
    fn link(&self, prefix: &str) -> Option<String> {
        let start = self.text.find(prefix)?;
        Some(
            self.text[start..]
                .chars()
                .take_while(|c| !c.is_whitespace())
                .collect(),
        )
    }

    fn expect_link(&self, prefix: &str) -> String {
        self.link(prefix).unwrap_or_else(|| {
            panic!(
                "no link starting with {prefix} in the mail {:?}:\n{}",
                self.subject, self.text
            )
        })
    }
}

/// The `token` query parameter of a link.
fn token_of(link: &str) -> String {
    let url = url::Url::parse(link).unwrap_or_else(|e| panic!("{link} is not a URL: {e}"));
    let token = url
        .query_pairs()
        .find(|(name, _)| name == "token")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_else(|| panic!("{link} carries no token"));
    assert!(token.len() >= 22, "{link} carries a short token");
    token
}

/// Waits for an `.eml` file in `outbox` that parses and satisfies `wanted`
/// (a file being written may not, yet).
async fn wait_for_eml(outbox: &Path, wanted: impl Fn(&Mail) -> bool) -> Mail {
    let deadline = Instant::now() + MAIL_WAIT;
    loop {
        let mut seen = Vec::new();
        if let Ok(entries) = std::fs::read_dir(outbox) {
            for entry in entries.flatten() {
                let path = entry.path();
                seen.push(path.display().to_string());
                if path.extension().is_none_or(|ext| ext != "eml") {
                    continue;
                }
                let Ok(raw) = std::fs::read(&path) else {
                    continue;
                };
                if let Some(mail) = Mail::parse(&raw).filter(&wanted) {
                    return mail;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "no matching .eml file in {} within {MAIL_WAIT:?}; found {seen:?}",
            outbox.display()
        );
        tokio::time::sleep(POLL).await;
    }
}

/// The status of `email` in the SQLite database `file`.
async fn subscriber_status(file: &Path, email: &str) -> Option<String> {
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(file)
        .connect()
        .await
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", file.display()));
    let status = sqlx::query_scalar("SELECT status FROM subscribers WHERE email = ?")
        .bind(email)
        .fetch_optional(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("cannot read subscribers from {}: {e}", file.display()));
    let _ = conn.close().await;
    status
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[tokio::test]
async fn zero_config_first_run_creates_database_secret_and_outbox() {
    let dir = temp_dir();
    let port = free_port();
    let mut herald = Herald::start_on(dir.path(), port, &[]).await;
    let address = herald.address();

    assert!(dir.path().join("herald.db").is_file(), "no ./herald.db");
    let secret_file = dir.path().join("herald.secret");
    let secret = std::fs::read_to_string(&secret_file).expect("./herald.secret is readable");
    assert!(secret.trim().len() >= 32, "the generated secret is short");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret_file)
            .expect("metadata of ./herald.secret")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "./herald.secret has mode {mode:o}");
    }
    herald.wait_for_stdout(&address).await;

    let response = herald
        .post_form(
            "/subscriptions",
            &[("email", "reader@example.com"), ("name", "Reader")],
        )
        .await;
    assert_eq!(response.status(), 200);

    let confirm_prefix = format!("{address}/subscriptions/confirm?token=");
    let mail = wait_for_eml(&dir.path().join("outbox"), |mail| {
        mail.link(&confirm_prefix).is_some()
    })
    .await;
    assert_eq!(mail.to, "reader@example.com");
    let link = mail.expect_link(&confirm_prefix);
    let token = token_of(&link);

    assert_eq!(herald.get(&link).await.status(), 200, "GET {link}");
    let response = herald
        .post_form("/subscriptions/confirm", &[("token", &token)])
        .await;
    assert_eq!(response.status(), 200, "confirming with the mailed token");

    let status = herald.stop().await;
    assert!(
        status.success(),
        "SIGTERM should stop herald cleanly, got {status}; output:\n{}",
        herald.logs()
    );

    // A second start in the same directory keeps the key and the data.
    let mut herald = Herald::start_on(dir.path(), port, &[]).await;
    assert_eq!(
        std::fs::read_to_string(&secret_file).expect("./herald.secret is still readable"),
        secret,
        "the secret changed on restart"
    );
    let response = herald.get(&link).await;
    // The link is still recognised (an unknown one would be a 400).
    assert_eq!(response.status(), 200, "the used link after a restart");
    let page = response.text().await.expect("the page body");
    assert!(page.contains("already subscribed"), "page:\n{page}");
    herald.stop().await;

    assert_eq!(
        subscriber_status(&dir.path().join("herald.db"), "reader@example.com")
            .await
            .as_deref(),
        Some("confirmed")
    );
}

#[tokio::test]
async fn bad_configuration_stops_startup_with_one_line_naming_the_variable_and_exit_code_2() {
    let cases = [
        ("HERALD_SEND_CONCURRENCY", "abc"),
        ("HERALD_BASE_URL", "ftp://x"),
        ("DATABASE_URL", "mysql://x"),
        ("SMTP_URL", "http://user:hunter2@host"),
        ("HERALD_CONFIRMATION_TTL", "forever"),
        ("HERALD_BIND", "nonsense"),
    ];
    for (variable, value) in cases {
        let dir = temp_dir();
        // Valid settings for everything else, so that only `variable` is wrong
        // and a herald that starts anyway does not take a shared port.
        let port = free_port();
        let bind = format!("127.0.0.1:{port}");
        let base_url = format!("http://{bind}");
        let mut envs = vec![
            ("HERALD_BIND", bind.as_str()),
            ("HERALD_BASE_URL", base_url.as_str()),
        ];
        envs.retain(|(name, _)| *name != variable);
        envs.push((variable, value));

        let (status, process) = run_to_end(dir.path(), &["serve"], &envs, CONFIG_ERROR_WAIT).await;
        let stderr = process.stderr();
        let case = format!("{variable}={value}");
        assert_eq!(
            status.code(),
            Some(2),
            "{case}: exit status {status}; output:\n{}",
            process.output()
        );
        let lines: Vec<&str> = stderr.lines().collect();
        assert!(
            lines.len() == 1 && !lines[0].trim().is_empty(),
            "{case}: stderr should be one line, got:\n{stderr}"
        );
        assert!(
            lines[0].contains(variable),
            "{case}: the error does not name the variable: {stderr}"
        );
        assert!(
            !process.output().contains("hunter2"),
            "{case}: the output repeats the password: {stderr}"
        );
        let created: Vec<_> = std::fs::read_dir(dir.path())
            .expect("the working directory is readable")
            .flatten()
            .map(|entry| entry.file_name())
            .collect();
        assert!(
            created.is_empty(),
            "{case}: a refused start created {created:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_password_or_secret_reaches_the_logs() {
    const SECRET: &str = "0123456789abcdef-known-secret-0123456789";
    const PASSWORD: &str = "s3cret-passw0rd";
    assert_eq!(SECRET.len(), 40);

    let smtp = TestSmtpServer::start().await;
    smtp.require_auth("herald", PASSWORD);
    let smtp_url = format!("smtp://herald:{PASSWORD}@127.0.0.1:{}", smtp.port());
    let dir = temp_dir();
    let mut herald = Herald::start(
        dir.path(),
        &[
            ("RUST_LOG", "debug,sqlx=debug"),
            ("HERALD_SECRET", SECRET),
            ("SMTP_URL", &smtp_url),
        ],
    )
    .await;
    let address = herald.address();

    let response = herald
        .post_form(
            "/subscriptions",
            &[("email", "reader@example.com"), ("name", "Reader")],
        )
        .await;
    assert_eq!(response.status(), 200);
    let received = smtp.wait_for_messages(1, MAIL_WAIT).await;
    assert_eq!(received[0].auth_user.as_deref(), Some("herald"));
    let confirmation = Mail::parse(&received[0].data).expect("the confirmation mail is MIME");
    let confirm_link = confirmation.expect_link(&format!("{address}/subscriptions/confirm?token="));
    let confirm_token = token_of(&confirm_link);

    assert_eq!(herald.get(&confirm_link).await.status(), 200);
    let response = herald
        .post_form("/subscriptions/confirm", &[("token", &confirm_token)])
        .await;
    assert_eq!(response.status(), 200);

    let received = smtp.wait_for_messages(2, MAIL_WAIT).await;
    let welcome = received
        .iter()
        .filter_map(|message| Mail::parse(&message.data))
        .find(|mail| mail.subject.starts_with("Welcome"))
        .expect("a mail whose subject starts with Welcome");
    let unsubscribe_link = welcome.expect_link(&format!("{address}/unsubscribe?token="));
    assert_eq!(
        welcome.header("List-Unsubscribe"),
        Some(format!("<{unsubscribe_link}>").as_str())
    );
    let unsubscribe_token = token_of(&unsubscribe_link);

    assert_eq!(herald.get(&unsubscribe_link).await.status(), 200);
    let response = herald
        .post_form(&unsubscribe_link, &[("List-Unsubscribe", "One-Click")])
        .await;
    assert_eq!(response.status(), 200);

    herald.stop().await;
    assert!(
        !dir.path().join("herald.secret").exists(),
        "with HERALD_SECRET set, no secret file is needed"
    );
    let logs = herald.logs();
    assert!(!logs.trim().is_empty(), "herald logged nothing");
    assert!(logs.contains("request_id"), "no request_id in:\n{logs}");
    let request_lines: Vec<&str> = logs.lines().filter(|l| l.contains("status=")).collect();
    // The health checks while starting, then signup, GET and POST of the
    // confirmation link, GET and POST of the unsubscribe link.
    let requests = herald.health_requests + 5;
    assert_eq!(
        request_lines.len(),
        requests,
        "expected one log line per request ({requests}); logs:\n{logs}"
    );
    assert!(
        request_lines.iter().all(|l| l.contains("request_id")),
        "a request line lacks its request_id:\n{}",
        request_lines.join("\n")
    );
    for (what, secret) in [
        ("the confirmation token", confirm_token.as_str()),
        ("the unsubscribe token", unsubscribe_token.as_str()),
        ("the SMTP password", PASSWORD),
        ("HERALD_SECRET", SECRET),
    ] {
        assert!(
            !logs.contains(secret),
            "{what} ({secret}) reached the logs:\n{logs}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_and_user_add_started_together_on_a_fresh_database_both_succeed() {
    // Before the schema lock, 9 starts in 10 failed: both processes created
    // the tables ("table users already exists"), or one found the file
    // locked while the other switched it to WAL.
    for round in 1..=20 {
        let dir = temp_dir();
        let user_add = Process::spawn(
            dir.path(),
            &["user", "add", "admin@example.com", "--role", "admin"],
            &[("HERALD_PASSWORD", "a long enough password")],
        );
        let mut herald = Herald::start(dir.path(), &[]).await;
        let mut user_add = user_add;
        let status = user_add.wait_for_exit(EXIT_WAIT).await;
        assert!(
            status.is_some_and(|status| status.success()),
            "round {round}: herald user add ended with {status:?}; output:\n{}",
            user_add.output()
        );
        assert!(
            user_add
                .stdout()
                .contains("Added admin@example.com as admin"),
            "round {round}: {}",
            user_add.output()
        );
        let status = herald.stop().await;
        assert!(status.success(), "round {round}: {}", herald.logs());
    }
}

#[cfg(unix)]
#[tokio::test]
async fn the_database_and_outbox_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let dir = temp_dir();
    let mut herald = Herald::start_under(Some("022"), dir.path(), free_port(), &[]).await;
    let response = herald
        .post_form("/subscriptions", &[("email", "private@example.com")])
        .await;
    assert_eq!(response.status(), 200);
    let outbox = dir.path().join("outbox");
    wait_for_eml(&outbox, |mail| mail.to == "private@example.com").await;

    for file in [
        "herald.db",
        "herald.db-wal",
        "herald.db-shm",
        "herald.db.lock",
    ] {
        let path = dir.path().join(file);
        assert_eq!(mode(&path), 0o600, "{file} has mode {:o}", mode(&path));
    }
    assert_eq!(mode(&outbox), 0o700, "outbox/ has mode {:o}", mode(&outbox));
    let mails: Vec<_> = std::fs::read_dir(&outbox)
        .expect("read outbox/")
        .map(|entry| entry.expect("an outbox entry").path())
        .collect();
    assert!(!mails.is_empty());
    for mail in mails {
        assert_eq!(
            mode(&mail),
            0o600,
            "{} has mode {:o}",
            mail.display(),
            mode(&mail)
        );
    }
    herald.stop().await;
}

#[tokio::test]
async fn migrate_command_creates_the_schema() {
    let dir = temp_dir();
    let (status, process) = run_to_end(
        dir.path(),
        &["migrate"],
        &[("DATABASE_URL", "sqlite://./x.db")],
        EXIT_WAIT,
    )
    .await;
    assert!(
        status.success(),
        "herald migrate exited with {status}; output:\n{}",
        process.output()
    );
    let file = dir.path().join("x.db");
    assert!(file.is_file(), "herald migrate did not create ./x.db");
    assert!(
        !dir.path().join("herald.db").exists(),
        "herald migrate ignored DATABASE_URL"
    );

    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&file)
        .connect()
        .await
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", file.display()));
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&mut conn)
            .await
            .expect("the table list of x.db");
    for table in ["subscribers", "confirmation_tokens", "outbox"] {
        assert!(
            tables.iter().any(|t| t == table),
            "x.db lacks the table {table}; it has {tables:?}"
        );
    }
    let _ = conn.close().await;
}

#[tokio::test]
async fn user_add_creates_an_account_once_with_a_long_enough_password() {
    let dir = temp_dir();
    let add = |password: &'static str| {
        let dir = dir.path().to_path_buf();
        async move {
            run_to_end(
                &dir,
                &["user", "add", "Editor@Example.com", "--role", "editor"],
                &[("HERALD_PASSWORD", password)],
                EXIT_WAIT,
            )
            .await
        }
    };
    let (status, process) = add("short").await;
    assert_eq!(status.code(), Some(2), "{}", process.output());
    assert!(
        process.stderr().contains("at least 12"),
        "{}",
        process.stderr()
    );

    let (status, process) = add("a long enough password").await;
    assert!(status.success(), "{}", process.output());
    assert!(
        process
            .stdout()
            .contains("Added Editor@example.com as editor"),
        "{}",
        process.stdout()
    );
    assert!(
        !process.output().contains("a long enough password"),
        "the password is never echoed"
    );

    let (status, process) = add("another long password").await;
    assert_eq!(status.code(), Some(2), "{}", process.output());
    assert!(
        process.stderr().contains("exists already"),
        "{}",
        process.stderr()
    );

    let (status, process) = run_to_end(
        dir.path(),
        &["user", "add", "x@example.com", "--role", "root"],
        &[("HERALD_PASSWORD", "a long enough password")],
        EXIT_WAIT,
    )
    .await;
    assert_eq!(status.code(), Some(2), "{}", process.output());
    assert!(
        process.stderr().contains("admin or editor"),
        "{}",
        process.stderr()
    );
}

/// Adds an account with `herald user add`, as an operator would.
async fn add_account(dir: &Path, email: &str, role: &str) {
    let (status, process) = run_to_end(
        dir,
        &["user", "add", email, "--role", role],
        &[("HERALD_PASSWORD", "a long enough password")],
        EXIT_WAIT,
    )
    .await;
    assert!(status.success(), "{}", process.output());
}

#[tokio::test]
async fn token_create_prints_the_token_once_on_stdout() {
    let dir = temp_dir();
    add_account(dir.path(), "ops@example.com", "admin").await;
    let (status, process) = run_to_end(
        dir.path(),
        &[
            "token",
            "create",
            "--name",
            "CMS",
            "--owner",
            "ops@example.com",
        ],
        &[],
        EXIT_WAIT,
    )
    .await;
    assert!(status.success(), "{}", process.output());
    let stdout = process.stdout();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "only the token on stdout: {stdout:?}");
    assert!(
        lines[0].starts_with("hrld_") && lines[0].len() > 40,
        "{stdout:?}"
    );
    assert!(process.stderr().contains("shown only this once"));
    assert!(process.stderr().contains("owned by ops@example.com"));
}

/// Every token has an owner, an enabled account whose role covers the token's.
#[tokio::test]
async fn token_create_needs_an_owner_whose_role_covers_the_token() {
    let dir = temp_dir();
    add_account(dir.path(), "writer@example.com", "editor").await;
    let refusals: [(&[&str], &str); 3] = [
        (&["token", "create", "--name", "CMS"], "--owner"),
        (
            &[
                "token",
                "create",
                "--name",
                "CMS",
                "--owner",
                "nobody@example.com",
            ],
            "no enabled account has the address",
        ),
        (
            &[
                "token",
                "create",
                "--name",
                "CMS",
                "--owner",
                "writer@example.com",
            ],
            "An editor cannot own an admin token",
        ),
    ];
    for (args, message) in refusals {
        let (status, process) = run_to_end(dir.path(), args, &[], EXIT_WAIT).await;
        assert_eq!(status.code(), Some(2), "{args:?}: {}", process.output());
        assert!(process.stdout().is_empty(), "{args:?}: no token printed");
        assert!(
            process.stderr().contains(message),
            "{args:?}: {}",
            process.stderr()
        );
    }
    let (status, process) = run_to_end(
        dir.path(),
        &[
            "token",
            "create",
            "--name",
            "CMS",
            "--role",
            "editor",
            "--owner",
            "writer@example.com",
        ],
        &[],
        EXIT_WAIT,
    )
    .await;
    assert!(status.success(), "{}", process.output());
}

/// The high-water mark of a process's resident memory, in kB.
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in /proc/{pid}/status:\n{status}"))
}

/// 500 sign-ins at once, each from its own address (through a trusted proxy)
/// and for its own account, so no lock stops them: at most one password hash
/// per core runs at a time (19 MiB each), the rest wait briefly or get 503.
#[tokio::test]
async fn five_hundred_concurrent_logins_keep_memory_under_150_mb() {
    const LOGINS: usize = 500;
    const LIMIT_KB: u64 = 150 * 1024;
    let dir = temp_dir();
    let mut herald = Herald::start(dir.path(), &[("HERALD_TRUST_PROXY_HEADERS", "true")]).await;
    let form = herald.get("/admin/login").await;
    let cookie = form
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("the login page sets a session cookie")
        .to_owned();
    let page = form.text().await.expect("the login page");
    let marker = r#"name="csrf_token" value=""#;
    let csrf = page
        .split(marker)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the login form has a CSRF token")
        .to_owned();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .expect("an HTTP client");
    let url = herald.url("/admin/login");
    let logins = (0..LOGINS).map(|n| {
        let (client, url, cookie, csrf) = (&client, &url, &cookie, &csrf);
        async move {
            client
                .post(url)
                .header("cookie", cookie)
                .header("x-forwarded-for", format!("10.{}.{}.1", n / 250, n % 250))
                .form(&[
                    ("csrf_token", csrf.as_str()),
                    ("email", &format!("guess{n}@example.com")),
                    ("password", "not the password"),
                ])
                .send()
                .await
                .map(|response| response.status().as_u16())
        }
    });
    let statuses = futures_util::future::join_all(logins).await;
    let peak = peak_rss_kb(herald.process.pid());
    herald.stop().await;
    let mut counts = std::collections::BTreeMap::new();
    for status in &statuses {
        *counts.entry(format!("{status:?}")).or_insert(0) += 1;
    }
    eprintln!(
        "{LOGINS} concurrent logins: peak RSS {} MB, {counts:?}",
        peak / 1024
    );
    assert!(
        statuses.iter().all(|s| matches!(s, Ok(401) | Ok(503))),
        "every login is refused (401) or asked to come back (503): {counts:?}"
    );
    assert!(
        counts.contains_key("Ok(401)"),
        "some logins were checked: {counts:?}"
    );
    assert!(
        peak < LIMIT_KB,
        "herald serve peaked at {} MB for {LOGINS} concurrent logins: {counts:?}",
        peak / 1024
    );
}

#[tokio::test]
async fn serve_prints_a_setup_link_while_no_admin_exists() {
    let dir = temp_dir();
    let mut herald = Herald::start(dir.path(), &[]).await;
    herald.wait_for_stdout("/admin/setup?token=").await;
    herald.stop().await;

    let (status, process) = run_to_end(
        dir.path(),
        &["user", "add", "admin@example.com", "--role", "admin"],
        &[("HERALD_PASSWORD", "a long enough password")],
        EXIT_WAIT,
    )
    .await;
    assert!(status.success(), "{}", process.output());
    let mut herald = Herald::start(dir.path(), &[]).await;
    herald.wait_for_stdout("Mail goes to").await;
    herald.stop().await;
    let stdout = herald.process.stdout();
    assert!(
        !stdout.contains("/admin/setup"),
        "a setup link although an admin exists:\n{stdout}"
    );
}

#[tokio::test]
async fn serve_and_worker_refuse_to_start_without_their_postgresql_server() {
    // A port nothing listens on: the server is down or the URL is wrong.
    let closed_port = free_port();
    let url = format!("postgres://herald:hunter2@127.0.0.1:{closed_port}/herald");
    for command in ["serve", "worker"] {
        let dir = temp_dir();
        let port = free_port();
        let bind = format!("127.0.0.1:{port}");
        let started = std::time::Instant::now();
        let (status, process) = run_to_end(
            dir.path(),
            &[command],
            &[("DATABASE_URL", &url), ("HERALD_BIND", &bind)],
            CONFIG_ERROR_WAIT,
        )
        .await;
        let stderr = process.stderr();
        assert_eq!(
            status.code(),
            Some(2),
            "herald {command}: {}",
            process.output()
        );
        assert!(
            stderr.starts_with("herald: DATABASE_URL: ") && stderr.contains("refused"),
            "herald {command} does not say the database server refused: {stderr}"
        );
        assert!(
            !process.output().contains("hunter2"),
            "herald {command} repeats the database password: {stderr}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "herald {command} took {:?} to give up on a refused connection",
            started.elapsed()
        );
    }
}

/// `HERALD_LOG_FORMAT=json`: every log line is one JSON object with its
/// time, level and message, and each request's line carries its status, and
/// in its span the method, path and request id, as fields a log shipper indexes.
#[tokio::test]
async fn json_logs_are_one_object_a_line() {
    let dir = temp_dir();
    let mut herald = Herald::start(dir.path(), &[("HERALD_LOG_FORMAT", "json")]).await;
    let response = herald
        .post_form("/subscriptions", &[("email", "reader@example.com")])
        .await;
    assert_eq!(response.status(), 200);
    herald.stop().await;

    let stdout = herald.process.stdout();
    let log_lines: Vec<serde_json::Value> = stdout
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    assert!(log_lines.len() > 3, "too few log lines:\n{stdout}");
    for line in &log_lines {
        for field in ["timestamp", "level", "message", "target"] {
            assert!(line.get(field).is_some(), "no {field} in {line}");
        }
    }
    let signup = log_lines
        .iter()
        .find(|line| line["message"] == "request" && line["span"]["path"] == "/subscriptions")
        .unwrap_or_else(|| panic!("no request line for the signup:\n{stdout}"));
    assert_eq!(signup["status"], 200, "{signup}");
    assert_eq!(signup["span"]["method"], "POST", "{signup}");
    assert!(signup["span"]["request_id"].is_string(), "{signup}");
    // What the terminal shows besides the log (the listening address, the
    // setup link) is not a log line and is not mangled into one.
    assert!(stdout.contains("Herald is listening on"), "{stdout}");

    let (status, process) = run_to_end(
        dir.path(),
        &["migrate"],
        &[("HERALD_LOG_FORMAT", "xml")],
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(status.code(), Some(2));
    assert!(
        process.output().contains("HERALD_LOG_FORMAT"),
        "{}",
        process.output()
    );
}

/// Issue 11, items 4 and 11: settings that will hurt a public list's mail
/// (a DKIM domain apart from the From domain, no postal address, plain
/// http links) are warned about once at start, one line each, and the
/// server starts all the same; `HERALD_LANGUAGE` is every page's `lang`.
#[tokio::test]
async fn risky_mail_settings_are_warned_about_once_at_start_without_stopping_it() {
    // `openssl genpkey -algorithm ed25519`.
    const ED25519_KEY: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIL7fs9n1eIrWJk3nNujFTIoQM0Y/pWH6Ixwp7C/IBqLl
-----END PRIVATE KEY-----
";
    let dir = temp_dir();
    let key = dir.path().join("dkim.pem");
    std::fs::write(&key, ED25519_KEY).expect("write the key");
    let key = key.to_str().expect("a UTF-8 path").to_owned();
    let herald = Herald::start(
        dir.path(),
        &[
            ("HERALD_BASE_URL", "http://news.example.com"),
            ("HERALD_FROM", "News <news@example.com>"),
            ("DKIM_DOMAIN", "example.org"),
            ("DKIM_SELECTOR", "herald"),
            ("DKIM_PRIVATE_KEY", key.as_str()),
            ("HERALD_LANGUAGE", "fr"),
        ],
    )
    .await;
    let logs = herald.logs();
    for warning in [
        "DKIM_DOMAIN example.org is not aligned with the From domain example.com",
        "HERALD_POSTAL_ADDRESS is empty: CAN-SPAM requires a postal address",
        "HERALD_BASE_URL http://news.example.com is not https",
    ] {
        let lines: Vec<&str> = logs.lines().filter(|l| l.contains(warning)).collect();
        assert_eq!(lines.len(), 1, "{warning:?} once:\n{logs}");
        assert!(lines[0].contains("WARN"), "a warning: {}", lines[0]);
    }
    let page = herald.get("/").await.text().await.expect("the signup page");
    assert!(page.contains("<html lang=\"fr\">"), "{page}");
}

/// A local start with a postal address set has nothing to warn about: no
/// https needed on this machine, no DKIM to align.
#[tokio::test]
async fn a_local_start_with_a_postal_address_warns_about_nothing() {
    let dir = temp_dir();
    let herald = Herald::start(
        dir.path(),
        &[("HERALD_POSTAL_ADDRESS", "1 Main Street, Springfield")],
    )
    .await;
    let logs = herald.logs();
    for topic in ["DKIM_DOMAIN", "HERALD_POSTAL_ADDRESS", "HERALD_BASE_URL"] {
        assert!(!logs.contains(topic), "nothing about {topic}:\n{logs}");
    }
    let page = herald.get("/").await.text().await.expect("the signup page");
    assert!(page.contains("<html lang=\"en\">"), "{page}");
}
