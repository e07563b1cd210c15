//! Reading NDJSON files line by line with bounded memory, for events, registry snapshots and
//! replies alike. Errors carry the line number and never the line's content.

use std::io::BufRead;

use serde_json::{Map, Value};

/// Lines longer than this are refused without being parsed.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("line is longer than {MAX_LINE_BYTES} bytes")]
    TooLong,
    #[error("line is not valid UTF-8")]
    NotUtf8,
    #[error("malformed JSON at column {column}: {category}")]
    Malformed { column: usize, category: &'static str },
    #[error("expected a JSON object")]
    NotAnObject,
    #[error("cannot read the input: {0}")]
    Io(String),
}

/// One numbered, non-blank line parsed as a JSON object.
pub struct Line {
    pub number: usize,
    pub result: Result<Map<String, Value>, LineError>,
}

/// Iterate over the non-blank lines of an NDJSON stream. A read error ends the iteration
/// after reporting it once.
pub fn lines<R: BufRead>(reader: R) -> impl Iterator<Item = Line> {
    let mut reader = reader;
    let mut number = 0usize;
    let mut done = false;
    std::iter::from_fn(move || {
        loop {
            if done {
                return None;
            }
            number += 1;
            let mut buf = Vec::new();
            let read = std::io::Read::take(&mut reader, MAX_LINE_BYTES as u64 + 1).read_until(b'\n', &mut buf);
            match read {
                Err(e) => {
                    done = true;
                    return Some(Line { number, result: Err(LineError::Io(e.kind().to_string())) });
                }
                Ok(0) => return None,
                Ok(_) => {}
            }
            if buf.len() > MAX_LINE_BYTES && !buf.ends_with(b"\n") {
                // Skip the rest of the oversized line.
                let mut sink = Vec::new();
                loop {
                    sink.clear();
                    match std::io::Read::take(&mut reader, MAX_LINE_BYTES as u64).read_until(b'\n', &mut sink) {
                        Ok(0) => break,
                        Ok(_) if sink.ends_with(b"\n") => break,
                        Ok(_) => continue,
                        Err(_) => break,
                    }
                }
                return Some(Line { number, result: Err(LineError::TooLong) });
            }
            let Ok(text) = std::str::from_utf8(&buf) else {
                return Some(Line { number, result: Err(LineError::NotUtf8) });
            };
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            return Some(Line { number, result: parse_object(text) });
        }
    })
}

/// Parse one JSON object, describing a syntax error by position and category only: serde's
/// own messages can quote the offending value, which may be an IIN.
pub fn parse_object(text: &str) -> Result<Map<String, Value>, LineError> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(LineError::NotAnObject),
        Err(e) => Err(LineError::Malformed {
            column: e.column(),
            category: match e.classify() {
                serde_json::error::Category::Syntax => "syntax error",
                serde_json::error::Category::Eof => "unexpected end of line",
                serde_json::error::Category::Data => "invalid data",
                serde_json::error::Category::Io => "read error",
            },
        }),
    }
}

/// Typed access to fields of a JSON object, with errors that name the field.
pub struct Fields<'a> {
    map: &'a Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("missing field `{0}`")]
    Missing(String),
    #[error("field `{field}` must be {expected}")]
    Type { field: String, expected: &'static str },
    #[error("field `{field}`: {problem}")]
    Invalid { field: String, problem: String },
    #[error("unknown field `{0}`")]
    Unknown(String),
}

impl<'a> Fields<'a> {
    pub fn new(map: &'a Map<String, Value>) -> Self {
        Fields { map }
    }

    /// Refuse fields outside `known`, so a misspelt field is an error, not silently ignored.
    pub fn only(&self, known: &[&str]) -> Result<(), FieldError> {
        match self.map.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(FieldError::Unknown(k.chars().take(64).collect())),
            None => Ok(()),
        }
    }

    pub fn str(&self, field: &str) -> Result<&'a str, FieldError> {
        self.opt_str(field)?.ok_or_else(|| FieldError::Missing(field.into()))
    }

    pub fn opt_str(&self, field: &str) -> Result<Option<&'a str>, FieldError> {
        match self.map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(FieldError::Type { field: field.into(), expected: "a string" }),
        }
    }

    pub fn value(&self, field: &str) -> Option<&'a Value> {
        self.map.get(field)
    }

    /// An RFC 3339 timestamp, as Unix seconds.
    pub fn time(&self, field: &str) -> Result<i64, FieldError> {
        let s = self.str(field)?;
        parse_time(s).ok_or_else(|| FieldError::Invalid {
            field: field.into(),
            problem: format!(
                "must be an RFC 3339 time with an offset between the years {EARLIEST_YEAR} and {LATEST_YEAR}, \
                 e.g. 2026-11-02T10:15:00+05:00"
            ),
        })
    }

    pub fn opt_time(&self, field: &str) -> Result<Option<i64>, FieldError> {
        match self.opt_str(field)? {
            None => Ok(None),
            Some(_) => self.time(field).map(Some),
        }
    }

    pub fn str_list(&self, field: &str) -> Result<Vec<&'a str>, FieldError> {
        let bad = || FieldError::Type { field: field.into(), expected: "a list of strings" };
        match self.map.get(field) {
            None => Err(FieldError::Missing(field.into())),
            Some(Value::Array(items)) => items.iter().map(|v| v.as_str().ok_or_else(bad)).collect(),
            Some(_) => Err(bad()),
        }
    }
}

/// Times the platform accepts from outside: 1900 to 2199. Anything else is a typo, and a
/// far-future time would push timers and signed checkpoints past what their formats hold.
pub const EARLIEST_YEAR: i32 = 1900;
pub const LATEST_YEAR: i32 = 2199;

pub fn parse_time(s: &str) -> Option<i64> {
    use chrono::Datelike as _;
    let t = chrono::DateTime::parse_from_rfc3339(s.trim()).ok()?;
    (EARLIEST_YEAR..=LATEST_YEAR).contains(&t.year()).then(|| t.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(input: &str) -> Vec<(usize, Result<usize, LineError>)> {
        lines(input.as_bytes()).map(|l| (l.number, l.result.map(|m| m.len()))).collect()
    }

    #[test]
    fn numbers_lines_skips_blanks_and_reports_bad_ones_without_content() {
        let out = collect("{\"a\":1}\n\n[1]\n{\"a\":\"900101400123\"\n{\"a\":1,\"b\":2}\n");
        assert_eq!(out[0], (1, Ok(1)));
        assert_eq!(out[1], (3, Err(LineError::NotAnObject)));
        assert!(matches!(out[2], (4, Err(LineError::Malformed { .. }))));
        assert!(!format!("{:?}", out[2]).contains("900101400123"));
        assert_eq!(out[3], (5, Ok(2)));
    }

    #[test]
    fn an_oversized_line_is_refused_and_the_next_line_still_reads() {
        let big = format!("{{\"a\":\"{}\"}}\n{{\"b\":1}}\n", "x".repeat(MAX_LINE_BYTES * 2));
        let out = collect(&big);
        assert_eq!(out, vec![(1, Err(LineError::TooLong)), (2, Ok(1))]);
    }

    #[test]
    fn times_outside_the_accepted_years_are_refused() {
        for (text, ok) in [
            ("2026-11-02T10:15:00+05:00", true),
            ("1900-01-01T00:00:00Z", true),
            ("2199-12-31T18:00:00Z", true),
            ("9999-12-31T23:59:59Z", false),
            ("1899-12-31T23:59:59Z", false),
            ("2026-13-01T00:00:00Z", false),
            ("2026-11-02 10:15:00", false),
        ] {
            assert_eq!(parse_time(text).is_some(), ok, "{text}");
        }
    }

    #[test]
    fn invalid_utf8_is_reported() {
        let out: Vec<_> = lines(&b"\xff\xfe\n{}\n"[..]).map(|l| (l.number, l.result.is_ok())).collect();
        assert_eq!(out, vec![(1, false), (2, true)]);
    }
}
