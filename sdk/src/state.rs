//! The case state: what a plugin remembers between an offer and the answer to it.
//!
//! A plugin runs in a fresh instance for every call, so nothing it worked out while making an
//! offer (the clinic it named, the amount it promised, the slot it proposed) is still there
//! when the reply or the timeout arrives. What it needs later goes into the `state` string of
//! [`Decision::offer`](crate::Decision::offer) or [`Decision::ask_again`](crate::Decision::ask_again);
//! the host stores that string on the case, never reads it, and hands it back as
//! [`CaseView::state`](crate::CaseView::state). This module is the one format every plugin
//! uses for it: `key=value;key=value`.
//!
//! The string may come back days later and may have been written by an older build of the
//! plugin, so reading is tolerant of spacing, empty segments, key order and unknown keys.
//! Values are percent-escaped for `%`, `;` and `=` because some of them (a clinic or office
//! name) come from registries the plugin does not control. Anything else unreadable is
//! reported as `None`, so the plugin can refuse with `internal-state` instead of guessing what
//! it once promised.
//!
//! ```
//! use proactive_sdk::state::{self, State};
//!
//! let text = state::encode(&[("clinic", "ГП №5; корпус=2"), ("alt", "0")]);
//! assert_eq!(text, "clinic=ГП №5%3B корпус%3D2;alt=0");
//!
//! let state = State::parse(&text).expect("written by encode");
//! assert_eq!(state.get("clinic"), Some("ГП №5; корпус=2"));
//! assert_eq!(state.get("alt"), Some("0"));
//! assert_eq!(state.get("office"), None);
//! assert_eq!(State::parse("not a state"), None);
//! ```

use std::collections::BTreeMap;

/// A parsed case state: the keys and unescaped values of a `key=value;key=value` string.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct State(BTreeMap<String, String>);

impl State {
    /// Reads a state string as written by [`encode`].
    ///
    /// Spaces around keys and values, empty segments, key order and unknown keys are
    /// tolerated; a repeated key keeps its last value. `None` when a segment has no `=`, an
    /// empty key, or a broken or non-ASCII escape: the state is corrupt, not merely old.
    pub fn parse(text: &str) -> Option<State> {
        let mut map = BTreeMap::new();
        for segment in text.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = segment.split_once('=')?;
            let key = key.trim();
            if key.is_empty() {
                return None;
            }
            map.insert(key.to_owned(), unescape(value.trim())?);
        }
        Some(State(map))
    }

    /// The value of `key`, if present and not blank.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str).filter(|v| !v.is_empty())
    }
}

/// Writes `pairs`, in order, as a state string for an offer.
///
/// Keys are the plugin's own constants and are written as they are: keep them free of `;`,
/// `=`, `%` and surrounding spaces. Values are escaped, so any text round-trips through
/// [`State::parse`], except that surrounding whitespace is trimmed on reading and an empty
/// value reads as absent.
pub fn encode(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (key, value)) in pairs.iter().enumerate() {
        debug_assert!(
            !key.is_empty() && key.trim() == *key && !key.contains([';', '=', '%']),
            "state key {key:?} must be a plain constant"
        );
        if i > 0 {
            out.push(';');
        }
        out.push_str(key);
        out.push('=');
        for c in value.chars() {
            match c {
                '%' => out.push_str("%25"),
                ';' => out.push_str("%3B"),
                '=' => out.push_str("%3D"),
                c => out.push(c),
            }
        }
    }
    out
}

fn unescape(value: &str) -> Option<String> {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let hi = chars.next()?.to_digit(16)?;
        let lo = chars.next()?.to_digit(16)?;
        // Only ASCII is ever escaped; two hex digits are below 256, so the cast is exact.
        let byte = (hi * 16 + lo) as u8;
        if !byte.is_ascii() {
            return None;
        }
        out.push(char::from(byte));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_table() {
        #[track_caller]
        fn check(pairs: &[(&str, &str)], expected: &str) {
            let text = encode(pairs);
            assert_eq!(text, expected, "{pairs:?}");
            let state = State::parse(&text).unwrap();
            for (key, value) in pairs {
                let read = Some(value.trim()).filter(|v| !v.is_empty());
                assert_eq!(state.get(key), read, "{key} in {text:?}");
            }
        }
        check(&[], "");
        check(&[("a", "1")], "a=1");
        check(&[("clinic", "ГП №5; корпус=2, 100%"), ("alt", "0")], "clinic=ГП №5%3B корпус%3D2, 100%25;alt=0");
        check(&[("slot", "2026-11-09 10:30"), ("office", "Астана")], "slot=2026-11-09 10:30;office=Астана");
        check(&[("a", "%3B")], "a=%253B");
        check(&[("a", "=;%")], "a=%3D%3B%25");
        // Documented losses: surrounding whitespace and empty values.
        check(&[("a", " x ")], "a= x ");
        check(&[("a", ""), ("b", "2")], "a=;b=2");
    }

    #[test]
    fn parse_table() {
        #[track_caller]
        fn check(text: &str, key: &str, expected: Option<Option<&str>>) {
            let parsed = State::parse(text);
            assert_eq!(parsed.as_ref().map(|s| s.get(key)), expected, "{text:?}");
        }
        // Tolerated: spacing, empty segments, order, unknown keys, lower-case escapes.
        check("a=1", "a", Some(Some("1")));
        check(" b = x ; a = 1 ;;", "a", Some(Some("1")));
        check("a=1;future=whatever", "a", Some(Some("1")));
        check("a=%3b", "a", Some(Some(";")));
        check("", "a", Some(None));
        check("a=", "a", Some(None));
        check("a=1;a=2", "a", Some(Some("2")));
        // Corrupt: no `=`, empty key, broken or non-ASCII escapes.
        check("garbage", "a", None);
        check("a=1;junk", "a", None);
        check("=1", "a", None);
        check("a=%", "a", None);
        check("a=%4", "a", None);
        check("a=%zz", "a", None);
        check("a=%C3%A9", "a", None);
    }
}
