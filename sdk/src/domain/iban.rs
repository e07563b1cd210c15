//! Benefits are paid to the account the citizen names, and the citizen names it by SMS,
//! typed on a phone keyboard: lower case, spaces every four characters, surrounded by
//! "иә" and an emoji. A wrong account means money sent to a stranger, so the number is
//! accepted only when its ISO 13616 check digits hold, and free text is scanned for the
//! first number that does, rather than trusting whatever follows "KZ".
//!
//! Error messages never contain the account: it is personal data.

use std::fmt;
use std::str::FromStr;

/// Total length of a Kazakh IBAN.
const LEN: usize = 20;

/// Why a string is not a valid Kazakh IBAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IbanError {
    /// Not 20 characters once spaces are removed.
    WrongLength { got: usize },
    /// A valid-looking IBAN of another country: we only pay into Kazakh accounts.
    NotKz,
    /// Something other than Latin letters and digits (or non-digit check digits).
    BadCharacters,
    /// The check digits do not match: usually a typo.
    ChecksumMismatch,
}

impl fmt::Display for IbanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IbanError::WrongLength { got } => {
                write!(f, "KZ IBAN must be {LEN} characters without spaces, got {got}")
            }
            IbanError::NotKz => f.write_str("IBAN must start with KZ"),
            IbanError::BadCharacters => {
                f.write_str("IBAN may contain only Latin letters and digits, with digits 3-4 numeric")
            }
            IbanError::ChecksumMismatch => f.write_str("IBAN check digits do not match"),
        }
    }
}

impl std::error::Error for IbanError {}

/// A Kazakh IBAN in compact upper-case form whose check digits hold.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KzIban(String);

impl KzIban {
    /// Accepts what people type: whitespace anywhere and lower case are normalised away.
    pub fn parse(s: &str) -> Result<KzIban, IbanError> {
        let compact: String = s.chars().filter(|c| !c.is_whitespace()).map(|c| c.to_ascii_uppercase()).collect();
        if !compact.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(IbanError::BadCharacters);
        }
        // Country before length: a German IBAN is "not Kazakh", not "too long".
        if compact.len() >= 2 && !compact.starts_with("KZ") {
            return Err(IbanError::NotKz);
        }
        if compact.len() != LEN {
            return Err(IbanError::WrongLength { got: compact.len() });
        }
        let check = &compact[2..4];
        if !check.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IbanError::BadCharacters);
        }
        // 00, 01 and 99 can satisfy mod 97 (they alias 97, 98 and 02) but ISO 13616 never
        // issues them, so they are typos that happen to pass.
        let in_range = matches!(check.parse::<u8>(), Ok(2..=98));
        if !in_range || mod97(compact[4..].bytes().chain(compact[..4].bytes())) != 1 {
            return Err(IbanError::ChecksumMismatch);
        }
        Ok(KzIban(compact))
    }

    /// The compact form, e.g. `KZ86125KZT5004100100`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Characters 5-7: identifies the bank.
    pub fn bank_code(&self) -> &str {
        &self.0[4..7]
    }

    /// Characters 8-20: the account at that bank.
    pub fn account(&self) -> &str {
        &self.0[7..]
    }

    /// Groups of four separated by spaces, the way banks print it, so the citizen can compare
    /// it with their card statement when we read it back in an SMS.
    pub fn grouped(&self) -> String {
        let mut out = String::with_capacity(LEN + LEN / 4);
        for (i, c) in self.0.chars().enumerate() {
            if i > 0 && i.is_multiple_of(4) {
                out.push(' ');
            }
            out.push(c);
        }
        out
    }

    /// The first valid Kazakh IBAN in free text such as an SMS reply ("иә 4821 kz86 125K
    /// ZT50 0410 0100"). Whitespace inside the number is skipped; any other character ends
    /// a candidate. Candidates that fail the check digits are passed over, so a PIN or a
    /// half-typed number before the real one does not win.
    pub fn find_in(text: &str) -> Option<KzIban> {
        // Work on chars, not bytes: the text is mostly Cyrillic and emoji, and byte offsets
        // would split them.
        let chars: Vec<char> = text.chars().collect();
        (0..chars.len()).filter(|&i| chars[i].eq_ignore_ascii_case(&'K')).find_map(|start| {
            let candidate: String = chars[start..]
                .iter()
                .filter(|c| !c.is_whitespace())
                .take_while(|c| c.is_ascii_alphanumeric())
                .take(LEN)
                .collect();
            KzIban::parse(&candidate).ok()
        })
    }

    /// The IBAN for a bank code (3 characters) and account (13 characters), with its check
    /// digits computed; None when either part has the wrong length or characters. Useful for
    /// generating test accounts that pass validation.
    pub fn compute(bank: &str, account: &str) -> Option<KzIban> {
        let part = |s: &str, len: usize| {
            let up = s.to_ascii_uppercase();
            (up.len() == len && up.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(up)
        };
        let bban = part(bank, 3)? + &part(account, 13)?;
        let remainder = mod97(bban.bytes().chain(*b"KZ00"));
        Some(KzIban(format!("KZ{:02}{bban}", 98 - remainder)))
    }
}

/// ISO 7064 mod 97 over upper-case alphanumerics, letters counting as 10..=35. Done digit by
/// digit so a 20-character IBAN never needs a big integer.
fn mod97(bytes: impl Iterator<Item = u8>) -> u32 {
    bytes.fold(0, |r, b| match b {
        b'0'..=b'9' => (r * 10 + u32::from(b - b'0')) % 97,
        _ => (r * 100 + u32::from(b - b'A') + 10) % 97,
    })
}

impl FromStr for KzIban {
    type Err = IbanError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KzIban::parse(s)
    }
}

/// The compact form; use [`KzIban::grouped`] for text a person reads.
impl fmt::Display for KzIban {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "KZ86125KZT5004100100";

    #[test]
    fn parse_table() {
        #[track_caller]
        fn check(input: &str, expected: Result<&str, IbanError>) {
            let got = KzIban::parse(input);
            let got_str = got.as_ref().map(KzIban::as_str).map_err(Clone::clone);
            assert_eq!(got_str, expected, "{input:?}");
            assert_eq!(input.parse::<KzIban>(), got);
        }
        check(EXAMPLE, Ok(EXAMPLE));
        check("kz86 125k zt50 0410 0100", Ok(EXAMPLE));
        check("  KZ86\u{a0}125K\tZT50 0410 0100\n", Ok(EXAMPLE));
        check("KZ18722S000012345678", Ok("KZ18722S000012345678"));
        check("KZ981250000000000076", Ok("KZ981250000000000076"));
        check("KZ021250000000000058", Ok("KZ021250000000000058"));
        check("KZ87125KZT5004100100", Err(IbanError::ChecksumMismatch));
        check("KZ86125KZT5004100101", Err(IbanError::ChecksumMismatch));
        check("KZ86125KZT5004010100", Err(IbanError::ChecksumMismatch)); // transposition
        // Pass mod 97 but are outside the 02..=98 range ISO 13616 issues.
        check("KZ011250000000000076", Err(IbanError::ChecksumMismatch));
        check("KZ991250000000000058", Err(IbanError::ChecksumMismatch));
        check("KZ001250000000000094", Err(IbanError::ChecksumMismatch));
        check("DE89 3704 0044 0532 0130 00", Err(IbanError::NotKz));
        check("RU02125KZT5004100100", Err(IbanError::NotKz));
        check("KZ86125KZT500410010", Err(IbanError::WrongLength { got: 19 }));
        check("KZ86125KZT50041001000", Err(IbanError::WrongLength { got: 21 }));
        check("", Err(IbanError::WrongLength { got: 0 }));
        check("K", Err(IbanError::WrongLength { got: 1 }));
        check("KZ86-125K-ZT50-0410-0100", Err(IbanError::BadCharacters));
        check("КZ86125KZT5004100100", Err(IbanError::BadCharacters)); // Cyrillic К
        check("KZ8б125KZT5004100100", Err(IbanError::BadCharacters));
        check("KZX6125KZT5004100100", Err(IbanError::BadCharacters));
    }

    #[test]
    fn parts_table() {
        #[track_caller]
        fn check(input: &str, expected: (&str, &str, &str)) {
            let iban = KzIban::parse(input).unwrap();
            assert_eq!((iban.bank_code(), iban.account(), iban.grouped().as_str()), expected);
            assert_eq!(iban.to_string(), iban.as_str());
        }
        check(EXAMPLE, ("125", "KZT5004100100", "KZ86 125K ZT50 0410 0100"));
        check("KZ18722S000012345678", ("722", "S000012345678", "KZ18 722S 0000 1234 5678"));
    }

    #[test]
    fn compute_table() {
        #[track_caller]
        fn check(bank: &str, account: &str, expected: Option<&str>) {
            let got = KzIban::compute(bank, account);
            assert_eq!(got.as_ref().map(KzIban::as_str), expected, "{bank} {account}");
            if let Some(iban) = got {
                assert_eq!(KzIban::parse(iban.as_str()), Ok(iban));
            }
        }
        check("125", "KZT5004100100", Some(EXAMPLE));
        check("125", "kzt5004100100", Some(EXAMPLE));
        check("722", "S000012345678", Some("KZ18722S000012345678"));
        check("601", "A871001234567", Some("KZ16601A871001234567"));
        check("125", "0000000000076", Some("KZ981250000000000076"));
        check("125", "0000000000094", Some("KZ971250000000000094"));
        check("125", "0000000000058", Some("KZ021250000000000058"));
        check("12", "KZT5004100100", None);
        check("125", "KZT500410010", None);
        check("125", "KZT50041001 0", None);
        check("1ж5", "KZT5004100100", None);
    }

    #[test]
    fn find_in_table() {
        #[track_caller]
        fn check(text: &str, expected: Option<&str>) {
            let got = KzIban::find_in(text);
            assert_eq!(got.as_ref().map(KzIban::as_str), expected, "{text:?}");
        }
        check("иә 4821 kz86 125K ZT50 0410 0100", Some(EXAMPLE));
        check("Иә 👍 менің шотым: KZ86 125K ZT50 0410 0100, рахмет! 🙏", Some(EXAMPLE));
        check("ДА, счёт kz86125kzt5004100100.", Some(EXAMPLE));
        check("шотKZ86125KZT5004100100рахмет", Some(EXAMPLE));
        check("KZ86  125K\u{a0}ZT50\n0410 0100", Some(EXAMPLE));
        check("4821KZ86125KZT5004100100", Some(EXAMPLE));
        // A mistyped number first, the right one after: the valid one wins.
        check("KZ87 125K ZT50 0410 0100 жоқ, дұрысы KZ18 722S 0000 1234 5678", Some("KZ18722S000012345678"));
        // Trailing text glued on after a complete number does not matter.
        check("KZ86125KZT5004100100OK", Some(EXAMPLE));
        check("KZ86 125K ZT50 0410 0100 ok", Some(EXAMPLE));
        check("", None);
        check("иә", None);
        check("ДА 😀 4821", None);
        check("kk kz kZ K", None);
        check("KZ86 125K ZT50 0410", None); // cut short
        check("KZ86 125K 👍 ZT50 0410 0100", None); // an emoji splits it
        check("KZ87 125K ZT50 0410 0100", None); // wrong check digits
        check("\u{212A}Z86125KZT5004100100", None); // Kelvin sign, not a Latin K
        check("КZ86125KZT5004100100", None); // Cyrillic К
        check("😀😀😀KKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKK🇰🇿", None);
    }

    #[test]
    fn find_in_never_panics_on_odd_text() {
        // Every suffix and prefix at a char boundary of mixed-script text: multi-byte
        // letters, combining marks, skin-tone and flag emoji next to the number.
        let text = "иә 👍🏽 kz86 125K ZT50 0410 0100 🇰🇿 é\u{301} ӘҒҚҢӨҰҮҺІ";
        for (i, _) in text.char_indices() {
            let _ = KzIban::find_in(&text[i..]);
            let _ = KzIban::find_in(&text[..i]);
            let _ = KzIban::parse(&text[i..]);
        }
        assert_eq!(KzIban::find_in(text).as_ref().map(KzIban::as_str), Some(EXAMPLE));
    }

    #[test]
    fn error_messages_never_echo_input() {
        #[track_caller]
        fn check(input: &str, expected: &str) {
            let msg = KzIban::parse(input).unwrap_err().to_string();
            assert_eq!(msg, expected);
            assert!(!msg.contains("125"), "message echoes input: {msg}");
        }
        check("KZ86125KZT500410010", "KZ IBAN must be 20 characters without spaces, got 19");
        check("RU86125KZT5004100100", "IBAN must start with KZ");
        check("KZ86-125KZT5004100100", "IBAN may contain only Latin letters and digits, with digits 3-4 numeric");
        check("KZ87125KZT5004100100", "IBAN check digits do not match");
    }
}
