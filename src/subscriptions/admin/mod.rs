//! Subscriber administration: the searchable list, a subscriber's history,
//! the actions admins take (unsubscribe, resend the confirmation, erase), CSV
//! import and export, and adding one subscriber through the API. Lifecycle
//! steps reuse the signup side's own functions, so the rules stay in one place.

mod actions;
mod csv_cell;
mod detail;
mod erase;
mod export;
mod import;
mod list;
mod sample;

use std::fmt;

pub use super::admin_queries::SubscriberRow;
pub use detail::{HistoryEntry, SubscriberDetail};
pub use export::{CsvExport, ExportError, EXPORT_HEADER};
pub use import::{DryRun, ImportError, ImportReport, RowProblem, Separator, MAX_PROBLEMS_KEPT};
pub use list::{ListQuery, SearchTerm, SubscriberPage, MAX_PAGE_SIZE};
pub use sample::{insert_samples, SampleSubscriber};

use super::RequestOrigin;

/// Who takes an admin action, kept in the history with the request's origin.
#[derive(Debug, Clone)]
pub struct Actor {
    /// e.g. `admin ann@example.com`, `API token 3`, `the command line`.
    pub label: String,
    pub origin: RequestOrigin,
}

impl Actor {
    pub fn new(label: impl Into<String>, origin: RequestOrigin) -> Self {
        Self {
            label: label.into(),
            origin,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("There is no such subscriber.")]
    NotFound,
    #[error("{0} is already on the list.")]
    AlreadyListed(String),
    #[error("Only a pending subscriber is sent a confirmation mail.")]
    NotPending,
    /// The address (or its domain) is on the suppression list.
    #[error("{email} is on the suppression list ({kind} entry #{entry_id}: {reason}); remove that entry first if this person really asked to be mailed again.")]
    Suppressed {
        email: String,
        kind: &'static str,
        entry_id: i64,
        reason: String,
    },
    #[error("database error: {0}")]
    Store(#[from] sqlx::Error),
}

pub const MAX_CONSENT_NOTE_LENGTH: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsentNoteError {
    #[error("Say how these people gave their consent (a consent note is required).")]
    Missing,
    #[error("A consent note has at most {MAX_CONSENT_NOTE_LENGTH} characters.")]
    TooLong,
    #[error("A consent note is one line without control characters.")]
    ControlCharacter,
}

/// Why subscribers may be added as confirmed without a confirmation mail:
/// e.g. "signed up on paper at the 2024 fair". Kept with each of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentNote(String);

impl ConsentNote {
    pub fn parse(raw: &str) -> Result<Self, ConsentNoteError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(ConsentNoteError::Missing);
        }
        if trimmed.chars().any(char::is_control) {
            return Err(ConsentNoteError::ControlCharacter);
        }
        if trimmed.chars().count() > MAX_CONSENT_NOTE_LENGTH {
            return Err(ConsentNoteError::TooLong);
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConsentNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How new subscribers come onto the list: pending with a confirmation mail
/// (double opt-in), or confirmed at once on the strength of a consent note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    Pending,
    Confirmed(ConsentNote),
}

impl Admission {
    fn status(&self) -> super::SubscriberStatus {
        match self {
            Self::Pending => super::SubscriberStatus::Pending,
            Self::Confirmed(_) => super::SubscriberStatus::Confirmed,
        }
    }

    fn note(&self) -> Option<&str> {
        match self {
            Self::Pending => None,
            Self::Confirmed(note) => Some(note.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn consent_notes() {
        assert_eq!(ConsentNote::parse("  "), Err(ConsentNoteError::Missing));
        assert_eq!(
            ConsentNote::parse(" Paper forms, fair 2024 ").map(|n| n.0),
            Ok("Paper forms, fair 2024".to_owned())
        );
        assert_eq!(
            ConsentNote::parse("a\nb"),
            Err(ConsentNoteError::ControlCharacter)
        );
        assert_eq!(
            ConsentNote::parse(&"x".repeat(501)),
            Err(ConsentNoteError::TooLong)
        );
    }

    proptest! {
        #[test]
        fn accepted_notes_hold_the_invariants(raw in "\\PC{0,600}|.{0,40}") {
            if let Ok(note) = ConsentNote::parse(&raw) {
                prop_assert!(!note.as_str().is_empty());
                prop_assert!(note.as_str().chars().count() <= MAX_CONSENT_NOTE_LENGTH);
                prop_assert!(!note.as_str().chars().any(char::is_control));
                prop_assert_eq!(note.as_str().trim(), note.as_str());
            }
        }
    }
}
