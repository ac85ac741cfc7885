//! Refusals heard in Herald's own SMTP sessions, kept beside the reports
//! that come back later, so that counts per issue and the soft-bounce
//! window see both. The delivery engine records them in the transaction
//! that records the copy's outcome.

use super::{queries, BounceClass};

/// Records that the relay refused the copy `delivery_id` and what the
/// classifier read in its reply; false when that copy's refusal was
/// recorded before (each copy is refused once: its delivery then fails).
pub async fn record_refusal(
    conn: &mut sqlx::AnyConnection,
    delivery_id: i64,
    class: BounceClass,
    status: Option<&str>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    queries::record_send_time_refusal(conn, delivery_id, class.key(), status, now).await
}
