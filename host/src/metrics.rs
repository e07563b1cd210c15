//! What operators watch, through the `metrics` facade. `serve` installs a Prometheus
//! recorder and renders it at `/metrics`; with none installed (batch runs, benchmarks)
//! every function here returns after one relaxed atomic load, before building a label.
//!
//! Labels carry only plugin ids, stages and fixed outcome words: never an identifier, so
//! nothing personal can reach a scrape.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use metrics::{counter, describe_counter, describe_histogram, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::runtime::CallFailure;

const CALL_BUCKETS: [f64; 12] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.0];

/// Whether a recorder is installed: the plugin-call path would otherwise allocate its
/// labels for nothing on every call of a batch run.
static RECORDING: AtomicBool = AtomicBool::new(false);

fn recording() -> bool {
    RECORDING.load(Ordering::Relaxed)
}

/// Install the process-wide Prometheus recorder (once; later calls return `None`).
pub fn install() -> Option<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &CALL_BUCKETS)
        .ok()?
        .install_recorder()
        .ok()?;
    RECORDING.store(true, Ordering::Relaxed);
    describe_counter!("proactive_plugin_invocations_total", "Plugin export calls, by plugin and stage.");
    describe_counter!("proactive_plugin_errors_total", "Plugin calls that failed, by plugin and kind.");
    describe_counter!(
        "proactive_plugin_limit_kills_total",
        "Plugin calls stopped by a sandbox limit (cpu, memory, stack), by plugin and limit."
    );
    describe_histogram!(
        "proactive_plugin_call_duration_seconds",
        metrics::Unit::Seconds,
        "Wall time of one plugin call, fresh instance included."
    );
    describe_counter!("proactive_pipeline_total", "Pipeline steps, by stage and outcome.");
    describe_counter!(
        "proactive_plugin_breaker_trips_total",
        "Times the circuit breaker paused a plugin after consecutive failures, by plugin."
    );
    Some(handle)
}

/// Register a plugin's series at zero when it is loaded, so a scrape shows "no errors yet"
/// rather than no data, and rate() over them works from the first failure on.
pub fn plugin_loaded(plugin: &str) {
    if !recording() {
        return;
    }
    for stage in ["event", "reply", "timeout"] {
        counter!("proactive_plugin_invocations_total", "plugin" => plugin.to_owned(), "stage" => stage).increment(0);
    }
    for kind in CallFailure::KINDS {
        counter!("proactive_plugin_errors_total", "plugin" => plugin.to_owned(), "kind" => kind).increment(0);
    }
    for limit in ["cpu", "memory", "stack"] {
        counter!("proactive_plugin_limit_kills_total", "plugin" => plugin.to_owned(), "limit" => limit).increment(0);
    }
    counter!("proactive_plugin_breaker_trips_total", "plugin" => plugin.to_owned()).increment(0);
}

/// One plugin call, as the runtime saw it.
pub fn plugin_call(plugin: &str, stage: &'static str, elapsed: Duration, failure: Option<&CallFailure>) {
    if !recording() {
        return;
    }
    let plugin = plugin.to_owned();
    counter!("proactive_plugin_invocations_total", "plugin" => plugin.clone(), "stage" => stage).increment(1);
    histogram!("proactive_plugin_call_duration_seconds", "plugin" => plugin.clone()).record(elapsed.as_secs_f64());
    if let Some(f) = failure {
        counter!("proactive_plugin_errors_total", "plugin" => plugin.clone(), "kind" => f.kind()).increment(1);
        let limit = match f {
            CallFailure::CpuLimit => Some("cpu"),
            CallFailure::MemoryLimit => Some("memory"),
            CallFailure::StackOverflow => Some("stack"),
            _ => None,
        };
        if let Some(limit) = limit {
            counter!("proactive_plugin_limit_kills_total", "plugin" => plugin, "limit" => limit).increment(1);
        }
    }
}

/// The circuit breaker paused a plugin.
pub fn breaker_trip(plugin: &str) {
    if !recording() {
        return;
    }
    counter!("proactive_plugin_breaker_trips_total", "plugin" => plugin.to_owned()).increment(1);
}

/// One pipeline step: `stage` is where (`intake`, `gate`, `decision`, `sms`, `reply`,
/// `timeout`), `outcome` a fixed word for what happened there.
pub fn step(stage: &'static str, outcome: &'static str) {
    if !recording() {
        return;
    }
    counter!("proactive_pipeline_total", "stage" => stage, "outcome" => outcome).increment(1);
}
