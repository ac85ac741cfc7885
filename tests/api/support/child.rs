//! `herald serve` as a child process whose log the test reads, for what only
//! the real executable shows: its default log filter and what it writes.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

const READY_WAIT: Duration = Duration::from_secs(30);

pub struct HeraldChild {
    child: Child,
    /// stdout and stderr, line by line.
    log: Arc<Mutex<String>>,
    pub address: String,
}

impl HeraldChild {
    /// Starts `herald serve` in `dir` with nothing but `PATH` and `env` set
    /// (no `RUST_LOG` unless given), and waits until it answers.
    pub async fn serve(dir: &Path, env: &HashMap<&str, String>) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let address = format!("http://127.0.0.1:{port}");
        let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
        command
            .arg("serve")
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HERALD_BIND", format!("127.0.0.1:{port}"))
            .env("HERALD_BASE_URL", &address)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("start herald serve");
        let log = Arc::new(Mutex::new(String::new()));
        collect(child.stdout.take().expect("piped"), log.clone());
        collect(child.stderr.take().expect("piped"), log.clone());
        let herald = Self {
            child,
            log,
            address,
        };
        herald.wait_until_healthy().await;
        herald
    }

    async fn wait_until_healthy(&self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + READY_WAIT;
        loop {
            let health = client.get(format!("{}/health", self.address)).send().await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "herald serve did not start within {READY_WAIT:?}; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Everything written so far.
    pub fn log(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }
}

impl Drop for HeraldChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(pipe: impl Read + Send + 'static, into: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            let mut log = into.lock().unwrap_or_else(PoisonError::into_inner);
            log.push_str(&line);
            log.push('\n');
        }
    });
}
