//! The report on the issue page, once the issue went out: per receiving
//! domain, copies sent, bounces by class, complaints and unsubscribes.

use crate::format::thousands;
use crate::reports::{DomainCounts, DOMAINS_SHOWN};
use crate::web::error::WebError;
use crate::web::AppState;

/// One row of the table, numbers already grouped by thousands.
#[derive(Debug, Clone)]
pub struct ReportRow {
    pub domain: String,
    pub sent: String,
    pub hard: String,
    pub soft: String,
    pub policy: String,
    pub complaints: String,
    pub unsubscribes: String,
}

impl From<&DomainCounts> for ReportRow {
    fn from(counts: &DomainCounts) -> Self {
        Self {
            domain: counts.domain.clone(),
            sent: thousands(counts.sent),
            hard: thousands(counts.hard),
            soft: thousands(counts.soft),
            policy: thousands(counts.policy),
            complaints: thousands(counts.complaints),
            unsubscribes: thousands(counts.unsubscribes),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ReportView {
    pub rows: Vec<ReportRow>,
    pub totals: ReportRow,
}

/// The report of issue `id`; None when there is no such issue.
pub async fn report_view(state: &AppState, id: i64) -> Result<Option<ReportView>, WebError> {
    let Some(report) = state.reports.issue(id).await? else {
        return Ok(None);
    };
    let (listed, other) = report.top_domains(DOMAINS_SHOWN);
    let rows = listed
        .iter()
        .chain(other.as_ref())
        .map(ReportRow::from)
        .collect();
    Ok(Some(ReportView {
        rows,
        totals: ReportRow::from(&report.totals),
    }))
}
