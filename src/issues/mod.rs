//! Issues: the digests editors compose (subject, preheader, intro, ordered
//! items), their storage, the one renderer every output goes through, the test
//! send, and the public archive's Atom feed. Sending to the list comes later.

pub mod domain;
pub mod feed;
pub mod queries;
pub mod render;
mod test_send;

use domain::Subject;
pub use domain::{
    FieldError, HeaderInput, InvalidInput, Issue, IssueContent, IssueHeader, IssueStatus,
    IssueSummary, Item, ItemContent, ItemInput, MarkdownRendering, Renderings, ValueError,
};
pub use render::{
    render_markdown, IssueView, ItemView, RenderError, RenderedIssue, HTML_WARNING_BYTES,
};
pub use test_send::{
    is_test_copy_token, send_test, TestSendError, Tester, TEST_SENDS_PER_HOUR, TEST_SEND_WINDOW,
};

use queries::DraftClaim;

use crate::store::{now_millis, Store};
use crate::topics::queries as topic_queries;

/// How many issues the lists show; a weekly newsletter takes ten years to fill it.
pub const LIST_LIMIT: i64 = 500;

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("There is no such issue.")]
    NotFound,
    #[error("This issue has no such item.")]
    ItemNotFound,
    #[error("Only drafts can be changed; this issue is {0}.")]
    NotDraft(IssueStatus),
    #[error("{0}")]
    Invalid(#[from] InvalidInput),
    #[error("database error: {0}")]
    Store(#[from] sqlx::Error),
}

/// Which way an item moves in its issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    Up,
    Down,
}

/// The issues capability over the store. Cheap to make: `Issues::new(state.store.clone())`.
#[derive(Debug, Clone)]
pub struct Issues {
    store: Store,
}

impl Issues {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Creates a draft with its items, addressed to the topics on by
    /// default; returns its id.
    #[tracing::instrument(skip_all)]
    pub async fn create(&self, content: &IssueContent) -> Result<i64, IssueError> {
        self.create_addressed(content, None).await
    }

    /// Creates a draft with its items, addressed to `topic_ids` (ids of
    /// existing topics), or with None to the topics on by default.
    #[tracing::instrument(skip_all)]
    pub async fn create_addressed(
        &self,
        content: &IssueContent,
        topic_ids: Option<&[i64]>,
    ) -> Result<i64, IssueError> {
        let intro = intro_rendering(&content.header);
        let summaries: Vec<MarkdownRendering> =
            content.items.iter().map(summary_rendering).collect();
        let mut tx = self.store.begin_write().await?;
        check_field_tags(&mut tx, &content_sources(content)).await?;
        let id = queries::insert_issue(&mut tx, &content.header, &intro, now_millis()).await?;
        for (item, summary) in content.items.iter().zip(&summaries) {
            queries::insert_item(&mut tx, id, item, summary).await?;
        }
        match topic_ids {
            Some(ids) => {
                topic_queries::address_issue(&mut tx, self.store.dialect(), id, ids).await?
            }
            None => topic_queries::address_to_defaults(&mut tx, id).await?,
        }
        tx.commit().await?;
        tracing::info!(issue_id = id, items = content.items.len(), "issue created");
        Ok(id)
    }

    /// The issue `id` with the renderings of its Markdown, stored now if
    /// they were not yet (an issue saved before renderings were stored).
    #[tracing::instrument(skip_all, fields(issue_id = id))]
    pub async fn find(&self, id: i64) -> Result<Option<Issue>, sqlx::Error> {
        let mut conn = self.store.pool().acquire().await?;
        let issue = queries::find_issue(&mut conn, id).await?;
        drop(conn);
        match issue {
            Some(issue) => Ok(Some(self.with_renderings(issue).await)),
            None => Ok(None),
        }
    }

    /// Renders what of `issue` has no stored rendering and stores it, once.
    /// Storing is best effort: the rendering serves this reader either way.
    async fn with_renderings(&self, mut issue: Issue) -> Issue {
        if !issue.lacks_renderings() {
            return issue;
        }
        let intro = issue
            .renderings
            .intro
            .clone()
            .unwrap_or_else(|| intro_rendering(&issue.header));
        let summaries: Vec<(i64, MarkdownRendering)> = issue
            .items
            .iter()
            .filter(|item| !issue.renderings.summaries.contains_key(&item.id))
            .map(|item| (item.id, summary_rendering(&item.content)))
            .collect();
        if let Err(error) = self.store_renderings(issue.id, &intro, &summaries).await {
            tracing::warn!(issue_id = issue.id, %error, "cannot store the issue's rendering");
        }
        issue.renderings.intro = Some(intro);
        issue.renderings.summaries.extend(summaries);
        issue
    }

    async fn store_renderings(
        &self,
        id: i64,
        intro: &MarkdownRendering,
        summaries: &[(i64, MarkdownRendering)],
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.store.begin_write().await?;
        queries::store_intro_rendering(&mut tx, id, intro).await?;
        for (item_id, summary) in summaries {
            queries::store_summary_rendering(&mut tx, *item_id, summary).await?;
        }
        tx.commit().await?;
        tracing::info!(issue_id = id, "issue rendering stored");
        Ok(())
    }

    /// The issue `id`, or `NotFound`.
    pub async fn get(&self, id: i64) -> Result<Issue, IssueError> {
        self.find(id).await?.ok_or(IssueError::NotFound)
    }

    /// A sent issue, for the public archive; drafts and issues on their way are `None`.
    #[tracing::instrument(skip_all, fields(issue_id = id))]
    pub async fn find_sent(&self, id: i64) -> Result<Option<Issue>, sqlx::Error> {
        Ok(self
            .find(id)
            .await?
            .filter(|issue| issue.status == IssueStatus::Sent))
    }

    /// Every issue, newest first, at most `limit`.
    #[tracing::instrument(skip_all)]
    pub async fn list(&self, limit: i64) -> Result<Vec<IssueSummary>, sqlx::Error> {
        let mut conn = self.store.pool().acquire().await?;
        queries::list_issues(&mut conn, limit).await
    }

    /// Sent issues, the latest first, at most `limit`.
    #[tracing::instrument(skip_all)]
    pub async fn list_sent(&self, limit: i64) -> Result<Vec<IssueSummary>, sqlx::Error> {
        let mut conn = self.store.pool().acquire().await?;
        queries::list_sent(&mut conn, limit).await
    }

    /// The latest sent issues with their items, for the feed.
    #[tracing::instrument(skip_all)]
    pub async fn latest_sent(&self, limit: i64) -> Result<Vec<Issue>, sqlx::Error> {
        let mut conn = self.store.pool().acquire().await?;
        let sent = queries::list_sent(&mut conn, limit).await?;
        drop(conn);
        let mut issues = Vec::with_capacity(sent.len());
        for summary in sent {
            if let Some(issue) = self.find(summary.id).await? {
                issues.push(issue);
            }
        }
        Ok(issues)
    }

    /// Runs `change` on the draft `id` in one write transaction, after making
    /// sure it is still a draft.
    async fn change_draft<T>(
        &self,
        id: i64,
        change: impl AsyncFnOnce(&mut sqlx::AnyConnection) -> Result<T, IssueError>,
    ) -> Result<T, IssueError> {
        let mut tx = self.store.begin_write().await?;
        match queries::claim_draft(&mut tx, id, now_millis()).await? {
            DraftClaim::Claimed => {}
            DraftClaim::NotFound => return Err(IssueError::NotFound),
            DraftClaim::NotDraft(status) => return Err(IssueError::NotDraft(status)),
        }
        let outcome = change(&mut *tx).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Changes subject, preheader and intro of a draft.
    #[tracing::instrument(skip_all, fields(issue_id = id))]
    pub async fn update_header(&self, id: i64, header: &IssueHeader) -> Result<(), IssueError> {
        let intro = intro_rendering(header);
        self.change_draft(id, async |conn| {
            check_field_tags(conn, &[("intro".to_owned(), header.intro.as_str())]).await?;
            queries::update_header(conn, id, header, &intro).await?;
            Ok(())
        })
        .await
    }

    /// Replaces a draft's whole content, items included, and with
    /// `topic_ids` the topics it goes to (None: they stay as they are).
    #[tracing::instrument(skip_all, fields(issue_id = id))]
    pub async fn replace(
        &self,
        id: i64,
        content: &IssueContent,
        topic_ids: Option<&[i64]>,
    ) -> Result<(), IssueError> {
        let intro = intro_rendering(&content.header);
        let summaries: Vec<MarkdownRendering> =
            content.items.iter().map(summary_rendering).collect();
        let dialect = self.store.dialect();
        self.change_draft(id, async |conn| {
            check_field_tags(conn, &content_sources(content)).await?;
            queries::update_header(conn, id, &content.header, &intro).await?;
            queries::delete_items(conn, id).await?;
            for (item, summary) in content.items.iter().zip(&summaries) {
                queries::insert_item(conn, id, item, summary).await?;
            }
            if let Some(ids) = topic_ids {
                topic_queries::address_issue(conn, dialect, id, ids).await?;
            }
            Ok(())
        })
        .await
    }

    /// Changes the topics a draft goes to (ids of existing topics, at least one).
    #[tracing::instrument(skip_all, fields(issue_id = id))]
    pub async fn readdress(&self, id: i64, topic_ids: &[i64]) -> Result<(), IssueError> {
        let dialect = self.store.dialect();
        self.change_draft(id, async |conn| {
            topic_queries::address_issue(conn, dialect, id, topic_ids).await?;
            Ok(())
        })
        .await
    }

    /// Adds an item at the end of a draft; returns its id.
    #[tracing::instrument(skip_all, fields(issue_id = id))]
    pub async fn add_item(&self, id: i64, item: &ItemContent) -> Result<i64, IssueError> {
        let summary = summary_rendering(item);
        self.change_draft(id, async |conn| {
            check_field_tags(conn, &summary_source(item)).await?;
            let count = queries::item_order(conn, id).await?.len();
            if count >= domain::MAX_ITEMS {
                return Err(InvalidInput::one(
                    "items",
                    ValueError::TooManyItems {
                        max: domain::MAX_ITEMS,
                        actual: count + 1,
                    },
                )
                .into());
            }
            Ok(queries::insert_item(conn, id, item, &summary).await?)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(issue_id = id, item_id))]
    pub async fn update_item(
        &self,
        id: i64,
        item_id: i64,
        item: &ItemContent,
    ) -> Result<(), IssueError> {
        let summary = summary_rendering(item);
        self.change_draft(id, async |conn| {
            check_field_tags(conn, &summary_source(item)).await?;
            if queries::update_item(conn, id, item_id, item, &summary).await? {
                Ok(())
            } else {
                Err(IssueError::ItemNotFound)
            }
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(issue_id = id, item_id))]
    pub async fn remove_item(&self, id: i64, item_id: i64) -> Result<(), IssueError> {
        self.change_draft(id, async |conn| {
            if !queries::delete_item(conn, id, item_id).await? {
                return Err(IssueError::ItemNotFound);
            }
            let order = queries::item_order(conn, id).await?;
            queries::write_order(conn, id, &order).await?;
            Ok(())
        })
        .await
    }

    /// A new draft with the subject (as "Copy of …"), preheader, intro and
    /// items of issue `id`, whatever its state; nothing of its send is
    /// copied. Returns the new draft's id.
    #[tracing::instrument(skip_all, fields(issue_id = id))]
    pub async fn duplicate(&self, id: i64) -> Result<i64, IssueError> {
        let original = self.get(id).await?;
        let content = IssueContent {
            header: IssueHeader {
                subject: copy_subject(&original.header.subject),
                preheader: original.header.preheader.clone(),
                intro: original.header.intro.clone(),
            },
            items: original
                .items
                .into_iter()
                .map(|item| item.content)
                .collect(),
        };
        // The copy goes where the original went.
        let topics = {
            let mut conn = self.store.pool().acquire().await?;
            topic_queries::of_issue(&mut conn, id).await?
        };
        let ids: Vec<i64> = topics.iter().map(|topic| topic.id).collect();
        let addressed = (!ids.is_empty()).then_some(ids.as_slice());
        let copy = self.create_addressed(&content, addressed).await?;
        tracing::info!(copy, "issue duplicated");
        Ok(copy)
    }

    /// Deletes the draft `id` and its items; an issue that went out (or is
    /// going out) is never deleted: its deliveries are the record of who got it.
    #[tracing::instrument(skip_all, fields(issue_id = id))]
    pub async fn delete_draft(&self, id: i64) -> Result<(), IssueError> {
        self.change_draft(id, async |conn| {
            queries::delete_items(conn, id).await?;
            queries::delete_issue(conn, id).await?;
            Ok(())
        })
        .await?;
        tracing::info!("draft deleted");
        Ok(())
    }

    /// When the latest test copy of issue `id` was sent, if one was.
    pub async fn last_test_send(&self, id: i64) -> Result<Option<i64>, sqlx::Error> {
        let mut conn = self.store.pool().acquire().await?;
        queries::last_test_send(&mut conn, id).await
    }

    /// Whether any test copy of any issue was ever sent (the first-run checklist).
    pub async fn any_test_sent(&self) -> Result<bool, sqlx::Error> {
        let mut conn = self.store.pool().acquire().await?;
        queries::any_test_send(&mut conn).await
    }

    /// Puts an item at `index` (0-based) in the draft's order, shifting the
    /// others; an index past the end puts it last. Drag and drop and undoing a
    /// removal both land an item at a given place.
    #[tracing::instrument(skip_all, fields(issue_id = id, item_id))]
    pub async fn place_item(&self, id: i64, item_id: i64, index: usize) -> Result<(), IssueError> {
        self.change_draft(id, async |conn| {
            let mut order = queries::item_order(conn, id).await?;
            let at = order
                .iter()
                .position(|&i| i == item_id)
                .ok_or(IssueError::ItemNotFound)?;
            let item = order.remove(at);
            order.insert(index.min(order.len()), item);
            queries::write_order(conn, id, &order).await?;
            Ok(())
        })
        .await
    }

    /// Moves an item one place up or down; at either end it stays put.
    #[tracing::instrument(skip_all, fields(issue_id = id, item_id))]
    pub async fn move_item(&self, id: i64, item_id: i64, to: Move) -> Result<(), IssueError> {
        self.change_draft(id, async |conn| {
            let mut order = queries::item_order(conn, id).await?;
            let at = order
                .iter()
                .position(|&i| i == item_id)
                .ok_or(IssueError::ItemNotFound)?;
            let other = match to {
                Move::Up => at.checked_sub(1),
                Move::Down => Some(at + 1).filter(|&o| o < order.len()),
            };
            if let Some(other) = other {
                order.swap(at, other);
            }
            queries::write_order(conn, id, &order).await?;
            Ok(())
        })
        .await
    }
}

/// "Copy of " and the subject, cut to the longest subject allowed.
fn copy_subject(subject: &Subject) -> Subject {
    let copied: String = format!("Copy of {}", subject.as_str())
        .chars()
        .take(domain::MAX_SUBJECT_CHARS)
        .collect();
    // Cutting can leave a trailing space, which the parser trims; a subject
    // it still refuses keeps the original, which it took once.
    Subject::parse(&copied).unwrap_or_else(|_| subject.clone())
}

/// Refuses a tag that names a field no issue may show: one that does not
/// exist, or an internal one (it must not leak into mail). `sources` are
/// (form field, Markdown); fields are read only when a tag names one.
pub async fn check_field_tags(
    conn: &mut sqlx::AnyConnection,
    sources: &[(String, &str)],
) -> Result<(), IssueError> {
    let mut used = Vec::new();
    for (field, markdown) in sources {
        // Malformed tags were refused by the parsers already.
        for tag in render::personal::tags(markdown).unwrap_or_default() {
            if let Some(key) = tag.slot.field_key() {
                used.push((field, key.clone(), tag));
            }
        }
    }
    if used.is_empty() {
        return Ok(());
    }
    let fields = crate::fields::queries::list(conn, false).await?;
    let mut errors = Vec::new();
    for (field, key, tag) in used {
        let reason = match fields.iter().find(|f| f.key() == &key) {
            Some(found) if found.is_public() => continue,
            Some(_) => format!(
                "the internal field {}: issues may show public fields only.",
                key.as_str()
            ),
            None => format!("no field: there is no field with the key {}.", key.as_str()),
        };
        errors.push(FieldError {
            field: field.clone(),
            error: ValueError::UnusableField {
                tag: tag.source,
                line: tag.line,
                reason,
            },
        });
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(InvalidInput(errors).into())
    }
}

/// Every Markdown source of an issue's content, by form field.
fn content_sources(content: &IssueContent) -> Vec<(String, &str)> {
    let mut sources = vec![("intro".to_owned(), content.header.intro.as_str())];
    for (index, item) in content.items.iter().enumerate() {
        if let Some(summary) = &item.summary {
            sources.push((format!("items[{index}].summary"), summary.as_str()));
        }
    }
    sources
}

fn summary_source(item: &ItemContent) -> Vec<(String, &str)> {
    item.summary
        .iter()
        .map(|summary| ("summary".to_owned(), summary.as_str()))
        .collect()
}

/// Every Markdown source of a stored issue, by form field.
pub fn issue_sources(issue: &Issue) -> Vec<(String, &str)> {
    let mut sources = vec![("intro".to_owned(), issue.header.intro.as_str())];
    for (index, item) in issue.items.iter().enumerate() {
        if let Some(summary) = &item.content.summary {
            sources.push((format!("items[{index}].summary"), summary.as_str()));
        }
    }
    sources
}

/// The intro as readers get it; rendered when it is saved, never when read.
fn intro_rendering(header: &IssueHeader) -> MarkdownRendering {
    render_markdown(header.intro.as_str())
}

/// An item's summary as readers get it (empty for none).
fn summary_rendering(item: &ItemContent) -> MarkdownRendering {
    render_markdown(item.summary.as_ref().map_or("", |s| s.as_str()))
}
