//! Turning one JSON object into a validated [`Event`].

use std::collections::BTreeMap;

use proactive_sdk::domain::{Bin, Iin};
use serde_json::{Map, Value};

use super::catalogue::{self, AttrType};
use super::ndjson::{FieldError, Fields, LineError};
use crate::model::Event;

pub const MAX_ATTRIBUTES: usize = 32;
pub const MAX_ATTRIBUTE_BYTES: usize = 4096;
const MAX_VALUE_CHARS: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error(transparent)]
    Line(#[from] LineError),
    #[error(transparent)]
    Field(#[from] FieldError),
    #[error("unknown event kind {0:?}")]
    UnknownKind(String),
    #[error("field `id` must be 1-128 printable ASCII characters without spaces")]
    BadId,
    #[error("field `id` must not contain an identifier (a run of 10 or more digits): ids enter the audit log")]
    IdentifierInId,
    #[error("field `subject`: {0}")]
    Subject(String),
    #[error("attribute `{name}`: {problem}")]
    Attribute { name: String, problem: String },
    #[error("missing attribute `{0}`")]
    MissingAttribute(&'static str),
    #[error("attributes are oversized: {0}")]
    Oversized(String),
}

fn attr_err(name: &str, problem: impl Into<String>) -> EventError {
    EventError::Attribute { name: name.chars().take(64).collect(), problem: problem.into() }
}

/// Validate one event object against the catalogue.
pub fn parse_event(map: &Map<String, Value>) -> Result<Event, EventError> {
    let f = Fields::new(map);
    f.only(&["id", "kind", "subject", "occurred_at", "attributes"])?;
    let id = f.str("id")?;
    if id.is_empty() || id.len() > 128 || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(EventError::BadId);
    }
    if crate::redact::has_identifier_digits(id) {
        return Err(EventError::IdentifierInId);
    }
    let kind_name = f.str("kind")?;
    let kind =
        catalogue::kind(kind_name).ok_or_else(|| EventError::UnknownKind(kind_name.chars().take(64).collect()))?;
    let subject = Iin::parse(f.str("subject")?).map_err(|e| EventError::Subject(e.to_string()))?;
    let occurred_at = f.time("occurred_at")?;

    let raw_attrs = match f.value("attributes") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            return Err(FieldError::Type { field: "attributes".into(), expected: "an object of strings" }.into());
        }
    };
    if raw_attrs.len() > MAX_ATTRIBUTES {
        return Err(EventError::Oversized(format!("{} attributes, at most {MAX_ATTRIBUTES}", raw_attrs.len())));
    }
    let mut attributes = BTreeMap::new();
    let mut total = 0usize;
    for (name, value) in raw_attrs {
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !valid_name {
            return Err(attr_err(&name, "names are 1-64 characters of a-z, 0-9, '_' and '-'"));
        }
        let value = match value {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            _ => return Err(attr_err(&name, "must be a string")),
        };
        if value.chars().count() > MAX_VALUE_CHARS {
            return Err(EventError::Oversized(format!("attribute `{name}` is over {MAX_VALUE_CHARS} characters")));
        }
        if value.chars().any(char::is_control) {
            return Err(attr_err(&name, "contains control characters"));
        }
        total += name.len() + value.len();
        if total > MAX_ATTRIBUTE_BYTES {
            return Err(EventError::Oversized(format!("over {MAX_ATTRIBUTE_BYTES} bytes in all")));
        }
        let value = match kind.attribute(&name) {
            Some(spec) => canonical(&name, value, spec.ty)?,
            None => value,
        };
        attributes.insert(name, value);
    }
    if let Some(missing) = kind.attributes.iter().find(|a| a.required && !attributes.contains_key(a.name)) {
        return Err(EventError::MissingAttribute(missing.name));
    }
    Ok(Event {
        id: id.to_owned(),
        kind: kind.name.to_owned(),
        subject: subject.as_str().to_owned(),
        occurred_at,
        attributes,
    })
}

/// Check a catalogued attribute and return it in canonical form: identifiers and numbers
/// without the spaces people leave around them, so lookups by them match the registries.
fn canonical(name: &str, value: String, ty: AttrType) -> Result<String, EventError> {
    let value = value.as_str();
    match ty {
        AttrType::Iin => {
            return Ok(Iin::parse(value).map_err(|e| attr_err(name, e.to_string()))?.as_str().to_owned());
        }
        AttrType::IinOrBin => {
            if let Ok(iin) = Iin::parse(value) {
                return Ok(iin.as_str().to_owned());
            }
            if let Ok(bin) = Bin::parse(value) {
                return Ok(bin.as_str().to_owned());
            }
            return Err(attr_err(name, "is neither a valid IIN nor a valid BIN"));
        }
        AttrType::Integer { min, max } => match value.trim().parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => return Ok(n.to_string()),
            _ => return Err(attr_err(name, format!("must be an integer from {min} to {max}"))),
        },
        AttrType::Text { max_chars } => {
            if value.trim().is_empty() || value.chars().count() > max_chars {
                return Err(attr_err(name, format!("must be 1-{max_chars} characters")));
            }
        }
        AttrType::OneOf(options) => {
            if !options.contains(&value) {
                return Err(attr_err(name, format!("must be one of {}", options.join(", "))));
            }
        }
    }
    Ok(value.to_owned())
}
