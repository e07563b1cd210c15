//! Operators bill, and handsets reassemble, by SMS part — and a single Kazakh letter silently
//! switches a whole message from GSM-7 to UCS-2, cutting each part from 160 to 70 units. The
//! host counts parts exactly as the network will, before sending, so that a template cannot
//! quietly turn into a seven-part message the citizen receives out of order or not at all.

/// The network encoding a text will be sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// The GSM 03.38 default alphabet (with its extension table), 7 bits a character.
    Gsm7,
    /// UTF-16 code units, 16 bits each; anything outside GSM-7 forces this.
    Ucs2,
}

/// How a text splits into SMS parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Segments {
    pub encoding: Encoding,
    /// Number of SMS parts; an empty text still costs one.
    pub parts: u32,
    /// Septets for GSM-7 (an extension character costs two), UTF-16 code units for UCS-2.
    pub units: u32,
}

/// The most parts the platform will send as one message.
pub const MAX_PARTS: u32 = 6;

const GSM7_SINGLE: u32 = 160;
const GSM7_PART: u32 = 153;
const UCS2_SINGLE: u32 = 70;
const UCS2_PART: u32 = 67;

/// The GSM 03.38 default alphabet, in code-point order 0x00–0x7F (0x1B, the escape, is left
/// out: it is not a character a text can contain).
const GSM7_BASIC: &[char] = &[
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à',
];

/// The extension table: each is sent as escape + character, so costs two septets.
const GSM7_EXTENSION: &[char] = &['\u{0C}', '^', '{', '}', '\\', '[', '~', ']', '|', '€'];

/// Septets a character costs in GSM-7, or `None` if GSM-7 cannot carry it.
fn gsm7_cost(c: char) -> Option<u32> {
    if GSM7_BASIC.contains(&c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(&c) {
        Some(2)
    } else {
        None
    }
}

/// Parts needed when no character's units may straddle a part boundary: an escape sequence
/// or a surrogate pair that does not fit in what is left of a part starts the next one.
fn greedy_parts(costs: impl Iterator<Item = u32>, per_part: u32) -> u32 {
    let mut parts = 1u32;
    let mut used = 0u32;
    for cost in costs {
        if used.saturating_add(cost) > per_part {
            parts = parts.saturating_add(1);
            used = 0;
        }
        used = used.saturating_add(cost);
    }
    parts
}

/// Counts the encoding, units and parts `text` will take on the network.
pub fn count(text: &str) -> Segments {
    let gsm: Option<u32> = text.chars().map(gsm7_cost).try_fold(0u32, |sum, cost| Some(sum.saturating_add(cost?)));
    let (encoding, units, single, per_part) = match gsm {
        Some(units) => (Encoding::Gsm7, units, GSM7_SINGLE, GSM7_PART),
        None => {
            let units = text.chars().fold(0u32, |sum, c| sum.saturating_add(c.len_utf16() as u32));
            (Encoding::Ucs2, units, UCS2_SINGLE, UCS2_PART)
        }
    };
    let parts = if units <= single {
        1
    } else {
        match encoding {
            // `gsm` was `Some`, so every character has a GSM-7 cost.
            Encoding::Gsm7 => greedy_parts(text.chars().filter_map(gsm7_cost), per_part),
            Encoding::Ucs2 => greedy_parts(text.chars().map(|c| c.len_utf16() as u32), per_part),
        }
    };
    Segments { encoding, parts, units }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Encoding::{Gsm7, Ucs2};

    #[track_caller]
    fn check(text: &str, expected: (Encoding, u32, u32)) {
        let (encoding, parts, units) = expected;
        assert_eq!(count(text), Segments { encoding, parts, units }, "text of {} chars", text.chars().count());
    }

    fn rep(s: &str, n: usize) -> String {
        s.repeat(n)
    }

    const KAZAKH_OFFER: &str = "Құрметті азамат! Балаңыздың туылуына байланысты сізге біржолғы \
        мемлекеттік жәрдемақы тағайындалуы мүмкін. Келісім берсеңіз, осы хабарламаға «ИӘ 4821» деп \
        жауап беріңіз. Толығырақ: egov.kz";

    #[test]
    fn counts_encoding_units_and_parts() {
        let rows: Vec<(String, (Encoding, u32, u32))> = vec![
            (String::new(), (Gsm7, 1, 0)),
            ("Hello".into(), (Gsm7, 1, 5)),
            (rep("a", 160), (Gsm7, 1, 160)),
            (rep("a", 161), (Gsm7, 2, 161)),
            (rep("a", 153 * 2), (Gsm7, 2, 306)),
            (rep("a", 153 * 2 + 1), (Gsm7, 3, 307)),
            (rep("a", 153 * 6), (Gsm7, 6, 918)),
            (rep("a", 153 * 6 + 1), (Gsm7, 7, 919)),
            // Every extension character costs two septets.
            ("^{}\\[~]|€\u{0C}".into(), (Gsm7, 1, 20)),
            (rep("€", 80), (Gsm7, 1, 160)),
            (rep("€", 80) + "a", (Gsm7, 2, 161)),
            // 152 + escape: the escape fits a single message...
            (rep("a", 152) + "{", (Gsm7, 1, 154)),
            // ...but in a concatenated one it cannot straddle the 153 boundary: 152 | 2+151 | 1.
            (rep("a", 152) + "{" + &rep("a", 152), (Gsm7, 3, 306)),
            // When it ends exactly on the boundary it stays: 151+2 | 153.
            (rep("a", 151) + "{" + &rep("a", 153), (Gsm7, 2, 306)),
            // The Greek capitals and accented letters of the basic set stay GSM-7.
            ("ΔΦΓΛΩΠΨΣΘΞ éèùìòÇØøÅåÆæßÉÄÖÑÜ§¿äöñüà¡£¥¤$@_".into(), (Gsm7, 1, 43)),
            // Lower-case Greek, ç and the backtick are not in GSM-7.
            ("δ".into(), (Ucs2, 1, 1)),
            ("ç".into(), (Ucs2, 1, 1)),
            ("`".into(), (Ucs2, 1, 1)),
            // Cyrillic forces UCS-2.
            (rep("ж", 70), (Ucs2, 1, 70)),
            (rep("ж", 71), (Ucs2, 2, 71)),
            (rep("ж", 67 * 3), (Ucs2, 3, 201)),
            (rep("ж", 67 * 3 + 1), (Ucs2, 4, 202)),
            // One Kazakh letter turns an otherwise Latin text into UCS-2.
            (rep("a", 69) + "ә", (Ucs2, 1, 70)),
            ("әғқңөұүһі ӘҒҚҢӨҰҮҺІ".into(), (Ucs2, 1, 19)),
            ("Иә".into(), (Ucs2, 1, 2)),
            // An emoji is a surrogate pair: two units.
            ("👍".into(), (Ucs2, 1, 2)),
            (rep("ж", 68) + "👍", (Ucs2, 1, 70)),
            (rep("ж", 69) + "👍", (Ucs2, 2, 71)),
            // The pair never splits: 66 | 2+65 | 1, although 134 = 67 × 2.
            (rep("ж", 66) + "👍" + &rep("ж", 66), (Ucs2, 3, 134)),
            (rep("ж", 65) + "👍" + &rep("ж", 67), (Ucs2, 2, 134)),
            (KAZAKH_OFFER.into(), (Ucs2, 3, 187)),
        ];
        for (text, expected) in rows {
            check(&text, expected);
        }
    }
}
