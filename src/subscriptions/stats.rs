//! Figures for the dashboard: subscribers by status and the last 30 days of
//! signups, confirmations and unsubscribes.

use sqlx::{AnyConnection, Row};

use crate::store::now_millis;

const DAY_MILLIS: i64 = 24 * 60 * 60 * 1000;
const DAYS_SHOWN: i64 = 30;

#[derive(Debug, Clone, Default)]
pub struct DayFigures {
    /// `YYYY-MM-DD`, UTC.
    pub date: String,
    pub signed_up: i64,
    pub confirmed: i64,
    pub unsubscribed: i64,
}

#[derive(Debug, Clone, Default)]
pub struct SubscriberStats {
    /// Every status, in lifecycle order, with its count (zero included).
    pub by_status: Vec<(&'static str, i64)>,
    /// Subscribers erased on request; only the count is kept.
    pub erased: i64,
    /// Newest day first.
    pub days: Vec<DayFigures>,
    pub total_signed_up: i64,
    pub total_confirmed: i64,
    pub total_unsubscribed: i64,
}

pub async fn subscriber_stats(conn: &mut AnyConnection) -> Result<SubscriberStats, sqlx::Error> {
    let counts = sqlx::query("SELECT status, COUNT(*) AS n FROM subscribers GROUP BY status")
        .fetch_all(&mut *conn)
        .await?;
    let mut by_status: Vec<(&'static str, i64)> =
        ["pending", "confirmed", "unsubscribed", "bounced"]
            .into_iter()
            .map(|status| (status, 0))
            .collect();
    for row in &counts {
        let status: String = row.try_get("status")?;
        if let Some(entry) = by_status.iter_mut().find(|(s, _)| *s == status) {
            entry.1 = row.try_get("n")?;
        }
    }
    let erased: i64 = sqlx::query("SELECT CAST(SUM(erased) AS BIGINT) AS n FROM erasure_counts")
        .fetch_one(&mut *conn)
        .await?
        .try_get::<Option<i64>, _>("n")?
        .unwrap_or(0);

    let today = now_millis().div_euclid(DAY_MILLIS);
    let first_day = today - (DAYS_SHOWN - 1);
    let rows = sqlx::query(
        "SELECT kind, at / $1 AS day, COUNT(*) AS n FROM subscriber_events \
         WHERE at >= $2 AND kind IN ('signed_up', 'confirmed', 'unsubscribed') \
         GROUP BY kind, at / $1",
    )
    .bind(DAY_MILLIS)
    .bind(first_day * DAY_MILLIS)
    .fetch_all(&mut *conn)
    .await?;
    let mut days: Vec<DayFigures> = (0..DAYS_SHOWN)
        .map(|back| DayFigures {
            date: civil_date(today - back),
            ..DayFigures::default()
        })
        .collect();
    for row in &rows {
        let day: i64 = row.try_get("day")?;
        let count: i64 = row.try_get("n")?;
        let kind: String = row.try_get("kind")?;
        let Some(figures) = usize::try_from(today - day)
            .ok()
            .and_then(|i| days.get_mut(i))
        else {
            continue;
        };
        match kind.as_str() {
            "signed_up" => figures.signed_up += count,
            "confirmed" => figures.confirmed += count,
            _ => figures.unsubscribed += count,
        }
    }
    Ok(SubscriberStats {
        by_status,
        erased,
        total_signed_up: days.iter().map(|d| d.signed_up).sum(),
        total_confirmed: days.iter().map(|d| d.confirmed).sum(),
        total_unsubscribed: days.iter().map(|d| d.unsubscribed).sum(),
        days,
    })
}

fn civil_date(day: i64) -> String {
    crate::store::timestamps::date(day * DAY_MILLIS)
}

#[cfg(test)]
mod tests {
    use super::civil_date;

    #[test]
    fn days_are_calendar_dates() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(11_016), "2000-02-29");
    }
}
