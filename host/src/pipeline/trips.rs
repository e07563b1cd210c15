//! Recording what the circuit breaker did, in the transaction of the step whose plugin
//! call tripped it: a trip is on record (and audited) exactly when that step is, so a
//! crash right after cannot forget it and an enable right after cannot come first.

use serde_json::json;

use super::Pipeline;
use crate::audit::{Actor, Entry};
use crate::model::Timestamp;
use crate::store::{PluginAction, Tx};

/// The actor the breaker's actions are recorded under.
pub const BREAKER: &str = "breaker";

impl Pipeline {
    /// Record each plugin the breaker paused during this step as disabled by [`BREAKER`].
    /// A plugin the store holds no version of (a batch run's, from a folder) is paused for
    /// the run only: there is no action log to write to.
    pub(super) fn record_trips(&self, tx: &mut dyn Tx, now: Timestamp) -> anyhow::Result<()> {
        for id in self.runtime.take_tripped() {
            if !tx.has_plugin_versions(&id)? {
                continue;
            }
            tx.insert_plugin_action(&PluginAction {
                seq: 0,
                plugin: id.clone(),
                action: "disable".into(),
                version_seq: None,
                at: now,
                actor: BREAKER.into(),
            })?;
            let failures = self.runtime.limits().breaker_failures;
            self.settings.audit.append(
                tx,
                Entry::new(now, &Actor::Admin(BREAKER.into()), "plugin.disable")
                    .outcome("ok")
                    .detail(json!({ "plugin": id, "reason": format!("{failures} failed calls in a row") })),
            )?;
            tracing::warn!(plugin = %id, "disabled by the circuit breaker; enable it through the admin API");
        }
        Ok(())
    }
}
