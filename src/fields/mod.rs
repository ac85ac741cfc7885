//! Custom fields (issue 14, item 4): typed facts about readers that admins
//! define (company, plan, birthday), filled in on the signup form, by the API
//! and by CSV imports; SQL in `queries.rs`.
//!
//! Values are stored typed, one row per (reader, field), so that segments can
//! count "plan = pro" or "joined before 2024-01-01" with one index range scan
//! (see the migration `0024_custom_fields`).

pub mod domain;
pub(crate) mod queries;

use std::collections::BTreeMap;

use sqlx::AnyConnection;

use crate::store::{now_millis, Dialect, Store};

pub use domain::{
    Choices, FieldDefinition, FieldInputError, FieldKey, FieldKind, FieldLabel, FieldValue,
    FieldVisibility, RawValue, ValueError, MAX_CHOICES, MAX_CHOICE_LENGTH, MAX_KEY_LENGTH,
    MAX_LABEL_LENGTH, MAX_TEXT_LENGTH,
};

/// A field as stored.
#[derive(Debug, Clone)]
pub struct Field {
    pub id: i64,
    pub definition: FieldDefinition,
    pub created_at: i64,
    pub updated_at: i64,
    /// Readers with a value, when they were counted.
    pub values: Option<i64>,
}

impl Field {
    pub fn key(&self) -> &FieldKey {
        &self.definition.key
    }

    pub fn is_public(&self) -> bool {
        self.definition.is_public()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FieldError {
    #[error("there is no such field")]
    NotFound,
    #[error("the key {0} is taken by another field")]
    KeyTaken(FieldKey),
    /// Scripts, forms and CSV files name values by key: once a reader has a
    /// value, renaming the key would quietly break them.
    #[error("the key of {key} cannot change: {values} reader(s) have a value for it (delete the field and make a new one to start over)")]
    KeyInUse { key: FieldKey, values: i64 },
    /// Stored values are of the old type.
    #[error("the type of {key} cannot change: {values} reader(s) have a value for it")]
    KindInUse { key: FieldKey, values: i64 },
    #[error("the choices of {key} must keep {}: readers have chosen them", in_use.join(", "))]
    ChoicesInUse { key: FieldKey, in_use: Vec<String> },
    #[error("database error: {0}")]
    Store(#[from] sqlx::Error),
}

/// Where values come from, which decides the fields they may name and which
/// required fields they must fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The public signup: public fields only; the public required ones must be filled.
    Signup,
    /// An admin adds a reader (API): any field; every required one must be filled.
    NewReader,
    /// An admin changes a reader's values: any field, only those named
    /// change; a required one cannot be emptied.
    Update,
    /// A CSV import's row: any field whose column the file has; a required
    /// one cannot be empty.
    Import,
}

/// Why a value was refused, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldValueError {
    /// Unknown, or internal in a public signup: the visitor learns nothing
    /// about the internal fields.
    #[error("There is no field \"{0}\" to fill in.")]
    Unknown(String),
    #[error("{label} ({key}) {problem}.")]
    Invalid {
        key: String,
        label: String,
        problem: ValueError,
    },
}

impl FieldValueError {
    /// The key at fault, as given.
    pub fn key(&self) -> &str {
        match self {
            Self::Unknown(key) => key,
            Self::Invalid { key, .. } => key,
        }
    }
}

/// Values checked against the fields: for each field named, its new value,
/// or `None` to remove it. Each field at most once, in field order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckedValues(Vec<(i64, Option<FieldValue>)>);

impl CheckedValues {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The values to write: field and value.
    pub fn set(&self) -> impl Iterator<Item = (i64, &FieldValue)> {
        self.0
            .iter()
            .filter_map(|(id, value)| value.as_ref().map(|value| (*id, value)))
    }

    /// The fields whose value goes.
    pub fn removed(&self) -> Vec<i64> {
        self.0
            .iter()
            .filter(|(_, value)| value.is_none())
            .map(|(id, _)| *id)
            .collect()
    }

    /// The fields named, by id.
    pub fn field_ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.0.iter().map(|(id, _)| *id)
    }

    /// `{"3": "Acme"}`, as a queued signup keeps them: by field id, so a
    /// field renamed meanwhile still gets its value; None when there is none.
    pub fn to_stored(&self) -> Option<String> {
        let values: BTreeMap<String, String> = self
            .set()
            .map(|(id, value)| (id.to_string(), value.to_string()))
            .collect();
        (!values.is_empty())
            .then(|| serde_json::to_string(&values).ok())
            .flatten()
    }

    /// Read back from a queued signup against the fields as they are now:
    /// a value whose field has gone, or no longer takes it, is left out.
    pub fn from_stored(fields: &[Field], stored: Option<&str>) -> Self {
        let Some(stored) = stored else {
            return Self::default();
        };
        let values: BTreeMap<String, String> = serde_json::from_str(stored).unwrap_or_default();
        Self(
            fields
                .iter()
                .filter_map(|field| {
                    let raw = values.get(&field.id.to_string())?;
                    let value =
                        FieldValue::parse(&field.definition.kind, &RawValue::Text(raw)).ok()??;
                    Some((field.id, Some(value)))
                })
                .collect(),
        )
    }
}

/// Checks `given` (key and value as received) against `fields`, every
/// problem at once, in the order of the fields; unknown keys first.
pub fn check_values(
    fields: &[Field],
    given: &[(String, RawValue<'_>)],
    scope: Scope,
) -> Result<CheckedValues, Vec<FieldValueError>> {
    let allowed = |field: &Field| scope != Scope::Signup || field.is_public();
    let mut errors = Vec::new();
    for (key, _) in given {
        let known = FieldKey::parse(key)
            .ok()
            .and_then(|key| fields.iter().find(|f| *f.key() == key))
            .is_some_and(allowed);
        if !known && !errors.iter().any(|e: &FieldValueError| e.key() == key) {
            errors.push(FieldValueError::Unknown(key.clone()));
        }
    }
    let mut checked = Vec::new();
    for field in fields.iter().filter(|field| allowed(field)) {
        let raw = given
            .iter()
            .rev()
            .find(|(key, _)| FieldKey::parse(key).is_ok_and(|key| key == *field.key()));
        let invalid = |problem| FieldValueError::Invalid {
            key: field.key().to_string(),
            label: field.definition.label.as_str().to_owned(),
            problem,
        };
        let value = match raw {
            Some((_, raw)) => match FieldValue::parse(&field.definition.kind, raw) {
                Ok(value) => value,
                Err(problem) => {
                    errors.push(invalid(problem));
                    continue;
                }
            },
            None => None,
        };
        let must_fill = field.definition.required
            && match scope {
                Scope::Signup | Scope::NewReader => true,
                Scope::Update | Scope::Import => raw.is_some(),
            };
        // A required yes/no is a box that must be ticked ("I agree").
        let empty = matches!(value, None | Some(FieldValue::YesNo(false)));
        if must_fill && empty {
            errors.push(invalid(ValueError::Missing));
            continue;
        }
        if raw.is_some() {
            checked.push((field.id, value));
        }
    }
    if errors.is_empty() {
        Ok(CheckedValues(checked))
    } else {
        Err(errors)
    }
}

#[derive(Clone)]
pub struct Fields {
    store: Store,
}

impl Fields {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Every field in form order, with the readers who have a value counted.
    #[tracing::instrument(skip_all)]
    pub async fn list(&self) -> Result<Vec<Field>, sqlx::Error> {
        let mut conn = self.store.pool().acquire().await?;
        queries::list(&mut conn, true).await
    }

    /// Every field in form order, without counting.
    #[tracing::instrument(skip_all)]
    pub async fn all(&self) -> Result<Vec<Field>, sqlx::Error> {
        let mut conn = self.store.pool().acquire().await?;
        queries::list(&mut conn, false).await
    }

    /// The fields on the signup form.
    #[tracing::instrument(skip_all)]
    pub async fn public(&self) -> Result<Vec<Field>, sqlx::Error> {
        Ok(self
            .all()
            .await?
            .into_iter()
            .filter(Field::is_public)
            .collect())
    }

    #[tracing::instrument(skip_all)]
    pub async fn get(&self, id: i64) -> Result<Field, FieldError> {
        let mut conn = self.store.pool().acquire().await?;
        queries::find(&mut conn, id)
            .await?
            .ok_or(FieldError::NotFound)
    }

    #[tracing::instrument(skip_all)]
    pub async fn create(&self, definition: &FieldDefinition) -> Result<Field, FieldError> {
        let mut tx = self.store.begin_write().await?;
        let id = queries::insert(&mut tx, definition, now_millis())
            .await?
            .ok_or_else(|| FieldError::KeyTaken(definition.key.clone()))?;
        let field = queries::find(&mut tx, id)
            .await?
            .ok_or(FieldError::NotFound)?;
        tx.commit().await?;
        tracing::info!(field = %definition.key, "field created");
        Ok(field)
    }

    /// Replaces a field's definition. While readers have values, its key and
    /// type stay, and a one-of-a-list field keeps the choices they chose.
    #[tracing::instrument(skip_all)]
    pub async fn update(&self, id: i64, definition: &FieldDefinition) -> Result<Field, FieldError> {
        let mut tx = self.store.begin_write().await?;
        let field = queries::find(&mut tx, id)
            .await?
            .ok_or(FieldError::NotFound)?;
        let values = field.values.unwrap_or(0);
        let key = field.key().clone();
        if values > 0 && definition.key != key {
            return Err(FieldError::KeyInUse { key, values });
        }
        if values > 0 && !definition.kind.same_type(&field.definition.kind) {
            return Err(FieldError::KindInUse { key, values });
        }
        if let FieldKind::Choice(choices) = &definition.kind {
            if values > 0 {
                let in_use: Vec<String> = queries::texts_in_use(&mut tx, id)
                    .await?
                    .into_iter()
                    .filter(|text| !choices.as_slice().contains(text))
                    .collect();
                if !in_use.is_empty() {
                    return Err(FieldError::ChoicesInUse { key, in_use });
                }
            }
        }
        if queries::key_holder(&mut tx, &definition.key, Some(id))
            .await?
            .is_some()
        {
            return Err(FieldError::KeyTaken(definition.key.clone()));
        }
        match queries::update(&mut tx, id, definition, now_millis()).await {
            Ok(true) => {}
            Ok(false) => return Err(FieldError::NotFound),
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
                return Err(FieldError::KeyTaken(definition.key.clone()));
            }
            Err(error) => return Err(error.into()),
        }
        let field = queries::find(&mut tx, id)
            .await?
            .ok_or(FieldError::NotFound)?;
        tx.commit().await?;
        Ok(field)
    }

    /// Deletes a field and every reader's value of it.
    #[tracing::instrument(skip_all)]
    pub async fn delete(&self, id: i64) -> Result<Field, FieldError> {
        let mut tx = self.store.begin_write().await?;
        let field = queries::find(&mut tx, id)
            .await?
            .ok_or(FieldError::NotFound)?;
        queries::delete(&mut tx, id).await?;
        tx.commit().await?;
        tracing::info!(field = %field.key(), values = field.values, "field deleted");
        Ok(field)
    }
}

/// Every field with a reader's value, if any, in form order.
pub type ReaderValues = Vec<(Field, Option<FieldValue>)>;

/// The values of `subscriber_ids`, each against every field (in form order).
pub async fn values_of(
    conn: &mut AnyConnection,
    dialect: Dialect,
    fields: &[Field],
    subscriber_ids: &[i64],
) -> Result<BTreeMap<i64, ReaderValues>, sqlx::Error> {
    let stored = queries::values_of(conn, dialect, subscriber_ids).await?;
    let mut by_reader: BTreeMap<i64, ReaderValues> = subscriber_ids
        .iter()
        .map(|id| (*id, fields.iter().map(|f| (f.clone(), None)).collect()))
        .collect();
    for (subscriber_id, field_id, text, number) in stored {
        let Some(values) = by_reader.get_mut(&subscriber_id) else {
            continue;
        };
        if let Some((field, slot)) = values.iter_mut().find(|(f, _)| f.id == field_id) {
            *slot = FieldValue::from_stored(&field.definition.kind, text, number);
        }
    }
    Ok(by_reader)
}

/// Writes `values` for `subscriber_id` in the caller's transaction: sets the
/// ones given, removes the ones emptied.
pub async fn write_values(
    conn: &mut AnyConnection,
    dialect: Dialect,
    subscriber_id: i64,
    values: &CheckedValues,
) -> Result<(), sqlx::Error> {
    let rows: Vec<queries::ValueRow<'_>> = values
        .set()
        .map(|(field_id, value)| (subscriber_id, field_id, value))
        .collect();
    queries::set_values(conn, dialect, &rows).await?;
    queries::remove_values(conn, dialect, subscriber_id, &values.removed()).await
}

/// Writes many readers' values in a few statements, in the caller's transaction.
pub async fn write_many(
    conn: &mut AnyConnection,
    dialect: Dialect,
    values: &[(i64, &CheckedValues)],
) -> Result<(), sqlx::Error> {
    let rows: Vec<queries::ValueRow<'_>> = values
        .iter()
        .flat_map(|(subscriber_id, values)| {
            values
                .set()
                .map(move |(field_id, value)| (*subscriber_id, field_id, value))
        })
        .collect();
    queries::set_values(conn, dialect, &rows).await
}

/// The keys of the fields `values` names, for an event's note.
pub fn keys_named(fields: &[Field], values: &CheckedValues) -> String {
    let keys: Vec<&str> = values
        .field_ids()
        .filter_map(|id| fields.iter().find(|f| f.id == id))
        .map(|f| f.key().as_str())
        .collect();
    keys.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(id: i64, key: &str, kind: FieldKind, required: bool, public: bool) -> Field {
        Field {
            id,
            definition: FieldDefinition {
                key: FieldKey::parse(key).expect("valid"),
                label: FieldLabel::parse(key).expect("valid"),
                kind,
                required,
                visibility: if public {
                    FieldVisibility::Public
                } else {
                    FieldVisibility::Internal
                },
            },
            created_at: 0,
            updated_at: 0,
            values: None,
        }
    }

    fn given<'a>(pairs: &[(&str, &'a str)]) -> Vec<(String, RawValue<'a>)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), RawValue::Text(v)))
            .collect()
    }

    fn fields() -> Vec<Field> {
        vec![
            field(1, "company", FieldKind::Text, true, true),
            field(2, "seats", FieldKind::Number, false, true),
            field(3, "score", FieldKind::Number, false, false),
        ]
    }

    #[test]
    fn a_public_signup_names_public_fields_only() {
        let errors = check_values(
            &fields(),
            &given(&[("company", "Acme"), ("score", "3")]),
            Scope::Signup,
        )
        .unwrap_err();
        assert_eq!(errors, [FieldValueError::Unknown("score".into())]);
        assert!(check_values(
            &fields(),
            &given(&[("company", "Acme"), ("score", "3")]),
            Scope::NewReader
        )
        .is_ok());
    }

    #[test]
    fn required_fields_and_wrong_types_are_named() {
        let errors =
            check_values(&fields(), &given(&[("seats", "many")]), Scope::Signup).unwrap_err();
        let keys: Vec<&str> = errors.iter().map(FieldValueError::key).collect();
        assert_eq!(keys, ["company", "seats"]);
        // An update names only what changes.
        assert!(check_values(&fields(), &given(&[("seats", "4")]), Scope::Update).is_ok());
        let errors =
            check_values(&fields(), &given(&[("company", "")]), Scope::Update).unwrap_err();
        assert_eq!(errors[0].key(), "company");
    }

    #[test]
    fn values_survive_the_queue() {
        let fields = fields();
        let checked = check_values(
            &fields,
            &given(&[("company", "Acme"), ("seats", "12")]),
            Scope::Signup,
        )
        .expect("valid");
        let stored = checked.to_stored();
        assert_eq!(stored.as_deref(), Some(r#"{"1":"Acme","2":"12"}"#));
        assert_eq!(
            CheckedValues::from_stored(&fields, stored.as_deref()),
            checked
        );
        // A field deleted meanwhile is left out.
        assert_eq!(
            CheckedValues::from_stored(&fields[1..], stored.as_deref())
                .set()
                .count(),
            1
        );
    }
}
