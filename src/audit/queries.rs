//! Every SQL statement of the audit log, written once for both engines.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{AuditAction, AuditEntry, AuditRecord};

/// Which entries a page or an export shows; every part is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub action: Option<AuditAction>,
    /// Part of the actor's address or token name, any case.
    pub actor: Option<String>,
    /// Unix milliseconds, inclusive.
    pub since: Option<i64>,
    /// Unix milliseconds, exclusive.
    pub until: Option<i64>,
}

pub async fn insert(
    conn: &mut AnyConnection,
    entry: &AuditEntry,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_events (at, actor_kind, actor_id, actor_label, action, target, detail, ip) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(now)
    .bind(entry.actor.kind())
    .bind(entry.actor.id())
    .bind(entry.actor.label())
    .bind(entry.action.as_str())
    .bind(entry.target.as_deref())
    .bind(entry.detail.as_deref())
    .bind(entry.ip.as_deref())
    .execute(conn)
    .await
    .map(drop)
}

/// `%part%` for LIKE, with LIKE's own wildcards in `part` taken literally.
fn contains_pattern(part: &str) -> String {
    let escaped = part
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// The audit log is small beside the subscriber list (a row per admin
/// action), so one statement with optional conditions serves every filter.
pub async fn page(
    conn: &mut AnyConnection,
    filter: &AuditFilter,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditRecord>, sqlx::Error> {
    sqlx::query(
        "SELECT id, at, actor_kind, actor_label, action, target, detail, ip FROM audit_events \
         WHERE id < $1 \
           AND ($2 = '' OR action = $2) \
           AND ($3 = '' OR lower(actor_label) LIKE $3 ESCAPE '\\') \
           AND at >= $4 AND at < $5 \
         ORDER BY id DESC LIMIT $6",
    )
    .bind(before.unwrap_or(i64::MAX))
    .bind(filter.action.map_or("", AuditAction::as_str))
    .bind(
        filter
            .actor
            .as_deref()
            .map(contains_pattern)
            .unwrap_or_default(),
    )
    .bind(filter.since.unwrap_or(i64::MIN))
    .bind(filter.until.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(conn)
    .await?
    .iter()
    .map(record_of)
    .collect()
}

fn record_of(row: &AnyRow) -> Result<AuditRecord, sqlx::Error> {
    Ok(AuditRecord {
        id: row.try_get("id")?,
        at: row.try_get("at")?,
        actor_kind: row.try_get("actor_kind")?,
        actor_label: row.try_get("actor_label")?,
        action: row.try_get("action")?,
        target: row.try_get("target")?,
        detail: row.try_get("detail")?,
        ip: row.try_get("ip")?,
    })
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn like_wildcards_in_the_actor_filter_are_literal() {
        assert_eq!(contains_pattern("Ada"), "%ada%");
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
