//! The suppression list (issue 12, item 6): addresses and whole domains that
//! Herald never mails, whatever else says so. Admins add and remove entries;
//! hard bounces and complaints add theirs in the transaction that takes the
//! reader off the list. Signups, imports, admin adds and sends consult it.
//!
//! An address entry is found by a keyed hash (HMAC under the server's secret)
//! of the lower-cased normalised address, with the address kept beside it for
//! display until its subscriber is erased; then only the hash stays, so the
//! address stays suppressed without being kept. Domains are found by value.

mod queries;
mod target;

use std::collections::HashSet;
use std::sync::Arc;

use sqlx::AnyConnection;

use crate::config::{secret_hex, SecretKey};
use crate::store::{now_millis, Dialect, Store};
use crate::subscriptions::domain::display_address;
use crate::subscriptions::SubscriberEmail;

pub use queries::NOT_SUPPRESSED;
pub use target::{Reason, ReasonError, SuppressedDomain, Target, TargetError, MAX_REASON_LENGTH};

/// The HMAC purpose of an address's lookup hash; never reused for another value.
const HASH_PURPOSE: &str = "herald suppressed address v1";
pub const DEFAULT_PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 500;
/// What replaces an erased address in an entry's reason.
const ERASED: &str = "[erased address]";

/// Why an entry is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Added by an admin, on a page or through the API.
    Admin,
    /// A hard bounce (or too many soft ones) made the reader `bounced`.
    Bounce,
    /// The reader reported a copy as spam.
    Complaint,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Bounce => "bounce",
            Self::Complaint => "complaint",
        }
    }

    fn parse(stored: &str) -> Self {
        match stored {
            "bounce" => Self::Bounce,
            "complaint" => Self::Complaint,
            _ => Self::Admin,
        }
    }
}

/// What an entry suppresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Suppressed {
    Address(String),
    /// An address whose subscriber was erased: only its keyed hash is kept.
    ErasedAddress,
    Domain(String),
}

impl Suppressed {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Address(_) | Self::ErasedAddress => "address",
            Self::Domain(_) => "domain",
        }
    }

    /// The address or domain as stored (ASCII); None once erased.
    pub fn value(&self) -> Option<&str> {
        match self {
            Self::Address(value) | Self::Domain(value) => Some(value),
            Self::ErasedAddress => None,
        }
    }

    /// As a person reads it: an international domain in Unicode.
    pub fn display(&self) -> String {
        match self {
            Self::Address(address) => display_address(address).into_owned(),
            Self::ErasedAddress => ERASED.to_owned(),
            Self::Domain(domain) => display_address(&format!("x@{domain}"))
                .trim_start_matches("x@")
                .to_owned(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub id: i64,
    pub suppressed: Suppressed,
    pub source: Source,
    pub reason: String,
    pub added_by: Option<String>,
    pub created_at: i64,
}

impl From<queries::EntryRow> for Entry {
    fn from(row: queries::EntryRow) -> Self {
        let suppressed = match (row.domain, row.email) {
            (Some(domain), _) => Suppressed::Domain(domain),
            (None, Some(email)) => Suppressed::Address(email),
            (None, None) => Suppressed::ErasedAddress,
        };
        Self {
            id: row.id,
            suppressed,
            source: Source::parse(&row.source),
            reason: row.reason,
            added_by: row.added_by,
            created_at: row.created_at,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SuppressionError {
    #[error("{0} is already on the suppression list.")]
    AlreadyListed(String),
    #[error("There is no such entry on the suppression list.")]
    NotFound,
    #[error("database error: {0}")]
    Store(#[from] sqlx::Error),
}

/// A page of the list and the cursor of the next one.
#[derive(Debug)]
pub struct EntryPage {
    pub items: Vec<Entry>,
    pub next: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Entries whose address or domain contains it (case-insensitive).
    pub search: Option<String>,
    pub after: Option<i64>,
    pub limit: Option<i64>,
}

/// Why an address may not be mailed: the entry that says so.
#[derive(Debug, Clone)]
pub struct Hit {
    pub entry_id: i64,
    pub kind: &'static str,
    pub reason: String,
}

#[derive(Clone)]
pub struct Suppressions {
    store: Store,
    key: Arc<SecretKey>,
}

impl Suppressions {
    pub fn new(store: Store, key: Arc<SecretKey>) -> Self {
        Self { store, key }
    }

    /// Adds an entry by hand. Copies of an issue still queued for the
    /// subscribers it covers are cancelled in the same transaction; nobody's
    /// status changes, so removing the entry later gives them back their mail.
    #[tracing::instrument(skip_all, fields(kind = target.kind()))]
    pub async fn add(
        &self,
        target: &Target,
        reason: &Reason,
        added_by: &str,
    ) -> Result<Entry, SuppressionError> {
        let now = now_millis();
        let hash = match target {
            Target::Address(email) => Some(address_hash(&self.key, email.as_str())),
            Target::Domain(_) => None,
        };
        let entry = queries::NewEntry {
            address_hash: hash.as_deref(),
            email: match target {
                Target::Address(email) => Some(email.as_str()),
                Target::Domain(_) => None,
            },
            domain: match target {
                Target::Address(_) => None,
                Target::Domain(domain) => Some(domain.as_str()),
            },
            source: Source::Admin.as_str(),
            reason: reason.as_str(),
            added_by: Some(added_by),
            created_at: now,
        };
        let mut tx = self.store.begin_write().await?;
        let Some(row) = queries::insert(&mut tx, &entry).await? else {
            return Err(SuppressionError::AlreadyListed(target.to_string()));
        };
        let (matches, value) = match target {
            Target::Address(email) => (queries::SUBSCRIBER_AT_ADDRESS, email.as_str()),
            Target::Domain(domain) => (queries::SUBSCRIBER_IN_DOMAIN, domain.as_str()),
        };
        let cancelled = queries::cancel_queued_copies(&mut tx, matches, value).await?;
        tx.commit().await?;
        tracing::info!(entry_id = row.id, cancelled, "suppression added");
        Ok(row.into())
    }

    /// Removes an entry. Nobody is subscribed again by it: a reader who
    /// bounced or complained stays off the list until they sign up again.
    #[tracing::instrument(skip_all, fields(entry_id = id))]
    pub async fn remove(&self, id: i64) -> Result<Entry, SuppressionError> {
        let mut tx = self.store.begin_write().await?;
        let entry = queries::find(&mut tx, id)
            .await?
            .ok_or(SuppressionError::NotFound)?;
        if !queries::delete(&mut tx, id).await? {
            return Err(SuppressionError::NotFound);
        }
        tx.commit().await?;
        tracing::info!("suppression removed");
        Ok(entry.into())
    }

    pub async fn entry(&self, id: i64) -> Result<Option<Entry>, sqlx::Error> {
        let mut conn = self.store.pool().acquire().await?;
        Ok(queries::find(&mut conn, id).await?.map(Entry::from))
    }

    /// A page of the list, newest first, paged by the last id shown.
    #[tracing::instrument(skip_all)]
    pub async fn list(&self, query: &ListQuery) -> Result<EntryPage, sqlx::Error> {
        let limit = query
            .limit
            .unwrap_or(DEFAULT_PAGE_SIZE)
            .clamp(1, MAX_PAGE_SIZE);
        let pattern = query
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(like_pattern);
        let mut conn = self.store.pool().acquire().await?;
        // One more than shown tells whether a next page exists.
        let mut rows = queries::page(&mut conn, pattern.as_deref(), query.after, limit + 1).await?;
        let next = if rows.len() as i64 > limit {
            rows.truncate(limit as usize);
            rows.last().map(|row| row.id)
        } else {
            None
        };
        Ok(EntryPage {
            items: rows.into_iter().map(Entry::from).collect(),
            next,
        })
    }

    /// The entry that forbids mailing `email`, if any.
    pub async fn check(&self, email: &SubscriberEmail) -> Result<Option<Hit>, sqlx::Error> {
        let mut conn = self.store.pool().acquire().await?;
        check_in(&mut conn, &self.key, email).await
    }
}

/// The lookup hash of an address: hex HMAC of its lower-cased normalised form.
pub fn address_hash(key: &SecretKey, normalised_address: &str) -> String {
    secret_hex(&key.sign(HASH_PURPOSE, normalised_address.to_lowercase().as_bytes()))
}

/// The normalised domain of a stored address: the text after its last `@`,
/// lower-cased (as [`NOT_SUPPRESSED`] reads it in SQL).
pub fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map_or("", |(_, domain)| domain)
        .to_lowercase()
}

/// The entry that forbids mailing `email`, in the caller's transaction.
pub async fn check_in(
    conn: &mut AnyConnection,
    key: &SecretKey,
    email: &SubscriberEmail,
) -> Result<Option<Hit>, sqlx::Error> {
    let hash = address_hash(key, email.as_str());
    let row = queries::find_match(conn, &hash, &domain_of(email.as_str())).await?;
    Ok(row.map(|row| Hit {
        entry_id: row.id,
        kind: if row.domain.is_some() {
            "domain"
        } else {
            "address"
        },
        reason: row.reason,
    }))
}

/// What the suppression check of one address needs from memory: its keyed
/// hash and its domain. An import computes these off the writer's path, while
/// the previous batch is being written.
#[derive(Debug, Clone)]
pub struct Probe {
    hash: String,
    domain: String,
}

impl Probe {
    pub fn new(key: &SecretKey, email: &SubscriberEmail) -> Self {
        Self {
            hash: address_hash(key, email.as_str()),
            domain: domain_of(email.as_str()),
        }
    }
}

/// Which of `emails` are suppressed, by their position, in one or a few
/// statements: for an import's check.
pub async fn suppressed_among(
    conn: &mut AnyConnection,
    dialect: Dialect,
    key: &SecretKey,
    emails: &[&SubscriberEmail],
) -> Result<HashSet<usize>, sqlx::Error> {
    let probes: Vec<Probe> = emails.iter().map(|email| Probe::new(key, email)).collect();
    let probes: Vec<&Probe> = probes.iter().collect();
    suppressed_probes(conn, dialect, &probes).await
}

/// Which of `probes` are suppressed, by their position: for an import's batch.
pub async fn suppressed_probes(
    conn: &mut AnyConnection,
    dialect: Dialect,
    probes: &[&Probe],
) -> Result<HashSet<usize>, sqlx::Error> {
    // Most lists have no entry at all; then a batch costs one statement
    // instead of one per 5,000 addresses.
    if probes.is_empty() || !queries::any_entry(conn).await? {
        return Ok(HashSet::new());
    }
    let hashes: Vec<String> = probes.iter().map(|probe| probe.hash.clone()).collect();
    let domains: Vec<String> = probes
        .iter()
        .map(|probe| probe.domain.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let (listed_hashes, listed_domains) =
        queries::listed_among(conn, dialect, &hashes, &domains).await?;
    let listed_hashes: HashSet<String> = listed_hashes.into_iter().collect();
    let listed_domains: HashSet<String> = listed_domains.into_iter().collect();
    Ok(probes
        .iter()
        .enumerate()
        .filter(|(_, probe)| {
            listed_hashes.contains(&probe.hash) || listed_domains.contains(&probe.domain)
        })
        .map(|(i, _)| i)
        .collect())
}

/// A reader who bounced or complained goes on the list, in the transaction
/// that takes them off the mailing list; an entry already there stays as it
/// is. `reason` is the diagnostic.
pub async fn record_departure(
    conn: &mut AnyConnection,
    key: &SecretKey,
    email: &str,
    source: Source,
    reason: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    let hash = address_hash(key, email);
    let reason = Reason::from_diagnostic(reason);
    queries::insert(
        conn,
        &queries::NewEntry {
            address_hash: Some(&hash),
            email: Some(email),
            domain: None,
            source: source.as_str(),
            reason: reason.as_str(),
            added_by: None,
            created_at: now,
        },
    )
    .await?;
    Ok(())
}

/// For an erasure: the entry of `email`, if any, keeps only its hash; the
/// address goes from it, and from its reason.
pub async fn forget_address(
    conn: &mut AnyConnection,
    key: &SecretKey,
    email: &str,
) -> Result<(), sqlx::Error> {
    let hash = address_hash(key, email);
    let Some(reason) = queries::reason_of(conn, &hash).await? else {
        return Ok(());
    };
    queries::forget_address(conn, &hash, &scrub(&reason, email)).await
}

/// `text` with every mention of `address` (in any case) replaced.
fn scrub(text: &str, address: &str) -> String {
    let lower_text = text.to_lowercase();
    let lower_address = address.to_lowercase();
    // Lower-casing can change lengths outside ASCII; then nothing of the
    // text is kept rather than risk keeping the address.
    if lower_text.len() != text.len() || lower_address.is_empty() {
        return if lower_text.contains(&lower_address) {
            ERASED.to_owned()
        } else {
            text.to_owned()
        };
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    for (at, _) in lower_text.match_indices(&lower_address) {
        if at < rest {
            continue;
        }
        out.push_str(&text[rest..at]);
        out.push_str(ERASED);
        rest = at + lower_address.len();
    }
    out.push_str(&text[rest..]);
    out
}

/// A LIKE pattern for "contains `term`", its wildcards escaped.
fn like_pattern(term: &str) -> String {
    let escaped: String = term
        .to_lowercase()
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("%{escaped}%")
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    #[test]
    fn the_hash_is_keyed_and_ignores_case() {
        let key = SecretKey::from_secret(&SecretString::from("k".repeat(40)));
        let other = SecretKey::from_secret(&SecretString::from("o".repeat(40)));
        let hash = address_hash(&key, "Ann@example.org");
        assert_eq!(hash, address_hash(&key, "ann@EXAMPLE.org"));
        assert_ne!(hash, address_hash(&other, "ann@example.org"));
        assert!(!hash.contains("ann"));
        assert_eq!(hash.len(), 64);
    }

    #[test]
    fn erasure_scrubs_the_address_from_a_reason() {
        assert_eq!(
            scrub(
                "550 5.1.1 <Ann@Example.org>: unknown; ann@example.org",
                "ann@example.org"
            ),
            "550 5.1.1 <[erased address]>: unknown; [erased address]"
        );
        assert_eq!(scrub("mailbox full", "ann@example.org"), "mailbox full");
    }

    #[test]
    fn the_domain_is_after_the_last_at() {
        assert_eq!(domain_of("\"a@b\"@Example.ORG"), "example.org");
    }

    #[test]
    fn search_wildcards_are_taken_literally() {
        assert_eq!(like_pattern("A_b%"), "%a\\_b\\%%");
    }
}
