//! Showing the Unix-millisecond timestamps every table holds.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::OffsetDateTime;

fn at(millis: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `2026-11-27`, UTC.
pub fn date(millis: i64) -> String {
    at(millis)
        .format(format_description!("[year]-[month]-[day]"))
        .unwrap_or_default()
}

/// `2026-11-27 21:05 UTC`.
pub fn date_time(millis: i64) -> String {
    at(millis)
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute] UTC"
        ))
        .unwrap_or_default()
}

/// `21:05:09 UTC`.
pub fn time_of_day(millis: i64) -> String {
    at(millis)
        .format(format_description!("[hour]:[minute]:[second] UTC"))
        .unwrap_or_default()
}

/// `2026-11-27T21:05:00Z`, for feeds and the API.
pub fn rfc3339(millis: i64) -> String {
    at(millis).format(&Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date_time(90_061_000), "1970-01-02 01:01 UTC");
        assert_eq!(time_of_day(90_061_000), "01:01:01 UTC");
        assert_eq!(rfc3339(1_000), "1970-01-01T00:00:01Z");
    }
}
