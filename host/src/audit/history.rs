//! A citizen's history: for one IIN, which services acted on which event, under which
//! consent and with which data scopes, what was sent when, what they answered, and how each
//! case ended.
//!
//! The cases, messages and replies come from the store, which holds personal data (it is
//! the citizen asking, so message texts are shown). The audit log holds only keyed hashes:
//! the history finds the person's entries there by the keyed hash of the IIN, takes the
//! consent scopes from the gate's entries, and lists any case the log names that the store
//! no longer has (its personal data erased), so the two cross-check.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;

use super::Entry;
use super::keys::Keys;
use crate::model::Timestamp;
use crate::store::{CaseId, OutboxMessage, Store};

#[derive(Debug, Clone, Serialize)]
pub struct History {
    /// The keyed hash the person appears under in the audit log.
    pub audit_key: String,
    pub cases: Vec<CaseHistory>,
    /// Messages to the person's numbers that belong to no case (help texts).
    pub other_messages: Vec<Message>,
    /// Cases the audit log ties to the person that the store no longer holds.
    pub audit_only_cases: Vec<CaseId>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseHistory {
    pub case_id: CaseId,
    pub event_id: String,
    pub event_kind: String,
    pub occurred_at: Option<Timestamp>,
    /// Whether the person was the event's subject, the offer's recipient, or both.
    pub role: &'static str,
    pub service: String,
    pub agency: String,
    pub consent_id: Option<String>,
    /// The data scopes the service declared and the gate checked consent for.
    pub scopes: Vec<String>,
    pub state: String,
    pub ground: Option<String>,
    pub reason: Option<String>,
    pub decisions: Vec<Decision>,
    pub messages: Vec<Message>,
    pub replies: Vec<Reply>,
    /// The audit entries about this case, by sequence number.
    pub audit_entries: Vec<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    pub at: Timestamp,
    pub stage: String,
    /// `id@version#sha256`, or none for the host's own decisions.
    pub plugin: Option<String>,
    pub decision: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub kind: String,
    pub state: String,
    pub queued_at: Timestamp,
    pub sent_at: Option<Timestamp>,
    pub parts: u32,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Reply {
    pub at: Timestamp,
    pub answer: String,
    pub text: String,
}

fn message(m: OutboxMessage) -> Message {
    let word = |v: serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    Message {
        kind: word(serde_json::json!(m.kind)),
        state: word(serde_json::json!(m.state)),
        queued_at: m.queued_at,
        sent_at: m.sent_at,
        parts: m.parts,
        text: m.text,
    }
}

/// Build the history of `iin` from the store and its audit log.
pub fn history(store: &dyn Store, keys: &Keys, iin: &str) -> anyhow::Result<History> {
    let audit_key = keys.keyed_hash("id", iin);
    let mentions: Vec<Entry> = store
        .audit_rows_containing(&audit_key)?
        .into_iter()
        .filter_map(|r| serde_json::from_str(&r.entry).ok())
        .collect();
    let mut cases = Vec::new();
    let mut phones = BTreeSet::new();
    for case in store.cases_for_person(iin)? {
        let event = store.event(&case.event_id)?;
        let subject = event.as_ref().is_some_and(|e| e.subject == iin);
        let recipient = case.recipient.as_deref() == Some(iin);
        let role = match (subject, recipient) {
            (true, true) => "subject and recipient",
            (true, false) => "subject",
            _ => "recipient",
        };
        if recipient && let Some(p) = &case.phone {
            phones.insert(p.clone());
        }
        let entries: Vec<Entry> = store
            .audit_rows_containing(&format!("\"case_id\":{},", case.id))?
            .into_iter()
            .filter_map(|r| serde_json::from_str(&r.entry).ok())
            .collect();
        let scopes = entries
            .iter()
            .filter(|e| e.action.starts_with("gate."))
            .find_map(|e| e.detail.get("scopes").and_then(|s| serde_json::from_value(s.clone()).ok()))
            .unwrap_or_default();
        let decisions = store
            .decisions(case.id)?
            .into_iter()
            .map(|d| Decision {
                at: d.at,
                stage: d.stage.to_owned(),
                plugin: d.plugin.map(|p| format!("{}@{}#{}", p.id, p.version, p.hash)),
                decision: d.decision,
            })
            .collect();
        // Messages and replies belong to the recipient. When the person asking was only the
        // event's subject (a child, say), they are someone else's correspondence — an IBAN,
        // a priority category — and stay out of this person's history.
        let replies = if recipient {
            store
                .inbound_for_case(case.id)?
                .into_iter()
                .map(|r| Reply { at: r.received_at, answer: r.answer, text: r.text })
                .collect()
        } else {
            Vec::new()
        };
        let messages =
            if recipient { store.messages_for_case(case.id)?.into_iter().map(message).collect() } else { Vec::new() };
        cases.push(CaseHistory {
            case_id: case.id,
            event_kind: event.as_ref().map(|e| e.kind.clone()).unwrap_or_default(),
            occurred_at: event.as_ref().map(|e| e.occurred_at),
            event_id: case.event_id,
            role,
            service: case.service,
            agency: case.agency,
            consent_id: case.consent_id,
            scopes,
            state: case.state.as_str().to_owned(),
            ground: case.ground,
            reason: case.reason,
            decisions,
            messages,
            replies,
            audit_entries: entries.iter().map(|e| e.seq).collect(),
        });
    }
    let mut other_messages = Vec::new();
    for p in &phones {
        other_messages.extend(store.loose_messages(p)?.into_iter().map(message));
    }
    let known: BTreeSet<CaseId> = cases.iter().map(|c| c.case_id).collect();
    let audit_only_cases: BTreeSet<CaseId> =
        mentions.iter().filter_map(|e| e.case_id).filter(|id| !known.contains(id)).collect();
    Ok(History { audit_key, cases, other_messages, audit_only_cases: audit_only_cases.into_iter().collect() })
}

fn time(t: Timestamp) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|t| t.with_timezone(&chrono_tz::Asia::Almaty).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| t.to_string())
}

impl History {
    /// The text the CLI prints (times in Asia/Almaty).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "audit log key: {}", self.audit_key);
        if self.cases.is_empty() {
            let _ = writeln!(out, "no cases in the store for this person");
        }
        for c in &self.cases {
            let occurred = c.occurred_at.map(time).unwrap_or_default();
            let _ = writeln!(
                out,
                "\ncase {} · {} · {} ({occurred}) · you are the {}",
                c.case_id, c.service, c.event_kind, c.role
            );
            let _ = writeln!(out, "  agency {} · event {}", c.agency, c.event_id);
            let consent = c.consent_id.as_deref().unwrap_or("none");
            let scopes = if c.scopes.is_empty() { "none".to_owned() } else { c.scopes.join(", ") };
            let _ = writeln!(out, "  consent {consent} · data scopes {scopes}");
            for d in &c.decisions {
                let by = d.plugin.as_deref().unwrap_or("the host");
                let _ = writeln!(out, "  {} decided {} ({} stage) by {by}", time(d.at), d.decision, d.stage);
            }
            for m in &c.messages {
                let when = m.sent_at.map(time).unwrap_or_else(|| format!("queued {}", time(m.queued_at)));
                let _ = writeln!(out, "  {when} SMS {} ({}, {} parts): {}", m.kind, m.state, m.parts, m.text);
            }
            for r in &c.replies {
                let _ = writeln!(out, "  {} you replied {:?} (read as {})", time(r.at), r.text, r.answer);
            }
            let why = c.ground.as_deref().or(c.reason.as_deref()).map(|g| format!(" · {g}")).unwrap_or_default();
            let _ = writeln!(out, "  outcome: {}{why}", c.state);
            let seqs: Vec<String> = c.audit_entries.iter().map(u64::to_string).collect();
            let _ = writeln!(out, "  audit entries: {}", seqs.join(", "));
        }
        for m in &self.other_messages {
            let when = m.sent_at.map(time).unwrap_or_else(|| format!("queued {}", time(m.queued_at)));
            let _ = writeln!(out, "\n{when} SMS {} ({}): {}", m.kind, m.state, m.text);
        }
        if !self.audit_only_cases.is_empty() {
            let ids: Vec<String> = self.audit_only_cases.iter().map(|c| c.to_string()).collect();
            let _ = writeln!(out, "\nin the audit log but no longer in the store: cases {}", ids.join(", "));
        }
        out
    }
}
