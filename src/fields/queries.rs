//! Every SQL statement about custom fields and readers' values, written once
//! for both engines.

use sqlx::{AnyConnection, Row};

use super::domain::{
    Choices, FieldDefinition, FieldKey, FieldKind, FieldLabel, FieldValue, FieldVisibility,
};
use super::Field;
use crate::store::{Dialect, Placeholders};

/// Values per INSERT: five parameters a row stays far under SQLite's limit.
const MAX_VALUES_PER_INSERT: usize = 2_000;
/// Subscribers per `IN (…)` list.
const MAX_IDS_PER_QUERY: usize = 5_000;

const COLUMNS: &str = "f.id, f.field_key, f.label, f.kind, f.choices, f.required, f.visibility, \
     f.created_at, f.updated_at";

/// Readers with a value for the field, whatever their status.
const VALUES: &str =
    "(SELECT count(*) FROM subscriber_field_values v WHERE v.field_id = f.id) AS value_count";

fn field_of(row: &sqlx::any::AnyRow, with_values: bool) -> Result<Field, sqlx::Error> {
    let kind: String = row.try_get("kind")?;
    let choices: String = row.try_get("choices")?;
    let kind = match kind.as_str() {
        "number" => FieldKind::Number,
        "date" => FieldKind::Date,
        "yes_no" => FieldKind::YesNo,
        // Only parsed choices are written; a list that no longer parses
        // leaves the field as text rather than failing every page.
        "choice" => Choices::parse_lines(&choices).map_or(FieldKind::Text, FieldKind::Choice),
        _ => FieldKind::Text,
    };
    let visibility: String = row.try_get("visibility")?;
    Ok(Field {
        id: row.try_get("id")?,
        definition: FieldDefinition {
            key: FieldKey::from_stored(row.try_get("field_key")?),
            label: FieldLabel::from_stored(row.try_get("label")?),
            kind,
            required: row.try_get::<i64, _>("required")? == 1,
            visibility: FieldVisibility::parse(&visibility).unwrap_or(FieldVisibility::Internal),
        },
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        values: if with_values {
            Some(row.try_get("value_count")?)
        } else {
            None
        },
    })
}

/// Every field in the order they were made (the order of the form), with or
/// without counting the readers who have a value.
pub async fn list(conn: &mut AnyConnection, with_values: bool) -> Result<Vec<Field>, sqlx::Error> {
    let values = if with_values {
        format!(", {VALUES}")
    } else {
        String::new()
    };
    sqlx::query(&format!(
        "SELECT {COLUMNS}{values} FROM custom_fields f ORDER BY f.id"
    ))
    .fetch_all(conn)
    .await?
    .iter()
    .map(|row| field_of(row, with_values))
    .collect()
}

pub async fn find(conn: &mut AnyConnection, id: i64) -> Result<Option<Field>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS}, {VALUES} FROM custom_fields f WHERE f.id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(|row| field_of(row, true))
    .transpose()
}

/// The field holding `key`, other than `except`.
pub async fn key_holder(
    conn: &mut AnyConnection,
    key: &FieldKey,
    except: Option<i64>,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query("SELECT id FROM custom_fields WHERE field_key = $1 AND id <> $2")
        .bind(key.as_str())
        .bind(except.unwrap_or(0))
        .fetch_optional(conn)
        .await?
        .map(|row| row.try_get("id"))
        .transpose()
}

/// Inserts a field; `None` when its key is taken (perhaps a moment ago).
pub async fn insert(
    conn: &mut AnyConnection,
    field: &FieldDefinition,
    now: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query(
        "INSERT INTO custom_fields \
         (field_key, label, kind, choices, required, visibility, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(field.key.as_str())
    .bind(field.label.as_str())
    .bind(field.kind.as_str())
    .bind(choices_of(&field.kind))
    .bind(i64::from(field.required))
    .bind(field.visibility.as_str())
    .bind(now)
    .fetch_optional(conn)
    .await?
    .map(|row| row.try_get("id"))
    .transpose()
}

fn choices_of(kind: &FieldKind) -> String {
    match kind {
        FieldKind::Choice(choices) => choices.to_lines(),
        _ => String::new(),
    }
}

/// False when there is no such field. The caller made sure the key is free.
pub async fn update(
    conn: &mut AnyConnection,
    id: i64,
    field: &FieldDefinition,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE custom_fields SET field_key = $2, label = $3, kind = $4, choices = $5, \
         required = $6, visibility = $7, updated_at = $8 WHERE id = $1",
    )
    .bind(id)
    .bind(field.key.as_str())
    .bind(field.label.as_str())
    .bind(field.kind.as_str())
    .bind(choices_of(&field.kind))
    .bind(i64::from(field.required))
    .bind(field.visibility.as_str())
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(updated > 0)
}

/// Deletes a field and every reader's value of it (ON DELETE CASCADE).
pub async fn delete(conn: &mut AnyConnection, id: i64) -> Result<bool, sqlx::Error> {
    let deleted = sqlx::query("DELETE FROM custom_fields WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(deleted > 0)
}

/// The distinct texts stored for field `field_id` (a one-of-a-list field has
/// at most as many as it has choices).
pub async fn texts_in_use(
    conn: &mut AnyConnection,
    field_id: i64,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query(
        "SELECT DISTINCT text_value FROM subscriber_field_values \
         WHERE field_id = $1 AND text_value IS NOT NULL ORDER BY text_value",
    )
    .bind(field_id)
    .fetch_all(conn)
    .await?
    .iter()
    .map(|row| row.try_get("text_value"))
    .collect()
}

/// One value to write: subscriber, field, value.
pub type ValueRow<'a> = (i64, i64, &'a FieldValue);

/// Writes each value, replacing the one the reader had for that field. No
/// (subscriber, field) pair may come twice (PostgreSQL refuses to change a
/// row twice in one statement).
pub async fn set_values(
    conn: &mut AnyConnection,
    dialect: Dialect,
    rows: &[ValueRow<'_>],
) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(MAX_VALUES_PER_INSERT) {
        let mut placeholders = Placeholders::new(dialect);
        let values: Vec<String> = chunk.iter().map(|_| placeholders.row(4)).collect();
        let sql = format!(
            "INSERT INTO subscriber_field_values (subscriber_id, field_id, text_value, number_value) \
             VALUES {} ON CONFLICT (subscriber_id, field_id) DO UPDATE SET \
             text_value = excluded.text_value, number_value = excluded.number_value",
            values.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for (subscriber_id, field_id, value) in chunk {
            let (text, number) = value.stored();
            query = query
                .bind(*subscriber_id)
                .bind(*field_id)
                .bind(text.map(str::to_owned))
                .bind(number);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Removes a reader's values of `field_ids`.
pub async fn remove_values(
    conn: &mut AnyConnection,
    dialect: Dialect,
    subscriber_id: i64,
    field_ids: &[i64],
) -> Result<(), sqlx::Error> {
    if field_ids.is_empty() {
        return Ok(());
    }
    let mut placeholders = Placeholders::new(dialect);
    let subscriber = placeholders.one();
    let ids: Vec<String> = field_ids.iter().map(|_| placeholders.one()).collect();
    let sql = format!(
        "DELETE FROM subscriber_field_values WHERE subscriber_id = {subscriber} AND field_id IN ({})",
        ids.join(", ")
    );
    let mut query = sqlx::query(&sql).bind(subscriber_id);
    for id in field_ids {
        query = query.bind(*id);
    }
    query.execute(conn).await?;
    Ok(())
}

/// A stored value: subscriber, field, text column, number column.
pub type StoredValue = (i64, i64, Option<String>, Option<f64>);

/// The values of the subscribers `subscriber_ids`, by subscriber then field.
pub async fn values_of(
    conn: &mut AnyConnection,
    dialect: Dialect,
    subscriber_ids: &[i64],
) -> Result<Vec<StoredValue>, sqlx::Error> {
    let mut stored = Vec::new();
    for chunk in subscriber_ids.chunks(MAX_IDS_PER_QUERY) {
        let mut placeholders = Placeholders::new(dialect);
        let ids: Vec<String> = chunk.iter().map(|_| placeholders.one()).collect();
        let sql = format!(
            "SELECT subscriber_id, field_id, text_value, number_value FROM subscriber_field_values \
             WHERE subscriber_id IN ({}) ORDER BY subscriber_id, field_id",
            ids.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut *conn).await? {
            stored.push((
                row.try_get("subscriber_id")?,
                row.try_get("field_id")?,
                row.try_get("text_value")?,
                row.try_get("number_value")?,
            ));
        }
    }
    Ok(stored)
}
