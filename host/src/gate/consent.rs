//! Consent verification: does some consent cover every scope the service needs, now?
//!
//! When none does, the most specific reason wins, so the report tells an operator whether
//! people never consented, withdrew, let consent lapse, or consented to too little.

use std::collections::BTreeSet;

use crate::model::{GateReason, Timestamp};

/// A consent record from the personal-data access-control service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub id: String,
    pub scopes: BTreeSet<String>,
    pub granted_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

impl Consent {
    fn covers(&self, scopes: &[String]) -> bool {
        scopes.iter().all(|s| self.scopes.contains(s))
    }

    fn revoked(&self, at: Timestamp) -> bool {
        self.revoked_at.is_some_and(|r| r <= at)
    }

    fn expired(&self, at: Timestamp) -> bool {
        self.expires_at.is_some_and(|e| e <= at)
    }

    fn active(&self, at: Timestamp) -> bool {
        self.granted_at <= at && !self.revoked(at) && !self.expired(at)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsentVerdict {
    Valid { consent_id: String },
    Refused { reason: GateReason, consent_id: Option<String> },
}

pub fn verdict(consents: &[Consent], scopes: &[String], at: Timestamp) -> ConsentVerdict {
    if let Some(c) = consents.iter().find(|c| c.covers(scopes) && c.active(at)) {
        return ConsentVerdict::Valid { consent_id: c.id.clone() };
    }
    let refused = |reason, c: Option<&Consent>| ConsentVerdict::Refused { reason, consent_id: c.map(|c| c.id.clone()) };
    let covering: Vec<&Consent> = consents.iter().filter(|c| c.covers(scopes) && c.granted_at <= at).collect();
    if let Some(c) = covering.iter().find(|c| c.revoked(at)) {
        return refused(GateReason::ConsentRevoked, Some(c));
    }
    if let Some(c) = covering.iter().find(|c| c.expired(at)) {
        return refused(GateReason::ConsentExpired, Some(c));
    }
    if let Some(c) = consents.iter().find(|c| c.active(at)) {
        return refused(GateReason::ConsentScope, Some(c));
    }
    refused(GateReason::NoConsent, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consent(id: &str, scopes: &[&str], revoked_at: Option<i64>, expires_at: Option<i64>) -> Consent {
        Consent {
            id: id.into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            granted_at: 100,
            expires_at,
            revoked_at,
        }
    }

    #[track_caller]
    fn check(consents: &[Consent], at: i64, expected: Result<&str, GateReason>) {
        let scopes = vec!["civil.birth".to_string(), "health.attachment".to_string()];
        let got = match verdict(consents, &scopes, at) {
            ConsentVerdict::Valid { consent_id } => Ok(consent_id),
            ConsentVerdict::Refused { reason, .. } => Err(reason),
        };
        assert_eq!(got, expected.map(str::to_owned));
    }

    #[test]
    fn verdicts() {
        let full = ["civil.birth", "health.attachment"];
        check(&[], 200, Err(GateReason::NoConsent));
        check(&[consent("a", &full, None, None)], 200, Ok("a"));
        check(&[consent("a", &full, None, None)], 50, Err(GateReason::NoConsent));
        check(&[consent("a", &["civil.birth"], None, None)], 200, Err(GateReason::ConsentScope));
        check(&[consent("a", &full, Some(150), None)], 200, Err(GateReason::ConsentRevoked));
        check(&[consent("a", &full, Some(150), None)], 149, Ok("a"));
        check(&[consent("a", &full, None, Some(180))], 200, Err(GateReason::ConsentExpired));
        check(&[consent("a", &full, Some(150), None), consent("b", &full, None, None)], 200, Ok("b"));
        check(
            &[consent("a", &["civil.birth"], None, None), consent("b", &full, Some(120), None)],
            200,
            Err(GateReason::ConsentRevoked),
        );
    }
}
