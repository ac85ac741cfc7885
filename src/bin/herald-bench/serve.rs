//! `herald serve` as the web modes run it: a child process started as an
//! operator would (a clean environment from `workload::herald_env`, its own
//! directory, a free loopback port), its output in `serve.log`.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{setup, workload};

/// How long `herald serve` may take to answer its first `/health`.
const START_WAIT: Duration = Duration::from_secs(30);

pub struct HeraldServe {
    child: Child,
    pub address: SocketAddr,
    log: PathBuf,
}

impl HeraldServe {
    /// Starts `herald serve` in `dir` on `database_url`, relaying to
    /// `smtp_url`, with `extra_env` added to the environment.
    pub fn start(
        herald_exe: &Path,
        dir: &Path,
        database_url: &str,
        smtp_url: &str,
        extra_env: &[(String, String)],
    ) -> anyhow::Result<Self> {
        // A free port, released just before herald binds it.
        let address = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let mut env = workload::herald_env(dir, database_url, smtp_url, 16);
        env.push(("HERALD_BIND".into(), address.to_string()));
        env.extend(extra_env.iter().cloned());
        let log = dir.join("serve.log");
        let out = File::create(&log)?;
        let mut command = Command::new(herald_exe);
        command.arg("serve").current_dir(dir).env_clear();
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        let child = command
            .envs(env)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("cannot start {} serve", herald_exe.display()))?;
        Ok(Self {
            child,
            address,
            log,
        })
    }

    /// An error with the process's output if it has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            let output = std::fs::read_to_string(&self.log).unwrap_or_default();
            bail!("`herald serve` exited ({status}):\n{output}");
        }
        Ok(())
    }

    /// Waits for the first 200 from `/health`.
    pub async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        while started.elapsed() < START_WAIT {
            self.check_alive()?;
            if health_is_ok(self.address).await {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let output = std::fs::read_to_string(&self.log).unwrap_or_default();
        bail!("`herald serve` did not answer /health within {START_WAIT:?}:\n{output}")
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for HeraldServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn health_is_ok(address: SocketAddr) -> bool {
    let Ok(mut stream) = tokio::net::TcpStream::connect(address).await else {
        return false;
    };
    let request = format!("GET /health HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    answer.starts_with(b"HTTP/1.1 200")
}

/// Runs a one-shot `herald` command (`user add`, `issue send`) in `dir` with
/// the environment `herald serve` gets there; its standard output.
pub fn herald_once(
    herald_exe: &Path,
    dir: &Path,
    database_url: &str,
    smtp_url: &str,
    args: &[&str],
    extra_env: &[(String, String)],
) -> anyhow::Result<String> {
    let mut command = Command::new(herald_exe);
    command.args(args).current_dir(dir).env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    command
        .envs(workload::herald_env(dir, database_url, smtp_url, 16))
        .envs(extra_env.iter().cloned());
    setup::run_herald(command, herald_exe, args)
}
