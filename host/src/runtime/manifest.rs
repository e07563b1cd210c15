//! Checking what a component declares before any of its code decides anything.
//!
//! A manifest that names an unknown event kind, an attribute that cannot address a citizen,
//! an impossible reply window or a template with an undeclared placeholder is refused when
//! the plugin loads, with a message that names the service and the problem, so an agency
//! developer learns it from `plugin check` rather than from a citizen's broken SMS.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::bindings::{template_kind, types as wit};
use crate::intake::catalogue;
use crate::sms::template::{self, Kind, TemplateError};

/// A validated service declaration.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub id: String,
    pub agency: String,
    pub title_kk: String,
    pub title_ru: String,
    pub subscribes: Vec<String>,
    pub recipient: String,
    pub consent_scopes: Vec<String>,
    pub reply_window_hours: u32,
    pub effective_from: NaiveDate,
    pub templates: BTreeMap<String, TemplateSpec>,
}

#[derive(Debug, Clone)]
pub struct TemplateSpec {
    pub kind: Kind,
    pub placeholders: Vec<String>,
    pub kk: String,
    pub ru: String,
}

/// Bounds on a manifest, far above what a real service needs: a huge manifest is refused
/// with a reason before the host spends time or memory on it.
pub const MAX_SERVICES: usize = 64;
pub const MAX_LIST: usize = 16;
pub const MAX_TEMPLATES: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("the component declares no services")]
    NoServices,
    #[error("the component declares {0} services; at most {MAX_SERVICES}")]
    TooManyServices(usize),
    #[error("service {service:?}: {count} {what}; at most {max}")]
    TooMany { service: String, what: &'static str, count: usize, max: usize },
    #[error("service {0:?}: id must be 1-64 characters of a-z, 0-9, '.', '-'")]
    BadId(String),
    #[error("service {0:?} is declared twice")]
    DuplicateService(String),
    #[error("service {service:?}: agency must be a short lower-case code")]
    BadAgency { service: String },
    #[error("services of one component must belong to one agency ({first:?} and {other:?})")]
    MixedAgencies { first: String, other: String },
    #[error("service {service:?}: title in {lang} is empty or longer than 200 characters")]
    BadTitle { service: String, lang: &'static str },
    #[error("service {service:?}: subscribes to no event kind")]
    NoSubscriptions { service: String },
    #[error("service {service:?}: unknown event kind {kind:?}")]
    UnknownEventKind { service: String, kind: String },
    #[error("service {service:?}: recipient {recipient:?} is not `subject` or an IIN attribute of {kind:?}")]
    BadRecipient { service: String, recipient: String, kind: String },
    #[error("service {service:?}: consent scope {scope:?} must be a dotted lower-case code")]
    BadScope { service: String, scope: String },
    #[error("service {service:?}: declares no consent scopes; every proactive service needs consent")]
    NoScopes { service: String },
    #[error("service {service:?}: reply window must be 1 to 8760 hours, got {hours}")]
    BadReplyWindow { service: String, hours: u32 },
    #[error("service {service:?}: effective-from {value:?} is not a YYYY-MM-DD date")]
    BadEffectiveFrom { service: String, value: String },
    #[error("service {service:?}: template id {id:?} is declared twice")]
    DuplicateTemplate { service: String, id: String },
    #[error("service {service:?}: {source}")]
    Template { service: String, source: TemplateError },
    #[error("service {service:?}: has no question template to offer with")]
    NoQuestion { service: String },
}

fn is_code(s: &str, extra: &[u8], max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || extra.contains(&b))
}

pub fn validate(raw: Vec<wit::ServiceManifest>) -> Result<Vec<ServiceSpec>, ManifestError> {
    if raw.is_empty() {
        return Err(ManifestError::NoServices);
    }
    if raw.len() > MAX_SERVICES {
        return Err(ManifestError::TooManyServices(raw.len()));
    }
    let mut out: Vec<ServiceSpec> = Vec::with_capacity(raw.len());
    for m in raw {
        let spec = validate_one(m)?;
        if out.iter().any(|s| s.id == spec.id) {
            return Err(ManifestError::DuplicateService(spec.id));
        }
        if let Some(first) = out.first().filter(|f| f.agency != spec.agency) {
            return Err(ManifestError::MixedAgencies { first: first.agency.clone(), other: spec.agency });
        }
        out.push(spec);
    }
    Ok(out)
}

fn validate_one(m: wit::ServiceManifest) -> Result<ServiceSpec, ManifestError> {
    let service = m.id.clone();
    if !is_code(&m.id, b".-", 64) {
        return Err(ManifestError::BadId(m.id.chars().take(64).collect()));
    }
    if !is_code(&m.agency, b"-", 32) {
        return Err(ManifestError::BadAgency { service });
    }
    for (lang, title) in [("kk", &m.title_kk), ("ru", &m.title_ru)] {
        if title.trim().is_empty() || title.chars().count() > 200 {
            return Err(ManifestError::BadTitle { service, lang });
        }
    }
    for (what, count, max) in [
        ("event kinds subscribed", m.subscribes.len(), MAX_LIST),
        ("consent scopes", m.consent_scopes.len(), MAX_LIST),
        ("templates", m.templates.len(), MAX_TEMPLATES),
    ] {
        if count > max {
            return Err(ManifestError::TooMany { service, what, count, max });
        }
    }
    if m.subscribes.is_empty() {
        return Err(ManifestError::NoSubscriptions { service });
    }
    for kind in &m.subscribes {
        let Some(k) = catalogue::kind(kind) else {
            return Err(ManifestError::UnknownEventKind { service, kind: kind.chars().take(64).collect() });
        };
        if m.recipient != "subject" && !k.is_recipient_attribute(&m.recipient) {
            return Err(ManifestError::BadRecipient {
                service,
                recipient: m.recipient.chars().take(64).collect(),
                kind: kind.clone(),
            });
        }
    }
    if m.consent_scopes.is_empty() {
        return Err(ManifestError::NoScopes { service });
    }
    if let Some(scope) = m.consent_scopes.iter().find(|s| !is_code(s, b".-", 64)) {
        return Err(ManifestError::BadScope { service, scope: scope.chars().take(64).collect() });
    }
    if !(1..=8760).contains(&m.reply_window_hours) {
        return Err(ManifestError::BadReplyWindow { service, hours: m.reply_window_hours });
    }
    let Ok(effective_from) = NaiveDate::parse_from_str(&m.effective_from, "%Y-%m-%d") else {
        return Err(ManifestError::BadEffectiveFrom { service, value: m.effective_from.chars().take(32).collect() });
    };
    let mut templates = BTreeMap::new();
    for t in m.templates {
        let kind = template_kind(t.kind);
        template::validate(&t.id, kind, &t.placeholders, &t.kk, &t.ru)
            .map_err(|source| ManifestError::Template { service: service.clone(), source })?;
        let spec = TemplateSpec { kind, placeholders: t.placeholders, kk: t.kk, ru: t.ru };
        if templates.insert(t.id.clone(), spec).is_some() {
            return Err(ManifestError::DuplicateTemplate { service, id: t.id });
        }
    }
    if !templates.values().any(|t| t.kind == Kind::Question) {
        return Err(ManifestError::NoQuestion { service });
    }
    Ok(ServiceSpec {
        id: m.id,
        agency: m.agency,
        title_kk: m.title_kk,
        title_ru: m.title_ru,
        subscribes: m.subscribes,
        recipient: m.recipient,
        consent_scopes: m.consent_scopes,
        reply_window_hours: m.reply_window_hours,
        effective_from,
        templates,
    })
}
