//! Every SQL statement about topics and who is in them, written once for
//! both engines.

use sqlx::{AnyConnection, Row};

use super::domain::{TopicDefinition, TopicSlug, Visibility};
use super::{MembershipSource, Topic};
use crate::store::{Dialect, Placeholders};

/// Memberships per INSERT: four values a row stays far under SQLite's limit.
const MAX_MEMBERSHIPS_PER_INSERT: usize = 2_000;

const COLUMNS: &str =
    "t.id, t.slug, t.name, t.description, t.visibility, t.on_by_default, t.created_at, t.updated_at";

/// Confirmed readers of the topic: the ones an issue to it would reach.
const READERS: &str = "(SELECT count(*) FROM subscriber_topics m \
     JOIN subscribers s ON s.id = m.subscriber_id \
     WHERE m.topic_id = t.id AND s.status = 'confirmed') AS readers";

fn topic_of(row: &sqlx::any::AnyRow, with_readers: bool) -> Result<Topic, sqlx::Error> {
    let visibility: String = row.try_get("visibility")?;
    Ok(Topic {
        id: row.try_get("id")?,
        slug: TopicSlug::from_stored(row.try_get("slug")?),
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        visibility: Visibility::parse(&visibility).unwrap_or(Visibility::Private),
        on_by_default: row.try_get::<i64, _>("on_by_default")? == 1,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        readers: if with_readers {
            Some(row.try_get("readers")?)
        } else {
            None
        },
    })
}

/// Every topic, by name, with its confirmed readers counted.
pub async fn list_with_readers(conn: &mut AnyConnection) -> Result<Vec<Topic>, sqlx::Error> {
    every_topic(conn, true).await
}

/// Every topic, by name, without counting anyone: what a signup resolves against.
pub async fn list(conn: &mut AnyConnection) -> Result<Vec<Topic>, sqlx::Error> {
    every_topic(conn, false).await
}

async fn every_topic(
    conn: &mut AnyConnection,
    with_readers: bool,
) -> Result<Vec<Topic>, sqlx::Error> {
    let readers = if with_readers {
        format!(", {READERS}")
    } else {
        String::new()
    };
    sqlx::query(&format!(
        "SELECT {COLUMNS}{readers} FROM topics t ORDER BY lower(t.name), t.id"
    ))
    .fetch_all(conn)
    .await?
    .iter()
    .map(|row| topic_of(row, with_readers))
    .collect()
}

pub async fn find(conn: &mut AnyConnection, id: i64) -> Result<Option<Topic>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS}, {READERS} FROM topics t WHERE t.id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(|row| topic_of(row, true))
    .transpose()
}

pub async fn count(conn: &mut AnyConnection) -> Result<i64, sqlx::Error> {
    sqlx::query("SELECT count(*) AS n FROM topics")
        .fetch_one(conn)
        .await?
        .try_get("n")
}

/// The topic holding `slug`, other than `except`.
pub async fn slug_holder(
    conn: &mut AnyConnection,
    slug: &TopicSlug,
    except: Option<i64>,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query("SELECT id FROM topics WHERE slug = $1 AND id <> $2")
        .bind(slug.as_str())
        .bind(except.unwrap_or(0))
        .fetch_optional(conn)
        .await?
        .map(|row| row.try_get("id"))
        .transpose()
}

/// Inserts a topic; `None` when its slug is taken (perhaps a moment ago).
pub async fn insert(
    conn: &mut AnyConnection,
    topic: &TopicDefinition,
    now: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query(
        "INSERT INTO topics (slug, name, description, visibility, on_by_default, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(topic.slug.as_str())
    .bind(topic.name.as_str())
    .bind(topic.description.as_str())
    .bind(topic.visibility.as_str())
    .bind(i64::from(topic.on_by_default))
    .bind(now)
    .fetch_optional(conn)
    .await?
    .map(|row| row.try_get("id"))
    .transpose()
}

/// False when there is no such topic. The caller made sure the slug is free.
pub async fn update(
    conn: &mut AnyConnection,
    id: i64,
    topic: &TopicDefinition,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE topics SET slug = $2, name = $3, description = $4, visibility = $5, \
         on_by_default = $6, updated_at = $7 WHERE id = $1",
    )
    .bind(id)
    .bind(topic.slug.as_str())
    .bind(topic.name.as_str())
    .bind(topic.description.as_str())
    .bind(topic.visibility.as_str())
    .bind(i64::from(topic.on_by_default))
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(updated > 0)
}

/// Deletes a topic and its memberships (ON DELETE CASCADE).
pub async fn delete(conn: &mut AnyConnection, id: i64) -> Result<bool, sqlx::Error> {
    let deleted = sqlx::query("DELETE FROM topics WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(deleted > 0)
}

/// Puts each `(subscriber, topic)` pair in, leaving memberships that exist
/// alone; returns the pairs that were new.
pub async fn join(
    conn: &mut AnyConnection,
    dialect: Dialect,
    pairs: &[(i64, i64)],
    source: MembershipSource,
    at: i64,
) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    let mut joined = Vec::new();
    for chunk in pairs.chunks(MAX_MEMBERSHIPS_PER_INSERT) {
        let mut placeholders = Placeholders::new(dialect);
        let values: Vec<String> = chunk.iter().map(|_| placeholders.row(4)).collect();
        let sql = format!(
            "INSERT INTO subscriber_topics (subscriber_id, topic_id, joined_at, source) VALUES {} \
             ON CONFLICT DO NOTHING RETURNING subscriber_id, topic_id",
            values.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for (subscriber_id, topic_id) in chunk {
            query = query
                .bind(*subscriber_id)
                .bind(*topic_id)
                .bind(at)
                .bind(source.as_str());
        }
        for row in query.fetch_all(&mut *conn).await? {
            joined.push((row.try_get("subscriber_id")?, row.try_get("topic_id")?));
        }
    }
    Ok(joined)
}

/// Puts each of `subscriber_ids` in every topic that is on by default.
pub async fn join_defaults(
    conn: &mut AnyConnection,
    dialect: Dialect,
    subscriber_ids: &[i64],
    source: MembershipSource,
    at: i64,
) -> Result<(), sqlx::Error> {
    for chunk in subscriber_ids.chunks(MAX_MEMBERSHIPS_PER_INSERT) {
        let mut placeholders = Placeholders::new(dialect);
        let at_placeholder = placeholders.one();
        let source_placeholder = placeholders.one();
        let ids: Vec<String> = chunk.iter().map(|_| placeholders.one()).collect();
        let sql = format!(
            "INSERT INTO subscriber_topics (subscriber_id, topic_id, joined_at, source) \
             SELECT s.id, t.id, {at_placeholder}, {source_placeholder} \
             FROM subscribers s CROSS JOIN topics t \
             WHERE t.on_by_default = 1 AND s.id IN ({}) \
             ON CONFLICT DO NOTHING",
            ids.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(at).bind(source.as_str());
        for id in chunk {
            query = query.bind(*id);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Takes a subscriber out of every topic: a reader who left everything and
/// signs up again starts from what they choose then.
pub async fn leave_all(conn: &mut AnyConnection, subscriber_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM subscriber_topics WHERE subscriber_id = $1")
        .bind(subscriber_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The topics a subscriber is in, by name.
pub async fn of_subscriber(
    conn: &mut AnyConnection,
    subscriber_id: i64,
) -> Result<Vec<Topic>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM topics t JOIN subscriber_topics m ON m.topic_id = t.id \
         WHERE m.subscriber_id = $1 ORDER BY lower(t.name), t.id"
    ))
    .bind(subscriber_id)
    .fetch_all(conn)
    .await?
    .iter()
    .map(|row| topic_of(row, false))
    .collect()
}

/// A subscriber's memberships: (slug, name, joined_at, source), by slug.
pub async fn memberships_of(
    conn: &mut AnyConnection,
    subscriber_id: i64,
) -> Result<Vec<(String, String, i64, String)>, sqlx::Error> {
    sqlx::query(
        "SELECT t.slug, t.name, m.joined_at, m.source FROM subscriber_topics m \
         JOIN topics t ON t.id = m.topic_id WHERE m.subscriber_id = $1 ORDER BY t.slug",
    )
    .bind(subscriber_id)
    .fetch_all(conn)
    .await?
    .iter()
    .map(|row| {
        Ok((
            row.try_get("slug")?,
            row.try_get("name")?,
            row.try_get("joined_at")?,
            row.try_get("source")?,
        ))
    })
    .collect()
}

/// Takes a subscriber out of `topic_ids`; returns how many they were in.
pub async fn leave(
    conn: &mut AnyConnection,
    subscriber_id: i64,
    topic_ids: &[i64],
) -> Result<u64, sqlx::Error> {
    let mut left = 0;
    for topic_id in topic_ids {
        left +=
            sqlx::query("DELETE FROM subscriber_topics WHERE subscriber_id = $1 AND topic_id = $2")
                .bind(subscriber_id)
                .bind(*topic_id)
                .execute(&mut *conn)
                .await?
                .rows_affected();
    }
    Ok(left)
}

/// The slugs of a subscriber's topics, alphabetical.
pub async fn slugs_of(
    conn: &mut AnyConnection,
    subscriber_id: i64,
) -> Result<Vec<TopicSlug>, sqlx::Error> {
    sqlx::query(
        "SELECT t.slug FROM subscriber_topics m JOIN topics t ON t.id = m.topic_id \
         WHERE m.subscriber_id = $1 ORDER BY t.slug",
    )
    .bind(subscriber_id)
    .fetch_all(conn)
    .await?
    .iter()
    .map(|row| Ok(TopicSlug::from_stored(row.try_get("slug")?)))
    .collect()
}

/// The condition on a `subscribers` row that puts it in a send of issue `$1`:
/// in at least one of the issue's topics. Written once for the snapshot and
/// for the count the send page shows, so the two cannot disagree.
pub const IN_ISSUE_TOPICS: &str = "EXISTS (SELECT 1 FROM subscriber_topics m \
     JOIN issue_topics it ON it.topic_id = m.topic_id \
     WHERE it.issue_id = $1 AND m.subscriber_id = subscribers.id)";

/// The topics issue `issue_id` goes to, by name.
pub async fn of_issue(conn: &mut AnyConnection, issue_id: i64) -> Result<Vec<Topic>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM topics t JOIN issue_topics it ON it.topic_id = t.id \
         WHERE it.issue_id = $1 ORDER BY lower(t.name), t.id"
    ))
    .bind(issue_id)
    .fetch_all(conn)
    .await?
    .iter()
    .map(|row| topic_of(row, false))
    .collect()
}

/// Addresses a new issue to the topics on by default.
pub async fn address_to_defaults(
    conn: &mut AnyConnection,
    issue_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO issue_topics (issue_id, topic_id) \
         SELECT $1, id FROM topics WHERE on_by_default = 1",
    )
    .bind(issue_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Replaces the topics issue `issue_id` goes to.
pub async fn address_issue(
    conn: &mut AnyConnection,
    dialect: Dialect,
    issue_id: i64,
    topic_ids: &[i64],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM issue_topics WHERE issue_id = $1")
        .bind(issue_id)
        .execute(&mut *conn)
        .await?;
    if topic_ids.is_empty() {
        return Ok(());
    }
    let mut placeholders = Placeholders::new(dialect);
    let values: Vec<String> = topic_ids.iter().map(|_| placeholders.row(2)).collect();
    let sql = format!(
        "INSERT INTO issue_topics (issue_id, topic_id) VALUES {} ON CONFLICT DO NOTHING",
        values.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for topic_id in topic_ids {
        query = query.bind(issue_id).bind(*topic_id);
    }
    query.execute(conn).await?;
    Ok(())
}

/// How many issues (of any status) go to topic `topic_id`.
pub async fn issues_addressed(conn: &mut AnyConnection, topic_id: i64) -> Result<i64, sqlx::Error> {
    sqlx::query("SELECT count(*) AS n FROM issue_topics WHERE topic_id = $1")
        .bind(topic_id)
        .fetch_one(conn)
        .await?
        .try_get("n")
}
