//! One logged-in session's work: choosing where handled messages go,
//! handing every waiting message to the intake, and waiting for more.

use std::time::Duration;

use async_imap::types::Capabilities;
use futures_util::TryStreamExt as _;

use super::connection::{within, MailboxError, MailboxSession};
use crate::bounces::intake::{Effect, Outcome};
use crate::bounces::{Intake, MAX_MESSAGE_SIZE};

/// Marks a handled message where no folder can take it; the search for
/// waiting messages leaves such messages out.
pub const HANDLED_KEYWORD: &str = "$HeraldHandled";

/// `Herald/Handled`, with the server's own hierarchy separator.
const HANDLED_FOLDER: [&str; 2] = ["Herald", "Handled"];

/// Where a handled message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposal {
    Move {
        folder: String,
        /// RFC 6851 UID MOVE; without it, COPY, \Deleted and EXPUNGE.
        with_move: bool,
        /// RFC 4315 UID EXPUNGE: expunge only our message, not others
        /// someone marked \Deleted.
        with_uid_expunge: bool,
    },
    Flag,
}

impl Disposal {
    pub fn describe(&self) -> String {
        match self {
            Self::Move { folder, .. } => format!("moved to {folder}"),
            Self::Flag => format!("flagged {HANDLED_KEYWORD}"),
        }
    }
}

/// The handled folder, created if missing; the keyword where the server
/// lets no folder be made.
pub async fn prepare_disposal(
    session: &mut MailboxSession,
    capabilities: &Capabilities,
) -> Result<Disposal, MailboxError> {
    let delimiter = {
        let names: Vec<_> = within(async {
            session
                .list(Some(""), Some("\"\""))
                .await?
                .try_collect()
                .await
        })
        .await??;
        names
            .first()
            .and_then(|name| name.delimiter().map(str::to_owned))
            .unwrap_or_else(|| "/".to_owned())
    };
    let folder = HANDLED_FOLDER.join(&delimiter);
    let mut exists = folder_exists(session, &folder).await?;
    if !exists {
        match within(session.create(&folder)).await? {
            Ok(()) => {
                // So that mail clients show it; some servers refuse, harmlessly.
                let _ = within(session.subscribe(&folder)).await;
                exists = true;
            }
            // Another worker may have made it a moment ago.
            Err(error) => {
                exists = folder_exists(session, &folder).await?;
                if !exists {
                    tracing::warn!(
                        %folder, %error,
                        "bounce mailbox: cannot create the folder for handled messages; \
                         they stay in place, flagged {HANDLED_KEYWORD}"
                    );
                }
            }
        }
    }
    Ok(if exists {
        Disposal::Move {
            folder,
            with_move: capabilities.has_str("MOVE"),
            with_uid_expunge: capabilities.has_str("UIDPLUS"),
        }
    } else {
        Disposal::Flag
    })
}

async fn folder_exists(session: &mut MailboxSession, folder: &str) -> Result<bool, MailboxError> {
    let pattern = quoted(folder);
    let names: Vec<_> = within(async {
        session
            .list(Some(""), Some(&pattern))
            .await?
            .try_collect()
            .await
    })
    .await??;
    Ok(names.iter().any(|name| name.name() == folder))
}

/// What one pass over the folder did.
#[derive(Debug, Default)]
pub struct Drained {
    pub handled: usize,
    /// The database refused a message: it stays for the next pass.
    pub deferred: bool,
}

/// Hands every waiting message to the intake, oldest first, and puts each
/// one it took (handled, ignored or a duplicate) out of the way. A
/// message whose report the database could not take stays where it is.
pub async fn drain(
    session: &mut MailboxSession,
    intake: &Intake,
    disposal: &Disposal,
) -> Result<Drained, MailboxError> {
    let query = format!("UNDELETED UNKEYWORD {HANDLED_KEYWORD}");
    let mut uids: Vec<u32> = within(session.uid_search(&query))
        .await??
        .into_iter()
        .collect();
    uids.sort_unstable();
    let mut drained = Drained::default();
    for uid in uids {
        // Another worker may have moved it since the search.
        let Some(raw) = fetch(session, uid).await? else {
            continue;
        };
        let outcome = match raw {
            Fetched::TooLarge => Ok(Outcome::Ignored(crate::bounces::intake::Ignored::TooLarge)),
            Fetched::Message(raw) => intake.ingest(&raw, None).await,
        };
        match outcome {
            Ok(outcome) => {
                tracing::info!(uid, outcome = %summary(&outcome), "bounce mailbox: message read");
                dispose(session, uid, disposal).await?;
                drained.handled += 1;
            }
            Err(error) => {
                tracing::warn!(
                    uid, %error,
                    "bounce mailbox: the database cannot take a report now; \
                     the message stays for the next pass"
                );
                drained.deferred = true;
                // The rest would meet the same database.
                break;
            }
        }
    }
    Ok(drained)
}

enum Fetched {
    Message(Vec<u8>),
    TooLarge,
}

/// The whole message, without setting \Seen; none when it is gone.
async fn fetch(session: &mut MailboxSession, uid: u32) -> Result<Option<Fetched>, MailboxError> {
    let sizes: Vec<_> = within(async {
        session
            .uid_fetch(uid.to_string(), "RFC822.SIZE")
            .await?
            .try_collect()
            .await
    })
    .await??;
    let Some(size) = sizes
        .iter()
        .find(|fetch| fetch.uid == Some(uid))
        .and_then(|fetch| fetch.size)
    else {
        return Ok(None);
    };
    // Not even downloaded: the intake would not read it.
    if usize::try_from(size).map_or(true, |size| size > MAX_MESSAGE_SIZE) {
        return Ok(Some(Fetched::TooLarge));
    }
    let bodies: Vec<_> = within(async {
        session
            .uid_fetch(uid.to_string(), "BODY.PEEK[]")
            .await?
            .try_collect()
            .await
    })
    .await??;
    Ok(bodies
        .iter()
        .find(|fetch| fetch.uid == Some(uid))
        .and_then(|fetch| fetch.body())
        .map(|body| Fetched::Message(body.to_vec())))
}

async fn dispose(
    session: &mut MailboxSession,
    uid: u32,
    disposal: &Disposal,
) -> Result<(), MailboxError> {
    let uid = uid.to_string();
    match disposal {
        Disposal::Move {
            folder,
            with_move: true,
            ..
        } => within(session.uid_mv(&uid, folder)).await??,
        Disposal::Move {
            folder,
            with_move: false,
            with_uid_expunge,
        } => {
            within(session.uid_copy(&uid, folder)).await??;
            store_flag(session, &uid, "\\Deleted").await?;
            if *with_uid_expunge {
                within(async {
                    session
                        .uid_expunge(&uid)
                        .await?
                        .try_collect::<Vec<_>>()
                        .await
                })
                .await??;
            } else {
                within(async { session.expunge().await?.try_collect::<Vec<_>>().await }).await??;
            }
        }
        Disposal::Flag => store_flag(session, &uid, HANDLED_KEYWORD).await?,
    }
    Ok(())
}

async fn store_flag(
    session: &mut MailboxSession,
    uid: &str,
    flag: &str,
) -> Result<(), MailboxError> {
    let query = format!("+FLAGS.SILENT ({flag})");
    within(async {
        session
            .uid_store(uid, &query)
            .await?
            .try_collect::<Vec<_>>()
            .await
    })
    .await??;
    Ok(())
}

/// Waits in IDLE until the server reports a change or `renew` has passed
/// (servers end an IDLE after 30 minutes: RFC 2177 asks to re-issue it
/// before 29).
pub async fn idle(
    session: MailboxSession,
    renew: Duration,
) -> Result<MailboxSession, MailboxError> {
    let mut handle = session.idle();
    within(handle.init()).await??;
    {
        let (wait, _interrupt) = handle.wait_with_timeout(renew);
        // The crate's own timeout restarts at each keepalive the server
        // sends while idle, so it may never fire: this one always does.
        tokio::select! {
            woke = wait => { woke?; }
            () = tokio::time::sleep(renew) => {}
        }
    }
    Ok(within(handle.done()).await??)
}

/// A folder name as an IMAP quoted string.
fn quoted(folder: &str) -> String {
    format!("\"{}\"", folder.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The outcome for the log, without the reader's address.
fn summary(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Handled { class, effect, .. } => {
            let effect = match effect {
                Effect::Bounced => "bounced",
                Effect::Unsubscribed => "unsubscribed",
                Effect::AlreadyOff => "already off the list",
                Effect::Counted { .. } => "counted",
            };
            format!("{}: {effect}", class.as_str())
        }
        Outcome::UnsubscribedByMail { .. } => "unsubscribe by mail".to_owned(),
        Outcome::Ignored(_) | Outcome::Duplicate => outcome.to_string(),
    }
}
