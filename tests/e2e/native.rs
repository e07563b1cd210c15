//! The same plugin logic, compiled natively and as components, must decide identically on
//! the real host path. The benchmarks compare the two to price the sandbox, so this is what
//! makes that comparison honest.

use std::sync::Arc;

use proactive_host::demo::{self, PluginSource, Scenario};
use proactive_host::runtime::{Limits, Runtime};

use crate::support::{TestDir, open_store};

fn native_runtime() -> Arc<Runtime> {
    let runtime = Runtime::new(Limits::default()).expect("a runtime");
    let plugins = vec![
        runtime.load_native::<plugin_health::NewbornAttachment>("health").expect("health loads natively"),
        runtime.load_native::<plugin_labour::ChildbirthBenefit>("labour").expect("labour loads natively"),
        runtime.load_native::<plugin_defence::ConscriptionRegistration>("defence").expect("defence loads natively"),
        runtime.load_native::<plugin_education::PreschoolQueue>("education").expect("education loads natively"),
    ];
    assert!(runtime.activate(plugins).is_empty());
    Arc::new(runtime)
}

/// Every case's outcome and every SMS text, in a comparable order.
fn outcomes(db: &std::path::Path) -> Vec<String> {
    let db = open_store(db);
    let mut rows: Vec<String> = db
        .prepare(
            "SELECT c.event_id || ' ' || c.service || ' ' || c.state || ' ' || COALESCE(c.ground, c.reason, '') \
             || ' asks=' || c.asks || ' result=' || COALESCE(c.result, '') FROM cases c",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let texts: Vec<String> = db
        .prepare("SELECT COALESCE(c.event_id, '-') || ' ' || o.kind || ' ' || o.text FROM outbox o LEFT JOIN cases c ON c.id = o.case_id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows.extend(texts);
    rows.sort();
    rows
}

#[test]
fn native_and_component_plugins_decide_identically() {
    let t = TestDir::new();
    let out = t.path().join("scenario");
    demo::generate(&out, 400, 5).expect("generating a scenario");
    let run = |plugins: PluginSource, db: &str| {
        let scenario = Scenario {
            events: out.join(demo::EVENTS_FILE),
            registry: out.join(demo::REGISTRY_DIR),
            replies: None,
            subscribers: Some(out.join(demo::SUBSCRIBERS_FILE)),
            plugins,
            db: t.path().join(db),
            until: None,
        };
        let outcome = demo::run_scenario(&scenario, |_| {}).expect("the scenario runs");
        assert!(outcome.report.services.iter().all(|s| s.failed.is_empty()), "no failures expected");
        outcomes(&t.path().join(db))
    };
    let wasm = run(PluginSource::Dir(t.plugins(&[])), "wasm.sqlite");
    let native = run(PluginSource::Loaded(native_runtime()), "native.sqlite");
    assert!(wasm.len() > 500, "the scenario is too small to compare: {} rows", wasm.len());
    let first_difference = wasm.iter().zip(&native).position(|(a, b)| a != b);
    assert_eq!(wasm.len(), native.len(), "different numbers of cases and messages");
    assert_eq!(first_difference, None, "first difference: {:?}", first_difference.map(|i| (&wasm[i], &native[i])));
}
