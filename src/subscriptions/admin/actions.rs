//! What an admin (or an API client) does to one subscriber: take them off the
//! list, send the confirmation again, or add one. Each reuses the lifecycle
//! step of the signup side and names the actor in the history.

use super::super::admin_queries::{self, NewSubscriberRow, SubscriberRow};
use super::super::tokens::LinkKey;
use super::super::Subscriptions;
use super::super::{queries, SignupOutcome, SubscriberEmail, SubscriberName, SubscriberStatus};
use super::{Actor, AdminError, Admission};
use crate::fields::{self, CheckedValues};
use crate::store::now_millis;
use crate::suppressions;
use crate::topics::{join_defaults, MembershipSource};

impl Subscriptions {
    /// Takes a subscriber off the list, as their own unsubscribe link would.
    /// False when they were not on it (already unsubscribed or bounced).
    #[tracing::instrument(skip_all)]
    pub async fn unsubscribe_by(&self, id: i64, actor: &Actor) -> Result<bool, AdminError> {
        let now = now_millis();
        let mut tx = self.store.begin_write().await?;
        let subscriber = queries::find_by_id(&mut tx, id)
            .await?
            .ok_or(AdminError::NotFound)?;
        let left = Self::take_off_list(&mut tx, &subscriber, now).await?;
        if left {
            let note = format!("by {}", actor.label);
            admin_queries::record_events(
                &mut tx,
                self.store.dialect(),
                &[id],
                "unsubscribed",
                &actor.origin,
                Some(&note),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        if left {
            self.departed(id);
        }
        Ok(left)
    }

    /// Sends a pending subscriber a new confirmation link, within the same
    /// per-address limits as signing up again (the limits protect the inbox
    /// owner, whoever presses the button).
    #[tracing::instrument(skip_all)]
    pub async fn resend_confirmation(
        &self,
        id: i64,
        actor: &Actor,
    ) -> Result<SignupOutcome, AdminError> {
        let now = now_millis();
        let mut tx = self.store.begin_write().await?;
        let subscriber = queries::find_by_id(&mut tx, id)
            .await?
            .ok_or(AdminError::NotFound)?;
        if subscriber.status != SubscriberStatus::Pending {
            return Err(AdminError::NotPending);
        }
        let outcome = self.queue_confirmation(&mut tx, id, now).await?;
        if outcome == SignupOutcome::ConfirmationQueued {
            let note = format!("by {}", actor.label);
            admin_queries::record_events(
                &mut tx,
                self.store.dialect(),
                &[id],
                "confirmation_resent",
                &actor.origin,
                Some(&note),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        if outcome == SignupOutcome::ConfirmationQueued {
            self.signals.mail_queued();
        }
        Ok(outcome)
    }

    /// Adds one new subscriber: pending with a confirmation mail, or confirmed
    /// with the consent note kept in the history. An address already on the
    /// list (in any state) is left alone.
    #[tracing::instrument(skip_all)]
    pub async fn add(
        &self,
        email: &SubscriberEmail,
        name: Option<&SubscriberName>,
        values: &CheckedValues,
        admission: &Admission,
        actor: &Actor,
    ) -> Result<SubscriberRow, AdminError> {
        let now = now_millis();
        let mut tx = self.store.begin_write().await?;
        let already = || AdminError::AlreadyListed(email.to_string());
        if queries::find_by_email(&mut tx, email).await?.is_some() {
            return Err(already());
        }
        if let Some(hit) = suppressions::check_in(&mut tx, &self.key, email).await? {
            return Err(AdminError::Suppressed {
                email: email.to_string(),
                kind: hit.kind,
                entry_id: hit.entry_id,
                reason: hit.reason,
            });
        }
        let link_key = LinkKey::generate();
        let row = NewSubscriberRow {
            email: email.as_str(),
            name: name.map(SubscriberName::as_str),
            status: admission.status(),
            created_at: now,
            link_key: link_key.as_str(),
        };
        let inserted =
            admin_queries::insert_subscribers(&mut tx, self.store.dialect(), &[row]).await?;
        let Some(&id) = inserted.first() else {
            return Err(already());
        };
        let dialect = self.store.dialect();
        let topics = join_defaults(&mut tx, dialect, &[id], MembershipSource::Admin, now).await?;
        fields::write_values(&mut tx, dialect, id, values).await?;
        let event = ("added", admission.note(), topics.as_deref());
        admin_queries::record_events_about(&mut tx, dialect, &[id], event, &actor.origin, now)
            .await?;
        if *admission == Admission::Pending {
            self.send_confirmation(&mut tx, id, now).await?;
        }
        tx.commit().await?;
        if *admission == Admission::Pending {
            self.signals.mail_queued();
        }
        Ok(SubscriberRow {
            id,
            email: email.to_string(),
            name: name.map(ToString::to_string),
            status: admission.status(),
            created_at: now,
        })
    }

    /// Sets and removes a subscriber's custom field values, with a
    /// `fields_changed` event naming the fields and who changed them.
    #[tracing::instrument(skip_all)]
    pub async fn set_fields(
        &self,
        id: i64,
        values: &CheckedValues,
        keys: &str,
        actor: &Actor,
    ) -> Result<(), AdminError> {
        let now = now_millis();
        let dialect = self.store.dialect();
        let mut tx = self.store.begin_write().await?;
        queries::find_by_id(&mut tx, id)
            .await?
            .ok_or(AdminError::NotFound)?;
        if values.is_empty() {
            return Ok(());
        }
        fields::write_values(&mut tx, dialect, id, values).await?;
        let note = format!("{keys} by {}", actor.label);
        admin_queries::record_events(
            &mut tx,
            dialect,
            &[id],
            "fields_changed",
            &actor.origin,
            Some(&note),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
