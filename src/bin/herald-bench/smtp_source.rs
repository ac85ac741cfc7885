//! The yardstick: Postfix's `smtp-source`, a C load generator that does
//! nothing but speak SMTP, sending the same number of messages of the same
//! size over the same number of connections to the same sink.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use indicatif::ProgressBar;

use crate::sink::SinkProcess;

/// How often the run is checked: often enough that the timing is exact to
/// a fraction of a percent.
const POLL: Duration = Duration::from_millis(20);

pub const INSTALL_HINT: &str = "smtp-source is part of Postfix; install it with\n  \
     sudo DEBIAN_FRONTEND=noninteractive apt-get install -y postfix\n\
     (Debian/Ubuntu; this does not start a mail server here).";

/// `smtp-source` on PATH, or in /usr/sbin where Debian puts it (not on a
/// normal user's PATH).
pub fn find() -> anyhow::Result<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join("smtp-source"))
        .find(|candidate| candidate.is_file())
        .with_context(|| format!("smtp-source is not installed. {INSTALL_HINT}"))
}

/// Sends `messages` messages of `payload_bytes` over `sessions` parallel
/// connections and returns how long it took; its stderr goes to `log`.
pub fn run(
    exe: &Path,
    sink: &mut SinkProcess,
    messages: u64,
    sessions: usize,
    payload_bytes: u64,
    log: &Path,
) -> anyhow::Result<Duration> {
    sink.reset()?;
    let target = format!("127.0.0.1:{}", sink.address.port());
    let (messages_arg, sessions_arg, size_arg) = (
        messages.to_string(),
        sessions.to_string(),
        payload_bytes.to_string(),
    );
    let mut command = Command::new(exe);
    // -d keeps each session's connection for all its messages, as Herald
    // keeps its connections; -M names this host, so no DNS lookup of our own
    // name gets into the timing.
    command
        .args(["-d", "-M", "bench.example", "-f", "bench@example.com"])
        .args(["-t", "reader@example.com", "-l", &size_arg])
        .args(["-m", &messages_arg, "-s", &sessions_arg, &target])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(log)?);
    let progress = ProgressBar::new(messages).with_message("smtp-source");
    let started = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot run {}", exe.display()))?;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        progress.set_position(sink.stats()?.messages);
        std::thread::sleep(POLL);
    };
    let elapsed = started.elapsed();
    progress.finish_and_clear();
    if !status.success() {
        let said = std::fs::read_to_string(log).unwrap_or_default();
        bail!("smtp-source failed ({status}): {}", said.trim());
    }
    let taken = sink.stats()?.messages;
    if taken != messages {
        bail!("the sink took {taken} messages from smtp-source, not {messages}");
    }
    Ok(elapsed)
}
