//! The audit log: who did what and when, from which address. Sign-ins and
//! failed sign-ins, account and token changes, imports, exports, erasures,
//! sends, pauses, cancels and test sends each add one row; rows are never
//! changed. Admins read it at `/admin/audit` and export it as CSV.

mod queries;

use std::fmt;
use std::str::FromStr;

use crate::accounts::User;
use crate::store::{now_millis, Store};

pub use queries::AuditFilter;

/// What was done. The stored name (`as_str`) is part of the CSV export and
/// the page's filter, so a variant's name never changes once released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    SignIn,
    SignInFailed,
    SignOut,
    SignOutEverywhere,
    UserAdded,
    UserDisabled,
    UserEnabled,
    UserRemoved,
    PasswordChanged,
    TwoFactorOn,
    TwoFactorOff,
    RecoveryCodesRenewed,
    TokenCreated,
    TokenRevoked,
    SubscribersImported,
    SubscribersExported,
    SubscriberErased,
    IssueSent,
    IssuePaused,
    IssueResumed,
    IssueCancelled,
    IssueDuplicated,
    IssueDeleted,
    TestSent,
    AuditExported,
    FieldCreated,
    FieldChanged,
    FieldDeleted,
    SubscriberFieldsChanged,
    SegmentCreated,
    SegmentUpdated,
    SegmentDeleted,
}

impl AuditAction {
    pub const ALL: [AuditAction; 32] = [
        Self::SignIn,
        Self::SignInFailed,
        Self::SignOut,
        Self::SignOutEverywhere,
        Self::UserAdded,
        Self::UserDisabled,
        Self::UserEnabled,
        Self::UserRemoved,
        Self::PasswordChanged,
        Self::TwoFactorOn,
        Self::TwoFactorOff,
        Self::RecoveryCodesRenewed,
        Self::TokenCreated,
        Self::TokenRevoked,
        Self::SubscribersImported,
        Self::SubscribersExported,
        Self::SubscriberErased,
        Self::IssueSent,
        Self::IssuePaused,
        Self::IssueResumed,
        Self::IssueCancelled,
        Self::IssueDuplicated,
        Self::IssueDeleted,
        Self::TestSent,
        Self::AuditExported,
        Self::FieldCreated,
        Self::FieldChanged,
        Self::FieldDeleted,
        Self::SubscriberFieldsChanged,
        Self::SegmentCreated,
        Self::SegmentUpdated,
        Self::SegmentDeleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignIn => "sign_in",
            Self::SignInFailed => "sign_in_failed",
            Self::SignOut => "sign_out",
            Self::SignOutEverywhere => "sign_out_everywhere",
            Self::UserAdded => "user_added",
            Self::UserDisabled => "user_disabled",
            Self::UserEnabled => "user_enabled",
            Self::UserRemoved => "user_removed",
            Self::PasswordChanged => "password_changed",
            Self::TwoFactorOn => "two_factor_on",
            Self::TwoFactorOff => "two_factor_off",
            Self::RecoveryCodesRenewed => "recovery_codes_renewed",
            Self::TokenCreated => "token_created",
            Self::TokenRevoked => "token_revoked",
            Self::SubscribersImported => "subscribers_imported",
            Self::SubscribersExported => "subscribers_exported",
            Self::SubscriberErased => "subscriber_erased",
            Self::IssueSent => "issue_sent",
            Self::IssuePaused => "issue_paused",
            Self::IssueResumed => "issue_resumed",
            Self::IssueCancelled => "issue_cancelled",
            Self::IssueDuplicated => "issue_duplicated",
            Self::IssueDeleted => "issue_deleted",
            Self::TestSent => "test_sent",
            Self::AuditExported => "audit_exported",
            Self::FieldCreated => "field_created",
            Self::FieldChanged => "field_changed",
            Self::FieldDeleted => "field_deleted",
            Self::SubscriberFieldsChanged => "subscriber_fields_changed",
            Self::SegmentCreated => "segment_created",
            Self::SegmentUpdated => "segment_updated",
            Self::SegmentDeleted => "segment_deleted",
        }
    }

    /// How the page names it.
    pub fn label(self) -> &'static str {
        match self {
            Self::SignIn => "Signed in",
            Self::SignInFailed => "Sign-in failed",
            Self::SignOut => "Signed out",
            Self::SignOutEverywhere => "Signed out everywhere",
            Self::UserAdded => "Account added",
            Self::UserDisabled => "Account disabled",
            Self::UserEnabled => "Account enabled",
            Self::UserRemoved => "Account removed",
            Self::PasswordChanged => "Password changed",
            Self::TwoFactorOn => "Two-factor sign-in on",
            Self::TwoFactorOff => "Two-factor sign-in off",
            Self::RecoveryCodesRenewed => "Recovery codes renewed",
            Self::TokenCreated => "API token created",
            Self::TokenRevoked => "API token revoked",
            Self::SubscribersImported => "Subscribers imported",
            Self::SubscribersExported => "Subscribers exported",
            Self::SubscriberErased => "Subscriber erased",
            Self::IssueSent => "Issue sent",
            Self::IssuePaused => "Send paused",
            Self::IssueResumed => "Send resumed",
            Self::IssueCancelled => "Send cancelled",
            Self::IssueDuplicated => "Issue duplicated",
            Self::IssueDeleted => "Draft deleted",
            Self::TestSent => "Test sent",
            Self::AuditExported => "Audit log exported",
            Self::FieldCreated => "Custom field created",
            Self::FieldChanged => "Custom field changed",
            Self::FieldDeleted => "Custom field deleted",
            Self::SubscriberFieldsChanged => "Subscriber's fields changed",
            Self::SegmentCreated => "Segment created",
            Self::SegmentUpdated => "Segment changed",
            Self::SegmentDeleted => "Segment deleted",
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuditAction {
    type Err = UnknownAction;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|action| action.as_str() == raw)
            .ok_or(UnknownAction)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("no such audit action")]
pub struct UnknownAction;

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A signed-in editor or admin.
    Account { id: i64, email: String },
    /// A caller of the JSON API, by its token's id (as the tokens page lists it).
    Token { id: i64 },
    /// Someone at the server's shell (`herald …`).
    CommandLine,
    /// Nobody known: a failed sign-in names the address it tried as the target.
    Visitor,
}

impl From<&User> for Actor {
    fn from(user: &User) -> Self {
        Self::Account {
            id: user.id,
            email: user.email.clone(),
        }
    }
}

impl Actor {
    fn kind(&self) -> &'static str {
        match self {
            Self::Account { .. } => "account",
            Self::Token { .. } => "token",
            Self::CommandLine => "cli",
            Self::Visitor => "visitor",
        }
    }

    fn id(&self) -> Option<i64> {
        match self {
            Self::Account { id, .. } | Self::Token { id } => Some(*id),
            Self::CommandLine | Self::Visitor => None,
        }
    }

    fn label(&self) -> String {
        match self {
            Self::Account { email, .. } => email.clone(),
            Self::Token { id } => format!("API token #{id}"),
            Self::CommandLine => "command line".to_owned(),
            Self::Visitor => "visitor".to_owned(),
        }
    }
}

/// One thing done, about to be written down.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub actor: Actor,
    pub action: AuditAction,
    /// What it was done to: `issue 3`, an account's address, a file name.
    pub target: Option<String>,
    /// Counts or settings worth keeping: `512 rows`, `role editor`.
    pub detail: Option<String>,
    /// The client address, as the rate limits see it.
    pub ip: Option<String>,
}

impl AuditEntry {
    pub fn new(actor: Actor, action: AuditAction) -> Self {
        Self {
            actor,
            action,
            target: None,
            detail: None,
            ip: None,
        }
    }

    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn ip(mut self, ip: Option<String>) -> Self {
        self.ip = ip;
        self
    }
}

/// A written-down entry, as the page and the export show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: i64,
    pub at: i64,
    pub actor_kind: String,
    pub actor_label: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: Option<String>,
    pub ip: Option<String>,
}

impl AuditRecord {
    /// The page's wording for the action; an action a later release added
    /// shows by its stored name.
    pub fn action_label(&self) -> &str {
        self.action
            .parse::<AuditAction>()
            .map_or(self.action.as_str(), |action| action.label())
    }
}

#[derive(Clone)]
pub struct AuditLog {
    store: Store,
}

impl AuditLog {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Writes one entry. The action it records has already happened, so a
    /// failure here does not undo it: it is logged as an error for the
    /// operator, with what could not be recorded.
    pub async fn record(&self, entry: AuditEntry) {
        let written = async {
            let mut conn = self.store.pool().acquire().await?;
            queries::insert(&mut conn, &entry, now_millis()).await
        }
        .await;
        if let Err(error) = written {
            tracing::error!(
                %error,
                action = %entry.action,
                actor = %entry.actor.label(),
                "could not write to the audit log"
            );
        }
    }

    /// A page of entries matching `filter`, newest first, older than `before`
    /// (an id) when given.
    pub async fn page(
        &self,
        filter: &AuditFilter,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, sqlx::Error> {
        let mut conn = self.store.pool().acquire().await?;
        queries::page(&mut conn, filter, before, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_reads_back_from_its_stored_name() {
        for action in AuditAction::ALL {
            assert_eq!(action.as_str().parse::<AuditAction>().ok(), Some(action));
        }
        assert!("drop_table".parse::<AuditAction>().is_err());
    }

    #[test]
    fn stored_names_are_unique() {
        let mut names: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), AuditAction::ALL.len());
    }
}
