//! `herald-bench mixed`: the admin pages while an issue goes out at full
//! speed and readers sign up (target: p99 at most 100 ms for each page).
//!
//! A fresh database (an SQLite file, or a schema of its own on `--database`)
//! with N confirmed readers and the benchmark's issue, the SMTP sink as the
//! relay, and one `herald serve` (the sending engine inside, as an operator
//! runs it on one machine). An admin account is made with `herald user add`
//! and signs in through the login form. Then `herald issue send` starts the
//! send, and until the issue is sent the benchmark drives, open loop:
//! `POST /subscriptions` at `--signups` a second, and `GET` of the dashboard,
//! the subscriber list, the issue page (which shows the progress) and the
//! progress JSON its script polls, each at `--page-rate` a second. Open loop
//! timings count from when a request was due, so a page held up behind the
//! send is charged for the wait.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use herald::store::Store;

use crate::http_load::{self, Load, LoadReport};
use crate::postgres;
use crate::serve::{herald_once, HeraldServe};
use crate::setup;
use crate::sink::SinkProcess;
use crate::workload;

const TARGET_P99: Duration = Duration::from_millis(100);
const SIGNUP_RATE_PER_MINUTE: u64 = 1_000_000_000;
const ADMIN: &str = "admin@example.com";
const PASSWORD: &str = "a long benchmark admin password";
/// A send that takes no message for this long has stalled.
const STALL: Duration = Duration::from_secs(60);

#[derive(Debug, clap::Args)]
pub struct MixedArgs {
    /// Confirmed readers the issue goes to.
    #[arg(long, default_value_t = 100_000)]
    subscribers: u64,
    /// Signups a second, open loop.
    #[arg(long, default_value_t = 500.0)]
    signups: f64,
    /// Requests a second to each admin page, open loop.
    #[arg(long, default_value_t = 20.0)]
    page_rate: f64,
    /// Stop the load here if the send is still going, and report what was measured.
    #[arg(long, default_value = "180s", value_parser = humantime::parse_duration)]
    longest: Duration,
    /// A PostgreSQL server (`postgres://…`) to run on instead of SQLite.
    #[arg(long)]
    database: Option<String>,
    /// The herald executable [default: next to this one].
    #[arg(long)]
    herald: Option<PathBuf>,
    /// Keep the temporary directory (database, serve log) afterwards.
    #[arg(long)]
    keep: bool,
}

/// Runs the mode; `Ok(false)` when a page missed the target.
pub fn run(args: &MixedArgs) -> anyhow::Result<bool> {
    if args.subscribers == 0 || args.signups <= 0.0 || args.page_rate <= 0.0 {
        bail!("--subscribers, --signups and --page-rate must be above 0");
    }
    let (bench_exe, herald_exe) = setup::executables(args.herald.as_deref())?;
    setup::in_scratch_dir(args.keep, |dir| async move {
        bench(args, &bench_exe, &herald_exe, &dir).await
    })
}

async fn bench(
    args: &MixedArgs,
    bench_exe: &Path,
    herald_exe: &Path,
    dir: &Path,
) -> anyhow::Result<bool> {
    println!(
        "herald-bench mixed: a send to {} readers at full speed, signups at {}/s, and each admin \
         page at {}/s, open loop, on {}; {}",
        args.subscribers,
        args.signups,
        args.page_rate,
        if args.database.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        setup::machine()
    );
    let mut sink = SinkProcess::start(bench_exe, 1)?;
    let (schema, url) = postgres::run_database(args.database.as_deref(), dir).await?;
    let smtp_url = format!("smtp://127.0.0.1:{}", sink.address.port());
    let template = workload::prepare_at(dir, &url, args.subscribers).await?;
    let issue = template.issue_id;
    herald_once(
        herald_exe,
        dir,
        &url,
        &smtp_url,
        &["user", "add", ADMIN, "--role", "admin"],
        &[("HERALD_PASSWORD".into(), PASSWORD.into())],
    )?;
    let mut serve = HeraldServe::start(
        herald_exe,
        dir,
        &url,
        &smtp_url,
        &[(
            "HERALD_SIGNUP_RATE_PER_MINUTE".into(),
            SIGNUP_RATE_PER_MINUTE.to_string(),
        )],
    )?;
    serve.wait_ready().await?;
    let cookie = sign_in(serve.address).await?;
    let store = Store::connect(&url, 1).await?;

    sink.reset()?;
    let started = Instant::now();
    herald_once(
        herald_exe,
        dir,
        &url,
        &smtp_url,
        &["issue", "send", &issue.to_string()],
        &[],
    )?;
    let stop = Arc::new(AtomicBool::new(false));
    let address = serve.address;
    let host = address.to_string();
    let signups = {
        let host = host.clone();
        let load = Load {
            connections: 32,
            duration: args.longest,
            rate_per_second: Some(args.signups),
        };
        let make = Arc::new(move |n: u64| {
            http_load::form_post(
                "/subscriptions",
                &host,
                "",
                &format!("email=mixed-{n}%40example.com"),
            )
        });
        tokio::spawn(http_load::drive_until(
            address,
            load,
            make,
            Arc::clone(&stop),
        ))
    };
    let pages = [
        ("dashboard", "/admin".to_owned()),
        ("subscriber list", "/admin/subscribers".to_owned()),
        ("issue page", format!("/admin/issues/{issue}")),
        ("progress JSON", format!("/admin/issues/{issue}/progress")),
    ];
    let mut page_loads = Vec::new();
    for (name, path) in &pages {
        let request = http_load::get(path, &host, &format!("Cookie: {cookie}\r\n"));
        let load = Load {
            connections: 4,
            duration: args.longest,
            rate_per_second: Some(args.page_rate),
        };
        page_loads.push((
            *name,
            tokio::spawn(http_load::drive_until(
                address,
                load,
                Arc::new(move |_| request.clone()),
                Arc::clone(&stop),
            )),
        ));
    }

    let watched = watch_send(
        &store,
        &mut sink,
        &mut serve,
        issue,
        args.subscribers,
        started + args.longest,
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    let wall = started.elapsed();
    let signups = signups.await.context("the signup load panicked")??;
    let mut reports: Vec<(&str, LoadReport)> = Vec::new();
    for (name, load) in page_loads {
        reports.push((name, load.await.context("a page load panicked")??));
    }
    let delivered = watched?;
    store.close().await;
    drop(serve);
    if let Some(schema) = schema {
        if !args.keep {
            schema.drop_schema().await?;
        }
    }

    match delivered {
        None => println!(
            "\nsend: {} copies in {:.1} s ({:.0} msg/s, from `herald issue send` to the issue marked sent)",
            args.subscribers,
            wall.as_secs_f64(),
            args.subscribers as f64 / wall.as_secs_f64()
        ),
        Some(delivered) => println!(
            "\nsend: NOT FINISHED after {:.0} s (--longest): {delivered} of {} copies sent \
             ({:.0} msg/s); the figures below cover those {:.0} s",
            wall.as_secs_f64(),
            args.subscribers,
            delivered as f64 / wall.as_secs_f64(),
            wall.as_secs_f64()
        ),
    }
    println!(
        "signups: {:.0}/s answered, p50 {:.1} ms, p99 {:.1} ms ({})",
        signups.rate(),
        ms(signups.percentile(0.5)),
        ms(signups.percentile(0.99)),
        signups.statuses()
    );
    if signups.count(200) != signups.answered() || signups.failures > 0 {
        bail!(
            "every signup must get the success page; got {}",
            signups.statuses()
        );
    }
    println!(
        "\n{:<16} {:>8} {:>9} {:>9} {:>9}  statuses",
        "page", "requests", "p50 ms", "p99 ms", "≤ 100 ms"
    );
    let mut all_met = true;
    for (name, report) in &reports {
        let p99 = report.percentile(0.99);
        let met = p99 <= TARGET_P99;
        all_met &= met;
        println!(
            "{name:<16} {:>8} {:>9.1} {:>9.1} {:>9}  {}",
            report.answered(),
            ms(report.percentile(0.5)),
            ms(p99),
            if met { "met" } else { "MISSED" },
            report.statuses()
        );
        if report.answered() == 0 || report.count(200) != report.answered() || report.failures > 0 {
            bail!("GET of the {name} answered {}", report.statuses());
        }
    }
    println!(
        "target: each admin page p99 ≤ {} ms during the send — {}",
        TARGET_P99.as_millis(),
        if all_met { "met" } else { "MISSED" }
    );
    Ok(all_met)
}

/// Waits until the issue is sent (None), or until `until` (the copies sent
/// by then); fails if the send stalls or the server dies.
async fn watch_send(
    store: &Store,
    sink: &mut SinkProcess,
    serve: &mut HeraldServe,
    issue: i64,
    subscribers: u64,
    until: Instant,
) -> anyhow::Result<Option<u64>> {
    let mut last = (0, Instant::now());
    loop {
        let status: String = sqlx::query_scalar("SELECT status FROM issues WHERE id = $1")
            .bind(issue)
            .fetch_one(store.pool())
            .await?;
        if status == "sent" {
            return Ok(None);
        }
        serve.check_alive()?;
        let delivered = sink.stats()?.messages;
        if Instant::now() >= until {
            // The sink's count holds the signups' confirmations too.
            let sent: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM deliveries WHERE issue_id = $1 AND status = 'sent'",
            )
            .bind(issue)
            .fetch_one(store.pool())
            .await?;
            return Ok(Some(sent.try_into().unwrap_or(0)));
        }
        if delivered != last.0 {
            last = (delivered, Instant::now());
        } else if last.1.elapsed() > STALL {
            bail!("the send stalled at {delivered} of {subscribers} messages");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Signs in through the login form; the session cookie (`name=value`).
async fn sign_in(address: std::net::SocketAddr) -> anyhow::Result<String> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let base = format!("http://{address}");
    let page = client.get(format!("{base}/admin/login")).send().await?;
    let cookie = session_cookie(&page).context("the login page set no session cookie")?;
    let html = page.text().await?;
    let csrf = html
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .context("the login page has no CSRF token")?
        .to_owned();
    let answer = client
        .post(format!("{base}/admin/login"))
        .header("Cookie", &cookie)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("email", ADMIN),
            ("password", PASSWORD),
        ])
        .send()
        .await?;
    if answer.status() != reqwest::StatusCode::SEE_OTHER {
        bail!("signing in answered {}", answer.status());
    }
    session_cookie(&answer).context("signing in set no session cookie")
}

fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("herald_session="))
        .and_then(|value| value.split(';').next())
        .map(str::to_owned)
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
