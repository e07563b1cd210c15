//! The per-service report a run prints: what came in, what the gate stopped and why, what
//! was offered and sent, and how cases ended, by legal ground.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::audit::Verification;
use crate::runner::RunStats;
use crate::store::{Case, Store};

#[derive(Debug, Clone, Serialize, Default)]
pub struct ServiceReport {
    pub service: String,
    /// Cases opened (one per event the service subscribes to).
    pub events: u64,
    pub skipped: u64,
    pub gated: BTreeMap<String, u64>,
    pub offers: u64,
    pub messages: u64,
    pub sms_parts: u64,
    pub provided: u64,
    pub refused: BTreeMap<String, u64>,
    pub failed: BTreeMap<String, u64>,
    /// Cases still waiting (offered or awaiting a reply) when the report was made.
    pub open: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub services: Vec<ServiceReport>,
    pub events_new: u64,
    pub events_duplicate: u64,
    /// Ids already stored for a different event.
    pub events_conflict: u64,
    pub events_rejected: u64,
    pub replies: u64,
    pub replies_unmatched: u64,
    pub replies_duplicate: u64,
    pub messages_total: u64,
    pub elapsed_seconds: f64,
    pub events_per_second: f64,
    pub audit_entries: u64,
    pub audit_intact: bool,
    /// Entries covered by the latest signed checkpoint.
    pub audit_signed: u64,
    /// The tree head (hex) of the whole log, when it verifies.
    pub audit_root: Option<String>,
    /// What is wrong with the log, when it does not verify.
    pub audit_problem: Option<String>,
}

impl Report {
    /// `audit` is the verification of the store's log (the caller holds the keys).
    pub fn build(
        store: &dyn Store,
        stats: &RunStats,
        events_rejected: u64,
        audit: &Verification,
    ) -> anyhow::Result<Self> {
        let mut services = Vec::new();
        for (service, c) in store.counts()? {
            let mut r = ServiceReport {
                service,
                events: c.cases,
                offers: c.offers,
                messages: c.messages,
                sms_parts: c.parts,
                ..Default::default()
            };
            for ((state, reason), n) in c.by_reason {
                match state.as_str() {
                    "skipped" => r.skipped += n,
                    "gated-out" => *r.gated.entry(reason).or_default() += n,
                    "provided" => r.provided += n,
                    "refused" => *r.refused.entry(reason).or_default() += n,
                    "failed" => *r.failed.entry(failure_kind(&reason)).or_default() += n,
                    _ => r.open += n,
                }
            }
            services.push(r);
        }
        let (audit_entries, audit_signed, audit_root, audit_problem) = match audit {
            Verification::Intact(s) => (s.entries, s.signed, Some(hex::encode(s.root)), None),
            Verification::Broken(p) => (0, 0, None, Some(p.to_string())),
        };
        let secs = stats.elapsed.as_secs_f64();
        Ok(Report {
            services,
            events_new: stats.events_new,
            events_duplicate: stats.events_duplicate,
            events_conflict: stats.events_conflict,
            events_rejected,
            replies: stats.replies,
            replies_unmatched: stats.replies_unmatched,
            replies_duplicate: stats.replies_duplicate,
            messages_total: store.message_count()?,
            elapsed_seconds: secs,
            events_per_second: if secs > 0.0 { stats.events_new as f64 / secs } else { 0.0 },
            audit_entries,
            audit_intact: audit_problem.is_none(),
            audit_signed,
            audit_root,
            audit_problem,
        })
    }

    /// The human-readable table.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<36} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>8} {:>7} {:>6} {:>5}",
            "service", "events", "skipped", "gated", "offers", "sms", "parts", "provided", "refused", "failed", "open"
        );
        for s in &self.services {
            let _ = writeln!(
                out,
                "{:<36} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>8} {:>7} {:>6} {:>5}",
                s.service,
                s.events,
                s.skipped,
                s.gated.values().sum::<u64>(),
                s.offers,
                s.messages,
                s.sms_parts,
                s.provided,
                s.refused.values().sum::<u64>(),
                s.failed.values().sum::<u64>(),
                s.open
            );
        }
        for (title, pick) in [
            ("gated out, by reason", (|s: &ServiceReport| &s.gated) as fn(&ServiceReport) -> &BTreeMap<String, u64>),
            ("refused, by legal ground", |s| &s.refused),
            ("failed, by kind", |s| &s.failed),
        ] {
            let lines: Vec<String> = self
                .services
                .iter()
                .filter(|s| !pick(s).is_empty())
                .map(|s| {
                    let parts: Vec<String> = pick(s).iter().map(|(k, n)| format!("{k} {n}")).collect();
                    format!("  {:<34} {}", s.service, parts.join(" · "))
                })
                .collect();
            if !lines.is_empty() {
                let _ = writeln!(out, "\n{title}:");
                for l in lines {
                    let _ = writeln!(out, "{l}");
                }
            }
        }
        let _ = writeln!(
            out,
            "\nevents: {} new, {} already ingested, {} id conflicts, {} rejected · replies: {} ({} unmatched, {} already taken) · SMS queued in all: {}",
            self.events_new,
            self.events_duplicate,
            self.events_conflict,
            self.events_rejected,
            self.replies,
            self.replies_unmatched,
            self.replies_duplicate,
            self.messages_total
        );
        let _ = writeln!(
            out,
            "throughput: {} events in {:.2} s = {:.0} events/s (whole lifecycle, virtual clock)",
            self.events_new, self.elapsed_seconds, self.events_per_second
        );
        match (&self.audit_root, &self.audit_problem) {
            (Some(root), _) => {
                let _ = writeln!(
                    out,
                    "audit: {} entries, Merkle tree intact, {} signed, root {}",
                    self.audit_entries, self.audit_signed, root
                );
            }
            (None, problem) => {
                let _ = writeln!(out, "audit: BROKEN: {}", problem.as_deref().unwrap_or("unknown"));
            }
        }
        out
    }
}

/// Failure reasons carry details; the report groups them by their kind.
fn failure_kind(reason: &str) -> String {
    reason.split(':').next().unwrap_or(reason).trim().to_owned()
}

/// Each case's final state, one line per case. Reasons can carry text from plugins or
/// registries, so they are redacted; event ids and service ids are the caller's own.
pub fn case_lines(cases: &[Case]) -> String {
    let mut out = String::new();
    for c in cases {
        let _ = writeln!(
            out,
            "{:<16} {:<36} {:<15} {}",
            c.event_id,
            c.service,
            c.state.as_str(),
            crate::redact::redact(c.ground.as_deref().or(c.reason.as_deref()).unwrap_or(""))
        );
    }
    out
}
