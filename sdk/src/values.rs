//! Constructors and accessors on the contract's types, so plugin code reads like the rules
//! it implements rather than like struct plumbing.

use crate::{CaseView, Decision, LifeEvent, Message, Offer, Pair, Provision, Refusal, Template, TemplateKind};

fn pairs(items: &[(&str, &str)]) -> Vec<Pair> {
    items.iter().map(|(k, v)| Pair { key: (*k).to_owned(), value: (*v).to_owned() }).collect()
}

/// An SMS: a template id plus values for its placeholders.
pub fn msg(template: &str, params: &[(&str, &str)]) -> Message {
    Message { template: template.to_owned(), params: pairs(params) }
}

impl LifeEvent {
    /// The value of an event attribute, if present.
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attributes.iter().find(|p| p.key == key).map(|p| p.value.as_str())
    }
}

impl CaseView {
    /// The value of an attribute of the event that opened the case.
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.event.attr(key)
    }
}

impl Decision {
    pub fn skip(reason: impl Into<String>) -> Self {
        Decision::Skip(reason.into())
    }

    /// Offer the service. `state` comes back on the case with the reply or timeout.
    pub fn offer(message: Message, state: impl Into<String>) -> Self {
        Decision::Offer(Offer { message, state: state.into() })
    }

    /// Ask another question on the same case; the reply window starts again.
    pub fn ask_again(message: Message, state: impl Into<String>) -> Self {
        Decision::AskAgain(Offer { message, state: state.into() })
    }

    pub fn provide(record_kind: &str, details: &[(&str, &str)], notice: Option<Message>) -> Self {
        Decision::Provide(Provision { record_kind: record_kind.to_owned(), details: pairs(details), notice })
    }

    /// Refuse, naming the legal ground as a short code.
    pub fn refuse(ground: &str, detail: &str, notice: Option<Message>) -> Self {
        Decision::Refuse(Refusal { ground: ground.to_owned(), detail: detail.to_owned(), notice })
    }
}

impl Template {
    /// A question: the citizen is expected to answer, so the text must carry `((code))`.
    pub fn question(id: &str, placeholders: &[&str], kk: &str, ru: &str) -> Self {
        Self::new(TemplateKind::Question, id, placeholders, kk, ru)
    }

    /// An informational message that takes no answer.
    pub fn notice(id: &str, placeholders: &[&str], kk: &str, ru: &str) -> Self {
        Self::new(TemplateKind::Notice, id, placeholders, kk, ru)
    }

    fn new(kind: TemplateKind, id: &str, placeholders: &[&str], kk: &str, ru: &str) -> Self {
        Template {
            id: id.to_owned(),
            kind,
            placeholders: placeholders.iter().map(|p| (*p).to_owned()).collect(),
            kk: kk.to_owned(),
            ru: ru.to_owned(),
        }
    }
}
