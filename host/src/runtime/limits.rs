//! Per-call resource limits. Every call gets the same budget, so one ministry's slow or
//! hostile code fails its own case and never starves the others.

/// Budgets for one plugin call and sizes for the instance pool.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Fuel (roughly, wasm instructions) per call. Fuel rather than epochs: it is
    /// deterministic, so a decision replayed on another machine hits the same limit.
    pub fuel: u64,
    /// Linear memory per instance.
    pub max_memory_bytes: usize,
    /// Wasm stack per call.
    pub max_stack_bytes: usize,
    /// Instances the pooling allocator keeps slots for (calls that may run at once).
    pub pool_instances: u32,
    /// Host `log` calls allowed per plugin call; more is abuse and traps.
    pub max_log_calls: u32,
    /// Host `fact`/`config` calls allowed per plugin call.
    pub max_host_calls: u32,
    /// Consecutive failed calls after which a plugin is paused (the circuit breaker);
    /// `0` never pauses.
    pub breaker_failures: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 200_000_000,
            max_memory_bytes: 64 << 20,
            max_stack_bytes: 512 << 10,
            pool_instances: 32,
            max_log_calls: 64,
            max_host_calls: 1_000,
            breaker_failures: 10,
        }
    }
}
