//! Applying a plugin's decision (or its failure) to a case: the state change, the decision
//! record with the plugin build, the messages, and the gate's second consent check before
//! anything is provided.

use serde_json::json;

use crate::audit::{Actor, AuditLog, Entry};
use crate::gate::{ConsentVerdict, Gate};
use crate::model::{CaseState, Decision, Timestamp};
use crate::redact::redact;
use crate::runtime::{CallFailure, LoadedPlugin, ServiceSpec};
use crate::store::{Case, DecisionRecord, MessageKind, Tx};

use super::messages::{self, MessageError};
use super::{Settings, codes};

/// Which export was called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Event,
    Reply,
    Timeout,
}

impl Stage {
    fn as_str(self) -> &'static str {
        match self {
            Stage::Event => "event",
            Stage::Reply => "reply",
            Stage::Timeout => "timeout",
        }
    }
}

/// The legal ground the host records when consent is gone by the time of provision.
pub const GROUND_CONSENT_WITHDRAWN: &str = "consent-withdrawn";

pub(super) struct Applier<'a> {
    pub gate: &'a Gate,
    pub settings: &'a Settings,
    pub plugin: &'a LoadedPlugin,
    pub service: &'a ServiceSpec,
    pub now: Timestamp,
}

impl Applier<'_> {
    pub fn apply(
        &self,
        tx: &mut dyn Tx,
        case: &mut Case,
        stage: Stage,
        result: Result<Decision, CallFailure>,
    ) -> anyhow::Result<()> {
        let decision = match result {
            Ok(d) => d,
            Err(failure) => return self.fail(tx, case, stage, &failure.to_string(), failure.kind()),
        };
        let detail = serde_json::to_string(&decision)?;
        crate::metrics::step("decision", decision.kind());
        tx.record_decision(&DecisionRecord {
            case_id: case.id,
            at: self.now,
            stage: stage.as_str(),
            plugin: Some(self.plugin.reference.clone()),
            decision: decision.kind().to_owned(),
            detail: detail.clone(),
        })?;
        let log = &self.settings.audit;
        let ground = match &decision {
            Decision::Refuse { ground, .. } => Some(ground.as_str()),
            _ => None,
        };
        log.append(
            tx,
            Entry::new(self.now, &Actor::Plugin(self.plugin.reference.clone()), "decision")
                .case(case.id)
                .outcome(decision.kind())
                .ground(ground)
                .consent(case.consent_id.as_deref())
                .detail(json!({ "stage": stage.as_str(), "service": self.service.id })),
        )?;
        case.updated_at = self.now;
        match decision {
            Decision::Skip { reason } => {
                case.state = CaseState::Skipped;
                case.reason = Some(reason);
            }
            Decision::Offer { message, state } | Decision::AskAgain { message, state } => {
                if stage != Stage::Event {
                    if case.asks >= self.settings.max_asks {
                        let why = format!("asked again more than the host's cap of {}", self.settings.max_asks);
                        return self.fail(tx, case, stage, &why, "ask-cap");
                    }
                    case.asks += 1;
                }
                if case.reply_code.is_none() {
                    let phone = case.phone.clone().unwrap_or_default();
                    case.reply_code = Some(codes::assign(case.id, &tx.codes_in_use(&phone)?));
                }
                case.plugin_state = state;
                case.state = CaseState::Offered;
                case.offered_at = Some(self.now);
                case.deadline = None;
                self.queue(tx, case, stage, &message, MessageKind::Question)?;
            }
            Decision::Provide { record_kind, details, notice } => {
                let scopes = &self.service.consent_scopes;
                let recipient = case.recipient.clone().unwrap_or_default();
                match self.gate.check_consent(&recipient, scopes, self.now) {
                    ConsentVerdict::Valid { consent_id } => {
                        log.append(
                            tx,
                            Entry::new(self.now, &Actor::Gate, "gate.consent-recheck")
                                .case(case.id)
                                .outcome("valid")
                                .ground(Some(super::GROUND_GATE_PASS))
                                .consent(Some(&consent_id))
                                .detail(json!({ "scopes": scopes })),
                        )?;
                        case.state = CaseState::Provided;
                        case.consent_id = Some(consent_id);
                        case.result = Some(serde_json::json!({ "kind": record_kind, "details": details }).to_string());
                        case.reason = None;
                        if let Some(n) = notice {
                            self.queue(tx, case, stage, &n, MessageKind::Notice)?;
                        }
                    }
                    ConsentVerdict::Refused { reason, consent_id } => {
                        log.append(
                            tx,
                            Entry::new(self.now, &Actor::Gate, "gate.consent-recheck")
                                .case(case.id)
                                .outcome(reason.as_str())
                                .ground(Some(super::gate_ground(reason)))
                                .consent(consent_id)
                                .detail(json!({ "scopes": scopes })),
                        )?;
                        tx.record_decision(&DecisionRecord {
                            case_id: case.id,
                            at: self.now,
                            stage: "host",
                            plugin: None,
                            decision: "refuse".into(),
                            detail: format!("consent no longer valid before provision: {reason}"),
                        })?;
                        case.state = CaseState::Refused;
                        case.ground = Some(GROUND_CONSENT_WITHDRAWN.into());
                        case.reason = Some(reason.as_str().into());
                    }
                }
            }
            Decision::Refuse { ground, detail, notice } => {
                case.state = CaseState::Refused;
                case.ground = Some(ground);
                case.reason = Some(detail);
                if let Some(n) = notice {
                    self.queue(tx, case, stage, &n, MessageKind::Notice)?;
                }
            }
        }
        log.append(tx, state_entry(case, self.now))?;
        Ok(())
    }

    fn queue(
        &self,
        tx: &mut dyn Tx,
        case: &mut Case,
        stage: Stage,
        message: &crate::model::MessageSpec,
        kind: MessageKind,
    ) -> anyhow::Result<()> {
        match messages::queue(tx, self.settings, self.service, case, message, kind, self.now)? {
            Ok(()) => Ok(()),
            Err(e @ (MessageError::UnknownTemplate(_) | MessageError::Render(_) | MessageError::TooLong(_))) => {
                self.fail(tx, case, stage, &format!("message: {e}"), "message")
            }
        }
    }

    fn fail(&self, tx: &mut dyn Tx, case: &mut Case, stage: Stage, why: &str, kind: &str) -> anyhow::Result<()> {
        tracing::warn!(case = case.id, service = %self.service.id, plugin = %self.plugin.reference.id, kind, "plugin call failed: {}", redact(why));
        crate::metrics::step("decision", "failed");
        tx.record_decision(&DecisionRecord {
            case_id: case.id,
            at: self.now,
            stage: stage.as_str(),
            plugin: Some(self.plugin.reference.clone()),
            decision: "failed".into(),
            detail: why.to_owned(),
        })?;
        self.settings.audit.append(
            tx,
            Entry::new(self.now, &Actor::Plugin(self.plugin.reference.clone()), "decision")
                .case(case.id)
                .outcome("failed")
                .consent(case.consent_id.as_deref())
                .detail(json!({ "stage": stage.as_str(), "service": self.service.id, "failure": kind })),
        )?;
        host_outcome(&self.settings.audit, tx, case, CaseState::Failed, why, self.now)
    }
}

/// A state the host decides on its own (gate stop, effective date, failure).
pub fn host_outcome(
    log: &AuditLog,
    tx: &mut dyn Tx,
    case: &mut Case,
    state: CaseState,
    reason: &str,
    now: Timestamp,
) -> anyhow::Result<()> {
    case.state = state;
    case.reason = Some(reason.to_owned());
    case.updated_at = now;
    log.append(tx, state_entry(case, now))?;
    Ok(())
}

/// The entry that records where a step left a case. Reasons can quote plugin text, so
/// anything identifier-shaped in them is masked.
fn state_entry(case: &Case, now: Timestamp) -> Entry {
    Entry::new(now, &Actor::Host, "case.state")
        .case(case.id)
        .outcome(case.state.as_str())
        .ground(case.ground.as_deref())
        .consent(case.consent_id.as_deref())
        .detail(json!({ "reason": case.reason.as_deref().map(redact) }))
}
