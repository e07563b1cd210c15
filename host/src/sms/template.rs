//! Ministries write their messages; the host fills them in and sends them. A template that is
//! wrong in one language only would reach half the citizens broken — a Kazakh speaker missing
//! the reply code, a Russian speaker missing the amount — so templates are checked when a
//! plugin is loaded, not when the first SMS fails. Rendering is a single pass so that a value
//! (a name, a clinic, something a citizen once typed) can never smuggle in a placeholder of its
//! own and have the host fill it.

use std::fmt;

/// Placeholders the host fills itself; a plugin may use them but never declare them.
pub const HOST_PLACEHOLDERS: [&str; 2] = ["code", "service"];

/// The placeholder every question must carry, so the citizen can quote it in the reply.
pub const CODE: &str = "code";

/// The longest value, in characters, that may be substituted for one placeholder.
pub const MAX_VALUE_CHARS: usize = 160;

const MAX_NAME_CHARS: usize = 32;

/// Identifiers from plugins are echoed in errors only up to this many characters.
const MAX_ECHO_CHARS: usize = 64;

/// What a template is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Asks the citizen something; carries a reply code.
    Question,
    /// Tells the citizen something; expects no reply.
    Notice,
}

/// The language of one text of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    Kk,
    Ru,
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Lang::Kk => "kk",
            Lang::Ru => "ru",
        })
    }
}

/// Why a template or a rendering was refused. Messages name templates, languages and
/// placeholders — never the values or the text, which may be personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("malformed placeholder at character {at}: expected `((name))` with name of 1-32 of a-z, 0-9, '_', '-'")]
    Malformed { at: usize },
    #[error("template {template:?} ({lang}): malformed placeholder at character {at}")]
    MalformedIn { template: String, lang: Lang, at: usize },
    #[error("template {template:?} ({lang}): text is empty")]
    Empty { template: String, lang: Lang },
    #[error("template {template:?} ({lang}): placeholder {name:?} is neither declared nor filled by the host")]
    UnknownPlaceholder { template: String, lang: Lang, name: String },
    #[error("template {template:?}: declared placeholder {name:?} is not 1-32 of a-z, 0-9, '_', '-'")]
    BadName { template: String, name: String },
    #[error("template {template:?}: declared placeholder {name:?} is reserved for the host")]
    Shadowed { template: String, name: String },
    #[error("template {template:?} ({lang}): a question must contain ((code))")]
    MissingCode { template: String, lang: Lang },
    #[error("template {template:?} ({lang}): declared placeholder {name:?} is not used in this language")]
    Unused { template: String, lang: Lang, name: String },
    #[error("no value for placeholder {name:?}")]
    MissingValue { name: String },
    #[error("value for placeholder {name:?} is longer than 160 characters or contains a control character")]
    BadValue { name: String },
}

fn echo(s: &str) -> String {
    s.chars().take(MAX_ECHO_CHARS).collect()
}

fn is_name_char(c: char) -> bool {
    matches!(c, 'a'..='z' | '0'..='9' | '_' | '-')
}

fn is_name(s: &str) -> bool {
    (1..=MAX_NAME_CHARS).contains(&s.len()) && s.chars().all(is_name_char)
}

/// One piece of a template text: literal text, or a placeholder name.
enum Piece<'a> {
    Literal(&'a str),
    Placeholder(&'a str),
}

/// Splits `text` into literal runs and placeholders, in order. `at` in the error is the
/// character offset of the `((` that opens the malformed placeholder.
fn lex(text: &str) -> Result<Vec<Piece<'_>>, TemplateError> {
    let mut pieces = Vec::new();
    let mut rest = text;
    let mut chars_before = 0usize;
    while let Some(open) = rest.find("((") {
        let at = chars_before + rest[..open].chars().count();
        if open > 0 {
            pieces.push(Piece::Literal(&rest[..open]));
        }
        let after = &rest[open + 2..];
        let name_len = after.find(|c: char| !is_name_char(c)).unwrap_or(after.len());
        let name = &after[..name_len];
        // Name characters are ASCII, so byte and character lengths agree.
        if name.is_empty() || name.len() > MAX_NAME_CHARS || !after[name_len..].starts_with("))") {
            return Err(TemplateError::Malformed { at });
        }
        pieces.push(Piece::Placeholder(name));
        chars_before = at + 2 + name.len() + 2;
        rest = &after[name_len + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Literal(rest));
    }
    Ok(pieces)
}

/// The placeholder names in `text`, in order of appearance (repeats included).
pub fn placeholders(text: &str) -> Result<Vec<&str>, TemplateError> {
    Ok(lex(text)?
        .into_iter()
        .filter_map(|p| match p {
            Piece::Placeholder(name) => Some(name),
            Piece::Literal(_) => None,
        })
        .collect())
}

/// Checks a template as a plugin declares it: `declared` are the placeholders the plugin
/// promises to fill, `kk` and `ru` the two texts.
pub fn validate(id: &str, kind: Kind, declared: &[String], kk: &str, ru: &str) -> Result<(), TemplateError> {
    let template = || echo(id);
    if let Some(name) = declared.iter().find(|d| !is_name(d)) {
        return Err(TemplateError::BadName { template: template(), name: echo(name) });
    }
    if let Some(name) = declared.iter().find(|d| HOST_PLACEHOLDERS.contains(&d.as_str())) {
        return Err(TemplateError::Shadowed { template: template(), name: echo(name) });
    }
    for (lang, text) in [(Lang::Kk, kk), (Lang::Ru, ru)] {
        if text.trim().is_empty() {
            return Err(TemplateError::Empty { template: template(), lang });
        }
        let used = placeholders(text).map_err(|e| match e {
            TemplateError::Malformed { at } => TemplateError::MalformedIn { template: template(), lang, at },
            other => other,
        })?;
        if let Some(name) = used.iter().find(|u| !HOST_PLACEHOLDERS.contains(u) && !declared.iter().any(|d| d == *u)) {
            return Err(TemplateError::UnknownPlaceholder { template: template(), lang, name: (*name).to_owned() });
        }
        if kind == Kind::Question && !used.contains(&CODE) {
            return Err(TemplateError::MissingCode { template: template(), lang });
        }
        if let Some(name) = declared.iter().find(|d| !used.contains(&d.as_str())) {
            return Err(TemplateError::Unused { template: template(), lang, name: echo(name) });
        }
    }
    Ok(())
}

/// Characters a value may not carry: C0/C1 controls (a newline or escape would let a value
/// reshape the message) and the bidirectional overrides and isolates, which can make an SMS
/// display differently from what it says.
fn is_forbidden(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Fills every placeholder in `text` from `values`, in one pass: what is substituted is
/// never scanned again, so a value reading `((code))` appears literally.
pub fn render(text: &str, values: &dyn Fn(&str) -> Option<String>) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(text.len());
    for piece in lex(text)? {
        match piece {
            Piece::Literal(s) => out.push_str(s),
            Piece::Placeholder(name) => {
                let value = values(name).ok_or_else(|| TemplateError::MissingValue { name: name.to_owned() })?;
                if value.chars().count() > MAX_VALUE_CHARS || value.chars().any(is_forbidden) {
                    return Err(TemplateError::BadValue { name: name.to_owned() });
                }
                out.push_str(&value);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Kind::{Notice, Question};
    use Lang::{Kk, Ru};
    use TemplateError::*;

    mod placeholders {
        use super::*;

        #[track_caller]
        fn check(text: &str, expected: Result<Vec<&str>, TemplateError>) {
            assert_eq!(placeholders(text), expected, "{text:?}");
        }

        #[test]
        fn table() {
            let name32 = "a".repeat(32);
            let text32 = format!("(({name32}))");
            let text33 = format!("(({}))", "a".repeat(33));
            let rows: Vec<(&str, Result<Vec<&str>, TemplateError>)> = vec![
                ("", Ok(vec![])),
                ("no placeholders here", Ok(vec![])),
                ("((code))", Ok(vec!["code"])),
                ("Код: ((code)), қызмет: ((service)).", Ok(vec!["code", "service"])),
                ("((a))((b))((a))", Ok(vec!["a", "b", "a"])),
                ("((clinic_name-2))", Ok(vec!["clinic_name-2"])),
                ("a single ( or ) or )) is just text :))", Ok(vec![])),
                (&text32, Ok(vec![name32.as_str()])),
                (&text33, Err(Malformed { at: 0 })),
                ("Сәлем ((code", Err(Malformed { at: 6 })),
                ("((code)", Err(Malformed { at: 0 })),
                ("(())", Err(Malformed { at: 0 })),
                ("ок ((Code))", Err(Malformed { at: 3 })),
                ("((co de))", Err(Malformed { at: 0 })),
                ("((код))", Err(Malformed { at: 0 })),
                ("(((code)))", Err(Malformed { at: 0 })),
                ("((a)) ((", Err(Malformed { at: 6 })),
                ("әә((a))((", Err(Malformed { at: 7 })),
            ];
            for (text, expected) in rows {
                check(text, expected);
            }
        }
    }

    mod validate {
        use super::*;

        /// Kind, declared placeholders, Kazakh text, Russian text.
        type Input<'a> = (Kind, &'a [&'a str], &'a str, &'a str);

        #[track_caller]
        fn check(input: Input<'_>, expected: Result<(), TemplateError>) {
            let (kind, declared, kk, ru) = input;
            let declared: Vec<String> = declared.iter().map(|s| s.to_string()).collect();
            assert_eq!(validate("offer", kind, &declared, kk, ru), expected);
        }

        fn t() -> String {
            "offer".to_owned()
        }

        #[test]
        fn table() {
            let rows: Vec<(Input<'_>, Result<(), TemplateError>)> = vec![
                ((Question, &[], "Жауап: ИӘ ((code))", "Ответ: ДА ((code))"), Ok(())),
                ((Question, &["clinic"], "((clinic)) ((code))", "((code)) ((clinic))"), Ok(())),
                ((Question, &[], "((service)): ((code))", "((code))"), Ok(())),
                ((Notice, &[], "Хабарлама", "Уведомление"), Ok(())),
                ((Notice, &["amount"], "((amount)) ₸", "((amount)) ₸"), Ok(())),
                ((Question, &[], "", "((code))"), Err(Empty { template: t(), lang: Kk })),
                ((Notice, &[], "мәтін", "  \n"), Err(Empty { template: t(), lang: Ru })),
                ((Notice, &[], "((x", "ok"), Err(MalformedIn { template: t(), lang: Kk, at: 0 })),
                ((Notice, &[], "ok", "ok ((X))"), Err(MalformedIn { template: t(), lang: Ru, at: 3 })),
                (
                    (Question, &[], "((code)) ((clinic))", "((code))"),
                    Err(UnknownPlaceholder { template: t(), lang: Kk, name: "clinic".into() }),
                ),
                ((Question, &["code"], "((code))", "((code))"), Err(Shadowed { template: t(), name: "code".into() })),
                ((Notice, &["service"], "((service))", "x"), Err(Shadowed { template: t(), name: "service".into() })),
                ((Notice, &["Clinic"], "x", "x"), Err(BadName { template: t(), name: "Clinic".into() })),
                ((Notice, &[""], "x", "x"), Err(BadName { template: t(), name: "".into() })),
                ((Question, &[], "Иә деп жауап беріңіз", "((code))"), Err(MissingCode { template: t(), lang: Kk })),
                ((Question, &[], "((code))", "Ответьте ДА"), Err(MissingCode { template: t(), lang: Ru })),
                // A notice needs no code.
                ((Notice, &[], "((code))", "нет кода"), Ok(())),
                (
                    (Question, &["clinic"], "((code))", "((code)) ((clinic))"),
                    Err(Unused { template: t(), lang: Kk, name: "clinic".into() }),
                ),
                (
                    (Notice, &["amount"], "((amount))", "сумма"),
                    Err(Unused { template: t(), lang: Ru, name: "amount".into() }),
                ),
            ];
            for (input, expected) in rows {
                check(input, expected);
            }
        }
    }

    mod render {
        use super::*;

        fn values(name: &str) -> Option<String> {
            match name {
                "code" => Some("4821".into()),
                "service" => Some("Жәрдемақы".into()),
                "inject" => Some("((code))".into()),
                "empty" => Some(String::new()),
                "max" => Some("ж".repeat(160)),
                "long" => Some("ж".repeat(161)),
                "newline" => Some("a\nb".into()),
                "escape" => Some("a\u{1B}b".into()),
                "bidi" => Some("a\u{202E}b".into()),
                _ => None,
            }
        }

        #[track_caller]
        fn check(text: &str, expected: Result<&str, TemplateError>) {
            assert_eq!(render(text, &values), expected.map(str::to_owned), "{text:?}");
        }

        #[test]
        fn table() {
            let max = format!("<{}>", "ж".repeat(160));
            let rows: Vec<(&str, Result<&str, TemplateError>)> = vec![
                ("", Ok("")),
                ("plain", Ok("plain")),
                ("Код ((code))", Ok("Код 4821")),
                ("((service)): ((code)).", Ok("Жәрдемақы: 4821.")),
                ("((code))((code))", Ok("48214821")),
                // Substituted values are never re-scanned.
                ("x ((inject)) y", Ok("x ((code)) y")),
                ("[((empty))]", Ok("[]")),
                ("<((max))>", Ok(max.as_str())),
                ("((nope))", Err(MissingValue { name: "nope".into() })),
                ("((long))", Err(BadValue { name: "long".into() })),
                ("((newline))", Err(BadValue { name: "newline".into() })),
                ("((escape))", Err(BadValue { name: "escape".into() })),
                ("((bidi))", Err(BadValue { name: "bidi".into() })),
                ("ok ((code", Err(Malformed { at: 3 })),
            ];
            for (text, expected) in rows {
                check(text, expected);
            }
        }
    }

    mod errors {
        use super::*;

        #[track_caller]
        fn check(error: TemplateError, expected: &str) {
            assert_eq!(error.to_string(), expected);
        }

        #[test]
        fn messages_name_template_language_and_placeholder_only() {
            let rows = [
                (
                    UnknownPlaceholder { template: t(), lang: Ru, name: "clinic".into() },
                    r#"template "offer" (ru): placeholder "clinic" is neither declared nor filled by the host"#,
                ),
                (MissingCode { template: t(), lang: Kk }, r#"template "offer" (kk): a question must contain ((code))"#),
                (
                    BadValue { name: "iin".into() },
                    r#"value for placeholder "iin" is longer than 160 characters or contains a control character"#,
                ),
            ];
            for (error, expected) in rows {
                check(error, expected);
            }
        }

        fn t() -> String {
            "offer".to_owned()
        }
    }
}
