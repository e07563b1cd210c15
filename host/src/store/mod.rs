//! Durable state: events, cases, decisions, the SMS outbox, replies, timers, and the audit
//! log with its Merkle nodes and signed checkpoints.
//!
//! The store is a port: SQLite is the embedded default ([`sqlite::SqliteStore`]) and a
//! shared PostgreSQL store implements the same trait. All writes for one step of the
//! pipeline happen inside one [`Tx`], so a crash leaves either the whole step or none of it.

pub mod sqlite;

use serde::{Deserialize, Serialize};

use crate::model::{CaseState, Event, Language, PluginRef, Timestamp};
use crate::sms::reply::Answer;

pub type CaseId = i64;

/// A case: one service's handling of one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    pub id: CaseId,
    pub event_id: String,
    pub service: String,
    pub agency: String,
    pub state: CaseState,
    /// Skip reason, gate reason, or failure reason, by state.
    pub reason: Option<String>,
    /// The legal ground of a refusal.
    pub ground: Option<String>,
    pub recipient: Option<String>,
    pub phone: Option<String>,
    pub language: Option<Language>,
    pub consent_id: Option<String>,
    pub reply_code: Option<String>,
    pub asks: u32,
    pub plugin_state: String,
    pub offered_at: Option<Timestamp>,
    /// When the reply window closes (set once the offer SMS is sent).
    pub deadline: Option<Timestamp>,
    /// What was provided (JSON), for provided cases.
    pub result: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One decision on a case, with the plugin build that made it.
#[derive(Debug, Clone)]
pub struct DecisionRecord {
    pub case_id: CaseId,
    pub at: Timestamp,
    /// `event`, `reply`, `timeout`, or `host` for the host's own decisions.
    pub stage: &'static str,
    pub plugin: Option<PluginRef>,
    pub decision: String,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MessageState {
    Queued,
    Sent,
    /// The gateway refused it for good.
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MessageKind {
    Question,
    Notice,
    /// The host's help text for a reply it could not match.
    Help,
}

#[derive(Debug, Clone)]
pub struct OutboxMessage {
    pub id: i64,
    pub case_id: Option<CaseId>,
    pub kind: MessageKind,
    pub phone: String,
    pub text: String,
    pub parts: u32,
    pub not_before: Timestamp,
    pub state: MessageState,
    pub queued_at: Timestamp,
    pub sent_at: Option<Timestamp>,
    /// The gateway's id for it, once sent.
    pub gateway_id: Option<String>,
}

/// What the network finally did with a sent message, as its delivery receipt says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryStatus {
    Delivered,
    /// The SMSC gave up before the phone could take it (switched off past the validity).
    Expired,
    Undeliverable,
    /// The SMSC or the operator refused it after accepting the submission.
    Rejected,
    Deleted,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 5] = [
        DeliveryStatus::Delivered,
        DeliveryStatus::Expired,
        DeliveryStatus::Undeliverable,
        DeliveryStatus::Rejected,
        DeliveryStatus::Deleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Expired => "expired",
            DeliveryStatus::Undeliverable => "undeliverable",
            DeliveryStatus::Rejected => "rejected",
            DeliveryStatus::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// A delivery receipt, stored once per message: the first final word is the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub message_id: i64,
    pub status: DeliveryStatus,
    /// When the network says it happened.
    pub at: Timestamp,
    pub received_at: Timestamp,
}

/// A message to queue.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub case_id: Option<CaseId>,
    pub kind: MessageKind,
    pub phone: String,
    pub text: String,
    pub parts: u32,
    pub not_before: Timestamp,
}

/// How an incoming SMS was matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InboundStatus {
    Matched,
    /// No open case for the number, or a code that names none of its cases.
    Unmatched,
    /// Several open cases and no code to choose between them.
    Ambiguous,
    /// Matched, but its case's plugin is paused: it is decided when the plugin is back.
    Held,
}

/// A reply held for a paused plugin.
#[derive(Debug, Clone)]
pub struct HeldReply {
    pub id: i64,
    pub case_id: CaseId,
    pub text: String,
    pub received_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct Inbound {
    pub phone: String,
    pub text: String,
    pub received_at: Timestamp,
    pub answer: Answer,
    pub case_id: Option<CaseId>,
    pub status: InboundStatus,
}

/// A stored audit entry: its position, its canonical JSON, and the RFC 9162 leaf hash of
/// that JSON (hex). The leaf is kept so a tree head or a proof never rehashes the entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub seq: u64,
    pub entry: String,
    pub leaf: String,
}

/// A signed checkpoint as stored: the note is the source of truth, the other columns are
/// copies for querying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub size: u64,
    pub at: Timestamp,
    /// Hex.
    pub root: String,
    pub note: String,
}

/// A stored incoming SMS, for a citizen's history.
#[derive(Debug, Clone)]
pub struct InboundRecord {
    pub text: String,
    pub received_at: Timestamp,
    pub answer: String,
    pub status: String,
}

/// Counts for the report, grouped by service.
#[derive(Debug, Clone, Default)]
pub struct ServiceCounts {
    pub cases: u64,
    /// Cases that got an offer (whatever happened next).
    pub offers: u64,
    pub by_state: std::collections::BTreeMap<String, u64>,
    pub by_reason: std::collections::BTreeMap<(String, String), u64>,
    pub messages: u64,
    pub parts: u64,
}

/// One uploaded build of a plugin. The component bytes are stored beside it
/// ([`Store::plugin_component`]), so every host sharing the store can load it. Times are
/// Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PluginVersion {
    /// Upload order across all plugins; `0` before it is stored.
    pub seq: i64,
    pub plugin: String,
    pub version: String,
    pub sha256: String,
    pub agency: String,
    /// Base64 Ed25519 signature by the agency; `None` for a component seeded from the
    /// operator's plugins folder.
    pub signature: Option<String>,
    pub uploaded_at: Timestamp,
    pub uploaded_by: String,
    /// When it may start serving, if later than its upload.
    pub effective_from: Option<Timestamp>,
}

/// A change to what a plugin runs: `upload`, `activate`, `schedule`, `rollback`, `disable`.
/// The log of these is the truth; what is active is derived from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PluginAction {
    pub seq: i64,
    pub plugin: String,
    pub action: String,
    pub version_seq: Option<i64>,
    pub at: Timestamp,
    pub actor: String,
}

/// Which cases to list: all conditions must hold; ordered by id, `after` for paging.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub agency: Option<String>,
    pub service: Option<String>,
    pub state: Option<CaseState>,
    /// Only cases with a larger id.
    pub after: CaseId,
    pub limit: usize,
}

/// The store port.
pub trait Store: Send + Sync {
    /// Start an atomic unit of work. Dropping it without `commit` rolls back.
    fn begin(&self) -> anyhow::Result<Box<dyn Tx + '_>>;

    fn case(&self, id: CaseId) -> anyhow::Result<Option<Case>>;
    fn cases(&self) -> anyhow::Result<Vec<Case>>;
    fn find_cases(&self, filter: &CaseFilter) -> anyhow::Result<Vec<Case>>;
    /// Open cases whose reply window has closed by `now`, but for the services in `skip`
    /// (their plugin is paused: their timers fire when it is back).
    fn due_timers(&self, now: Timestamp, limit: usize, skip: &[String]) -> anyhow::Result<Vec<Case>>;
    /// Replies held for a service while its plugin was paused, oldest first.
    fn held_replies(&self, service: &str, limit: usize) -> anyhow::Result<Vec<HeldReply>>;
    fn next_timer(&self) -> anyhow::Result<Option<Timestamp>>;
    /// A service's cases still waiting for their first decision (their plugin was paused
    /// when the event came), oldest first.
    fn waiting_cases(&self, service: &str, limit: usize) -> anyhow::Result<Vec<Case>>;
    fn due_messages(&self, now: Timestamp, limit: usize) -> anyhow::Result<Vec<OutboxMessage>>;
    fn next_message(&self) -> anyhow::Result<Option<Timestamp>>;
    /// The gateway's ids for the parts of a queued message an interrupted attempt already
    /// handed over, in part order.
    fn taken_parts(&self, message: i64) -> anyhow::Result<Vec<String>>;
    /// Messages handed to the gateway for a number since `since`.
    fn sent_to_since(&self, phone: &str, since: Timestamp) -> anyhow::Result<u64>;
    /// Whether the same text from the same number was stored since `since`.
    fn inbound_seen_since(&self, phone: &str, text: &str, since: Timestamp) -> anyhow::Result<bool>;
    /// Help texts queued for a number since `since`.
    fn help_to_since(&self, phone: &str, since: Timestamp) -> anyhow::Result<u64>;
    fn open_cases_for_phone(&self, phone: &str) -> anyhow::Result<Vec<Case>>;
    fn event(&self, id: &str) -> anyhow::Result<Option<Event>>;
    fn decisions(&self, case: CaseId) -> anyhow::Result<Vec<DecisionRecord>>;
    fn counts(&self) -> anyhow::Result<std::collections::BTreeMap<String, ServiceCounts>>;
    /// Audit entries after `after_seq`, in order.
    fn audit_rows(&self, after_seq: u64, limit: usize) -> anyhow::Result<Vec<AuditRow>>;
    /// A stored Merkle node: level 0 is an entry's leaf hash, higher levels the perfect
    /// subtrees completed so far.
    fn audit_node(&self, level: u32, index: u64) -> anyhow::Result<Option<[u8; 32]>>;
    /// Every stored checkpoint, by size.
    fn checkpoints(&self) -> anyhow::Result<Vec<StoredCheckpoint>>;
    /// Audit entries whose JSON contains `text` (a keyed hash), in order.
    fn audit_rows_containing(&self, text: &str) -> anyhow::Result<Vec<AuditRow>>;
    /// Cases about a person: addressed to them, or about an event whose subject they are.
    fn cases_for_person(&self, iin: &str) -> anyhow::Result<Vec<Case>>;
    /// A case's messages, in the order they were queued.
    fn messages_for_case(&self, case: CaseId) -> anyhow::Result<Vec<OutboxMessage>>;
    /// A sent message by the id its gateway gave it, or a message (sent or still going) by
    /// the id of one of its parts; the latest, should a gateway reuse ids.
    fn message_by_gateway_id(&self, gateway_id: &str) -> anyhow::Result<Option<OutboxMessage>>;
    /// The receipts for a case's messages, by message id.
    fn receipts_for_case(&self, case: CaseId) -> anyhow::Result<Vec<Receipt>>;
    /// Messages to a number that belong to no case (help texts).
    fn loose_messages(&self, phone: &str) -> anyhow::Result<Vec<OutboxMessage>>;
    /// The replies matched to a case.
    fn inbound_for_case(&self, case: CaseId) -> anyhow::Result<Vec<InboundRecord>>;
    fn message_count(&self) -> anyhow::Result<u64>;
    fn inbound_counts(&self) -> anyhow::Result<std::collections::BTreeMap<String, u64>>;
    /// Stored plugin versions (all plugins when `None`), in upload order.
    fn plugin_versions(&self, plugin: Option<&str>) -> anyhow::Result<Vec<PluginVersion>>;
    fn plugin_component(&self, version_seq: i64) -> anyhow::Result<Option<Vec<u8>>>;
    /// The plugin action log (all plugins when `None`), in order.
    fn plugin_actions(&self, plugin: Option<&str>) -> anyhow::Result<Vec<PluginAction>>;
}

/// Writes inside one transaction.
pub trait Tx {
    /// Record an event; false if its id is already stored (the caller then does nothing).
    fn insert_event(&mut self, event: &Event, received_at: Timestamp) -> anyhow::Result<bool>;
    fn insert_case(&mut self, case: &Case) -> anyhow::Result<CaseId>;
    fn update_case(&mut self, case: &Case) -> anyhow::Result<()>;
    fn record_decision(&mut self, d: &DecisionRecord) -> anyhow::Result<()>;
    fn enqueue(&mut self, m: &NewMessage) -> anyhow::Result<i64>;
    /// Record one part of a queued message as handed over (the rest are still to go).
    fn record_part_taken(&mut self, message: i64, part: u32, gateway_id: &str) -> anyhow::Result<()>;
    /// Hold a queued message back until `not_before`.
    fn defer(&mut self, message: i64, not_before: Timestamp) -> anyhow::Result<()>;
    /// Record a message as handed over, with the gateway's id for each part (one id for a
    /// gateway that takes a long message whole).
    fn mark_sent(&mut self, message: i64, at: Timestamp, gateway_ids: &[String]) -> anyhow::Result<()>;
    /// Record the final status of one part of a message sent in parts (the first one
    /// stands); returns every part's status, in part order, or nothing for a message sent
    /// whole.
    fn record_part_status(
        &mut self,
        message: i64,
        gateway_id: &str,
        status: DeliveryStatus,
    ) -> anyhow::Result<Vec<Option<DeliveryStatus>>>;
    fn mark_failed(&mut self, message: i64, at: Timestamp, reason: &str) -> anyhow::Result<()>;
    /// Store a message's receipt; if it already has one, store nothing and return that
    /// one's status.
    fn insert_receipt(&mut self, r: &Receipt) -> anyhow::Result<Option<DeliveryStatus>>;
    /// Store an incoming SMS; `None` if the same message (number, time, text) is already
    /// stored, so replaying a replies file changes nothing.
    fn insert_inbound(&mut self, m: &Inbound) -> anyhow::Result<Option<i64>>;
    /// A held reply, decided at last.
    fn release_inbound(&mut self, id: i64) -> anyhow::Result<()>;
    /// Reply codes in use by open cases for a phone.
    fn codes_in_use(&mut self, phone: &str) -> anyhow::Result<Vec<String>>;
    /// The services that already have a case for an event.
    fn case_services(&mut self, event_id: &str) -> anyhow::Result<Vec<String>>;
    /// As [`Store::event`], inside the transaction.
    fn stored_event(&mut self, id: &str) -> anyhow::Result<Option<Event>>;
    /// Whether the store holds any version of a plugin (a server's plugins do; a batch
    /// run's, loaded from a folder, do not).
    fn has_plugin_versions(&mut self, plugin: &str) -> anyhow::Result<bool>;
    /// How many audit entries there are (the next one's index).
    fn audit_size(&mut self) -> anyhow::Result<u64>;
    /// Store an audit entry at the end of the log ([`crate::audit::AuditLog::append`]
    /// decides its position and hash).
    fn insert_audit(&mut self, row: &AuditRow) -> anyhow::Result<()>;
    /// As [`Store::audit_node`], inside the transaction.
    fn audit_node(&mut self, level: u32, index: u64) -> anyhow::Result<Option<[u8; 32]>>;
    /// Store Merkle nodes completed by an append: `(level ≥ 1, index, hash)`.
    fn put_audit_nodes(&mut self, nodes: &[(u32, u64, [u8; 32])]) -> anyhow::Result<()>;
    fn latest_checkpoint(&mut self) -> anyhow::Result<Option<StoredCheckpoint>>;
    fn insert_checkpoint(&mut self, c: &StoredCheckpoint) -> anyhow::Result<()>;
    /// Store a version with its bytes; an upload of bytes already stored for the plugin
    /// returns the existing version's seq and changes nothing.
    fn insert_plugin_version(&mut self, v: &PluginVersion, component: &[u8]) -> anyhow::Result<i64>;
    fn insert_plugin_action(&mut self, a: &PluginAction) -> anyhow::Result<i64>;
    fn commit(self: Box<Self>) -> anyhow::Result<()>;
}
