//! The state registries reject an IIN or BIN whose 12th digit does not match the first
//! eleven, so we check it the same way before a number reaches a registry call: a typo
//! caught here is a clear error instead of a silent "person not found".
//!
//! The rule deliberately has no fallback: when both weight sets give 10 the registry never
//! issues that number, so substituting 0 (as some published snippets do) would accept IINs
//! that cannot exist.

use super::IdError;

const FIRST_WEIGHTS: [u32; 11] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const SECOND_WEIGHTS: [u32; 11] = [3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2];

/// The check digit for the first eleven digits of an IIN or BIN, given as digit values
/// (`0..=9`, not ASCII).
///
/// Returns None when the number cannot carry a valid check digit (10 with both weight sets):
/// such numbers are never issued, so a generator must move on to the next serial.
pub fn check_digit(first11: &[u8; 11]) -> Option<u8> {
    let weighted = |weights: &[u32; 11]| {
        let sum: u32 = first11.iter().zip(weights).map(|(&d, &w)| u32::from(d) * w).sum();
        sum % 11
    };
    [&FIRST_WEIGHTS, &SECOND_WEIGHTS]
        .into_iter()
        .map(weighted)
        .find(|&r| r != 10)
        // Both remainders are < 10 here, so the narrowing cannot truncate.
        .map(|r| r as u8)
}

/// The 12 digit values of an identifier typed by a person or read from a record. Surrounding
/// whitespace is forgiven because copy-paste adds it; anything inside is not, because a
/// registry number with a space in it is not the same record.
pub(super) fn digits12(s: &str) -> Result<[u8; 12], IdError> {
    let s = s.trim();
    let got = s.chars().count();
    if got != 12 {
        return Err(IdError::WrongLength { got });
    }
    let mut out = [0u8; 12];
    for (slot, c) in out.iter_mut().zip(s.chars()) {
        if !c.is_ascii_digit() {
            return Err(IdError::NotDigits);
        }
        *slot = c as u8 - b'0';
    }
    Ok(out)
}

/// Verifies the 12th digit. Called after the structural checks so that a wrong date or type
/// is reported as such rather than as a checksum failure.
pub(super) fn verify(digits: &[u8; 12]) -> Result<(), IdError> {
    let (first11, last) = digits.split_at(11);
    let first11: &[u8; 11] = first11.try_into().expect("split_at(11) of 12 leaves 11");
    match check_digit(first11) {
        None => Err(IdError::Uncheckable),
        Some(d) if d == last[0] => Ok(()),
        Some(_) => Err(IdError::ChecksumMismatch),
    }
}

/// The text form of digit values, for identifiers built from parts.
pub(super) fn to_text(digits: &[u8]) -> String {
    digits.iter().map(|&d| char::from(b'0' + d)).collect()
}

/// Appends the check digit, or None when the number is uncheckable.
pub(super) fn with_check_digit(first11: [u8; 11]) -> Option<String> {
    let check = check_digit(&first11)?;
    let mut s = to_text(&first11);
    s.push(char::from(b'0' + check));
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first11(s: &str) -> [u8; 11] {
        let v: Vec<u8> = s.bytes().map(|b| b - b'0').collect();
        v.try_into().unwrap()
    }

    #[test]
    fn check_digit_table() {
        #[track_caller]
        fn check(input: &str, expected: Option<u8>) {
            assert_eq!(check_digit(&first11(input)), expected, "check digit of {input}");
        }
        // First weight set.
        check("90010130012", Some(6));
        check("85123140057", Some(7));
        check("01020350123", Some(4));
        check("00000000000", Some(0));
        // First set gives 10, second does not.
        check("99123140000", Some(2));
        check("90010130081", Some(1));
        // Both sets give 10: no valid number exists.
        check("90010130080", None);
        check("90010130161", None);
    }

    #[test]
    fn digits12_table() {
        #[track_caller]
        fn check(input: &str, expected: Result<[u8; 12], IdError>) {
            assert_eq!(digits12(input), expected, "digits of {input:?}");
        }
        check("900101300126", Ok([9, 0, 0, 1, 0, 1, 3, 0, 0, 1, 2, 6]));
        check(" 900101300126\n", Ok([9, 0, 0, 1, 0, 1, 3, 0, 0, 1, 2, 6]));
        check("90010130012", Err(IdError::WrongLength { got: 11 }));
        check("", Err(IdError::WrongLength { got: 0 }));
        check("9001 0130012", Err(IdError::NotDigits));
        check("90010130012a", Err(IdError::NotDigits));
        // Twelve characters but not twelve bytes: counted as characters, no slicing panic.
        check("٩٠٠١٠١٣٠٠١٢٦", Err(IdError::NotDigits));
        check("9001013001😀", Err(IdError::WrongLength { got: 11 }));
    }

    #[test]
    fn verify_table() {
        #[track_caller]
        fn check(input: &str, expected: Result<(), IdError>) {
            assert_eq!(verify(&digits12(input).unwrap()), expected, "verify {input}");
        }
        check("900101300126", Ok(()));
        check("900101300127", Err(IdError::ChecksumMismatch));
        check("991231400002", Ok(()));
        check("900101300800", Err(IdError::Uncheckable));
        check("900101300809", Err(IdError::Uncheckable));
    }
}
