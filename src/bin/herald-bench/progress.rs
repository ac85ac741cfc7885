//! `herald-bench progress`: how long a send's progress takes to read at a
//! million copies (target: 5 ms), next to the count of every copy it
//! replaced.
//!
//! Seeds N confirmed readers and the benchmark's issue into a fresh database
//! (an SQLite file, or a schema of its own on `--database`), starts the send
//! with `herald issue send` (no worker runs: every copy stays queued), then
//! records most copies as sent through the recorder's own statement, in
//! transactions of 10,000, so that the tallies are the ones a send leaves
//! (the triggers of migration 0022 keep them). Then it times
//! `Sends::progress`, what the progress page, its JSON and the API call,
//! `--reads` times, and the full count of the copies (the test oracle, what
//! progress cost before).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use herald::delivery::{deliveries, DeliverySignals, Sends};
use herald::store::{now_millis, Store};
use indicatif::ProgressBar;

use crate::postgres;
use crate::serve::herald_once;
use crate::setup;
use crate::workload;

const TARGET: Duration = Duration::from_millis(5);
/// Copies recorded sent per transaction while seeding.
const RECORD_BATCH: usize = 10_000;

#[derive(Debug, clap::Args)]
pub struct ProgressArgs {
    /// Copies of the issue: one per confirmed reader.
    #[arg(long, default_value_t = 1_000_000)]
    copies: u64,
    /// Copies left queued; the rest are recorded sent.
    #[arg(long, default_value_t = 100_000)]
    queued: u64,
    /// Timed reads of the progress.
    #[arg(long, default_value_t = 101)]
    reads: usize,
    /// A PostgreSQL server (`postgres://…`) to run on instead of SQLite.
    #[arg(long)]
    database: Option<String>,
    /// The herald executable [default: next to this one].
    #[arg(long)]
    herald: Option<PathBuf>,
}

/// Runs the mode; `Ok(false)` when the target was missed.
pub fn run(args: &ProgressArgs) -> anyhow::Result<bool> {
    if args.queued > args.copies || args.reads == 0 {
        bail!("--queued must fit in --copies, and --reads must be above 0");
    }
    let (_, herald_exe) = setup::executables(args.herald.as_deref())?;
    setup::in_scratch_dir(
        false,
        |dir| async move { bench(args, &herald_exe, &dir).await },
    )
}

async fn bench(
    args: &ProgressArgs,
    herald_exe: &std::path::Path,
    dir: &std::path::Path,
) -> anyhow::Result<bool> {
    println!(
        "herald-bench progress: {} copies ({} queued, {} sent), {} reads, on {}; {}",
        args.copies,
        args.queued,
        args.copies - args.queued,
        args.reads,
        if args.database.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        setup::machine()
    );
    let (schema, url) = postgres::run_database(args.database.as_deref(), dir).await?;
    let started = Instant::now();
    let template = workload::prepare_at(dir, &url, args.copies).await?;
    let issue = template.issue_id;
    // No worker runs and the relay is never called: the copies stay queued.
    herald_once(
        herald_exe,
        dir,
        &url,
        "smtp://127.0.0.1:9",
        &["issue", "send", &issue.to_string()],
        &[],
    )?;
    let store = Store::connect(&url, 2).await?;
    record_sent(&store, issue, args).await?;
    println!("seeded in {:.0} s", started.elapsed().as_secs_f64());

    let sends = Sends::new(store.clone(), Arc::new(DeliverySignals::new()));
    let mut times = Vec::with_capacity(args.reads);
    let mut last = None;
    for _ in 0..args.reads {
        let started = Instant::now();
        let progress = sends.progress(issue).await?;
        times.push(started.elapsed());
        last = Some(progress);
    }
    let progress = last.context("no read")?;
    let counts = progress.counts;
    let sent = args.copies - args.queued;
    if (counts.total, counts.queued, counts.sent)
        != (args.copies as i64, args.queued as i64, sent as i64)
    {
        bail!("the progress reads {counts:?}, not what was seeded");
    }
    let mut scans = Vec::new();
    let mut conn = store.pool().acquire().await?;
    for _ in 0..5 {
        let started = Instant::now();
        let scanned = deliveries::counts_by_scan(&mut conn, issue).await?;
        scans.push(started.elapsed());
        if scanned != counts {
            bail!("the tallies read {counts:?}, a count of every copy {scanned:?}");
        }
    }
    drop(conn);
    store.close().await;
    if let Some(schema) = schema {
        schema.drop_schema().await?;
    }

    times.sort_unstable();
    scans.sort_unstable();
    let median = times[times.len() / 2];
    let p90 = times[(times.len() * 9 / 10).min(times.len() - 1)];
    println!(
        "Sends::progress: median {:.2} ms, p90 {:.2} ms, max {:.2} ms ({} reads)",
        ms(median),
        ms(p90),
        ms(times[times.len() - 1]),
        times.len()
    );
    println!(
        "counting every copy (the tests' oracle, what progress did before): median {:.1} ms (5 reads)",
        ms(scans[scans.len() / 2])
    );
    let met = median <= TARGET;
    println!(
        "target: progress at most {} ms at {} copies — {} ({:.2} ms)",
        TARGET.as_millis(),
        args.copies,
        if met { "met" } else { "MISSED" },
        ms(median)
    );
    Ok(met)
}

/// Records the first copies sent, as the recorder does.
async fn record_sent(store: &Store, issue: i64, args: &ProgressArgs) -> anyhow::Result<()> {
    let ids: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM deliveries WHERE issue_id = $1 ORDER BY id")
            .bind(issue)
            .fetch_all(store.pool())
            .await?;
    if ids.len() as u64 != args.copies {
        bail!("{} copies queued, not {}", ids.len(), args.copies);
    }
    let sent = (args.copies - args.queued) as usize;
    let bar = ProgressBar::new(sent as u64).with_message("recording sent");
    let when = now_millis();
    let mut at = 0;
    while at < sent {
        let end = (at + RECORD_BATCH).min(sent);
        let batch: Vec<(i64, &str)> = ids[at..end]
            .iter()
            .map(|&id| (id, "250 2.0.0 Ok"))
            .collect();
        let mut tx = store.begin_write().await?;
        deliveries::record_sent(&mut tx, store.dialect(), &batch, when).await?;
        tx.commit().await?;
        bar.inc((end - at) as u64);
        at = end;
    }
    bar.finish_and_clear();
    Ok(())
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
