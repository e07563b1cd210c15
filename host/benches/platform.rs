//! Platform benchmarks. Run with `cargo xtask bench` (which builds the components first);
//! the results replace the platform section of `BENCHMARKS.md`.
//!
//! Every figure is a ratio or a rate measured in the same run on the same machine, reported
//! as the median of several rounds with the min–max spread, because these machines are
//! shared and noisy. Nothing here asserts a threshold.
//!
//! - (a) decision cost: one `on_event` through `Runtime::on_event` (fresh instance, imports,
//!   decision validation) for each ministry plugin, as a component and compiled natively;
//! - (b) pipeline throughput: events from intake to durable "SMS queued" (`Pipeline::ingest`
//!   into SQLite), components against native plugins;
//! - (c) population batch: the whole lifecycle (offers, replies, timers) for many events, in
//!   a child process so its peak memory is its own;
//! - (d) plugin load: a cold compile against loading a precompiled artifact.

mod common;

use common::stat;

use std::fmt::Write as _;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use proactive_host::demo;
use proactive_host::gate::{Gate, Registries, SnapshotRegistry, Verdict};
use proactive_host::intake::{ndjson, parse_event};
use proactive_host::model::Event;
use proactive_host::pipeline::{Pipeline, Settings, default_config};
use proactive_host::runtime::{CallContext, Limits, LoadedPlugin, Runtime};
use proactive_host::sms::sim::SimNetwork;
use proactive_host::store::sqlite::SqliteStore;

const PLUGINS: [&str; 4] = ["health", "labour", "defence", "education"];

struct Args {
    plugins: PathBuf,
    out: PathBuf,
    people: usize,
    batch_events: usize,
    rounds: usize,
    batch_only: Option<PathBuf>,
    /// Which parts to run, e.g. "ab" (default: all of "abcd").
    only: String,
}

fn args() -> Args {
    let mut a = Args {
        plugins: PathBuf::from("target/plugins"),
        out: PathBuf::from("BENCHMARKS.md"),
        people: 20_000,
        batch_events: 100_000,
        rounds: 7,
        batch_only: None,
        only: "abcd".into(),
    };
    common::parse_flags(|flag, value| {
        match flag {
            "--plugins" => a.plugins = value.into(),
            "--out" => a.out = value.into(),
            "--people" => a.people = value.parse().expect("--people N"),
            "--batch-events" => a.batch_events = value.parse().expect("--batch-events N"),
            "--rounds" => a.rounds = value.parse().expect("--rounds N"),
            "--batch-only" => a.batch_only = Some(value.into()),
            "--only" => a.only = value,
            _ => return false,
        }
        true
    });
    a
}

fn read_events(path: &Path) -> Vec<Event> {
    let file = BufReader::new(File::open(path).expect("events file"));
    ndjson::lines(file).filter_map(|l| l.result.ok().and_then(|m| parse_event(&m).ok())).collect()
}

fn wasm_runtime(dir: &Path) -> Arc<Runtime> {
    let runtime = Runtime::new(Limits::default()).expect("runtime");
    let report = runtime.load_dir(dir).expect("plugins folder");
    assert!(report.errors.is_empty() && report.active.len() == 4, "run `cargo xtask plugins` first");
    Arc::new(runtime)
}

fn native_runtime() -> Arc<Runtime> {
    let runtime = Runtime::new(Limits::default()).expect("runtime");
    let plugins: Vec<LoadedPlugin> = vec![
        runtime.load_native::<plugin_health::NewbornAttachment>("health").expect("native health"),
        runtime.load_native::<plugin_labour::ChildbirthBenefit>("labour").expect("native labour"),
        runtime.load_native::<plugin_defence::ConscriptionRegistration>("defence").expect("native defence"),
        runtime.load_native::<plugin_education::PreschoolQueue>("education").expect("native education"),
    ];
    assert!(runtime.activate(plugins).is_empty());
    Arc::new(runtime)
}

struct Scenario {
    _dir: tempfile::TempDir,
    path: PathBuf,
    events: Vec<Event>,
    gate: Gate,
}

fn scenario(people: usize, seed: u64) -> Scenario {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().to_path_buf();
    demo::generate(&path, people, seed).expect("generating");
    let events = read_events(&path.join(demo::EVENTS_FILE));
    let (registry, _) = SnapshotRegistry::load_dir(&path.join(demo::REGISTRY_DIR)).expect("registry");
    Scenario { _dir: dir, path, events, gate: Gate::new(Registries::from_snapshot(registry)) }
}

/// (a) ns per decision, for each plugin, wasm and native, interleaved per round.
fn decision_cost(s: &Scenario, wasm: &Runtime, native: &Runtime, rounds: usize, md: &mut String) -> Vec<f64> {
    let config = Arc::new(default_config());
    let _ = writeln!(md, "| plugin | component (ns/decision) | native (ns/decision) | ratio |\n|---|---|---|---|");
    let mut ratios = Vec::new();
    let (wasm_set, native_set) = (wasm.active(), native.active());
    for (w, n) in wasm_set.services().zip(native_set.services()) {
        let (service, spec) = (&w.1.id, w.1);
        let eligible: Vec<&Event> = s
            .events
            .iter()
            .filter(|e| spec.subscribes.contains(&e.kind))
            .filter(|e| matches!(s.gate.check_offer(e, spec, e.occurred_at), Verdict::Pass(_)))
            .take(200)
            .collect();
        let calls = 400;
        let time = |rt: &Runtime, plugin: &LoadedPlugin| {
            let start = Instant::now();
            for i in 0..calls {
                let e = eligible[i % eligible.len()];
                let ctx = CallContext {
                    now: e.occurred_at,
                    plugin_id: plugin.reference.id.clone(),
                    declared_scopes: Arc::new(spec.consent_scopes.clone()),
                    config: config.clone(),
                    facts: s.gate.facts(),
                };
                let decision = rt.on_event(plugin, spec, ctx, e);
                std::hint::black_box(decision.expect("a decision"));
            }
            start.elapsed().as_nanos() as f64 / calls as f64
        };
        let (mut ws, mut ns) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            ws.push(time(wasm, w.0));
            ns.push(time(native, n.0));
        }
        let r: Vec<f64> = ws.iter().zip(&ns).map(|(w, n)| w / n).collect();
        let (ws, ns, rs) = (stat(&ws), stat(&ns), stat(&r));
        ratios.push(rs.median);
        let _ = writeln!(
            md,
            "| {service} | {} | {} | {:.1}× ({:.1}–{:.1}) |",
            ws.show(""),
            ns.show(""),
            rs.median,
            rs.min,
            rs.max
        );
    }
    ratios
}

/// (b) events/s from intake to "SMS queued", components and native, fresh store per round.
fn pipeline_throughput(s: &Scenario, wasm: &Arc<Runtime>, native: &Arc<Runtime>, rounds: usize, md: &mut String) {
    let run = |rt: &Arc<Runtime>, round: usize, label: &str| {
        let db = s.path.join(format!("bench-{label}-{round}.sqlite"));
        let store = Arc::new(SqliteStore::open(&db).expect("store"));
        let network = Arc::new(SimNetwork::new(Default::default()));
        let pipeline = Pipeline::new(rt.clone(), s.gate.clone(), store, network, Settings::default());
        let start = Instant::now();
        for e in &s.events {
            pipeline.ingest(e, e.occurred_at).expect("ingest");
        }
        let secs = start.elapsed().as_secs_f64();
        drop(pipeline);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
        secs
    };
    let (mut w, mut n, mut share) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let tw = run(wasm, round, "wasm");
        let tn = run(native, round, "native");
        w.push(s.events.len() as f64 / tw);
        n.push(s.events.len() as f64 / tn);
        share.push(100.0 * (tw - tn) / tw);
    }
    let _ = writeln!(
        md,
        "{} events ({} cases) per round, {rounds} rounds.\n\n| plugins | events/s |\n|---|---|\n| components | {} |\n| native | {} |\n\nSandbox share of the end-to-end cost: **{}**.",
        s.events.len(),
        s.events.len() * 3,
        stat(&w).show("ev/s"),
        stat(&n).show("ev/s"),
        stat(&share).show("%"),
    );
}

/// (c) in this process: the whole lifecycle for a population; prints one result line.
fn batch_only(plugins: &Path, events: usize) {
    let people = (events as f64 / 0.295) as usize;
    let t0 = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    demo::generate(dir.path(), people, 42).expect("generating");
    let generated = t0.elapsed().as_secs_f64();
    let scenario = demo::Scenario {
        events: dir.path().join(demo::EVENTS_FILE),
        registry: dir.path().join(demo::REGISTRY_DIR),
        replies: None,
        subscribers: Some(dir.path().join(demo::SUBSCRIBERS_FILE)),
        plugins: demo::PluginSource::Dir(plugins.to_path_buf()),
        db: dir.path().join("batch.sqlite"),
        until: None,
    };
    let outcome = demo::run_scenario(&scenario, |_| {}).expect("batch run");
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm_kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    println!(
        "BATCH events={} seconds={:.2} generate_seconds={generated:.2} peak_mib={:.0}",
        outcome.stats.events_new,
        outcome.stats.elapsed.as_secs_f64(),
        hwm_kb / 1024.0
    );
}

fn population_batch(args: &Args, md: &mut String) {
    let exe = std::env::current_exe().expect("own path");
    let out = std::process::Command::new(exe)
        .args(["--batch-only", args.plugins.to_str().expect("utf-8 path"), "--batch-events"])
        .arg(args.batch_events.to_string())
        .output()
        .expect("running the batch child");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("BATCH "))
        .unwrap_or_else(|| panic!("batch failed: {}", String::from_utf8_lossy(&out.stderr)));
    let field = |k: &str| -> f64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    let (events, secs, peak) = (field("events"), field("seconds"), field("peak_mib"));
    let rate = events / secs;
    let _ = writeln!(
        md,
        "{events:.0} events through the whole lifecycle (offers, SMS, scripted replies, timers) in {secs:.1} s: \
         **{rate:.0} events/s**, peak memory {peak:.0} MiB (one run; generating the population took {:.1} s and is not counted).\n\n\
         Extrapolated to 20 million events at this rate: **{:.1} hours** (target: 15 minutes, i.e. 22,222 events/s).",
        field("generate_seconds"),
        20_000_000.0 / rate / 3600.0
    );
}

/// (d) ms to load each component: cold compile vs precompiled artifact.
fn plugin_load(args: &Args, rounds: usize, md: &mut String) {
    let runtime = Runtime::new(Limits::default()).expect("runtime");
    let _ = writeln!(md, "| plugin | size | cold compile (ms) | from artifact (ms) | ratio |\n|---|---|---|---|---|");
    for name in PLUGINS {
        let bytes = std::fs::read(args.plugins.join(format!("{name}.wasm"))).expect("component");
        let artifact = runtime.precompile(&bytes).expect("precompile");
        let (mut cold, mut warm) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let t = Instant::now();
            std::hint::black_box(runtime.load(name, &bytes).expect("cold load"));
            cold.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            std::hint::black_box(runtime.load_precompiled(name, &bytes, &artifact).expect("warm load"));
            warm.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let r: Vec<f64> = cold.iter().zip(&warm).map(|(c, w)| c / w).collect();
        let rs = stat(&r);
        let _ = writeln!(
            md,
            "| {name} | {} KiB | {} | {} | {:.0}× ({:.0}–{:.0}) |",
            bytes.len() / 1024,
            stat(&cold).show(""),
            stat(&warm).show(""),
            rs.median,
            rs.min,
            rs.max
        );
    }
}

const START: &str = "<!-- platform-benchmarks:start -->";
const END: &str = "<!-- platform-benchmarks:end -->";

fn main() {
    let args = args();
    if let Some(plugins) = &args.batch_only {
        batch_only(plugins, args.batch_events);
        return;
    }
    let mut md = String::new();
    let _ = writeln!(
        md,
        "## Platform (`cargo xtask bench`)\n\nMachine: {}. Release build (`cargo bench` profile). Each figure is the median of {} rounds with the min–max spread in brackets; ratios are taken per round, then summarised.\n",
        common::machine(),
        args.rounds
    );
    eprintln!("generating a population of {} …", args.people);
    let s = scenario(args.people, 2026);
    let (wasm, native) = (wasm_runtime(&args.plugins), native_runtime());

    let run = |part: char| args.only.contains(part);
    if run('a') {
        eprintln!("(a) decision cost …");
        let _ = writeln!(
            md,
            "### (a) Decision cost: component against native\n\nOne `on_event` for an eligible event, through `Runtime::on_event`: a fresh instance from the `InstancePre` (pooling allocator), fuel, the host imports (`fact`, `config`, `now`) and decision validation — against the same plugin crate compiled into the host and called through the same imports and validation. 400 calls per round. Target: at most 5×.\n"
        );
        let ratios = decision_cost(&s, &wasm, &native, args.rounds, &mut md);
        let worst = ratios.iter().cloned().fold(0.0, f64::max);
        let _ = writeln!(
            md,
            "\nWorst median ratio: **{worst:.1}×** — target {}.\n",
            if worst <= 5.0 { "met" } else { "not met" }
        );
    }

    if run('b') {
        eprintln!("(b) pipeline throughput …");
        let _ = writeln!(
            md,
            "### (b) Pipeline throughput: intake to durable \"SMS queued\"\n\n`Pipeline::ingest` for every event of a generated population (gate, plugin decision, rendering, outbox, audit, one SQLite transaction per event), a fresh store per round. Target: the sandbox's share under 20 %.\n"
        );
        pipeline_throughput(&s, &wasm, &native, args.rounds.min(5), &mut md);
    }

    if run('c') {
        eprintln!("(c) population batch of {} events …", args.batch_events);
        let _ = writeln!(
            md,
            "\n### (c) Population batch\n\nA child process generates a population, then runs the whole lifecycle (`demo::run_scenario`: events, SMS, scripted replies, timers) on the virtual clock with the components; peak memory is that process's VmHWM. Events requested: {}.\n",
            args.batch_events
        );
        population_batch(&args, &mut md);
    }

    if run('d') {
        eprintln!("(d) plugin load …");
        let _ = writeln!(
            md,
            "\n### (d) Plugin load: cold compile against a precompiled artifact\n\n`Runtime::load` (Cranelift compile, link, validation) against `Runtime::load_precompiled` (deserialize, link, validation).\n"
        );
        plugin_load(&args, args.rounds.min(5), &mut md);
    }
    common::write_section(&args.out, START, END, &md);
    println!("{md}");
}
