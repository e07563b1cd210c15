//! The legal gate (Rules, clauses 2.3 and 3), enforced by the host so no plugin can skip it.
//!
//! **Architecture invariant:** only the gate decides whether an SMS may go. It resolves the
//! recipient, refuses state bodies, requires a registered Kazakh mobile number, and requires
//! consent that covers every scope the service declared: before the offer, and again before
//! the service is provided. Plugins never see the phone number it finds.

mod consent;
pub mod phone;
pub mod registry;

use std::sync::Arc;

pub use consent::{Consent, ConsentVerdict};
pub use registry::{Registration, Registries, SnapshotRegistry};

use crate::intake::catalogue::REPRESENTATIVE;
use crate::model::{Event, GateReason, Language, Timestamp};
use crate::runtime::{FactDenied, FactSource, ServiceSpec};
use phone::{MobileNumber, PhoneError};

/// What the gate found when it let a case through.
#[derive(Debug, Clone)]
pub struct Pass {
    pub recipient: String,
    pub phone: MobileNumber,
    pub language: Language,
    pub consent_id: String,
}

/// The outcome of the gate, with the facts the audit log records either way.
#[derive(Debug, Clone)]
pub enum Verdict {
    Pass(Pass),
    Stop { reason: GateReason, recipient: Option<String>, consent_id: Option<String> },
}

#[derive(Clone)]
pub struct Gate {
    registries: Registries,
}

impl Gate {
    pub fn new(registries: Registries) -> Self {
        Gate { registries }
    }

    /// Who receives a service's offer for an event: a legal representative the registry
    /// names, else the attribute the manifest declared.
    pub fn recipient(event: &Event, service: &ServiceSpec) -> Option<String> {
        if let Some(rep) = event.attributes.get(REPRESENTATIVE) {
            return Some(rep.clone());
        }
        if service.recipient == "subject" {
            return Some(event.subject.clone());
        }
        event.attributes.get(&service.recipient).cloned()
    }

    /// The full check before an offer.
    pub fn check_offer(&self, event: &Event, service: &ServiceSpec, at: Timestamp) -> Verdict {
        let Some(recipient) = Self::recipient(event, service) else {
            return Verdict::Stop { reason: GateReason::NoRecipient, recipient: None, consent_id: None };
        };
        let stop = |reason, consent_id| Verdict::Stop { reason, recipient: Some(recipient.clone()), consent_id };
        if self.registries.state_bodies.is_state_body(&recipient) {
            return stop(GateReason::StateBody, None);
        }
        let Some(registration) = self.registries.numbers.lookup(&recipient) else {
            return stop(GateReason::NoRegisteredNumber, None);
        };
        let phone = match registration.phone {
            Ok(p) => p,
            Err(PhoneError::NotMobile) => return stop(GateReason::NotMobile, None),
            Err(PhoneError::NotKazakh) => return stop(GateReason::ForeignNumber, None),
            Err(PhoneError::Unparseable) => return stop(GateReason::NoRegisteredNumber, None),
        };
        match self.check_consent(&recipient, &service.consent_scopes, at) {
            ConsentVerdict::Valid { consent_id } => {
                Verdict::Pass(Pass { recipient: recipient.clone(), phone, language: registration.language, consent_id })
            }
            ConsentVerdict::Refused { reason, consent_id } => stop(reason, consent_id),
        }
    }

    /// Consent only: what is re-checked before a service is provided.
    pub fn check_consent(&self, person: &str, scopes: &[String], at: Timestamp) -> ConsentVerdict {
        consent::verdict(&self.registries.consents.consents(person), scopes, at)
    }

    /// Facts for plugins, limited to what the person consented to.
    pub fn facts(&self) -> Arc<dyn FactSource> {
        Arc::new(self.clone())
    }
}

impl FactSource for Gate {
    fn fact(&self, person: &str, scope: &str, key: &str, at: Timestamp) -> Result<Option<String>, FactDenied> {
        match self.check_consent(person, &[scope.to_owned()], at) {
            ConsentVerdict::Valid { .. } => Ok(self.registries.facts.fact(person, scope, key)),
            ConsentVerdict::Refused { .. } => Err(FactDenied::NoConsent),
        }
    }
}
