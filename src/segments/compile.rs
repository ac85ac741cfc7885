//! A filter to ONE parameterised SQL predicate over `subscribers s`, the
//! same text on SQLite and PostgreSQL. Every value a user gave is a bound
//! parameter (`$1`, `$2`, …); the SQL text holds only what this file wrote.
//! Memberships and activity are `EXISTS` sub-queries, which both engines
//! answer from the indexes on `subscriber_id` without joining rows in.
//!
//! Field conditions probe `subscriber_field_values` by (subscriber, field)
//! and compare `text_value` or `number_value`; a reader without a value has
//! no row, so "empty" is a `NOT EXISTS`.

use super::domain::{
    Combine, Condition, DateRange, FieldTest, Happened, Number, SegmentFilter, TopicTest,
};

/// A bound value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    Int(i64),
    Text(String),
    Real(Number),
}

/// `WHERE` text and the values of its placeholders, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compiled {
    pub sql: String,
    pub params: Vec<Param>,
}

impl Compiled {
    /// Binds the parameters to `query` in order.
    pub fn bind<'q>(
        &'q self,
        mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        for param in &self.params {
            query = match param {
                Param::Int(value) => query.bind(*value),
                Param::Text(value) => query.bind(value.as_str()),
                Param::Real(value) => query.bind(value.get()),
            };
        }
        query
    }
}

struct Builder {
    params: Vec<Param>,
    offset: usize,
}

impl Builder {
    fn int(&mut self, value: i64) -> String {
        self.params.push(Param::Int(value));
        format!("${}", self.offset + self.params.len())
    }

    fn text(&mut self, value: &str) -> String {
        self.params.push(Param::Text(value.to_owned()));
        format!("${}", self.offset + self.params.len())
    }

    fn real(&mut self, value: Number) -> String {
        self.params.push(Param::Real(value));
        format!("${}", self.offset + self.params.len())
    }

    fn list<T>(&mut self, values: &[T], mut one: impl FnMut(&mut Self, &T) -> String) -> String {
        let placeholders: Vec<String> = values.iter().map(|v| one(self, v)).collect();
        placeholders.join(", ")
    }
}

/// The predicate for `filter`; its placeholders start after `offset`
/// parameters the caller binds first.
pub fn compile(filter: &SegmentFilter, offset: usize) -> Compiled {
    let mut builder = Builder {
        params: Vec::new(),
        offset,
    };
    let parts: Vec<String> = filter
        .conditions()
        .iter()
        .map(|condition| predicate(&mut builder, condition))
        .collect();
    let joiner = match filter.combine() {
        Combine::All => " AND ",
        Combine::Any => " OR ",
    };
    let sql = if parts.len() == 1 {
        parts.join("")
    } else {
        parts
            .iter()
            .map(|p| format!("({p})"))
            .collect::<Vec<_>>()
            .join(joiner)
    };
    Compiled {
        sql,
        params: builder.params,
    }
}

fn predicate(b: &mut Builder, condition: &Condition) -> String {
    match condition {
        Condition::Status(statuses) => {
            let list = b.list(statuses, |b, s| b.text(s.as_str()));
            format!("s.status IN ({list})")
        }
        Condition::Topics(TopicTest::InAny, ids) => {
            let list = b.list(ids, |b, id| b.int(*id));
            format!("EXISTS ({} AND m.topic_id IN ({list}))", memberships())
        }
        Condition::Topics(TopicTest::InNone, ids) => {
            let list = b.list(ids, |b, id| b.int(*id));
            format!("NOT EXISTS ({} AND m.topic_id IN ({list}))", memberships())
        }
        // One probe of the (subscriber, topic) key per topic.
        Condition::Topics(TopicTest::InAll, ids) => ids
            .iter()
            .map(|id| format!("EXISTS ({} AND m.topic_id = {})", memberships(), b.int(*id)))
            .collect::<Vec<_>>()
            .join(" AND "),
        Condition::SignedUp(DateRange::Before(day)) => {
            format!("s.created_at < {}", b.int(day.start_millis()))
        }
        Condition::SignedUp(DateRange::After(day)) => {
            format!("s.created_at >= {}", b.int(day.end_millis()))
        }
        Condition::SignedUp(DateRange::Between(from, to)) => {
            let from = b.int(from.start_millis());
            let to = b.int(to.end_millis());
            format!("s.created_at >= {from} AND s.created_at < {to}")
        }
        Condition::Source(sources) => {
            let list = b.list(sources, |b, s| b.text(s.event_kind()));
            format!(
                "EXISTS (SELECT 1 FROM subscriber_events e \
                 WHERE e.subscriber_id = s.id AND e.kind IN ({list}))"
            )
        }
        Condition::Received(happened, since) => {
            let since = since
                .map(|day| format!(" AND d.sent_at >= {}", b.int(day.start_millis())))
                .unwrap_or_default();
            let exists = format!(
                "EXISTS (SELECT 1 FROM deliveries d \
                 WHERE d.subscriber_id = s.id AND d.status = 'sent'{since})"
            );
            negated(*happened, exists)
        }
        Condition::Bounced(happened, since) => {
            let reports = |since: &str| {
                format!(
                    "EXISTS (SELECT 1 FROM bounce_reports r \
                     WHERE r.subscriber_id = s.id AND r.class IN ('hard', 'soft'){since})"
                )
            };
            let bounced = match since {
                Some(day) => {
                    let since = format!(" AND r.received_at >= {}", b.int(day.start_millis()));
                    reports(&since)
                }
                None => format!("s.status = 'bounced' OR {}", reports("")),
            };
            match happened {
                Happened::Any => bounced,
                Happened::None => format!("NOT ({bounced})"),
            }
        }
        Condition::Field(field, test) => field_predicate(b, *field, test),
    }
}

fn field_predicate(b: &mut Builder, field: i64, test: &FieldTest) -> String {
    let probe = format!(
        "SELECT 1 FROM subscriber_field_values v WHERE v.subscriber_id = s.id AND v.field_id = {}",
        b.int(field)
    );
    let compare = match test {
        FieldTest::Empty => return format!("NOT EXISTS ({probe})"),
        FieldTest::NotEmpty => return format!("EXISTS ({probe})"),
        FieldTest::TextEq(text) => format!("v.text_value = {}", b.text(text)),
        FieldTest::TextIn(values) => {
            format!("v.text_value IN ({})", b.list(values, |b, v| b.text(v)))
        }
        // LIKE is case-blind on SQLite and not on PostgreSQL; lower() on both
        // sides makes them agree (for ASCII, all SQLite's lower() knows).
        FieldTest::Contains(text) => format!(
            "lower(v.text_value) LIKE {} ESCAPE '\\'",
            b.text(&format!("%{}%", like_escaped(&text.to_lowercase())))
        ),
        FieldTest::NumberEq(n) => format!("v.number_value = {}", b.real(*n)),
        FieldTest::Lt(n) => format!("v.number_value < {}", b.real(*n)),
        FieldTest::Gt(n) => format!("v.number_value > {}", b.real(*n)),
        FieldTest::NumberBetween(from, to) => {
            let from = b.real(*from);
            let to = b.real(*to);
            format!("v.number_value >= {from} AND v.number_value <= {to}")
        }
        // Dates are stored YYYY-MM-DD, which sorts as it reads.
        FieldTest::Before(day) => format!("v.text_value < {}", b.text(&day.to_string())),
        FieldTest::After(day) => format!("v.text_value > {}", b.text(&day.to_string())),
        FieldTest::DateBetween(from, to) => {
            let from = b.text(&from.to_string());
            let to = b.text(&to.to_string());
            format!("v.text_value >= {from} AND v.text_value <= {to}")
        }
        // Yes/no is stored as 1 or 0.
        FieldTest::Is(yes) => format!("v.number_value = {}", b.real(Number::flag(*yes))),
    };
    format!("EXISTS ({probe} AND {compare})")
}

/// `text` with LIKE's wildcards and the escape character taken literally.
fn like_escaped(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

fn memberships() -> &'static str {
    "SELECT 1 FROM subscriber_topics m WHERE m.subscriber_id = s.id"
}

fn negated(happened: Happened, exists: String) -> String {
    match happened {
        Happened::Any => exists,
        Happened::None => format!("NOT {exists}"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn compiled(value: serde_json::Value, offset: usize) -> Compiled {
        compile(&SegmentFilter::from_json(&value).expect("valid"), offset)
    }

    #[test]
    fn one_condition_needs_no_parentheses() {
        let c = compiled(
            json!({"conditions": [{"type": "status", "in": ["confirmed", "pending"]}]}),
            0,
        );
        assert_eq!(c.sql, "s.status IN ($1, $2)");
        assert_eq!(
            c.params,
            [
                Param::Text("confirmed".into()),
                Param::Text("pending".into())
            ]
        );
    }

    #[test]
    fn conditions_join_with_all_or_any_and_number_after_the_offset() {
        let c = compiled(
            json!({"match": "any", "conditions": [
                {"type": "topics", "op": "any", "topics": [2, 5]},
                {"type": "signed_up", "op": "between", "from": "2024-01-01", "to": "2024-01-31"},
            ]}),
            1,
        );
        assert_eq!(
            c.sql,
            "(EXISTS (SELECT 1 FROM subscriber_topics m WHERE m.subscriber_id = s.id AND m.topic_id IN ($2, $3))) \
             OR (s.created_at >= $4 AND s.created_at < $5)"
        );
        assert_eq!(
            c.params,
            [
                Param::Int(2),
                Param::Int(5),
                Param::Int(1_704_067_200_000),
                Param::Int(1_706_745_600_000),
            ]
        );
    }

    #[test]
    fn topics_all_and_none() {
        let c = compiled(
            json!({"conditions": [
                {"type": "topics", "op": "all", "topics": [1, 2]},
                {"type": "topics", "op": "none", "topics": [3]},
            ]}),
            0,
        );
        assert_eq!(
            c.sql,
            "(EXISTS (SELECT 1 FROM subscriber_topics m WHERE m.subscriber_id = s.id AND m.topic_id = $1) \
             AND EXISTS (SELECT 1 FROM subscriber_topics m WHERE m.subscriber_id = s.id AND m.topic_id = $2)) \
             AND (NOT EXISTS (SELECT 1 FROM subscriber_topics m WHERE m.subscriber_id = s.id AND m.topic_id IN ($3)))"
        );
    }

    #[test]
    fn activity_source_and_dates() {
        let c = compiled(
            json!({"conditions": [
                {"type": "received", "op": "none", "since": "2025-01-01"},
                {"type": "bounced"},
                {"type": "bounced", "op": "none", "since": "2025-01-01"},
                {"type": "source", "in": ["signup", "import"]},
                {"type": "signed_up", "op": "before", "date": "2024-01-01"},
                {"type": "signed_up", "op": "after", "date": "2024-01-01"},
            ]}),
            0,
        );
        assert_eq!(
            c.sql,
            "(NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.subscriber_id = s.id AND d.status = 'sent' AND d.sent_at >= $1)) \
             AND (s.status = 'bounced' OR EXISTS (SELECT 1 FROM bounce_reports r WHERE r.subscriber_id = s.id AND r.class IN ('hard', 'soft'))) \
             AND (NOT (EXISTS (SELECT 1 FROM bounce_reports r WHERE r.subscriber_id = s.id AND r.class IN ('hard', 'soft') AND r.received_at >= $2))) \
             AND (EXISTS (SELECT 1 FROM subscriber_events e WHERE e.subscriber_id = s.id AND e.kind IN ($3, $4))) \
             AND (s.created_at < $5) \
             AND (s.created_at >= $6)"
        );
        let jan_first = 1_735_689_600_000;
        assert_eq!(
            c.params,
            [
                Param::Int(jan_first),
                Param::Int(jan_first),
                Param::Text("signed_up".into()),
                Param::Text("imported".into()),
                Param::Int(1_704_067_200_000),
                Param::Int(1_704_067_200_000 + 86_400_000),
            ]
        );
    }

    #[test]
    fn user_text_never_reaches_the_sql() {
        // Whatever passes the parser, the SQL holds only placeholders.
        let c = compiled(
            json!({"conditions": [{"type": "status", "in": ["confirmed"]}]}),
            0,
        );
        assert!(!c.sql.contains("confirmed"));
    }

    #[test]
    fn field_conditions_probe_the_value_by_field() {
        let c = compiled(
            json!({"conditions": [
                {"type": "field", "field": 7, "op": "eq", "value": "Pro"},
                {"type": "field", "field": 8, "op": "between", "from": 10, "to": 20.5},
                {"type": "field", "field": 9, "op": "after", "date": "2024-01-31"},
                {"type": "field", "field": 10, "op": "is", "value": true},
                {"type": "field", "field": 7, "op": "empty"},
            ]}),
            0,
        );
        let probe = |n: usize| {
            format!("SELECT 1 FROM subscriber_field_values v WHERE v.subscriber_id = s.id AND v.field_id = ${n}")
        };
        assert_eq!(
            c.sql,
            format!(
                "(EXISTS ({} AND v.text_value = $2)) \
                 AND (EXISTS ({} AND v.number_value >= $4 AND v.number_value <= $5)) \
                 AND (EXISTS ({} AND v.text_value > $7)) \
                 AND (EXISTS ({} AND v.number_value = $9)) \
                 AND (NOT EXISTS ({}))",
                probe(1),
                probe(3),
                probe(6),
                probe(8),
                probe(10)
            )
        );
        let number = |n: f64| Param::Real(Number::parse(&json!(n)).expect("finite"));
        assert_eq!(
            c.params,
            [
                Param::Int(7),
                Param::Text("Pro".into()),
                Param::Int(8),
                number(10.0),
                number(20.5),
                Param::Int(9),
                Param::Text("2024-01-31".into()),
                Param::Int(10),
                number(1.0),
                Param::Int(7),
            ]
        );
    }

    #[test]
    fn contains_takes_wildcards_literally_and_ignores_case() {
        let c = compiled(
            json!({"conditions": [{"type": "field", "field": 3, "op": "contains", "value": "50%_Off\\"}]}),
            0,
        );
        assert!(
            c.sql
                .ends_with("AND lower(v.text_value) LIKE $2 ESCAPE '\\')"),
            "{}",
            c.sql
        );
        assert_eq!(c.params[1], Param::Text("%50\\%\\_off\\\\%".into()));
    }
}
