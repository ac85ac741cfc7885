//! SQL of the outbox: mail written in the transaction that makes it necessary,
//! claimed by a sender under a lease, and marked with its outcome.

use sqlx::{AnyConnection, AnyPool, Row};

use crate::store::{Dialect, Placeholders};
use crate::subscriptions::{LinkKey, SubscriberRecord, TokenSeed};

/// What a queued mail is; the sender renders it when it goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// Double opt-in: carries a confirmation link derived from the row's seed.
    Confirmation,
    /// Sent once an address is confirmed, with the unsubscribe link.
    Welcome,
    /// The link that confirms a reader's "erase me"; it expires with the mail.
    Erasure,
}

impl MailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmation => "confirmation",
            Self::Welcome => "welcome",
            Self::Erasure => "erasure",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "confirmation" => Some(Self::Confirmation),
            "welcome" => Some(Self::Welcome),
            "erasure" => Some(Self::Erasure),
            _ => None,
        }
    }
}

/// Queues a mail; the caller's transaction makes it durable with the change that needs it.
/// The sender gives up on it at `expires_at`.
pub async fn enqueue(
    conn: &mut AnyConnection,
    kind: MailKind,
    subscriber_id: i64,
    seed: Option<&TokenSeed>,
    now: i64,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO outbox (kind, subscriber_id, token_seed, created_at, expires_at, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5, $4)",
    )
    .bind(kind.as_str())
    .bind(subscriber_id)
    .bind(seed.map(TokenSeed::as_str))
    .bind(now)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// How many confirmation mails were queued for a subscriber since `since`, and the latest time.
pub async fn confirmations_queued_since(
    conn: &mut AnyConnection,
    subscriber_id: i64,
    since: i64,
) -> Result<(i64, Option<i64>), sqlx::Error> {
    queued_since(conn, MailKind::Confirmation, subscriber_id, since).await
}

/// How many mails of `kind` were queued for a subscriber since `since`, and the latest time.
pub async fn queued_since(
    conn: &mut AnyConnection,
    kind: MailKind,
    subscriber_id: i64,
    since: i64,
) -> Result<(i64, Option<i64>), sqlx::Error> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS queued, MAX(created_at) AS latest FROM outbox \
         WHERE subscriber_id = $1 AND kind = $2 AND created_at > $3",
    )
    .bind(subscriber_id)
    .bind(kind.as_str())
    .bind(since)
    .fetch_one(conn)
    .await?;
    Ok((row.try_get("queued")?, row.try_get("latest")?))
}

/// Drops unsent mail of a subscriber who left: nothing more goes to them.
/// A mail a sender holds right now is already on the wire; the sender records
/// its outcome, and a retry of it finds the subscriber gone.
pub async fn cancel_for_subscriber(
    conn: &mut AnyConnection,
    subscriber_id: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE outbox SET failed_at = $2, last_error = 'cancelled: subscriber left', token_seed = NULL \
         WHERE subscriber_id = $1 AND sent_at IS NULL AND failed_at IS NULL \
           AND (claimed_until IS NULL OR claimed_until < $2)",
    )
    .bind(subscriber_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// A mail claimed for sending.
#[derive(Debug)]
pub struct ClaimedMail {
    pub id: i64,
    pub kind: String,
    pub subscriber_id: i64,
    pub token_seed: Option<String>,
    pub expires_at: i64,
    pub attempts: i64,
    /// The reader as the claim found them, read with the claim so that no
    /// mail costs a query of its own; None when the row is gone.
    pub subscriber: Option<SubscriberRecord>,
}

/// Claims up to `limit` due mails until `now + lease`. A sender that dies
/// leaves its claims to expire, and another takes them over. On PostgreSQL,
/// `SKIP LOCKED` keeps two processes claiming at once from taking the same rows.
pub async fn claim_due(
    pool: &AnyPool,
    dialect: Dialect,
    now: i64,
    lease_millis: i64,
    limit: i64,
) -> Result<Vec<ClaimedMail>, sqlx::Error> {
    let skip_locked = match dialect {
        Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
        Dialect::Sqlite => "",
    };
    let sql = format!(
        "UPDATE outbox SET claimed_until = $2, attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM outbox \
             WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1 \
               AND (claimed_until IS NULL OR claimed_until < $1) \
             ORDER BY next_attempt_at LIMIT $3 {skip_locked}) \
         RETURNING id, kind, subscriber_id, token_seed, expires_at, attempts, \
             (SELECT email FROM subscribers s WHERE s.id = outbox.subscriber_id) AS email, \
             (SELECT name FROM subscribers s WHERE s.id = outbox.subscriber_id) AS name, \
             (SELECT status FROM subscribers s WHERE s.id = outbox.subscriber_id) AS status, \
             (SELECT link_key FROM subscribers s WHERE s.id = outbox.subscriber_id) AS link_key"
    );
    let rows = sqlx::query(&sql)
        .bind(now)
        .bind(now + lease_millis)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|row| {
            let subscriber_id = row.try_get("subscriber_id")?;
            let subscriber = match row.try_get::<Option<String>, _>("email")? {
                Some(email) => Some(SubscriberRecord {
                    id: subscriber_id,
                    email,
                    name: row.try_get("name")?,
                    status: row
                        .try_get::<String, _>("status")?
                        .parse()
                        .map_err(|e: String| sqlx::Error::Decode(e.into()))?,
                    link_key: row
                        .try_get::<Option<String>, _>("link_key")?
                        .map(LinkKey::from_stored),
                }),
                None => None,
            };
            Ok(ClaimedMail {
                id: row.try_get("id")?,
                kind: row.try_get("kind")?,
                subscriber_id,
                token_seed: row.try_get("token_seed")?,
                expires_at: row.try_get("expires_at")?,
                attempts: row.try_get("attempts")?,
                subscriber,
            })
        })
        .collect()
}

/// The earliest time a mail becomes due, to sleep exactly until then.
pub async fn next_due_at(pool: &AnyPool) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query(
        "SELECT MIN(next_attempt_at) AS due FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL",
    )
    .fetch_one(pool)
    .await?
    .try_get("due")
}

/// Marks claimed mails sent, all in one statement.
pub async fn mark_sent(
    conn: &mut AnyConnection,
    dialect: Dialect,
    ids: &[i64],
    now: i64,
) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut placeholders = Placeholders::new(dialect);
    let sent_at = placeholders.one();
    let list: Vec<String> = ids.iter().map(|_| placeholders.one()).collect();
    let sql = format!(
        "UPDATE outbox SET sent_at = {sent_at}, claimed_until = NULL, token_seed = NULL, \
         last_error = NULL WHERE id IN ({})",
        list.join(", ")
    );
    let mut query = sqlx::query(&sql).bind(now);
    for id in ids {
        query = query.bind(*id);
    }
    query.execute(conn).await?;
    Ok(())
}

pub async fn mark_retry(
    conn: &mut AnyConnection,
    id: i64,
    next_attempt_at: i64,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE outbox SET next_attempt_at = $2, claimed_until = NULL, last_error = $3 WHERE id = $1",
    )
    .bind(id)
    .bind(next_attempt_at)
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}

/// Gives a claimed mail back untried (the relay cannot be reached): due
/// again at once, and the claim's attempt does not count.
pub async fn release(conn: &mut AnyConnection, id: i64, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE outbox SET next_attempt_at = $2, claimed_until = NULL, attempts = attempts - 1 \
         WHERE id = $1 AND sent_at IS NULL AND failed_at IS NULL",
    )
    .bind(id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn mark_failed(
    conn: &mut AnyConnection,
    id: i64,
    now: i64,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE outbox SET failed_at = $2, claimed_until = NULL, token_seed = NULL, last_error = $3 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}

/// Mail not yet sent nor given up, for the queue-depth gauge.
pub async fn queue_depth(pool: &AnyPool) -> Result<i64, sqlx::Error> {
    sqlx::query("SELECT COUNT(*) AS n FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL")
        .fetch_one(pool)
        .await?
        .try_get("n")
}
