//! Placeholders for statements built with a variable number of values.

use super::Dialect;

/// Placeholders of bulk statements: numbered (`$1`) on PostgreSQL, anonymous
/// (`?`, bound in order) on SQLite. sqlx-sqlite asks SQLite for the name of
/// every numbered parameter, which SQLite finds by a linear scan, so a
/// statement with thousands of `$N` takes quadratic time: a million-row
/// import spent over a minute on it.
pub struct Placeholders {
    dialect: Dialect,
    count: usize,
}

impl Placeholders {
    pub fn new(dialect: Dialect) -> Self {
        Self { dialect, count: 0 }
    }

    pub fn one(&mut self) -> String {
        self.count += 1;
        match self.dialect {
            Dialect::Sqlite => "?".to_owned(),
            Dialect::Postgres => format!("${}", self.count),
        }
    }

    /// `(p, p, …)` for a row of `width` values.
    pub fn row(&mut self, width: usize) -> String {
        let row: Vec<String> = (0..width).map(|_| self.one()).collect();
        format!("({})", row.join(", "))
    }
}
