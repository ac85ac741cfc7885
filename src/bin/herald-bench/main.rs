//! The delivery benchmark: how fast Herald sends one issue to a whole list,
//! next to Postfix's `smtp-source` sending as much mail to the same sink.
//!
//! `cargo build --release --bins && target/release/herald-bench` makes N
//! confirmed subscribers and a 20 KB issue in a fresh SQLite database (or a
//! fresh schema of `--database postgres://…`), runs `--workers` `herald
//! worker` processes and `herald issue send` against a counting SMTP sink, then
//! `smtp-source` with the same message count, size and connections. It
//! prints each run, the medians, and whether Herald met its targets (at
//! least 0.6× smtp-source's rate on SQLite, 0.5× on PostgreSQL with one
//! worker and 0.8× with two or more; at most 64 MB peak RSS). Exit code 0:
//! all met; 1: the benchmark failed; 3: a target was missed. The web modes
//! (`signups`, `health`, `mixed`) and `progress` are subcommands with their
//! own targets.

mod anchor;
mod cpu;
mod dkim;
mod health;
mod herald_run;
mod http_load;
mod mixed;
mod postgres;
mod progress;
mod report;
mod serve;
mod setup;
mod signups;
mod sink;
mod smtp_source;
mod workload;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use report::{HeraldFigures, Report, RunFigures};
use setup::{TempDir, Tools};
use workload::Template;

#[derive(Debug, Parser)]
#[command(
    name = "herald-bench",
    about = "Measure Herald's delivery rate and memory against Postfix's smtp-source"
)]
struct Args {
    /// Confirmed subscribers to send to.
    #[arg(long, default_value_t = 100_000)]
    subscribers: u64,
    /// SMTP connections: HERALD_SEND_CONCURRENCY (shared by all the
    /// workers) and smtp-source's sessions.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// A PostgreSQL server (`postgres://…`) to run on instead of SQLite;
    /// each run uses a schema of its own there.
    #[arg(long)]
    database: Option<String>,
    /// `herald worker` processes sending together.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Runs, each from a fresh copy of the database.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Keep the temporary directory (databases, worker logs) afterwards.
    #[arg(long)]
    keep: bool,
    /// The herald executable [default: next to this one].
    #[arg(long)]
    herald: Option<PathBuf>,
    /// Measure only smtp-source (and the sink), with the message size
    /// Herald's renderer gives; Herald itself does not run.
    #[arg(long)]
    smtp_source_only: bool,
    /// Sign every copy with DKIM, with keys made for the run: `rsa`
    /// (RSA-2048), `ed25519`, or `both` (two signatures per copy).
    #[arg(long, value_enum)]
    dkim: Option<dkim::DkimKeys>,
    /// Runtime threads of the SMTP sink.
    #[arg(long, default_value_t = 1, hide = true)]
    sink_threads: usize,
    #[command(subcommand)]
    internal: Option<Internal>,
}

#[derive(Debug, Subcommand)]
enum Internal {
    /// `GET /health` on `herald serve` against a bare actix-web server (target: 40,000 req/s).
    Health(health::HealthArgs),
    /// The SMTP sink, run by the benchmark as its child.
    #[command(hide = true)]
    Sink {
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
    /// A bare actix-web server, the web modes' anchor, run as the benchmark's child.
    #[command(hide = true)]
    AnchorHttp {
        #[arg(long, default_value_t = 2)]
        workers: usize,
    },
    /// Signups over HTTP: `POST /subscriptions` against `herald serve`, next to
    /// a bare actix-web server (see `herald-bench signups --help`).
    Signups(signups::SignupsArgs),
    /// The admin pages during a send at full speed and signups at 500/s
    /// (target: p99 ≤ 100 ms; see `herald-bench mixed --help`).
    Mixed(mixed::MixedArgs),
    /// A send's progress read at 1,000,000 copies (target: 5 ms).
    Progress(progress::ProgressArgs),
}

fn main() -> ExitCode {
    let args = Args::parse();
    match args.internal {
        Some(Internal::Sink { threads }) => {
            return exit_code("sink", sink::serve(threads).map(|()| true));
        }
        Some(Internal::AnchorHttp { workers }) => {
            return exit_code("anchor-http", anchor::serve(workers).map(|()| true));
        }
        Some(Internal::Signups(signups_args)) => {
            return exit_code("signups", signups::run(&signups_args));
        }
        Some(Internal::Health(health_args)) => {
            return exit_code("health", health::bench(&health_args));
        }
        Some(Internal::Mixed(mixed_args)) => {
            return exit_code("mixed", mixed::run(&mixed_args));
        }
        Some(Internal::Progress(progress_args)) => {
            return exit_code("progress", progress::run(&progress_args));
        }
        None => {}
    }
    if args.subscribers == 0 || args.concurrency == 0 || args.runs == 0 || args.workers == 0 {
        eprintln!(
            "herald-bench: --subscribers, --concurrency, --workers and --runs must be above 0"
        );
        return ExitCode::from(2);
    }
    if let Some(url) = &args.database {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            eprintln!("herald-bench: --database must be a postgres:// URL (SQLite is the default)");
            return ExitCode::from(2);
        }
    }
    let tools = match Tools::find(args.herald.as_deref(), args.smtp_source_only) {
        Ok(tools) => tools,
        Err(error) => {
            eprintln!("herald-bench: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let dir = match TempDir::create() {
        Ok(dir) => dir,
        Err(error) => {
            eprintln!("herald-bench: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    match bench(&args, &dir.path, &tools) {
        Ok(all_met) => {
            if args.keep {
                println!("files kept in {}", dir.keep().display());
            }
            if all_met {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            }
        }
        Err(error) => {
            eprintln!("herald-bench: {error:#}");
            // The worker's log and the database tell what went wrong.
            eprintln!("files kept in {}", dir.keep().display());
            ExitCode::FAILURE
        }
    }
}

/// 0 when every target was met, 3 when one was missed, 1 when `mode` failed.
fn exit_code(mode: &str, outcome: anyhow::Result<bool>) -> ExitCode {
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(3),
        Err(error) => {
            eprintln!("herald-bench {mode}: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// What the runs send, and on PostgreSQL the schema seeded for the first run.
struct Workload {
    template: Template,
    seeded_schema: Option<postgres::RunSchema>,
}

/// Runs the benchmark in `dir`; `Ok(false)` when Herald missed a target.
fn bench(args: &Args, dir: &Path, tools: &Tools) -> anyhow::Result<bool> {
    println!(
        "herald-bench: {} subscribers, {} connections, {} worker{} on {}, {} run{}, DKIM {}; {}",
        report::thousands(args.subscribers as f64),
        args.concurrency,
        args.workers,
        if args.workers == 1 { "" } else { "s" },
        if args.database.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        args.runs,
        if args.runs == 1 { "" } else { "s" },
        match args.dkim {
            None => "off",
            Some(dkim::DkimKeys::Rsa) => "RSA-2048",
            Some(dkim::DkimKeys::Ed25519) => "ed25519",
            Some(dkim::DkimKeys::Both) => "RSA-2048 + ed25519",
        },
        setup::machine()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // SQLite: one seeded file, copied for each run. PostgreSQL: a seeded
    // schema per run, the first one made here.
    let mut workload = match &args.database {
        None => Workload {
            template: runtime.block_on(workload::prepare(dir, args.subscribers))?,
            seeded_schema: None,
        },
        Some(server) => {
            let schema = runtime.block_on(postgres::RunSchema::create(server, 1))?;
            let template =
                runtime.block_on(workload::prepare_at(dir, &schema.url, args.subscribers))?;
            Workload {
                template,
                seeded_schema: Some(schema),
            }
        }
    };
    let template = &workload.template;
    println!(
        "setup: {} confirmed subscribers seeded in {:.1} s; issue of {} items, \
         {} of HTML, {} per message",
        report::thousands(args.subscribers as f64),
        template.seed_time.as_secs_f64(),
        template.items,
        report::kilobytes(template.html_bytes as u64),
        report::kilobytes(template.estimated_message_bytes)
    );

    let mut sink = sink::SinkProcess::start(&tools.bench, args.sink_threads)?;
    let report = Report {
        messages: args.subscribers,
        database_cpu: args.database.is_some(),
        target_ratio: report::target_ratio(args.database.is_some(), args.workers),
    };
    println!("\n{}", report.header());
    let mut runs = Vec::with_capacity(args.runs);
    for number in 1..=args.runs {
        let figures = one_run(args, dir, tools, &runtime, &mut sink, &mut workload, number)?;
        println!("{}", report.line(&number.to_string(), &figures));
        runs.push(figures);
    }
    println!("{}", report.median_line(&runs));
    let (verdict, met) = report.targets(&runs);
    println!("{verdict}");
    Ok(met)
}

/// Run `number`: Herald from a fresh copy of the database, then smtp-source
/// with Herald's message size.
fn one_run(
    args: &Args,
    dir: &Path,
    tools: &Tools,
    runtime: &tokio::runtime::Runtime,
    sink: &mut sink::SinkProcess,
    workload: &mut Workload,
    number: usize,
) -> anyhow::Result<RunFigures> {
    let template = &workload.template;
    let mut payload_bytes = template.estimated_message_bytes;
    let herald = match &tools.herald {
        Some(herald_exe) => {
            let run_dir = dir.join(format!("run-{number}"));
            let (database_url, issue_id, schema) =
                match (&args.database, workload.seeded_schema.take()) {
                    (None, _) => {
                        let database = workload::copy_for_run(dir, &run_dir)?;
                        (
                            format!("sqlite://{}", database.display()),
                            template.issue_id,
                            None,
                        )
                    }
                    (Some(_), Some(schema)) => {
                        std::fs::create_dir_all(&run_dir)?;
                        (schema.url.clone(), template.issue_id, Some(schema))
                    }
                    (Some(server), None) => {
                        std::fs::create_dir_all(&run_dir)?;
                        let schema =
                            runtime.block_on(postgres::RunSchema::create(server, number))?;
                        let seeded = runtime.block_on(workload::prepare_at(
                            &run_dir,
                            &schema.url,
                            args.subscribers,
                        ))?;
                        (schema.url.clone(), seeded.issue_id, Some(schema))
                    }
                };
            let smtp_url = format!("smtp://127.0.0.1:{}", sink.address.port());
            let mut env =
                workload::herald_env(&run_dir, &database_url, &smtp_url, args.concurrency);
            if let Some(keys) = args.dkim {
                env.extend(dkim::env(&run_dir, keys)?);
            }
            let run = herald_run::HeraldRun {
                herald_exe,
                run_dir: &run_dir,
                database_url: &database_url,
                workers: args.workers,
                database_is_a_server: schema.is_some(),
                env: &env,
                issue_id,
                subscribers: args.subscribers,
            };
            let result = runtime
                .block_on(herald_run::run(&run, sink))
                .with_context(|| format!("run {number}: Herald"))?;
            if let Some(schema) = schema {
                if !args.keep {
                    runtime.block_on(schema.drop_schema())?;
                }
            }
            payload_bytes = result.message_bytes;
            // Each run's database is as large as the list; only the last may be kept.
            if number < args.runs && !args.keep {
                std::fs::remove_dir_all(&run_dir)?;
            }
            Some(HeraldFigures {
                wall: result.wall,
                peak_rss_bytes: result.peak_rss_bytes,
                herald_cpu: result.herald_cpu,
                database_cpu: result.database_cpu,
            })
        }
        None => None,
    };
    let smtp_source = smtp_source::run(
        &tools.smtp_source,
        sink,
        args.subscribers,
        args.concurrency,
        payload_bytes,
        &dir.join(format!("smtp-source-{number}.log")),
    )
    .with_context(|| format!("run {number}: smtp-source"))?;
    Ok(RunFigures {
        herald,
        smtp_source,
    })
}
