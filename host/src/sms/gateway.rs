//! The port to whatever delivers SMS: the simulated network inside the process, an SMSC over
//! SMPP, or an aggregator's HTTP API.

use crate::model::Timestamp;

/// One message handed to the gateway.
#[derive(Debug, Clone)]
pub struct OutgoingSms<'a> {
    /// The outbox id: gateways use it to deduplicate resubmissions.
    pub message_id: i64,
    /// E.164.
    pub phone: &'a str,
    pub text: &'a str,
    pub parts: u32,
    /// The service the message belongs to, if any (for routing and simulation only).
    pub service: Option<&'a str>,
    /// The reply code a question carries (for simulation only).
    pub reply_code: Option<&'a str>,
    pub at: Timestamp,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum GatewayError {
    /// Try again later; nothing was sent.
    #[error("gateway temporarily unavailable: {0}")]
    Transient(String),
    /// The gateway will never take this message.
    #[error("gateway rejected the message: {0}")]
    Rejected(String),
}

pub trait Gateway: Send + Sync {
    /// Hand a message over; returns the gateway's ids for it: one, or one per part for a
    /// gateway that submits parts separately (SMPP), in part order.
    fn submit(&self, sms: &OutgoingSms<'_>) -> Result<Vec<String>, GatewayError>;

    /// Hand a batch over, answering for each in order. A gateway that can keep several
    /// submissions in flight (SMPP's window) overrides this; the default goes one by one
    /// and, once the gateway is unavailable, stops trying the rest.
    fn submit_all(&self, batch: &[OutgoingSms<'_>]) -> Vec<Result<Vec<String>, GatewayError>> {
        let mut out = Vec::with_capacity(batch.len());
        for sms in batch {
            let result = match out.last() {
                Some(Err(GatewayError::Transient(e))) => Err(GatewayError::Transient(e.clone())),
                _ => self.submit(sms),
            };
            out.push(result);
        }
        out
    }
}
