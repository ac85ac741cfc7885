//! Made-up subscribers for measuring Herald at scale.
//!
//! `herald-seed --count 1000000` fills the database named by DATABASE_URL
//! (same configuration as `herald`) with a mix of statuses (70 % confirmed,
//! 15 % pending, 10 % unsubscribed, 5 % bounced) spread over three years;
//! `herald-seed --count 1000000 --csv > people.csv` writes an `email,name`
//! file for `herald subscribers import` instead. The same `--seed` gives the
//! same people.

use std::process::ExitCode;

use clap::Parser;
use herald::config::Config;
use herald::store::{now_millis, Store};
use herald::subscriptions::admin::{insert_samples, SampleSubscriber};
use herald::subscriptions::{SubscriberEmail, SubscriberName, SubscriberStatus};
use indicatif::ProgressBar;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const FIRST_NAMES: &[&str] = &[
    "Ada", "Alan", "Grace", "Linus", "Ursula", "Mary", "John", "Emma", "Olivia", "Noah", "Liam",
    "Sophia", "Mia", "Lucas", "Amelia", "Ethan", "Harper", "Elijah", "Chloé", "Mateo", "Zoe",
    "Hugo", "Inès", "Jonas", "Léa", "Paul", "Anna", "Karl", "Nora", "Omar", "Fatima", "Yusuf",
    "Aiko", "Kenji", "Priya", "Arjun", "Sven", "Ingrid", "Mario", "Giulia", "Pedro", "Lucía",
    "Ivan", "Olga", "Tomás", "Aoife", "Siobhan", "Kwame", "Amara", "Wei", "Mei", "Hamid",
];
const LAST_NAMES: &[&str] = &[
    "Lovelace", "Turing", "Hopper", "Torvalds", "Le Guin", "Smith", "Johnson", "Williams", "Brown",
    "Jones", "Garcia", "Miller", "Davis", "Martinez", "Lopez", "Wilson", "Anderson", "Thomas",
    "Moore", "Martin", "Jackson", "Thompson", "White", "Harris", "Clark", "Lewis", "Young",
    "Walker", "Hall", "Allen", "King", "Wright", "Scott", "Green", "Baker", "Adams", "Nelson",
    "Hill", "Campbell", "Mitchell", "Müller", "Schmidt", "Dubois", "Rossi", "Nakamura", "Tanaka",
    "Okafor", "Mensah", "Kowalski", "Nowak", "Novák", "Jensen", "Hansen", "O'Brien", "Murphy",
    "Silva", "Santos", "Ivanova", "Petrov", "Chen", "Wang", "Singh", "Patel", "Haddad", "Cohen",
];
const DOMAINS: &[&str] = &[
    "example.com",
    "example.org",
    "example.net",
    "mail.example",
    "post.example",
    "inbox.example",
];
const THREE_YEARS_MILLIS: i64 = 3 * 365 * 24 * 60 * 60 * 1000;
/// Rows per transaction.
const BATCH: usize = 50_000;

#[derive(Debug, Parser)]
#[command(
    name = "herald-seed",
    about = "Fill Herald's database with made-up subscribers"
)]
struct Args {
    /// How many subscribers.
    #[arg(long, default_value_t = 1_000_000)]
    count: u64,
    /// Write `email,name` CSV to stdout instead of filling the database.
    #[arg(long)]
    csv: bool,
    /// The same seed makes the same people.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn ascii_slug(name: &str) -> String {
    name.chars()
        .filter_map(|c| match c {
            'é' | 'è' => Some('e'),
            'á' => Some('a'),
            'í' => Some('i'),
            'ü' => Some('u'),
            c if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

fn person(rng: &mut StdRng, n: u64, now: i64, count: u64) -> SampleSubscriber {
    let first = FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())];
    let last = LAST_NAMES[rng.random_range(0..LAST_NAMES.len())];
    let domain = DOMAINS[rng.random_range(0..DOMAINS.len())];
    let email = format!("{}.{}{n}@{domain}", ascii_slug(first), ascii_slug(last));
    let name = if rng.random_range(0..10) == 0 {
        None
    } else {
        SubscriberName::parse(&format!("{first} {last}"))
            .ok()
            .flatten()
    };
    let status = match rng.random_range(0..100) {
        0..70 => SubscriberStatus::Confirmed,
        70..85 => SubscriberStatus::Pending,
        85..95 => SubscriberStatus::Unsubscribed,
        _ => SubscriberStatus::Bounced,
    };
    // Older rows first, as a real list grows.
    let step = THREE_YEARS_MILLIS / i64::try_from(count.max(1)).unwrap_or(i64::MAX);
    let created_at = now - THREE_YEARS_MILLIS + i64::try_from(n).unwrap_or(0) * step;
    SampleSubscriber {
        email: SubscriberEmail::parse(&email).unwrap_or_else(|e| panic!("{email}: {e}")),
        name,
        status,
        created_at,
    }
}

fn write_csv(args: &Args) -> ExitCode {
    let mut rng = StdRng::seed_from_u64(args.seed);
    let now = now_millis();
    let mut out = csv::Writer::from_writer(std::io::BufWriter::new(std::io::stdout().lock()));
    let mut write = || -> Result<(), csv::Error> {
        out.write_record(["email", "name"])?;
        for n in 1..=args.count {
            let p = person(&mut rng, n, now, args.count);
            out.write_record([
                p.email.as_str(),
                p.name.as_ref().map_or("", SubscriberName::as_str),
            ])?;
        }
        out.flush()?;
        Ok(())
    };
    match write() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("herald-seed: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn fill_database(args: &Args) -> Result<u64, Box<dyn std::error::Error>> {
    let config = Config::from_env()?;
    let store = Store::connect(&config.database_url, 2).await?;
    store.migrate().await?;
    let mut rng = StdRng::seed_from_u64(args.seed);
    let now = now_millis();
    let progress = ProgressBar::new(args.count);
    let mut inserted = 0;
    let mut batch = Vec::with_capacity(BATCH);
    for n in 1..=args.count {
        batch.push(person(&mut rng, n, now, args.count));
        if batch.len() == BATCH || n == args.count {
            inserted += insert_samples(&store, &batch).await?;
            progress.inc(batch.len() as u64);
            batch.clear();
        }
    }
    progress.finish_and_clear();
    store.close().await;
    Ok(inserted)
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.csv {
        return write_csv(&args);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("herald-seed: {error}");
            return ExitCode::FAILURE;
        }
    };
    let started = std::time::Instant::now();
    match runtime.block_on(fill_database(&args)) {
        Ok(inserted) => {
            eprintln!(
                "herald-seed: {inserted} subscribers added in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("herald-seed: {error}");
            ExitCode::FAILURE
        }
    }
}
