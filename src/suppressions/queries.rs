//! Every SQL statement of the suppression list, written once for both engines.

use sqlx::{AnyConnection, Row};

use crate::store::{Dialect, Placeholders};

/// True for a row of `subscribers` that no entry suppresses: none holds its
/// address, none its domain. For SQL that cannot compute the keyed hash (a
/// send's snapshot of thousands of readers), so it matches an address entry
/// by the address kept beside the hash; only an erased subscriber's entry
/// has none left, and an erased subscriber has no row to match. The domain
/// is the text after the last `@`: `rtrim` strips every character but `@`
/// from the right, and both engines have it.
pub const NOT_SUPPRESSED: &str = "(NOT EXISTS (SELECT 1 FROM suppressions sx \
         WHERE sx.email IS NOT NULL AND lower(sx.email) = lower(subscribers.email)) \
     AND NOT EXISTS (SELECT 1 FROM suppressions sx WHERE sx.domain = lower(substr(subscribers.email, \
         length(rtrim(subscribers.email, replace(subscribers.email, '@', ''))) + 1))))";

/// An entry as stored.
#[derive(Debug, Clone)]
pub struct EntryRow {
    pub id: i64,
    pub address_hash: Option<String>,
    pub email: Option<String>,
    pub domain: Option<String>,
    pub source: String,
    pub reason: String,
    pub added_by: Option<String>,
    pub created_at: i64,
}

const COLUMNS: &str = "id, address_hash, email, domain, source, reason, added_by, created_at";

fn entry_of(row: &sqlx::any::AnyRow) -> Result<EntryRow, sqlx::Error> {
    Ok(EntryRow {
        id: row.try_get("id")?,
        address_hash: row.try_get("address_hash")?,
        email: row.try_get("email")?,
        domain: row.try_get("domain")?,
        source: row.try_get("source")?,
        reason: row.try_get("reason")?,
        added_by: row.try_get("added_by")?,
        created_at: row.try_get("created_at")?,
    })
}

/// The fields of a new entry; exactly one of `address_hash` and `domain`.
pub struct NewEntry<'a> {
    pub address_hash: Option<&'a str>,
    pub email: Option<&'a str>,
    pub domain: Option<&'a str>,
    pub source: &'a str,
    pub reason: &'a str,
    pub added_by: Option<&'a str>,
    pub created_at: i64,
}

/// Inserts an entry; `None` when its address or domain is already listed.
pub async fn insert(
    conn: &mut AnyConnection,
    entry: &NewEntry<'_>,
) -> Result<Option<EntryRow>, sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO suppressions (address_hash, email, domain, source, reason, added_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING {COLUMNS}"
    ))
    .bind(entry.address_hash)
    .bind(entry.email)
    .bind(entry.domain)
    .bind(entry.source)
    .bind(entry.reason)
    .bind(entry.added_by)
    .bind(entry.created_at)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(entry_of)
    .transpose()
}

/// The entry for an address's keyed hash, or for its domain.
pub async fn find_match(
    conn: &mut AnyConnection,
    address_hash: &str,
    domain: &str,
) -> Result<Option<EntryRow>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM suppressions WHERE address_hash = $1 OR domain = $2 \
         ORDER BY id LIMIT 1"
    ))
    .bind(address_hash)
    .bind(domain)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(entry_of)
    .transpose()
}

/// Whether the list has any entry.
pub async fn any_entry(conn: &mut AnyConnection) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("SELECT 1 AS found FROM suppressions LIMIT 1")
        .fetch_optional(conn)
        .await?
        .is_some())
}

/// Which of `hashes` and `domains` are listed: the matching hashes and domains.
pub async fn listed_among(
    conn: &mut AnyConnection,
    dialect: Dialect,
    hashes: &[String],
    domains: &[String],
) -> Result<(Vec<String>, Vec<String>), sqlx::Error> {
    let mut listed_hashes = Vec::new();
    let mut listed_domains = Vec::new();
    // Few entries against many rows: a statement per chunk keeps within
    // every engine's limit on bound parameters.
    for chunk in hashes.chunks(LOOKUP_CHUNK) {
        let sql = format!(
            "SELECT address_hash FROM suppressions WHERE address_hash IN ({})",
            list(dialect, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for hash in chunk {
            query = query.bind(hash);
        }
        for row in query.fetch_all(&mut *conn).await? {
            listed_hashes.push(row.try_get("address_hash")?);
        }
    }
    for chunk in domains.chunks(LOOKUP_CHUNK) {
        let sql = format!(
            "SELECT domain FROM suppressions WHERE domain IN ({})",
            list(dialect, chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for domain in chunk {
            query = query.bind(domain);
        }
        for row in query.fetch_all(&mut *conn).await? {
            listed_domains.push(row.try_get("domain")?);
        }
    }
    Ok((listed_hashes, listed_domains))
}

/// Values per look-up statement: an import's whole batch in one, within
/// SQLite's 32,766 bound parameters.
const LOOKUP_CHUNK: usize = 5_000;

/// `p, p, …` for `count` values, anonymous on SQLite (see [`Placeholders`]
/// for why numbered ones cost quadratic time there).
fn list(dialect: Dialect, count: usize) -> String {
    let mut placeholders = Placeholders::new(dialect);
    (0..count)
        .map(|_| placeholders.one())
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn find(conn: &mut AnyConnection, id: i64) -> Result<Option<EntryRow>, sqlx::Error> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM suppressions WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(entry_of)
        .transpose()
}

pub async fn delete(conn: &mut AnyConnection, id: i64) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM suppressions WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?
        .rows_affected()
        == 1)
}

/// A page of entries, newest first, after the id `after`; `pattern` is a
/// LIKE pattern over the lower-cased address or domain.
pub async fn page(
    conn: &mut AnyConnection,
    pattern: Option<&str>,
    after: Option<i64>,
    limit: i64,
) -> Result<Vec<EntryRow>, sqlx::Error> {
    let mut conditions = Vec::new();
    let mut next = 1;
    if pattern.is_some() {
        conditions.push(format!(
            "lower(COALESCE(email, domain, '')) LIKE ${next} ESCAPE '\\'"
        ));
        next += 1;
    }
    if after.is_some() {
        conditions.push(format!("id < ${next}"));
        next += 1;
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let sql = format!("SELECT {COLUMNS} FROM suppressions {filter} ORDER BY id DESC LIMIT ${next}");
    let mut query = sqlx::query(&sql);
    if let Some(pattern) = pattern {
        query = query.bind(pattern);
    }
    if let Some(after) = after {
        query = query.bind(after);
    }
    query
        .bind(limit)
        .fetch_all(conn)
        .await?
        .iter()
        .map(entry_of)
        .collect()
}

/// Clears the address kept beside `address_hash`, and any mention of it in
/// the reason (a diagnostic often quotes the address), for an erasure.
pub async fn forget_address(
    conn: &mut AnyConnection,
    address_hash: &str,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE suppressions SET email = NULL, reason = $2 WHERE address_hash = $1")
        .bind(address_hash)
        .bind(reason)
        .execute(conn)
        .await?;
    Ok(())
}

/// The reason stored with `address_hash`, if listed.
pub async fn reason_of(
    conn: &mut AnyConnection,
    address_hash: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT reason FROM suppressions WHERE address_hash = $1")
        .bind(address_hash)
        .fetch_optional(conn)
        .await
}

/// Queued copies of subscribers a new entry suppresses are cancelled, as
/// for a reader who left; `matches` is the entry's test on `subscribers`.
pub async fn cancel_queued_copies(
    conn: &mut AnyConnection,
    matches: &str,
    value: &str,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(&format!(
        "UPDATE deliveries SET status = 'cancelled', reply = 'the address is suppressed' \
         WHERE status = 'queued' AND subscriber_id IN (SELECT id FROM subscribers WHERE {matches})"
    ))
    .bind(value)
    .execute(conn)
    .await?
    .rows_affected())
}

/// `cancel_queued_copies`'s test for an address entry: `$1` is the address.
pub const SUBSCRIBER_AT_ADDRESS: &str = "lower(email) = lower($1)";
/// `cancel_queued_copies`'s test for a domain entry: `$1` is the domain.
pub const SUBSCRIBER_IN_DOMAIN: &str =
    "lower(substr(email, length(rtrim(email, replace(email, '@', ''))) + 1)) = $1";
