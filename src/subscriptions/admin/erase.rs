//! Erasure on request (GDPR art. 17): the subscriber's row goes, and with it
//! (ON DELETE CASCADE) their history, confirmation links and queued mail.
//! Only the number of erasures per day is kept, for the dashboard, and, for
//! an address on the suppression list, the keyed hash its entry is found by.

use super::super::admin_queries;
use super::super::{queries, Subscriptions};
use super::AdminError;
use crate::store::now_millis;
use crate::suppressions;

const DAY_MILLIS: i64 = 24 * 60 * 60 * 1000;

impl Subscriptions {
    #[tracing::instrument(skip_all)]
    pub async fn erase(&self, id: i64) -> Result<(), AdminError> {
        let today = now_millis().div_euclid(DAY_MILLIS);
        let mut tx = self.store.begin_write().await?;
        let subscriber = queries::find_by_id(&mut tx, id)
            .await?
            .ok_or(AdminError::NotFound)?;
        // A suppressed address stays suppressed, by its keyed hash alone.
        suppressions::forget_address(&mut tx, &self.key, &subscriber.email).await?;
        if !admin_queries::erase(&mut tx, id, today).await? {
            return Err(AdminError::NotFound);
        }
        tx.commit().await?;
        self.departed(id);
        tracing::info!(subscriber_id = id, "subscriber erased");
        Ok(())
    }
}
