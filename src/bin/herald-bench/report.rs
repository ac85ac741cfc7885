//! The printed results: one line per run, the medians, and the targets.

use std::time::Duration;

/// Herald's share of the C yardstick's rate (issue 13): 0.6× on SQLite; on
/// PostgreSQL 0.5× with one worker and 0.8× with two or more…
pub fn target_ratio(on_postgres: bool, workers: usize) -> f64 {
    match (on_postgres, workers) {
        (false, _) => 0.6,
        (true, 1) => 0.5,
        (true, _) => 0.8,
    }
}
/// …in at most this much memory.
pub const TARGET_RSS_BYTES: u64 = 64 * 1024 * 1024;

/// One run's figures; Herald's are absent with `--smtp-source-only`.
#[derive(Debug, Clone, Copy)]
pub struct RunFigures {
    pub herald: Option<HeraldFigures>,
    pub smtp_source: Duration,
}

#[derive(Debug, Clone, Copy)]
pub struct HeraldFigures {
    pub wall: Duration,
    pub peak_rss_bytes: u64,
    pub herald_cpu: Duration,
    /// PostgreSQL's CPU time during the send; None on SQLite, which runs
    /// inside Herald's own process.
    pub database_cpu: Option<Duration>,
}

impl HeraldFigures {
    /// The database's part of the CPU time Herald and its database used.
    fn database_share(&self) -> Option<f64> {
        self.database_cpu.map(|database| {
            let total = database + self.herald_cpu;
            database.as_secs_f64() / total.as_secs_f64().max(1e-9)
        })
    }

    /// CPU time Herald (and PostgreSQL) spent per message, in microseconds:
    /// on a shared machine it moves far less with other load than the rate.
    fn cpu_per_message(&self, messages: u64) -> f64 {
        let total = self.herald_cpu + self.database_cpu.unwrap_or_default();
        total.as_secs_f64() * 1e6 / (messages.max(1) as f64)
    }
}

pub struct Report {
    pub messages: u64,
    /// Whether the database's share of the CPU time is shown (PostgreSQL).
    pub database_cpu: bool,
    /// From [`target_ratio`].
    pub target_ratio: f64,
}

impl Report {
    fn rate(&self, wall: Duration) -> f64 {
        self.messages as f64 / wall.as_secs_f64().max(1e-9)
    }

    pub fn header(&self) -> String {
        let mut header = format!(
            "{:<7}{:>13}{:>9}{:>10}{:>19}{:>9}{:>8}{:>11}",
            "run",
            "herald msg/s",
            "wall",
            "peak RSS",
            "smtp-source msg/s",
            "wall",
            "ratio",
            "CPU µs/msg"
        );
        if self.database_cpu {
            header.push_str(&format!("{:>13}", "DB CPU share"));
        }
        header
    }

    /// The database's share of the CPU time, as a column, when it is shown.
    fn database_column(&self, share: Option<f64>) -> String {
        if !self.database_cpu {
            return String::new();
        }
        match share {
            Some(share) => format!("{:>12.0}%", share * 100.0),
            None => format!("{:>13}", "-"),
        }
    }

    pub fn line(&self, label: &str, run: &RunFigures) -> String {
        let source_rate = self.rate(run.smtp_source);
        let (herald_rate, wall, rss, ratio, cpu) = match run.herald {
            Some(h) => {
                let rate = self.rate(h.wall);
                (
                    thousands(rate),
                    seconds(h.wall),
                    megabytes(h.peak_rss_bytes),
                    format!("{:.2}", rate / source_rate),
                    format!("{:.0}", h.cpu_per_message(self.messages)),
                )
            }
            None => ("-".into(), "-".into(), "-".into(), "-".into(), "-".into()),
        };
        format!(
            "{label:<7}{herald_rate:>13}{wall:>9}{rss:>10}{:>19}{:>9}{ratio:>8}{cpu:>11}{}",
            thousands(source_rate),
            seconds(run.smtp_source),
            self.database_column(run.herald.and_then(|h| h.database_share())),
        )
    }

    /// The median of each column over `runs`, as one more line; the ratio is
    /// the median of the runs' ratios, each taken under the same conditions.
    pub fn median_line(&self, runs: &[RunFigures]) -> String {
        let smtp_source = median_duration(runs.iter().map(|r| r.smtp_source).collect());
        let heralds: Vec<HeraldFigures> = runs.iter().filter_map(|r| r.herald).collect();
        if heralds.is_empty() {
            return self.line(
                "median",
                &RunFigures {
                    herald: None,
                    smtp_source,
                },
            );
        }
        let wall = median_duration(heralds.iter().map(|h| h.wall).collect());
        let rss = median(heralds.iter().map(|h| h.peak_rss_bytes as f64).collect());
        let ratio = self.median_ratio(runs);
        let shares: Vec<f64> = heralds
            .iter()
            .filter_map(HeraldFigures::database_share)
            .collect();
        let share = (!shares.is_empty()).then(|| median(shares));
        let cpu = median(
            heralds
                .iter()
                .map(|h| h.cpu_per_message(self.messages))
                .collect(),
        );
        format!(
            "{:<7}{:>13}{:>9}{:>10}{:>19}{:>9}{:>8}{:>11}{}",
            "median",
            thousands(self.rate(wall)),
            seconds(wall),
            megabytes(rss as u64),
            thousands(self.rate(smtp_source)),
            seconds(smtp_source),
            format!("{ratio:.2}"),
            format!("{cpu:.0}"),
            self.database_column(share)
        )
    }

    pub fn median_ratio(&self, runs: &[RunFigures]) -> f64 {
        median(
            runs.iter()
                .filter_map(|r| {
                    r.herald
                        .map(|h| r.smtp_source.as_secs_f64() / h.wall.as_secs_f64().max(1e-9))
                })
                .collect(),
        )
    }

    /// The verdict on the targets, and whether both were met.
    pub fn targets(&self, runs: &[RunFigures]) -> (String, bool) {
        let rss: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.herald.map(|h| h.peak_rss_bytes as f64))
            .collect();
        if rss.is_empty() {
            return ("targets: not checked (Herald did not run)".into(), true);
        }
        let ratio = self.median_ratio(runs);
        let rss = median(rss) as u64;
        let ratio_met = ratio >= self.target_ratio;
        let rss_met = rss <= TARGET_RSS_BYTES;
        let verdict = |met: bool| if met { "met" } else { "MISSED" };
        (
            format!(
                "targets: herald ≥ {}× smtp-source: {} ({ratio:.2}×); \
                 peak RSS ≤ {}: {} ({})",
                self.target_ratio,
                verdict(ratio_met),
                megabytes(TARGET_RSS_BYTES),
                verdict(rss_met),
                megabytes(rss)
            ),
            ratio_met && rss_met,
        )
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}

fn median_duration(values: Vec<Duration>) -> Duration {
    Duration::from_secs_f64(median(values.iter().map(Duration::as_secs_f64).collect()).max(0.0))
}

pub fn seconds(duration: Duration) -> String {
    format!("{:.2} s", duration.as_secs_f64())
}

pub fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
}

pub fn kilobytes(bytes: u64) -> String {
    format!("{:.1} KB", bytes as f64 / 1024.0)
}

/// `25104.7` as `25,105`.
pub fn thousands(value: f64) -> String {
    // Rates and counts far below i64::MAX; the cast saturates anyway.
    herald::format::thousands(value.max(0.0).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(25_104.7), "25,105");
        assert_eq!(thousands(1_000_000.0), "1,000,000");
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
    }
}
