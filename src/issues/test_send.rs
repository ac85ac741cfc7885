//! The test send of the composer and the API: one copy of an issue, at once,
//! to any address, under the list's identity and DKIM key. So each one is
//! recorded (who, to whom, which issue, when; the audit log reads the
//! records) and limited per account and per API token.

use std::fmt;
use std::time::Duration;

use lettre::message::Mailbox;

use super::domain::Issue;
use super::queries;
use super::render::{RenderError, RenderedIssue};
use crate::delivery::{PreparedIssue, ReaderCopy};
use crate::mail::{MailIdentity, Mailer, SendError};
use crate::store::{millis, now_millis, Dialect, Store};
use crate::subscriptions::SubscriberEmail;

/// Test copies one account, or one API token, may send in `TEST_SEND_WINDOW`:
/// plenty for checking an issue on a few devices, too few to mail a list.
pub const TEST_SENDS_PER_HOUR: i64 = 20;
pub const TEST_SEND_WINDOW: Duration = Duration::from_secs(3600);

/// Who asks for a test copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tester {
    /// A signed-in account, by user id.
    Account(i64),
    /// An API token, by token id.
    Token(i64),
}

impl fmt::Display for Tester {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Account(id) => write!(f, "account {id}"),
            Self::Token(id) => write!(f, "API token {id}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TestSendError {
    /// Shown to the tester as it stands.
    #[error(
        "You have sent {TEST_SENDS_PER_HOUR} test copies in the last hour, the most allowed. \
         Try again in {} minutes.", .retry_after.as_secs().div_ceil(60).max(1)
    )]
    TooMany { retry_after: Duration },
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("cannot build the message: {0}")]
    Build(#[from] lettre::error::Error),
    /// What the mail server said; shown to the editor.
    #[error("the mail server did not take the message: {0}")]
    Send(#[from] SendError),
    #[error("cannot record the test send: {0}")]
    Store(#[from] sqlx::Error),
}

/// The start of a test copy's unsubscribe token: a dot, which no real
/// token (base64url or hex) has, so the unsubscribe page can tell it apart.
const TEST_COPY_TOKEN_PREFIX: &str = "test-copy.";

/// Whether an unsubscribe token is a test copy's: its page shows what a
/// reader would see, and unsubscribing changes nothing.
pub fn is_test_copy_token(token: &str) -> bool {
    token.trim().starts_with(TEST_COPY_TOKEN_PREFIX)
}

/// Builds `issue` as sending would (the same prepared issue, headers and
/// signature) and sends one copy to `to` at once, with `[Test] ` before the
/// subject, once the limit allows it and the send is recorded. Its
/// unsubscribe link opens the unsubscribe page, which changes nothing for it:
/// the tester is not a subscriber.
#[tracing::instrument(skip_all, fields(issue_id = issue.id))]
pub async fn send_test(
    store: &Store,
    tester: Tester,
    issue: &Issue,
    to: &SubscriberEmail,
    identity: &MailIdentity,
    mailer: &Mailer,
) -> Result<(), TestSendError> {
    let rendered = RenderedIssue::render_blocking(issue, identity).await?;
    let token = format!(
        "{TEST_COPY_TOKEN_PREFIX}{}",
        crate::config::secret_hex(&rand::random::<[u8; 8]>())
    );
    let unsubscribe_url = identity
        .site_url
        .join(&format!("/unsubscribe?token={token}&issue={}", issue.id));
    let message = PreparedIssue::new(issue.id, &rendered, identity).test_message(
        identity,
        &ReaderCopy {
            to: Mailbox::new(None, to.to_address()),
            // No subscriber: a test copy's Message-ID is keyed on a random value.
            subscriber_id: 0,
            unsubscribe_url: &unsubscribe_url,
            token: &token,
            // No address that unsubscribes: the tester is nobody's reader.
            unsubscribe_mailto: None,
            // The sample reader a preview shows: each field tag's default.
            name: Some(crate::issues::render::personal::SAMPLE_NAME),
            fields: None,
        },
    )?;
    record(store, tester, issue.id, to).await?;
    // Signed and sent as a reader's copy is.
    mailer.send(&message).await?;
    // The record keeps the address; the log names only its domain.
    let domain = to.as_str().rsplit('@').next().unwrap_or_default();
    tracing::info!(
        %tester,
        recipient_domain = domain,
        html_bytes = rendered.html_bytes(),
        "test copy sent"
    );
    Ok(())
}

/// Counts the tester's sends of the last hour and, below the limit, records
/// this one, in one transaction: on SQLite the write lock, on PostgreSQL an
/// advisory lock per tester keeps two requests at once from both passing.
async fn record(
    store: &Store,
    tester: Tester,
    issue_id: i64,
    to: &SubscriberEmail,
) -> Result<(), TestSendError> {
    let now = now_millis();
    let mut tx = store.begin_write().await?;
    if store.dialect() == Dialect::Postgres {
        queries::lock_tester(&mut tx, tester).await?;
    }
    let (count, oldest) =
        queries::test_sends_since(&mut tx, tester, now - millis(TEST_SEND_WINDOW)).await?;
    if count >= TEST_SENDS_PER_HOUR {
        let free_at = oldest.unwrap_or(now) + millis(TEST_SEND_WINDOW);
        let retry_after = Duration::from_millis(u64::try_from(free_at - now).unwrap_or(0));
        tracing::warn!(%tester, issue_id, "test send refused: limit reached");
        return Err(TestSendError::TooMany { retry_after });
    }
    queries::insert_test_send(&mut tx, tester, issue_id, to.as_str(), now).await?;
    tx.commit().await?;
    Ok(())
}
