//! CSV export of the whole list: `email,name,status,created_at` (RFC 3339),
//! then a column per custom field headed by its key (empty where a reader
//! has no value), oldest first; the file imports back as it is. It pages through the table with a keyset cursor and hands out
//! one chunk of CSV per page, so memory stays flat whatever the list's size.
//! Cells a spreadsheet would run as formulas are neutralised (`csv_cell`).

use super::super::admin_queries;
use super::super::Subscriptions;
use super::csv_cell::neutralise;
use crate::fields::{self, Field};
use crate::store::{timestamps, Store};

/// The header without custom fields.
pub const EXPORT_HEADER: &str = "email,name,status,created_at\n";
/// Rows per query and per chunk.
const PAGE_SIZE: i64 = 5_000;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("database error: {0}")]
    Store(#[from] sqlx::Error),
    #[error("cannot write CSV: {0}")]
    Csv(#[from] csv::Error),
}

/// An export in progress; call [`CsvExport::next_chunk`] until it gives `None`.
pub struct CsvExport {
    store: Store,
    /// The last id written.
    after: i64,
    header_written: bool,
    finished: bool,
    /// The custom fields, read with the header: one column each.
    fields: Vec<Field>,
}

impl CsvExport {
    /// The next piece of the file: the header first, then a page of rows.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, ExportError> {
        if !self.header_written {
            self.header_written = true;
            let mut conn = self.store.pool().acquire().await?;
            self.fields = fields::queries::list(&mut conn, false).await?;
            let mut header = EXPORT_HEADER.trim_end().to_owned();
            for field in &self.fields {
                header.push(',');
                header.push_str(field.key().as_str());
            }
            header.push('\n');
            return Ok(Some(header.into_bytes()));
        }
        if self.finished {
            return Ok(None);
        }
        let mut conn = self.store.pool().acquire().await?;
        let rows = admin_queries::page_after(&mut conn, self.after, PAGE_SIZE).await?;
        let mut values = if self.fields.is_empty() {
            Default::default()
        } else {
            let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
            fields::values_of(&mut conn, self.store.dialect(), &self.fields, &ids).await?
        };
        drop(conn);
        let Some(last) = rows.last() else {
            self.finished = true;
            return Ok(None);
        };
        self.after = last.id;
        self.finished = rows.len() < usize::try_from(PAGE_SIZE).unwrap_or(usize::MAX);
        let mut writer = csv::Writer::from_writer(Vec::with_capacity(rows.len() * 64));
        let mut record: Vec<String> = Vec::with_capacity(4 + self.fields.len());
        for row in &rows {
            record.clear();
            record.push(neutralise(row.email.as_str()).into_owned());
            record.push(neutralise(row.name.as_deref().unwrap_or("")).into_owned());
            record.push(row.status.as_str().to_owned());
            record.push(timestamps::rfc3339(row.created_at));
            if let Some(reader) = values.remove(&row.id) {
                for (_, value) in reader {
                    let cell = value.map(|v| v.to_string()).unwrap_or_default();
                    record.push(neutralise(&cell).into_owned());
                }
            }
            writer.write_record(&record)?;
        }
        let chunk = writer
            .into_inner()
            .map_err(|e| csv::Error::from(e.into_error()))?;
        Ok(Some(chunk))
    }
}

impl Subscriptions {
    /// Starts an export; nothing is read until the first chunk is asked for.
    pub fn export_csv(&self) -> CsvExport {
        CsvExport {
            store: self.store.clone(),
            after: 0,
            header_written: false,
            finished: false,
            fields: Vec::new(),
        }
    }
}
