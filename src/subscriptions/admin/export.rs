//! CSV export of the whole list: `email,name,status,created_at` (RFC 3339),
//! oldest first. It pages through the table with a keyset cursor and hands out
//! one chunk of CSV per page, so memory stays flat whatever the list's size.
//! Cells a spreadsheet would run as formulas are neutralised (`csv_cell`).

use super::super::admin_queries;
use super::super::Subscriptions;
use super::csv_cell::neutralise;
use crate::store::{timestamps, Store};

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
}

impl CsvExport {
    /// The next piece of the file: the header first, then a page of rows.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, ExportError> {
        if !self.header_written {
            self.header_written = true;
            return Ok(Some(EXPORT_HEADER.as_bytes().to_vec()));
        }
        if self.finished {
            return Ok(None);
        }
        let mut conn = self.store.pool().acquire().await?;
        let rows = admin_queries::page_after(&mut conn, self.after, PAGE_SIZE).await?;
        drop(conn);
        let Some(last) = rows.last() else {
            self.finished = true;
            return Ok(None);
        };
        self.after = last.id;
        self.finished = rows.len() < usize::try_from(PAGE_SIZE).unwrap_or(usize::MAX);
        let mut writer = csv::Writer::from_writer(Vec::with_capacity(rows.len() * 64));
        for row in &rows {
            let created_at = timestamps::rfc3339(row.created_at);
            writer.write_record([
                neutralise(row.email.as_str()).as_ref(),
                neutralise(row.name.as_deref().unwrap_or("")).as_ref(),
                row.status.as_str(),
                created_at.as_str(),
            ])?;
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
        }
    }
}
