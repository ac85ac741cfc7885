//! Segments (issue 14, item 5): saved filters over the subscriber list,
//! stored as structured JSON and compiled to one parameterised SQL predicate
//! (`compile.rs`) for both engines. Counting lives here; sending to a segment
//! (item 6) will take the same predicate. SQL in `queries.rs`.

pub mod compile;
pub mod domain;
pub(crate) mod queries;

use std::time::Instant;

use crate::store::{now_millis, Dialect, Store};

pub use compile::{compile, Compiled, Param};
pub use domain::{
    Combine, Condition, DateRange, Day, FieldTest, FilterError, Happened, Number, SegmentFilter,
    SegmentName, SegmentNameError, Source, TopicTest, MAX_CONDITIONS, MAX_SEGMENT_NAME_LENGTH,
    MAX_VALUES,
};

/// A saved segment.
#[derive(Debug, Clone)]
pub struct Segment {
    pub id: i64,
    pub name: String,
    /// As stored. A filter naming a topic deleted since is still well formed;
    /// counting it refuses with the reason.
    pub filter: SegmentFilter,
    pub created_at: i64,
    pub updated_at: i64,
}

impl TryFrom<queries::SegmentRow> for Segment {
    type Error = sqlx::Error;

    fn try_from(row: queries::SegmentRow) -> Result<Self, Self::Error> {
        // Only parsed filters are written; one that no longer parses (a
        // condition type a later release dropped) is reported, not skipped.
        let filter = SegmentFilter::from_stored(&row.filter)
            .map_err(|error| sqlx::Error::Decode(Box::new(error)))?;
        Ok(Self {
            id: row.id,
            name: row.name,
            filter,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    #[error("there is no such segment")]
    NotFound,
    #[error("the name {0} is taken by another segment")]
    NameTaken(String),
    #[error("{0}")]
    Filter(FilterError),
    #[error("database error: {0}")]
    Store(#[from] sqlx::Error),
}

/// A count and how long it took.
#[derive(Debug, Clone, Copy)]
pub struct Count {
    pub subscribers: i64,
    pub millis: u64,
}

#[derive(Clone)]
pub struct Segments {
    store: Store,
}

impl Segments {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Every segment, by name.
    #[tracing::instrument(skip_all)]
    pub async fn list(&self) -> Result<Vec<Segment>, sqlx::Error> {
        let mut conn = self.store.pool().acquire().await?;
        queries::list(&mut conn)
            .await?
            .into_iter()
            .map(Segment::try_from)
            .collect()
    }

    #[tracing::instrument(skip_all)]
    pub async fn get(&self, id: i64) -> Result<Segment, SegmentError> {
        let mut conn = self.store.pool().acquire().await?;
        Ok(queries::find(&mut conn, id)
            .await?
            .ok_or(SegmentError::NotFound)?
            .try_into()?)
    }

    /// Refuses a filter that names a topic or a field that is not (or no
    /// longer) there, or compares a field with a value of another type.
    async fn resolve(
        conn: &mut sqlx::AnyConnection,
        filter: &SegmentFilter,
    ) -> Result<(), SegmentError> {
        let mut ids: Vec<i64> = filter.topic_ids().map(|(_, id)| id).collect();
        ids.sort_unstable();
        ids.dedup();
        let existing = queries::existing_topics(conn, &ids).await?;
        if let Some((condition, id)) = filter.topic_ids().find(|(_, id)| !existing.contains(id)) {
            return Err(SegmentError::Filter(SegmentFilter::unknown_topic(
                condition, id,
            )));
        }
        let mut ids: Vec<i64> = filter.field_tests().map(|(_, id, _)| id).collect();
        ids.sort_unstable();
        ids.dedup();
        let fields = queries::existing_fields(conn, &ids).await?;
        for (condition, id, test) in filter.field_tests() {
            let bad =
                |reason: String| SegmentError::Filter(SegmentFilter::bad_field(condition, reason));
            let Some((_, kind, choices)) = fields.iter().find(|(field, ..)| *field == id) else {
                return Err(bad(format!(
                    "there is no field {id} (it may have been deleted)"
                )));
            };
            test.check_kind(kind)
                .map_err(|reason| bad(format!("field {id}: {reason}")))?;
            if kind == "choice" {
                let choices: Vec<&str> = choices.lines().map(str::trim).collect();
                let named: &[String] = match test {
                    FieldTest::TextEq(value) => std::slice::from_ref(value),
                    FieldTest::TextIn(values) => values,
                    _ => &[],
                };
                if let Some(unknown) = named.iter().find(|v| !choices.contains(&v.as_str())) {
                    return Err(bad(format!(
                        "field {id}: \"{unknown}\" is not one of its choices ({})",
                        choices.join(", ")
                    )));
                }
            }
        }
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    pub async fn create(
        &self,
        name: &SegmentName,
        filter: &SegmentFilter,
    ) -> Result<Segment, SegmentError> {
        let mut tx = self.store.begin_write().await?;
        Self::resolve(&mut tx, filter).await?;
        let stored = filter.to_json().to_string();
        let id = queries::insert(&mut tx, name.as_str(), &stored, now_millis())
            .await?
            .ok_or_else(|| SegmentError::NameTaken(name.to_string()))?;
        let segment = queries::find(&mut tx, id)
            .await?
            .ok_or(SegmentError::NotFound)?;
        tx.commit().await?;
        tracing::info!(segment = %name, "segment created");
        Ok(segment.try_into()?)
    }

    #[tracing::instrument(skip_all)]
    pub async fn update(
        &self,
        id: i64,
        name: &SegmentName,
        filter: &SegmentFilter,
    ) -> Result<Segment, SegmentError> {
        let mut tx = self.store.begin_write().await?;
        if queries::find(&mut tx, id).await?.is_none() {
            return Err(SegmentError::NotFound);
        }
        Self::resolve(&mut tx, filter).await?;
        if queries::name_holder(&mut tx, name.as_str(), Some(id))
            .await?
            .is_some()
        {
            return Err(SegmentError::NameTaken(name.to_string()));
        }
        let stored = filter.to_json().to_string();
        match queries::update(&mut tx, id, name.as_str(), &stored, now_millis()).await {
            Ok(true) => {}
            Ok(false) => return Err(SegmentError::NotFound),
            // Taken by a concurrent change since we looked.
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
                return Err(SegmentError::NameTaken(name.to_string()));
            }
            Err(error) => return Err(error.into()),
        }
        let segment = queries::find(&mut tx, id)
            .await?
            .ok_or(SegmentError::NotFound)?;
        tx.commit().await?;
        Ok(segment.try_into()?)
    }

    #[tracing::instrument(skip_all)]
    pub async fn delete(&self, id: i64) -> Result<String, SegmentError> {
        let mut tx = self.store.begin_write().await?;
        let segment = queries::find(&mut tx, id)
            .await?
            .ok_or(SegmentError::NotFound)?;
        queries::delete(&mut tx, id).await?;
        tx.commit().await?;
        tracing::info!(segment = %segment.name, "segment deleted");
        Ok(segment.name)
    }

    /// Subscribers of any status `filter` matches, counted now; refused when
    /// it names a topic that is not there.
    #[tracing::instrument(skip_all)]
    pub async fn count(&self, filter: &SegmentFilter) -> Result<Count, SegmentError> {
        let started = Instant::now();
        let mut tx = self.store.pool().begin().await?;
        Self::resolve(&mut tx, filter).await?;
        if self.store.dialect() == Dialect::Postgres {
            // A count over a million rows looks costly enough to PostgreSQL
            // to compile it (JIT), which took 140 to 460 ms of a 0.3 to 1.6 s
            // count in scripts/bench-segments.sh and saved less.
            queries::without_jit(&mut tx).await?;
        }
        let subscribers = queries::count(&mut tx, &compile(filter, 0)).await?;
        tx.commit().await?;
        Ok(Count {
            subscribers,
            millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        })
    }

    /// [`Segments::count`] of a saved segment.
    #[tracing::instrument(skip_all)]
    pub async fn count_saved(&self, id: i64) -> Result<(Segment, Count), SegmentError> {
        let segment = self.get(id).await?;
        let count = self.count(&segment.filter).await?;
        Ok((segment, count))
    }
}
