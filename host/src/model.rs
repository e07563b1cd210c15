//! The host's own vocabulary: validated events, case states, decisions and gate outcomes.
//!
//! These are the types the pipeline, store and report share. The WIT-generated types stay
//! inside [`crate::runtime`]; everything past it speaks this language, so a new contract
//! version only needs a new adapter there.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Seconds since the Unix epoch, UTC.
pub type Timestamp = i64;

/// A life event that passed intake validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    pub kind: String,
    /// IIN of the person the event is about.
    pub subject: String,
    pub occurred_at: Timestamp,
    pub attributes: BTreeMap<String, String>,
}

/// Where a case is in its lifecycle. The terminal states are `Skipped`, `GatedOut`,
/// `Provided`, `Refused` and `Failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaseState {
    Received,
    Skipped,
    GatedOut,
    /// An offer is decided and its SMS queued, not yet sent.
    Offered,
    /// The SMS went out; the reply window runs.
    AwaitingReply,
    Provided,
    Refused,
    Failed,
}

impl CaseState {
    pub const ALL: [CaseState; 8] = [
        CaseState::Received,
        CaseState::Skipped,
        CaseState::GatedOut,
        CaseState::Offered,
        CaseState::AwaitingReply,
        CaseState::Provided,
        CaseState::Refused,
        CaseState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseState::Received => "received",
            CaseState::Skipped => "skipped",
            CaseState::GatedOut => "gated-out",
            CaseState::Offered => "offered",
            CaseState::AwaitingReply => "awaiting-reply",
            CaseState::Provided => "provided",
            CaseState::Refused => "refused",
            CaseState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            CaseState::Skipped | CaseState::GatedOut | CaseState::Provided | CaseState::Refused | CaseState::Failed
        )
    }

    /// Open cases can still take a reply (the SMS may be in flight when it arrives).
    pub fn is_open(self) -> bool {
        matches!(self, CaseState::Offered | CaseState::AwaitingReply)
    }
}

impl fmt::Display for CaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The recipient's language for SMS, as registered with their mobile number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    Kk,
    Ru,
}

impl Language {
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Kk => "kk",
            Language::Ru => "ru",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "kk" | "kz" | "kaz" => Some(Language::Kk),
            "ru" | "rus" => Some(Language::Ru),
            _ => None,
        }
    }
}

/// An SMS a plugin asked for: a template id plus placeholder values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageSpec {
    pub template: String,
    pub params: BTreeMap<String, String>,
}

/// A plugin's decision, validated and bounded by the runtime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum Decision {
    Skip { reason: String },
    Offer { message: MessageSpec, state: String },
    Provide { record_kind: String, details: BTreeMap<String, String>, notice: Option<MessageSpec> },
    Refuse { ground: String, detail: String, notice: Option<MessageSpec> },
    AskAgain { message: MessageSpec, state: String },
}

impl Decision {
    pub fn kind(&self) -> &'static str {
        match self {
            Decision::Skip { .. } => "skip",
            Decision::Offer { .. } => "offer",
            Decision::Provide { .. } => "provide",
            Decision::Refuse { .. } => "refuse",
            Decision::AskAgain { .. } => "ask-again",
        }
    }
}

/// Which plugin build made a decision: recorded on every decision so an auditor can tell
/// exactly which ministry logic acted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PluginRef {
    pub id: String,
    pub version: String,
    /// SHA-256 of the component bytes, hex.
    pub hash: String,
}

/// Why the legal gate stopped a case (Rules, clauses 2.3 and 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GateReason {
    /// Clause 2.3: state bodies are not service recipients.
    StateBody,
    /// The event does not name a recipient the service can address.
    NoRecipient,
    /// Clause 3: no number registered on the e-government portal.
    NoRegisteredNumber,
    /// The registered number is a landline, not a mobile subscriber device (clause 2.2).
    NotMobile,
    /// The registered number is not a Kazakh mobile number.
    ForeignNumber,
    /// Clause 3: no consent through the personal-data access-control service.
    NoConsent,
    ConsentRevoked,
    ConsentExpired,
    /// Consent exists but does not cover every scope the service needs.
    ConsentScope,
}

impl GateReason {
    pub const ALL: [GateReason; 9] = [
        GateReason::StateBody,
        GateReason::NoRecipient,
        GateReason::NoRegisteredNumber,
        GateReason::NotMobile,
        GateReason::ForeignNumber,
        GateReason::NoConsent,
        GateReason::ConsentRevoked,
        GateReason::ConsentExpired,
        GateReason::ConsentScope,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GateReason::StateBody => "state-body",
            GateReason::NoRecipient => "no-recipient",
            GateReason::NoRegisteredNumber => "no-registered-number",
            GateReason::NotMobile => "not-mobile",
            GateReason::ForeignNumber => "foreign-number",
            GateReason::NoConsent => "no-consent",
            GateReason::ConsentRevoked => "consent-revoked",
            GateReason::ConsentExpired => "consent-expired",
            GateReason::ConsentScope => "consent-scope",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for GateReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How far another system's clock may be from ours before its times are not believed: a
/// sender's time more than this ahead of ours is in the future, a receipt or reply more
/// than this before the message or offer it answers is not its answer.
pub const CLOCK_DRIFT_SECONDS: i64 = 300;
