//! Keeps personal identifiers out of logs and error texts.
//!
//! Two tools: [`redact`] masks anything IIN- or phone-shaped in free text that did not come
//! from us (plugin log lines, trap messages), and [`pseudonym`] gives a stable, non-reversible
//! handle for a person when an operator needs to correlate lines.

use sha2::{Digest, Sha256};

/// Replace every run of 10 or more digits (IINs, BINs, phone numbers, possibly written with
/// spaces, dashes, dots or brackets between digit groups) with `[redacted]`.
pub fn redact(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if is_digit(chars[i]) || (chars[i] == '+' && chars.get(i + 1).is_some_and(|c| is_digit(*c))) {
            // Extend over digits and the separators people put between digit groups.
            let mut j = i;
            let mut digits = 0;
            let mut last_digit_end = i;
            while j < chars.len() {
                let c = chars[j];
                if is_digit(c) {
                    digits += 1;
                    last_digit_end = j + 1;
                } else if !is_separator(c) {
                    break;
                }
                j += 1;
            }
            if digits >= 10 {
                out.push_str("[redacted]");
                i = last_digit_end;
                continue;
            }
            out.extend(&chars[i..last_digit_end.max(i + 1)]);
            i = last_digit_end.max(i + 1);
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Digits in any script (fullwidth `７`, Arabic-Indic `٧`): a number written in them is
/// still a number. (This also counts `½` and `²`; masking a little too much is the safe side.)
fn is_digit(c: char) -> bool {
    c.is_numeric()
}

/// What people (and software) put between digit groups: any space (a non-breaking one
/// too), dashes of every width, dots, slashes, brackets, plus.
fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '-' | '.' | '(' | ')' | '+' | '/' | '_' | '\u{2010}'..='\u{2015}' | '\u{2212}')
}

/// Whether text carries a run of 10 or more consecutive digits: an IIN, a BIN or a phone
/// number. Ids that end up in the append-only audit log must not, since nothing written
/// there can be erased later.
pub fn has_identifier_digits(text: &str) -> bool {
    let mut run = 0;
    for c in text.chars() {
        run = if is_digit(c) { run + 1 } else { 0 };
        if run >= 10 {
            return true;
        }
    }
    false
}

/// A short stable pseudonym for a personal identifier, for correlating log lines. Keyed
/// hashing of what enters the audit log is a separate concern (see [`crate::audit`]).
pub fn pseudonym(id: &str) -> String {
    let digest = Sha256::digest(format!("proactive-log:{id}").as_bytes());
    format!("p-{}", &hex::encode(digest)[..10])
}

/// Replace the default panic hook with one that redacts the message: a panic's text can
/// quote whatever value was at hand (an `expect` on a parsed reply, a plugin's string), and
/// panics go to the same stderr the operator's log collector reads.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        let backtrace = std::backtrace::Backtrace::capture();
        eprintln!("panic at {location}: {}\n{backtrace}", panic_message(info.payload()));
    }));
}

/// A panic payload's text, redacted.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(a non-text panic payload)".into());
    redact(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages_are_redacted() {
        let formatted = std::panic::catch_unwind(|| panic!("no reply for {}", "900101400123")).unwrap_err();
        assert_eq!(panic_message(&*formatted), "no reply for [redacted]");
        let literal = std::panic::catch_unwind(|| panic!("phone +77011234567")).unwrap_err();
        assert_eq!(panic_message(&*literal), "phone [redacted]");
    }

    #[track_caller]
    fn check(input: &str, expected: &str) {
        assert_eq!(redact(input), expected);
    }

    #[test]
    fn masks_identifiers_and_keeps_the_rest() {
        check("IIN 900101400123 missing", "IIN [redacted] missing");
        check("call +7 701 123 45 67 now", "call [redacted] now");
        check("8 (701) 123-45-67", "[redacted]");
        check("reply code 4821 for case 17", "reply code 4821 for case 17");
        check("87011234567,900101400123", "[redacted],[redacted]");
        check("amount 164350 ₸", "amount 164350 ₸");
        check("", "");
        check("ИИН: 900101400123.", "ИИН: [redacted].");
        // Non-breaking and thin spaces, en dashes, slashes; fullwidth and Arabic-Indic digits.
        check("8\u{a0}701\u{a0}7691486", "[redacted]");
        check("+7\u{2009}701\u{2013}123\u{2013}45\u{2013}67 ok", "[redacted] ok");
        check("8/701/123/45/67", "[redacted]");
        check("８７０１１２３４５６７", "[redacted]");
        check("٨٧٠١١٢٣٤٥٦٧", "[redacted]");
    }

    #[test]
    fn identifier_digits_are_spotted_in_ids() {
        for (id, expected) in [
            ("BR-2026-000001", false),
            ("E-900101400123", true),
            ("C-0000001", false),
            ("77011234567", true),
            ("", false),
        ] {
            assert_eq!(has_identifier_digits(id), expected, "{id}");
        }
    }

    #[test]
    fn pseudonyms_are_stable_and_do_not_contain_the_input() {
        assert_eq!(pseudonym("900101400123"), pseudonym("900101400123"));
        assert_ne!(pseudonym("900101400123"), pseudonym("900101400124"));
        assert!(!pseudonym("900101400123").contains("900101400123"));
    }
}
