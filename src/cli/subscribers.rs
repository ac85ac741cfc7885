//! `herald subscribers import FILE.csv` and `herald subscribers export`.
//! Mail queued by an import goes out from a running `herald serve` (its sender
//! looks at the outbox every few seconds) or at its next start.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use crate::delivery::DeliverySignals;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

use crate::audit::{Actor as AuditActor, AuditAction, AuditEntry, AuditLog};
use crate::config::{Config, SecretKey, SecretKeyError};
use crate::store::{Store, StoreError};
use crate::subscriptions::admin::{
    Actor, Admission, ConsentNote, ConsentNoteError, ImportError, ImportReport,
};
use crate::subscriptions::{RequestOrigin, SignupPolicy, Subscriptions};

#[derive(Debug, Subcommand)]
pub enum SubscribersCommand {
    /// Import subscribers from a CSV file whose first line names the columns
    /// `email` and `name`. New addresses come in pending and are sent a
    /// confirmation mail; addresses already on the list are left alone, so
    /// importing a file twice changes nothing. Bad rows are reported with their
    /// line number. Exit code 0: every row is on the list; 1: some rows were
    /// not imported (the others were); 2: nothing was imported.
    Import {
        /// The CSV file (UTF-8).
        file: PathBuf,
        /// These people gave their consent: add them as confirmed, without a
        /// confirmation mail. Needs --consent-note.
        #[arg(long)]
        confirmed: bool,
        /// How they gave their consent, e.g. "paper forms, 2025 book fair";
        /// kept in each imported subscriber's history.
        #[arg(long, value_name = "NOTE")]
        consent_note: Option<String>,
    },
    /// Write the whole list as CSV (email,name,status,created_at) to stdout,
    /// oldest first, e.g. `herald subscribers export > subscribers.csv`.
    Export,
}

#[derive(Debug, thiserror::Error)]
pub enum SubscribersCliError {
    #[error("--confirmed needs --consent-note: {0}")]
    ConsentNote(#[from] ConsentNoteError),
    #[error("--consent-note goes with --confirmed; without it, rows come in pending")]
    NoteWithoutConfirmed,
    #[error("cannot open {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Import(#[from] ImportError),
    #[error(transparent)]
    SecretKey(#[from] SecretKeyError),
    #[error("DATABASE_URL: {0}")]
    Store(#[from] StoreError),
}

/// How imported rows come in, from the command's flags.
pub fn admission(
    confirmed: bool,
    consent_note: Option<&str>,
) -> Result<Admission, SubscribersCliError> {
    match (confirmed, consent_note) {
        (true, note) => Ok(Admission::Confirmed(ConsentNote::parse(
            note.unwrap_or_default(),
        )?)),
        (false, Some(_)) => Err(SubscribersCliError::NoteWithoutConfirmed),
        (false, None) => Ok(Admission::Pending),
    }
}

/// The subscriber side on the configured database, with the same key and
/// limits as `serve`, so the links it makes work on the running site.
async fn subscriptions(config: &Config) -> Result<(Store, Subscriptions), SubscribersCliError> {
    let store = Store::connect(&config.database_url, 2).await?;
    store.migrate().await?;
    let key = Arc::new(SecretKey::load_or_create(
        config.secret.as_ref(),
        &config.secret_file,
    )?);
    let policy = SignupPolicy {
        confirmation_ttl: config.confirmation_ttl,
        confirmations_per_day: config.confirmations_per_day,
        confirmation_min_interval: config.confirmation_min_interval,
    };
    let subscriptions =
        Subscriptions::new(store.clone(), key, policy, Arc::new(DeliverySignals::new()));
    Ok((store, subscriptions))
}

/// What `herald subscribers import` does, minus the printing: reads `path`
/// with a progress bar on the terminal (by bytes read) and imports it.
#[tracing::instrument(skip_all)]
pub async fn import_file(
    config: &Config,
    path: &Path,
    admission: &Admission,
) -> Result<ImportReport, SubscribersCliError> {
    let open_error = |source| SubscribersCliError::Open {
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::File::open(path).map_err(open_error)?;
    let size = file.metadata().map_err(open_error)?.len();
    let (store, subscriptions) = subscriptions(config).await?;
    // Drawn on stderr, and only when it is a terminal.
    let progress = ProgressBar::new(size).with_style(
        ProgressStyle::with_template(
            "{spinner} importing [{bar:40}] {bytes}/{total_bytes} ({elapsed}, {eta} left)",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let actor = Actor::new(
        "the command line",
        RequestOrigin::new(None, Some("herald subscribers import")),
    );
    let report = subscriptions
        .import_csv(progress.wrap_read(file), admission, &actor)
        .await;
    progress.finish_and_clear();
    if let Ok(report) = &report {
        AuditLog::new(store.clone())
            .record(
                AuditEntry::new(AuditActor::CommandLine, AuditAction::SubscribersImported)
                    .target(path.display().to_string())
                    .detail(report.summary(admission)),
            )
            .await;
    }
    store.close().await;
    Ok(report?)
}

pub async fn run(config: Config, command: SubscribersCommand) -> ExitCode {
    match command {
        SubscribersCommand::Import {
            file,
            confirmed,
            consent_note,
        } => import(&config, &file, confirmed, consent_note.as_deref()).await,
        SubscribersCommand::Export => export(&config).await,
    }
}

async fn import(
    config: &Config,
    file: &Path,
    confirmed: bool,
    consent_note: Option<&str>,
) -> ExitCode {
    let started = std::time::Instant::now();
    let result = match admission(confirmed, consent_note) {
        Ok(admission) => import_file(config, file, &admission).await,
        Err(error) => Err(error),
    };
    let report = match result {
        Ok(report) => report,
        Err(error) => {
            eprintln!("herald: {}", crate::web::error_chain(&error));
            return ExitCode::from(2);
        }
    };
    for problem in &report.problems {
        eprintln!("line {}: {}", problem.line, problem.reason);
    }
    if report.rejected > report.problems.len() as u64 {
        eprintln!(
            "… and {} more rows not imported",
            report.rejected - report.problems.len() as u64
        );
    }
    println!(
        "{} rows read in {:.1} s: {} added, {} already on the list, {} not imported.",
        report.rows,
        started.elapsed().as_secs_f64(),
        report.added,
        report.already_listed,
        report.rejected
    );
    if !confirmed && report.added > 0 {
        println!("Each new address is sent a confirmation mail (by `herald serve`).");
    }
    if report.rejected > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

async fn export(config: &Config) -> ExitCode {
    let (store, subscriptions) = match subscriptions(config).await {
        Ok(opened) => opened,
        Err(error) => {
            eprintln!("herald: {error}");
            return ExitCode::from(2);
        }
    };
    AuditLog::new(store)
        .record(AuditEntry::new(
            AuditActor::CommandLine,
            AuditAction::SubscribersExported,
        ))
        .await;
    let mut export = subscriptions.export_csv();
    let mut stdout = std::io::stdout().lock();
    loop {
        let chunk = match export.next_chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(error) => {
                eprintln!("herald: export failed: {error}");
                return ExitCode::FAILURE;
            }
        };
        if let Err(error) = stdout.write_all(&chunk) {
            // `| head` closing the pipe is not a failure of ours.
            if error.kind() == std::io::ErrorKind::BrokenPipe {
                return ExitCode::SUCCESS;
            }
            eprintln!("herald: cannot write the export: {error}");
            return ExitCode::FAILURE;
        }
    }
    match stdout.flush() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("herald: cannot write the export: {error}");
            ExitCode::FAILURE
        }
    }
}
