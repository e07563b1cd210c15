//! What the outbox does when the network cannot deliver, and how much one number may be
//! sent: the policy, and its two effects on a case.
//!
//! A message that expired (the phone stayed off) or was undeliverable is queued again after
//! `retry_after_seconds`, up to `attempts` sends in all; the case's reply window restarts
//! when the copy goes out, so the citizen still gets all of it. When a question cannot be
//! delivered in the end (or was refused by the operator or deleted, which a retry would not
//! change), the reply window closes at once: the service's own rule for an offer left
//! unanswered decides the case (its `on-timeout`), so the ground it records is the
//! service's, and the audit log says why the window closed early.

use serde_json::json;

use super::Pipeline;
use crate::audit::{Actor, Entry};
use crate::model::{CaseState, Timestamp};
use crate::store::{Case, DeliveryStatus, MessageKind, NewMessage, OutboxMessage, Tx};

pub const DAY_SECONDS: i64 = 24 * 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryPolicy {
    /// Sends of one message in all, the first included.
    pub attempts: u32,
    pub retry_after_seconds: i64,
    /// SMS to one number in any 24 hours, at most; the rest wait for a free slot.
    pub per_recipient_per_day: u32,
    /// Help texts to one number in any 24 hours, at most; further unmatched replies are
    /// stored and answered with nothing, so a stranger cannot pump SMS at a number.
    pub help_per_day: u32,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        DeliveryPolicy { attempts: 2, retry_after_seconds: 3600, per_recipient_per_day: 10, help_per_day: 3 }
    }
}

/// How long a message over its number's daily cap waits before it is tried again.
pub const CAP_DEFER_SECONDS: i64 = 3600;

impl Pipeline {
    /// After a final receipt other than `delivered` for `message`: retry, close the reply
    /// window, or (an old message, a notice, a help text) nothing. `siblings` are the case's
    /// messages, read before the transaction.
    pub(super) fn after_undelivered(
        &self,
        tx: &mut dyn Tx,
        message: &OutboxMessage,
        case: Option<Case>,
        siblings: &[OutboxMessage],
        status: DeliveryStatus,
        now: Timestamp,
    ) -> anyhow::Result<()> {
        let policy = self.settings.delivery;
        let log = &self.settings.audit;
        let Some(mut case) = case.filter(|c| c.state.is_open()) else { return Ok(()) };
        // Only the case's latest message speaks for it: an older one's fate changes nothing.
        if message.kind == MessageKind::Help || siblings.last().is_some_and(|latest| latest.id != message.id) {
            return Ok(());
        }
        let sends = siblings.iter().filter(|s| s.kind == message.kind && s.text == message.text).count() as u32;
        let retryable = matches!(status, DeliveryStatus::Expired | DeliveryStatus::Undeliverable);
        if retryable && sends < policy.attempts {
            let not_before = self.settings.window.next_open(now + policy.retry_after_seconds);
            let copy = tx.enqueue(&NewMessage {
                case_id: message.case_id,
                kind: message.kind,
                phone: message.phone.clone(),
                text: message.text.clone(),
                parts: message.parts,
                not_before,
            })?;
            if message.kind == MessageKind::Question && case.state == CaseState::AwaitingReply {
                // The window restarts when the copy is sent.
                case.state = CaseState::Offered;
                case.deadline = None;
                case.updated_at = now;
                tx.update_case(&case)?;
            }
            crate::metrics::step("sms", "retry");
            log.append(
                tx,
                Entry::new(now, &Actor::Sms, "sms.retry").case(Some(case.id)).outcome("queued").detail(json!({
                    "message": message.id, "copy": copy, "status": status.as_str(), "send": sends + 1,
                    "not_before": not_before,
                })),
            )?;
            return Ok(());
        }
        if message.kind == MessageKind::Question && case.state == CaseState::AwaitingReply {
            case.deadline = Some(now);
            case.updated_at = now;
            tx.update_case(&case)?;
            crate::metrics::step("sms", "undelivered");
            log.append(
                tx,
                Entry::new(now, &Actor::Sms, "sms.undelivered")
                    .case(Some(case.id))
                    .outcome("reply-window-closed")
                    .detail(json!({ "message": message.id, "status": status.as_str(), "sends": sends })),
            )?;
        }
        Ok(())
    }
}

/// The longest wait between tries of a gateway that keeps failing, in seconds.
const OUTAGE_MAX_WAIT: i64 = 300;

/// The gateway's availability as dispatch has seen it. After a batch in which it took
/// nothing and was unavailable, the next try waits, doubling up to five minutes; the log
/// says so once when it goes and once when it is back, not on every tick.
#[derive(Default)]
pub struct Outage {
    /// Failed batches in a row, and when to try again.
    state: std::sync::Mutex<Option<(u32, Timestamp)>>,
}

impl Outage {
    fn state(&self) -> std::sync::MutexGuard<'_, Option<(u32, Timestamp)>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether dispatch should leave the gateway alone until later.
    pub fn waiting(&self, now: Timestamp) -> bool {
        self.state().is_some_and(|(_, retry_at)| now < retry_at)
    }

    pub fn after_batch(&self, unavailable: Option<String>, sent: usize, now: Timestamp) {
        let mut state = self.state();
        match unavailable {
            Some(why) if sent == 0 => {
                let failures = state.map_or(1, |(n, _)| n.saturating_add(1));
                let wait = (1i64 << (failures - 1).min(16)).min(OUTAGE_MAX_WAIT);
                *state = Some((failures, now + wait));
                if failures == 1 {
                    tracing::warn!(
                        "gateway unavailable; messages stay queued and are retried with back-off: {}",
                        crate::redact::redact(&why)
                    );
                }
            }
            _ => {
                if state.take().is_some() {
                    tracing::info!("gateway available again");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_backs_off_doubling_to_five_minutes_and_ends_with_a_success() {
        let o = Outage::default();
        assert!(!o.waiting(0));
        let mut now = 0;
        let mut waits = Vec::new();
        for _ in 0..12 {
            o.after_batch(Some("down".into()), 0, now);
            let start = now;
            while o.waiting(now) {
                now += 1;
            }
            waits.push(now - start);
        }
        assert_eq!(&waits[..4], &[1, 2, 4, 8]);
        assert_eq!(*waits.last().unwrap(), OUTAGE_MAX_WAIT);
        // A batch that took something is no outage, even if some of it had to wait.
        o.after_batch(Some("ran out of time".into()), 3, now);
        assert!(!o.waiting(now));
    }
}
