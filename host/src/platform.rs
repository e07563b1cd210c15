//! Wiring a running platform from its files: plugins, registry snapshots, the store and its
//! audit keys. Batch runs (`demo`, `ingest`) and the server (`serve`) open it the same way,
//! so the refusals that protect a store (missing registry, missing audit keys, a log that
//! no longer matches its published checkpoint, a second writer) hold for both.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::audit::checkpoint::Verifier;
use crate::audit::keys::{self, Keys};
use crate::audit::{self, AuditLog};
use crate::gate::Gate;
use crate::gate::registry::{Registries, SnapshotError, SnapshotRegistry};
use crate::pipeline::{Pipeline, Settings};
use crate::runtime::{Limits, Runtime};
use crate::sms::gateway::Gateway;
use crate::store::Store;
use crate::store::sqlite::SqliteStore;

/// Where a platform's plugins come from.
pub enum PluginSource {
    /// Every component in a folder (what the CLI uses).
    Dir(PathBuf),
    /// A runtime the caller loaded, e.g. with native plugins for a comparison.
    Loaded(Arc<Runtime>),
}

/// What [`open`] needs.
pub struct Files<'a> {
    pub registry: &'a Path,
    pub plugins: &'a PluginSource,
    pub db: &'a Path,
}

/// An opened platform, ready to run the pipeline.
pub struct Platform {
    pub pipeline: Arc<Pipeline>,
    pub runtime: Arc<Runtime>,
    pub store: Arc<dyn Store>,
    pub verifier: Verifier,
    /// Plugins in the folder that did not load, with why (the others run).
    pub plugin_errors: Vec<String>,
    /// Registry snapshot lines that were skipped.
    pub registry_rejected: Vec<SnapshotError>,
}

/// Load plugins and registries, open the store for writing (refusing a second writer),
/// and check the audit log against its published checkpoint before anything is appended.
/// `settings.audit` is replaced by the store's own keys.
pub fn open(files: &Files<'_>, gateway: Arc<dyn Gateway>, settings: Settings) -> anyhow::Result<Platform> {
    let (runtime, plugin_errors) = match files.plugins {
        PluginSource::Loaded(runtime) => (runtime.clone(), Vec::new()),
        PluginSource::Dir(dir) => {
            let runtime = Arc::new(Runtime::new(Limits::default())?);
            let load = runtime.load_dir(dir)?;
            let errors: Vec<String> = load.errors.iter().map(|e| e.to_string()).collect();
            if load.active.is_empty() {
                anyhow::bail!(
                    "no plugin loaded from {}{}",
                    dir.display(),
                    errors.iter().map(|e| format!("\n  {e}")).collect::<String>()
                );
            }
            (runtime, errors)
        }
    };
    let (registry, registry_rejected) = SnapshotRegistry::load_dir(files.registry)?;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_exclusive(files.db)?);
    let key_dir = keys::dir_for(files.db);
    if !key_dir.exists() && !store.audit_rows(0, 1)?.is_empty() {
        // New keys would sign checkpoints the store's old ones contradict: the log would
        // read as broken for good. A moved or restored store needs its keys back.
        anyhow::bail!(
            "the store {} already has an audit log, but its keys folder {} is missing: restore it \
             (or point PROACTIVE_AUDIT_KEYS at it) before running on this store",
            files.db.display(),
            key_dir.display()
        );
    }
    let keys = Keys::load_or_create(&key_dir)?;
    let verifier = keys.verifier();
    audit::check_published(&*store, &verifier, files.db)?;
    let settings = Settings { audit: Arc::new(AuditLog::new(keys)), ..settings };
    let gate = Gate::new(Registries::from_snapshot(registry));
    let pipeline = Arc::new(Pipeline::new(runtime.clone(), gate, store.clone(), gateway, settings));
    Ok(Platform { pipeline, runtime, store, verifier, plugin_errors, registry_rejected })
}
