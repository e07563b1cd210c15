//! The embedded gateway: a deterministic simulated network of subscribers.
//!
//! Each scripted subscriber answers the n-th question of a service with the n-th scripted
//! text after a fixed delay, writing the reply code it was sent where the script says
//! `((code))`. Subscribers without a script stay silent. Nothing here is random, so a demo
//! run is reproducible to the message.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::gateway::{Gateway, GatewayError, OutgoingSms};
use crate::model::Timestamp;

/// One subscriber's script, as stored in `subscribers.ndjson`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Script {
    /// The number as registered (any format; matched after normalisation).
    pub phone: String,
    /// How long the subscriber takes to answer, in minutes (at most [`MAX_DELAY_MINUTES`]).
    pub delay_minutes: u32,
    /// Per service id: the answers to its 1st, 2nd, ... question.
    pub answers: BTreeMap<String, Vec<String>>,
}

/// A simulated subscriber answers within 60 days; a longer script is a typo.
pub const MAX_DELAY_MINUTES: u32 = 60 * 24 * 60;

/// A reply the network will deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mo {
    pub at: Timestamp,
    pub phone: String,
    pub text: String,
}

#[derive(Default)]
struct State {
    /// Questions seen per (phone, service).
    asked: HashMap<(String, String), usize>,
    pending: Vec<Mo>,
    sent: u64,
    parts: u64,
}

/// The simulated network. Scripts are keyed by E.164 number.
pub struct SimNetwork {
    scripts: HashMap<String, Script>,
    state: Mutex<State>,
}

impl SimNetwork {
    pub fn new(scripts: HashMap<String, Script>) -> Self {
        SimNetwork { scripts, state: Mutex::new(State::default()) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replies due by `until`, in time order (ties by phone, for determinism).
    pub fn take_replies(&self, until: Timestamp) -> Vec<Mo> {
        let mut st = self.state();
        let (mut due, rest): (Vec<Mo>, Vec<Mo>) = st.pending.drain(..).partition(|m| m.at <= until);
        st.pending = rest;
        due.sort_by(|a, b| (a.at, &a.phone).cmp(&(b.at, &b.phone)));
        due
    }

    /// When the next reply is due.
    pub fn next_reply(&self) -> Option<Timestamp> {
        self.state().pending.iter().map(|m| m.at).min()
    }

    /// Messages and parts sent through the network.
    pub fn sent(&self) -> (u64, u64) {
        let st = self.state();
        (st.sent, st.parts)
    }
}

impl Gateway for SimNetwork {
    fn submit(&self, sms: &OutgoingSms<'_>) -> Result<Vec<String>, GatewayError> {
        let mut st = self.state();
        st.sent += 1;
        st.parts += u64::from(sms.parts);
        let id = vec![format!("sim-{}", sms.message_id)];
        let (Some(service), Some(script)) = (sms.service, self.scripts.get(sms.phone)) else {
            return Ok(id);
        };
        // Only questions carry a reply code; notices get no answer.
        let Some(code) = sms.reply_code else {
            return Ok(id);
        };
        let n = st.asked.entry((sms.phone.to_owned(), service.to_owned())).or_default();
        let index = *n;
        *n += 1;
        if let Some(answer) = script.answers.get(service).and_then(|a| a.get(index)) {
            st.pending.push(Mo {
                at: sms.at + i64::from(script.delay_minutes) * 60,
                phone: sms.phone.to_owned(),
                text: answer.replace("((code))", code),
            });
        }
        Ok(id)
    }
}
