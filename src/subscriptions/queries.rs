//! Every SQL statement of the subscriber side, written once for both engines.

use std::collections::HashSet;

use sqlx::{AnyConnection, Row};

use super::domain::{SubscriberEmail, SubscriberName, SubscriberStatus};
use super::tokens::LinkKey;
use super::RequestOrigin;
use crate::store::{Dialect, Placeholders};

/// A subscriber as the subscriber side needs it.
#[derive(Debug, Clone)]
pub struct SubscriberRecord {
    pub id: i64,
    pub email: String,
    pub name: Option<String>,
    pub status: SubscriberStatus,
    /// What their links are made from; None only for a row written past Herald.
    pub link_key: Option<LinkKey>,
}

fn status_of(raw: &str) -> Result<SubscriberStatus, sqlx::Error> {
    raw.parse()
        .map_err(|e: String| sqlx::Error::Decode(e.into()))
}

fn record_of(row: &sqlx::any::AnyRow) -> Result<SubscriberRecord, sqlx::Error> {
    Ok(SubscriberRecord {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        status: status_of(row.try_get("status")?)?,
        link_key: row
            .try_get::<Option<String>, _>("link_key")?
            .map(LinkKey::from_stored),
    })
}

pub async fn find_by_email(
    conn: &mut AnyConnection,
    email: &SubscriberEmail,
) -> Result<Option<SubscriberRecord>, sqlx::Error> {
    sqlx::query(
        "SELECT id, email, name, status, link_key FROM subscribers WHERE lower(email) = lower($1)",
    )
    .bind(email.as_str())
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(record_of)
    .transpose()
}

/// The subscriber whose row holds `link_key` (today's unsubscribe links).
pub async fn find_by_link_key(
    conn: &mut AnyConnection,
    link_key: &LinkKey,
) -> Result<Option<SubscriberRecord>, sqlx::Error> {
    sqlx::query("SELECT id, email, name, status, link_key FROM subscribers WHERE link_key = $1")
        .bind(link_key.as_str())
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(record_of)
        .transpose()
}

/// The subscriber an old-format link names, if they existed before link keys:
/// a row created since is never reached through its id alone.
pub async fn find_legacy_by_id(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<SubscriberRecord>, sqlx::Error> {
    sqlx::query(
        "SELECT id, email, name, status, link_key FROM subscribers WHERE id = $1 AND legacy_links = 1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(record_of)
    .transpose()
}

pub async fn find_by_id(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<SubscriberRecord>, sqlx::Error> {
    sqlx::query("SELECT id, email, name, status, link_key FROM subscribers WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(record_of)
        .transpose()
}

/// Inserts a pending subscriber; `None` when the address is already known
/// (another request may have inserted it a moment ago).
pub async fn insert_pending(
    conn: &mut AnyConnection,
    email: &SubscriberEmail,
    name: Option<&SubscriberName>,
    now: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query(
        "INSERT INTO subscribers (email, name, status, created_at, updated_at, link_key) \
         VALUES ($1, $2, 'pending', $3, $3, $4) ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(email.as_str())
    .bind(name.map(SubscriberName::as_str))
    .bind(now)
    .bind(LinkKey::generate().as_str().to_owned())
    .fetch_optional(conn)
    .await?
    .map(|row| row.try_get("id"))
    .transpose()
}

/// Back to pending after unsubscribing or bouncing; a newly given name replaces the old one.
pub async fn make_pending_again(
    conn: &mut AnyConnection,
    id: i64,
    name: Option<&SubscriberName>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE subscribers SET status = 'pending', name = COALESCE($2, name), updated_at = $3 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(name.map(SubscriberName::as_str))
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// A reader's own change of name (None: no name).
pub async fn set_name(
    conn: &mut AnyConnection,
    id: i64,
    name: Option<&SubscriberName>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE subscribers SET name = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(name.map(SubscriberName::as_str))
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_status(
    conn: &mut AnyConnection,
    id: i64,
    status: SubscriberStatus,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE subscribers SET status = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(status.as_str())
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Consent evidence: what happened, when, and from where.
pub async fn record_event(
    conn: &mut AnyConnection,
    subscriber_id: i64,
    kind: &str,
    origin: &RequestOrigin,
    now: i64,
) -> Result<(), sqlx::Error> {
    record_event_about(conn, subscriber_id, kind, None, origin, now).await
}

/// [`record_event`] for a change that covers `topics` (slugs, space-separated).
pub async fn record_event_about(
    conn: &mut AnyConnection,
    subscriber_id: i64,
    kind: &str,
    topics: Option<&str>,
    origin: &RequestOrigin,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO subscriber_events (subscriber_id, kind, at, ip, user_agent, topics) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(subscriber_id)
    .bind(kind)
    .bind(now)
    .bind(origin.ip.as_deref())
    .bind(origin.user_agent.as_deref())
    .bind(topics)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn insert_confirmation_token(
    conn: &mut AnyConnection,
    token_hash: &str,
    subscriber_id: i64,
    now: i64,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO confirmation_tokens (token_hash, subscriber_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash)
    .bind(subscriber_id)
    .bind(now)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug)]
pub struct TokenRecord {
    pub subscriber_id: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub status: SubscriberStatus,
}

pub async fn find_confirmation_token(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<TokenRecord>, sqlx::Error> {
    let Some(row) = sqlx::query(
        "SELECT t.subscriber_id, t.expires_at, t.used_at, s.status \
         FROM confirmation_tokens t JOIN subscribers s ON s.id = t.subscriber_id \
         WHERE t.token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(conn)
    .await?
    else {
        return Ok(None);
    };
    Ok(Some(TokenRecord {
        subscriber_id: row.try_get("subscriber_id")?,
        expires_at: row.try_get("expires_at")?,
        used_at: row.try_get("used_at")?,
        status: status_of(row.try_get("status")?)?,
    }))
}

pub async fn use_confirmation_token(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE confirmation_tokens SET used_at = $2 WHERE token_hash = $1")
        .bind(token_hash)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Withdraws every open confirmation link of a subscriber, so that a link
/// from before an unsubscribe cannot bring the address back.
pub async fn withdraw_confirmation_tokens(
    conn: &mut AnyConnection,
    subscriber_id: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE confirmation_tokens SET used_at = $2 WHERE subscriber_id = $1 AND used_at IS NULL",
    )
    .bind(subscriber_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Addresses with any character outside ASCII: the only ones the address
/// normalisation of issue 10 can change (the domains of the rest were
/// already lower-cased). Id order, so the oldest look-alike keeps its address.
pub async fn non_ascii_addresses(
    conn: &mut AnyConnection,
    dialect: Dialect,
) -> Result<Vec<(i64, String)>, sqlx::Error> {
    let non_ascii = match dialect {
        Dialect::Sqlite => "length(CAST(email AS BLOB)) <> length(email)",
        Dialect::Postgres => "octet_length(email) <> char_length(email)",
    };
    sqlx::query(&format!(
        "SELECT id, email FROM subscribers WHERE {non_ascii} ORDER BY id"
    ))
    .fetch_all(conn)
    .await?
    .iter()
    .map(|row| Ok((row.try_get("id")?, row.try_get("email")?)))
    .collect()
}

/// Another subscriber whose address is `email` as the unique index sees it.
pub async fn other_holder_of(
    conn: &mut AnyConnection,
    email: &SubscriberEmail,
    except_id: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query("SELECT id FROM subscribers WHERE lower(email) = lower($1) AND id <> $2")
        .bind(email.as_str())
        .bind(except_id)
        .fetch_optional(conn)
        .await?
        .map(|row| row.try_get("id"))
        .transpose()
}

pub async fn set_email(
    conn: &mut AnyConnection,
    id: i64,
    email: &SubscriberEmail,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE subscribers SET email = $2 WHERE id = $1")
        .bind(id)
        .bind(email.as_str())
        .execute(conn)
        .await?;
    Ok(())
}

/// A row the normalisation left as it was, for an admin to settle.
pub async fn report_address(
    conn: &mut AnyConnection,
    subscriber_id: i64,
    other_subscriber_id: Option<i64>,
    email: &str,
    problem: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO subscriber_address_reports \
         (subscriber_id, other_subscriber_id, email, problem, found_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(subscriber_id)
    .bind(other_subscriber_id)
    .bind(email)
    .bind(problem)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// A signup waiting for the desk (`signup_desk`).
#[derive(Debug)]
pub struct SignupRequest {
    pub id: i64,
    pub email: String,
    pub name: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub received_at: i64,
    /// The chosen topics' ids, space-separated; None: none chosen.
    pub topic_ids: Option<String>,
    /// The custom fields' values, JSON by field id; None: none given.
    pub field_values: Option<String>,
}

/// A signup request as the handler took it in, before it is written.
#[derive(Debug)]
pub struct NewSignupRequest {
    pub email: String,
    pub name: Option<String>,
    pub origin: RequestOrigin,
    pub received_at: i64,
    pub topic_ids: Option<String>,
    pub field_values: Option<String>,
}

/// Queues `requests` in one statement (one commit in autocommit mode).
pub async fn insert_signup_requests(
    conn: &mut AnyConnection,
    dialect: Dialect,
    requests: &[&NewSignupRequest],
) -> Result<(), sqlx::Error> {
    let mut placeholders = Placeholders::new(dialect);
    let rows: Vec<String> = requests.iter().map(|_| placeholders.row(7)).collect();
    let sql = format!(
        "INSERT INTO signup_requests \
         (email, name, ip, user_agent, received_at, topic_ids, field_values) \
         VALUES {}",
        rows.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for request in requests {
        query = query
            .bind(request.email.as_str())
            .bind(request.name.as_deref())
            .bind(request.origin.ip.as_deref())
            .bind(request.origin.user_agent.as_deref())
            .bind(request.received_at)
            .bind(request.topic_ids.as_deref())
            .bind(request.field_values.as_deref());
    }
    query.execute(conn).await?;
    Ok(())
}

/// Which of `addresses` (lower-cased) are on the list in any state, as SQL's
/// `lower()` spells them: the signup desk's batch and an import's dry run
/// look them up at once.
pub async fn listed_addresses(
    conn: &mut AnyConnection,
    dialect: Dialect,
    addresses: &[String],
) -> Result<HashSet<String>, sqlx::Error> {
    if addresses.is_empty() {
        return Ok(HashSet::new());
    }
    let mut placeholders = Placeholders::new(dialect);
    let list: Vec<String> = addresses.iter().map(|_| placeholders.one()).collect();
    let sql = format!(
        "SELECT lower(email) AS address FROM subscribers WHERE lower(email) IN ({})",
        list.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for address in addresses {
        query = query.bind(address.as_str());
    }
    query
        .fetch_all(conn)
        .await?
        .iter()
        .map(|row| row.try_get("address"))
        .collect()
}

/// A `signed_up` event of the signup desk's batch.
pub struct SignupEvent<'a> {
    pub subscriber_id: i64,
    pub at: i64,
    pub origin: &'a RequestOrigin,
    /// The topics the signup is for, as events name them.
    pub topics: Option<String>,
}

/// One `signed_up` event per signup, in one statement.
pub async fn record_signup_events(
    conn: &mut AnyConnection,
    dialect: Dialect,
    events: &[SignupEvent<'_>],
) -> Result<(), sqlx::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let mut placeholders = Placeholders::new(dialect);
    let values: Vec<String> = events.iter().map(|_| placeholders.row(6)).collect();
    let sql = format!(
        "INSERT INTO subscriber_events (subscriber_id, kind, at, ip, user_agent, topics) VALUES {}",
        values.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for event in events {
        query = query
            .bind(event.subscriber_id)
            .bind("signed_up")
            .bind(event.at)
            .bind(event.origin.ip.as_deref())
            .bind(event.origin.user_agent.as_deref())
            .bind(event.topics.as_deref());
    }
    query.execute(conn).await?;
    Ok(())
}

/// Takes the oldest `limit` requests out of the queue, in the caller's
/// transaction: handled and gone together, or neither.
pub async fn take_signup_requests(
    conn: &mut AnyConnection,
    limit: i64,
) -> Result<Vec<SignupRequest>, sqlx::Error> {
    let mut requests = sqlx::query(
        "DELETE FROM signup_requests WHERE id IN \
             (SELECT id FROM signup_requests ORDER BY id LIMIT $1) \
         RETURNING id, email, name, ip, user_agent, received_at, topic_ids, field_values",
    )
    .bind(limit)
    .fetch_all(conn)
    .await?
    .iter()
    .map(|row| {
        Ok(SignupRequest {
            id: row.try_get("id")?,
            email: row.try_get("email")?,
            name: row.try_get("name")?,
            ip: row.try_get("ip")?,
            user_agent: row.try_get("user_agent")?,
            received_at: row.try_get("received_at")?,
            topic_ids: row.try_get("topic_ids")?,
            field_values: row.try_get("field_values")?,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    // RETURNING follows no ORDER BY; requests are handled in the order they came.
    requests.sort_unstable_by_key(|request| request.id);
    Ok(requests)
}
