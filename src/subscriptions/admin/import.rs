//! CSV import: a header row naming an `email` column (and optionally `name`),
//! then one subscriber a row. Good rows go in, in batches of thousands per
//! statement and transaction; bad rows are reported with their line number
//! and reason; addresses already on the list, in any state, are left alone,
//! so importing the same file twice changes nothing.
//!
//! Rows come in pending, each with a confirmation mail queued in the same
//! transaction, or confirmed on the strength of a consent note, which is kept
//! in each subscriber's history.

use std::io::Read;

use super::super::admin_queries::{self, NewSubscriberRow, MAX_ROWS_PER_INSERT};
use super::super::domain::EmailError;
use super::super::{SubscriberEmail, SubscriberName, Subscriptions};
use super::csv_cell::restore;
use super::{Actor, Admission};
use crate::store::now_millis;

/// Problems kept for the report; the rest are only counted.
pub const MAX_PROBLEMS_KEPT: usize = 1_000;
/// Longest cell quoted back in a problem.
const QUOTED_VALUE_LENGTH: usize = 80;

/// A row that was not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    /// 1-based line of the file where the row starts (the header is line 1).
    pub line: u64,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Data rows read (the header not counted).
    pub rows: u64,
    pub added: u64,
    /// Addresses already on the list, or earlier in the file.
    pub already_listed: u64,
    pub rejected: u64,
    /// The first [`MAX_PROBLEMS_KEPT`] rejected rows.
    pub problems: Vec<RowProblem>,
}

impl ImportReport {
    /// What the import did, in one line, for the audit log.
    pub fn summary(&self, admission: &Admission) -> String {
        let consent = match admission {
            Admission::Pending => "pending, confirmation mailed".to_owned(),
            Admission::Confirmed(note) => format!("confirmed, consent: {}", note.as_str()),
        };
        format!(
            "{} rows: {} added, {} already listed, {} not imported ({consent})",
            self.rows, self.added, self.already_listed, self.rejected
        )
    }

    fn reject(&mut self, line: u64, reason: String) {
        self.rejected += 1;
        if self.problems.len() < MAX_PROBLEMS_KEPT {
            self.problems.push(RowProblem { line, reason });
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("The first line must be a header naming the columns: email, and optionally name.")]
    MissingHeader,
    #[error("cannot read the file: {0}")]
    Read(#[source] csv::Error),
    /// Batches before the failure are in; importing again adds the rest.
    #[error("database error after {added} subscribers were added: {source}")]
    Store {
        added: u64,
        #[source]
        source: sqlx::Error,
    },
}

type ParsedRow = (SubscriberEmail, Option<SubscriberName>);

impl Subscriptions {
    /// Imports a CSV file. Reads `reader` as it goes, so memory stays flat
    /// whatever the file's size.
    #[tracing::instrument(skip_all)]
    pub async fn import_csv(
        &self,
        reader: impl Read,
        admission: &Admission,
        actor: &Actor,
    ) -> Result<ImportReport, ImportError> {
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(reader);
        let headers = csv.byte_headers().map_err(ImportError::Read)?.clone();
        let column = |wanted: &str| {
            headers.iter().position(|header| {
                std::str::from_utf8(header).is_ok_and(|h| h.trim().eq_ignore_ascii_case(wanted))
            })
        };
        let email_column = column("email").ok_or(ImportError::MissingHeader)?;
        let name_column = column("name");

        let mut report = ImportReport::default();
        let mut batch: Vec<ParsedRow> = Vec::with_capacity(MAX_ROWS_PER_INSERT);
        let mut record = csv::ByteRecord::new();
        loop {
            match csv.read_byte_record(&mut record) {
                Ok(true) => {}
                Ok(false) => break,
                Err(error) if matches!(error.kind(), csv::ErrorKind::Io(_)) => {
                    return Err(ImportError::Read(error));
                }
                Err(error) => {
                    report.rows += 1;
                    let line = error.position().map_or(0, csv::Position::line);
                    report.reject(line, error.to_string());
                    continue;
                }
            }
            report.rows += 1;
            let line = record.position().map_or(0, csv::Position::line);
            match parse_row(&record, email_column, name_column) {
                Ok(row) => batch.push(row),
                Err(reason) => report.reject(line, reason),
            }
            if batch.len() == MAX_ROWS_PER_INSERT {
                self.import_batch(&batch, admission, actor, &mut report)
                    .await
                    .map_err(|source| ImportError::Store {
                        added: report.added,
                        source,
                    })?;
                batch.clear();
            }
        }
        self.import_batch(&batch, admission, actor, &mut report)
            .await
            .map_err(|source| ImportError::Store {
                added: report.added,
                source,
            })?;
        tracing::info!(
            rows = report.rows,
            added = report.added,
            already_listed = report.already_listed,
            rejected = report.rejected,
            "CSV import finished"
        );
        Ok(report)
    }

    /// One transaction: the new subscribers, their `imported` events and, for
    /// pending ones, their confirmation mail.
    async fn import_batch(
        &self,
        batch: &[ParsedRow],
        admission: &Admission,
        actor: &Actor,
        report: &mut ImportReport,
    ) -> Result<(), sqlx::Error> {
        if batch.is_empty() {
            return Ok(());
        }
        let now = now_millis();
        let rows: Vec<NewSubscriberRow<'_>> = batch
            .iter()
            .map(|(email, name)| NewSubscriberRow {
                email: email.as_str(),
                name: name.as_ref().map(SubscriberName::as_str),
                status: admission.status(),
                created_at: now,
            })
            .collect();
        let mut tx = self.store.begin_write().await?;
        let ids = admin_queries::insert_subscribers(&mut tx, self.store.dialect(), &rows).await?;
        admin_queries::record_events(
            &mut tx,
            self.store.dialect(),
            &ids,
            "imported",
            &actor.origin,
            admission.note(),
            now,
        )
        .await?;
        if *admission == Admission::Pending {
            self.send_confirmations(&mut tx, &ids, now).await?;
        }
        tx.commit().await?;
        let added = ids.len() as u64;
        report.added += added;
        report.already_listed += batch.len() as u64 - added;
        if *admission == Admission::Pending && added > 0 {
            self.signals.mail_queued();
        }
        Ok(())
    }
}

fn parse_row(
    record: &csv::ByteRecord,
    email_column: usize,
    name_column: Option<usize>,
) -> Result<ParsedRow, String> {
    // A cell our export protected from spreadsheets reads back as it was.
    let text = |column: usize| -> Result<&str, String> {
        std::str::from_utf8(record.get(column).unwrap_or_default())
            .map(restore)
            .map_err(|_| "not UTF-8 text; save the file as CSV UTF-8".to_owned())
    };
    let raw_email = text(email_column)?;
    let email = SubscriberEmail::parse(raw_email).map_err(|error| match error {
        EmailError::Missing => "no email address".to_owned(),
        other => format!("email {}: {other}", quoted(raw_email)),
    })?;
    let name = match name_column {
        Some(column) => {
            SubscriberName::parse(text(column)?).map_err(|error| format!("name: {error}"))?
        }
        None => None,
    };
    Ok((email, name))
}

/// A cell as the user typed it, shortened, for a problem report.
fn quoted(value: &str) -> String {
    let mut shown: String = value.trim().chars().take(QUOTED_VALUE_LENGTH).collect();
    if value.trim().chars().count() > QUOTED_VALUE_LENGTH {
        shown.push('…');
    }
    format!("{shown:?}")
}
