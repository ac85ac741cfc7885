//! CSV import: a header row naming an `email` column (and optionally `name`),
//! then one subscriber a row. Good rows go in, in batches of thousands per
//! statement and transaction; bad rows are reported with their line number
//! and reason; addresses already on the list, in any state, are left alone,
//! so importing the same file twice changes nothing.
//!
//! Columns other than `email` and `name` are custom fields, matched by key
//! (`status` and `created_at`, which the export writes, are ignored): a file
//! with a column that is neither is refused before anything is written,
//! naming the column, and a row with a value that does not fit its field is
//! reported with its line and column and left out whole, never imported
//! without its values.
//!
//! Rows come in pending, each with a confirmation mail queued in the same
//! transaction, or confirmed on the strength of a consent note, which is kept
//! in each subscriber's history.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

use super::super::admin_queries::{self, NewConfirmation, NewSubscriberRow, MAX_ROWS_PER_INSERT};
use super::super::domain::EmailError;
use super::super::tokens::{ConfirmationToken, LinkKey, TokenSeed};
use super::super::{SubscriberEmail, SubscriberName, Subscriptions};
use super::csv_cell::restore;
use super::{Actor, Admission};
use crate::config::SecretKey;
use crate::fields::{self, CheckedValues, Field, RawValue, Scope};
use crate::store::{millis, now_millis, BulkWriter, Dialect};
use crate::suppressions;
use crate::topics::{join_defaults, MembershipSource};

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
    #[error("The first line must be a header naming the columns: email, and optionally name. This file's first line reads `{found}`; expected `{expected}`.")]
    MissingHeader { found: String, expected: String },
    /// Columns that are no custom field: `column 3 (phone)`.
    #[error("The file has columns that are no custom field: {}. Rename each header to a field's key, create the field under Custom fields, or remove the column.", .0.join(", "))]
    UnknownColumns(Vec<String>),
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

type ParsedRow = (SubscriberEmail, Option<SubscriberName>, CheckedValues);
/// A data row's line, and the row or why it cannot be read.
type NumberedRow = (u64, Result<ParsedRow, String>);

/// Rows committed together. The rows of a transaction are written in
/// statements of [`MAX_ROWS_PER_INSERT`], but its index pages once, at the
/// commit: the link-key and address indexes take each new row on a random
/// page, so with a commit every 5,000 rows a million-row import wrote those
/// pages to the WAL over and over (62 % of its CPU time was the kernel
/// copying pages; 14 % with this and the bulk connection's cache, see
/// docs/performance.md). A transaction holds SQLite's write lock for its
/// whole batch; other writers wait for it on the busy timeout.
const ROWS_PER_TRANSACTION: usize = 50_000;

/// A good row with everything its transaction needs that costs CPU time,
/// computed by the reading thread while the previous batch is written.
struct ReadyRow {
    line: u64,
    email: SubscriberEmail,
    name: Option<SubscriberName>,
    values: CheckedValues,
    probe: suppressions::Probe,
}

/// The rows of one transaction, read and checked ahead of it.
#[derive(Default)]
struct Batch {
    /// Data rows read for this batch, good or bad.
    rows_read: u64,
    good: Vec<ReadyRow>,
    /// Rows that could not be read: their line and why.
    bad: Vec<(u64, String)>,
    /// One a good row, in ascending order: any key may go to any new row,
    /// and in order they fill the key's unique index from left to right.
    link_keys: Vec<LinkKey>,
    /// For a pending import, one confirmation link a good row, in ascending
    /// order of the stored hash, for the same reason.
    confirmations: Vec<ReadyConfirmation>,
}

/// A confirmation link made ahead of the transaction that stores it.
struct ReadyConfirmation {
    seed: String,
    token_hash: String,
}

impl ReadyConfirmation {
    fn generate(key: &SecretKey) -> Self {
        let seed = TokenSeed::generate();
        let token_hash = ConfirmationToken::derive(key, &seed).hash();
        Self {
            seed: seed.as_str().to_owned(),
            token_hash,
        }
    }
}

/// The reader hands the writer a batch while it reads the next one; one in
/// the channel and one being read keep memory flat.
const BATCHES_AHEAD: usize = 1;

impl Subscriptions {
    /// Imports a CSV file. Reads `reader` as it goes, so memory stays flat
    /// whatever the file's size. The file is read and checked on a thread of
    /// its own, a batch ahead of the transactions that write it, so that
    /// parsing and the database's work overlap.
    #[tracing::instrument(skip_all)]
    pub async fn import_csv(
        &self,
        reader: impl Read + Send + 'static,
        admission: &Admission,
        actor: &Actor,
    ) -> Result<ImportReport, ImportError> {
        let custom_fields = self
            .all_fields()
            .await
            .map_err(|source| ImportError::Store { added: 0, source })?;
        let (sender, mut batches) = tokio::sync::mpsc::channel(BATCHES_AHEAD);
        let key = Arc::clone(&self.key);
        let pending = *admission == Admission::Pending;
        let reading = tokio::task::spawn_blocking(move || {
            read_batches(reader, &key, pending, &custom_fields, &sender)
        });

        let mut report = ImportReport::default();
        // The header is checked before the database is touched.
        let Some(first) = batches.recv().await else {
            return Err(reader_stopped(reading).await);
        };
        let mut next = Some(first?);
        let mut writer = self
            .store
            .bulk_writer()
            .await
            .map_err(|source| ImportError::Store { added: 0, source })?;
        while let Some(mut batch) = next {
            report.rows += batch.rows_read;
            for (line, reason) in std::mem::take(&mut batch.bad) {
                report.reject(line, reason);
            }
            self.import_batch(&mut writer, batch, admission, actor, &mut report)
                .await
                .map_err(|source| ImportError::Store {
                    added: report.added,
                    source,
                })?;
            next = batches.recv().await.transpose()?;
        }
        // The channel also closes if the reading thread died half way.
        if let Err(error) = reading.await {
            return Err(io_error(std::io::Error::other(error)));
        }
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
    /// pending ones, their confirmation mail. Rows whose address is on the
    /// suppression list are reported with their line and left out.
    async fn import_batch(
        &self,
        writer: &mut BulkWriter,
        batch: Batch,
        admission: &Admission,
        actor: &Actor,
        report: &mut ImportReport,
    ) -> Result<(), sqlx::Error> {
        if batch.good.is_empty() {
            return Ok(());
        }
        let now = now_millis();
        let dialect = self.store.dialect();
        let mut tx = writer.begin_write().await?;
        let probes: Vec<&suppressions::Probe> = batch.good.iter().map(|row| &row.probe).collect();
        let suppressed = suppressions::suppressed_probes(&mut tx, dialect, &probes).await?;
        let mut kept = Vec::with_capacity(batch.good.len());
        let mut refused = Vec::new();
        for (index, (row, link_key)) in batch.good.iter().zip(&batch.link_keys).enumerate() {
            if suppressed.contains(&index) {
                refused.push((
                    row.line,
                    format!("{} is on the suppression list", row.email.as_str()),
                ));
            } else {
                kept.push((row, link_key));
            }
        }
        let mut confirmations = batch.confirmations.into_iter();
        let with_values = kept.iter().any(|(row, _)| !row.values.is_empty());
        let mut added = 0;
        for chunk in kept.chunks(MAX_ROWS_PER_INSERT) {
            let rows: Vec<NewSubscriberRow<'_>> = chunk
                .iter()
                .map(|(row, link_key)| NewSubscriberRow {
                    email: row.email.as_str(),
                    name: row.name.as_ref().map(SubscriberName::as_str),
                    status: admission.status(),
                    created_at: now,
                    link_key: link_key.as_str(),
                })
                .collect();
            let ids = if with_values {
                // Which row each id is, to give it its own values.
                let inserted =
                    admin_queries::insert_returning_emails(&mut tx, dialect, &rows).await?;
                let mut by_email: HashMap<&str, &CheckedValues> = HashMap::new();
                for (row, _) in chunk {
                    by_email.entry(row.email.as_str()).or_insert(&row.values);
                }
                let values: Vec<(i64, &CheckedValues)> = inserted
                    .iter()
                    .filter_map(|(id, email)| Some((*id, *by_email.get(email.as_str())?)))
                    .collect();
                fields::write_many(&mut tx, dialect, &values).await?;
                inserted.into_iter().map(|(id, _)| id).collect()
            } else {
                admin_queries::insert_subscribers(&mut tx, dialect, &rows).await?
            };
            let topics =
                join_defaults(&mut tx, dialect, &ids, MembershipSource::Import, now).await?;
            let event = ("imported", admission.note(), topics.as_deref());
            admin_queries::record_events_about(&mut tx, dialect, &ids, event, &actor.origin, now)
                .await?;
            if *admission == Admission::Pending {
                let expires_at = now + millis(self.policy.confirmation_ttl);
                let links: Vec<NewConfirmation> = ids
                    .iter()
                    .zip(&mut confirmations)
                    .map(|(&subscriber_id, link)| NewConfirmation {
                        subscriber_id,
                        token_hash: link.token_hash,
                        seed: link.seed,
                        created_at: now,
                        expires_at,
                    })
                    .collect();
                self.send_confirmations(&mut tx, &links).await?;
            }
            added += ids.len() as u64;
        }
        tx.commit().await?;
        for (line, reason) in refused {
            report.reject(line, reason);
        }
        report.added += added;
        report.already_listed += kept.len() as u64 - added;
        if *admission == Admission::Pending && added > 0 {
            self.signals.mail_queued();
        }
        Ok(())
    }
}

/// The reading thread: the header, then batches of rows with their hashes
/// and keys, until the end of the file, a read error, or the writer gone.
/// After a good header it always sends at least one batch, maybe empty.
fn read_batches(
    reader: impl Read,
    key: &SecretKey,
    pending: bool,
    custom_fields: &[Field],
    batches: &tokio::sync::mpsc::Sender<Result<Batch, ImportError>>,
) {
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    let start = match reader.fill_buf() {
        Ok(start) => start,
        Err(error) => {
            // The writer may be gone already; then there is nobody to tell.
            let _ = batches.blocking_send(Err(io_error(error)));
            return;
        }
    };
    let separator = Separator::detect(start);
    let mut csv = csv_reader(reader, separator);
    let columns = match columns(&mut csv, separator, custom_fields) {
        Ok(columns) => columns,
        Err(error) => {
            let _ = batches.blocking_send(Err(error));
            return;
        }
    };
    let mut batch = Batch::default();
    let mut record = csv::ByteRecord::new();
    loop {
        match next_row(&mut csv, &mut record, &columns) {
            Ok(Some((line, row))) => {
                batch.rows_read += 1;
                match row {
                    Ok((email, name, values)) => batch.good.push(ReadyRow {
                        line,
                        probe: suppressions::Probe::new(key, &email),
                        email,
                        name,
                        values,
                    }),
                    Err(reason) => batch.bad.push((line, reason)),
                }
                if batch.good.len() == ROWS_PER_TRANSACTION {
                    let full = std::mem::take(&mut batch);
                    if batches
                        .blocking_send(Ok(ready(full, key, pending)))
                        .is_err()
                    {
                        return;
                    }
                }
            }
            Ok(None) => {
                let _ = batches.blocking_send(Ok(ready(batch, key, pending)));
                return;
            }
            Err(error) => {
                let _ = batches.blocking_send(Err(error));
                return;
            }
        }
    }
}

/// A batch with its link keys and, for a pending import, its confirmation links.
fn ready(mut batch: Batch, key: &SecretKey, pending: bool) -> Batch {
    batch.link_keys = LinkKey::generate_sorted(batch.good.len());
    if pending {
        batch.confirmations = (0..batch.good.len())
            .map(|_| ReadyConfirmation::generate(key))
            .collect();
        batch
            .confirmations
            .sort_unstable_by(|a, b| a.token_hash.cmp(&b.token_hash));
    }
    batch
}

/// Why the reading thread ended without a word: it panicked or was cancelled.
async fn reader_stopped(reading: tokio::task::JoinHandle<()>) -> ImportError {
    let error = match reading.await {
        Err(error) => std::io::Error::other(error),
        Ok(()) => std::io::Error::other("the file reader stopped"),
    };
    io_error(error)
}

/// The next data row and its line: the row, or why it cannot be read (a
/// broken CSV line counts as a bad row; only a read error ends the file).
fn next_row<R: Read>(
    csv: &mut csv::Reader<R>,
    record: &mut csv::ByteRecord,
    columns: &Columns,
) -> Result<Option<NumberedRow>, ImportError> {
    match csv.read_byte_record(record) {
        Ok(true) => {
            let line = record.position().map_or(0, csv::Position::line);
            Ok(Some((line, parse_row(record, columns))))
        }
        Ok(false) => Ok(None),
        Err(error) if matches!(error.kind(), csv::ErrorKind::Io(_)) => {
            Err(ImportError::Read(error))
        }
        Err(error) => {
            let line = error.position().map_or(0, csv::Position::line);
            Ok(Some((line, Err(error.to_string()))))
        }
    }
}

fn parse_row(record: &csv::ByteRecord, columns: &Columns) -> Result<ParsedRow, String> {
    let Columns {
        email: email_column,
        name: name_column,
        ref fields,
        ref in_file,
    } = *columns;
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
    let values = if fields.is_empty() {
        CheckedValues::default()
    } else {
        let mut given = Vec::with_capacity(fields.len());
        for (column, field) in fields {
            given.push((field.key().to_string(), RawValue::Text(text(*column)?)));
        }
        fields::check_values(in_file, &given, Scope::Import).map_err(|errors| {
            let reasons: Vec<String> = errors
                .iter()
                .map(|error| {
                    let column = fields
                        .iter()
                        .find(|(_, field)| field.key().as_str() == error.key())
                        .map_or(0, |(column, _)| column + 1);
                    format!("column {column} ({}): {error}", error.key())
                })
                .collect();
            reasons.join("; ")
        })?
    };
    Ok((email, name, values))
}

/// A cell as the user typed it, shortened, for a problem report.
fn quoted(value: &str) -> String {
    let mut shown: String = value.trim().chars().take(QUOTED_VALUE_LENGTH).collect();
    if value.trim().chars().count() > QUOTED_VALUE_LENGTH {
        shown.push('…');
    }
    format!("{shown:?}")
}

/// The character between the columns of a CSV file: spreadsheets in many
/// countries save with semicolons, and some exports use tabs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Separator {
    #[default]
    Comma,
    Semicolon,
    Tab,
}

impl Separator {
    /// The separator of the file that starts with `start`: the one its first
    /// line uses most outside quotes (a comma when it uses none).
    pub fn detect(start: &[u8]) -> Self {
        let line = start.split(|&b| b == b'\n').next().unwrap_or_default();
        let (mut counts, mut quoted) = ([0usize; 3], false);
        for &byte in line {
            match byte {
                b'"' => quoted = !quoted,
                b',' if !quoted => counts[0] += 1,
                b';' if !quoted => counts[1] += 1,
                b'\t' if !quoted => counts[2] += 1,
                _ => {}
            }
        }
        let most = counts.iter().copied().max().unwrap_or(0);
        if most == 0 || counts[0] == most {
            Self::Comma
        } else if counts[1] == most {
            Self::Semicolon
        } else {
            Self::Tab
        }
    }

    pub fn byte(self) -> u8 {
        match self {
            Self::Comma => b',',
            Self::Semicolon => b';',
            Self::Tab => b'\t',
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Comma => "comma",
            Self::Semicolon => "semicolon",
            Self::Tab => "tab",
        }
    }

    /// The header an import expects, written with this separator.
    fn expected_header(self) -> String {
        match self {
            Self::Tab => "email<tab>name".to_owned(),
            other => format!("email{}name", char::from(other.byte())),
        }
    }
}

fn io_error(error: std::io::Error) -> ImportError {
    ImportError::Read(csv::Error::from(error))
}

fn csv_reader<R: Read>(reader: R, separator: Separator) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .delimiter(separator.byte())
        .from_reader(reader)
}

/// Where each column of the file goes.
#[derive(Debug, Clone)]
struct Columns {
    email: usize,
    name: Option<usize>,
    /// The custom fields' columns (0-based) and their fields.
    fields: Vec<(usize, Field)>,
    /// The same fields alone, as each row's values are checked against them.
    in_file: Vec<Field>,
}

/// Columns the export writes that an import leaves alone.
const IGNORED_COLUMNS: [&str; 2] = ["status", "created_at"];

/// The email column, the name column if any, and the custom fields'
/// columns, from the header line; a column that is none of these is refused.
fn columns<R: Read>(
    csv: &mut csv::Reader<R>,
    separator: Separator,
    custom_fields: &[Field],
) -> Result<Columns, ImportError> {
    let headers = csv.byte_headers().map_err(ImportError::Read)?.clone();
    let column = |wanted: &str| {
        headers.iter().position(|header| {
            std::str::from_utf8(header).is_ok_and(|h| h.trim().eq_ignore_ascii_case(wanted))
        })
    };
    let Some(email_column) = column("email") else {
        let cells: Vec<String> = headers
            .iter()
            .map(|cell| String::from_utf8_lossy(cell).trim().to_owned())
            .collect();
        let found = match separator {
            Separator::Tab => cells.join("<tab>"),
            other => cells.join(&char::from(other.byte()).to_string()),
        };
        return Err(ImportError::MissingHeader {
            found: quoted(&found).trim_matches('"').to_owned(),
            expected: separator.expected_header(),
        });
    };
    let name_column = column("name");
    let mut fields = Vec::new();
    let mut unknown = Vec::new();
    for (index, header) in headers.iter().enumerate() {
        if index == email_column || Some(index) == name_column {
            continue;
        }
        let header = String::from_utf8_lossy(header).trim().to_owned();
        if header.is_empty()
            || IGNORED_COLUMNS
                .iter()
                .any(|c| header.eq_ignore_ascii_case(c))
        {
            continue;
        }
        let field = fields::FieldKey::parse(&header)
            .ok()
            .and_then(|key| custom_fields.iter().find(|f| *f.key() == key));
        match field {
            Some(field)
                if !fields
                    .iter()
                    .any(|(_, f): &(usize, Field)| f.id == field.id) =>
            {
                fields.push((index, field.clone()));
            }
            _ => unknown.push(format!(
                "column {} ({})",
                index + 1,
                quoted(&header).trim_matches('"')
            )),
        }
    }
    if !unknown.is_empty() {
        return Err(ImportError::UnknownColumns(unknown));
    }
    let in_file = fields.iter().map(|(_, field)| field.clone()).collect();
    Ok(Columns {
        email: email_column,
        name: name_column,
        fields,
        in_file,
    })
}

/// What importing a file would do, found without changing anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DryRun {
    pub separator: Separator,
    /// Data rows read (the header not counted).
    pub rows: u64,
    /// Addresses the import would add.
    pub new: u64,
    /// Rows whose address is on an earlier row of the file.
    pub repeated: u64,
    pub invalid: u64,
    /// Addresses already on the list, in any state: left as they are.
    pub already_listed: u64,
    /// Addresses on the suppression list: left out, each with its line.
    pub suppressed: u64,
    /// The invalid and repeated rows, with their line and why: the first
    /// [`MAX_PROBLEMS_KEPT`].
    pub problems: Vec<RowProblem>,
}

impl DryRun {
    fn note(&mut self, line: u64, reason: String) {
        if self.problems.len() < MAX_PROBLEMS_KEPT {
            self.problems.push(RowProblem { line, reason });
        }
    }
}

impl Subscriptions {
    /// Reads a CSV file as [`Subscriptions::import_csv`] would and counts what
    /// it would do, changing nothing.
    #[tracing::instrument(skip_all)]
    pub async fn dry_run_csv(&self, file: &[u8]) -> Result<DryRun, ImportError> {
        let separator = Separator::detect(file);
        let custom_fields = self
            .all_fields()
            .await
            .map_err(|source| ImportError::Store { added: 0, source })?;
        let mut csv = csv_reader(file, separator);
        let columns = columns(&mut csv, separator, &custom_fields)?;
        let mut run = DryRun {
            separator,
            ..DryRun::default()
        };
        // Each address once, by the line it first appears on.
        let mut seen: HashMap<String, u64> = HashMap::new();
        let mut record = csv::ByteRecord::new();
        while let Some((line, row)) = next_row(&mut csv, &mut record, &columns)? {
            run.rows += 1;
            match row {
                Ok((email, _, _)) => {
                    let key = email.as_str().to_ascii_lowercase();
                    if let Some(first) = seen.get(&key) {
                        run.repeated += 1;
                        run.note(line, format!("repeats line {first} ({})", email.as_str()));
                    } else {
                        seen.insert(key, line);
                    }
                }
                Err(reason) => {
                    run.invalid += 1;
                    run.note(line, reason);
                }
            }
        }
        let dialect: Dialect = self.store.dialect();
        let mut conn = self
            .store
            .pool()
            .acquire()
            .await
            .map_err(|source| ImportError::Store { added: 0, source })?;
        // Suppressed addresses are left out before anything else, as the import does.
        let mut first_lines: Vec<(SubscriberEmail, u64)> = seen
            .into_iter()
            .filter_map(|(address, line)| {
                Some((SubscriberEmail::parse_any_domain(&address).ok()?, line))
            })
            .collect();
        first_lines.sort_unstable_by_key(|(_, line)| *line);
        let emails: Vec<&SubscriberEmail> = first_lines.iter().map(|(email, _)| email).collect();
        let suppressed = suppressions::suppressed_among(&mut conn, dialect, &self.key, &emails)
            .await
            .map_err(|source| ImportError::Store { added: 0, source })?;
        let mut addresses = Vec::with_capacity(first_lines.len());
        for (index, (email, line)) in first_lines.iter().enumerate() {
            if suppressed.contains(&index) {
                run.suppressed += 1;
                run.note(
                    *line,
                    format!("{} is on the suppression list", email.as_str()),
                );
            } else {
                addresses.push(email.as_str().to_ascii_lowercase());
            }
        }
        run.problems.sort_by_key(|problem| problem.line);
        for chunk in addresses.chunks(MAX_ROWS_PER_INSERT) {
            run.already_listed += admin_queries::count_listed(&mut conn, dialect, chunk)
                .await
                .map_err(|source| ImportError::Store { added: 0, source })?;
        }
        run.new = addresses.len() as u64 - run.already_listed;
        Ok(run)
    }
}

impl Subscriptions {
    /// Every custom field: an import's extra columns are matched against them.
    async fn all_fields(&self) -> Result<Vec<Field>, sqlx::Error> {
        let mut conn = self.store.pool().acquire().await?;
        fields::queries::list(&mut conn, false).await
    }
}

#[cfg(test)]
mod tests {
    use super::Separator;

    #[test]
    fn the_separator_is_the_one_the_header_uses() {
        assert_eq!(Separator::detect(b"email,name\na;b,c"), Separator::Comma);
        assert_eq!(Separator::detect(b"E-mail;Name\r\n"), Separator::Semicolon);
        assert_eq!(Separator::detect(b"email\tname\n"), Separator::Tab);
        assert_eq!(Separator::detect(b"\"a;b\",email\n"), Separator::Comma);
        assert_eq!(Separator::detect(b"email\n"), Separator::Comma);
    }
}
