//! `/admin`: the dashboard. Its figures count every subscriber and a month of
//! events; while an issue goes out they are counted at most a few seconds
//! ago (`store::recently_counted`), so that the page stays quick and leaves
//! the database to the send.

use actix_web::http::StatusCode;
use actix_web::{get, web, HttpResponse};
use askama::Template;

use super::auth::{AdminContext, SignedIn};
use super::checklist::{first_run, mail_to_files, Check, FirstRunFacts};
use super::issues;
use crate::reports::{PolicyBounces, Reports};
use crate::store::{now_millis, timestamps, Store};
use crate::subscriptions::stats::{subscriber_stats, SubscriberStats};
use crate::web::error::WebError;
use crate::web::pages::html;
use crate::web::AppState;

/// Domains listed with their policy refusals on the dashboard.
const POLICY_DOMAINS_SHOWN: i64 = 10;

/// What the dashboard counts from whole tables.
#[derive(Debug, Clone)]
pub struct DashboardFigures {
    stats: SubscriberStats,
    policy_bounces: Vec<PolicyBounces>,
    counted_at: i64,
}

async fn count(store: Store, reports: Reports) -> Result<DashboardFigures, sqlx::Error> {
    let stats = {
        let mut conn = store.pool().acquire().await?;
        subscriber_stats(&mut conn).await?
    };
    let policy_bounces = reports
        .policy_bounces_by_domain(POLICY_DOMAINS_SHOWN)
        .await?;
    Ok(DashboardFigures {
        stats,
        policy_bounces,
        counted_at: now_millis(),
    })
}

#[derive(Template)]
#[template(path = "admin/dashboard.html")]
struct DashboardPage {
    ctx: AdminContext,
    stats: SubscriberStats,
    latest_issues: Vec<issues::IssueRow>,
    /// Where mail goes while it is only written to files.
    mail_to_files: Option<String>,
    /// What is left to set up; empty once all is done, and then hidden.
    first_run: Vec<Check>,
    /// No subscriber yet: the checklist stands in for the rows of zeros.
    no_subscribers: bool,
    /// Admins only: receiving domains that refused mail on policy or
    /// reputation grounds lately, which no reader can fix.
    policy_bounces: Option<Vec<PolicyBounces>>,
    /// When the figures were counted, shown while an issue goes out (they
    /// are then counted every few seconds, not at each view).
    counted_at: Option<String>,
}

#[get("")]
#[tracing::instrument(name = "dashboard", skip_all)]
pub(super) async fn dashboard(
    state: web::Data<AppState>,
    me: SignedIn,
) -> Result<HttpResponse, WebError> {
    let counting = {
        let (store, reports) = (state.store.clone(), state.reports.clone());
        || count(store, reports)
    };
    let (figures, during_send) = if state.sends.any_sending().await? {
        (state.dashboard_figures.get((), counting).await?, true)
    } else {
        state.dashboard_figures.forget(());
        (counting().await?, false)
    };
    let latest_issues = issues::latest_issues(&state, 5).await?;
    let test_sent = crate::issues::Issues::new(state.store.clone())
        .any_test_sent()
        .await?;
    let stats = figures.stats;
    // Erased subscribers were subscribers once: the list is not new.
    let subscribers = stats.by_status.iter().map(|(_, n)| n).sum::<i64>() + stats.erased;
    let facts = FirstRunFacts {
        subscribers,
        test_sent,
        is_admin: me.user.is_admin(),
    };
    html(
        StatusCode::OK,
        &DashboardPage {
            ctx: me.context(&state, "dashboard"),
            first_run: first_run(&state, &facts),
            no_subscribers: subscribers == 0,
            mail_to_files: mail_to_files(&state),
            stats,
            latest_issues,
            policy_bounces: me.user.is_admin().then_some(figures.policy_bounces),
            counted_at: during_send.then(|| timestamps::time_of_day(figures.counted_at)),
        },
    )
}
