//! SQL of subscriber administration: the list and its search, the history,
//! bulk inserts for imports, export pages and erasure. Written once for both
//! engines, except the name search: full-text indexes differ (FTS5 on SQLite,
//! a GIN index over `to_tsvector` on PostgreSQL; see migration 0005).

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::domain::SubscriberStatus;
use super::RequestOrigin;
use crate::store::{Dialect, Placeholders};

/// SQLite allows 32,766 bound parameters in one statement; a row of
/// [`insert_subscribers`] takes five.
pub const MAX_ROWS_PER_INSERT: usize = 5_000;

/// A subscriber as the admin pages, the API and the export show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberRow {
    pub id: i64,
    pub email: String,
    pub name: Option<String>,
    pub status: SubscriberStatus,
    pub created_at: i64,
}

fn row_of(row: &AnyRow) -> Result<SubscriberRow, sqlx::Error> {
    let status: String = row.try_get("status")?;
    Ok(SubscriberRow {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        status: status
            .parse()
            .map_err(|e: String| sqlx::Error::Decode(e.into()))?,
        created_at: row.try_get("created_at")?,
    })
}

/// A statement assembled from optional parts, numbering its placeholders.
#[derive(Default)]
struct Statement {
    sql: String,
    values: Vec<Value>,
}

enum Value {
    Int(i64),
    Text(String),
}

impl Statement {
    /// Adds a value and returns its placeholder.
    fn bind(&mut self, value: Value) -> String {
        self.values.push(value);
        format!("${}", self.values.len())
    }

    async fn fetch_all(self, conn: &mut AnyConnection) -> Result<Vec<AnyRow>, sqlx::Error> {
        let mut query = sqlx::query(&self.sql);
        for value in self.values {
            query = match value {
                Value::Int(v) => query.bind(v),
                Value::Text(v) => query.bind(v),
            };
        }
        query.fetch_all(conn).await
    }
}

/// Which subscribers a page of the list shows.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub status: Option<SubscriberStatus>,
    /// Addresses in `[from, to)` after case folding: those starting with a prefix.
    pub email_range: Option<(String, String)>,
    /// A full-text query in the engine's syntax, matching words of names.
    pub name_query: Option<String>,
    /// Only ids below this one (the keyset cursor).
    pub before: Option<i64>,
    pub limit: i64,
}

const COLUMNS: &str = "id, email, name, status, created_at";

/// A page of the list, newest first. Every branch walks an index in id order
/// and stops at `limit`, so a page costs the same at any depth.
pub async fn list(
    conn: &mut AnyConnection,
    dialect: Dialect,
    filter: &ListFilter,
) -> Result<Vec<SubscriberRow>, sqlx::Error> {
    let mut statement = Statement::default();
    let limit = statement.bind(Value::Int(filter.limit));
    let status = filter
        .status
        .map(|status| statement.bind(Value::Text(status.as_str().to_owned())));
    let before = filter
        .before
        .map(|before| statement.bind(Value::Int(before)));
    // The cursor goes on the column whose index yields the ids (FTS5 reads its
    // own rowids), the status on the table.
    let conditions = |id_column: &str| {
        let mut sql = before
            .as_ref()
            .map(|p| format!(" AND {id_column} < {p}"))
            .unwrap_or_default();
        if let Some(p) = &status {
            sql += &format!(" AND s.status = {p}");
        }
        sql
    };
    if filter.email_range.is_none() && filter.name_query.is_none() {
        let common = conditions("s.id");
        statement.sql = format!(
            "SELECT {COLUMNS} FROM subscribers s WHERE 1 = 1{common} ORDER BY s.id DESC LIMIT {limit}"
        );
        return statement
            .fetch_all(conn)
            .await?
            .iter()
            .map(row_of)
            .collect();
    }
    // A search: the newest matches of each kind, merged.
    let mut branches = Vec::new();
    if let Some((from, to)) = &filter.email_range {
        let from = statement.bind(Value::Text(from.clone()));
        let to = statement.bind(Value::Text(to.clone()));
        let folded = match dialect {
            Dialect::Sqlite => "lower(s.email)",
            Dialect::Postgres => "lower(s.email) COLLATE \"C\"",
        };
        branches.push(format!(
            "SELECT id FROM (SELECT s.id FROM subscribers s \
             WHERE {folded} >= {from} AND {folded} < {to}{} \
             ORDER BY s.id DESC LIMIT {limit}) by_email",
            conditions("s.id")
        ));
    }
    if let Some(query) = &filter.name_query {
        let query = statement.bind(Value::Text(query.clone()));
        branches.push(match dialect {
            Dialect::Sqlite => format!(
                "SELECT id FROM (SELECT s.id FROM subscriber_names f \
                 JOIN subscribers s ON s.id = f.rowid \
                 WHERE subscriber_names MATCH {query}{} \
                 ORDER BY f.rowid DESC LIMIT {limit}) by_name",
                conditions("f.rowid")
            ),
            // `id + 0`: PostgreSQL guesses prefix matches poorly and would
            // walk the whole primary key for a rare name (0.4 s at a million);
            // through the GIN index the worst case is a common prefix (85 ms).
            Dialect::Postgres => format!(
                "SELECT id FROM (SELECT s.id FROM subscribers s \
                 WHERE to_tsvector('simple', coalesce(s.name, '')) @@ to_tsquery('simple', {query}){} \
                 ORDER BY s.id + 0 DESC LIMIT {limit}) by_name",
                conditions("s.id")
            ),
        });
    }
    statement.sql = format!(
        "SELECT {COLUMNS} FROM subscribers s WHERE s.id IN ({}) ORDER BY s.id DESC LIMIT {limit}",
        branches.join(" UNION ")
    );
    statement
        .fetch_all(conn)
        .await?
        .iter()
        .map(row_of)
        .collect()
}

pub async fn find(conn: &mut AnyConnection, id: i64) -> Result<Option<SubscriberRow>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM subscribers s WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(row_of)
    .transpose()
}

/// Oldest first from `after`, for the export.
pub async fn page_after(
    conn: &mut AnyConnection,
    after: i64,
    limit: i64,
) -> Result<Vec<SubscriberRow>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM subscribers s WHERE id > $1 ORDER BY id LIMIT $2"
    ))
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await?
    .iter()
    .map(row_of)
    .collect()
}

/// One entry of a subscriber's history.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub kind: String,
    pub at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub note: Option<String>,
    /// The topics the event covers, space-separated slugs.
    pub topics: Option<String>,
}

pub async fn events(
    conn: &mut AnyConnection,
    subscriber_id: i64,
) -> Result<Vec<EventRow>, sqlx::Error> {
    sqlx::query(
        "SELECT kind, at, ip, user_agent, note, topics FROM subscriber_events \
         WHERE subscriber_id = $1 ORDER BY at, id",
    )
    .bind(subscriber_id)
    .fetch_all(conn)
    .await?
    .iter()
    .map(|row| {
        Ok(EventRow {
            kind: row.try_get("kind")?,
            at: row.try_get("at")?,
            ip: row.try_get("ip")?,
            user_agent: row.try_get("user_agent")?,
            note: row.try_get("note")?,
            topics: row.try_get("topics")?,
        })
    })
    .collect()
}

/// One event, for many subscribers at once (at most [`MAX_ROWS_PER_INSERT`]).
pub async fn record_events(
    conn: &mut AnyConnection,
    dialect: Dialect,
    subscriber_ids: &[i64],
    kind: &str,
    origin: &RequestOrigin,
    note: Option<&str>,
    now: i64,
) -> Result<(), sqlx::Error> {
    let event = (kind, note, None);
    record_events_about(conn, dialect, subscriber_ids, event, origin, now).await
}

/// [`record_events`] for an event that covers `topics` (their slugs,
/// space-separated): `(kind, note, topics)`.
pub async fn record_events_about(
    conn: &mut AnyConnection,
    dialect: Dialect,
    subscriber_ids: &[i64],
    (kind, note, topics): (&str, Option<&str>, Option<&str>),
    origin: &RequestOrigin,
    now: i64,
) -> Result<(), sqlx::Error> {
    if subscriber_ids.is_empty() {
        return Ok(());
    }
    let mut placeholders = Placeholders::new(dialect);
    let shared = placeholders.row(6);
    let ids: Vec<String> = subscriber_ids.iter().map(|_| placeholders.one()).collect();
    let sql = format!(
        "INSERT INTO subscriber_events (kind, at, ip, user_agent, note, topics, subscriber_id) \
         SELECT {}, id FROM subscribers WHERE id IN ({})",
        &shared[1..shared.len() - 1],
        ids.join(", ")
    );
    let mut query = sqlx::query(&sql)
        .bind(kind)
        .bind(now)
        .bind(origin.ip.as_deref())
        .bind(origin.user_agent.as_deref())
        .bind(note)
        .bind(topics);
    for id in subscriber_ids {
        query = query.bind(*id);
    }
    query.execute(conn).await?;
    Ok(())
}

/// A subscriber to insert in bulk; values are already valid.
#[derive(Debug, Clone)]
pub struct NewSubscriberRow<'a> {
    pub email: &'a str,
    pub name: Option<&'a str>,
    pub status: SubscriberStatus,
    pub created_at: i64,
    /// A fresh [`LinkKey`]: random, so rows given in key order fill the
    /// key's index from left to right instead of at random.
    pub link_key: &'a str,
}

/// Inserts up to [`MAX_ROWS_PER_INSERT`] subscribers in one statement, leaving
/// addresses already on the list (or twice in `rows`) alone. Returns the ids
/// of the inserted ones.
pub async fn insert_subscribers(
    conn: &mut AnyConnection,
    dialect: Dialect,
    rows: &[NewSubscriberRow<'_>],
) -> Result<Vec<i64>, sqlx::Error> {
    Ok(insert_listing(conn, dialect, rows)
        .await?
        .into_iter()
        .map(|(id, _)| id)
        .collect())
}

/// [`insert_subscribers`], returning each inserted row's id with its address
/// as SQL's `lower()` spells it.
pub async fn insert_listing(
    conn: &mut AnyConnection,
    dialect: Dialect,
    rows: &[NewSubscriberRow<'_>],
) -> Result<Vec<(i64, String)>, sqlx::Error> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut placeholders = Placeholders::new(dialect);
    // Six a row: 5,000 rows stay under SQLite's 32,766 placeholders.
    let values: Vec<String> = rows.iter().map(|_| placeholders.row(6)).collect();
    let sql = format!(
        "INSERT INTO subscribers (email, name, status, created_at, updated_at, link_key) \
         VALUES {} \
         ON CONFLICT DO NOTHING RETURNING id, lower(email) AS address",
        values.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for row in rows {
        query = query
            .bind(row.email)
            .bind(row.name)
            .bind(row.status.as_str())
            .bind(row.created_at)
            .bind(row.created_at)
            .bind(row.link_key);
    }
    query
        .fetch_all(conn)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("id")?, row.try_get("address")?)))
        .collect()
}

/// [`insert_subscribers`], returning each inserted row's id with its address
/// exactly as given, so that the caller can tell which row each id is.
pub async fn insert_returning_emails(
    conn: &mut AnyConnection,
    dialect: Dialect,
    rows: &[NewSubscriberRow<'_>],
) -> Result<Vec<(i64, String)>, sqlx::Error> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut placeholders = Placeholders::new(dialect);
    let values: Vec<String> = rows.iter().map(|_| placeholders.row(6)).collect();
    let sql = format!(
        "INSERT INTO subscribers (email, name, status, created_at, updated_at, link_key) \
         VALUES {} ON CONFLICT DO NOTHING RETURNING id, email",
        values.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for row in rows {
        query = query
            .bind(row.email)
            .bind(row.name)
            .bind(row.status.as_str())
            .bind(row.created_at)
            .bind(row.created_at)
            .bind(row.link_key);
    }
    query
        .fetch_all(conn)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("id")?, row.try_get("email")?)))
        .collect()
}

/// Deletes a subscriber with everything about them (events, tokens and
/// outbox rows go by ON DELETE CASCADE) and counts the erasure for today.
/// False when there was no such subscriber.
pub async fn erase(
    conn: &mut AnyConnection,
    subscriber_id: i64,
    day: i64,
) -> Result<bool, sqlx::Error> {
    let deleted = sqlx::query("DELETE FROM subscribers WHERE id = $1")
        .bind(subscriber_id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if deleted == 0 {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO erasure_counts (day, erased) VALUES ($1, 1) \
         ON CONFLICT (day) DO UPDATE SET erased = erasure_counts.erased + 1",
    )
    .bind(day)
    .execute(conn)
    .await?;
    Ok(true)
}

/// A confirmation link of a new subscriber and the seed its mail derives it from.
pub struct NewConfirmation {
    pub subscriber_id: i64,
    pub token_hash: String,
    pub seed: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Confirmation links and their queued mail for many subscribers at once
/// (pending imports): two multi-row inserts per chunk instead of two
/// statements per subscriber, which made a 100,000-row import take 11 s.
pub async fn insert_confirmations(
    conn: &mut AnyConnection,
    dialect: Dialect,
    confirmations: &[NewConfirmation],
) -> Result<(), sqlx::Error> {
    // Six values per outbox row keeps a chunk well under SQLite's 32,766 parameters.
    for chunk in confirmations.chunks(MAX_ROWS_PER_INSERT) {
        let mut placeholders = Placeholders::new(dialect);
        let values: Vec<String> = chunk.iter().map(|_| placeholders.row(4)).collect();
        let sql = format!(
            "INSERT INTO confirmation_tokens (token_hash, subscriber_id, created_at, expires_at) \
             VALUES {}",
            values.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for confirmation in chunk {
            query = query
                .bind(confirmation.token_hash.as_str())
                .bind(confirmation.subscriber_id)
                .bind(confirmation.created_at)
                .bind(confirmation.expires_at);
        }
        query.execute(&mut *conn).await?;

        let mut placeholders = Placeholders::new(dialect);
        let values: Vec<String> = chunk.iter().map(|_| placeholders.row(6)).collect();
        let sql = format!(
            "INSERT INTO outbox (kind, subscriber_id, token_seed, created_at, expires_at, next_attempt_at) \
             VALUES {}",
            values.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for confirmation in chunk {
            query = query
                .bind("confirmation")
                .bind(confirmation.subscriber_id)
                .bind(confirmation.seed.as_str())
                .bind(confirmation.created_at)
                .bind(confirmation.expires_at)
                .bind(confirmation.created_at);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// How many of `emails` (already lower-cased) are on the list, in any state:
/// an import's dry run counts what it would leave alone. At most
/// [`MAX_ROWS_PER_INSERT`] addresses a call.
pub async fn count_listed(
    conn: &mut AnyConnection,
    dialect: Dialect,
    emails: &[String],
) -> Result<u64, sqlx::Error> {
    let listed = super::queries::listed_addresses(conn, dialect, emails).await?;
    Ok(listed.len() as u64)
}
