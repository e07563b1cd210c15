//! The sandbox: loads agency components, validates them, and runs each call in a fresh,
//! limited instance.
//!
//! **Architecture invariant:** the runtime knows nothing about SQL, SMS or the gate's
//! registries. It gets facts through [`FactSource`] and hands back validated
//! [`crate::model::Decision`]s; everything with side effects happens in the pipeline.

mod bindings;
mod breaker;
mod call;
mod imports;
mod limits;
mod loader;
mod manifest;
mod native;

pub use call::{CallContext, CallFailure, FactDenied, FactSource};
pub use limits::Limits;
pub use loader::{LoadError, LoadReport, MAX_COMPONENT_BYTES, read_dir};
pub use manifest::{ManifestError, ServiceSpec, TemplateSpec};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::model::{Decision, Event, PluginRef, Timestamp};
use bindings::AgencyPluginPre;
use call::CallState;

/// One loaded, validated plugin: its code plus what it declared.
pub struct LoadedPlugin {
    pub reference: PluginRef,
    pub services: Vec<ServiceSpec>,
    code: Code,
}

/// How a plugin's code runs.
enum Code {
    /// A component: a pre-linked instance template, instantiated fresh for every call.
    Wasm(AgencyPluginPre<CallState>),
    /// Compiled into the host, for benchmarks and tests only (no isolation).
    Native(native::NativeCode),
}

impl LoadedPlugin {
    pub fn service(&self, id: &str) -> Option<&ServiceSpec> {
        self.services.iter().find(|s| s.id == id)
    }
}

/// The engine, the linker, and the set of active plugins.
///
/// The active set sits behind an `Arc` swap so that a reload (a later issue) replaces it
/// atomically while calls already running keep the plugin they started with.
pub struct Runtime {
    engine: Engine,
    linker: Linker<CallState>,
    limits: Limits,
    active: RwLock<Arc<PluginSet>>,
    breaker: breaker::Breaker,
}

/// The active plugins, indexed by service id.
#[derive(Default)]
pub struct PluginSet {
    by_service: BTreeMap<String, Arc<LoadedPlugin>>,
    /// Plugin ids loaded but not taking new events (disabled, or tripped by the breaker):
    /// their services still open cases, which wait until the plugin is back.
    paused: BTreeSet<String>,
}

impl PluginSet {
    /// Whether a plugin takes new events now.
    pub fn is_paused(&self, plugin_id: &str) -> bool {
        self.paused.contains(plugin_id)
    }

    /// The plugin that carries a service, with that service's spec.
    pub fn service(&self, id: &str) -> Option<(&Arc<LoadedPlugin>, &ServiceSpec)> {
        let plugin = self.by_service.get(id)?;
        Some((plugin, plugin.service(id)?))
    }

    /// Services subscribed to an event kind, in service-id order (deterministic fan-out).
    pub fn subscribers<'a>(
        &'a self,
        kind: &'a str,
    ) -> impl Iterator<Item = (&'a Arc<LoadedPlugin>, &'a ServiceSpec)> + 'a {
        self.by_service
            .iter()
            .filter_map(move |(id, p)| p.service(id).map(|s| (p, s)))
            .filter(move |(_, s)| s.subscribes.iter().any(|k| k == kind))
    }

    pub fn services(&self) -> impl Iterator<Item = (&Arc<LoadedPlugin>, &ServiceSpec)> {
        self.by_service.iter().filter_map(|(id, p)| p.service(id).map(|s| (p, s)))
    }

    pub fn is_empty(&self) -> bool {
        self.by_service.is_empty()
    }
}

impl Runtime {
    pub fn new(limits: Limits) -> anyhow::Result<Self> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.consume_fuel(true);
        config.max_wasm_stack(limits.max_stack_bytes);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(limits.pool_instances);
        pool.total_core_instances(limits.pool_instances * 8);
        pool.total_memories(limits.pool_instances * 2);
        pool.total_tables(limits.pool_instances * 4);
        pool.max_memory_size(limits.max_memory_bytes);
        pool.max_memories_per_component(4);
        pool.max_tables_per_component(8);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(|e| anyhow::anyhow!("creating the wasm engine: {e:#}"))?;
        let linker = call::linker(&engine).map_err(|e| anyhow::anyhow!("linking the host imports: {e:#}"))?;
        let breaker = breaker::Breaker::new(limits.breaker_failures);
        Ok(Runtime { engine, linker, limits, active: RwLock::new(Arc::new(PluginSet::default())), breaker })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The active plugins. Hold the `Arc` for the duration of a piece of work.
    pub fn active(&self) -> Arc<PluginSet> {
        self.active.read().expect("plugin set lock poisoned").clone()
    }

    /// Compile and validate one component. Nothing changes in the active set.
    pub fn load(&self, name: &str, bytes: &[u8]) -> Result<LoadedPlugin, LoadError> {
        loader::load(self, name, bytes)
    }

    /// Make `plugins` the active set. Two plugins may not carry the same service: the
    /// later one is refused and reported.
    pub fn activate(&self, plugins: Vec<LoadedPlugin>) -> Vec<LoadError> {
        let mut set = PluginSet::default();
        let mut errors = Vec::new();
        for plugin in plugins {
            let plugin = Arc::new(plugin);
            if let Some(dup) = plugin.services.iter().find(|s| set.by_service.contains_key(&s.id)) {
                errors.push(LoadError::new(
                    &plugin.reference.id,
                    loader::LoadErrorKind::DuplicateService(dup.id.clone()),
                ));
                continue;
            }
            for s in &plugin.services {
                set.by_service.insert(s.id.clone(), plugin.clone());
            }
            crate::metrics::plugin_loaded(&plugin.reference.id);
        }
        *self.active.write().expect("plugin set lock poisoned") = Arc::new(set);
        errors
    }

    /// Put one plugin in place of whatever carried its id (`None`: take it out), atomically:
    /// work already holding the previous set finishes on it. Refused, changing nothing, when
    /// another plugin already carries one of its services.
    pub fn set_plugin(&self, id: &str, plugin: Option<LoadedPlugin>) -> Result<(), LoadError> {
        self.replace_plugin(id, plugin, false)
    }

    /// As [`Runtime::set_plugin`], with the new plugin paused or not, in the same swap.
    /// A plugin put in place starts with a clean failure count.
    pub fn replace_plugin(&self, id: &str, plugin: Option<LoadedPlugin>, paused: bool) -> Result<(), LoadError> {
        let mut active = self.active.write().expect("plugin set lock poisoned");
        let mut by_service: BTreeMap<String, Arc<LoadedPlugin>> = active
            .by_service
            .iter()
            .filter(|(_, p)| p.reference.id != id)
            .map(|(s, p)| (s.clone(), p.clone()))
            .collect();
        if let Some(plugin) = plugin {
            let plugin = Arc::new(plugin);
            if let Some(dup) = plugin.services.iter().find(|s| by_service.contains_key(&s.id)) {
                return Err(LoadError::new(id, loader::LoadErrorKind::DuplicateService(dup.id.clone())));
            }
            crate::metrics::plugin_loaded(id);
            for s in &plugin.services {
                by_service.insert(s.id.clone(), plugin.clone());
            }
        }
        let mut paused_ids = active.paused.clone();
        paused_ids.remove(id);
        if paused {
            paused_ids.insert(id.to_owned());
        }
        *active = Arc::new(PluginSet { by_service, paused: paused_ids });
        self.breaker.reset(id);
        Ok(())
    }

    /// Stop (or resume) a loaded plugin taking new events, keeping it loaded.
    pub fn set_paused(&self, id: &str, paused: bool) {
        let mut active = self.active.write().expect("plugin set lock poisoned");
        let mut ids = active.paused.clone();
        if paused {
            ids.insert(id.to_owned());
        } else {
            ids.remove(id);
            self.breaker.reset(id);
        }
        *active = Arc::new(PluginSet { by_service: active.by_service.clone(), paused: ids });
    }

    /// Plugins the breaker has paused since the last look, for the caller to record.
    pub fn take_tripped(&self) -> Vec<String> {
        self.breaker.take_tripped()
    }

    /// The plugin carrying an id in the active set.
    pub fn plugin(&self, id: &str) -> Option<Arc<LoadedPlugin>> {
        self.active().by_service.values().find(|p| p.reference.id == id).cloned()
    }

    /// Tells compiled artifacts of this engine build and configuration from any other.
    pub fn compatibility_hash(&self) -> impl std::hash::Hash + '_ {
        self.engine.precompile_compatibility_hash()
    }

    /// Load from an artifact of [`Runtime::precompile`], failing (not compiling) when it
    /// does not deserialize.
    pub fn load_artifact(&self, name: &str, bytes: &[u8], artifact: &[u8]) -> Result<LoadedPlugin, LoadError> {
        loader::load_artifact(self, name, bytes, artifact)
    }

    /// Load every `*.wasm` in a folder (through a capability handle, so names cannot
    /// escape it) and activate the ones that validate.
    pub fn load_dir(&self, dir: &std::path::Path) -> anyhow::Result<LoadReport> {
        let mut report = loader::load_dir(self, dir)?;
        let loaded = std::mem::take(&mut report.loaded);
        let refs: Vec<PluginRef> = loaded.iter().map(|p| p.reference.clone()).collect();
        let dup_errors = self.activate(loaded);
        report.active = refs.into_iter().filter(|r| !dup_errors.iter().any(|e| e.file == r.id)).collect();
        report.errors.extend(dup_errors);
        Ok(report)
    }

    /// Compile a component ahead of time into an artifact for [`Runtime::load_precompiled`]
    /// (the on-disk cache keeps these, keyed on the engine's compatibility hash).
    pub fn precompile(&self, bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
        self.engine.precompile_component(bytes).map_err(|e| anyhow::anyhow!("precompiling: {e:#}"))
    }

    /// Load a component from an artifact [`Runtime::precompile`] made from the same bytes.
    /// An artifact that does not load (another engine build, corruption) falls back to a
    /// cold compile: a cache miss, never an error.
    pub fn load_precompiled(&self, name: &str, bytes: &[u8], artifact: &[u8]) -> Result<LoadedPlugin, LoadError> {
        loader::load_precompiled(self, name, bytes, artifact)
    }

    /// Load the same plugin logic compiled natively, validated like a component. For
    /// benchmarks and tests: native code runs without isolation.
    pub fn load_native<P: proactive_sdk::Plugin>(&self, id: &str) -> Result<LoadedPlugin, LoadError> {
        native::load::<P>(id)
    }

    pub fn on_event(
        &self,
        plugin: &LoadedPlugin,
        service: &ServiceSpec,
        ctx: CallContext,
        event: &Event,
    ) -> Result<Decision, CallFailure> {
        self.observed(plugin, "event", || {
            let ev = bindings::to_wit_event(event);
            let raw = match &plugin.code {
                Code::Wasm(pre) => call::run(self, pre, ctx, |p, store| {
                    p.kz_gov_proactive_service().call_on_event(store, &service.id, &ev)
                })?,
                Code::Native(n) => {
                    native::run(ctx, &self.limits, || (n.on_event)(&service.id, &native::event_to_sdk(&ev)))?
                }
            };
            bindings::decision_from_wit(raw, service, bindings::Stage::Event)
        })
    }

    pub fn on_reply(
        &self,
        plugin: &LoadedPlugin,
        service: &ServiceSpec,
        ctx: CallContext,
        case: &CaseInput<'_>,
        reply: &ReplyInput<'_>,
    ) -> Result<Decision, CallFailure> {
        self.observed(plugin, "reply", || {
            let view = bindings::to_wit_case(case);
            let r = bindings::to_wit_reply(reply);
            let raw = match &plugin.code {
                Code::Wasm(pre) => call::run(self, pre, ctx, |p, store| {
                    p.kz_gov_proactive_service().call_on_reply(store, &service.id, &view, &r)
                })?,
                Code::Native(n) => native::run(ctx, &self.limits, || {
                    (n.on_reply)(&service.id, &native::case_to_sdk(&view), &native::reply_to_sdk(&r))
                })?,
            };
            bindings::decision_from_wit(raw, service, bindings::Stage::Reply)
        })
    }

    pub fn on_timeout(
        &self,
        plugin: &LoadedPlugin,
        service: &ServiceSpec,
        ctx: CallContext,
        case: &CaseInput<'_>,
    ) -> Result<Decision, CallFailure> {
        self.observed(plugin, "timeout", || {
            let view = bindings::to_wit_case(case);
            let raw = match &plugin.code {
                Code::Wasm(pre) => call::run(self, pre, ctx, |p, store| {
                    p.kz_gov_proactive_service().call_on_timeout(store, &service.id, &view)
                })?,
                Code::Native(n) => {
                    native::run(ctx, &self.limits, || (n.on_timeout)(&service.id, &native::case_to_sdk(&view)))?
                }
            };
            bindings::decision_from_wit(raw, service, bindings::Stage::Timeout)
        })
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    pub(crate) fn linker(&self) -> &Linker<CallState> {
        &self.linker
    }

    /// Binary components only: accepting the text format too would turn a corrupt upload's
    /// error into a confusing UTF-8 complaint.
    pub(crate) fn compile(&self, bytes: &[u8]) -> wasmtime::Result<Component> {
        Component::from_binary(&self.engine, bytes)
    }
}

impl Runtime {
    /// Time one call, count it in the metrics, and tell the breaker how it went: enough
    /// failures in a row pause the plugin.
    fn observed(
        &self,
        plugin: &LoadedPlugin,
        stage: &'static str,
        call: impl FnOnce() -> Result<Decision, CallFailure>,
    ) -> Result<Decision, CallFailure> {
        let started = std::time::Instant::now();
        let result = call();
        let id = &plugin.reference.id;
        crate::metrics::plugin_call(id, stage, started.elapsed(), result.as_ref().err());
        if self.breaker.record(id, result.is_ok()) {
            tracing::warn!(plugin = %id, "circuit breaker: {} failed calls in a row; the plugin is paused", self.limits.breaker_failures);
            crate::metrics::breaker_trip(id);
            self.set_paused(id, true);
        }
        result
    }
}

/// What a plugin sees of an open case.
pub struct CaseInput<'a> {
    pub case_id: i64,
    pub event: &'a Event,
    pub state: &'a str,
    pub asks: u32,
    pub offered_at: Timestamp,
}

/// A citizen's reply as the host read it.
pub struct ReplyInput<'a> {
    pub text: &'a str,
    pub answer: crate::sms::reply::Answer,
    pub received_at: Timestamp,
}
