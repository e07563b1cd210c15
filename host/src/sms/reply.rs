//! Citizens answer from whatever keyboard they have: a Russian layout without Kazakh letters,
//! a Latin one that happens to look Cyrillic, capitals, punctuation, a thumbs-up, the reply
//! code glued to the word. Consent must still be read the same way every time, and it must
//! never be read where there is none: so the reading is tolerant about spelling but strict
//! about meaning — an answer counts only when it is unambiguous, and anything else is
//! `Other`, which goes to a person or a re-ask rather than to a decision.

use serde::{Deserialize, Serialize};

/// What the citizen answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Answer {
    Yes,
    No,
    /// Neither, or both: not an answer the host may act on.
    Other,
}

/// A reply as the host read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reading {
    pub answer: Answer,
    /// The first standalone run of exactly four digits, if any.
    pub code: Option<String>,
    /// Every standalone four-digit run, in order: a reply naming two open offers is
    /// ambiguous, not an answer to the first.
    pub codes: Vec<String>,
}

/// Words read as "yes", after normalisation (see [`read`]).
///
/// Kazakh "иә" and the spellings people fall back to without a Kazakh layout ("ия", "иа",
/// "иэ"); Russian "да"; English "yes"; and the digit "1" as a whole word. Left out on
/// purpose: "ок"/"ok" and "ага" (acknowledgements, not consent), "ие" (also a Kazakh noun,
/// "owner"), a lone "ә", and agreement verbs like "согласен", which a preceding "не" would
/// negate without the reader noticing.
pub const YES_WORDS: &[&str] = &["иә", "ия", "иа", "иэ", "да", "yes", "1"];

/// Words read as "no", after normalisation (see [`read`]).
///
/// Kazakh "жоқ" and its Russian-layout spelling "жок"; Russian "нет" and the colloquial
/// "неа"; English "no"; and the digit "2" as a whole word.
pub const NO_WORDS: &[&str] = &["жоқ", "жок", "нет", "неа", "no", "2"];

const CODE_DIGITS: usize = 4;

/// The Cyrillic letter a lower-case Latin letter is mistaken for, if any.
fn homoglyph(c: char) -> Option<char> {
    Some(match c {
        'a' => 'а',
        'b' => 'в', // capital B looks like В
        'c' => 'с',
        'e' => 'е',
        'h' => 'н', // capital H looks like Н
        'i' => 'і', // Kazakh і
        'k' => 'к',
        'm' => 'м',
        'o' => 'о',
        'p' => 'р',
        't' => 'т',
        'x' => 'х',
        'y' => 'у',
        'ə' => 'ә', // Latin schwa, as in the Latin Kazakh alphabet
        _ => return None,
    })
}

fn is_cyrillic(c: char) -> bool {
    matches!(c, '\u{0400}'..='\u{052F}')
}

/// Lower-cases, folds "ё" into "е" and full-width digits into ASCII ones.
fn lower(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'ё' => 'е',
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            other => other,
        })
        .collect()
}

/// How a run of letters reads, with the homoglyph rule: a run holding any Cyrillic letter has
/// its Latin look-alikes mapped to Cyrillic ("дa" → "да"); an all-Latin run is mapped only if
/// every letter is a look-alike and the result is an answer word ("HET" → "нет"), so that
/// "yes" and "no" stay English.
fn letters_answer(run: &str) -> Option<Answer> {
    let mapped: String = run.chars().map(|c| homoglyph(c).unwrap_or(c)).collect();
    if run.chars().any(is_cyrillic) {
        word_answer(&mapped)
    } else {
        word_answer(run).or_else(|| run.chars().all(|c| homoglyph(c).is_some()).then(|| word_answer(&mapped)).flatten())
    }
}

fn word_answer(word: &str) -> Option<Answer> {
    if YES_WORDS.contains(&word) {
        Some(Answer::Yes)
    } else if NO_WORDS.contains(&word) {
        Some(Answer::No)
    } else {
        None
    }
}

/// Splits a word into maximal runs of letters and of ASCII digits.
fn runs(word: &str) -> impl Iterator<Item = &str> {
    let mut rest = word;
    std::iter::from_fn(move || {
        let first = rest.chars().next()?;
        let digits = first.is_ascii_digit();
        let end = rest.find(|c: char| c.is_ascii_digit() != digits).unwrap_or(rest.len());
        let (run, tail) = rest.split_at(end);
        rest = tail;
        Some(run)
    })
}

/// Reads a citizen's reply.
///
/// The text is lower-cased ("ё" read as "е"), and split into words at anything that is
/// neither a letter nor a digit — spaces, punctuation, emoji. Within a word, letters and
/// digits are split apart, so "ИӘ4821" reads as "иә" and the code "4821". A yes or no word
/// (see [`YES_WORDS`], [`NO_WORDS`]) counts wherever it stands; the digits "1" and "2" count
/// only as a whole word, so a priority code such as "P2" is not a "no". Any other word — a
/// reply code, an IBAN, a name — leaves the answer alone. The answer is `Yes` if there is a
/// yes word and no no word, `No` for the converse, `Other` otherwise.
pub fn read(text: &str) -> Reading {
    let lowered = lower(text);
    let (mut yes, mut no, mut codes) = (false, false, Vec::new());
    for word in lowered.split(|c: char| !c.is_alphabetic() && !c.is_ascii_digit()).filter(|w| !w.is_empty()) {
        for run in runs(word) {
            let answer = if run.starts_with(|c: char| c.is_ascii_digit()) {
                if run.len() == CODE_DIGITS {
                    codes.push(run.to_owned());
                }
                if run == word { word_answer(run) } else { None }
            } else {
                letters_answer(run)
            };
            match answer {
                Some(Answer::Yes) => yes = true,
                Some(Answer::No) => no = true,
                _ => {}
            }
        }
    }
    let answer = match (yes, no) {
        (true, false) => Answer::Yes,
        (false, true) => Answer::No,
        _ => Answer::Other,
    };
    Reading { answer, code: codes.first().cloned(), codes }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Answer::{No, Other, Yes};

    #[track_caller]
    fn check(text: &str, expected: (Answer, Option<&str>)) {
        let (answer, code) = expected;
        let r = read(text);
        assert_eq!((r.answer, r.code), (answer, code.map(str::to_owned)), "{text:?}");
    }

    #[test]
    fn reads_replies() {
        let rows: &[(&str, (Answer, Option<&str>))] = &[
            ("иә", (Yes, None)),
            ("ия", (Yes, None)),
            ("иа", (Yes, None)),
            ("иэ", (Yes, None)),
            ("ИӘ 4821", (Yes, Some("4821"))),
            ("да", (Yes, None)),
            ("Да!", (Yes, None)),
            ("1", (Yes, None)),
            ("yes", (Yes, None)),
            ("YES", (Yes, None)),
            ("Yes.", (Yes, None)),
            ("жоқ", (No, None)),
            ("ЖОҚ", (No, None)),
            ("жок", (No, None)),
            ("нет", (No, None)),
            ("НЕТ.", (No, None)),
            ("неа", (No, None)),
            ("no", (No, None)),
            ("No!", (No, None)),
            ("2", (No, None)),
            // Latin look-alikes: "Дa" with a Latin a, "HET" all Latin, "жоk" with a Latin k.
            ("Дa", (Yes, None)),
            ("HET", (No, None)),
            ("жоk", (No, None)),
            ("ИA", (Yes, None)),
            // The Latin schwa of the Latin Kazakh alphabet.
            ("Iə", (Other, None)),
            ("Иə", (Yes, None)),
            // "ё" folds into "е".
            ("нёт", (No, None)),
            // Full-width digits are digits.
            ("иә ４８２１", (Yes, Some("4821"))),
            ("  да ,  ", (Yes, None)),
            ("да 👍", (Yes, None)),
            ("да👍", (Yes, None)),
            ("👍", (Other, None)),
            ("да нет", (Other, None)),
            ("иә жоқ", (Other, None)),
            ("да, да", (Yes, None)),
            ("asdf", (Other, None)),
            ("ok", (Other, None)),
            ("ОК", (Other, None)),
            ("ие", (Other, None)),
            ("", (Other, None)),
            ("   ", (Other, None)),
            ("иә 4821 KZ86125KZT5004100100", (Yes, Some("4821"))),
            ("жоқ 12345", (No, None)),
            ("жоқ 123", (No, None)),
            ("4821", (Other, Some("4821"))),
            ("4821 1234", (Other, Some("4821"))),
            ("иә 4821 P2", (Yes, Some("4821"))),
            ("ИӘ4821", (Yes, Some("4821"))),
            ("4821иә", (Yes, Some("4821"))),
            ("ДА-4821", (Yes, Some("4821"))),
            // "1"/"2" only as whole words: "12" and "21" are neither, "A1" is not a yes.
            ("12", (Other, None)),
            ("21", (Other, None)),
            ("A1", (Other, None)),
            ("жоқ 1", (Other, None)),
            ("1)", (Yes, None)),
            // Words that merely contain an answer word are not answers.
            ("данные", (Other, None)),
            ("нетто", (Other, None)),
            ("yesterday", (Other, None)),
            ("not", (Other, None)),
        ];
        for &(text, expected) in rows {
            check(text, expected);
        }
    }

    #[track_caller]
    fn check_serde(answer: Answer, expected: &str) {
        assert_eq!(serde_json::to_string(&answer).ok().as_deref(), Some(expected));
        assert_eq!(serde_json::from_str::<Answer>(expected).ok(), Some(answer));
    }

    #[test]
    fn answers_serialise_lower_case() {
        for (answer, expected) in [(Yes, "\"yes\""), (No, "\"no\""), (Other, "\"other\"")] {
            check_serde(answer, expected);
        }
    }
}
