//! What a segment is made of. A filter is read from JSON (the API's body, the
//! stored column, the admin form's translation) into these types; once it
//! has the type it is well formed, and only the topics it names still have
//! to exist, which the store checks (`Segments::resolve`).
//!
//! One level: a list of conditions joined by `all` or `any`, no groups
//! inside groups. Every condition says which readers match; the compiler
//! turns each into one SQL predicate.

use std::fmt;

use serde_json::{json, Map, Value};
use time::{Date, Month};

use crate::subscriptions::SubscriberStatus;

pub const MAX_SEGMENT_NAME_LENGTH: usize = 80;
/// Enough for any filter a person writes; keeps a compiled query bounded.
pub const MAX_CONDITIONS: usize = 20;
/// Per condition: more values than this is a list, not a filter.
pub const MAX_VALUES: usize = 100;

const MILLIS_PER_DAY: i64 = 24 * 60 * 60 * 1000;

/// Why a filter cannot be used, naming the condition at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct FilterError {
    /// 1-based position of the condition, `None` for the filter as a whole.
    pub condition: Option<usize>,
    /// The condition's `type`, when it has a known one.
    pub kind: Option<&'static str>,
    pub reason: String,
}

impl FilterError {
    fn whole(reason: impl Into<String>) -> Self {
        Self {
            condition: None,
            kind: None,
            reason: reason.into(),
        }
    }

    fn at(index: usize, kind: Option<&'static str>, reason: impl Into<String>) -> Self {
        Self {
            condition: Some(index + 1),
            kind,
            reason: reason.into(),
        }
    }

    /// Where the error is, as the API's `field` names it: `filter`,
    /// `filter.conditions[2]` (1-based, as the message).
    pub fn field(&self) -> String {
        match self.condition {
            Some(n) => format!("filter.conditions[{n}]"),
            None => "filter".to_owned(),
        }
    }

    fn describe(&self) -> String {
        match (self.condition, self.kind) {
            (Some(n), Some(kind)) => format!("condition {n} ({kind}): {}", self.reason),
            (Some(n), None) => format!("condition {n}: {}", self.reason),
            _ => self.reason.clone(),
        }
    }
}

/// How the conditions combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// Readers who match every condition.
    All,
    /// Readers who match at least one.
    Any,
}

impl Combine {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Any => "any",
        }
    }
}

/// A day, `YYYY-MM-DD`, taken in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day(Date);

impl Day {
    /// Exactly `YYYY-MM-DD` with a real calendar date.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let bad = || format!("\"{raw}\" is not a date written YYYY-MM-DD");
        let raw_trimmed = raw.trim();
        let parts: Vec<&str> = raw_trimmed.split('-').collect();
        let [y, m, d] = parts.as_slice() else {
            return Err(bad());
        };
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return Err(bad());
        }
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if !(digits(y) && digits(m) && digits(d)) {
            return Err(bad());
        }
        let year: i32 = y.parse().map_err(|_| bad())?;
        let month: u8 = m.parse().map_err(|_| bad())?;
        let day: u8 = d.parse().map_err(|_| bad())?;
        let month = Month::try_from(month).map_err(|_| bad())?;
        Date::from_calendar_date(year, month, day)
            .map(Self)
            .map_err(|_| format!("{raw_trimmed} is not a day of the calendar"))
    }

    /// The first millisecond of the day, UTC, as `*_at` columns hold time.
    pub fn start_millis(self) -> i64 {
        self.0.midnight().assume_utc().unix_timestamp() * 1000
    }

    /// The first millisecond of the next day.
    pub fn end_millis(self) -> i64 {
        self.start_millis() + MILLIS_PER_DAY
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}",
            self.0.year(),
            u8::from(self.0.month()),
            self.0.day()
        )
    }
}

/// Which topics a reader is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicTest {
    /// In at least one of them.
    InAny,
    /// In every one of them.
    InAll,
    /// In none of them.
    InNone,
}

impl TopicTest {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InAny => "any",
            Self::InAll => "all",
            Self::InNone => "none",
        }
    }
}

/// When a reader's row was made (`subscribers.created_at`); whole days, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateRange {
    /// Before the day starts.
    Before(Day),
    /// After the day ends.
    After(Day),
    /// From the first day to the last, both included.
    Between(Day, Day),
}

/// How a reader first came onto the list, as their history records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// The signup form or `POST /subscriptions` (event `signed_up`).
    Signup,
    /// A CSV import, on the page or `herald subscribers import` (`imported`).
    Import,
    /// Added one at a time by an admin, on the page or through the API
    /// (`added`); Herald's history does not tell the two apart.
    Added,
}

impl Source {
    pub const ALL: [Source; 3] = [Self::Signup, Self::Import, Self::Added];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Signup => "signup",
            Self::Import => "import",
            Self::Added => "added",
        }
    }

    /// The `subscriber_events.kind` that records it.
    pub fn event_kind(self) -> &'static str {
        match self {
            Self::Signup => "signed_up",
            Self::Import => "imported",
            Self::Added => "added",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw.trim())
    }
}

/// Whether something happened to a reader (at all, or since a day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Happened {
    /// At least once.
    Any,
    /// Never.
    None,
}

impl Happened {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Any => "any",
            Self::None => "none",
        }
    }
}

/// A finite number, as a number field holds it (`f64` without NaN or the
/// infinities, so it compares equal to itself).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Number(f64);

impl Number {
    pub fn parse(value: &Value) -> Option<Self> {
        value.as_f64().filter(|n| n.is_finite()).map(Self)
    }

    /// How a yes/no value is stored: 1 or 0.
    pub fn flag(yes: bool) -> Self {
        Self(if yes { 1.0 } else { 0.0 })
    }

    pub fn get(self) -> f64 {
        self.0
    }
}

// Only finite values are built, and every finite f64 equals itself.
impl Eq for Number {}

/// What a field condition asks of a reader's value of the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldTest {
    /// Has no value.
    Empty,
    /// Has a value.
    NotEmpty,
    /// Text or choice equal to this.
    TextEq(String),
    /// Text or choice equal to one of these.
    TextIn(Vec<String>),
    /// Text containing this, ignoring ASCII case.
    Contains(String),
    /// Number equal to, below or above this.
    NumberEq(Number),
    Lt(Number),
    Gt(Number),
    /// Number from the first to the last, both included.
    NumberBetween(Number, Number),
    /// Date before or after this day (the day itself excluded).
    Before(Day),
    After(Day),
    /// Date from the first day to the last, both included.
    DateBetween(Day, Day),
    /// Yes/no set to yes (true) or no (false).
    Is(bool),
}

impl FieldTest {
    pub fn op(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::NotEmpty => "not_empty",
            Self::TextEq(_) | Self::NumberEq(_) => "eq",
            Self::TextIn(_) => "in",
            Self::Contains(_) => "contains",
            Self::Lt(_) => "lt",
            Self::Gt(_) => "gt",
            Self::NumberBetween(..) | Self::DateBetween(..) => "between",
            Self::Before(_) => "before",
            Self::After(_) => "after",
            Self::Is(_) => "is",
        }
    }

    /// Whether the test fits a field of `kind` (`text`, `number`, `date`,
    /// `yes_no`, `choice`); when it does not, the reason.
    pub fn check_kind(&self, kind: &str) -> Result<(), String> {
        let fits = match self {
            Self::Empty | Self::NotEmpty => kind != "yes_no",
            Self::TextEq(_) | Self::TextIn(_) => kind == "text" || kind == "choice",
            Self::Contains(_) => kind == "text",
            Self::NumberEq(_) | Self::Lt(_) | Self::Gt(_) | Self::NumberBetween(..) => {
                kind == "number"
            }
            Self::Before(_) | Self::After(_) | Self::DateBetween(..) => kind == "date",
            Self::Is(_) => kind == "yes_no",
        };
        if fits {
            return Ok(());
        }
        let ops = match kind {
            "text" => "eq, in, contains, empty or not_empty with text",
            "choice" => "eq or in with one of its choices, empty or not_empty",
            "number" => "eq, lt, gt or between with numbers, empty or not_empty",
            "date" => "before, after or between with dates written YYYY-MM-DD, empty or not_empty",
            _ => "is with true or false",
        };
        Err(format!(
            "\"{}\" with this value does not fit a {kind} field (it takes {ops})",
            self.op()
        ))
    }
}

/// One test a reader passes or not.
///
/// A field condition is parsed here without the field's definition; its
/// kind is checked where topics are (`Segments::resolve`), so a deleted
/// field, or a value of the wrong type, is refused with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Status is one of these.
    Status(Vec<SubscriberStatus>),
    /// Membership in topics, by id.
    Topics(TopicTest, Vec<i64>),
    /// Signup date.
    SignedUp(DateRange),
    /// How they came: any of these.
    Source(Vec<Source>),
    /// Was sent a copy of an issue (a delivery marked `sent`), optionally since a day.
    Received(Happened, Option<Day>),
    /// Bounced: a hard or soft bounce report (since a day, when given), or,
    /// with no day, the `bounced` status too.
    Bounced(Happened, Option<Day>),
    /// A custom field's value, by field id.
    Field(i64, FieldTest),
}

impl Condition {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Status(_) => "status",
            Self::Topics(..) => "topics",
            Self::SignedUp(_) => "signed_up",
            Self::Source(_) => "source",
            Self::Received(..) => "received",
            Self::Bounced(..) => "bounced",
            Self::Field(..) => "field",
        }
    }

    /// The topic ids it names.
    pub fn topic_ids(&self) -> &[i64] {
        match self {
            Self::Topics(_, ids) => ids,
            _ => &[],
        }
    }

    fn parse(index: usize, value: &Value) -> Result<Self, FilterError> {
        let Some(object) = value.as_object() else {
            return Err(FilterError::at(index, None, "a condition is a JSON object"));
        };
        let kind = match object.get("type").and_then(Value::as_str) {
            Some(kind) => kind,
            None => {
                return Err(FilterError::at(
                    index,
                    None,
                    "a condition needs a \"type\": status, topics, signed_up, source, received, bounced or field",
                ))
            }
        };
        let (kind, allowed): (&'static str, &[&str]) = match kind {
            "status" => ("status", &["type", "in"]),
            "topics" => ("topics", &["type", "op", "topics"]),
            "signed_up" => ("signed_up", &["type", "op", "date", "from", "to"]),
            "source" => ("source", &["type", "in"]),
            "received" => ("received", &["type", "op", "since"]),
            "bounced" => ("bounced", &["type", "op", "since"]),
            "field" => ("field", &["type", "field", "op", "value", "values", "date", "from", "to"]),
            other => {
                return Err(FilterError::at(
                    index,
                    None,
                    format!("there is no condition type \"{other}\"; the types are status, topics, signed_up, source, received, bounced and field"),
                ))
            }
        };
        let fail = |reason: String| FilterError::at(index, Some(kind), reason);
        if let Some(unknown) = object.keys().find(|key| !allowed.contains(&key.as_str())) {
            return Err(fail(format!(
                "\"{unknown}\" is not a member of this condition (it takes {})",
                allowed[1..]
                    .iter()
                    .map(|a| format!("\"{a}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let condition = match kind {
            "status" => {
                let names = strings(object, "in").map_err(fail)?;
                let mut statuses = Vec::new();
                for name in names {
                    let status: SubscriberStatus = name.trim().parse().map_err(|_| {
                        fail(format!(
                            "\"{name}\" is no status; the statuses are pending, confirmed, unsubscribed and bounced"
                        ))
                    })?;
                    if !statuses.contains(&status) {
                        statuses.push(status);
                    }
                }
                Self::Status(statuses)
            }
            "topics" => {
                let test = match op(object).map_err(fail)? {
                    Some("any") | None => TopicTest::InAny,
                    Some("all") => TopicTest::InAll,
                    Some("none") => TopicTest::InNone,
                    Some(other) => {
                        return Err(fail(format!("\"op\" is any, all or none, not \"{other}\"")))
                    }
                };
                let Some(list) = object.get("topics").and_then(Value::as_array) else {
                    return Err(fail("\"topics\" is a list of topic ids".into()));
                };
                let mut ids = Vec::new();
                for item in list {
                    let id = item
                        .as_i64()
                        .filter(|id| *id > 0)
                        .ok_or_else(|| fail(format!("{item} is not a topic id")))?;
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                check_count(ids.len(), "topics").map_err(fail)?;
                ids.sort_unstable();
                Self::Topics(test, ids)
            }
            "signed_up" => {
                let day = |member: &str| -> Result<Day, FilterError> {
                    match object.get(member).and_then(Value::as_str) {
                        Some(raw) => Day::parse(raw).map_err(|e| fail(format!("{member}: {e}"))),
                        None => Err(fail(format!("\"{member}\" is a date written YYYY-MM-DD"))),
                    }
                };
                match op(object).map_err(fail)? {
                    Some("before") => Self::SignedUp(DateRange::Before(day("date")?)),
                    Some("after") => Self::SignedUp(DateRange::After(day("date")?)),
                    Some("between") => {
                        let (from, to) = (day("from")?, day("to")?);
                        if to < from {
                            return Err(fail(format!("\"to\" ({to}) is before \"from\" ({from})")));
                        }
                        Self::SignedUp(DateRange::Between(from, to))
                    }
                    Some(other) => {
                        return Err(fail(format!(
                            "\"op\" is before, after or between, not \"{other}\""
                        )))
                    }
                    None => return Err(fail("\"op\" is before, after or between".into())),
                }
            }
            "source" => {
                let names = strings(object, "in").map_err(fail)?;
                let mut sources = Vec::new();
                for name in names {
                    let source = Source::parse(&name).ok_or_else(|| {
                        fail(format!(
                            "\"{name}\" is no source; the sources are signup, import and added"
                        ))
                    })?;
                    if !sources.contains(&source) {
                        sources.push(source);
                    }
                }
                sources.sort_unstable();
                Self::Source(sources)
            }
            "field" => {
                let field = object
                    .get("field")
                    .and_then(Value::as_i64)
                    .filter(|id| *id > 0)
                    .ok_or_else(|| fail("\"field\" is the id of a custom field".into()))?;
                Self::Field(field, field_test(object).map_err(fail)?)
            }
            _ => {
                let happened = match op(object).map_err(fail)? {
                    Some("any") | None => Happened::Any,
                    Some("none") => Happened::None,
                    Some(other) => {
                        return Err(fail(format!("\"op\" is any or none, not \"{other}\"")))
                    }
                };
                let since = match object.get("since") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(raw)) => {
                        Some(Day::parse(raw).map_err(|e| fail(format!("since: {e}")))?)
                    }
                    Some(_) => return Err(fail("\"since\" is a date written YYYY-MM-DD".into())),
                };
                if kind == "received" {
                    Self::Received(happened, since)
                } else {
                    Self::Bounced(happened, since)
                }
            }
        };
        Ok(condition)
    }

    fn to_json(&self) -> Value {
        match self {
            Self::Status(statuses) => json!({
                "type": "status",
                "in": statuses.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            }),
            Self::Topics(test, ids) => {
                json!({"type": "topics", "op": test.as_str(), "topics": ids})
            }
            Self::SignedUp(DateRange::Before(day)) => {
                json!({"type": "signed_up", "op": "before", "date": day.to_string()})
            }
            Self::SignedUp(DateRange::After(day)) => {
                json!({"type": "signed_up", "op": "after", "date": day.to_string()})
            }
            Self::SignedUp(DateRange::Between(from, to)) => json!({
                "type": "signed_up", "op": "between", "from": from.to_string(), "to": to.to_string(),
            }),
            Self::Source(sources) => json!({
                "type": "source",
                "in": sources.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            }),
            Self::Received(happened, since) | Self::Bounced(happened, since) => {
                let mut object = Map::new();
                object.insert("type".into(), self.kind().into());
                object.insert("op".into(), happened.as_str().into());
                if let Some(day) = since {
                    object.insert("since".into(), day.to_string().into());
                }
                Value::Object(object)
            }
            Self::Field(field, test) => {
                let mut object = Map::new();
                object.insert("type".into(), "field".into());
                object.insert("field".into(), (*field).into());
                object.insert("op".into(), test.op().into());
                let number = |n: &Number| json!(n.get());
                match test {
                    FieldTest::Empty | FieldTest::NotEmpty => {}
                    FieldTest::TextEq(text) | FieldTest::Contains(text) => {
                        object.insert("value".into(), text.clone().into());
                    }
                    FieldTest::TextIn(values) => {
                        object.insert("values".into(), json!(values));
                    }
                    FieldTest::NumberEq(n) | FieldTest::Lt(n) | FieldTest::Gt(n) => {
                        object.insert("value".into(), number(n));
                    }
                    FieldTest::NumberBetween(from, to) => {
                        object.insert("from".into(), number(from));
                        object.insert("to".into(), number(to));
                    }
                    FieldTest::Before(day) | FieldTest::After(day) => {
                        object.insert("date".into(), day.to_string().into());
                    }
                    FieldTest::DateBetween(from, to) => {
                        object.insert("from".into(), from.to_string().into());
                        object.insert("to".into(), to.to_string().into());
                    }
                    FieldTest::Is(yes) => {
                        object.insert("value".into(), (*yes).into());
                    }
                }
                Value::Object(object)
            }
        }
    }
}

/// The test of a `field` condition, from its `op` and values; which kinds
/// of field it fits is checked later, against the field.
fn field_test(object: &Map<String, Value>) -> Result<FieldTest, String> {
    let member = |name: &str| object.get(name).filter(|v| !v.is_null());
    let text = |name: &str| -> Result<String, String> {
        match member(name).and_then(Value::as_str) {
            Some(text) if !text.trim().is_empty() => Ok(text.trim().to_owned()),
            _ => Err(format!("\"{name}\" is a non-empty text")),
        }
    };
    let number = |name: &str| -> Result<Number, String> {
        member(name)
            .and_then(Number::parse)
            .ok_or_else(|| format!("\"{name}\" is a number"))
    };
    let day = |name: &str| -> Result<Day, String> {
        match member(name).and_then(Value::as_str) {
            Some(raw) => Day::parse(raw).map_err(|e| format!("{name}: {e}")),
            None => Err(format!("\"{name}\" is a date written YYYY-MM-DD")),
        }
    };
    let test = match op(object)? {
        Some("empty") => FieldTest::Empty,
        Some("not_empty") => FieldTest::NotEmpty,
        Some("eq") => match member("value") {
            Some(Value::String(_)) => FieldTest::TextEq(text("value")?),
            Some(Value::Number(_)) => FieldTest::NumberEq(number("value")?),
            _ => return Err("\"value\" is a text or a number".into()),
        },
        Some("in") => {
            let mut values = Vec::new();
            for name in strings(object, "values")? {
                let name = name.trim().to_owned();
                if name.is_empty() {
                    return Err("\"values\" holds an empty text".into());
                }
                if !values.contains(&name) {
                    values.push(name);
                }
            }
            FieldTest::TextIn(values)
        }
        Some("contains") => FieldTest::Contains(text("value")?),
        Some("lt") => FieldTest::Lt(number("value")?),
        Some("gt") => FieldTest::Gt(number("value")?),
        Some("between") => match member("from") {
            Some(Value::Number(_)) => {
                let (from, to) = (number("from")?, number("to")?);
                if to < from {
                    return Err(format!(
                        "\"to\" ({}) is below \"from\" ({})",
                        to.get(),
                        from.get()
                    ));
                }
                FieldTest::NumberBetween(from, to)
            }
            Some(Value::String(_)) => {
                let (from, to) = (day("from")?, day("to")?);
                if to < from {
                    return Err(format!("\"to\" ({to}) is before \"from\" ({from})"));
                }
                FieldTest::DateBetween(from, to)
            }
            _ => return Err("\"from\" and \"to\" are two numbers or two dates".into()),
        },
        Some("before") => FieldTest::Before(day("date")?),
        Some("after") => FieldTest::After(day("date")?),
        Some("is") => match member("value") {
            Some(Value::Bool(yes)) => FieldTest::Is(*yes),
            _ => return Err("\"value\" is true or false".into()),
        },
        Some(other) => {
            return Err(format!(
                "\"op\" is eq, in, contains, lt, gt, between, before, after, is, empty or not_empty, not \"{other}\""
            ))
        }
        None => {
            return Err(
                "\"op\" is eq, in, contains, lt, gt, between, before, after, is, empty or not_empty"
                    .into(),
            )
        }
    };
    Ok(test)
}

fn op(object: &Map<String, Value>) -> Result<Option<&str>, String> {
    match object.get("op") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(op)) => Ok(Some(op.trim())),
        Some(other) => Err(format!("\"op\" is a word, not {other}")),
    }
}

/// A non-empty list of strings under `member`.
fn strings(object: &Map<String, Value>, member: &str) -> Result<Vec<String>, String> {
    let Some(list) = object.get(member).and_then(Value::as_array) else {
        return Err(format!("\"{member}\" is a list of names"));
    };
    let names: Vec<String> = list
        .iter()
        .map(|item| {
            item.as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("{item} is not a name"))
        })
        .collect::<Result<_, _>>()?;
    check_count(names.len(), member)?;
    Ok(names)
}

fn check_count(len: usize, member: &str) -> Result<(), String> {
    if len == 0 {
        return Err(format!("\"{member}\" is empty: name at least one"));
    }
    if len > MAX_VALUES {
        return Err(format!("\"{member}\" names {len}; at most {MAX_VALUES}"));
    }
    Ok(())
}

/// A well-formed filter: 1 to [`MAX_CONDITIONS`] conditions joined one way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentFilter {
    combine: Combine,
    conditions: Vec<Condition>,
}

impl SegmentFilter {
    pub fn new(combine: Combine, conditions: Vec<Condition>) -> Result<Self, FilterError> {
        if conditions.is_empty() {
            return Err(FilterError::whole("a segment needs at least one condition"));
        }
        if conditions.len() > MAX_CONDITIONS {
            return Err(FilterError::whole(format!(
                "a segment has at most {MAX_CONDITIONS} conditions, this one has {}",
                conditions.len()
            )));
        }
        Ok(Self {
            combine,
            conditions,
        })
    }

    /// `{"match": "all"|"any", "conditions": [...]}`; `match` defaults to all.
    pub fn from_json(value: &Value) -> Result<Self, FilterError> {
        let Some(object) = value.as_object() else {
            return Err(FilterError::whole(
                "a filter is an object: {\"match\": \"all\", \"conditions\": [...]}",
            ));
        };
        if let Some(unknown) = object
            .keys()
            .find(|key| *key != "match" && *key != "conditions")
        {
            return Err(FilterError::whole(format!(
                "\"{unknown}\" is not a member of a filter (it takes \"match\" and \"conditions\")"
            )));
        }
        let combine = match object.get("match").map(|m| m.as_str().map(str::trim)) {
            None | Some(Some("all")) => Combine::All,
            Some(Some("any")) => Combine::Any,
            Some(_) => return Err(FilterError::whole("\"match\" is all or any")),
        };
        let Some(list) = object.get("conditions").and_then(Value::as_array) else {
            return Err(FilterError::whole("\"conditions\" is a list of conditions"));
        };
        if list.len() > MAX_CONDITIONS {
            return Err(FilterError::whole(format!(
                "a segment has at most {MAX_CONDITIONS} conditions, this one has {}",
                list.len()
            )));
        }
        let conditions = list
            .iter()
            .enumerate()
            .map(|(index, value)| Condition::parse(index, value))
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(combine, conditions)
    }

    /// Read back from the database, where only valid filters are written.
    pub fn from_stored(stored: &str) -> Result<Self, FilterError> {
        let value: Value = serde_json::from_str(stored)
            .map_err(|e| FilterError::whole(format!("the stored filter is not JSON: {e}")))?;
        Self::from_json(&value)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "match": self.combine.as_str(),
            "conditions": self.conditions.iter().map(Condition::to_json).collect::<Vec<_>>(),
        })
    }

    pub fn combine(&self) -> Combine {
        self.combine
    }

    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }

    /// Topic ids the filter names, with the 1-based position of the condition.
    pub fn topic_ids(&self) -> impl Iterator<Item = (usize, i64)> + '_ {
        self.conditions
            .iter()
            .enumerate()
            .flat_map(|(index, c)| c.topic_ids().iter().map(move |id| (index + 1, *id)))
    }

    /// Field ids the filter names, with the 1-based position and the test.
    pub fn field_tests(&self) -> impl Iterator<Item = (usize, i64, &FieldTest)> + '_ {
        self.conditions
            .iter()
            .enumerate()
            .filter_map(|(index, c)| match c {
                Condition::Field(id, test) => Some((index + 1, *id, test)),
                _ => None,
            })
    }

    /// The error for a field condition that cannot be used.
    pub fn bad_field(condition: usize, reason: impl Into<String>) -> FilterError {
        FilterError {
            condition: Some(condition),
            kind: Some("field"),
            reason: reason.into(),
        }
    }

    /// The error for a topic that is not (or no longer) there.
    pub fn unknown_topic(condition: usize, id: i64) -> FilterError {
        FilterError {
            condition: Some(condition),
            kind: Some("topics"),
            reason: format!("there is no topic {id} (it may have been deleted)"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentNameError {
    #[error("A segment needs a name.")]
    Empty,
    #[error("A segment name has at most {MAX_SEGMENT_NAME_LENGTH} characters.")]
    TooLong,
    #[error("A segment name cannot contain line breaks or control characters.")]
    ControlCharacter,
}

/// How people find a segment: trimmed, one line, 1 to 80 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentName(String);

impl SegmentName {
    pub fn parse(raw: &str) -> Result<Self, SegmentNameError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(SegmentNameError::Empty);
        }
        if name.chars().any(char::is_control) {
            return Err(SegmentNameError::ControlCharacter);
        }
        if name.chars().count() > MAX_SEGMENT_NAME_LENGTH {
            return Err(SegmentNameError::TooLong);
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SegmentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(value: Value) -> String {
        SegmentFilter::from_json(&value)
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn days_are_calendar_days_in_utc() {
        let day = Day::parse("2024-02-29").expect("a leap day");
        assert_eq!(day.to_string(), "2024-02-29");
        assert_eq!(day.start_millis(), 1_709_164_800_000);
        assert_eq!(day.end_millis() - day.start_millis(), MILLIS_PER_DAY);
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "24-01-01",
            "2024-1-01",
            "yesterday",
            "",
        ] {
            assert!(Day::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_filter_survives_storage() {
        let value = json!({"match": "any", "conditions": [
            {"type": "status", "in": ["confirmed", "pending", "confirmed"]},
            {"type": "topics", "op": "all", "topics": [3, 1]},
            {"type": "signed_up", "op": "between", "from": "2024-01-01", "to": "2024-06-30"},
            {"type": "source", "in": ["import", "signup"]},
            {"type": "received", "op": "none", "since": "2025-01-01"},
            {"type": "bounced"},
        ]});
        let filter = SegmentFilter::from_json(&value).expect("valid");
        assert_eq!(filter.conditions().len(), 6);
        assert_eq!(
            filter.conditions()[0],
            Condition::Status(vec![SubscriberStatus::Confirmed, SubscriberStatus::Pending])
        );
        let stored = filter.to_json().to_string();
        assert_eq!(SegmentFilter::from_stored(&stored), Ok(filter));
    }

    #[test]
    fn each_refusal_names_its_condition() {
        let cases = [
            (
                json!({"conditions": []}),
                "a segment needs at least one condition",
            ),
            (
                json!({"conditions": [{"type": "status", "in": ["confirmed"]}, {"type": "status", "in": []}]}),
                "condition 2 (status): \"in\" is empty: name at least one",
            ),
            (
                json!({"conditions": [{"type": "status", "in": ["gone"]}]}),
                "condition 1 (status): \"gone\" is no status; the statuses are pending, confirmed, unsubscribed and bounced",
            ),
            (
                json!({"conditions": [{"type": "signed_up", "op": "after", "date": "2024-02-30"}]}),
                "condition 1 (signed_up): date: 2024-02-30 is not a day of the calendar",
            ),
            (
                json!({"conditions": [{"type": "topics", "topics": ["daily"]}]}),
                "condition 1 (topics): \"daily\" is not a topic id",
            ),
            (
                json!({"conditions": [{"type": "sql", "where": "1=1"}]}),
                "condition 1: there is no condition type \"sql\"; the types are status, topics, signed_up, source, received, bounced and field",
            ),
            (
                json!({"conditions": [{"type": "received", "op": "any", "where": "1=1"}]}),
                "condition 1 (received): \"where\" is not a member of this condition (it takes \"op\", \"since\")",
            ),
            (
                json!({"match": "most", "conditions": [{"type": "bounced"}]}),
                "\"match\" is all or any",
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(error_of(value), expected);
        }
        let many: Vec<Value> = (0..=MAX_CONDITIONS)
            .map(|_| json!({"type": "bounced"}))
            .collect();
        assert_eq!(
            error_of(json!({"conditions": many})),
            "a segment has at most 20 conditions, this one has 21"
        );
    }

    #[test]
    fn names() {
        assert_eq!(
            SegmentName::parse("  Lapsed readers ").unwrap().as_str(),
            "Lapsed readers"
        );
        assert_eq!(SegmentName::parse(" "), Err(SegmentNameError::Empty));
        assert_eq!(
            SegmentName::parse("a\nb"),
            Err(SegmentNameError::ControlCharacter)
        );
    }

    #[test]
    fn field_conditions_survive_storage() {
        let value = json!({"conditions": [
            {"type": "field", "field": 1, "op": "in", "values": ["Pro", "Team", "Pro"]},
            {"type": "field", "field": 2, "op": "lt", "value": 3.5},
            {"type": "field", "field": 3, "op": "between", "from": "2024-01-01", "to": "2024-12-31"},
            {"type": "field", "field": 4, "op": "is", "value": false},
            {"type": "field", "field": 5, "op": "not_empty"},
            {"type": "field", "field": 6, "op": "contains", "value": " acme "},
        ]});
        let filter = SegmentFilter::from_json(&value).expect("valid");
        assert_eq!(
            filter.conditions()[0],
            Condition::Field(1, FieldTest::TextIn(vec!["Pro".into(), "Team".into()]))
        );
        assert_eq!(
            filter.conditions()[5],
            Condition::Field(6, FieldTest::Contains("acme".into()))
        );
        let stored = filter.to_json().to_string();
        assert_eq!(SegmentFilter::from_stored(&stored), Ok(filter));
    }

    #[test]
    fn field_refusals_name_their_condition() {
        let one = |condition: Value| json!({"conditions": [condition]});
        let cases = [
            (
                one(json!({"type": "field", "op": "empty"})),
                "condition 1 (field): \"field\" is the id of a custom field",
            ),
            (
                one(json!({"type": "field", "field": 1, "op": "like", "value": "x"})),
                "condition 1 (field): \"op\" is eq, in, contains, lt, gt, between, before, after, is, empty or not_empty, not \"like\"",
            ),
            (
                one(json!({"type": "field", "field": 1, "op": "lt", "value": "ten"})),
                "condition 1 (field): \"value\" is a number",
            ),
            (
                one(json!({"type": "field", "field": 1, "op": "between", "from": 5, "to": 1})),
                "condition 1 (field): \"to\" (1) is below \"from\" (5)",
            ),
            (
                one(json!({"type": "field", "field": 1, "op": "before", "date": "2024-02-30"})),
                "condition 1 (field): date: 2024-02-30 is not a day of the calendar",
            ),
            (
                one(json!({"type": "field", "field": 1, "op": "is", "value": "yes"})),
                "condition 1 (field): \"value\" is true or false",
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(error_of(value), expected);
        }
    }

    #[test]
    fn a_test_fits_only_its_kinds_of_field() {
        let number = FieldTest::Lt(Number::flag(true));
        assert!(number.check_kind("number").is_ok());
        assert!(number.check_kind("text").is_err());
        assert!(FieldTest::TextEq("Pro".into()).check_kind("choice").is_ok());
        assert!(FieldTest::Contains("a".into())
            .check_kind("choice")
            .is_err());
        assert!(FieldTest::Empty.check_kind("date").is_ok());
        assert!(FieldTest::Empty.check_kind("yes_no").is_err());
        assert!(FieldTest::Is(true).check_kind("yes_no").is_ok());
    }
}
