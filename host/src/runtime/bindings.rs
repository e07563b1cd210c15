//! The generated `kz-gov:proactive@0.1.0` bindings and the adapters between them and the
//! host's model. A later contract version gets its own module beside this one; the rest of
//! the host keeps speaking [`crate::model`].

use std::collections::BTreeMap;

use super::{CallFailure, CaseInput, ReplyInput, ServiceSpec};
use crate::model::{Decision, Event, MessageSpec};
use crate::sms::reply::Answer;
use crate::sms::template::Kind;

wasmtime::component::bindgen!({
    path: "../wit",
    world: "agency-plugin",
    imports: { default: trappable },
});

pub use kz_gov::proactive::host;
pub use kz_gov::proactive::types;

use types as wit;

pub fn to_wit_event(e: &Event) -> wit::LifeEvent {
    wit::LifeEvent {
        id: e.id.clone(),
        kind: e.kind.clone(),
        subject: e.subject.clone(),
        occurred_at: e.occurred_at,
        attributes: e.attributes.iter().map(|(k, v)| wit::Pair { key: k.clone(), value: v.clone() }).collect(),
    }
}

pub fn to_wit_case(c: &CaseInput<'_>) -> wit::CaseView {
    wit::CaseView {
        case_id: c.case_id.to_string(),
        event: to_wit_event(c.event),
        state: c.state.to_owned(),
        asks: c.asks,
        offered_at: c.offered_at,
    }
}

pub fn to_wit_reply(r: &ReplyInput<'_>) -> wit::Reply {
    wit::Reply {
        text: r.text.to_owned(),
        answer: match r.answer {
            Answer::Yes => wit::Answer::Yes,
            Answer::No => wit::Answer::No,
            Answer::Other => wit::Answer::Other,
        },
        received_at: r.received_at,
    }
}

pub fn template_kind(k: wit::TemplateKind) -> Kind {
    match k {
        wit::TemplateKind::Question => Kind::Question,
        wit::TemplateKind::Notice => Kind::Notice,
    }
}

/// Which export produced a decision; not every decision fits every stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Event,
    Reply,
    Timeout,
}

const MAX_TEXT: usize = 512;
const MAX_STATE: usize = 4096;
const MAX_PAIRS: usize = 32;
const MAX_VALUE: usize = 512;

fn invalid(msg: impl Into<String>) -> CallFailure {
    CallFailure::InvalidDecision(msg.into())
}

fn bounded(what: &str, s: String, max: usize) -> Result<String, CallFailure> {
    if s.len() > max {
        return Err(invalid(format!("{what} is {} bytes, over the {max}-byte limit", s.len())));
    }
    Ok(s)
}

fn ground_code(s: String) -> Result<String, CallFailure> {
    let ok =
        !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !ok {
        return Err(invalid("a refusal ground must be a short code of a-z, 0-9 and '-'"));
    }
    Ok(s)
}

fn pairs(what: &str, items: Vec<wit::Pair>) -> Result<BTreeMap<String, String>, CallFailure> {
    if items.len() > MAX_PAIRS {
        return Err(invalid(format!("{what} has {} entries, over the limit of {MAX_PAIRS}", items.len())));
    }
    let mut out = BTreeMap::new();
    for p in items {
        let key = bounded(&format!("{what} key"), p.key, 64)?;
        let value = bounded(&format!("{what} value"), p.value, MAX_VALUE)?;
        if out.insert(key.clone(), value).is_some() {
            return Err(invalid(format!("{what} repeats the key {key:?}")));
        }
    }
    Ok(out)
}

/// A message must name one of the service's templates of the expected kind and give a
/// value for exactly its declared placeholders.
fn message(m: wit::Message, service: &ServiceSpec, kind: Kind) -> Result<MessageSpec, CallFailure> {
    let Some(t) = service.templates.get(&m.template) else {
        return Err(invalid(format!("unknown template {:?}", truncate(&m.template))));
    };
    if t.kind != kind {
        return Err(invalid(format!("template {:?} is not a {kind:?}", m.template)));
    }
    let params = pairs("message params", m.params)?;
    for p in &t.placeholders {
        if !params.contains_key(p) {
            return Err(invalid(format!("template {:?} needs a value for {p:?}", m.template)));
        }
    }
    if let Some(extra) = params.keys().find(|k| !t.placeholders.contains(k)) {
        return Err(invalid(format!("template {:?} has no placeholder {extra:?}", m.template)));
    }
    Ok(MessageSpec { template: m.template, params })
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

/// Convert and bound a decision. Anything oversized, malformed or out of place is the
/// plugin's failure, never the host's.
pub fn decision_from_wit(d: wit::Decision, service: &ServiceSpec, stage: Stage) -> Result<Decision, CallFailure> {
    let notice = |n: Option<wit::Message>| n.map(|m| message(m, service, Kind::Notice)).transpose();
    Ok(match d {
        wit::Decision::Skip(reason) => {
            if stage != Stage::Event {
                return Err(invalid("skip is only a valid answer to an event"));
            }
            Decision::Skip { reason: bounded("skip reason", reason, MAX_TEXT)? }
        }
        wit::Decision::Offer(o) => {
            if stage != Stage::Event {
                return Err(invalid("offer is only a valid answer to an event; use ask-again"));
            }
            Decision::Offer {
                message: message(o.message, service, Kind::Question)?,
                state: bounded("state", o.state, MAX_STATE)?,
            }
        }
        wit::Decision::AskAgain(o) => {
            if stage == Stage::Event {
                return Err(invalid("ask-again needs an open case; use offer"));
            }
            Decision::AskAgain {
                message: message(o.message, service, Kind::Question)?,
                state: bounded("state", o.state, MAX_STATE)?,
            }
        }
        wit::Decision::Provide(p) => Decision::Provide {
            record_kind: bounded("record kind", p.record_kind, 64)?,
            details: pairs("provision details", p.details)?,
            notice: notice(p.notice)?,
        },
        wit::Decision::Refuse(r) => Decision::Refuse {
            ground: ground_code(r.ground)?,
            detail: bounded("refusal detail", r.detail, MAX_TEXT)?,
            notice: notice(r.notice)?,
        },
    })
}
