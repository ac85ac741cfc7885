//! CPU time of processes, from `/proc`: Herald's workers and, on PostgreSQL,
//! the database server's processes, so the report can say which share of
//! the work was the database's.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::Context;

/// Clock ticks per second of `/proc/PID/stat`'s times.
pub fn ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .filter(|ticks| *ticks > 0)
        .unwrap_or(100)
}

/// (command name, user + system ticks) of process `pid`.
fn stat_of(stat_file: &Path) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(stat_file).ok()?;
    // The name is in parentheses and may hold spaces; the fields follow the last ')'.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_owned();
    let fields: Vec<&str> = stat.get(close + 2..)?.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some((name, user + system))
}

/// CPU time process `pid` has used so far.
pub fn of_process(pid: u32, ticks: u64) -> anyhow::Result<Duration> {
    let path = format!("/proc/{pid}/stat");
    let (_, used) = stat_of(Path::new(&path)).with_context(|| format!("cannot read {path}"))?;
    Ok(Duration::from_secs_f64(used as f64 / ticks as f64))
}

/// CPU time used so far by every live process named `postgres`: the server
/// and its backends (one per connection, so the workers' backends live
/// through the run).
pub fn of_postgres(ticks: u64) -> Duration {
    let used: u64 = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|entry| stat_of(&entry.path().join("stat")))
        .filter(|(name, _)| name == "postgres")
        .map(|(_, used)| used)
        .sum();
    Duration::from_secs_f64(used as f64 / ticks as f64)
}
