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

/// Where parts start when no character's units may straddle a part boundary: an escape
/// sequence or a surrogate pair that does not fit in what is left of a part starts the next
/// one. Calls `part_starts_at` with the index of each character that begins a new part.
fn greedy_split(costs: impl Iterator<Item = u32>, per_part: u32, mut part_starts_at: impl FnMut(usize)) {
    let mut used = 0u32;
    for (i, cost) in costs.enumerate() {
        if used.saturating_add(cost) > per_part {
            part_starts_at(i);
            used = 0;
        }
        used = used.saturating_add(cost);
    }
}

fn greedy_parts(costs: impl Iterator<Item = u32>, per_part: u32) -> u32 {
    let mut parts = 1u32;
    greedy_split(costs, per_part, |_| parts = parts.saturating_add(1));
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

/// A text as an SMSC takes it: SMPP's `data_coding` and each part's payload, before any
/// concatenation header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub encoding: Encoding,
    /// GSM-7 as unpacked septets (one octet each, extension characters as escape + code),
    /// the SMPP "SMSC default alphabet"; UCS-2 as UTF-16BE.
    pub parts: Vec<Vec<u8>>,
}

impl Encoding {
    /// SMPP 3.4 `data_coding`.
    pub fn data_coding(self) -> u8 {
        match self {
            Encoding::Gsm7 => 0x00,
            Encoding::Ucs2 => 0x08,
        }
    }
}

const GSM7_ESCAPE: u8 = 0x1B;

/// The GSM 03.38 codes of [`GSM7_EXTENSION`], in the same order.
const GSM7_EXTENSION_CODES: &[u8] = &[0x0A, 0x14, 0x28, 0x29, 0x2F, 0x3C, 0x3D, 0x3E, 0x40, 0x65];

/// A character's GSM-7 septets (one, or escape + code), if GSM-7 can carry it.
fn gsm7_septets(c: char) -> Option<Vec<u8>> {
    if let Some(i) = GSM7_BASIC.iter().position(|&b| b == c) {
        // The table leaves out the escape at 0x1B.
        let code = if i >= usize::from(GSM7_ESCAPE) { i + 1 } else { i };
        return Some(vec![code as u8]);
    }
    let i = GSM7_EXTENSION.iter().position(|&e| e == c)?;
    Some(vec![GSM7_ESCAPE, GSM7_EXTENSION_CODES[i]])
}

/// Encodes `text` for the network, split exactly where [`count`] says the parts break.
pub fn encode(text: &str) -> Encoded {
    let segments = count(text);
    let units: Vec<Vec<u8>> = match segments.encoding {
        Encoding::Gsm7 => text.chars().filter_map(gsm7_septets).collect(),
        Encoding::Ucs2 => text
            .chars()
            .map(|c| {
                let mut buf = [0u16; 2];
                c.encode_utf16(&mut buf).iter().flat_map(|u| u.to_be_bytes()).collect()
            })
            .collect(),
    };
    let per_part = match segments.encoding {
        Encoding::Gsm7 => GSM7_PART,
        Encoding::Ucs2 => UCS2_PART,
    };
    let mut starts = vec![0usize];
    if segments.parts > 1 {
        let cost = |u: &Vec<u8>| match segments.encoding {
            Encoding::Gsm7 => u.len() as u32,
            Encoding::Ucs2 => (u.len() / 2) as u32,
        };
        greedy_split(units.iter().map(cost), per_part, |i| starts.push(i));
    }
    starts.push(units.len());
    let parts = starts.windows(2).map(|w| units[w[0]..w[1]].concat()).collect();
    Encoded { encoding: segments.encoding, parts }
}

/// Reads unpacked GSM-7 septets (as SMPP carries the SMSC default alphabet): an escape
/// followed by an extension code is that character; anything unreadable becomes U+FFFD.
pub fn decode_gsm7(septets: &[u8]) -> String {
    let mut out = String::with_capacity(septets.len());
    let mut bytes = septets.iter().copied();
    while let Some(b) = bytes.next() {
        if b == GSM7_ESCAPE {
            let ext = bytes.next().and_then(|e| GSM7_EXTENSION_CODES.iter().position(|&c| c == e));
            out.push(ext.map_or('\u{FFFD}', |i| GSM7_EXTENSION[i]));
            continue;
        }
        let i = usize::from(b);
        let index = if i > usize::from(GSM7_ESCAPE) { i - 1 } else { i };
        out.push(GSM7_BASIC.get(index).copied().filter(|_| b < 0x80).unwrap_or('\u{FFFD}'));
    }
    out
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

    #[test]
    fn encodes_parts_where_count_breaks_them() {
        let texts = [
            String::new(),
            "Hello".into(),
            rep("a", 152) + "{" + &rep("a", 152),
            rep("ж", 66) + "👍" + &rep("ж", 66),
            KAZAKH_OFFER.into(),
            rep("€", 200),
        ];
        for text in &texts {
            let encoded = encode(text);
            let counted = count(text);
            assert_eq!(encoded.encoding, counted.encoding);
            assert_eq!(encoded.parts.len() as u32, counted.parts, "text of {} chars", text.chars().count());
            let limit = match counted.encoding {
                Gsm7 if counted.parts == 1 => 160,
                Gsm7 => 153,
                Ucs2 if counted.parts == 1 => 140,
                Ucs2 => 134,
            };
            assert!(encoded.parts.iter().all(|p| p.len() <= limit), "a part over {limit} octets");
        }
    }

    #[test]
    fn gsm7_decodes_what_it_encodes() {
        let latin = "Yes 4821 {ok} €5 [a|b] ~^\\ ÆÉ@£_";
        let e = encode(latin);
        assert_eq!(e.encoding, Gsm7);
        assert_eq!(decode_gsm7(&e.parts.concat()), latin);
        assert_eq!(decode_gsm7(&[0x1B]), "\u{FFFD}");
        assert_eq!(decode_gsm7(&[0x80, 0x41]), "\u{FFFD}A");
    }

    #[test]
    fn gsm7_uses_the_default_alphabet_and_escapes_the_extension() {
        let e = encode("@A{€}\nÆ");
        assert_eq!(e.encoding.data_coding(), 0x00);
        assert_eq!(e.parts, vec![vec![0x00, 0x41, 0x1B, 0x28, 0x1B, 0x65, 0x1B, 0x29, 0x0A, 0x1C]]);
    }

    #[test]
    fn ucs2_is_utf16_big_endian_and_keeps_surrogate_pairs_whole() {
        let e = encode("Иә👍");
        assert_eq!(e.encoding.data_coding(), 0x08);
        assert_eq!(e.parts, vec![vec![0x04, 0x18, 0x04, 0xD9, 0xD8, 0x3D, 0xDC, 0x4D]]);
        let split = encode(&(rep("ж", 66) + "👍" + &rep("ж", 66)));
        let decoded: Vec<String> = split
            .parts
            .iter()
            .map(|p| {
                String::from_utf16(&p.chunks(2).map(|b| u16::from_be_bytes([b[0], b[1]])).collect::<Vec<_>>()).unwrap()
            })
            .collect();
        assert_eq!(decoded.len(), 3);
        assert_eq!(decoded.concat(), rep("ж", 66) + "👍" + &rep("ж", 66));
    }
}
