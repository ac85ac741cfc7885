//! `herald bounces ingest [FILE]`: one message that came back, from a file
//! or standard input, for an MTA's pipe transport or a .forward. One line
//! per outcome on stdout; exit 0 when handled or ignored, 75 (EX_TEMPFAIL)
//! when the database cannot take it now, so that the MTA tries again.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Subcommand;

use crate::bounces::{Intake, Outcome, ReturnPath, MAX_MESSAGE_SIZE};
use crate::config::{Config, SecretKey};
use crate::store::Store;

/// sysexits.h: "temporary failure; user is invited to retry". Postfix,
/// Exim and sendmail keep the message queued and deliver it again.
const EX_TEMPFAIL: u8 = 75;

#[derive(Debug, Subcommand)]
pub enum BouncesCommand {
    /// Read one bounce, complaint or auto-reply (RFC 5322) and apply it.
    Ingest {
        /// The message; standard input when absent.
        file: Option<PathBuf>,
        /// The address the MTA delivered it to (Postfix: `${original_recipient}`),
        /// for the VERP token when the headers do not carry it.
        #[arg(long, value_name = "ADDRESS")]
        recipient: Option<String>,
    },
}

pub async fn run(config: Config, command: BouncesCommand) -> ExitCode {
    let BouncesCommand::Ingest { file, recipient } = command;
    let raw = match read_message(file.as_ref()) {
        Ok(Some(raw)) => raw,
        Ok(None) => {
            println!(
                "{}",
                Outcome::Ignored(crate::bounces::intake::Ignored::TooLarge)
            );
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("herald: cannot read the message: {error}");
            return ExitCode::from(EX_TEMPFAIL);
        }
    };
    // Never a new key here: one made up now would read no token as genuine.
    let key = match SecretKey::load_existing(config.secret.as_ref(), &config.secret_file) {
        Ok(key) => Arc::new(key),
        Err(error) => {
            eprintln!("herald: {error}");
            return ExitCode::from(EX_TEMPFAIL);
        }
    };
    let store = match open(&config).await {
        Ok(store) => store,
        Err(error) => {
            eprintln!("herald: the database is unavailable, try again later: {error}");
            return ExitCode::from(EX_TEMPFAIL);
        }
    };
    let intake = Intake::new(
        store.clone(),
        key,
        config.bounce_address.clone().map(ReturnPath::new),
        config.soft_bounce_limit.get(),
    );
    let outcome = intake.ingest(&raw, recipient.as_deref()).await;
    store.close().await;
    match outcome {
        Ok(outcome) => {
            println!("{outcome}");
            ExitCode::SUCCESS
        }
        // Nothing was applied (the transaction rolled back): the same
        // message handed in again is handled as if new.
        Err(error) => {
            eprintln!("herald: the database is unavailable, try again later: {error}");
            ExitCode::from(EX_TEMPFAIL)
        }
    }
}

/// The message, or `None` when it is larger than `MAX_MESSAGE_SIZE`. The
/// rest of standard input is read and dropped all the same: an MTA whose
/// pipe is closed early counts the delivery as failed and tries again.
fn read_message(file: Option<&PathBuf>) -> std::io::Result<Option<Vec<u8>>> {
    let limit = u64::try_from(MAX_MESSAGE_SIZE).unwrap_or(u64::MAX) + 1;
    let mut raw = Vec::new();
    match file {
        Some(path) => {
            std::fs::File::open(path)?
                .take(limit)
                .read_to_end(&mut raw)?;
        }
        None => {
            let mut stdin = std::io::stdin().lock();
            (&mut stdin).take(limit).read_to_end(&mut raw)?;
            if raw.len() > MAX_MESSAGE_SIZE {
                std::io::copy(&mut stdin, &mut std::io::sink())?;
            }
        }
    }
    Ok((raw.len() <= MAX_MESSAGE_SIZE).then_some(raw))
}

async fn open(config: &Config) -> Result<Store, Box<dyn std::error::Error>> {
    let store = Store::connect(&config.database_url, 2).await?;
    store.migrate().await?;
    Ok(store)
}
