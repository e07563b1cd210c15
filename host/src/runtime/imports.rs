//! The host side of the plugin imports (`log`, `now`, `config`, `fact`), written once and
//! used by both ways of running plugin code: a wasm instance ([`super::call`]) and a native
//! in-process plugin ([`super::native`], for benchmarks and integration tests).
//!
//! The budgets here are part of the sandbox: a plugin that floods the log or the registry
//! is stopped ([`HostAbuse`]) and its call fails, whatever the remaining fuel.

use super::call::{CallContext, FactDenied};
use crate::model::Timestamp;
use crate::redact::redact;

const MAX_LOG_BYTES: usize = 1024;
const MAX_ARG_BYTES: usize = 256;

/// A plugin misused a host import; its call fails with this reason.
#[derive(Debug, Clone)]
pub struct HostAbuse(pub String);

impl std::fmt::Display for HostAbuse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HostAbuse {}

#[derive(Debug, Clone, Copy)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// Why a fact was withheld (the plugin sees this; it is not a failure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactRefusal {
    UndeclaredScope,
    NoConsent,
}

/// One call's view of the host, with its budgets.
pub struct Imports {
    ctx: Option<CallContext>,
    log_calls: u32,
    host_calls: u32,
    max_log_calls: u32,
    max_host_calls: u32,
}

impl Imports {
    /// `ctx` is `None` while a plugin is being loaded: describing itself needs no host.
    pub fn new(ctx: Option<CallContext>, limits: &super::Limits) -> Self {
        Imports {
            ctx,
            log_calls: 0,
            host_calls: 0,
            max_log_calls: limits.max_log_calls,
            max_host_calls: limits.max_host_calls,
        }
    }

    fn ctx(&self) -> Result<&CallContext, HostAbuse> {
        self.ctx.as_ref().ok_or_else(|| HostAbuse("host imports are unavailable while loading".into()))
    }

    fn count(&mut self) -> Result<(), HostAbuse> {
        self.host_calls += 1;
        if self.host_calls > self.max_host_calls {
            return Err(HostAbuse(format!("more than {} host calls", self.max_host_calls)));
        }
        Ok(())
    }

    pub fn log(&mut self, level: LogLevel, message: &str) -> Result<(), HostAbuse> {
        self.log_calls += 1;
        if self.log_calls > self.max_log_calls {
            return Err(HostAbuse(format!("more than {} log calls", self.max_log_calls)));
        }
        let plugin = self.ctx.as_ref().map(|c| c.plugin_id.as_str()).unwrap_or_default();
        let mut text = redact(message);
        if text.len() > MAX_LOG_BYTES {
            let cut = (0..=MAX_LOG_BYTES).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
            text.truncate(cut);
            text.push('…');
        }
        match level {
            LogLevel::Debug => tracing::debug!(target: "plugin", %plugin, "{text}"),
            LogLevel::Info => tracing::info!(target: "plugin", %plugin, "{text}"),
            LogLevel::Warn => tracing::warn!(target: "plugin", %plugin, "{text}"),
            LogLevel::Error => tracing::error!(target: "plugin", %plugin, "{text}"),
        }
        Ok(())
    }

    pub fn now(&self) -> Result<Timestamp, HostAbuse> {
        Ok(self.ctx()?.now)
    }

    /// The local calendar date of `at`, as (year, month, day).
    pub fn local_date(&mut self, at: Timestamp) -> Result<(i32, u8, u8), HostAbuse> {
        use chrono::Datelike as _;
        self.count()?;
        let d = proactive_sdk::time::local_date(at);
        Ok((d.year(), d.month() as u8, d.day() as u8))
    }

    pub fn config(&mut self, key: &str) -> Result<Option<String>, HostAbuse> {
        self.count()?;
        Ok(self.ctx()?.config.get(key).cloned())
    }

    pub fn fact(
        &mut self,
        person: &str,
        scope: &str,
        key: &str,
    ) -> Result<Result<Option<String>, FactRefusal>, HostAbuse> {
        self.count()?;
        if person.len() > MAX_ARG_BYTES || scope.len() > MAX_ARG_BYTES || key.len() > MAX_ARG_BYTES {
            return Err(HostAbuse("oversized fact arguments".into()));
        }
        let ctx = self.ctx()?;
        if !ctx.declared_scopes.iter().any(|s| s == scope) {
            return Ok(Err(FactRefusal::UndeclaredScope));
        }
        Ok(match ctx.facts.fact(person, scope, key, ctx.now) {
            Ok(v) => Ok(v),
            Err(FactDenied::NoConsent) => Err(FactRefusal::NoConsent),
        })
    }
}
