//! A BIN identifies the organisation on the other side of a case: the employer paying a
//! benefit, the clinic a child is attached to. Rules need its type and division (a branch
//! cannot sign for the head office; a non-resident has different obligations), and the
//! "is the recipient a state body" check needs a number that is known to be well-formed.
//! Parsing it once into a checked type keeps that logic out of string slicing.
//!
//! Error messages never contain the digits, for the same reason as with the IIN: a sole
//! proprietor's BIN identifies a person.

use std::fmt;
use std::str::FromStr;

use super::IdError;
use super::checksum::{digits12, verify, with_check_digit};

/// Who registered: the 5th digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinEntityType {
    /// 4: legal entity resident in Kazakhstan.
    ResidentLegalEntity,
    /// 5: non-resident legal entity.
    NonResidentLegalEntity,
    /// 6: joint individual entrepreneurship.
    JointEntrepreneurship,
}

impl BinEntityType {
    fn from_digit(d: u8) -> Option<Self> {
        match d {
            4 => Some(Self::ResidentLegalEntity),
            5 => Some(Self::NonResidentLegalEntity),
            6 => Some(Self::JointEntrepreneurship),
            _ => None,
        }
    }

    fn digit(self) -> u8 {
        match self {
            Self::ResidentLegalEntity => 4,
            Self::NonResidentLegalEntity => 5,
            Self::JointEntrepreneurship => 6,
        }
    }
}

/// Which part of the organisation: the 6th digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinDivision {
    /// 0.
    HeadOffice,
    /// 1.
    Branch,
    /// 2.
    RepresentativeOffice,
    /// 3.
    PeasantFarm,
}

impl BinDivision {
    fn from_digit(d: u8) -> Option<Self> {
        match d {
            0 => Some(Self::HeadOffice),
            1 => Some(Self::Branch),
            2 => Some(Self::RepresentativeOffice),
            3 => Some(Self::PeasantFarm),
            _ => None,
        }
    }

    fn digit(self) -> u8 {
        match self {
            Self::HeadOffice => 0,
            Self::Branch => 1,
            Self::RepresentativeOffice => 2,
            Self::PeasantFarm => 3,
        }
    }
}

/// A business identification number that passed every check the registries apply, so the
/// accessors below cannot fail.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bin(String);

impl Bin {
    /// Exactly 12 ASCII digits; only surrounding whitespace is trimmed.
    pub fn parse(s: &str) -> Result<Bin, IdError> {
        let digits = digits12(s)?;
        if !(1..=12).contains(&month_of(&digits)) {
            return Err(IdError::BadMonth);
        }
        BinEntityType::from_digit(digits[4]).ok_or(IdError::BadEntityType)?;
        BinDivision::from_digit(digits[5]).ok_or(IdError::BadDivision)?;
        verify(&digits)?;
        Ok(Bin(s.trim().to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Registration (year, month).
    ///
    /// The number carries only two year digits. Entities registered before BINs were
    /// introduced kept their original registration date, so 1990s years are real; no live
    /// entity predates 1951, so YY <= 50 is read as 20YY and the rest as 19YY, which stays
    /// unambiguous until 2050.
    pub fn registered(&self) -> (i32, u32) {
        let d = self.digits();
        let yy = i32::from(d[0]) * 10 + i32::from(d[1]);
        let year = if yy <= 50 { 2000 + yy } else { 1900 + yy };
        (year, month_of(&d))
    }

    pub fn entity_type(&self) -> BinEntityType {
        BinEntityType::from_digit(self.digits()[4]).expect("Bin is validated on construction")
    }

    pub fn division(&self) -> BinDivision {
        BinDivision::from_digit(self.digits()[5]).expect("Bin is validated on construction")
    }

    /// Builds a valid BIN; None when that serial gives an uncheckable number (try the next
    /// serial), or when the year is outside 1951..=2050 (it would not read back as the same
    /// year), the month outside 1..=12 or the serial above 99999.
    pub fn from_parts(
        year: i32,
        month: u32,
        entity_type: BinEntityType,
        division: BinDivision,
        serial: u32,
    ) -> Option<Bin> {
        if !(1951..=2050).contains(&year) || !(1..=12).contains(&month) || serial > 99_999 {
            return None;
        }
        let digit = |n: u32, place: u32| (n / place % 10) as u8;
        let yy = year.rem_euclid(100) as u32;
        with_check_digit([
            digit(yy, 10),
            digit(yy, 1),
            digit(month, 10),
            digit(month, 1),
            entity_type.digit(),
            division.digit(),
            digit(serial, 10_000),
            digit(serial, 1_000),
            digit(serial, 100),
            digit(serial, 10),
            digit(serial, 1),
        ])
        .map(Bin)
    }

    fn digits(&self) -> [u8; 12] {
        digits12(&self.0).expect("Bin is validated on construction")
    }
}

fn month_of(d: &[u8; 12]) -> u32 {
    u32::from(d[2]) * 10 + u32::from(d[3])
}

impl FromStr for Bin {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Bin::parse(s)
    }
}

/// Prints the digits.
impl fmt::Display for Bin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use BinDivision::*;
    use BinEntityType::*;

    #[test]
    fn parse_valid_table() {
        #[track_caller]
        fn check(input: &str, expected: ((i32, u32), BinEntityType, BinDivision)) {
            let bin = Bin::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!((bin.registered(), bin.entity_type(), bin.division()), expected);
            assert_eq!(bin.as_str(), input.trim());
            assert_eq!(input.parse::<Bin>().as_ref(), Ok(&bin));
            assert_eq!(bin.to_string(), input.trim());
        }
        // Check digits computed by hand.
        check("080140000017", ((2008, 1), ResidentLegalEntity, HeadOffice));
        check("951241123453", ((1995, 12), ResidentLegalEntity, Branch));
        check("190352000072", ((2019, 3), NonResidentLegalEntity, RepresentativeOffice));
        check("240663000421", ((2024, 6), JointEntrepreneurship, PeasantFarm));
        check("080140000808", ((2008, 1), ResidentLegalEntity, HeadOffice)); // second weights
        // The century pivot.
        check("501240000013", ((2050, 12), ResidentLegalEntity, HeadOffice));
        check("510140000019", ((1951, 1), ResidentLegalEntity, HeadOffice));
        check(" 080140000017 ", ((2008, 1), ResidentLegalEntity, HeadOffice));
    }

    #[test]
    fn parse_invalid_table() {
        #[track_caller]
        fn check(input: &str, expected: IdError) {
            assert_eq!(Bin::parse(input), Err(expected), "{input:?}");
        }
        check("08014000001", IdError::WrongLength { got: 11 });
        check("0801400000170", IdError::WrongLength { got: 13 });
        check("08014000001O", IdError::NotDigits);
        check("080040000017", IdError::BadMonth);
        check("081340000017", IdError::BadMonth);
        check("080130000017", IdError::BadEntityType);
        check("080170000017", IdError::BadEntityType);
        check("080144000017", IdError::BadDivision);
        check("080149000017", IdError::BadDivision);
        check("080140000018", IdError::ChecksumMismatch);
        for last in 0..=9 {
            check(&format!("08014000081{last}"), IdError::Uncheckable);
        }
    }

    #[test]
    fn from_parts_table() {
        #[track_caller]
        fn check(parts: (i32, u32, BinEntityType, BinDivision, u32), expected: Option<&str>) {
            let (year, month, entity_type, division, serial) = parts;
            let built = Bin::from_parts(year, month, entity_type, division, serial);
            assert_eq!(built.as_ref().map(Bin::as_str), expected, "{parts:?}");
            if let Some(bin) = built {
                let parsed = Bin::parse(bin.as_str()).unwrap();
                assert_eq!(parsed.registered(), (year, month));
                assert_eq!((parsed.entity_type(), parsed.division()), (entity_type, division));
            }
        }
        check((2008, 1, ResidentLegalEntity, HeadOffice, 1), Some("080140000017"));
        check((1995, 12, ResidentLegalEntity, Branch, 12345), Some("951241123453"));
        check((2019, 3, NonResidentLegalEntity, RepresentativeOffice, 7), Some("190352000072"));
        check((2024, 6, JointEntrepreneurship, PeasantFarm, 42), Some("240663000421"));
        check((2008, 1, ResidentLegalEntity, HeadOffice, 80), Some("080140000808"));
        // Uncheckable serial: try the next one.
        check((2008, 1, ResidentLegalEntity, HeadOffice, 81), None);
        // Not expressible.
        check((1950, 1, ResidentLegalEntity, HeadOffice, 1), None);
        check((2051, 1, ResidentLegalEntity, HeadOffice, 1), None);
        check((2008, 0, ResidentLegalEntity, HeadOffice, 1), None);
        check((2008, 13, ResidentLegalEntity, HeadOffice, 1), None);
        check((2008, 1, ResidentLegalEntity, HeadOffice, 100_000), None);
    }

    #[test]
    fn error_messages_never_echo_digits() {
        #[track_caller]
        fn check(input: &str, expected: &str) {
            let msg = Bin::parse(input).unwrap_err().to_string();
            assert_eq!(msg, expected);
            assert!(!msg.contains(input.trim()), "message echoes input: {msg}");
        }
        check("081340000017", "BIN registration month (digits 3-4) must be 01-12");
        check("080130000017", "BIN entity type (digit 5) must be 4, 5 or 6");
        check("080144000017", "BIN division (digit 6) must be 0-3");
        check("080140000018", "IIN/BIN check digit does not match");
    }
}
