//! Long replies arrive as several `deliver_sm`, each with a concatenation header; the
//! citizen wrote one message, so the host reads one. Parts wait here until all have come
//! (their `deliver_sm_resp` waits too, so a crash loses none), or until they stop coming,
//! when what arrived is read as the reply.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use tokio::time::Instant;

use super::pdus::Incoming;

/// How long the parts of one reply may straggle.
pub const PATIENCE: Duration = Duration::from_secs(60);

struct Partial {
    total: u8,
    texts: BTreeMap<u8, String>,
    /// The sequence numbers of the PDUs the parts came in, to answer once it is taken.
    pdus: Vec<u32>,
    started: Instant,
}

/// A reply made whole, and the PDUs it came in.
pub type Whole = (Incoming, Vec<u32>);

#[derive(Default)]
pub struct Reassembly {
    partial: HashMap<(String, u16), Partial>,
}

impl Reassembly {
    /// Adds one part; returns the reply once its last part is here.
    #[allow(clippy::too_many_arguments, reason = "one part's header fields")]
    pub fn add(
        &mut self,
        from: String,
        reference: u16,
        total: u8,
        seq: u8,
        text: String,
        pdu: u32,
        now: Instant,
    ) -> Option<Whole> {
        let key = (from, reference);
        let p = self.partial.entry(key.clone()).or_insert_with(|| Partial {
            total,
            texts: BTreeMap::new(),
            pdus: Vec::new(),
            started: now,
        });
        p.texts.insert(seq, text);
        p.pdus.push(pdu);
        if p.texts.len() < usize::from(p.total) {
            return None;
        }
        let p = self.partial.remove(&key)?;
        Some(whole(key.0, p))
    }

    /// Replies whose parts stopped coming before `cutoff`, as far as they got.
    pub fn expire(&mut self, cutoff: Instant) -> Vec<Whole> {
        let stale: Vec<(String, u16)> =
            self.partial.iter().filter(|(_, p)| p.started < cutoff).map(|(k, _)| k.clone()).collect();
        stale.into_iter().filter_map(|k| self.partial.remove(&k).map(|p| whole(k.0, p))).collect()
    }
}

fn whole(from: String, p: Partial) -> Whole {
    let text: String = p.texts.into_values().collect();
    (Incoming::Reply { from, text }, p.pdus)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(w: &Whole) -> &str {
        match &w.0 {
            Incoming::Reply { text, .. } => text,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parts_in_any_order_make_one_reply_answered_in_all_its_pdus() {
        let mut r = Reassembly::default();
        let now = Instant::now();
        assert!(r.add("+7701".into(), 5, 3, 3, "ц".into(), 10, now).is_none());
        assert!(r.add("+7701".into(), 5, 3, 1, "а".into(), 11, now).is_none());
        // Another sender's part with the same reference is another message.
        assert!(r.add("+7702".into(), 5, 2, 1, "x".into(), 12, now).is_none());
        let w = r.add("+7701".into(), 5, 3, 2, "б".into(), 13, now).expect("whole");
        assert_eq!((text(&w), w.1.as_slice()), ("абц", [10, 11, 13].as_slice()));
        // A repeated part (an SMSC's redelivery) does not complete a message early.
        assert!(r.add("+7702".into(), 5, 2, 1, "x".into(), 14, now).is_none());
    }

    #[test]
    fn parts_that_stop_coming_are_read_as_far_as_they_got() {
        let mut r = Reassembly::default();
        let start = Instant::now();
        assert!(r.add("+7701".into(), 1, 3, 1, "Иә 12".into(), 1, start).is_none());
        assert!(r.add("+7701".into(), 1, 3, 3, "34".into(), 2, start).is_none());
        assert!(r.expire(start).is_empty(), "not yet");
        let expired = r.expire(start + PATIENCE);
        assert_eq!(expired.len(), 1);
        assert_eq!((text(&expired[0]), expired[0].1.as_slice()), ("Иә 1234", [1, 2].as_slice()));
        assert!(r.expire(start + PATIENCE * 2).is_empty(), "gone once read");
    }
}
