//! `herald serve` as a child process whose log lines are kept, line by line,
//! as they come, with its CPU time read from /proc: for tests that count
//! what an operator would see in the logs and what the process costs.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::herald_process::{wait_until_healthy, Setup, POLL};

/// `herald serve` with its log lines collected as they come.
pub struct LoggedServer {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl LoggedServer {
    pub async fn start(setup: &Setup, env: &[(&str, &str)]) -> LoggedServer {
        let mut child = setup
            .command_with(&["serve"], env)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start herald serve");
        let lines = Arc::new(Mutex::new(Vec::new()));
        for pipe in [
            Box::new(child.stdout.take().expect("piped")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("piped")),
        ] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { return };
                    lock(&lines).push(line);
                }
            });
        }
        wait_until_healthy(&reqwest::Client::new(), &setup.base_url()).await;
        LoggedServer { child, lines }
    }

    pub fn lines_since(&self, from: usize) -> Vec<String> {
        lock(&self.lines)[from..].to_vec()
    }

    pub async fn wait_for_line(&self, needle: &str, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        loop {
            if let Some(at) = lock(&self.lines).iter().position(|l| l.contains(needle)) {
                return at;
            }
            assert!(
                Instant::now() < deadline,
                "herald never logged {needle:?}; it logged:\n{}",
                lock(&self.lines).join("\n")
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// CPU time the process has used so far (user and system).
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("read /proc/PID/stat");
        // Fields after the command name, which ends with the last ')'.
        let fields: Vec<&str> = stat[stat.rfind(')').expect("a command name") + 2..]
            .split(' ')
            .collect();
        // utime and stime are fields 14 and 15 of the whole line.
        let ticks: u64 =
            fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
        let per_second: u64 = Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100);
        Duration::from_millis(ticks * 1000 / per_second)
    }
}

impl Drop for LoggedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
