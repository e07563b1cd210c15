//! The circuit breaker: a plugin that fails every call (a bug, a hostile build, a limit it
//! always hits) is paused after a run of failures, so it stops burning its whole budget
//! on each new event while the other plugins' cases go on. Paused is not lost: its
//! services' new cases wait until an administrator re-enables the plugin.

use std::collections::HashMap;
use std::sync::Mutex;

pub struct Breaker {
    threshold: u32,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Consecutive failures by plugin id.
    failures: HashMap<String, u32>,
    /// Tripped since the last `take_tripped`.
    tripped: Vec<String>,
}

impl Breaker {
    pub fn new(threshold: u32) -> Self {
        Breaker { threshold, state: Mutex::default() }
    }

    /// Count one call; true when this failure trips the breaker.
    pub fn record(&self, plugin: &str, ok: bool) -> bool {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if ok {
            st.failures.remove(plugin);
            return false;
        }
        let n = st.failures.entry(plugin.to_owned()).or_default();
        *n += 1;
        let tripped = self.threshold > 0 && *n == self.threshold;
        if tripped {
            st.tripped.push(plugin.to_owned());
        }
        tripped
    }

    pub fn reset(&self, plugin: &str) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).failures.remove(plugin);
    }

    pub fn take_tripped(&self) -> Vec<String> {
        std::mem::take(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()).tripped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trips_once_after_the_threshold_in_a_row_and_a_success_resets() {
        let b = Breaker::new(3);
        assert!(!b.record("p", false));
        assert!(!b.record("p", false));
        assert!(!b.record("p", true), "a success in between");
        assert!(!b.record("p", false));
        assert!(!b.record("q", false), "counts are per plugin");
        assert!(!b.record("p", false));
        assert!(b.record("p", false), "the third in a row trips");
        assert!(!b.record("p", false), "and only once");
        assert_eq!(b.take_tripped(), ["p"]);
        assert!(b.take_tripped().is_empty());
        b.reset("p");
        assert!(!b.record("p", false));
    }

    #[test]
    fn a_zero_threshold_never_trips() {
        let b = Breaker::new(0);
        assert!((0..100).all(|_| !b.record("p", false)));
    }
}
