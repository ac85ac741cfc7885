//! Bulk insertion of made-up subscribers, for measuring the list at scale
//! (`herald-seed`) and for demos: rows go in as given, in the topics on by
//! default, with no history and no mail.

use super::super::admin_queries::{self, NewSubscriberRow, MAX_ROWS_PER_INSERT};
use super::super::tokens::LinkKey;
use super::super::{SubscriberEmail, SubscriberName, SubscriberStatus};
use crate::store::Store;
use crate::topics::{join_defaults, MembershipSource};

/// A made-up subscriber.
#[derive(Debug, Clone)]
pub struct SampleSubscriber {
    pub email: SubscriberEmail,
    pub name: Option<SubscriberName>,
    pub status: SubscriberStatus,
    pub created_at: i64,
}

/// Inserts `rows` in one transaction, leaving addresses already present
/// alone; returns how many went in.
#[tracing::instrument(skip_all)]
pub async fn insert_samples(store: &Store, rows: &[SampleSubscriber]) -> Result<u64, sqlx::Error> {
    let mut tx = store.begin_write().await?;
    let mut inserted = 0;
    for chunk in rows.chunks(MAX_ROWS_PER_INSERT) {
        let link_keys = LinkKey::generate_sorted(chunk.len());
        let new_rows: Vec<NewSubscriberRow<'_>> = chunk
            .iter()
            .zip(&link_keys)
            .map(|(row, link_key)| NewSubscriberRow {
                email: row.email.as_str(),
                name: row.name.as_ref().map(SubscriberName::as_str),
                status: row.status,
                created_at: row.created_at,
                link_key: link_key.as_str(),
            })
            .collect();
        let ids = admin_queries::insert_subscribers(&mut tx, store.dialect(), &new_rows).await?;
        // In the topics on by default, as an import would put them.
        let at = crate::store::now_millis();
        join_defaults(&mut tx, store.dialect(), &ids, MembershipSource::Import, at).await?;
        inserted += ids.len() as u64;
    }
    tx.commit().await?;
    Ok(inserted)
}
