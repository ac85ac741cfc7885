//! Moving one table's rows: read in key order from the source, written in
//! multi-row INSERTs to the target.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::tables::{ColumnType, Table};
use crate::store::{Dialect, Placeholders};

/// Rows per INSERT: enough to make the round trips rare.
const ROWS_PER_INSERT: usize = 500;
/// Bind parameters one statement may carry: SQLite's limit (PostgreSQL's is 65,535).
const MAX_PARAMETERS: usize = 32_766;

#[derive(Clone)]
enum Value {
    Integer(Option<i64>),
    Real(Option<f64>),
    Text(Option<String>),
}

fn rows_per_insert(width: usize) -> usize {
    ROWS_PER_INSERT.min(MAX_PARAMETERS / width.max(1))
}

fn read_row(row: &AnyRow, table: &Table, values: &mut Vec<Value>) -> Result<(), sqlx::Error> {
    for (index, column) in table.columns.iter().enumerate() {
        values.push(match column.kind {
            ColumnType::Integer => Value::Integer(row.try_get(index)?),
            ColumnType::Real => Value::Real(row.try_get(index)?),
            ColumnType::Text => Value::Text(row.try_get(index)?),
        });
    }
    Ok(())
}

/// Copies every row of `table`; returns how many. The source is read a page
/// at a time in key order, each page one INSERT, and the next page is read
/// while the previous one is written.
pub async fn copy_table(
    source: &mut AnyConnection,
    target: &mut AnyConnection,
    dialect: Dialect,
    table: &Table,
) -> Result<u64, sqlx::Error> {
    let width = table.columns.len();
    let page_rows = rows_per_insert(width);
    let mut page = read_page(source, table, page_rows, None).await?;
    let mut copied = 0;
    while !page.is_empty() {
        let last_row = page.len() - width;
        let after = page[last_row].clone();
        let more = page.len() == page_rows * width;
        let (inserted, next) = tokio::try_join!(insert(target, dialect, table, page), async {
            if more {
                read_page(source, table, page_rows, Some(after)).await
            } else {
                Ok(Vec::new())
            }
        })?;
        copied += inserted;
        page = next;
    }
    Ok(copied)
}

/// Up to `limit` rows with a key above `after`, their values one row after
/// the other. Short queries: a reader stream held open across the writes
/// would keep the statement running (and logged as slow) for the whole table.
async fn read_page(
    source: &mut AnyConnection,
    table: &Table,
    limit: usize,
    after: Option<Value>,
) -> Result<Vec<Value>, sqlx::Error> {
    let filter = if after.is_some() {
        format!("WHERE {} > $1 ", table.key().name)
    } else {
        String::new()
    };
    let sql = format!(
        "SELECT {} FROM {} {filter}ORDER BY {} LIMIT {limit}",
        table.column_list(),
        table.name,
        table.key().name
    );
    let query = match after {
        None => sqlx::query(&sql),
        Some(Value::Integer(key)) => sqlx::query(&sql).bind(key),
        Some(Value::Real(key)) => sqlx::query(&sql).bind(key),
        Some(Value::Text(key)) => sqlx::query(&sql).bind(key),
    };
    let rows = query.fetch_all(source).await?;
    let mut values = Vec::with_capacity(rows.len() * table.columns.len());
    for row in &rows {
        read_row(row, table, &mut values)?;
    }
    Ok(values)
}

/// Inserts the rows in `values` (a row's values one after the other).
async fn insert(
    target: &mut AnyConnection,
    dialect: Dialect,
    table: &Table,
    values: Vec<Value>,
) -> Result<u64, sqlx::Error> {
    let width = table.columns.len();
    let mut placeholders = Placeholders::new(dialect);
    let rows: Vec<String> = (0..values.len() / width)
        .map(|_| placeholders.row(width))
        .collect();
    // The ids are kept, and PostgreSQL accepts a value for a GENERATED ALWAYS
    // identity column only when told to; tables without one ignore the clause.
    let overriding = match dialect {
        Dialect::Postgres => " OVERRIDING SYSTEM VALUE",
        Dialect::Sqlite => "",
    };
    let sql = format!(
        "INSERT INTO {} ({}){overriding} VALUES {}",
        table.name,
        table.column_list(),
        rows.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for value in values {
        query = match value {
            Value::Integer(value) => query.bind(value),
            Value::Real(value) => query.bind(value),
            Value::Text(value) => query.bind(value),
        };
    }
    Ok(query.execute(target).await?.rows_affected())
}

/// The highest id the source ever handed out in `table`, deleted rows
/// included, where the source remembers it: SQLite keeps it in
/// `sqlite_sequence` for AUTOINCREMENT tables (migration 0009).
pub async fn highest_id_ever(
    source: &mut AnyConnection,
    dialect: Dialect,
    table: &Table,
) -> Result<Option<i64>, sqlx::Error> {
    if dialect != Dialect::Sqlite || table.key().kind != ColumnType::Integer {
        return Ok(None);
    }
    sqlx::query("SELECT seq FROM sqlite_sequence WHERE name = $1")
        .bind(table.name)
        .fetch_optional(source)
        .await?
        .map(|row| row.try_get("seq"))
        .transpose()
}

/// Moves the identity sequence of `table`'s key past the largest copied id
/// and past `highest_ever` (ids of rows deleted on the source), so the next
/// row PostgreSQL numbers neither collides with a copied one nor reuses the
/// id of a deleted one. Tables whose key is not an identity column have no
/// sequence to move.
pub async fn move_identity_past_copied_ids(
    target: &mut AnyConnection,
    table: &Table,
    highest_ever: Option<i64>,
) -> Result<(), sqlx::Error> {
    if table.key().kind != ColumnType::Integer {
        return Ok(());
    }
    // No sequence (a key that is not an identity column): setval(NULL, …) does nothing.
    // is_called = false: the next value handed out is exactly one past the highest.
    sqlx::query(&format!(
        "SELECT setval(pg_get_serial_sequence('{table}', '{key}'), \
         GREATEST(COALESCE(MAX({key}), 0), $1) + 1, false) FROM {table}",
        table = table.name,
        key = table.key().name,
    ))
    .bind(highest_ever.unwrap_or(0))
    .execute(target)
    .await?;
    Ok(())
}

pub async fn count(conn: &mut AnyConnection, table: &Table) -> Result<u64, sqlx::Error> {
    let n: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n FROM {}", table.name))
        .fetch_one(conn)
        .await?
        .try_get("n")?;
    Ok(u64::try_from(n).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::copy::TABLES;

    #[test]
    fn no_insert_passes_the_bind_parameter_limits() {
        for table in TABLES {
            let width = table.columns.len();
            assert!(
                rows_per_insert(width) * width <= MAX_PARAMETERS,
                "{}",
                table.name
            );
            assert!(rows_per_insert(width) >= 1);
        }
        assert_eq!(rows_per_insert(100), 327);
    }
}
