//! Every SQL statement of the issues side, written once for both engines.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::test_send::Tester;

use super::domain::{
    Byline, Intro, Issue, IssueHeader, IssueStatus, IssueSummary, Item, ItemContent, ItemTitle,
    ItemUrl, MarkdownRendering, Preheader, PublishedOn, Renderings, Subject, Summary, ValueError,
};

/// Stored text went in through the parsers; reading it back through them
/// keeps the types' promises even if a row was edited by hand.
fn stored<T>(column: &str, parsed: Result<T, ValueError>) -> Result<T, sqlx::Error> {
    parsed.map_err(|e| sqlx::Error::Decode(format!("issues: column {column}: {e}").into()))
}

fn status_of(row: &AnyRow) -> Result<IssueStatus, sqlx::Error> {
    let raw: String = row.try_get("status")?;
    raw.parse()
        .map_err(|e: String| sqlx::Error::Decode(e.into()))
}

fn header_of(row: &AnyRow) -> Result<IssueHeader, sqlx::Error> {
    let preheader: Option<String> = row.try_get("preheader")?;
    Ok(IssueHeader {
        subject: stored("subject", Subject::parse(row.try_get("subject")?))?,
        preheader: stored(
            "preheader",
            Preheader::parse(preheader.as_deref().unwrap_or_default()),
        )?,
        intro: stored("intro", Intro::parse(row.try_get("intro")?))?,
    })
}

fn item_of(row: &AnyRow) -> Result<Item, sqlx::Error> {
    let optional = |column: &str| -> Result<String, sqlx::Error> {
        Ok(row
            .try_get::<Option<String>, _>(column)?
            .unwrap_or_default())
    };
    Ok(Item {
        id: row.try_get("id")?,
        content: ItemContent {
            title: stored("title", ItemTitle::parse(row.try_get("title")?))?,
            url: stored("url", ItemUrl::parse(row.try_get("url")?))?,
            source: stored("source", Byline::parse(&optional("source")?))?,
            published_on: stored(
                "published_on",
                PublishedOn::parse(&optional("published_on")?),
            )?,
            summary: stored("summary", Summary::parse(&optional("summary")?))?,
        },
    })
}

/// A stored rendering: both columns, or none (saved before renderings were stored).
fn rendering_of(
    row: &AnyRow,
    html: &str,
    text: &str,
) -> Result<Option<MarkdownRendering>, sqlx::Error> {
    let html: Option<String> = row.try_get(html)?;
    let text: Option<String> = row.try_get(text)?;
    Ok(html
        .zip(text)
        .map(|(html, text)| MarkdownRendering { html, text }))
}

fn summary_of(row: &AnyRow) -> Result<IssueSummary, sqlx::Error> {
    Ok(IssueSummary {
        id: row.try_get("id")?,
        subject: row.try_get("subject")?,
        status: status_of(row)?,
        item_count: row.try_get("item_count")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        sent_at: row.try_get("sent_at")?,
    })
}

pub async fn insert_issue(
    conn: &mut AnyConnection,
    header: &IssueHeader,
    intro: &MarkdownRendering,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query(
        "INSERT INTO issues (subject, preheader, intro, status, created_at, updated_at, \
         intro_html, intro_text) \
         VALUES ($1, $2, $3, 'draft', $4, $4, $5, $6) RETURNING id",
    )
    .bind(header.subject.as_str())
    .bind(header.preheader.as_ref().map(Preheader::as_str))
    .bind(header.intro.as_str())
    .bind(now)
    .bind(intro.html.as_str())
    .bind(intro.text.as_str())
    .fetch_one(conn)
    .await?
    .try_get("id")
}

pub async fn update_header(
    conn: &mut AnyConnection,
    id: i64,
    header: &IssueHeader,
    intro: &MarkdownRendering,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE issues SET subject = $2, preheader = $3, intro = $4, \
         intro_html = $5, intro_text = $6 WHERE id = $1",
    )
    .bind(id)
    .bind(header.subject.as_str())
    .bind(header.preheader.as_ref().map(Preheader::as_str))
    .bind(header.intro.as_str())
    .bind(intro.html.as_str())
    .bind(intro.text.as_str())
    .execute(conn)
    .await
    .map(drop)
}

/// Stores the intro's rendering of an issue saved before renderings were
/// stored. Only where none is stored: a save since then stored its own.
pub async fn store_intro_rendering(
    conn: &mut AnyConnection,
    id: i64,
    intro: &MarkdownRendering,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE issues SET intro_html = $2, intro_text = $3 \
         WHERE id = $1 AND (intro_html IS NULL OR intro_text IS NULL)",
    )
    .bind(id)
    .bind(intro.html.as_str())
    .bind(intro.text.as_str())
    .execute(conn)
    .await
    .map(drop)
}

/// `store_intro_rendering` for an item's summary.
pub async fn store_summary_rendering(
    conn: &mut AnyConnection,
    item_id: i64,
    summary: &MarkdownRendering,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE issue_items SET summary_html = $2, summary_text = $3 \
         WHERE id = $1 AND (summary_html IS NULL OR summary_text IS NULL)",
    )
    .bind(item_id)
    .bind(summary.html.as_str())
    .bind(summary.text.as_str())
    .execute(conn)
    .await
    .map(drop)
}

/// What `claim_draft` found.
pub enum DraftClaim {
    /// The draft is ours to change until the transaction ends.
    Claimed,
    NotFound,
    NotDraft(IssueStatus),
}

/// Marks the draft `id` as changed now. The UPDATE also takes the row lock
/// (PostgreSQL) or the write lock (SQLite), so the status cannot move on
/// (to sending) before the transaction that changes the draft commits.
pub async fn claim_draft(
    conn: &mut AnyConnection,
    id: i64,
    now: i64,
) -> Result<DraftClaim, sqlx::Error> {
    let updated =
        sqlx::query("UPDATE issues SET updated_at = $2 WHERE id = $1 AND status = 'draft'")
            .bind(id)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    if updated > 0 {
        return Ok(DraftClaim::Claimed);
    }
    match sqlx::query("SELECT status FROM issues WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?
    {
        Some(row) => Ok(DraftClaim::NotDraft(status_of(&row)?)),
        None => Ok(DraftClaim::NotFound),
    }
}

pub async fn find_issue(conn: &mut AnyConnection, id: i64) -> Result<Option<Issue>, sqlx::Error> {
    let Some(row) = sqlx::query(
        "SELECT id, subject, preheader, intro, status, created_at, updated_at, sent_at, \
         intro_html, intro_text FROM issues WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let rows = sqlx::query(
        "SELECT id, title, url, source, published_on, summary, summary_html, summary_text \
         FROM issue_items WHERE issue_id = $1 ORDER BY position, id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let topics = crate::topics::queries::of_issue(conn, id).await?;
    let mut renderings = Renderings {
        intro: rendering_of(&row, "intro_html", "intro_text")?,
        ..Renderings::default()
    };
    let mut items = Vec::with_capacity(rows.len());
    for item_row in &rows {
        let item = item_of(item_row)?;
        if let Some(summary) = rendering_of(item_row, "summary_html", "summary_text")? {
            renderings.summaries.insert(item.id, summary);
        }
        items.push(item);
    }
    Ok(Some(Issue {
        id: row.try_get("id")?,
        status: status_of(&row)?,
        header: header_of(&row)?,
        items,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        sent_at: row.try_get("sent_at")?,
        renderings,
        topics,
    }))
}

const SUMMARY_COLUMNS: &str = "i.id, i.subject, i.status, i.created_at, i.updated_at, i.sent_at, \
     (SELECT COUNT(*) FROM issue_items t WHERE t.issue_id = i.id) AS item_count";

/// Newest first.
pub async fn list_issues(
    conn: &mut AnyConnection,
    limit: i64,
) -> Result<Vec<IssueSummary>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {SUMMARY_COLUMNS} FROM issues i ORDER BY i.id DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(conn)
    .await?
    .iter()
    .map(summary_of)
    .collect()
}

/// Sent issues, the latest sent first.
pub async fn list_sent(
    conn: &mut AnyConnection,
    limit: i64,
) -> Result<Vec<IssueSummary>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {SUMMARY_COLUMNS} FROM issues i WHERE i.status = 'sent' \
         ORDER BY i.sent_at DESC, i.id DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(conn)
    .await?
    .iter()
    .map(summary_of)
    .collect()
}

pub async fn insert_item(
    conn: &mut AnyConnection,
    issue_id: i64,
    item: &ItemContent,
    summary: &MarkdownRendering,
) -> Result<i64, sqlx::Error> {
    sqlx::query(
        "INSERT INTO issue_items (issue_id, position, title, url, source, published_on, summary, \
         summary_html, summary_text) \
         VALUES ($1, (SELECT COALESCE(MAX(position) + 1, 0) FROM issue_items WHERE issue_id = $1), \
         $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(issue_id)
    .bind(item.title.as_str())
    .bind(item.url.as_str())
    .bind(item.source.as_ref().map(Byline::as_str))
    .bind(item.published_on.map(|d| d.iso()))
    .bind(item.summary.as_ref().map(Summary::as_str))
    .bind(summary.html.as_str())
    .bind(summary.text.as_str())
    .fetch_one(conn)
    .await?
    .try_get("id")
}

/// False when the issue has no such item.
pub async fn update_item(
    conn: &mut AnyConnection,
    issue_id: i64,
    item_id: i64,
    item: &ItemContent,
    summary: &MarkdownRendering,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE issue_items SET title = $3, url = $4, source = $5, published_on = $6, summary = $7, \
         summary_html = $8, summary_text = $9 WHERE issue_id = $1 AND id = $2",
    )
    .bind(issue_id)
    .bind(item_id)
    .bind(item.title.as_str())
    .bind(item.url.as_str())
    .bind(item.source.as_ref().map(Byline::as_str))
    .bind(item.published_on.map(|d| d.iso()))
    .bind(item.summary.as_ref().map(Summary::as_str))
    .bind(summary.html.as_str())
    .bind(summary.text.as_str())
    .execute(conn)
    .await?
    .rows_affected();
    Ok(updated > 0)
}

/// False when the issue has no such item.
pub async fn delete_item(
    conn: &mut AnyConnection,
    issue_id: i64,
    item_id: i64,
) -> Result<bool, sqlx::Error> {
    let deleted = sqlx::query("DELETE FROM issue_items WHERE issue_id = $1 AND id = $2")
        .bind(issue_id)
        .bind(item_id)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(deleted > 0)
}

pub async fn delete_items(conn: &mut AnyConnection, issue_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM issue_items WHERE issue_id = $1")
        .bind(issue_id)
        .execute(conn)
        .await
        .map(drop)
}

pub async fn delete_issue(conn: &mut AnyConnection, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM issues WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await
        .map(drop)
}

/// The item ids of an issue in their order.
pub async fn item_order(conn: &mut AnyConnection, issue_id: i64) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query("SELECT id FROM issue_items WHERE issue_id = $1 ORDER BY position, id")
        .bind(issue_id)
        .fetch_all(conn)
        .await?
        .iter()
        .map(|row| row.try_get("id"))
        .collect()
}

/// Writes positions 0, 1, 2… in the order of `item_ids`; run inside the
/// transaction that read the order.
pub async fn write_order(
    conn: &mut AnyConnection,
    issue_id: i64,
    item_ids: &[i64],
) -> Result<(), sqlx::Error> {
    for (position, item_id) in item_ids.iter().enumerate() {
        sqlx::query("UPDATE issue_items SET position = $3 WHERE issue_id = $1 AND id = $2")
            .bind(issue_id)
            .bind(*item_id)
            .bind(i64::try_from(position).unwrap_or(i64::MAX))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Where an issue's send stands, without its content.
#[derive(Debug, Clone)]
pub struct SendTimes {
    pub status: IssueStatus,
    pub started_at: Option<i64>,
    pub sent_at: Option<i64>,
    /// The last change of state; for a cancelled send, when it was cancelled.
    pub updated_at: i64,
}

pub async fn send_times(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<SendTimes>, sqlx::Error> {
    sqlx::query("SELECT status, send_started_at, sent_at, updated_at FROM issues WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?
        .map(|row| {
            Ok(SendTimes {
                status: status_of(&row)?,
                started_at: row.try_get("send_started_at")?,
                sent_at: row.try_get("sent_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        })
        .transpose()
}

// ---------------------------------------------------------------------------
// Test sends
// ---------------------------------------------------------------------------

/// The column naming the tester; chosen from the enum, never from input.
fn tester_column(tester: Tester) -> (&'static str, i64) {
    match tester {
        Tester::Account(id) => ("user_id", id),
        Tester::Token(id) => ("api_token_id", id),
    }
}

/// PostgreSQL: holds `tester`'s test sends until the transaction ends, so
/// that counting and recording cannot interleave with another request's.
pub async fn lock_tester(conn: &mut AnyConnection, tester: Tester) -> Result<(), sqlx::Error> {
    // "TSTS" in the high bits keeps clear of other advisory locks; the low
    // bit tells accounts from tokens.
    let (id, kind) = match tester {
        Tester::Account(id) => (id, 0),
        Tester::Token(id) => (id, 1),
    };
    let key = 0x5453_5453_0000_0000_i64 ^ (id.wrapping_shl(1) | kind);
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(key)
        .execute(conn)
        .await
        .map(drop)
}

/// How many test sends `tester` made after `since`, and when the oldest of them was.
pub async fn test_sends_since(
    conn: &mut AnyConnection,
    tester: Tester,
    since: i64,
) -> Result<(i64, Option<i64>), sqlx::Error> {
    let (column, id) = tester_column(tester);
    let row = sqlx::query(&format!(
        "SELECT COUNT(*) AS n, MIN(sent_at) AS oldest FROM test_sends \
         WHERE {column} = $1 AND sent_at > $2"
    ))
    .bind(id)
    .bind(since)
    .fetch_one(conn)
    .await?;
    Ok((row.try_get("n")?, row.try_get("oldest")?))
}

pub async fn insert_test_send(
    conn: &mut AnyConnection,
    tester: Tester,
    issue_id: i64,
    recipient: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    let (column, id) = tester_column(tester);
    sqlx::query(&format!(
        "INSERT INTO test_sends (issue_id, {column}, recipient, sent_at) VALUES ($1, $2, $3, $4)"
    ))
    .bind(issue_id)
    .bind(id)
    .bind(recipient)
    .bind(now)
    .execute(conn)
    .await
    .map(drop)
}

/// When the latest test copy of issue `issue_id` was sent.
pub async fn last_test_send(
    conn: &mut AnyConnection,
    issue_id: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query("SELECT MAX(sent_at) AS last FROM test_sends WHERE issue_id = $1")
        .bind(issue_id)
        .fetch_one(conn)
        .await?
        .try_get("last")
}

pub async fn any_test_send(conn: &mut AnyConnection) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("SELECT id FROM test_sends LIMIT 1")
        .fetch_optional(conn)
        .await?
        .is_some())
}
