//! Delivery receipts: what the network finally did with a sent message.
//!
//! A receipt is recorded once per message and audited; a gateway that retries its webhook
//! gets `Duplicate`, and one that contradicts itself gets `Conflict` with the status kept.
//! A message sent in parts (SMPP) gets a receipt per part: it is delivered when every part
//! is, and failed with the first part that fails.
//! What a failed delivery does to the case (a retry, or the service's rule for an
//! unanswered offer) is [`super::delivery`]'s.

use serde_json::json;

use super::Pipeline;
use crate::audit::{Actor, Entry};
use crate::model::{CLOCK_DRIFT_SECONDS, Timestamp};
use crate::store::{DeliveryStatus, Receipt};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptOutcome {
    Recorded {
        message: i64,
    },
    /// One part's delivery is recorded; the message waits for its other parts.
    PartRecorded {
        message: i64,
    },
    /// The same status was already recorded for the message.
    Duplicate {
        message: i64,
    },
    /// A different status was recorded first; it stands.
    Conflict {
        message: i64,
        recorded: DeliveryStatus,
    },
    /// No sent message carries that gateway id.
    UnknownMessage,
    /// The receipt is dated before the message was sent (beyond clock drift): refused.
    BeforeSent,
}

impl Pipeline {
    /// A receipt whose id may be written several ways ([`crate::sms::smpp::pdus::id_candidates`]):
    /// the first reading that names a sent message is taken.
    pub fn on_receipt_any(
        &self,
        gateway_ids: &[String],
        status: DeliveryStatus,
        at: Timestamp,
        now: Timestamp,
    ) -> anyhow::Result<ReceiptOutcome> {
        for id in gateway_ids {
            if self.store.message_by_gateway_id(id)?.is_some() {
                return self.on_receipt(id, status, at, now);
            }
        }
        crate::metrics::step("receipt", "unknown-message");
        Ok(ReceiptOutcome::UnknownMessage)
    }

    pub fn on_receipt(
        &self,
        gateway_id: &str,
        status: DeliveryStatus,
        at: Timestamp,
        now: Timestamp,
    ) -> anyhow::Result<ReceiptOutcome> {
        let Some(message) = self.store.message_by_gateway_id(gateway_id)? else {
            crate::metrics::step("receipt", "unknown-message");
            return Ok(ReceiptOutcome::UnknownMessage);
        };
        if message.sent_at.is_some_and(|sent| at < sent - CLOCK_DRIFT_SECONDS) {
            crate::metrics::step("receipt", "before-sent");
            return Ok(ReceiptOutcome::BeforeSent);
        }
        // Reads first: the transaction holds the store until it commits.
        let (case, siblings) = match (status, message.case_id) {
            (DeliveryStatus::Delivered, _) | (_, None) => (None, Vec::new()),
            (_, Some(id)) => (self.store.case(id)?, self.store.messages_for_case(id)?),
        };
        let mut tx = self.store.begin()?;
        let parts = tx.record_part_status(message.id, gateway_id, status)?;
        // Delivered once every part is: rows exist only for the parts taken so far, so a
        // message still being sent is not complete however its first parts fared.
        let whole = parts.len() >= message.parts as usize;
        let status = match status {
            _ if parts.is_empty() => status,
            DeliveryStatus::Delivered if whole && parts.iter().all(|p| *p == Some(DeliveryStatus::Delivered)) => status,
            DeliveryStatus::Delivered => {
                tx.commit()?;
                crate::metrics::step("receipt", "part");
                return Ok(ReceiptOutcome::PartRecorded { message: message.id });
            }
            failed => failed,
        };
        let receipt = Receipt { message_id: message.id, status, at, received_at: now };
        let outcome = match tx.insert_receipt(&receipt)? {
            None => ReceiptOutcome::Recorded { message: message.id },
            Some(recorded) if recorded == status => {
                // The part's own status is still news.
                tx.commit()?;
                crate::metrics::step("receipt", "duplicate");
                return Ok(ReceiptOutcome::Duplicate { message: message.id });
            }
            Some(recorded) => ReceiptOutcome::Conflict { message: message.id, recorded },
        };
        let log = &self.settings.audit;
        let (what, word) = match outcome {
            ReceiptOutcome::Recorded { .. } => ("sms.receipt", status.as_str()),
            _ => ("sms.receipt-conflict", "ignored"),
        };
        log.append(
            &mut *tx,
            Entry::new(now, &Actor::Sms, what)
                .case(message.case_id)
                .outcome(word)
                .detail(json!({ "message": message.id, "status": status.as_str(), "at": at })),
        )?;
        if matches!(outcome, ReceiptOutcome::Recorded { .. }) && status != DeliveryStatus::Delivered {
            self.after_undelivered(&mut *tx, &message, case, &siblings, status, now)?;
        }
        tx.commit()?;
        crate::metrics::step("receipt", if what == "sms.receipt" { status.as_str() } else { "conflict" });
        Ok(outcome)
    }
}
