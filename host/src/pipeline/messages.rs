//! Turning a plugin's message request into a queued SMS: the recipient's language, the
//! host's placeholders, one-pass rendering, the segment count and its cap, and the sending
//! window.

use crate::model::{Language, MessageSpec, Timestamp};
use crate::runtime::ServiceSpec;
use crate::sms::encoding::{self, MAX_PARTS};
use crate::sms::template;
use crate::store::{Case, MessageKind, NewMessage, Tx};

use super::Settings;

/// Why a requested message could not be queued. The plugin's fault: the case fails.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("template {0:?} is not declared")]
    UnknownTemplate(String),
    #[error(transparent)]
    Render(#[from] template::TemplateError),
    #[error("rendered text needs {0} SMS parts, over the cap of {MAX_PARTS}")]
    TooLong(u32),
}

/// Render and queue a message for a case. Questions carry the case's reply code.
pub fn queue(
    tx: &mut dyn Tx,
    settings: &Settings,
    service: &ServiceSpec,
    case: &Case,
    spec: &MessageSpec,
    kind: MessageKind,
    now: Timestamp,
) -> anyhow::Result<Result<(), MessageError>> {
    let Some(t) = service.templates.get(&spec.template) else {
        return Ok(Err(MessageError::UnknownTemplate(spec.template.clone())));
    };
    let language = case.language.unwrap_or_default();
    let (text, title) = match language {
        Language::Kk => (&t.kk, &service.title_kk),
        Language::Ru => (&t.ru, &service.title_ru),
    };
    let code = case.reply_code.clone().unwrap_or_default();
    let rendered = template::render(text, &|name| match name {
        template::CODE => Some(code.clone()),
        "service" => Some(title.clone()),
        other => spec.params.get(other).cloned(),
    });
    let text = match rendered {
        Ok(t) => t,
        Err(e) => return Ok(Err(e.into())),
    };
    let segments = encoding::count(&text);
    if segments.parts > MAX_PARTS {
        return Ok(Err(MessageError::TooLong(segments.parts)));
    }
    let Some(phone) = case.phone.clone() else {
        anyhow::bail!("case {} has no phone; the gate should have stopped it", case.id);
    };
    tx.enqueue(&NewMessage {
        case_id: Some(case.id),
        kind,
        phone,
        text,
        parts: segments.parts,
        not_before: settings.window.next_open(now),
    })?;
    Ok(Ok(()))
}

/// The host's answer to a reply it could not match to one case.
pub fn queue_help(
    tx: &mut dyn Tx,
    settings: &Settings,
    phone: &str,
    language: Language,
    open_codes: &[&str],
    now: Timestamp,
) -> anyhow::Result<()> {
    let text = match (language, open_codes.is_empty()) {
        (Language::Kk, true) => "Сізде жауап күтіп тұрған ұсыныс жоқ. Анықтама: 1414".to_owned(),
        (Language::Ru, true) => "У вас нет предложений, ожидающих ответа. Справки: 1414".to_owned(),
        (Language::Kk, false) => format!(
            "Қай ұсынысқа жауап бересіз? Кодты қосыңыз, мысалы: ИӘ {}. Кодтар: {}",
            open_codes[0],
            open_codes.join(", ")
        ),
        (Language::Ru, false) => format!(
            "На какое предложение вы отвечаете? Добавьте код, например: ДА {}. Коды: {}",
            open_codes[0],
            open_codes.join(", ")
        ),
    };
    let parts = encoding::count(&text).parts;
    tx.enqueue(&NewMessage {
        case_id: None,
        kind: MessageKind::Help,
        phone: phone.to_owned(),
        text,
        parts,
        not_before: settings.window.next_open(now),
    })?;
    Ok(())
}
