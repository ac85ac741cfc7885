//! `herald-bench signups`: how many signups a second `herald serve` answers,
//! and how fast, next to a bare actix-web server taking the same form.
//!
//! A fresh database (an SQLite file, or a schema of its own on `--database
//! postgres://…`), the benchmark's SMTP sink as the relay, and `herald serve`
//! started as an operator starts it. Each round drives `POST /subscriptions`
//! (a form with a new address `reader-N@example.com` each time) over kept-alive
//! connections, closed loop, then waits until the sink has taken one
//! confirmation per acknowledged signup. The anchor (`herald-bench
//! anchor-http`) takes the same load first. Last, with load still running,
//! `herald serve` is killed with SIGKILL and every signup it had acknowledged
//! must be in the database.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use herald::store::Store;

use crate::anchor::AnchorProcess;
use crate::http_load::{self, Load, LoadReport};
use crate::postgres;
use crate::serve::HeraldServe;
use crate::setup::{self, Tools};
use crate::sink::SinkProcess;

/// The signup limit is per client IP and every benchmark connection comes
/// from 127.0.0.1, so the benchmark lifts it out of the way.
const SIGNUP_RATE_PER_MINUTE: u64 = 1_000_000_000;
/// An outbox that delivers nothing for this long has stalled.
const DRAIN_STALL: Duration = Duration::from_secs(60);
/// The durability round: load this long, SIGKILL at [`KILL_AFTER`].
const KILL_ROUND: Duration = Duration::from_secs(3);
const KILL_AFTER: Duration = Duration::from_millis(1500);
/// The targets hold at this many connections.
const TARGET_CONNECTIONS: usize = 8;
const TARGET_P99: Duration = Duration::from_millis(20);
const TARGET_RATE_SQLITE: f64 = 5_000.0;
const TARGET_RATE_POSTGRES: f64 = 4_000.0;

#[derive(Debug, clap::Args)]
pub struct SignupsArgs {
    /// Connections of each round, in order.
    #[arg(long, value_delimiter = ',', default_value = "8,64")]
    connections: Vec<usize>,
    /// How long each round lasts.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// A PostgreSQL server (`postgres://…`) to run on instead of SQLite;
    /// the run uses a schema of its own there.
    #[arg(long)]
    database: Option<String>,
    /// The herald executable [default: next to this one].
    #[arg(long)]
    herald: Option<PathBuf>,
    /// Keep the temporary directory (database, serve log) afterwards.
    #[arg(long)]
    keep: bool,
    /// Skip the anchor server.
    #[arg(long)]
    no_anchor: bool,
}

/// What one round measured, for Herald or the anchor.
struct Round {
    connections: usize,
    load: LoadReport,
}

/// Runs the benchmark; `Ok(false)` when Herald missed a target.
pub fn run(args: &SignupsArgs) -> anyhow::Result<bool> {
    if args.connections.is_empty() || args.connections.contains(&0) {
        bail!("--connections must list counts above 0");
    }
    if let Some(url) = &args.database {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            bail!("--database must be a postgres:// URL (SQLite is the default)");
        }
    }
    let tools = Tools::find(args.herald.as_deref(), false)?;
    let Some(herald_exe) = &tools.herald else {
        bail!("no herald executable");
    };
    // `herald serve` runs in the scratch directory: a relative --herald must still name it.
    let herald_exe = std::fs::canonicalize(herald_exe)
        .with_context(|| format!("cannot find {}", herald_exe.display()))?;
    setup::in_scratch_dir(args.keep, |dir| async move {
        bench(args, &tools, &herald_exe, &dir).await
    })
}

async fn bench(
    args: &SignupsArgs,
    tools: &Tools,
    herald_exe: &Path,
    dir: &Path,
) -> anyhow::Result<bool> {
    let on_postgres = args.database.is_some();
    println!(
        "herald-bench signups: POST /subscriptions (form, a new address each), closed loop, \
         {} connections, {:?} each, on {}; HERALD_SIGNUP_RATE_PER_MINUTE={SIGNUP_RATE_PER_MINUTE} \
         (the per-IP limit lifted: all load comes from 127.0.0.1); {}",
        args.connections
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(" then "),
        args.duration,
        if on_postgres { "PostgreSQL" } else { "SQLite" },
        setup::machine()
    );

    let mut anchor_rounds = Vec::new();
    if !args.no_anchor {
        let anchor = AnchorProcess::start(&tools.bench, 2)?;
        let mut next = 0;
        for &connections in &args.connections {
            let load = drive(anchor.address, connections, args.duration, &mut next).await?;
            anchor_rounds.push(Round { connections, load });
        }
    }

    let mut sink = SinkProcess::start(&tools.bench, 1)?;
    let (schema, database_url) = postgres::run_database(args.database.as_deref(), dir).await?;
    let smtp_url = format!("smtp://127.0.0.1:{}", sink.address.port());
    let mut serve = HeraldServe::start(
        herald_exe,
        dir,
        &database_url,
        &smtp_url,
        &[(
            "HERALD_SIGNUP_RATE_PER_MINUTE".into(),
            SIGNUP_RATE_PER_MINUTE.to_string(),
        )],
    )?;
    serve.wait_ready().await?;

    println!(
        "\n{:<9} {:>6} {:>10} {:>9} {:>9} {:>9} {:>10}  statuses",
        "server", "conns", "req/s", "p50 ms", "p99 ms", "drain s", "× anchor"
    );
    for round in &anchor_rounds {
        println!(
            "{:<9} {:>6} {:>10.0} {:>9.2} {:>9.2} {:>9} {:>10}  {}",
            "anchor",
            round.connections,
            round.load.rate(),
            millis(round.load.percentile(0.5)),
            millis(round.load.percentile(0.99)),
            "-",
            "-",
            round.load.statuses()
        );
    }
    let mut next = 0;
    let mut rounds = Vec::new();
    for &connections in &args.connections {
        sink.reset()?;
        let load = drive(serve.address, connections, args.duration, &mut next).await?;
        serve.check_alive()?;
        let acknowledged = load.acknowledged.len() as u64;
        let drain = wait_for_mail(&mut sink, acknowledged).await?;
        let ratio = anchor_rounds
            .iter()
            .find(|anchor| anchor.connections == connections)
            .map_or("-".to_owned(), |anchor| {
                format!("{:.2}×", load.rate() / anchor.load.rate())
            });
        println!(
            "{:<9} {:>6} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>10}  {}",
            "herald",
            connections,
            load.rate(),
            millis(load.percentile(0.5)),
            millis(load.percentile(0.99)),
            drain.as_secs_f64(),
            ratio,
            load.statuses()
        );
        if load.answered() != acknowledged || load.failures > 0 {
            bail!(
                "every signup must be answered with the success page; got {}",
                load.statuses()
            );
        }
        rounds.push(Round { connections, load });
    }

    let (found, acknowledged) = kill_under_load(&mut serve, &database_url, &mut next).await?;
    println!(
        "\nSIGKILL under load ({} connections, {:?} in): {acknowledged} signups acknowledged \
         in that round, {found} of them in the database afterwards",
        TARGET_CONNECTIONS, KILL_AFTER
    );
    if let Some(schema) = schema {
        if !args.keep {
            schema.drop_schema().await?;
        }
    }
    if found != acknowledged {
        bail!(
            "{} acknowledged signups were lost to SIGKILL",
            acknowledged - found
        );
    }

    let (rate_target, engine) = if on_postgres {
        (TARGET_RATE_POSTGRES, "PostgreSQL")
    } else {
        (TARGET_RATE_SQLITE, "SQLite")
    };
    let Some(measured) = rounds
        .iter()
        .find(|round| round.connections == TARGET_CONNECTIONS)
    else {
        println!("targets: not measured (they hold at {TARGET_CONNECTIONS} connections)");
        return Ok(true);
    };
    let rate = measured.load.rate();
    let p99 = measured.load.percentile(0.99);
    let rate_met = rate >= rate_target;
    let p99_met = p99 <= TARGET_P99;
    println!(
        "targets at {TARGET_CONNECTIONS} connections on {engine}: ≥ {rate_target:.0} req/s — {} \
         ({rate:.0}); p99 ≤ {} ms — {} ({:.2} ms); acknowledged signups survive SIGKILL — met",
        verdict(rate_met),
        TARGET_P99.as_millis(),
        verdict(p99_met),
        millis(p99)
    );
    Ok(rate_met && p99_met)
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// One closed-loop round of signups numbered from `next` on.
async fn drive(
    address: SocketAddr,
    connections: usize,
    duration: Duration,
    next: &mut u64,
) -> anyhow::Result<LoadReport> {
    let first = *next;
    let host = address.to_string();
    let make = Arc::new(move |n: u64| {
        http_load::form_post(
            "/subscriptions",
            &host,
            "",
            &format!("email=reader-{}%40example.com", first + n),
        )
    });
    let report = http_load::drive(
        address,
        Load {
            connections,
            duration,
            rate_per_second: None,
        },
        make,
    )
    .await?;
    // The numbers handed out, answered or not, are never used again.
    *next = first + report.answered() + report.failures + connections as u64;
    Ok(report)
}

/// Waits until the sink has taken `expected` messages since its reset;
/// returns how long that took.
async fn wait_for_mail(sink: &mut SinkProcess, expected: u64) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut last = (0, Instant::now());
    loop {
        let delivered = sink.stats()?.messages;
        if delivered >= expected {
            if delivered > expected {
                bail!("the sink took {delivered} confirmations for {expected} signups");
            }
            return Ok(started.elapsed());
        }
        if delivered != last.0 {
            last = (delivered, Instant::now());
        } else if last.1.elapsed() > DRAIN_STALL {
            bail!("the confirmation outbox stalled at {delivered} of {expected}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Drives signups, SIGKILLs `herald serve` in the middle, and counts how many
/// of the acknowledged signups are in the database: `(found, acknowledged)`.
async fn kill_under_load(
    serve: &mut HeraldServe,
    database_url: &str,
    next: &mut u64,
) -> anyhow::Result<(u64, u64)> {
    let first = *next;
    let address = serve.address;
    let load = tokio::spawn(async move {
        let mut next = first;
        drive(address, TARGET_CONNECTIONS, KILL_ROUND, &mut next).await
    });
    tokio::time::sleep(KILL_AFTER).await;
    // std's kill is SIGKILL: no shutdown hook runs.
    serve.kill()?;
    let load = load.await.context("the load task panicked")??;

    let store = Store::connect(database_url, 1).await?;
    let mut stored: HashSet<String> =
        sqlx::query_scalar::<_, String>("SELECT email FROM signup_requests")
            .fetch_all(store.pool())
            .await?
            .into_iter()
            .collect();
    stored.extend(
        sqlx::query_scalar::<_, String>("SELECT email FROM subscribers")
            .fetch_all(store.pool())
            .await?,
    );
    store.close().await;
    let acknowledged = load.acknowledged.len() as u64;
    let found = load
        .acknowledged
        .iter()
        .filter(|&&n| stored.contains(&format!("reader-{}@example.com", first + n)))
        .count() as u64;
    if acknowledged == 0 {
        bail!("no signup was acknowledged before the kill");
    }
    Ok((found, acknowledged))
}
