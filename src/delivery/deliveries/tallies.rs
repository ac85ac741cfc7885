//! Running tallies of an issue's copies by state (`delivery_tallies`), so
//! that a send's progress sums a handful of rows instead of counting every
//! copy. Every statement that adds, changes or deletes delivery rows reports
//! its exact net change as [`TallyChanges`], and the caller writes them in the
//! same transaction, as its last statement: a tally row is then held only
//! from that statement to the commit, while no other lock is waited for, so
//! it cannot close a deadlock. Each process writes rows of its own, so two
//! processes sending one issue never wait on each other's tally.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use sqlx::{AnyConnection, Row};

/// The state a copy is tallied under, from its `status` and `reply`: a queued
/// copy with a reply failed once and waits to be tried again.
pub(super) const KIND: &str =
    "CASE WHEN status = 'queued' AND reply IS NOT NULL THEN 'retrying' ELSE status END";

/// This process's rows: two processes never write the same tally row.
static WRITER: LazyLock<String> =
    LazyLock::new(|| format!("{}-{:016x}", std::process::id(), rand::random::<u64>()));

/// The states copies are tallied under, in the order tally rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Queued,
    Retrying,
    Sent,
    Failed,
    Cancelled,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Retrying => "retrying",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub(super) fn parse(kind: &str) -> Result<Self, sqlx::Error> {
        Ok(match kind {
            "queued" => Self::Queued,
            "retrying" => Self::Retrying,
            "sent" => Self::Sent,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            other => {
                return Err(sqlx::Error::Decode(
                    format!("unknown delivery state {other:?}").into(),
                ))
            }
        })
    }
}

/// Net changes to the tallies, gathered through a transaction.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
#[must_use = "tally changes are lost unless written in the same transaction"]
pub struct TallyChanges(BTreeMap<(i64, Kind), i64>);

impl TallyChanges {
    pub fn add(&mut self, issue_id: i64, kind: Kind, n: i64) {
        *self.0.entry((issue_id, kind)).or_default() += n;
    }

    /// `n` copies of `issue_id` went from `from` to `to`.
    pub fn moved(&mut self, issue_id: i64, from: Kind, to: Kind, n: i64) {
        if from != to {
            self.add(issue_id, from, -n);
            self.add(issue_id, to, n);
        }
    }

    pub fn merge(&mut self, other: TallyChanges) {
        for ((issue_id, kind), n) in other.0 {
            self.add(issue_id, kind, n);
        }
    }

    /// Adds the changes to this process's tally rows, in (issue, state) order
    /// so that two transactions lock the rows they share in the same order.
    pub async fn write(self, conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
        let changes: Vec<((i64, Kind), i64)> =
            self.0.into_iter().filter(|(_, n)| *n != 0).collect();
        if changes.is_empty() {
            return Ok(());
        }
        // A handful of rows: numbered placeholders cost nothing here.
        let values: Vec<String> = (0..changes.len())
            .map(|i| {
                format!(
                    "(${}, ${}, ${}, ${})",
                    4 * i + 1,
                    4 * i + 2,
                    4 * i + 3,
                    4 * i + 4
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO delivery_tallies (issue_id, writer, status, n) VALUES {} \
             ON CONFLICT (issue_id, writer, status) DO UPDATE SET n = delivery_tallies.n + excluded.n",
            values.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for ((issue_id, kind), n) in changes {
            query = query
                .bind(issue_id)
                .bind(WRITER.as_str())
                .bind(kind.as_str())
                .bind(n);
        }
        query.execute(conn).await?;
        Ok(())
    }
}

/// The tallies of `issue_id`, summed over every writer.
pub(super) async fn totals(
    conn: &mut AnyConnection,
    issue_id: i64,
) -> Result<BTreeMap<Kind, i64>, sqlx::Error> {
    // SUM of a BIGINT is NUMERIC on PostgreSQL, which the Any driver cannot read.
    let rows = sqlx::query(
        "SELECT status, CAST(SUM(n) AS BIGINT) AS n FROM delivery_tallies \
         WHERE issue_id = $1 GROUP BY status",
    )
    .bind(issue_id)
    .fetch_all(conn)
    .await?;
    let mut totals = BTreeMap::new();
    for row in rows {
        let kind = Kind::parse(row.try_get("status")?)?;
        totals.insert(kind, row.try_get::<i64, _>("n")?);
    }
    Ok(totals)
}

/// Reads the changes from rows of `issue_id, kind` and, when grouped, `n`
/// (one copy a row otherwise): copies that left `kind` for `to`, or that
/// were deleted when `to` is None.
pub(super) fn from_rows(
    rows: &[sqlx::any::AnyRow],
    to: Option<Kind>,
) -> Result<TallyChanges, sqlx::Error> {
    let mut changes = TallyChanges::default();
    for row in rows {
        let issue_id: i64 = row.try_get("issue_id")?;
        let kind = Kind::parse(row.try_get("kind")?)?;
        let n: i64 = match row.try_get("n") {
            Err(sqlx::Error::ColumnNotFound(_)) => 1,
            n => n?,
        };
        match to {
            Some(to) => changes.moved(issue_id, kind, to, n),
            None => changes.add(issue_id, kind, -n),
        }
    }
    Ok(changes)
}
