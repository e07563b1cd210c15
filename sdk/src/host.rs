//! What the host grants a plugin: logging, the clock, configuration and consented facts.
//!
//! Inside a component these call the host's imports. Compiled natively they ask the
//! [`crate::native::HostBridge`] installed on the current thread (the test harness, or a
//! benchmark host), so the same plugin code runs in both places unchanged.

use crate::bindings::kz_gov::proactive::host as imports;
pub use imports::{FactError, Level};

/// Log a line through the host. The host redacts IIN- and phone-shaped text, but do not
/// rely on it: log case facts, not personal identifiers.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    imports::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    crate::native::current(|h| h.log(level, message));
}

/// The host's current time, seconds since the Unix epoch (virtual in batch runs).
pub fn now() -> i64 {
    #[cfg(target_arch = "wasm32")]
    return imports::now();
    #[cfg(not(target_arch = "wasm32"))]
    crate::native::current(|h| h.now())
}

/// Platform configuration value, for example `mci.2026`.
pub fn config(key: &str) -> Option<String> {
    #[cfg(target_arch = "wasm32")]
    return imports::config(key);
    #[cfg(not(target_arch = "wasm32"))]
    crate::native::current(|h| h.config(key))
}

/// A registry fact about a person (by IIN), limited to the manifest's consent scopes and to
/// what that person consented to.
pub fn fact(person: &str, scope: &str, key: &str) -> Result<Option<String>, FactError> {
    #[cfg(target_arch = "wasm32")]
    return imports::fact(person, scope, key);
    #[cfg(not(target_arch = "wasm32"))]
    crate::native::current(|h| h.fact(person, scope, key))
}
