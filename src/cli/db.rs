//! `herald db copy --from URL --to URL`: the move from SQLite up to
//! PostgreSQL, or between any two databases Herald runs on.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use url::Url;

use crate::format::thousands;
use crate::store::backup_sqlite;
use crate::store::copy::{copy_database, TableCopied};

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Copy every subscriber, account, API token and issue into an empty
    /// database: the way from SQLite up to PostgreSQL.
    ///
    /// Stop Herald first; what it writes during the copy would be left
    /// behind. Subscribers come with their history and deliveries. Both databases are first brought up to date (as
    /// `herald migrate` does); ids are kept, so links and tokens made before
    /// go on working. A target holding any row is refused, and a copy that
    /// fails leaves the target as empty as it was. Exit code 2: a database
    /// cannot be used as given; 1: the copy failed.
    Copy {
        /// The database to copy, e.g. sqlite://herald.db. It must exist; an
        /// SQLite file is read through a read-only connection.
        #[arg(long, value_name = "URL")]
        from: String,
        /// The empty database to copy into, e.g. postgres://herald@localhost/herald.
        #[arg(long, value_name = "URL")]
        to: String,
    },
    /// Write a consistent copy of the SQLite database (DATABASE_URL) to FILE
    /// while Herald runs: every row committed before the backup started.
    ///
    /// FILE must not exist; it is created readable by its owner only. To
    /// restore: stop Herald, replace the database file with the backup,
    /// delete the old file's -wal and -shm files, start Herald. PostgreSQL
    /// is refused: use pg_dump and pg_restore. Exit code 2: the command
    /// cannot work as given; 1: the backup failed (no file is left).
    Backup {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

pub async fn run(database_url: &str, command: DbCommand) -> ExitCode {
    match command {
        DbCommand::Copy { from, to } => copy(&from, &to).await,
        DbCommand::Backup { file } => backup(database_url, &file).await,
    }
}

async fn backup(database_url: &str, file: &std::path::Path) -> ExitCode {
    match backup_sqlite(database_url, file).await {
        Ok(backup) => {
            println!(
                "Backed up {} into {} ({} bytes).",
                shown(database_url),
                backup.file.display(),
                thousands(backup.bytes)
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("herald: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

async fn copy(from: &str, to: &str) -> ExitCode {
    eprintln!("Copying {} into {}", shown(from), shown(to));
    let mut header_printed = false;
    let copied = copy_database(from, to, |done: &TableCopied| {
        if !header_printed {
            println!("{:<20} {:>12}", "table", "rows");
            header_printed = true;
        }
        println!("{:<20} {:>12}", done.table, thousands(done.rows));
    })
    .await;
    match copied {
        Ok(report) => {
            println!(
                "Copied {} tables, {} rows in {:.1} s. Point DATABASE_URL at {} and start Herald.",
                report.tables.len(),
                thousands(report.rows()),
                report.elapsed.as_secs_f64(),
                shown(to)
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("herald: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

/// A database URL fit for the terminal: the password masked and the query
/// (which may carry one too) left out.
fn shown(url: &str) -> String {
    if url.starts_with("sqlite:") {
        return url.split('?').next().unwrap_or(url).to_owned();
    }
    let Ok(mut parsed) = Url::parse(url) else {
        return "the database given".to_owned();
    };
    if parsed.password().is_some() {
        // Fails only for URLs that cannot have a password, which this one has.
        let _ = parsed.set_password(Some("***"));
    }
    let had_query = parsed.query().is_some();
    parsed.set_query(None);
    parsed.set_fragment(None);
    let mut shown = parsed.to_string();
    if had_query {
        shown.push_str("?…");
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_the_terminal() {
        assert_eq!(
            shown("postgres://herald:s3cret@db.example:5432/herald"),
            "postgres://herald:***@db.example:5432/herald"
        );
        assert_eq!(
            shown("postgres://herald@db.example/herald?password=s3cret&sslmode=require"),
            "postgres://herald@db.example/herald?…"
        );
        assert_eq!(shown("sqlite://herald.db?mode=ro"), "sqlite://herald.db");
        assert_eq!(shown("not a url s3cret"), "the database given");
    }
}
