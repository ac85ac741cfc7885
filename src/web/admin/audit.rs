//! `/admin/audit`: the audit log for admins, filtered by action, actor and
//! dates, a page at a time, and `/admin/audit.csv` with the same filters.

use actix_web::http::{header, StatusCode};
use actix_web::{get, web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;
use time::macros::format_description;

use super::auth::{AdminContext, AdminOnly};
use crate::audit::{AuditAction, AuditEntry, AuditFilter, AuditRecord};
use crate::format::spreadsheet_safe;
use crate::store::timestamps;
use crate::web::error::WebError;
use crate::web::pages::html;
use crate::web::AppState;

const PAGE_SIZE: i64 = 100;
/// Rows read at a time for the export.
const EXPORT_CHUNK: i64 = 1_000;
const DAY_MILLIS: i64 = 24 * 60 * 60 * 1_000;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(audit_page).service(audit_csv);
}

/// The filter as typed into the form; every field may be empty.
#[derive(Debug, Default, Deserialize)]
struct FilterParams {
    #[serde(default)]
    action: String,
    #[serde(default)]
    actor: String,
    /// `YYYY-MM-DD`, UTC, inclusive.
    #[serde(default)]
    from: String,
    /// `YYYY-MM-DD`, UTC, inclusive.
    #[serde(default)]
    to: String,
    #[serde(default)]
    before: String,
}

/// A filter field that cannot be used, named for the form.
struct BadField {
    field: &'static str,
    problem: String,
}

fn day_start(field: &'static str, raw: &str) -> Result<Option<i64>, BadField> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let date =
        time::Date::parse(raw, format_description!("[year]-[month]-[day]")).map_err(|_| {
            BadField {
                field,
                problem: format!("{raw:?} is not a date like 2026-11-28"),
            }
        })?;
    Ok(Some(date.midnight().assume_utc().unix_timestamp() * 1_000))
}

impl FilterParams {
    fn filter(&self) -> Result<AuditFilter, BadField> {
        let action = match self.action.trim() {
            "" => None,
            raw => Some(raw.parse::<AuditAction>().map_err(|_| BadField {
                field: "action",
                problem: format!("{raw:?} is not an action of the audit log"),
            })?),
        };
        let actor = Some(self.actor.trim().to_owned()).filter(|a| !a.is_empty());
        let since = day_start("from", &self.from)?;
        let until = day_start("to", &self.to)?.map(|start| start + DAY_MILLIS);
        if let (Some(since), Some(until)) = (since, until) {
            if until <= since {
                return Err(BadField {
                    field: "to",
                    problem: "the end date is before the start date".to_owned(),
                });
            }
        }
        Ok(AuditFilter {
            action,
            actor,
            since,
            until,
        })
    }

    fn before(&self) -> Option<i64> {
        self.before.trim().parse().ok()
    }

    /// The query string of the filter, for the next page and the export.
    fn query(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("action", self.action.trim())
            .append_pair("actor", self.actor.trim())
            .append_pair("from", self.from.trim())
            .append_pair("to", self.to.trim())
            .finish()
    }
}

struct ActionChoice {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

struct AuditRow {
    when: String,
    actor: String,
    action: String,
    target: String,
    detail: String,
    ip: String,
}

impl From<&AuditRecord> for AuditRow {
    fn from(record: &AuditRecord) -> Self {
        Self {
            when: timestamps::date_time(record.at),
            actor: record.actor_label.clone(),
            action: record.action_label().to_owned(),
            target: record.target.clone().unwrap_or_default(),
            detail: record.detail.clone().unwrap_or_default(),
            ip: record.ip.clone().unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage<'a> {
    ctx: AdminContext,
    actions: Vec<ActionChoice>,
    params: &'a FilterParams,
    rows: Vec<AuditRow>,
    query: String,
    older: Option<i64>,
    error: Option<BadField>,
}

#[get("/audit")]
#[tracing::instrument(name = "audit_page", skip_all)]
async fn audit_page(
    state: web::Data<AppState>,
    me: AdminOnly,
    params: web::Query<FilterParams>,
) -> Result<HttpResponse, WebError> {
    let params = params.into_inner();
    let (status, rows, older, error) = match params.filter() {
        Ok(filter) => {
            let records = state
                .audit
                .page(&filter, params.before(), PAGE_SIZE + 1)
                .await?;
            let older = (records.len() as i64 > PAGE_SIZE)
                .then(|| records.get(PAGE_SIZE as usize - 1).map(|r| r.id))
                .flatten();
            let rows = records
                .iter()
                .take(PAGE_SIZE as usize)
                .map(AuditRow::from)
                .collect();
            (StatusCode::OK, rows, older, None)
        }
        Err(bad) => (StatusCode::BAD_REQUEST, Vec::new(), None, Some(bad)),
    };
    let chosen = params.action.trim().to_owned();
    html(
        status,
        &AuditPage {
            ctx: me.0.context(&state, "audit"),
            actions: AuditAction::ALL
                .into_iter()
                .map(|action| ActionChoice {
                    value: action.as_str(),
                    label: action.label(),
                    selected: action.as_str() == chosen,
                })
                .collect(),
            query: params.query(),
            params: &params,
            rows,
            older,
            error,
        },
    )
}

#[get("/audit.csv")]
#[tracing::instrument(name = "audit_export", skip_all)]
async fn audit_csv(
    req: HttpRequest,
    state: web::Data<AppState>,
    me: AdminOnly,
    params: web::Query<FilterParams>,
) -> Result<HttpResponse, WebError> {
    let filter = match params.filter() {
        Ok(filter) => filter,
        Err(bad) => {
            return Ok(HttpResponse::BadRequest()
                .content_type("text/plain; charset=utf-8")
                .body(format!("{}: {}\n", bad.field, bad.problem)))
        }
    };
    let mut records = Vec::new();
    let mut before = None;
    loop {
        let chunk = state.audit.page(&filter, before, EXPORT_CHUNK).await?;
        let full = chunk.len() as i64 == EXPORT_CHUNK;
        before = chunk.last().map(|record| record.id);
        records.extend(chunk);
        if !full {
            break;
        }
    }
    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record([
        "time",
        "actor_kind",
        "actor",
        "action",
        "target",
        "detail",
        "ip",
    ])?;
    for record in &records {
        csv.write_record([
            timestamps::rfc3339(record.at).as_str(),
            &record.actor_kind,
            &spreadsheet_safe(&record.actor_label),
            &record.action,
            &spreadsheet_safe(record.target.as_deref().unwrap_or_default()),
            &spreadsheet_safe(record.detail.as_deref().unwrap_or_default()),
            record.ip.as_deref().unwrap_or_default(),
        ])?;
    }
    let body = csv
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    state
        .record_audit(
            &req,
            AuditEntry::new(me.0.actor(), AuditAction::AuditExported).detail(params.query()),
        )
        .await;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"herald-audit.csv\"",
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}
