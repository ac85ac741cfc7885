//! `herald issue send|pause|resume|cancel|status ID`: the send controls of the
//! issue page, from the shell. `send --wait` follows the send with a progress bar.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

use super::open_store;
use crate::audit::{Actor, AuditAction, AuditEntry, AuditLog};
use crate::config::Config;
use crate::delivery::{DeliverySignals, SendControlError, SendProgress, Sends};
use crate::issues::IssueStatus;

const POLL: Duration = Duration::from_millis(500);

#[derive(Debug, Subcommand)]
pub enum IssueCommand {
    /// Send issue ID to every confirmed subscriber. A running `herald serve`
    /// or `herald worker` on the same database does the sending.
    Send {
        id: i64,
        /// Follow the send with a progress bar until every copy has an outcome
        /// (exit 0 once sent), or until it pauses itself over its bounce or
        /// complaint rate (exit 1, with the reason).
        #[arg(long)]
        wait: bool,
    },
    /// Stop taking new messages; those in flight finish.
    Pause { id: i64 },
    /// Carry on a paused send.
    Resume { id: i64 },
    /// Stop the send for good; copies not yet sent are cancelled.
    Cancel { id: i64 },
    /// Print how the send stands.
    Status { id: i64 },
}

pub async fn run(config: Config, command: IssueCommand) -> ExitCode {
    let store = match open_store(&config).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let audit = AuditLog::new(store.clone());
    let record = |action: AuditAction, id: i64| {
        audit.record(AuditEntry::new(Actor::CommandLine, action).target(format!("issue {id}")))
    };
    // Another process does the sending; it polls the queue, so no signal is needed here.
    let sends = Sends::new(store, Arc::new(DeliverySignals::new()));
    let done = match command {
        IssueCommand::Send { id, wait } => {
            let identity = crate::startup::identity_of(&config);
            match sends.start(id, "command line", &identity).await {
                Ok(queued) => {
                    record(AuditAction::IssueSent, id).await;
                    eprintln!("Issue {id} is going out to {queued} subscribers.");
                    if wait {
                        return follow(&sends, id).await;
                    }
                    Ok(())
                }
                Err(error) => Err(error),
            }
        }
        IssueCommand::Pause { id } => match sends.pause(id).await {
            Ok(()) => {
                record(AuditAction::IssuePaused, id).await;
                eprintln!("Issue {id}: send paused.");
                Ok(())
            }
            Err(error) => Err(error),
        },
        IssueCommand::Resume { id } => match sends.resume(id).await {
            Ok(()) => {
                record(AuditAction::IssueResumed, id).await;
                eprintln!("Issue {id}: send resumed.");
                Ok(())
            }
            Err(error) => Err(error),
        },
        IssueCommand::Cancel { id } => match sends.cancel(id).await {
            Ok(cancelled) => {
                record(AuditAction::IssueCancelled, id).await;
                eprintln!("Issue {id}: send cancelled; {cancelled} copies not sent.");
                Ok(())
            }
            Err(error) => Err(error),
        },
        IssueCommand::Status { id } => sends
            .progress(id)
            .await
            .map(|progress| println!("{}", summary(&progress))),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(
            error @ (SendControlError::NotFound
            | SendControlError::Conflict(_)
            | SendControlError::Empty
            | SendControlError::Invalid(_)),
        ) => {
            eprintln!("herald: {error}");
            ExitCode::from(2)
        }
        Err(error) => {
            eprintln!("herald: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Shows the send until nothing more will happen on its own; 0 when it finished as sent.
async fn follow(sends: &Sends, id: i64) -> ExitCode {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{bar:40.cyan/blue} {pos}/{len} done · {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    loop {
        let progress = match sends.progress(id).await {
            Ok(progress) => progress,
            Err(error) => {
                bar.abandon();
                eprintln!("herald: {error}");
                return ExitCode::FAILURE;
            }
        };
        let counts = &progress.counts;
        bar.set_length(u64::try_from(counts.total).unwrap_or(0));
        bar.set_position(
            u64::try_from(counts.sent + counts.failed + counts.cancelled).unwrap_or(0),
        );
        bar.set_message(detail(&progress));
        // A guard's pause waits for an editor's choice, which may take
        // hours: the command says why and ends instead of waiting.
        if progress.is_finished() || progress.pause_reason.is_some() {
            bar.finish();
            // The bar is hidden when stderr is not a terminal; the outcome is always printed.
            println!("{}", summary(&progress));
            return if progress.status == IssueStatus::Sent {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
        tokio::time::sleep(POLL).await;
    }
}

fn detail(progress: &SendProgress) -> String {
    let counts = &progress.counts;
    let left = progress.seconds_left.map_or_else(
        || "-".to_owned(),
        |seconds| {
            humantime::format_duration(Duration::from_secs(seconds.ceil() as u64)).to_string()
        },
    );
    format!(
        "{} · queued {} · sent {} · retrying {} · failed {} · {:.0}/s · {} left",
        progress.status,
        counts.queued,
        counts.sent,
        counts.retrying,
        counts.failed,
        progress.rate_per_second,
        left
    )
}

fn summary(progress: &SendProgress) -> String {
    let counts = &progress.counts;
    let took = match (progress.started_at, progress.finished_at) {
        (Some(started), Some(finished)) => format!(
            " in {:.1} s",
            Duration::from_millis(u64::try_from(finished - started).unwrap_or(0)).as_secs_f64()
        ),
        _ => String::new(),
    };
    let why = match &progress.pause_reason {
        Some(reason) => format!("\nIssue {}: {reason}", progress.issue_id),
        None => String::new(),
    };
    format!(
        "Issue {}: {} · {} copies · sent {} · failed {} · cancelled {} · queued {} · retrying {}{took}{why}",
        progress.issue_id,
        progress.status,
        counts.total,
        counts.sent,
        counts.failed,
        counts.cancelled,
        counts.queued,
        counts.retrying,
    )
}
