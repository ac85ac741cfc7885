//! What came back from the mail Herald sent, counted: per issue and per
//! receiving domain (sent, hard, soft and policy bounces, complaints,
//! unsubscribes), the policy bounces per domain admins watch, and the totals
//! behind `/metrics`. Read-only; its SQL is in `queries.rs`.

mod queries;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::store::recently_counted::RecentlyCounted;
use crate::store::{millis, now_millis, Store};

/// The domain an erased reader's rows count under: the address is gone.
pub const ERASED: &str = "(erased)";

/// How far back the policy bounces per domain look.
pub const POLICY_WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);

/// Domains listed by name in an issue report; the rest are summed in one row.
pub const DOMAINS_SHOWN: usize = 50;

/// One receiving domain's share of an issue (or the issue's totals).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainCounts {
    pub domain: String,
    pub sent: i64,
    pub hard: i64,
    pub soft: i64,
    pub policy: i64,
    pub complaints: i64,
    pub unsubscribes: i64,
}

impl DomainCounts {
    fn add(&mut self, other: &Self) {
        self.sent += other.sent;
        self.hard += other.hard;
        self.soft += other.soft;
        self.policy += other.policy;
        self.complaints += other.complaints;
        self.unsubscribes += other.unsubscribes;
    }
}

/// An issue's report: its totals, and its domains, most copies sent first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssueReport {
    pub issue_id: i64,
    pub totals: DomainCounts,
    pub domains: Vec<DomainCounts>,
}

impl IssueReport {
    /// The first `shown` domains, and the others summed as one row named
    /// "other domains" (none when nothing is left over).
    pub fn top_domains(&self, shown: usize) -> (Vec<DomainCounts>, Option<DomainCounts>) {
        let listed = self.domains.iter().take(shown).cloned().collect();
        let rest: Vec<&DomainCounts> = self.domains.iter().skip(shown).collect();
        if rest.is_empty() {
            return (listed, None);
        }
        let mut other = DomainCounts {
            domain: format!("{} other domains", rest.len()),
            ..DomainCounts::default()
        };
        for row in rest {
            other.add(row);
        }
        (listed, Some(other))
    }
}

/// A receiving domain's policy bounces over `POLICY_WINDOW`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyBounces {
    pub domain: String,
    pub count: i64,
}

/// The row of `domain` (None: an erased reader's) in `by_domain`.
fn row(
    by_domain: &mut BTreeMap<String, DomainCounts>,
    domain: Option<String>,
) -> &mut DomainCounts {
    let domain = domain.unwrap_or_else(|| ERASED.to_owned());
    by_domain
        .entry(domain.clone())
        .or_insert_with(|| DomainCounts {
            domain,
            ..DomainCounts::default()
        })
}

#[derive(Debug, Clone)]
pub struct Reports {
    store: Store,
    /// The reports of issues going out, counted at most a few seconds ago.
    during_send: Arc<RecentlyCounted<i64, IssueReport>>,
}

impl Reports {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            during_send: Arc::default(),
        }
    }

    /// The report of issue `issue_id`; None when there is no such issue.
    /// While the issue is going out, the report can be a few seconds old
    /// (see `store::recently_counted`); before and after, it is counted at
    /// each call.
    #[tracing::instrument(skip(self))]
    pub async fn issue(&self, issue_id: i64) -> Result<Option<IssueReport>, sqlx::Error> {
        let status = {
            let mut conn = self.store.pool().acquire().await?;
            queries::issue_status(&mut conn, issue_id).await?
        };
        match status.as_deref() {
            None => Ok(None),
            Some("sending") => {
                let reports = self.clone();
                self.during_send
                    .get(issue_id, || async move { reports.count(issue_id).await })
                    .await
                    .map(Some)
            }
            Some(_) => {
                self.during_send.forget(issue_id);
                self.count(issue_id).await.map(Some)
            }
        }
    }

    /// Counts the report of `issue_id` from every copy, report and
    /// unsubscribe of the issue.
    async fn count(&self, issue_id: i64) -> Result<IssueReport, sqlx::Error> {
        let dialect = self.store.dialect();
        let mut conn = self.store.pool().acquire().await?;
        let mut by_domain: BTreeMap<String, DomainCounts> = BTreeMap::new();
        for (domain, sent) in queries::sent_by_domain(&mut conn, dialect, issue_id).await? {
            row(&mut by_domain, domain).sent += sent;
        }
        for (domain, class, count) in
            queries::reports_by_domain(&mut conn, dialect, issue_id).await?
        {
            let counts = row(&mut by_domain, domain);
            match class.as_str() {
                "hard" => counts.hard += count,
                "soft" => counts.soft += count,
                "policy" => counts.policy += count,
                "complaint" => counts.complaints += count,
                _ => {}
            }
        }
        for (domain, count) in queries::unsubscribes_by_domain(&mut conn, dialect, issue_id).await?
        {
            row(&mut by_domain, domain).unsubscribes += count;
        }
        let mut domains: Vec<DomainCounts> = by_domain.into_values().collect();
        // Most copies first; the erased readers' row last, it names no domain.
        domains.sort_by(|a, b| {
            (a.domain == ERASED, -a.sent, &a.domain).cmp(&(b.domain == ERASED, -b.sent, &b.domain))
        });
        let mut totals = DomainCounts {
            domain: "all domains".to_owned(),
            ..DomainCounts::default()
        };
        for row in &domains {
            totals.add(row);
        }
        Ok(IssueReport {
            issue_id,
            totals,
            domains,
        })
    }

    /// Policy bounces per receiving domain over the last 30 days, most first.
    #[tracing::instrument(skip(self))]
    pub async fn policy_bounces_by_domain(
        &self,
        limit: i64,
    ) -> Result<Vec<PolicyBounces>, sqlx::Error> {
        let mut conn = self.store.pool().acquire().await?;
        let since = now_millis() - millis(POLICY_WINDOW);
        Ok(
            queries::policy_by_domain(&mut conn, self.store.dialect(), since, limit)
                .await?
                .into_iter()
                .map(|(domain, count)| PolicyBounces {
                    domain: domain.unwrap_or_else(|| ERASED.to_owned()),
                    count,
                })
                .collect(),
        )
    }

    /// Every bounce and complaint Herald took in, by class (hard, soft,
    /// policy, complaint), whichever channel and process took it in.
    pub async fn totals_by_class(&self) -> Result<Vec<(String, i64)>, sqlx::Error> {
        let mut conn = self.store.pool().acquire().await?;
        queries::totals_by_class(&mut conn).await
    }

    /// Records that a reader left with the unsubscribe link of their copy
    /// of `issue_id`, if they were sent one: the link's `issue` is not
    /// signed, so a number that names no copy of theirs is not believed.
    pub async fn record_unsubscribe(
        conn: &mut sqlx::AnyConnection,
        issue_id: i64,
        subscriber_id: i64,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        queries::record_unsubscribe(conn, issue_id, subscriber_id, now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain(name: &str, sent: i64) -> DomainCounts {
        DomainCounts {
            domain: name.to_owned(),
            sent,
            hard: 1,
            ..DomainCounts::default()
        }
    }

    #[test]
    fn domains_past_the_shown_ones_are_summed_in_one_row() {
        let report = IssueReport {
            issue_id: 1,
            totals: DomainCounts::default(),
            domains: vec![
                domain("a.example", 5),
                domain("b.example", 3),
                domain("c.example", 2),
            ],
        };
        let (listed, other) = report.top_domains(1);
        assert_eq!(listed, vec![domain("a.example", 5)]);
        let other = other.expect("a row for the rest");
        assert_eq!(
            (other.domain.as_str(), other.sent, other.hard),
            ("2 other domains", 5, 2)
        );
        assert_eq!(report.top_domains(3).1, None);
    }
}
