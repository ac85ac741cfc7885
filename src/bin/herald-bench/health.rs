//! `herald-bench health`: how many `GET /health` a real `herald serve`
//! answers, next to a bare actix-web server with the same worker count
//! (the anchor) under the same load in the same run.
//!
//! Each run starts `herald serve` (release, the sending engine inside, as an
//! operator runs it) on a fresh SQLite database with the benchmark's SMTP
//! sink as relay, drives it closed loop over kept-alive connections, then
//! drives the anchor the same way. The target is 40,000 req/s.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;

use crate::anchor::AnchorProcess;
use crate::http_load::{self, Load, LoadReport};
use crate::report::thousands;
use crate::serve::HeraldServe;
use crate::setup::{self, TempDir, Tools};
use crate::sink::SinkProcess;

/// The target of issue 13.
const TARGET_PER_SECOND: f64 = 40_000.0;

#[derive(Debug, clap::Args)]
pub struct HealthArgs {
    /// Kept-alive connections, each sending its next request when the answer arrives.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds of load on each server per run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Runs (Herald, then the anchor, each time).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// The herald executable [default: next to this one].
    #[arg(long)]
    herald: Option<PathBuf>,
}

/// Runs the mode; `Ok(false)` when the target was missed.
pub fn bench(args: &HealthArgs) -> anyhow::Result<bool> {
    if args.connections == 0 || args.runs == 0 || args.seconds == 0 {
        bail!("--connections, --seconds and --runs must be above 0");
    }
    let tools = Tools::find(args.herald.as_deref(), false)?;
    let Some(herald_exe) = tools.herald.as_deref() else {
        bail!("no herald executable");
    };
    let dir = TempDir::create()?;
    let workers = actix_workers();
    println!(
        "herald-bench health: GET /health, {} connections closed loop, {} s per server, {} run{}, \
         {workers} HTTP workers each, SQLite; {}",
        args.connections,
        args.seconds,
        args.runs,
        if args.runs == 1 { "" } else { "s" },
        setup::machine()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let sink = SinkProcess::start(&tools.bench, 1)?;
    let load = Load {
        connections: args.connections,
        duration: Duration::from_secs(args.seconds),
        rate_per_second: None,
    };
    println!(
        "\n{:<6} {:>12} {:>9} {:>9} {:>12} {:>9} {:>9} {:>7}",
        "run", "Herald req/s", "p50", "p99", "anchor req/s", "p50", "p99", "ratio"
    );
    let mut herald_rates = Vec::new();
    let mut anchor_rates = Vec::new();
    for number in 1..=args.runs {
        let run_dir = dir.path.join(format!("run-{number}"));
        std::fs::create_dir_all(&run_dir)?;
        let database_url = format!("sqlite://{}", run_dir.join("herald.db").display());
        let smtp_url = format!("smtp://127.0.0.1:{}", sink.address.port());
        let mut herald = HeraldServe::start(herald_exe, &run_dir, &database_url, &smtp_url, &[])?;
        runtime.block_on(herald.wait_ready())?;
        let on_herald = runtime.block_on(drive(herald.address, load))?;
        drop(herald);
        let anchor = AnchorProcess::start(&tools.bench, workers)?;
        let on_anchor = runtime.block_on(drive(anchor.address, load))?;
        drop(anchor);
        println!(
            "{number:<6} {:>12} {:>9} {:>9} {:>12} {:>9} {:>9} {:>6.2}×",
            thousands(on_herald.rate()),
            millis(on_herald.percentile(0.5)),
            millis(on_herald.percentile(0.99)),
            thousands(on_anchor.rate()),
            millis(on_anchor.percentile(0.5)),
            millis(on_anchor.percentile(0.99)),
            on_herald.rate() / on_anchor.rate()
        );
        herald_rates.push(on_herald.rate());
        anchor_rates.push(on_anchor.rate());
    }
    let herald_median = median(&mut herald_rates);
    let anchor_median = median(&mut anchor_rates);
    println!(
        "{:<6} {:>12} {:>9} {:>9} {:>12} {:>9} {:>9} {:>6.2}×",
        "median",
        thousands(herald_median),
        "",
        "",
        thousands(anchor_median),
        "",
        "",
        herald_median / anchor_median
    );
    let met = herald_median >= TARGET_PER_SECOND;
    println!(
        "target: GET /health at least {} req/s — {} ({} req/s)",
        thousands(TARGET_PER_SECOND),
        if met { "met" } else { "MISSED" },
        thousands(herald_median)
    );
    Ok(met)
}

/// Closed loop on `GET /health`; every answer must be a 200.
async fn drive(address: SocketAddr, load: Load) -> anyhow::Result<LoadReport> {
    let host = address.to_string();
    let request = http_load::get("/health", &host, "");
    let report = http_load::drive(address, load, Arc::new(move |_| request.clone())).await?;
    if report.answered() == 0 || report.count(200) != report.answered() || report.failures > 0 {
        bail!("GET /health on {address} answered {}", report.statuses());
    }
    Ok(report)
}

/// actix-web's default worker count, which `herald serve` keeps.
fn actix_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn millis(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
