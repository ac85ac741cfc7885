//! Every SQL statement about segments, written once for both engines.

use sqlx::{AnyConnection, Row};

use super::compile::Compiled;

/// A segment row as stored: the filter is the JSON text Herald wrote.
#[derive(Debug, Clone)]
pub struct SegmentRow {
    pub id: i64,
    pub name: String,
    pub filter: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, name, filter, created_at, updated_at";

fn row_of(row: &sqlx::any::AnyRow) -> Result<SegmentRow, sqlx::Error> {
    Ok(SegmentRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        filter: row.try_get("filter")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Every segment, by name.
pub async fn list(conn: &mut AnyConnection) -> Result<Vec<SegmentRow>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM segments ORDER BY lower(name), id"
    ))
    .fetch_all(conn)
    .await?
    .iter()
    .map(row_of)
    .collect()
}

pub async fn find(conn: &mut AnyConnection, id: i64) -> Result<Option<SegmentRow>, sqlx::Error> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM segments WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(row_of)
        .transpose()
}

/// The segment named `name`, other than `except`.
pub async fn name_holder(
    conn: &mut AnyConnection,
    name: &str,
    except: Option<i64>,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query("SELECT id FROM segments WHERE name = $1 AND id <> $2")
        .bind(name)
        .bind(except.unwrap_or(0))
        .fetch_optional(conn)
        .await?
        .map(|row| row.try_get("id"))
        .transpose()
}

/// Inserts a segment; `None` when its name is taken (perhaps a moment ago).
pub async fn insert(
    conn: &mut AnyConnection,
    name: &str,
    filter: &str,
    now: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query(
        "INSERT INTO segments (name, filter, created_at, updated_at) VALUES ($1, $2, $3, $3) \
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(name)
    .bind(filter)
    .bind(now)
    .fetch_optional(conn)
    .await?
    .map(|row| row.try_get("id"))
    .transpose()
}

/// False when there is no such segment. The caller made sure the name is free.
pub async fn update(
    conn: &mut AnyConnection,
    id: i64,
    name: &str,
    filter: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let updated =
        sqlx::query("UPDATE segments SET name = $2, filter = $3, updated_at = $4 WHERE id = $1")
            .bind(id)
            .bind(name)
            .bind(filter)
            .bind(now)
            .execute(conn)
            .await?
            .rows_affected();
    Ok(updated > 0)
}

pub async fn delete(conn: &mut AnyConnection, id: i64) -> Result<bool, sqlx::Error> {
    let deleted = sqlx::query("DELETE FROM segments WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(deleted > 0)
}

/// Which of `ids` are topics.
pub async fn existing_topics(
    conn: &mut AnyConnection,
    ids: &[i64],
) -> Result<Vec<i64>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|n| format!("${n}")).collect();
    let sql = format!(
        "SELECT id FROM topics WHERE id IN ({})",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for id in ids {
        query = query.bind(*id);
    }
    query
        .fetch_all(conn)
        .await?
        .iter()
        .map(|row| row.try_get("id"))
        .collect()
}

/// Which of `ids` are custom fields: (id, kind, choices one a line).
pub async fn existing_fields(
    conn: &mut AnyConnection,
    ids: &[i64],
) -> Result<Vec<(i64, String, String)>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|n| format!("${n}")).collect();
    let sql = format!(
        "SELECT id, kind, choices FROM custom_fields WHERE id IN ({})",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for id in ids {
        query = query.bind(*id);
    }
    query
        .fetch_all(conn)
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.try_get("id")?,
                row.try_get("kind")?,
                row.try_get("choices")?,
            ))
        })
        .collect()
}

/// PostgreSQL only: no JIT compilation for the rest of the transaction.
pub async fn without_jit(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SET LOCAL jit = off").execute(conn).await?;
    Ok(())
}

/// Subscribers (of any status) the compiled filter matches.
pub async fn count(conn: &mut AnyConnection, filter: &Compiled) -> Result<i64, sqlx::Error> {
    let sql = format!(
        "SELECT count(*) AS n FROM subscribers s WHERE {}",
        filter.sql
    );
    filter
        .bind(sqlx::query(&sql))
        .fetch_one(conn)
        .await?
        .try_get("n")
}
