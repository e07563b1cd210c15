//! Plugin deployment: signed uploads, versions, activation, scheduled activation, rollback,
//! disabling, and the compiled-artifact cache behind them.
//!
//! The store holds every version's bytes and an append-only log of what was done to each
//! plugin; what a plugin serves is derived from that log ([`status`]), so a restart (or
//! another host on the same store) arrives at the same answer. A version is validated
//! completely (compiled off the pipeline's lock, linked, manifest and templates checked,
//! signature and agency checked) before anything is stored, and swapped into the runtime
//! only after the store has recorded it.

pub mod cache;
pub mod signing;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::audit::{Actor, AuditLog, Entry};
use crate::model::Timestamp;
use crate::runtime::{LoadError, LoadedPlugin, MAX_COMPONENT_BYTES, Runtime};
use crate::store::{PluginAction, PluginVersion, Store};
use cache::{ArtifactCache, Lookup};
use signing::{AgencyKeys, SignatureError};

/// Why a deployment request was refused. Nothing was stored or swapped.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("plugin id must be 1-64 characters of a-z, 0-9 and '-'")]
    BadId,
    #[error("the component is {0} bytes, over the {MAX_COMPONENT_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("{0}")]
    Invalid(LoadError),
    #[error(transparent)]
    Signature(SignatureError),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

/// Who is asking: the actor recorded in the log, and the agency they are limited to.
#[derive(Debug, Clone)]
pub struct Requester {
    pub actor: String,
    /// `None` for the platform admin.
    pub agency: Option<String>,
}

/// What a plugin serves, derived from its action log. Versions are named by their `seq`;
/// times are Unix seconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Status {
    /// The version last activated (still recorded while disabled).
    pub active: Option<i64>,
    /// The version active before it: where a rollback goes.
    pub previous: Option<i64>,
    /// A version waiting for its effective-from time.
    pub pending: Option<i64>,
    pub disabled: bool,
    /// When the active version was activated.
    pub since: Option<Timestamp>,
}

impl Status {
    /// The version that should be running now.
    pub fn serving(&self) -> Option<i64> {
        if self.disabled { None } else { self.active }
    }
}

/// Replay a plugin's action log. A later activation, rollback or disable cancels a
/// pending schedule: the newest explicit decision wins.
pub fn status(actions: &[PluginAction]) -> Status {
    let mut s = Status::default();
    for a in actions {
        match a.action.as_str() {
            "activate" | "rollback" => {
                if a.version_seq != s.active {
                    s.previous = s.active;
                }
                s.active = a.version_seq;
                s.since = Some(a.at);
                s.disabled = false;
                s.pending = None;
            }
            "disable" => {
                s.disabled = true;
                s.pending = None;
            }
            "schedule" => s.pending = a.version_seq,
            _ => {}
        }
    }
    s
}

/// A plugin as the admin API lists it (times are Unix seconds).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PluginInfo {
    pub plugin: String,
    pub agency: String,
    /// `active`, `disabled`, or `inactive` (versions stored, none activated yet).
    pub state: &'static str,
    pub active: Option<PluginVersion>,
    pub pending: Option<PluginVersion>,
    /// When this host loaded what it serves.
    pub loaded_at: Option<Timestamp>,
    pub activated_at: Option<Timestamp>,
}

/// What an upload did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Uploaded {
    pub version: PluginVersion,
    /// `active`, `scheduled` or `stored`.
    pub state: &'static str,
    /// Whether the compiled artifact came from the cache.
    pub cached: bool,
}

pub struct Deployer {
    runtime: Arc<Runtime>,
    store: Arc<dyn Store>,
    audit: Arc<AuditLog>,
    cache: ArtifactCache,
    keys: AgencyKeys,
    /// What this host has loaded, per plugin: (version seq, when).
    loaded: Mutex<BTreeMap<String, (i64, Timestamp)>>,
}

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl Deployer {
    pub fn new(
        runtime: Arc<Runtime>,
        store: Arc<dyn Store>,
        audit: Arc<AuditLog>,
        cache_dir: &Path,
        keys: AgencyKeys,
    ) -> Deployer {
        let cache = ArtifactCache::new(cache_dir.to_path_buf(), &runtime);
        Deployer { runtime, store, audit, cache, keys, loaded: Mutex::default() }
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// Seed plugins from the operator's folder: a component whose plugin id the store has
    /// never seen is stored and activated (trusted: the operator put it there); ids the
    /// store knows are managed through the API and the folder's copy is ignored. Then load
    /// what every plugin serves. Returns problems to report; the rest still runs.
    pub fn start(&self, folder: &Path, now: Timestamp) -> anyhow::Result<Vec<String>> {
        let mut problems = Vec::new();
        let known: Vec<String> = self.store.plugin_versions(None)?.into_iter().map(|v| v.plugin).collect();
        for (name, read) in crate::runtime::read_dir(folder)? {
            let id = name.trim_end_matches(".wasm").to_owned();
            if known.contains(&id) {
                continue;
            }
            let seeded = read.map_err(DeployError::Invalid).and_then(|bytes| {
                let requester = Requester { actor: format!("folder:{name}"), agency: None };
                let plugin = self.validate(&id, &bytes)?;
                self.record(&requester, &id, &bytes, plugin, None, true, None, now)
            });
            if let Err(e) = seeded {
                problems.push(format!("{name}: {e}"));
            }
        }
        for id in self.plugin_ids()? {
            if let Err(e) = self.sync(&id, now) {
                problems.push(format!("plugin {id}: {e}"));
            }
        }
        Ok(problems)
    }

    fn plugin_ids(&self) -> anyhow::Result<Vec<String>> {
        let mut ids: Vec<String> = self.store.plugin_versions(None)?.into_iter().map(|v| v.plugin).collect();
        ids.dedup();
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// Make the runtime run what the store says a plugin serves. A disabled plugin stays
    /// loaded but paused, so its services' new cases wait for it rather than vanish.
    fn sync(&self, id: &str, now: Timestamp) -> Result<(), DeployError> {
        let s = status(&self.store.plugin_actions(Some(id))?);
        let current = self.loaded.lock().unwrap_or_else(|p| p.into_inner()).get(id).map(|(seq, _)| *seq);
        if s.active == current {
            self.runtime.set_paused(id, s.disabled);
            return Ok(());
        }
        let plugin = match s.active {
            None => None,
            Some(seq) => {
                let bytes = self
                    .store
                    .plugin_component(seq)?
                    .ok_or_else(|| DeployError::NotFound(format!("version {seq} of {id} has no stored component")))?;
                let sha = hex::encode(Sha256::digest(&bytes));
                let (plugin, _) = self
                    .cache
                    .load(&self.runtime, &format!("{id}.wasm"), &bytes, &sha)
                    .map_err(DeployError::Invalid)?;
                Some(plugin)
            }
        };
        self.runtime.replace_plugin(id, plugin, s.disabled).map_err(|e| DeployError::Conflict(e.to_string()))?;
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        match s.active {
            Some(seq) => loaded.insert(id.to_owned(), (seq, now)),
            None => loaded.remove(id),
        };
        Ok(())
    }

    /// The cheap checks that need no compile: an agency's own upload must carry a valid
    /// signature by that agency, so a forged or corrupted upload costs no Cranelift time.
    pub fn precheck(&self, requester: &Requester, bytes: &[u8], signature: Option<&str>) -> Result<(), DeployError> {
        if bytes.len() as u64 > MAX_COMPONENT_BYTES {
            return Err(DeployError::TooLarge(bytes.len()));
        }
        let Some(agency) = &requester.agency else { return Ok(()) };
        match self.keys.verify(agency, bytes, signature) {
            Err(SignatureError::Invalid(_) | SignatureError::UnknownAgency(_))
                if let Some(other) = self.keys.signer(bytes, signature) =>
            {
                Err(DeployError::Forbidden(format!(
                    "the upload is signed by agency {other:?}; this token acts for agency {agency:?}, \
                     which may upload only its own plugins, signed with its own key"
                )))
            }
            verified => verified.map_err(DeployError::Signature),
        }
    }

    /// Compile and check a component, off the pipeline's lock: the expensive half of an
    /// upload, with no side effect.
    pub fn validate(&self, id: &str, bytes: &[u8]) -> Result<(LoadedPlugin, bool), DeployError> {
        if !valid_id(id) {
            return Err(DeployError::BadId);
        }
        if bytes.len() as u64 > MAX_COMPONENT_BYTES {
            return Err(DeployError::TooLarge(bytes.len()));
        }
        let sha = hex::encode(Sha256::digest(bytes));
        let (plugin, lookup) =
            self.cache.load(&self.runtime, &format!("{id}.wasm"), bytes, &sha).map_err(DeployError::Invalid)?;
        Ok((plugin, lookup == Lookup::Hit))
    }

    /// Check who may upload this component, then store it and (unless told not to)
    /// activate it now or schedule it for `effective_from`. Call with the pipeline's lock
    /// held, after [`Deployer::validate`].
    #[allow(clippy::too_many_arguments)]
    pub fn upload(
        &self,
        requester: &Requester,
        id: &str,
        bytes: &[u8],
        validated: (LoadedPlugin, bool),
        signature: Option<&str>,
        activate: bool,
        effective_from: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<Uploaded, DeployError> {
        let agency = validated.0.services.first().map(|s| s.agency.clone()).unwrap_or_default();
        if let Some(own) = &requester.agency
            && own != &agency
        {
            return Err(DeployError::Forbidden(format!(
                "the component's services belong to agency {agency:?}, not to this token's agency {own:?}"
            )));
        }
        self.keys.verify(&agency, bytes, signature).map_err(DeployError::Signature)?;
        self.record(requester, id, bytes, validated, signature, activate, effective_from, now)
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        requester: &Requester,
        id: &str,
        bytes: &[u8],
        (plugin, cached): (LoadedPlugin, bool),
        signature: Option<&str>,
        activate: bool,
        effective_from: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<Uploaded, DeployError> {
        let agency = plugin.services.first().map(|s| s.agency.clone()).unwrap_or_default();
        let existing = self.store.plugin_versions(Some(id))?;
        if let Some(other) = existing.iter().find(|v| v.agency != agency) {
            return Err(DeployError::Forbidden(format!(
                "plugin id {id:?} belongs to agency {:?}; this component is agency {agency:?}'s",
                other.agency
            )));
        }
        // Refuse before storing a version that could never be activated beside the others.
        let active = self.runtime.active();
        if let Some((other, service)) =
            plugin.services.iter().find_map(|s| active.service(&s.id).filter(|(p, _)| p.reference.id != id))
        {
            return Err(DeployError::Conflict(format!(
                "service {:?} is already carried by plugin {:?}",
                service.id, other.reference.id
            )));
        }
        // The same bytes again: the stored version stands as it was uploaded (signature,
        // uploader, time); only an activation or schedule is new.
        let stored = existing.iter().find(|v| v.sha256 == plugin.reference.hash).cloned();
        let effective_from = effective_from.filter(|t| *t > now);
        let mut version = stored.clone().unwrap_or_else(|| PluginVersion {
            seq: 0,
            plugin: id.to_owned(),
            version: plugin.reference.version.clone(),
            sha256: plugin.reference.hash.clone(),
            agency: agency.clone(),
            signature: signature.map(|s| s.trim().to_owned()),
            uploaded_at: now,
            uploaded_by: requester.actor.clone(),
            effective_from,
        });
        let serving = status(&self.store.plugin_actions(Some(id))?).serving();
        let mut tx = self.store.begin()?;
        if stored.is_none() {
            version.seq = tx.insert_plugin_version(&version, bytes)?;
        }
        let act = |tx: &mut dyn crate::store::Tx, action: &str| -> anyhow::Result<()> {
            tx.insert_plugin_action(&PluginAction {
                seq: 0,
                plugin: id.to_owned(),
                action: action.to_owned(),
                version_seq: Some(version.seq),
                at: now,
                actor: requester.actor.clone(),
            })?;
            self.audit.append(
                tx,
                Entry::new(now, &admin_actor(requester), &format!("plugin.{action}")).outcome("ok").detail(json!({
                    "plugin": id, "version": version.version, "sha256": version.sha256, "agency": agency,
                    "effective_from": effective_from,
                })),
            )?;
            Ok(())
        };
        if stored.is_none() {
            act(&mut *tx, "upload")?;
        }
        let already_serving = serving == Some(version.seq);
        let state = match (activate, effective_from.is_some()) {
            _ if already_serving => "active",
            (false, _) => "stored",
            (true, true) => {
                act(&mut *tx, "schedule")?;
                "scheduled"
            }
            (true, false) => {
                act(&mut *tx, "activate")?;
                "active"
            }
        };
        tx.commit()?;
        if state == "active" && !already_serving {
            self.install(id, version.seq, plugin, now)?;
        }
        Ok(Uploaded { version, state, cached })
    }

    fn install(&self, id: &str, seq: i64, plugin: LoadedPlugin, now: Timestamp) -> Result<(), DeployError> {
        self.runtime.set_plugin(id, Some(plugin)).map_err(|e| DeployError::Conflict(e.to_string()))?;
        self.loaded.lock().unwrap_or_else(|p| p.into_inner()).insert(id.to_owned(), (seq, now));
        Ok(())
    }

    /// Activate a stored version (by SHA-256), roll back to the previous one, or disable.
    pub fn change(
        &self,
        requester: &Requester,
        id: &str,
        change: Change<'_>,
        now: Timestamp,
    ) -> Result<Status, DeployError> {
        let versions = self.owned_versions(requester, id)?;
        let current = status(&self.store.plugin_actions(Some(id))?);
        let (action, target) = match change {
            Change::Activate(sha) => {
                let v =
                    versions.iter().rev().find(|v| v.sha256.eq_ignore_ascii_case(sha.trim())).ok_or_else(|| {
                        DeployError::NotFound(format!("plugin {id:?} has no version with that sha256"))
                    })?;
                ("activate", Some(v.seq))
            }
            Change::Rollback => {
                let prev = current.previous.filter(|p| Some(*p) != current.active).ok_or_else(|| {
                    DeployError::Conflict(format!("plugin {id:?} has no previous version to roll back to"))
                })?;
                ("rollback", Some(prev))
            }
            Change::Enable => {
                let active = current.active.ok_or_else(|| {
                    DeployError::Conflict(format!("plugin {id:?} has no activated version to enable"))
                })?;
                ("activate", Some(active))
            }
            Change::Disable => ("disable", None),
        };
        // Asking for what already holds changes nothing and records nothing.
        let no_op = match change {
            Change::Disable => current.disabled,
            _ => !current.disabled && current.active == target && current.pending.is_none(),
        };
        if no_op {
            return Ok(current);
        }
        let version = target.and_then(|seq| versions.iter().find(|v| v.seq == seq));
        // Compile (or fetch from the cache) before recording, so a version that no longer
        // loads is refused rather than recorded as active.
        let plugin = match target {
            Some(seq) => {
                let bytes = self.store.plugin_component(seq)?.unwrap_or_default();
                let sha = version.map(|v| v.sha256.clone()).unwrap_or_default();
                Some(
                    self.cache
                        .load(&self.runtime, &format!("{id}.wasm"), &bytes, &sha)
                        .map_err(DeployError::Invalid)?
                        .0,
                )
            }
            None => None,
        };
        let mut tx = self.store.begin()?;
        tx.insert_plugin_action(&PluginAction {
            seq: 0,
            plugin: id.to_owned(),
            action: action.to_owned(),
            version_seq: target,
            at: now,
            actor: requester.actor.clone(),
        })?;
        self.audit.append(
            &mut *tx,
            Entry::new(now, &admin_actor(requester), &format!("plugin.{action}")).outcome("ok").detail(json!({
                "plugin": id, "version": version.map(|v| &v.version), "sha256": version.map(|v| &v.sha256),
            })),
        )?;
        tx.commit()?;
        match (target, plugin) {
            (Some(seq), Some(plugin)) => self.install(id, seq, plugin, now)?,
            // Disabled: kept loaded, taking no new events (they wait for it).
            _ => self.runtime.set_paused(id, true),
        }
        Ok(status(&self.store.plugin_actions(Some(id))?))
    }

    /// Activate scheduled versions whose effective-from time has come.
    pub fn activate_due(&self, now: Timestamp) -> anyhow::Result<Vec<String>> {
        let mut done = Vec::new();
        let versions = self.store.plugin_versions(None)?;
        for id in self.plugin_ids()? {
            let Some(pending) = status(&self.store.plugin_actions(Some(&id))?).pending else { continue };
            let Some(v) = versions.iter().find(|v| v.seq == pending) else { continue };
            if v.effective_from.is_some_and(|t| t > now) {
                continue;
            }
            let requester = Requester { actor: "schedule".into(), agency: None };
            match self.change(&requester, &id, Change::Activate(&v.sha256), now) {
                Ok(_) => done.push(id),
                Err(e) => tracing::error!(plugin = %id, "a scheduled activation failed: {e}"),
            }
        }
        Ok(done)
    }

    fn owned_versions(&self, requester: &Requester, id: &str) -> Result<Vec<PluginVersion>, DeployError> {
        let versions = self.store.plugin_versions(Some(id))?;
        let visible = versions.first().is_some_and(|v| requester.agency.as_ref().is_none_or(|a| a == &v.agency));
        if !visible {
            // Another agency's plugin is as absent as one that does not exist.
            return Err(DeployError::NotFound(format!("no plugin {id:?}")));
        }
        Ok(versions)
    }

    /// Every plugin the requester may see, with what it serves.
    pub fn list(&self, requester: &Requester) -> anyhow::Result<Vec<PluginInfo>> {
        let versions = self.store.plugin_versions(None)?;
        let loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut out = Vec::new();
        for id in self.plugin_ids()? {
            let mine: Vec<&PluginVersion> = versions.iter().filter(|v| v.plugin == id).collect();
            let agency = mine.first().map(|v| v.agency.clone()).unwrap_or_default();
            if requester.agency.as_ref().is_some_and(|a| a != &agency) {
                continue;
            }
            let s = status(&self.store.plugin_actions(Some(&id))?);
            let find = |seq: Option<i64>| seq.and_then(|seq| mine.iter().find(|v| v.seq == seq).map(|v| (*v).clone()));
            let state = match (s.disabled, s.active) {
                (true, _) => "disabled",
                (false, Some(_)) => "active",
                (false, None) => "inactive",
            };
            out.push(PluginInfo {
                plugin: id.clone(),
                agency,
                state,
                active: find(s.active),
                pending: find(s.pending),
                loaded_at: loaded.get(&id).map(|(_, at)| *at),
                activated_at: s.since,
            });
        }
        Ok(out)
    }

    /// A plugin's versions and the log of what was done with them.
    pub fn history(
        &self,
        requester: &Requester,
        id: &str,
    ) -> Result<(Vec<PluginVersion>, Vec<PluginAction>), DeployError> {
        let versions = self.owned_versions(requester, id)?;
        Ok((versions, self.store.plugin_actions(Some(id))?))
    }
}

/// A change to what a plugin serves.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// The stored version with this SHA-256.
    Activate(&'a str),
    Rollback,
    /// Activate again the version last activated: after a disable, or the breaker.
    Enable,
    /// Stop taking new events; they wait until the plugin is enabled or another version
    /// activated.
    Disable,
}

fn admin_actor(r: &Requester) -> Actor {
    Actor::Admin(r.actor.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(action: &str, v: Option<i64>) -> PluginAction {
        PluginAction { seq: 0, plugin: "p".into(), action: action.into(), version_seq: v, at: 0, actor: "t".into() }
    }

    #[test]
    fn status_replays_the_log() {
        let s = status(&[action("upload", Some(1)), action("activate", Some(1))]);
        assert_eq!((s.serving(), s.previous), (Some(1), None));
        let s = status(&[action("activate", Some(1)), action("activate", Some(2))]);
        assert_eq!((s.serving(), s.previous), (Some(2), Some(1)));
        let s = status(&[action("activate", Some(1)), action("activate", Some(2)), action("rollback", Some(1))]);
        assert_eq!((s.serving(), s.previous), (Some(1), Some(2)));
        let s = status(&[action("activate", Some(1)), action("disable", None)]);
        assert_eq!((s.serving(), s.active, s.disabled), (None, Some(1), true));
        let s = status(&[action("activate", Some(1)), action("disable", None), action("activate", Some(1))]);
        assert_eq!(s.serving(), Some(1));
        let s = status(&[action("activate", Some(1)), action("schedule", Some(2))]);
        assert_eq!((s.serving(), s.pending), (Some(1), Some(2)));
        let s = status(&[action("schedule", Some(2)), action("activate", Some(3))]);
        assert_eq!(s.pending, None, "a later explicit activation cancels the schedule");
        let s = status(&[action("activate", Some(1)), action("activate", Some(1))]);
        assert_eq!(s.previous, None, "activating the active version again is not a change");
    }
}
