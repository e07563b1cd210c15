//! The case lifecycle: event → gate → plugin decision → SMS → reply or timeout → outcome.
//!
//! **Architecture invariant:** every step is one store transaction that writes the case,
//! the decision (with the plugin build that made it), any queued SMS and the audit entries
//! together. Time is always passed in, never read, so the same code runs on the virtual
//! clock of a batch run and on the wall clock of a server.

mod apply;
mod codes;
pub mod delivery;
mod messages;
mod receipts;
mod trips;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;

use crate::audit::{Actor, AuditLog, Entry};
use crate::gate::{Gate, Verdict};
use crate::model::{CaseState, Event, GateReason, Timestamp};
use crate::redact::redact;
use crate::runtime::{CallContext, CaseInput, LoadedPlugin, ReplyInput, Runtime, ServiceSpec};
use crate::sms::gateway::{Gateway, GatewayError, Next, OutgoingSms, Progress};
use crate::sms::reply;
use crate::sms::window::SendingWindow;
use crate::store::{Case, Inbound, InboundStatus, MessageKind, OutboxMessage, Store, Tx};
pub use delivery::DeliveryPolicy;

/// How long an SMSC's redelivery of a reply is recognised as one.
pub const SMSC_REDELIVERY_SECONDS: i64 = 600;

/// How long one dispatch batch may take before it stops and leaves the rest for the next.
pub const DISPATCH_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);

/// Messages handed to the gateway per dispatch step.
const DISPATCH_BATCH: usize = 500;

pub use apply::Stage;
pub use receipts::ReceiptOutcome;

/// Settings the pipeline needs beyond its ports.
#[derive(Clone)]
pub struct Settings {
    pub window: SendingWindow,
    /// Platform configuration plugins may read (`mci.YEAR`, ...).
    pub config: Arc<BTreeMap<String, String>>,
    /// The host's own cap on questions per case, whatever a plugin asks for.
    pub max_asks: u32,
    /// The audit log's keys and checkpoint interval.
    pub audit: Arc<AuditLog>,
    pub delivery: DeliveryPolicy,
}

impl Default for Settings {
    /// The embedded defaults, with throwaway audit keys: a run whose log must be verified
    /// later sets `audit` from the store's key folder.
    fn default() -> Self {
        Settings {
            window: SendingWindow::default(),
            config: Arc::new(default_config()),
            max_asks: 3,
            audit: Arc::new(AuditLog::ephemeral()),
            delivery: DeliveryPolicy::default(),
        }
    }
}

/// The platform configuration shipped as the embedded default.
pub fn default_config() -> BTreeMap<String, String> {
    [("mci.2024", "3692"), ("mci.2025", "3932"), ("mci.2026", "4325")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

pub struct Pipeline {
    runtime: Arc<Runtime>,
    gate: Gate,
    store: Arc<dyn Store>,
    gateway: Arc<dyn Gateway>,
    settings: Settings,
    outage: delivery::Outage,
}

/// What happened to an ingested event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingested {
    New {
        cases: usize,
    },
    /// The event id was already stored: nothing was done.
    Duplicate,
    /// The event id is already stored for a different event: nothing was done.
    Conflict,
}

/// What happened to an incoming SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundOutcome {
    Matched,
    /// The same message was already taken: nothing was done.
    Duplicate,
    Unmatched,
    Ambiguous,
}

impl Pipeline {
    pub fn new(
        runtime: Arc<Runtime>,
        gate: Gate,
        store: Arc<dyn Store>,
        gateway: Arc<dyn Gateway>,
        settings: Settings,
    ) -> Self {
        Pipeline { runtime, gate, store, gateway, settings, outage: Default::default() }
    }

    /// See [`Gateway::connected`].
    pub fn gateway_connected(&self) -> Option<bool> {
        self.gateway.connected()
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    pub fn audit(&self) -> &Arc<AuditLog> {
        &self.settings.audit
    }

    fn context(&self, plugin: &LoadedPlugin, service: &ServiceSpec, now: Timestamp) -> CallContext {
        CallContext {
            now,
            plugin_id: plugin.reference.id.clone(),
            declared_scopes: Arc::new(service.consent_scopes.clone()),
            config: self.settings.config.clone(),
            facts: self.gate.facts(),
        }
    }

    /// Take one validated event: one case per subscribed service, each through the gate and
    /// the plugin, in one transaction. Idempotent on (event id, service): an event seen
    /// before gets cases only for services that had none (a plugin that was missing or
    /// broken the first time), so a repaired deployment loses no citizen's offer.
    pub fn ingest(&self, event: &Event, now: Timestamp) -> anyhow::Result<Ingested> {
        let plugins = self.runtime.active();
        let mut tx = self.store.begin()?;
        let seen_before = !tx.insert_event(event, now)?;
        if seen_before && tx.stored_event(&event.id)?.as_ref() != Some(event) {
            // One id, two different events: the sender's bug, and never ours to guess.
            crate::metrics::step("intake", "conflict");
            return Ok(Ingested::Conflict);
        }
        let existing = if seen_before { tx.case_services(&event.id)? } else { Vec::new() };
        let pending: Vec<_> = plugins.subscribers(&event.kind).filter(|(_, s)| !existing.contains(&s.id)).collect();
        if seen_before && pending.is_empty() {
            crate::metrics::step("intake", "duplicate");
            return Ok(Ingested::Duplicate);
        }
        let log = &self.settings.audit;
        if !seen_before {
            log.append(
                &mut *tx,
                Entry::new(now, &Actor::Host, "event.received").outcome("accepted").detail(json!({
                    "event": event.id, "kind": event.kind, "subject": log.identity(&event.subject),
                })),
            )?;
        }
        let mut cases = 0;
        for (plugin, service) in pending {
            cases += 1;
            let mut case = Case {
                id: 0,
                event_id: event.id.clone(),
                service: service.id.clone(),
                agency: service.agency.clone(),
                state: CaseState::Received,
                reason: None,
                ground: None,
                recipient: None,
                phone: None,
                language: None,
                consent_id: None,
                reply_code: None,
                asks: 0,
                plugin_state: String::new(),
                offered_at: None,
                deadline: None,
                result: None,
                created_at: now,
                updated_at: now,
            };
            case.id = tx.insert_case(&case)?;
            let paused = plugins.is_paused(&plugin.reference.id);
            log.append(
                &mut *tx,
                Entry::new(now, &Actor::Host, "case.received")
                    .case(case.id)
                    .outcome(if paused { "waiting" } else { "received" })
                    .detail(json!({ "event": event.id, "service": service.id, "agency": service.agency })),
            )?;
            if paused {
                // The plugin is disabled or tripped: the case waits, gate and all, for
                // `resume_waiting` once it is back.
                crate::metrics::step("decision", "waiting");
                continue;
            }
            self.decide_on_event(&mut *tx, plugin, service, event, &mut case, now)?;
            tx.update_case(&case)?;
        }
        self.record_trips(&mut *tx, now)?;
        tx.commit()?;
        crate::metrics::step("intake", "accepted");
        Ok(Ingested::New { cases })
    }

    /// Decide cases that waited while their plugin was paused, now that it is not: the
    /// gate runs then, on the registries and consents of the moment of the decision.
    /// Returns how many were decided.
    pub fn resume_waiting(&self, now: Timestamp, limit: usize) -> anyhow::Result<usize> {
        let mut done = 0;
        let services: Vec<String> = self.runtime.active().services().map(|(_, s)| s.id.clone()).collect();
        for service_id in services {
            while done < limit {
                let plugins = self.runtime.active();
                let Some((plugin, service)) = plugins.service(&service_id) else { break };
                if plugins.is_paused(&plugin.reference.id) {
                    break;
                }
                let waiting = self.store.waiting_cases(&service_id, (limit - done).min(100))?;
                if waiting.is_empty() {
                    done += self.release_held(&service_id, now, limit - done)?;
                    break;
                }
                for mut case in waiting {
                    let event = self
                        .store
                        .event(&case.event_id)?
                        .ok_or_else(|| anyhow::anyhow!("case {} refers to a missing event", case.id))?;
                    let mut tx = self.store.begin()?;
                    let entry = Entry::new(now, &Actor::Host, "case.resumed").case(case.id).outcome("resumed");
                    self.settings.audit.append(&mut *tx, entry)?;
                    self.decide_on_event(&mut *tx, plugin, service, &event, &mut case, now)?;
                    tx.update_case(&case)?;
                    self.record_trips(&mut *tx, now)?;
                    tx.commit()?;
                    crate::metrics::step("decision", "resumed");
                    done += 1;
                    if self.runtime.active().is_paused(&plugin.reference.id) {
                        break; // tripped again: the rest keep waiting
                    }
                }
            }
        }
        Ok(done)
    }

    fn decide_on_event(
        &self,
        tx: &mut dyn Tx,
        plugin: &LoadedPlugin,
        service: &ServiceSpec,
        event: &Event,
        case: &mut Case,
        now: Timestamp,
    ) -> anyhow::Result<()> {
        let occurred = proactive_sdk::time::local_date(event.occurred_at);
        if occurred < service.effective_from {
            let reason = format!("the event predates the service's legal basis ({})", service.effective_from);
            return apply::host_outcome(&self.settings.audit, tx, case, CaseState::Skipped, &reason, now);
        }
        let log = &self.settings.audit;
        match self.gate.check_offer(event, service, now) {
            Verdict::Stop { reason, recipient, consent_id } => {
                crate::metrics::step("gate", reason.as_str());
                case.recipient = recipient;
                case.consent_id = consent_id.clone();
                log.append(
                    tx,
                    Entry::new(now, &Actor::Gate, "gate.stop")
                        .case(case.id)
                        .outcome(reason.as_str())
                        .ground(Some(gate_ground(reason)))
                        .consent(consent_id)
                        .detail(json!({
                            "recipient": case.recipient.as_deref().map(|r| log.identity(r)),
                            "scopes": service.consent_scopes,
                        })),
                )?;
                apply::host_outcome(log, tx, case, CaseState::GatedOut, reason.as_str(), now)
            }
            Verdict::Pass(pass) => {
                crate::metrics::step("gate", "pass");
                log.append(
                    tx,
                    Entry::new(now, &Actor::Gate, "gate.pass")
                        .case(case.id)
                        .outcome("pass")
                        .ground(Some(GROUND_GATE_PASS))
                        .consent(Some(&pass.consent_id))
                        .detail(json!({
                            "recipient": log.identity(&pass.recipient),
                            "phone": log.phone(pass.phone.as_str()),
                            "scopes": service.consent_scopes,
                        })),
                )?;
                case.recipient = Some(pass.recipient);
                case.phone = Some(pass.phone.as_str().to_owned());
                case.language = Some(pass.language);
                case.consent_id = Some(pass.consent_id);
                let ctx = self.context(plugin, service, now);
                let result = self.runtime.on_event(plugin, service, ctx, event);
                self.applier(plugin, service, now).apply(tx, case, Stage::Event, result)
            }
        }
    }

    fn applier<'a>(&'a self, plugin: &'a LoadedPlugin, service: &'a ServiceSpec, now: Timestamp) -> apply::Applier<'a> {
        apply::Applier { gate: &self.gate, settings: &self.settings, plugin, service, now }
    }

    /// Hand queued messages whose time has come to the gateway, inside the sending window.
    ///
    /// Each batch goes to the gateway at once (SMPP keeps a window of them in flight); each
    /// outcome is written as it comes. A crash between a submission and its record
    /// resubmits that message under the same id, which the gateway deduplicates.
    pub fn dispatch(&self, now: Timestamp) -> anyhow::Result<usize> {
        self.dispatch_with(now, || (), || false)
    }

    /// As [`Pipeline::dispatch`], holding `hold()`'s guard (the server's pipeline lock) only
    /// while it reads the batch and while it records each outcome, never while the gateway
    /// works: a slow SMSC or aggregator then delays no other step. Each outcome re-reads
    /// its case, which another step may have moved on meanwhile.
    ///
    /// The batch stops early (what is left stays queued) after [`DISPATCH_BUDGET`], or as
    /// soon as `stop()` says so (a server shutting down), so it never holds up a shutdown.
    pub fn dispatch_with<G>(
        &self,
        now: Timestamp,
        hold: impl Fn() -> G,
        stop: impl Fn() -> bool,
    ) -> anyhow::Result<usize> {
        if self.settings.window.next_open(now) != now || self.outage.waiting(now) {
            return Ok(0);
        }
        let guard = hold();
        let candidates = self.store.due_messages(now, DISPATCH_BATCH)?;
        // A number's daily cap: what is over it waits, and the wait is written with the
        // batch's outcomes.
        let cap = u64::from(self.settings.delivery.per_recipient_per_day);
        let mut sent_to: BTreeMap<String, u64> = BTreeMap::new();
        let (mut due, mut over_cap) = (Vec::with_capacity(candidates.len()), Vec::new());
        for m in candidates {
            if !sent_to.contains_key(&m.phone) {
                let n = self.store.sent_to_since(&m.phone, now - delivery::DAY_SECONDS)?;
                sent_to.insert(m.phone.clone(), n);
            }
            let count = sent_to.get_mut(&m.phone).expect("inserted above");
            if *count >= cap {
                over_cap.push(m.id);
            } else {
                *count += 1;
                due.push(m);
            }
        }
        let mut cases = Vec::with_capacity(due.len());
        let mut taken = Vec::with_capacity(due.len());
        let keys: Vec<String> = due.iter().map(|m| self.submission_key(m)).collect();
        for m in &due {
            cases.push(match m.case_id {
                Some(id) => self.store.case(id)?,
                None => None,
            });
            taken.push(if m.parts > 1 { self.store.taken_parts(m.id)? } else { Vec::new() });
        }
        let batch: Vec<OutgoingSms<'_>> = due
            .iter()
            .zip(&cases)
            .zip(&taken)
            .zip(&keys)
            .map(|(((m, case), taken_parts), key)| OutgoingSms {
                message_id: m.id,
                key,
                phone: &m.phone,
                text: &m.text,
                parts: m.parts,
                service: case.as_ref().map(|c| c.service.as_str()),
                reply_code: match (m.kind, case) {
                    (MessageKind::Question, Some(c)) => c.reply_code.as_deref(),
                    _ => None,
                },
                at: now,
                taken_parts,
            })
            .collect();
        if batch.is_empty() && over_cap.is_empty() {
            return Ok(0);
        }
        if !over_cap.is_empty() {
            let mut tx = self.store.begin()?;
            for id in over_cap {
                crate::metrics::step("sms", "over-daily-cap");
                tx.defer(id, self.settings.window.next_open(now + delivery::CAP_DEFER_SECONDS))?;
            }
            tx.commit()?;
        }
        drop(guard);
        // Each outcome is committed as it comes, so a crash leaves in doubt (to be
        // resubmitted under the same id) only what was in flight.
        let mut sent = 0;
        let mut unavailable = None;
        let started = std::time::Instant::now();
        self.gateway.submit_each(&batch, &mut |i, progress| {
            let _turn = hold();
            let m = &due[i];
            let case = match m.case_id {
                Some(id) => self.store.case(id)?,
                None => None,
            };
            let mut tx = self.store.begin()?;
            let result = match progress {
                Progress::Part { part, id } => {
                    tx.record_part_taken(m.id, part, &id)?;
                    tx.commit()?;
                    return Ok(Next::Continue);
                }
                Progress::Done(result) => result,
            };
            match result {
                Ok(ids) => {
                    self.record_sent(&mut *tx, m, case, &ids, now)?;
                    sent += 1;
                }
                Err(GatewayError::Transient(e)) => {
                    crate::metrics::step("sms", "gateway-unavailable");
                    unavailable.get_or_insert(e);
                    return Ok(Next::Continue);
                }
                Err(GatewayError::Rejected(reason)) => self.record_rejected(&mut *tx, m, case, &reason, now)?,
            }
            tx.commit()?;
            Ok(if stop() || started.elapsed() > DISPATCH_BUDGET { Next::Stop } else { Next::Continue })
        })?;
        self.outage.after_batch(unavailable, sent, now);
        Ok(sent)
    }

    /// The outbox id, then a keyed hash of it with the number and text (the store's own
    /// secret, so it is unique to this store and reveals neither).
    fn submission_key(&self, m: &OutboxMessage) -> String {
        let hash =
            self.settings.audit.keys().keyed_hash("sms-submission", &format!("{}\0{}\0{}", m.id, m.phone, m.text));
        let hex = hash.trim_start_matches("hmac:");
        format!("{}-{}", m.id, &hex[..hex.len().min(16)])
    }

    fn record_sent(
        &self,
        tx: &mut dyn Tx,
        m: &OutboxMessage,
        case: Option<Case>,
        gateway_ids: &[String],
        now: Timestamp,
    ) -> anyhow::Result<()> {
        let log = &self.settings.audit;
        tx.mark_sent(m.id, now, gateway_ids)?;
        crate::metrics::step("sms", "sent");
        log.append(
            tx,
            Entry::new(now, &Actor::Sms, "sms.sent")
                .case(m.case_id)
                .outcome("sent")
                .consent(case.as_ref().and_then(|c| c.consent_id.as_deref()))
                .detail(json!({
                    "message": m.id, "parts": m.parts, "kind": m.kind, "to": log.phone(&m.phone),
                })),
        )?;
        if let (MessageKind::Question, Some(mut c)) = (m.kind, case)
            && c.state == CaseState::Offered
        {
            let hours = self.runtime.active().service(&c.service).map(|(_, s)| s.reply_window_hours);
            c.state = CaseState::AwaitingReply;
            c.deadline = Some(now + i64::from(hours.unwrap_or(72)) * 3600);
            c.updated_at = now;
            tx.update_case(&c)?;
        }
        Ok(())
    }

    fn record_rejected(
        &self,
        tx: &mut dyn Tx,
        m: &OutboxMessage,
        case: Option<Case>,
        reason: &str,
        now: Timestamp,
    ) -> anyhow::Result<()> {
        let log = &self.settings.audit;
        // A gateway may quote the number back: logs never carry one.
        tracing::warn!(message = m.id, "gateway rejected a message: {}", redact(reason));
        // The gateway's words may quote the number or the text: stored redacted and short.
        let reason: String = redact(reason).chars().take(200).collect();
        tx.mark_failed(m.id, now, &reason)?;
        crate::metrics::step("sms", "rejected");
        log.append(
            tx,
            Entry::new(now, &Actor::Sms, "sms.rejected")
                .case(m.case_id)
                .outcome("rejected")
                .detail(json!({ "message": m.id, "to": log.phone(&m.phone) })),
        )?;
        if let Some(mut c) = case.filter(|c| c.state.is_open()) {
            let why = "the gateway rejected the SMS";
            apply::host_outcome(log, tx, &mut c, CaseState::Failed, why, now)?;
            tx.update_case(&c)?;
        }
        Ok(())
    }

    /// Run `on-timeout` for every case whose reply window has closed.
    pub fn fire_timers(&self, now: Timestamp) -> anyhow::Result<usize> {
        let plugins = self.runtime.active();
        let mut fired = 0;
        loop {
            // A paused plugin's timers wait for it (a reply held meanwhile goes first).
            let paused = self.paused_services();
            let due = self.store.due_timers(now, 500, &paused)?;
            if due.is_empty() {
                return Ok(fired);
            }
            for mut case in due {
                // Reads first: the transaction holds the store until it commits.
                let event = self.store.event(&case.event_id)?;
                let mut tx = self.store.begin()?;
                let Some((plugin, service)) = plugins.service(&case.service) else {
                    apply::host_outcome(
                        &self.settings.audit,
                        &mut *tx,
                        &mut case,
                        CaseState::Failed,
                        "no active plugin carries the service",
                        now,
                    )?;
                    tx.update_case(&case)?;
                    self.record_trips(&mut *tx, now)?;
                    tx.commit()?;
                    continue;
                };
                let Some(event) = event else {
                    anyhow::bail!("case {} refers to a missing event", case.id);
                };
                let input = case_input(&case, &event);
                let result = self.runtime.on_timeout(plugin, service, self.context(plugin, service, now), &input);
                crate::metrics::step("timeout", "fired");
                let entry = Entry::new(now, &Actor::Host, "case.timeout").case(case.id).outcome("reply-window-closed");
                self.settings.audit.append(&mut *tx, entry)?;
                self.applier(plugin, service, now).apply(&mut *tx, &mut case, Stage::Timeout, result)?;
                tx.update_case(&case)?;
                self.record_trips(&mut *tx, now)?;
                tx.commit()?;
                fired += 1;
            }
        }
    }

    /// A reply from an SMSC. SMPP gives it no time of its own, and an SMSC redelivers what
    /// the host did not acknowledge (a crash after the commit, before `deliver_sm_resp`):
    /// the same text from the same number within [`SMSC_REDELIVERY_SECONDS`] is that message
    /// again, not a second answer.
    pub fn on_smsc_reply(&self, raw_phone: &str, text: &str, now: Timestamp) -> anyhow::Result<InboundOutcome> {
        let key = crate::gate::phone::normalise(raw_phone)
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|_| raw_phone.to_owned());
        if self.store.inbound_seen_since(&key, text, now - SMSC_REDELIVERY_SECONDS)? {
            crate::metrics::step("reply", "redelivered");
            return Ok(InboundOutcome::Duplicate);
        }
        self.on_inbound(raw_phone, text, now, now)
    }

    /// Take an incoming SMS: match it to an open case by number and reply code, and let the
    /// service decide. A reply that matches nothing is stored and answered with help.
    /// `at` is when the gateway received it (stored, the idempotency key, shown to the
    /// plugin); `now` is when the host decides: consent is checked and messages queued as
    /// of `now`, so a gateway's wrong clock cannot date a decision in another century.
    pub fn on_inbound(
        &self,
        raw_phone: &str,
        text: &str,
        at: Timestamp,
        now: Timestamp,
    ) -> anyhow::Result<InboundOutcome> {
        let reading = reply::read(text);
        let phone = crate::gate::phone::normalise(raw_phone).ok();
        let phone_key = phone.as_ref().map(|p| p.as_str().to_owned()).unwrap_or_else(|| raw_phone.to_owned());
        let help_allowed = match &phone {
            Some(p) => {
                let helped = self.store.help_to_since(p.as_str(), now - delivery::DAY_SECONDS)?;
                helped < u64::from(self.settings.delivery.help_per_day)
            }
            None => false,
        };
        // A reply dated before an offer was made cannot be its answer (clock drift aside).
        let open: Vec<Case> = match &phone {
            Some(p) => self.store.open_cases_for_phone(p.as_str())?,
            None => Vec::new(),
        }
        .into_iter()
        .filter(|c| c.offered_at.is_none_or(|offered| at >= offered - crate::model::CLOCK_DRIFT_SECONDS))
        .collect();
        // The offers the text names by code; a bare answer names the only open offer.
        let named: Vec<&Case> =
            open.iter().filter(|c| c.reply_code.as_ref().is_some_and(|code| reading.codes.contains(code))).collect();
        let (target, status) = match (named.as_slice(), reading.codes.is_empty(), open.len()) {
            ([one], _, _) => (Some(*one), InboundStatus::Matched),
            ([_, _, ..], _, _) => (None, InboundStatus::Ambiguous),
            ([], true, 1) => (open.first(), InboundStatus::Matched),
            ([], true, n) if n > 1 => (None, InboundStatus::Ambiguous),
            _ => (None, InboundStatus::Unmatched),
        };
        let event = match target {
            Some(c) => self.store.event(&c.event_id)?,
            None => None,
        };
        let mut tx = self.store.begin()?;
        let held = target.is_some_and(|c| self.paused_services().contains(&c.service));
        let status = if held { InboundStatus::Held } else { status };
        let Some(inbound_id) = tx.insert_inbound(&Inbound {
            phone: phone_key.clone(),
            text: text.to_owned(),
            received_at: at,
            answer: reading.answer,
            case_id: target.map(|c| c.id),
            status,
        })?
        else {
            crate::metrics::step("reply", "duplicate");
            return Ok(InboundOutcome::Duplicate);
        };
        crate::metrics::step(
            "reply",
            match status {
                InboundStatus::Matched => "matched",
                InboundStatus::Unmatched => "unmatched",
                InboundStatus::Ambiguous => "ambiguous",
                InboundStatus::Held => "held",
            },
        );
        let log = &self.settings.audit;
        log.append(
            &mut *tx,
            Entry::new(now, &Actor::Sms, "sms.received")
                .case(target.map(|c| c.id))
                .outcome(json_word(&status))
                .detail(json!({ "inbound": inbound_id, "answer": reading.answer, "from": log.phone(&phone_key) })),
        )?;
        let Some(case) = target else {
            if !help_allowed && phone.is_some() {
                crate::metrics::step("sms", "help-over-daily-cap");
            }
            if let Some(p) = phone.as_ref().filter(|_| help_allowed) {
                let lang = open.first().and_then(|c| c.language).unwrap_or_default();
                let codes: Vec<&str> = open.iter().filter_map(|c| c.reply_code.as_deref()).collect();
                messages::queue_help(&mut *tx, &self.settings, p.as_str(), lang, &codes, now)?;
            }
            self.record_trips(&mut *tx, now)?;
            tx.commit()?;
            return Ok(if status == InboundStatus::Ambiguous {
                InboundOutcome::Ambiguous
            } else {
                InboundOutcome::Unmatched
            });
        };
        if held {
            tx.commit()?;
            return Ok(InboundOutcome::Matched);
        }
        let mut case = case.clone();
        self.decide_on_reply(&mut *tx, &mut case, event.as_ref(), text, reading.answer, at, now)?;
        self.record_trips(&mut *tx, now)?;
        tx.commit()?;
        Ok(InboundOutcome::Matched)
    }

    /// Hand a matched reply to its case's plugin (or fail the case if none carries it).
    #[allow(clippy::too_many_arguments, reason = "one reply's facts, all needed")]
    fn decide_on_reply(
        &self,
        tx: &mut dyn Tx,
        case: &mut Case,
        event: Option<&Event>,
        text: &str,
        answer: reply::Answer,
        at: Timestamp,
        now: Timestamp,
    ) -> anyhow::Result<()> {
        let log = &self.settings.audit;
        let plugins = self.runtime.active();
        let Some((plugin, service)) = plugins.service(&case.service) else {
            let why = "no active plugin carries the service";
            apply::host_outcome(log, tx, case, CaseState::Failed, why, now)?;
            return tx.update_case(case);
        };
        let Some(event) = event else {
            anyhow::bail!("case {} refers to a missing event", case.id);
        };
        let input = case_input(case, event);
        let reply_in = ReplyInput { text, answer, received_at: at };
        let result = self.runtime.on_reply(plugin, service, self.context(plugin, service, now), &input, &reply_in);
        self.applier(plugin, service, now).apply(tx, case, Stage::Reply, result)?;
        tx.update_case(case)
    }

    /// Services whose plugin is paused now.
    fn paused_services(&self) -> Vec<String> {
        let plugins = self.runtime.active();
        plugins.services().filter(|(p, _)| plugins.is_paused(&p.reference.id)).map(|(_, s)| s.id.clone()).collect()
    }

    /// Decide the replies held for `service` while its plugin was paused, oldest first,
    /// each in its own step; stops if the plugin trips again.
    fn release_held(&self, service: &str, now: Timestamp, limit: usize) -> anyhow::Result<usize> {
        let mut done = 0;
        for held in self.store.held_replies(service, limit)? {
            let Some(mut case) = self.store.case(held.case_id)? else { continue };
            let event = self.store.event(&case.event_id)?;
            let mut tx = self.store.begin()?;
            tx.release_inbound(held.id)?;
            let entry = Entry::new(now, &Actor::Host, "sms.released").case(case.id).outcome("released");
            self.settings.audit.append(&mut *tx, entry.detail(json!({ "inbound": held.id })))?;
            if case.state.is_open() {
                let answer = reply::read(&held.text).answer;
                self.decide_on_reply(&mut *tx, &mut case, event.as_ref(), &held.text, answer, held.received_at, now)?;
            }
            self.record_trips(&mut *tx, now)?;
            tx.commit()?;
            done += 1;
            if self.paused_services().iter().any(|s| s == service) {
                break;
            }
        }
        Ok(done)
    }

    /// Sign the audit tree as it stands, unless the latest checkpoint already covers it, and
    /// return the latest signed note. `at` is the pipeline's clock, like every other step.
    pub fn checkpoint(&self, at: Timestamp) -> anyhow::Result<Option<String>> {
        let mut tx = self.store.begin()?;
        let note = self.settings.audit.checkpoint(&mut *tx, at)?;
        tx.commit()?;
        Ok(note)
    }

    /// The earliest time, not before `now`, at which anything is due: a timer, or a queued
    /// message once the sending window is open.
    pub fn next_wakeup(&self, now: Timestamp) -> anyhow::Result<Option<Timestamp>> {
        let message = self.store.next_message()?.map(|t| self.settings.window.next_open(t.max(now)));
        let timer = self.store.next_timer()?;
        Ok([message, timer].into_iter().flatten().min())
    }
}

fn case_input<'a>(case: &'a Case, event: &'a Event) -> CaseInput<'a> {
    CaseInput {
        case_id: case.id,
        event,
        state: &case.plugin_state,
        asks: case.asks,
        offered_at: case.offered_at.unwrap_or(case.created_at),
    }
}

/// The legal ground the gate records when it lets a case through: clause 3, both conditions
/// (a registered mobile number, and consent through the access-control service).
pub const GROUND_GATE_PASS: &str = "rules-3";

/// The clause of the Rules behind a gate stop. `rules-3.1` and `rules-3.2` are clause 3's
/// first condition (a registered mobile number) and second (consent).
pub fn gate_ground(reason: GateReason) -> &'static str {
    match reason {
        GateReason::StateBody | GateReason::NoRecipient => "rules-2.3",
        GateReason::NotMobile => "rules-2.2",
        GateReason::NoRegisteredNumber | GateReason::ForeignNumber => "rules-3.1",
        GateReason::NoConsent | GateReason::ConsentRevoked | GateReason::ConsentExpired | GateReason::ConsentScope => {
            "rules-3.2"
        }
    }
}

/// A serde enum's wire word (`"ambiguous"`), for the audit outcome.
fn json_word<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}
