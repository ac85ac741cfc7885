//! The measured part: Herald sending one issue to every subscriber, run the
//! way an operator runs it. `herald worker` processes (one, or several on
//! PostgreSQL) send; `herald issue send ID` queues the issue. The clock runs from the send command to the moment the
//! issue is marked sent, which Herald does once every delivery is recorded.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use herald::store::Store;
use indicatif::ProgressBar;

use crate::sink::SinkProcess;
use crate::{cpu, setup};

/// How often the issue's status is read while it sends: often enough that
/// the timing is exact to a fraction of a percent, and a lookup by primary
/// key costs Herald nothing.
const POLL: Duration = Duration::from_millis(20);
/// How long the worker is given to start before the issue is queued.
const WORKER_START: Duration = Duration::from_millis(500);
/// A send that takes no message for this long has stalled.
const STALL: Duration = Duration::from_secs(60);
/// How long the worker may take to stop after SIGTERM.
const STOP_WAIT: Duration = Duration::from_secs(30);

/// What one run of Herald needs.
pub struct HeraldRun<'a> {
    pub herald_exe: &'a Path,
    pub run_dir: &'a Path,
    pub database_url: &'a str,
    /// `herald worker` processes.
    pub workers: usize,
    /// The database runs in processes of its own (PostgreSQL), whose CPU time is measured.
    pub database_is_a_server: bool,
    /// From `workload::herald_env`.
    pub env: &'a [(String, String)],
    pub issue_id: i64,
    pub subscribers: u64,
}

/// What one run of Herald measured.
#[derive(Debug, Clone, Copy)]
pub struct HeraldResult {
    pub wall: Duration,
    /// The largest peak of any one worker.
    pub peak_rss_bytes: u64,
    pub message_bytes: u64,
    /// CPU time of all the workers.
    pub herald_cpu: Duration,
    /// CPU time of the PostgreSQL server during the send.
    pub database_cpu: Option<Duration>,
}

/// Sends the issue to every subscriber through the sink and checks that each
/// got exactly one message.
pub async fn run(run: &HeraldRun<'_>, sink: &mut SinkProcess) -> anyhow::Result<HeraldResult> {
    sink.reset()?;
    let store = Store::connect(run.database_url, 1).await?;

    let mut workers = (1..=run.workers)
        .map(|n| Worker::start(run, n))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // Several workers divide the connections after a heartbeat or two.
    let start_wait = if run.workers > 1 {
        WORKER_START * 6
    } else {
        WORKER_START
    };
    tokio::time::sleep(start_wait).await;
    for worker in &mut workers {
        worker.check_alive()?;
    }

    let ticks = cpu::ticks_per_second();
    let database_cpu_before = run.database_is_a_server.then(|| cpu::of_postgres(ticks));
    let started = Instant::now();
    herald_command(run, &["issue", "send", &run.issue_id.to_string()])?;
    let progress = ProgressBar::new(run.subscribers).with_message("herald");
    let mut last_count = 0;
    let mut last_change = Instant::now();
    let wall = loop {
        let status: String = sqlx::query_scalar("SELECT status FROM issues WHERE id = $1")
            .bind(run.issue_id)
            .fetch_one(store.pool())
            .await?;
        if status == "sent" {
            break started.elapsed();
        }
        for worker in &mut workers {
            worker.check_alive()?;
        }
        let count = sink.stats()?.messages;
        progress.set_position(count);
        if count != last_count {
            (last_count, last_change) = (count, Instant::now());
        } else if last_change.elapsed() > STALL {
            bail!(
                "Herald stalled: {count} of {} messages after {:.0} s (worker logs in {})",
                run.subscribers,
                started.elapsed().as_secs_f64(),
                run.run_dir.display()
            );
        }
        tokio::time::sleep(POLL).await;
    };
    progress.finish_and_clear();

    let database_cpu = database_cpu_before.map(|before| cpu::of_postgres(ticks) - before);
    // VmHWM is the process's peak resident set, whenever it was reached.
    let mut peak_rss_bytes = 0;
    let mut herald_cpu = Duration::ZERO;
    for worker in &workers {
        peak_rss_bytes = peak_rss_bytes.max(peak_rss(worker.child.id())?);
        herald_cpu += cpu::of_process(worker.child.id(), ticks)?;
    }
    for worker in workers {
        worker.stop()?;
    }

    let stats = sink.stats()?;
    if stats.messages != run.subscribers {
        bail!(
            "the sink took {} messages from Herald, not {}",
            stats.messages,
            run.subscribers
        );
    }
    let recorded = deliveries_by_status(&store, run.issue_id).await?;
    let sent = recorded
        .iter()
        .find(|(status, _)| status == "sent")
        .map_or(0, |(_, n)| *n);
    if sent != run.subscribers as i64 || recorded.len() != 1 {
        bail!(
            "the database records {recorded:?} deliveries, not {} sent",
            run.subscribers
        );
    }
    store.close().await;
    Ok(HeraldResult {
        wall,
        peak_rss_bytes,
        message_bytes: stats.bytes / stats.messages.max(1),
        herald_cpu,
        database_cpu,
    })
}

async fn deliveries_by_status(store: &Store, issue_id: i64) -> anyhow::Result<Vec<(String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT status, COUNT(*) FROM deliveries WHERE issue_id = $1 GROUP BY status",
    )
    .bind(issue_id)
    .fetch_all(store.pool())
    .await?)
}

/// `herald ARGS` to completion, in the run's directory with the run's environment.
fn herald_command(run: &HeraldRun<'_>, args: &[&str]) -> anyhow::Result<()> {
    setup::run_herald(herald(run, args), run.herald_exe, args)?;
    Ok(())
}

fn herald(run: &HeraldRun<'_>, args: &[&str]) -> Command {
    let mut command = Command::new(run.herald_exe);
    // Only PATH and what `herald_env` sets: no `.env` or variable of the
    // shell running the benchmark changes what is measured.
    command.args(args).current_dir(run.run_dir).env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    command.envs(run.env.iter().map(|(k, v)| (k, v)));
    command
}

/// `herald worker`, its output in `worker-N.log` of the run's directory.
struct Worker {
    child: Child,
    log: PathBuf,
}

impl Worker {
    fn start(run: &HeraldRun<'_>, number: usize) -> anyhow::Result<Self> {
        let log = run.run_dir.join(format!("worker-{number}.log"));
        let out = File::create(&log)?;
        let child = herald(run, &["worker"])
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("cannot start {} worker", run.herald_exe.display()))?;
        Ok(Self { child, log })
    }

    fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            let output = std::fs::read_to_string(&self.log).unwrap_or_default();
            bail!("`herald worker` exited ({status}):\n{output}");
        }
        Ok(())
    }

    /// Stops the worker as a service manager would, with SIGTERM.
    fn stop(mut self) -> anyhow::Result<()> {
        let pid = self.child.id().to_string();
        let signalled = Command::new("kill").args(["-TERM", &pid]).status()?;
        if !signalled.success() {
            bail!("`kill -TERM {pid}` failed");
        }
        let asked = Instant::now();
        while asked.elapsed() < STOP_WAIT {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!(
                        "`herald worker` exited with {status} on SIGTERM (log: {})",
                        self.log.display()
                    );
                }
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("`herald worker` did not stop within {STOP_WAIT:?} of SIGTERM")
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Stopped already, or the run failed: never leave it sending.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The peak resident set of process `pid`, from `/proc/PID/status`.
pub fn peak_rss(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status (Linux only)"))?;
    let kilobytes = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .context("no VmHWM line in /proc/PID/status")?;
    Ok(kilobytes * 1024)
}
