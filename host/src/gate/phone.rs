//! A proactive offer may only go to a Kazakh mobile number: an SMS to a landline is lost
//! silently, and one to a Russian number — Kazakhstan shares country code +7 with Russia —
//! leaves the country. Registry files hold numbers as people wrote them, so the gate reads
//! them with libphonenumber's data rather than guessing from prefixes, and keeps them in one
//! canonical (E.164) form. A phone number is personal data: it never appears in full in
//! logs or errors, which is why [`MobileNumber`] has a masked `Debug` and no `Display`.
//!
//! Two quirks of the `phonenumber` crate (0.3.10) are worked around here rather than trusted:
//! given ten digits without a trunk prefix ("7011234567") it strips the leading 7 as if it
//! were the country code, so such input gets the Kazakh trunk prefix 8 first; and it reads
//! letters as keypad digits ("+7 701 ABC DEFG" is a valid mobile to it), so only digits and
//! ordinary separators are let through to it at all.

use std::fmt;

use phonenumber::country::Id;
use phonenumber::{Mode, Type};

/// Why a number was refused. Messages never contain the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("not a valid phone number")]
    Unparseable,
    #[error("not a Kazakh phone number")]
    NotKazakh,
    #[error("not a mobile number")]
    NotMobile,
}

/// A Kazakh mobile number in E.164 form, e.g. `+77011234567`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MobileNumber(String);

impl MobileNumber {
    /// The full E.164 number — for the SMS gateway and the store only, never for logs.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A form safe for logs: country code and operator prefix, then only the last four
    /// digits (`+7701***4567`).
    pub fn masked(&self) -> String {
        let s = &self.0;
        match (s.get(..5), s.len().checked_sub(4).and_then(|i| s.get(i..))) {
            (Some(head), Some(tail)) if s.len() >= 9 => format!("{head}***{tail}"),
            _ => "***".to_owned(),
        }
    }
}

impl fmt::Debug for MobileNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MobileNumber").field(&self.masked()).finish()
    }
}

/// Inputs longer than this are not phone numbers, whatever they contain.
const MAX_INPUT_CHARS: usize = 64;
/// E.164 allows at most 15 digits; with a trunk or international prefix, a few more.
const MAX_DIGITS: usize = 18;
/// A Kazakh national significant number: 10 digits, e.g. `7011234567`.
const NATIONAL_DIGITS: usize = 10;

/// Separators people put in numbers: spaces, brackets, dots, slashes and dashes of all kinds.
fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '-' | '.' | '/' | '\u{2010}'..='\u{2015}' | '\u{2212}')
}

/// Reduces `raw` to an optional leading `+` and its digits, or `None` if it holds anything
/// else (letters, a second `+`, extension marks such as `#` or `;`).
fn digits_only(raw: &str) -> Option<(bool, String)> {
    if raw.chars().count() > MAX_INPUT_CHARS {
        return None;
    }
    let mut plus = false;
    let mut digits = String::new();
    for c in raw.chars() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if !plus && digits.is_empty() => plus = true,
            c if is_separator(c) => {}
            _ => return None,
        }
    }
    (!digits.is_empty() && digits.len() <= MAX_DIGITS).then_some((plus, digits))
}

/// Reads a phone number as people write it — `8 (701) 123-45-67`, `+7 701 123 45 67`,
/// `87011234567`, `7011234567` — and keeps it only if it is a valid Kazakh mobile number.
///
/// A number libphonenumber cannot tell between fixed line and mobile (`FixedLineOrMobile`)
/// is accepted: refusing it would withhold the offer altogether, while a failed delivery is
/// reported by the operator. Kazakhstan's fixed (71x, 72x) and mobile (70x, 747, 76x, 77x,
/// 785) ranges do not overlap in the current data, so for now every Kazakh number is one or
/// the other.
pub fn normalise(raw: &str) -> Result<MobileNumber, PhoneError> {
    let (plus, digits) = digits_only(raw).ok_or(PhoneError::Unparseable)?;
    let candidate = match (plus, digits.len()) {
        (true, _) => format!("+{digits}"),
        (false, NATIONAL_DIGITS) => format!("8{digits}"),
        (false, _) => digits,
    };
    let number = phonenumber::parse(Some(Id::KZ), &candidate).map_err(|_| PhoneError::Unparseable)?;
    if number.extension().is_some() || !phonenumber::is_valid(&number) {
        return Err(PhoneError::Unparseable);
    }
    if number.country().id() != Some(Id::KZ) {
        return Err(PhoneError::NotKazakh);
    }
    match number.number_type(&phonenumber::metadata::DATABASE) {
        Type::Mobile | Type::FixedLineOrMobile => {}
        _ => return Err(PhoneError::NotMobile),
    }
    let e164 = number.format().mode(Mode::E164).to_string();
    if !e164.starts_with("+7") {
        return Err(PhoneError::NotKazakh);
    }
    Ok(MobileNumber(e164))
}

#[cfg(test)]
mod tests {
    use super::*;
    use PhoneError::{NotKazakh, NotMobile, Unparseable};

    #[track_caller]
    fn check(raw: &str, expected: Result<&str, PhoneError>) {
        let got = normalise(raw);
        assert_eq!(got.as_ref().map(MobileNumber::as_str), expected.as_ref().copied(), "{raw:?}");
    }

    #[test]
    fn normalises_what_people_write() {
        let rows: &[(&str, Result<&str, PhoneError>)] = &[
            ("8 (701) 123-45-67", Ok("+77011234567")),
            ("+7 701 123 45 67", Ok("+77011234567")),
            ("87011234567", Ok("+77011234567")),
            ("7011234567", Ok("+77011234567")),
            ("+77011234567", Ok("+77011234567")),
            ("77011234567", Ok("+77011234567")),
            ("(701) 123-45-67", Ok("+77011234567")),
            ("8-701-123-45-67", Ok("+77011234567")),
            ("8.701.123.45.67", Ok("+77011234567")),
            ("  +7 (701) 123 4567 ", Ok("+77011234567")),
            ("8\u{a0}701\u{a0}123\u{a0}45\u{a0}67", Ok("+77011234567")),
            ("8\u{2011}701\u{2011}123\u{2011}45\u{2011}67", Ok("+77011234567")),
            ("+ 7 701 123 45 67", Ok("+77011234567")),
            ("+7701-1234567", Ok("+77011234567")),
            // International dialling from Kazakhstan.
            ("8 10 7 701 123 45 67", Ok("+77011234567")),
            // Every mobile range in the data.
            ("+7 700 000 00 00", Ok("+77000000000")),
            ("+7 705 123 45 67", Ok("+77051234567")),
            ("+7 707 123 45 67", Ok("+77071234567")),
            ("+7 708 123 45 67", Ok("+77081234567")),
            ("+7 747 123 45 67", Ok("+77471234567")),
            ("+7 760 123 45 67", Ok("+77601234567")),
            ("+7 764 123 45 67", Ok("+77641234567")),
            ("+7 771 123 45 67", Ok("+77711234567")),
            ("+7 775 123 45 67", Ok("+77751234567")),
            ("+7 778 123 45 67", Ok("+77781234567")),
            ("+7 785 123 45 67", Ok("+77851234567")),
            // Russia shares +7.
            ("+7 916 123 45 67", Err(NotKazakh)),
            ("8 916 123 45 67", Err(NotKazakh)),
            ("9161234567", Err(NotKazakh)),
            ("+7 495 123 45 67", Err(NotKazakh)),
            // Baikonur's 336 is in Kazakhstan but numbered, and classified, as Russia.
            ("+7 336 222 22 22", Err(NotKazakh)),
            ("+998 90 123 45 67", Err(NotKazakh)),
            ("+1 202 555 0100", Err(NotKazakh)),
            ("+44 7911 123456", Err(NotKazakh)),
            // Kazakh landlines and VoIP.
            ("+7 727 250 00 00", Err(NotMobile)),
            ("8 7172 55 55 55", Err(NotMobile)),
            ("7272500000", Err(NotMobile)),
            ("+7 751 123 45 67", Err(NotMobile)),
            // Not numbers, or not whole ones.
            ("", Err(Unparseable)),
            ("   ", Err(Unparseable)),
            ("garbage", Err(Unparseable)),
            ("123", Err(Unparseable)),
            ("+7 701 123 45 6", Err(Unparseable)),
            ("+7 701 123 45 678", Err(Unparseable)),
            ("701123456", Err(Unparseable)),
            ("+7 709 123 45 67", Err(Unparseable)),
            ("+7 600 123 45 67", Err(Unparseable)),
            ("+7 701 ABC DEFG", Err(Unparseable)),
            ("+7 701 123 45 67 abc", Err(Unparseable)),
            ("+7 701 123 45 67 ext. 5", Err(Unparseable)),
            ("87011234567#", Err(Unparseable)),
            ("+77011234567;ext=1", Err(Unparseable)),
            ("tel:+7-701-123-45-67", Err(Unparseable)),
            ("++77011234567", Err(Unparseable)),
            ("7+7011234567", Err(Unparseable)),
            ("8 701 123 45 67, 8 702 123 45 67", Err(Unparseable)),
            ("8701123456７", Err(Unparseable)),
            ("1234567890123456789", Err(Unparseable)),
        ];
        for &(raw, expected) in rows {
            check(raw, expected);
        }
    }

    #[track_caller]
    fn check_shown(raw: &str, expected: (&str, &str)) {
        let (masked, debug) = expected;
        match normalise(raw) {
            Ok(n) => {
                assert_eq!(n.masked(), masked, "{raw:?}");
                assert_eq!(format!("{n:?}"), debug, "{raw:?}");
                assert!(!format!("{n:?} {n:#?}").contains(n.as_str()), "{raw:?}");
            }
            Err(e) => panic!("{raw:?} should normalise, got {e}"),
        }
    }

    #[test]
    fn shows_only_a_masked_form() {
        let rows = [
            ("+77011234567", ("+7701***4567", r#"MobileNumber("+7701***4567")"#)),
            ("8 747 000 99 88", ("+7747***9988", r#"MobileNumber("+7747***9988")"#)),
        ];
        for (raw, expected) in rows {
            check_shown(raw, expected);
        }
    }

    #[track_caller]
    fn check_message(error: PhoneError, expected: &str) {
        assert_eq!(error.to_string(), expected);
    }

    #[test]
    fn messages_carry_no_number() {
        let rows = [
            (Unparseable, "not a valid phone number"),
            (NotKazakh, "not a Kazakh phone number"),
            (NotMobile, "not a mobile number"),
        ];
        for (error, expected) in rows {
            check_message(error, expected);
        }
    }
}
