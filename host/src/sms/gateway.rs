//! The port to whatever delivers SMS: the simulated network inside the process, an SMSC over
//! SMPP, or an aggregator's HTTP API.

use crate::model::Timestamp;

/// One message handed to the gateway.
#[derive(Debug, Clone)]
pub struct OutgoingSms<'a> {
    /// The outbox id.
    pub message_id: i64,
    /// What a gateway deduplicates resubmissions by: unique to this store, this message
    /// and its content, so another database's (or a restored one's) message with the same
    /// outbox id never collides with it.
    pub key: &'a str,
    /// E.164.
    pub phone: &'a str,
    pub text: &'a str,
    pub parts: u32,
    /// The service the message belongs to, if any (for routing and simulation only).
    pub service: Option<&'a str>,
    /// The reply code a question carries (for simulation only).
    pub reply_code: Option<&'a str>,
    pub at: Timestamp,
    /// The gateway's ids for the leading parts an earlier attempt already handed over
    /// (a crash cut it short): a gateway that sends parts separately sends only the rest.
    pub taken_parts: &'a [String],
}

impl<'a> OutgoingSms<'a> {
    /// A message that belongs to no case, sent now, none of it taken yet (benchmarks and
    /// tests of the gateways themselves).
    pub fn standalone(message_id: i64, key: &'a str, phone: &'a str, text: &'a str) -> Self {
        OutgoingSms {
            message_id,
            key,
            phone,
            text,
            parts: super::encoding::count(text).parts,
            service: None,
            reply_code: None,
            at: 0,
            taken_parts: &[],
        }
    }
}

/// What [`Gateway::submit_each`] reports about one message of the batch.
#[derive(Debug, Clone)]
pub enum Progress {
    /// Part `part` (from 1) of a message sent in parts was taken, under `id`; more follow.
    Part { part: u32, id: String },
    /// The message is done: its ids, one per part, or why not.
    Done(Result<Vec<String>, GatewayError>),
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

    /// Whether a gateway that keeps a connection (SMPP) has it now; `None` for one that
    /// connects per message.
    fn connected(&self) -> Option<bool> {
        None
    }

    /// Hand a batch over, reporting each message's outcome (and each part taken, for a
    /// gateway that sends parts separately) to `done`, with its index in `batch`, as soon
    /// as it is known, so the caller can record it before the next one
    /// completes: what a crash leaves in doubt is then only what was in flight. A gateway
    /// that keeps several submissions in flight (SMPP's window) overrides this; the default
    /// goes one by one and stops at the first transient failure, leaving the rest unreported.
    /// When `done` answers [`Next::Stop`], nothing new starts, but what is under way is
    /// still reported. An error from `done` stops the batch at once and is returned.
    fn submit_each(&self, batch: &[OutgoingSms<'_>], done: &mut Done<'_>) -> anyhow::Result<()> {
        for (i, sms) in batch.iter().enumerate() {
            let result = self.submit(sms);
            let transient = matches!(result, Err(GatewayError::Transient(_)));
            if done(i, Progress::Done(result))? == Next::Stop || transient {
                break;
            }
        }
        Ok(())
    }
}

/// What [`Gateway::submit_each`] reports each outcome to.
pub type Done<'a> = dyn FnMut(usize, Progress) -> anyhow::Result<Next> + 'a;

/// Whether a batch may go on after an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Continue,
    /// Start nothing new (the batch's time is up, or the server is stopping).
    Stop,
}
