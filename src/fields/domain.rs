//! What a custom field and its values are made of; each type holds only valid
//! values, so the store, the forms and the API never check them again.

use std::fmt;

pub const MAX_KEY_LENGTH: usize = 40;
pub const MAX_LABEL_LENGTH: usize = 80;
pub const MAX_CHOICES: usize = 100;
pub const MAX_CHOICE_LENGTH: usize = 100;
pub const MAX_TEXT_LENGTH: usize = 500;

/// Keys a field cannot take: the columns a CSV import and export already have,
/// and the members of a signup, which a field's key must never be mistaken for.
pub const RESERVED_KEYS: &[&str] = &[
    "email",
    "name",
    "status",
    "created_at",
    "topics",
    "fields",
    "id",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("A key cannot be empty.")]
    Empty,
    #[error("A key has at most {MAX_KEY_LENGTH} characters.")]
    TooLong,
    #[error("A key is lower-case letters a to z, digits and underscores, starting with a letter, like company_size.")]
    Malformed,
    #[error("The key {0} is taken by a column every subscriber has.")]
    Reserved(String),
}

/// How forms, the API and CSV headers name a field: `company_size`. Lower-case
/// ASCII letters, digits and underscores, starting with a letter: a JSON
/// member, a form input's name and a CSV header without any quoting.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldKey(String);

impl FieldKey {
    /// Trims and lower-cases what was typed; anything else must already fit.
    pub fn parse(raw: &str) -> Result<Self, KeyError> {
        let key = raw.trim().to_ascii_lowercase();
        if key.is_empty() {
            return Err(KeyError::Empty);
        }
        if key.chars().count() > MAX_KEY_LENGTH {
            return Err(KeyError::TooLong);
        }
        let starts_with_letter = key.bytes().next().is_some_and(|b| b.is_ascii_lowercase());
        let well_formed = key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !starts_with_letter || !well_formed {
            return Err(KeyError::Malformed);
        }
        if RESERVED_KEYS.contains(&key.as_str()) {
            return Err(KeyError::Reserved(key));
        }
        Ok(Self(key))
    }

    /// A key read back from the database, where only parsed keys are written.
    pub(crate) fn from_stored(stored: String) -> Self {
        Self(stored)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FieldKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("A field needs a label.")]
    Empty,
    #[error("A label has at most {MAX_LABEL_LENGTH} characters.")]
    TooLong,
    #[error("A label cannot contain line breaks or control characters.")]
    ControlCharacter,
}

/// What readers and admins see next to the input: trimmed, one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldLabel(String);

impl FieldLabel {
    pub fn parse(raw: &str) -> Result<Self, LabelError> {
        let label = raw.trim();
        if label.is_empty() {
            return Err(LabelError::Empty);
        }
        if label.chars().any(char::is_control) {
            return Err(LabelError::ControlCharacter);
        }
        if label.chars().count() > MAX_LABEL_LENGTH {
            return Err(LabelError::TooLong);
        }
        Ok(Self(label.to_owned()))
    }

    pub(crate) fn from_stored(stored: String) -> Self {
        Self(stored)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChoicesError {
    #[error("A one-of-a-list field needs at least one choice, one a line.")]
    Empty,
    #[error("A field has at most {MAX_CHOICES} choices.")]
    TooMany,
    #[error("A choice has at most {MAX_CHOICE_LENGTH} characters.")]
    TooLong,
    #[error("A choice cannot contain control characters.")]
    ControlCharacter,
    #[error("The choice {0:?} is listed twice.")]
    Repeated(String),
}

/// The choices of a one-of-a-list field: at least one, each one line, each once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choices(Vec<String>);

impl Choices {
    /// One choice a line; blank lines are left out.
    pub fn parse_lines(raw: &str) -> Result<Self, ChoicesError> {
        Self::parse(raw.lines())
    }

    pub fn parse<'a>(raw: impl IntoIterator<Item = &'a str>) -> Result<Self, ChoicesError> {
        let mut choices: Vec<String> = Vec::new();
        for choice in raw {
            let choice = choice.trim();
            if choice.is_empty() {
                continue;
            }
            if choice.chars().any(char::is_control) {
                return Err(ChoicesError::ControlCharacter);
            }
            if choice.chars().count() > MAX_CHOICE_LENGTH {
                return Err(ChoicesError::TooLong);
            }
            if choices.iter().any(|c| c == choice) {
                return Err(ChoicesError::Repeated(choice.to_owned()));
            }
            choices.push(choice.to_owned());
        }
        if choices.is_empty() {
            return Err(ChoicesError::Empty);
        }
        if choices.len() > MAX_CHOICES {
            return Err(ChoicesError::TooMany);
        }
        Ok(Self(choices))
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// One a line, as stored and as the admin form shows them.
    pub fn to_lines(&self) -> String {
        self.0.join("\n")
    }

    /// The choice `raw` names: exactly, or else ignoring case.
    fn find(&self, raw: &str) -> Option<&String> {
        let raw = raw.trim();
        self.0.iter().find(|c| *c == raw).or_else(|| {
            self.0
                .iter()
                .find(|c| c.to_lowercase() == raw.to_lowercase())
        })
    }
}

/// The type of a field, and for a one-of-a-list field its choices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    Number,
    Date,
    YesNo,
    Choice(Choices),
}

impl FieldKind {
    /// The stored and API name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Number => "number",
            Self::Date => "date",
            Self::YesNo => "yes_no",
            Self::Choice(_) => "choice",
        }
    }

    /// How the admin pages name it.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Text => "Text",
            Self::Number => "Number",
            Self::Date => "Date",
            Self::YesNo => "Yes/no",
            Self::Choice(_) => "One of a list",
        }
    }

    /// `kind` as named, with its choices (one a line) when it is `choice`.
    pub fn parse(kind: &str, choices: &str) -> Result<Self, FieldInputError> {
        match kind.trim() {
            "text" => Ok(Self::Text),
            "number" => Ok(Self::Number),
            "date" => Ok(Self::Date),
            "yes_no" => Ok(Self::YesNo),
            "choice" => Ok(Self::Choice(Choices::parse_lines(choices)?)),
            _ => Err(FieldInputError::Kind),
        }
    }

    pub fn choices(&self) -> &[String] {
        match self {
            Self::Choice(choices) => choices.as_slice(),
            _ => &[],
        }
    }

    /// Same type, whatever the choices.
    pub fn same_type(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

/// Whether readers see a field: public ones are on the signup form and in
/// `POST /subscriptions`; internal ones only admins set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldVisibility {
    Public,
    Internal,
}

impl FieldVisibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Internal => "internal",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim() {
            "public" => Some(Self::Public),
            "internal" => Some(Self::Internal),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldInputError {
    #[error("key: {0}")]
    Key(#[from] KeyError),
    #[error("label: {0}")]
    Label(#[from] LabelError),
    #[error("type is one of text, number, date, yes_no, choice")]
    Kind,
    #[error("choices: {0}")]
    Choices(#[from] ChoicesError),
    #[error("visibility is public or internal")]
    Visibility,
}

impl FieldInputError {
    /// The form field or JSON member at fault.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Key(_) => "key",
            Self::Label(_) => "label",
            Self::Kind => "type",
            Self::Choices(_) => "choices",
            Self::Visibility => "visibility",
        }
    }

    /// The message alone, without the field's name in front.
    pub fn message(&self) -> String {
        match self {
            Self::Key(e) => e.to_string(),
            Self::Label(e) => e.to_string(),
            Self::Choices(e) => e.to_string(),
            Self::Kind => "The type is one of text, number, date, yes/no, one of a list.".into(),
            Self::Visibility => "Visibility is public or internal.".into(),
        }
    }
}

/// A field as an admin defines it; parsed whole, so a field that cannot be
/// stored cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDefinition {
    pub key: FieldKey,
    pub label: FieldLabel,
    pub kind: FieldKind,
    pub required: bool,
    pub visibility: FieldVisibility,
}

impl FieldDefinition {
    /// Every problem, in the order of the form.
    pub fn parse(
        key: &str,
        label: &str,
        kind: &str,
        choices: &str,
        required: bool,
        visibility: &str,
    ) -> Result<Self, Vec<FieldInputError>> {
        let key = FieldKey::parse(key).map_err(FieldInputError::from);
        let label = FieldLabel::parse(label).map_err(FieldInputError::from);
        let kind = FieldKind::parse(kind, choices);
        let visibility = FieldVisibility::parse(visibility).ok_or(FieldInputError::Visibility);
        match (key, label, kind, visibility) {
            (Ok(key), Ok(label), Ok(kind), Ok(visibility)) => Ok(Self {
                key,
                label,
                kind,
                required,
                visibility,
            }),
            (key, label, kind, visibility) => {
                Err([key.err(), label.err(), kind.err(), visibility.err()]
                    .into_iter()
                    .flatten()
                    .collect())
            }
        }
    }

    pub fn is_public(&self) -> bool {
        self.visibility == FieldVisibility::Public
    }
}

/// A value as it arrived: typed JSON, or the text of a form or a CSV cell.
#[derive(Debug, Clone, PartialEq)]
pub enum RawValue<'a> {
    Text(&'a str),
    Json(&'a serde_json::Value),
}

impl RawValue<'_> {
    /// Blank text and JSON null mean "no value".
    fn is_blank(&self) -> bool {
        match self {
            Self::Text(text) => text.trim().is_empty(),
            Self::Json(serde_json::Value::Null) => true,
            Self::Json(serde_json::Value::String(text)) => text.trim().is_empty(),
            Self::Json(_) => false,
        }
    }

    /// The text of a string, or None for a JSON value that is not one.
    fn text(&self) -> Option<&str> {
        match self {
            Self::Text(text) => Some(text),
            Self::Json(serde_json::Value::String(text)) => Some(text),
            Self::Json(_) => None,
        }
    }
}

/// Why a value does not fit its field; the message reads after the field's label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("is required")]
    Missing,
    #[error("is text of at most {MAX_TEXT_LENGTH} characters on one line")]
    Text,
    #[error("is a number, like 42 or 3.5")]
    Number,
    #[error("is a date written YYYY-MM-DD, like 2025-03-28")]
    Date,
    #[error("is yes or no (true/false, yes/no, on/off, 1/0)")]
    YesNo,
    #[error("is one of: {0}")]
    Choice(String),
}

/// A value that fits its field.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Text(String),
    /// Finite.
    Number(f64),
    /// `YYYY-MM-DD`, a real calendar date.
    Date(String),
    YesNo(bool),
    /// One of the field's choices, spelt as the field spells it.
    Choice(String),
}

impl FieldValue {
    /// `raw` as a value of `kind`; None when it is blank (no value).
    pub fn parse(kind: &FieldKind, raw: &RawValue<'_>) -> Result<Option<Self>, ValueError> {
        if raw.is_blank() {
            return Ok(None);
        }
        let value = match kind {
            FieldKind::Text => {
                let text = raw.text().ok_or(ValueError::Text)?.trim();
                if text.chars().count() > MAX_TEXT_LENGTH || text.chars().any(char::is_control) {
                    return Err(ValueError::Text);
                }
                Self::Text(text.to_owned())
            }
            FieldKind::Number => {
                let number = match raw {
                    RawValue::Json(serde_json::Value::Number(n)) => n.as_f64(),
                    other => other.text().and_then(|t| t.trim().parse::<f64>().ok()),
                };
                Self::Number(number.filter(|n| n.is_finite()).ok_or(ValueError::Number)?)
            }
            FieldKind::Date => {
                let text = raw.text().ok_or(ValueError::Date)?;
                Self::Date(parse_date(text).ok_or(ValueError::Date)?)
            }
            FieldKind::YesNo => {
                let yes = match raw {
                    RawValue::Json(serde_json::Value::Bool(b)) => Some(*b),
                    RawValue::Json(serde_json::Value::Number(n)) => match n.as_i64() {
                        Some(1) => Some(true),
                        Some(0) => Some(false),
                        _ => None,
                    },
                    other => other.text().and_then(parse_yes_no),
                };
                Self::YesNo(yes.ok_or(ValueError::YesNo)?)
            }
            FieldKind::Choice(choices) => {
                let refused = || ValueError::Choice(choices.as_slice().join(", "));
                let text = raw.text().ok_or_else(refused)?;
                Self::Choice(choices.find(text).ok_or_else(refused)?.clone())
            }
        };
        Ok(Some(value))
    }

    /// The two columns of `subscriber_field_values`: text and number.
    pub fn stored(&self) -> (Option<&str>, Option<f64>) {
        match self {
            Self::Text(text) | Self::Date(text) | Self::Choice(text) => (Some(text), None),
            Self::Number(n) => (None, Some(*n)),
            Self::YesNo(yes) => (None, Some(if *yes { 1.0 } else { 0.0 })),
        }
    }

    /// Read back from the two columns for a field of `kind`; None when the
    /// row does not hold that kind (never written so).
    pub fn from_stored(
        kind: &FieldKind,
        text: Option<String>,
        number: Option<f64>,
    ) -> Option<Self> {
        match kind {
            FieldKind::Text => text.map(Self::Text),
            FieldKind::Date => text.map(Self::Date),
            FieldKind::Choice(_) => text.map(Self::Choice),
            FieldKind::Number => number.map(Self::Number),
            FieldKind::YesNo => number.map(|n| Self::YesNo(n != 0.0)),
        }
    }

    /// As JSON: strings, numbers and booleans.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Text(text) | Self::Date(text) | Self::Choice(text) => {
                serde_json::Value::String(text.clone())
            }
            Self::Number(n) => number_json(*n),
            Self::YesNo(yes) => serde_json::Value::Bool(*yes),
        }
    }
}

/// Text that reads back as the same value: in CSV cells, form inputs and queued signups.
impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text(text) | Self::Date(text) | Self::Choice(text) => f.write_str(text),
            Self::Number(n) => write!(f, "{n}"),
            Self::YesNo(yes) => f.write_str(if *yes { "true" } else { "false" }),
        }
    }
}

/// A whole number as a JSON integer (42, not 42.0).
fn number_json(n: f64) -> serde_json::Value {
    // Within ±2^53 an integral f64 is an exact i64.
    if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
        #[allow(clippy::cast_possible_truncation)]
        return serde_json::Value::from(n as i64);
    }
    serde_json::Number::from_f64(n).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// `YYYY-MM-DD`, a date that exists; the same text back.
fn parse_date(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let bytes = raw.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = raw.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let year = i32::try_from(digits(0..4)?).ok()?;
    let month = time::Month::try_from(u8::try_from(digits(5..7)?).ok()?).ok()?;
    let day = u8::try_from(digits(8..10)?).ok()?;
    time::Date::from_calendar_date(year, month, day).ok()?;
    Some(raw.to_owned())
}

fn parse_yes_no(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" | "y" => Some(true),
        "false" | "no" | "off" | "0" | "n" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn text(kind: &FieldKind, raw: &str) -> Result<Option<FieldValue>, ValueError> {
        FieldValue::parse(kind, &RawValue::Text(raw))
    }

    fn json(kind: &FieldKind, raw: serde_json::Value) -> Result<Option<FieldValue>, ValueError> {
        FieldValue::parse(kind, &RawValue::Json(&raw))
    }

    #[test]
    fn keys() {
        assert_eq!(
            FieldKey::parse(" Company_Size ").unwrap().as_str(),
            "company_size"
        );
        for bad in ["1a", "_a", "a-b", "a b", "é"] {
            assert_eq!(FieldKey::parse(bad), Err(KeyError::Malformed), "{bad}");
        }
        assert_eq!(FieldKey::parse(""), Err(KeyError::Empty));
        assert!(matches!(
            FieldKey::parse("Email"),
            Err(KeyError::Reserved(_))
        ));
        assert_eq!(FieldKey::parse(&"a".repeat(41)), Err(KeyError::TooLong));
    }

    #[test]
    fn every_bad_part_of_a_definition_is_reported() {
        let errors = FieldDefinition::parse("", "", "colour", "", false, "secret").unwrap_err();
        let fields: Vec<&str> = errors.iter().map(FieldInputError::field).collect();
        assert_eq!(fields, ["key", "label", "type", "visibility"]);
        let errors =
            FieldDefinition::parse("plan", "Plan", "choice", "\n \n", true, "public").unwrap_err();
        assert_eq!(errors, [FieldInputError::Choices(ChoicesError::Empty)]);
    }

    #[test]
    fn values_of_each_kind() {
        assert_eq!(
            text(&FieldKind::Number, " 3.5 "),
            Ok(Some(FieldValue::Number(3.5)))
        );
        assert_eq!(text(&FieldKind::Number, "NaN"), Err(ValueError::Number));
        assert_eq!(text(&FieldKind::Number, "many"), Err(ValueError::Number));
        assert_eq!(
            json(&FieldKind::Number, serde_json::json!(true)),
            Err(ValueError::Number)
        );
        assert_eq!(
            text(&FieldKind::Date, "2024-02-29"),
            Ok(Some(FieldValue::Date("2024-02-29".into())))
        );
        for bad in ["2023-02-29", "2024-2-9", "29.02.2024", "2024-13-01"] {
            assert_eq!(text(&FieldKind::Date, bad), Err(ValueError::Date), "{bad}");
        }
        for yes in ["true", "Yes", "on", "1"] {
            assert_eq!(
                text(&FieldKind::YesNo, yes),
                Ok(Some(FieldValue::YesNo(true)))
            );
        }
        assert_eq!(
            json(&FieldKind::YesNo, serde_json::json!(false)),
            Ok(Some(FieldValue::YesNo(false)))
        );
        assert_eq!(text(&FieldKind::YesNo, "maybe"), Err(ValueError::YesNo));
        let plans = FieldKind::Choice(Choices::parse(["Free", "Pro"]).unwrap());
        assert_eq!(
            text(&plans, "pro"),
            Ok(Some(FieldValue::Choice("Pro".into())))
        );
        assert_eq!(
            text(&plans, "Gold"),
            Err(ValueError::Choice("Free, Pro".into()))
        );
        assert_eq!(
            json(&FieldKind::Text, serde_json::json!(12)),
            Err(ValueError::Text)
        );
        assert_eq!(text(&FieldKind::Text, "two\nlines"), Err(ValueError::Text));
        assert_eq!(text(&FieldKind::Text, "  "), Ok(None));
        assert_eq!(json(&FieldKind::Number, serde_json::Value::Null), Ok(None));
    }

    #[test]
    fn numbers_read_back_as_numbers() {
        assert_eq!(FieldValue::Number(42.0).to_json(), serde_json::json!(42));
        assert_eq!(FieldValue::Number(2.5).to_json(), serde_json::json!(2.5));
        assert_eq!(FieldValue::Number(42.0).to_string(), "42");
    }

    proptest! {
        #[test]
        fn a_value_survives_its_text(n in -1.0e12f64..1.0e12) {
            let value = FieldValue::Number(n);
            prop_assert_eq!(text(&FieldKind::Number, &value.to_string()), Ok(Some(value)));
        }

        #[test]
        fn a_parsed_key_parses_to_itself(raw in "\\PC{0,50}") {
            if let Ok(key) = FieldKey::parse(&raw) {
                prop_assert_eq!(FieldKey::parse(key.as_str()), Ok(key.clone()));
            }
        }
    }
}
