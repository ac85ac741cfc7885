//! The address normalisation of issue 10 (item 11) applied to rows an older
//! release stored. SQL cannot do UTS-46, so this runs in Rust, once, right
//! after the migrations (`Store::migrate`), in one transaction.
//!
//! Nothing is merged and nothing is lost: a row whose normalised address is
//! free gets it; a row whose normalised address another subscriber already
//! has is kept apart, as it was, and reported (two people's histories and
//! consents are not ours to merge); a row that cannot be normalised (it holds
//! invisible characters, say) is kept as it was and reported. Each report is a
//! row of `subscriber_address_reports` and a warning in the log naming the ids.

use std::collections::HashMap;

use super::domain::EmailError;
use super::{queries, SubscriberEmail};
use crate::store::{now_millis, Store};

/// The name of the step in `upgrade_steps`.
pub const NORMALISE_ADDRESSES: &str = "normalise_subscriber_addresses";

/// What the step did, for the log and the tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct NormalisationReport {
    pub normalised: u64,
    pub look_alikes: u64,
    pub unreadable: u64,
}

/// Normalises the stored addresses if the migrations queued the step; a
/// second process that comes later finds the step gone and does nothing.
pub async fn normalise_stored_addresses(
    store: &Store,
) -> Result<Option<NormalisationReport>, sqlx::Error> {
    let mut tx = store.begin_write().await?;
    if !crate::store::take_upgrade_step(&mut tx, NORMALISE_ADDRESSES).await? {
        return Ok(None);
    }
    let now = now_millis();
    let mut report = NormalisationReport::default();
    // Normalised addresses given out in this run, lower-cased as the unique index compares them.
    let mut given: HashMap<String, i64> = HashMap::new();
    for (id, stored) in queries::non_ascii_addresses(&mut tx, store.dialect()).await? {
        let parsed = SubscriberEmail::parse_any_domain(&stored);
        if parsed.as_ref().is_ok_and(|email| email.as_str() == stored) {
            continue;
        }
        // A row with invisible characters still clashes with the address they hide.
        let candidate = match &parsed {
            Ok(email) => Some(email.clone()),
            Err(EmailError::InvisibleCharacter) => SubscriberEmail::parse_any_domain(
                &stored
                    .chars()
                    .filter(|&c| !super::domain::is_default_ignorable(c))
                    .collect::<String>(),
            )
            .ok(),
            Err(_) => None,
        };
        let holder = match &candidate {
            Some(email) => match given.get(&email.as_str().to_lowercase()) {
                Some(&holder) => Some(holder),
                None => queries::other_holder_of(&mut tx, email, id).await?,
            },
            None => None,
        };
        match (parsed, holder) {
            (Ok(email), None) => {
                queries::set_email(&mut tx, id, &email).await?;
                given.insert(email.as_str().to_lowercase(), id);
                report.normalised += 1;
            }
            (_, Some(other)) => {
                tracing::warn!(
                    subscriber_id = id,
                    other_subscriber_id = other,
                    "stored address looks like another subscriber's; kept apart, see subscriber_address_reports"
                );
                let problem = format!(
                    "reaches the same inbox as subscriber {other}; kept apart, nothing merged: \
                     erase or unsubscribe the one that should go"
                );
                queries::report_address(&mut tx, id, Some(other), &stored, &problem, now).await?;
                report.look_alikes += 1;
            }
            (Err(error), None) => {
                tracing::warn!(
                    subscriber_id = id,
                    %error,
                    "stored address cannot be normalised; kept as it was, see subscriber_address_reports"
                );
                let problem = format!("kept as it was; it cannot be normalised: {error}");
                queries::report_address(&mut tx, id, None, &stored, &problem, now).await?;
                report.unreadable += 1;
            }
        }
    }
    tx.commit().await?;
    // Said only when there was something to do: a fresh database (and every
    // one-off command's stdout) stays quiet.
    if report != NormalisationReport::default() {
        tracing::info!(
            normalised = report.normalised,
            look_alikes = report.look_alikes,
            unreadable = report.unreadable,
            "stored subscriber addresses normalised"
        );
    }
    Ok(Some(report))
}
