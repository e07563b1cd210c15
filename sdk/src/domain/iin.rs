//! The IIN is the key every registry fact, consent and case hangs off, and the birth date
//! and sex encoded in it drive eligibility ("a child under 1", "a woman of 58"). Parsing it
//! once into a checked type means plugin rules never re-derive those from raw strings, and a
//! mistyped number fails here with a reason instead of deep inside a registry query.
//!
//! Error messages never contain the digits: an IIN is personal data, and errors end up in
//! logs and audit records.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Months, NaiveDate};

use super::checksum::{digits12, verify, with_check_digit};

/// Sex as encoded in the 7th IIN digit; the registries only record these two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sex {
    Male,
    Female,
}

/// Why a string is not a valid IIN or BIN. Shared by both because they share the layout and
/// the check digit, and callers usually only need to tell the citizen "this number is wrong".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdError {
    /// Not 12 characters after trimming surrounding whitespace.
    WrongLength { got: usize },
    /// 12 characters, but not all ASCII digits.
    NotDigits,
    /// IIN: the first six digits are not a calendar date.
    BadDate,
    /// IIN: the 7th digit is not 1-6, so it gives no century or sex.
    BadCenturyDigit,
    /// BIN: the registration month is not 01-12.
    BadMonth,
    /// BIN: the 5th digit is not 4, 5 or 6.
    BadEntityType,
    /// BIN: the 6th digit is not 0-3.
    BadDivision,
    /// The 12th digit does not match the first eleven: usually a typo.
    ChecksumMismatch,
    /// The first eleven digits give 10 with both weight sets; no such number is ever issued.
    Uncheckable,
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdError::WrongLength { got } => {
                write!(f, "IIN/BIN must be 12 digits, got {got} characters")
            }
            IdError::NotDigits => f.write_str("IIN/BIN must contain only digits 0-9"),
            IdError::BadDate => f.write_str("IIN birth date (digits 1-6) is not a calendar date"),
            IdError::BadCenturyDigit => f.write_str("IIN century digit (digit 7) must be 1-6"),
            IdError::BadMonth => f.write_str("BIN registration month (digits 3-4) must be 01-12"),
            IdError::BadEntityType => f.write_str("BIN entity type (digit 5) must be 4, 5 or 6"),
            IdError::BadDivision => f.write_str("BIN division (digit 6) must be 0-3"),
            IdError::ChecksumMismatch => f.write_str("IIN/BIN check digit does not match"),
            IdError::Uncheckable => f.write_str("IIN/BIN cannot carry a valid check digit, so it was never issued"),
        }
    }
}

impl std::error::Error for IdError {}

/// An individual identification number that passed every check the registries apply, so
/// the accessors below cannot fail.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Iin(String);

impl Iin {
    /// Exactly 12 ASCII digits; only surrounding whitespace is trimmed, because anything else
    /// (inner spaces, dashes) is more likely a different number than a formatting habit.
    pub fn parse(s: &str) -> Result<Iin, IdError> {
        let digits = digits12(s)?;
        century_and_sex(digits[6]).ok_or(IdError::BadCenturyDigit)?;
        date_of(&digits).ok_or(IdError::BadDate)?;
        verify(&digits)?;
        Ok(Iin(s.trim().to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The birth date; guaranteed valid by [`Iin::parse`].
    pub fn birth_date(&self) -> NaiveDate {
        date_of(&self.digits()).expect("Iin is validated on construction")
    }

    /// 1800, 1900 or 2000.
    pub fn century(&self) -> i32 {
        self.century_and_sex().0
    }

    pub fn sex(&self) -> Sex {
        self.century_and_sex().1
    }

    /// Completed years on `date` (0 before birth).
    ///
    /// Someone born on 29 February completes a year on 28 February in common years: the
    /// Civil Code ends a period that falls on a missing day on the last day of that month, and
    /// benefit rules follow it.
    pub fn age_on(&self, date: NaiveDate) -> u32 {
        let birth = self.birth_date();
        let reached = |years: u32| birth.checked_add_months(Months::new(years * 12)).is_some_and(|d| d <= date);
        let Ok(guess) = u32::try_from(date.year() - birth.year()) else {
            return 0;
        };
        if reached(guess) { guess } else { guess.saturating_sub(1) }
    }

    /// Builds a valid IIN for a birth date, sex and serial; None when that serial gives an
    /// uncheckable number (try the next serial), or when the year is outside 1800..=2099 or
    /// the serial outside 0..=9999, which the format cannot express.
    pub fn from_parts(birth: NaiveDate, sex: Sex, serial: u16) -> Option<Iin> {
        let year = birth.year();
        if !(1800..=2099).contains(&year) || serial > 9999 {
            return None;
        }
        let century_digit = match ((year - 1800) / 100, sex) {
            (0, Sex::Male) => 1,
            (0, Sex::Female) => 2,
            (1, Sex::Male) => 3,
            (1, Sex::Female) => 4,
            (_, Sex::Male) => 5,
            (_, Sex::Female) => 6,
        };
        let two = |n: u32| [(n / 10) as u8, (n % 10) as u8];
        let [y1, y2] = two(year.rem_euclid(100) as u32);
        let [m1, m2] = two(birth.month());
        let [d1, d2] = two(birth.day());
        let serial = u32::from(serial);
        let [s1, s2] = two(serial / 100);
        let [s3, s4] = two(serial % 100);
        with_check_digit([y1, y2, m1, m2, d1, d2, century_digit, s1, s2, s3, s4]).map(Iin)
    }

    fn digits(&self) -> [u8; 12] {
        digits12(&self.0).expect("Iin is validated on construction")
    }

    fn century_and_sex(&self) -> (i32, Sex) {
        century_and_sex(self.digits()[6]).expect("Iin is validated on construction")
    }
}

fn century_and_sex(digit: u8) -> Option<(i32, Sex)> {
    let century = match digit {
        1 | 2 => 1800,
        3 | 4 => 1900,
        5 | 6 => 2000,
        _ => return None,
    };
    let sex = if digit % 2 == 1 { Sex::Male } else { Sex::Female };
    Some((century, sex))
}

/// The birth date of validated-length digits; None for a bad century digit or a day that
/// does not exist in that year (which depends on the century: 000229 is valid only in 2000).
fn date_of(d: &[u8; 12]) -> Option<NaiveDate> {
    let (century, _) = century_and_sex(d[6])?;
    let two = |i: usize| u32::from(d[i]) * 10 + u32::from(d[i + 1]);
    let year = century + two(0) as i32;
    NaiveDate::from_ymd_opt(year, two(2), two(4))
}

impl FromStr for Iin {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Iin::parse(s)
    }
}

/// Prints the digits: callers are responsible for not logging it.
impl fmt::Display for Iin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn parse_valid_table() {
        #[track_caller]
        fn check(input: &str, expected: (NaiveDate, i32, Sex)) {
            let iin = Iin::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!((iin.birth_date(), iin.century(), iin.sex()), expected, "{input:?}");
            assert_eq!(iin.as_str(), input.trim());
            assert_eq!(input.parse::<Iin>().as_ref(), Ok(&iin));
            assert_eq!(iin.to_string(), input.trim());
        }
        // Check digits computed by hand (first weight set unless noted).
        check("850312100043", (date(1885, 3, 12), 1800, Sex::Male)); // second weight set
        check("991231200017", (date(1899, 12, 31), 1800, Sex::Female));
        check("900101300126", (date(1990, 1, 1), 1900, Sex::Male));
        check("851231400577", (date(1985, 12, 31), 1900, Sex::Female));
        check("010203501234", (date(2001, 2, 3), 2000, Sex::Male));
        check("020314600773", (date(2002, 3, 14), 2000, Sex::Female));
        check("000229600014", (date(2000, 2, 29), 2000, Sex::Female));
        check("991231400002", (date(1999, 12, 31), 1900, Sex::Female)); // second weight set
        check("900101300811", (date(1990, 1, 1), 1900, Sex::Male)); // second weight set
        check("  900101300126\t", (date(1990, 1, 1), 1900, Sex::Male));
    }

    #[test]
    fn parse_invalid_table() {
        #[track_caller]
        fn check(input: &str, expected: IdError) {
            assert_eq!(Iin::parse(input), Err(expected), "{input:?}");
        }
        check("90010130012", IdError::WrongLength { got: 11 });
        check("9001013001260", IdError::WrongLength { got: 13 });
        check("", IdError::WrongLength { got: 0 });
        check("9001013001a6", IdError::NotDigits);
        check("900101 30012", IdError::NotDigits);
        check("900101-30012", IdError::NotDigits);
        check("ИИН900101300", IdError::NotDigits);
        check("900230300126", IdError::BadDate); // 30 February
        check("901301300126", IdError::BadDate); // month 13
        check("900100300126", IdError::BadDate); // day 0
        check("000229300126", IdError::BadDate); // 1900 was not a leap year
        check("900101000126", IdError::BadCenturyDigit);
        check("900101700126", IdError::BadCenturyDigit);
        check("900101800126", IdError::BadCenturyDigit);
        check("900101900126", IdError::BadCenturyDigit);
        check("900101300127", IdError::ChecksumMismatch);
        check("991231400003", IdError::ChecksumMismatch);
        // Both weight sets give 10: no last digit makes it valid, and 0 is not substituted.
        for last in 0..=9 {
            check(&format!("90010130080{last}"), IdError::Uncheckable);
            check(&format!("85031210002{last}"), IdError::Uncheckable);
        }
    }

    #[test]
    fn from_parts_table() {
        #[track_caller]
        fn check(birth: NaiveDate, sex: Sex, serial: u16, expected: Option<&str>) {
            let built = Iin::from_parts(birth, sex, serial);
            assert_eq!(built.as_ref().map(Iin::as_str), expected, "{birth} {sex:?} {serial}");
            if let Some(iin) = built {
                let parsed = Iin::parse(iin.as_str()).unwrap();
                assert_eq!((parsed.birth_date(), parsed.sex()), (birth, sex));
            }
        }
        // Every century digit, both sexes.
        check(date(1885, 3, 12), Sex::Male, 4, Some("850312100043"));
        check(date(1899, 12, 31), Sex::Female, 1, Some("991231200017"));
        check(date(1990, 1, 1), Sex::Male, 12, Some("900101300126"));
        check(date(1985, 12, 31), Sex::Female, 57, Some("851231400577"));
        check(date(2001, 2, 3), Sex::Male, 123, Some("010203501234"));
        check(date(2002, 3, 14), Sex::Female, 77, Some("020314600773"));
        check(date(2000, 1, 1), Sex::Female, 0, Some("000101600008"));
        check(date(2099, 12, 31), Sex::Male, 9999, Some("991231599997"));
        // Uncheckable serials: try the next one.
        check(date(1990, 1, 1), Sex::Male, 80, None);
        check(date(1990, 1, 1), Sex::Male, 81, Some("900101300811"));
        check(date(1885, 3, 12), Sex::Male, 2, None);
        // Outside what the format can express.
        check(date(1799, 12, 31), Sex::Male, 1, None);
        check(date(2100, 1, 1), Sex::Female, 1, None);
        check(date(1990, 1, 1), Sex::Male, 10000, None);
    }

    #[test]
    fn age_on_table() {
        #[track_caller]
        fn check(iin: &str, on: NaiveDate, expected: u32) {
            assert_eq!(Iin::parse(iin).unwrap().age_on(on), expected, "{iin} on {on}");
        }
        check("900101300126", date(1990, 1, 1), 0);
        check("900101300126", date(1989, 6, 1), 0); // before birth
        check("900101300126", date(2025, 12, 31), 35);
        check("900101300126", date(2026, 1, 1), 36);
        check("851231400577", date(2026, 12, 30), 40);
        check("851231400577", date(2026, 12, 31), 41);
        // Born 29 February: the year completes on 28 February in common years.
        check("000229600014", date(2001, 2, 27), 0);
        check("000229600014", date(2001, 2, 28), 1);
        check("000229600014", date(2004, 2, 28), 3);
        check("000229600014", date(2004, 2, 29), 4);
    }

    #[test]
    fn error_messages_never_echo_digits() {
        #[track_caller]
        fn check(input: &str, expected: &str) {
            let msg = Iin::parse(input).unwrap_err().to_string();
            assert_eq!(msg, expected);
            assert!(!msg.contains(input.trim()), "message echoes input: {msg}");
        }
        check("90010130012", "IIN/BIN must be 12 digits, got 11 characters");
        check("9001013001a6", "IIN/BIN must contain only digits 0-9");
        check("900230300126", "IIN birth date (digits 1-6) is not a calendar date");
        check("900101000126", "IIN century digit (digit 7) must be 1-6");
        check("900101300127", "IIN/BIN check digit does not match");
        check("900101300800", "IIN/BIN cannot carry a valid check digit, so it was never issued");
    }
}
