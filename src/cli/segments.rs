//! `herald segments count`: how many subscribers a saved segment, or a filter
//! given as JSON, matches right now, and how long counting took (the figure
//! `scripts/bench-segments.sh` measures).

use std::process::ExitCode;

use clap::Subcommand;

use crate::config::Config;
use crate::segments::{Count, SegmentError, SegmentFilter, Segments};
use crate::store::{Store, StoreError};

#[derive(Debug, Subcommand)]
pub enum SegmentsCommand {
    /// Print the number of subscribers (of any status) a segment matches,
    /// then the milliseconds counting took on stderr. Exit code 1 when the
    /// filter is refused (the reason names the condition).
    Count {
        /// A saved segment's id.
        #[arg(long, conflicts_with = "filter", required_unless_present = "filter")]
        id: Option<i64>,
        /// A filter as JSON, e.g. '{"match":"all","conditions":[{"type":"status","in":["confirmed"]}]}'
        /// (docs/api.md, "Segments").
        #[arg(long, value_name = "JSON")]
        filter: Option<String>,
    },
}

pub async fn run(config: Config, command: SegmentsCommand) -> ExitCode {
    let SegmentsCommand::Count { id, filter } = command;
    match count(&config, id, filter.as_deref()).await {
        Ok(count) => {
            println!("{}", count.subscribers);
            eprintln!("counted in {} ms", count.millis);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("herald: {}", crate::web::error_chain(&error));
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum CountError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the filter is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Segment(#[from] SegmentError),
}

async fn count(
    config: &Config,
    id: Option<i64>,
    filter: Option<&str>,
) -> Result<Count, CountError> {
    let store = Store::connect(&config.database_url, 1).await?;
    let segments = Segments::new(store.clone());
    let result = match (id, filter) {
        (Some(id), _) => segments.count_saved(id).await.map(|(_, count)| count),
        (None, raw) => {
            let value: serde_json::Value = serde_json::from_str(raw.unwrap_or_default())?;
            match SegmentFilter::from_json(&value) {
                Ok(filter) => segments.count(&filter).await,
                Err(error) => Err(SegmentError::Filter(error)),
            }
        }
    };
    store.close().await;
    Ok(result?)
}
