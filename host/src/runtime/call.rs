//! One plugin call: a fresh store and instance, the host imports, and the limits.
//!
//! A trap, a limit hit or an invalid decision becomes a [`CallFailure`] for that call only;
//! the engine, the pool and every other plugin carry on.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::Runtime;
use super::bindings::{self, AgencyPlugin, host};
use super::imports::{FactRefusal, HostAbuse, Imports, LogLevel};
use crate::model::Timestamp;
use crate::redact::redact;

/// Why the host withheld a fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactDenied {
    NoConsent,
}

/// Where the runtime reads registry facts for a plugin. The gate implements it: it checks
/// the person's consent for the scope before it looks anything up.
pub trait FactSource: Send + Sync {
    fn fact(&self, person: &str, scope: &str, key: &str, at: Timestamp) -> Result<Option<String>, FactDenied>;
}

/// What a call may see: the clock, configuration, and consented facts.
#[derive(Clone)]
pub struct CallContext {
    pub now: Timestamp,
    pub plugin_id: String,
    pub declared_scopes: Arc<Vec<String>>,
    pub config: Arc<BTreeMap<String, String>>,
    pub facts: Arc<dyn FactSource>,
}

/// Why a call produced no decision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallFailure {
    #[error("CPU budget exhausted (fuel)")]
    CpuLimit,
    #[error("memory limit reached")]
    MemoryLimit,
    #[error("wasm stack overflow")]
    StackOverflow,
    #[error("plugin trapped: {0}")]
    Trap(String),
    #[error("plugin abused a host import: {0}")]
    HostAbuse(String),
    #[error("invalid decision: {0}")]
    InvalidDecision(String),
    #[error("instantiation failed: {0}")]
    Instantiate(String),
}

impl CallFailure {
    /// Every [`CallFailure::kind`].
    pub const KINDS: [&'static str; 7] =
        ["cpu-limit", "memory-limit", "stack-overflow", "trap", "host-abuse", "invalid-decision", "instantiate"];

    /// A short label for metrics and reports.
    pub fn kind(&self) -> &'static str {
        match self {
            CallFailure::CpuLimit => "cpu-limit",
            CallFailure::MemoryLimit => "memory-limit",
            CallFailure::StackOverflow => "stack-overflow",
            CallFailure::Trap(_) => "trap",
            CallFailure::HostAbuse(_) => "host-abuse",
            CallFailure::InvalidDecision(_) => "invalid-decision",
            CallFailure::Instantiate(_) => "instantiate",
        }
    }

    /// Whether the failure came from a resource limit rather than the logic itself.
    pub fn is_limit(&self) -> bool {
        matches!(self, CallFailure::CpuLimit | CallFailure::MemoryLimit | CallFailure::StackOverflow)
    }
}

/// The store's data for one call.
pub struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    imports: Imports,
}

impl CallState {
    fn new(ctx: Option<CallContext>, runtime: &Runtime) -> Self {
        let limits = runtime.limits();
        CallState {
            wasi: sealed_wasi(ctx.as_ref().map_or(0, |c| c.now)),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.max_memory_bytes)
                .instances(16)
                .tables(16)
                .memories(8)
                .table_elements(100_000)
                .trap_on_grow_failure(true)
                .build(),
            imports: Imports::new(ctx, limits),
        }
    }
}

/// A WASI context that grants nothing: no preopens, environment, arguments or inherited
/// stdio (the builder's defaults), no sockets, and clocks frozen at the call's host time so
/// a plugin cannot tell the virtual clock from the real one or time its own execution.
fn sealed_wasi(now: Timestamp) -> WasiCtx {
    let mut b = WasiCtx::builder();
    b.allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
    b.wall_clock(FrozenClock(now)).monotonic_clock(FrozenClock(now));
    b.build()
}

struct FrozenClock(Timestamp);

impl wasmtime_wasi::HostWallClock for FrozenClock {
    fn resolution(&self) -> std::time::Duration {
        std::time::Duration::from_secs(1)
    }

    fn now(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.0.max(0) as u64)
    }
}

impl wasmtime_wasi::HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }

    fn now(&self) -> u64 {
        0
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

fn trap(e: HostAbuse) -> wasmtime::Error {
    wasmtime::Error::msg(e)
}

impl host::Host for CallState {
    fn log(&mut self, level: host::Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            host::Level::Debug => LogLevel::Debug,
            host::Level::Info => LogLevel::Info,
            host::Level::Warn => LogLevel::Warn,
            host::Level::Error => LogLevel::Error,
        };
        self.imports.log(level, &message).map_err(trap)
    }

    fn now(&mut self) -> wasmtime::Result<i64> {
        self.imports.now().map_err(trap)
    }

    fn config(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        self.imports.config(&key).map_err(trap)
    }

    fn local_date(&mut self, at: i64) -> wasmtime::Result<host::CalendarDate> {
        let (year, month, day) = self.imports.local_date(at).map_err(trap)?;
        Ok(host::CalendarDate { year, month, day })
    }

    fn fact(
        &mut self,
        person: String,
        scope: String,
        key: String,
    ) -> wasmtime::Result<Result<Option<String>, host::FactError>> {
        let answer = self.imports.fact(&person, &scope, &key).map_err(trap)?;
        Ok(answer.map_err(|r| match r {
            FactRefusal::UndeclaredScope => host::FactError::UndeclaredScope,
            FactRefusal::NoConsent => host::FactError::NoConsent,
        }))
    }
}

impl bindings::types::Host for CallState {}

pub(super) fn linker(engine: &Engine) -> wasmtime::Result<Linker<CallState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    AgencyPlugin::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |s| s)?;
    Ok(linker)
}

/// Run `f` against a fresh instance of a component with the call's budget.
pub(super) fn run<R>(
    runtime: &Runtime,
    pre: &bindings::AgencyPluginPre<CallState>,
    ctx: CallContext,
    f: impl FnOnce(&AgencyPlugin, &mut Store<CallState>) -> wasmtime::Result<R>,
) -> Result<R, CallFailure> {
    run_pre(runtime, pre, Some(ctx), f)
}

pub(super) fn run_pre<R>(
    runtime: &Runtime,
    pre: &bindings::AgencyPluginPre<CallState>,
    ctx: Option<CallContext>,
    f: impl FnOnce(&AgencyPlugin, &mut Store<CallState>) -> wasmtime::Result<R>,
) -> Result<R, CallFailure> {
    let mut store = Store::new(runtime.engine(), CallState::new(ctx, runtime));
    store.limiter(|s| &mut s.limits);
    store.set_fuel(runtime.limits().fuel).map_err(|e| CallFailure::Instantiate(first_line(&e)))?;
    let instance = pre.instantiate(&mut store).map_err(classify)?;
    f(&instance, &mut store).map_err(classify)
}

fn classify(err: wasmtime::Error) -> CallFailure {
    if let Some(abuse) = err.downcast_ref::<HostAbuse>() {
        return CallFailure::HostAbuse(abuse.0.clone());
    }
    if let Some(trap) = err.downcast_ref::<Trap>() {
        return match trap {
            Trap::OutOfFuel => CallFailure::CpuLimit,
            Trap::StackOverflow => CallFailure::StackOverflow,
            other => CallFailure::Trap(other.to_string()),
        };
    }
    let text = format!("{err:#}");
    if text.contains("forcing trap when growing") || text.contains("forcing a memory growth failure") {
        return CallFailure::MemoryLimit;
    }
    CallFailure::Trap(first_line(&err))
}

fn first_line(err: &wasmtime::Error) -> String {
    let text = err.to_string();
    let line = text.lines().next().unwrap_or("").to_owned();
    redact(&line)
}

#[cfg(test)]
mod tests {
    use super::CallFailure;

    #[test]
    fn kinds_lists_every_kind() {
        let s = String::new;
        let all = [
            CallFailure::CpuLimit,
            CallFailure::MemoryLimit,
            CallFailure::StackOverflow,
            CallFailure::Trap(s()),
            CallFailure::HostAbuse(s()),
            CallFailure::InvalidDecision(s()),
            CallFailure::Instantiate(s()),
        ];
        assert_eq!(all.map(|f| f.kind()), CallFailure::KINDS);
    }
}
