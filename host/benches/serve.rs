//! HTTP benchmarks: the real `proactive serve` binary (release build) on loopback, driven
//! by clients in this process. Run with `cargo xtask bench` (or `--only` to pick parts);
//! the results replace the serve section of `BENCHMARKS.md`.
//!
//! - (e) events per second over HTTP, one event per request (1 and 4 clients) and NDJSON
//!   batches, against `Pipeline::ingest` of the same events in this process (the baseline:
//!   what the HTTP layer adds is the ratio);
//! - (f) reload latency: a signed upload from the first byte sent to the `201` after which
//!   every new event runs the new version, for a component never compiled (cold) and for
//!   one whose compiled artifact is in the on-disk cache.
//!
//! The server's clock is pinned outside its sending window, so its ticker sends nothing
//! and every figure is intake to durable "SMS queued", as in (b).

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::stat;
use proactive_host::deploy::signing;
use proactive_host::gate::{Gate, Registries, SnapshotRegistry};
use proactive_host::intake::{ndjson, parse_event};
use proactive_host::pipeline::{Pipeline, Settings};
use proactive_host::runtime::{Limits, Runtime};
use proactive_host::sms::sim::SimNetwork;
use proactive_host::store::sqlite::SqliteStore;
use serde_json::Value;

struct Args {
    plugins: PathBuf,
    out: PathBuf,
    people: usize,
    rounds: usize,
}

fn args() -> Args {
    let mut a = Args {
        plugins: PathBuf::from("target/plugins"),
        out: PathBuf::from("BENCHMARKS.md"),
        people: 20_000,
        rounds: 5,
    };
    common::parse_flags(|flag, value| {
        match flag {
            "--plugins" => a.plugins = value.into(),
            "--out" => a.out = value.into(),
            "--people" => a.people = value.parse().expect("--people N"),
            "--rounds" => a.rounds = value.parse().expect("--rounds N"),
            _ => return false,
        }
        true
    });
    a
}

const CLIENTS: usize = 4;
const BATCH_LINES: usize = 500;
/// A moment outside the sending window below, so the ticker stays idle.
const PINNED_CLOCK: &str = "2026-12-01T03:00:00+05:00";

/// A running server with a fresh database, killed when dropped.
struct Server {
    child: Child,
    base: String,
    agent: ureq::Agent,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn token(name: &str) -> String {
    format!("bench-token-{name}")
}

impl Server {
    fn start(dir: &Path, plugins: &Path, health_key: &str) -> Server {
        let db = dir.join(format!("serve-{}.sqlite", unique()));
        let mut config = format!(
            "listen = \"127.0.0.1:0\"\n[sms]\nwindow = \"12:00-12:01\"\n[limits]\nmax_batch_lines = {BATCH_LINES}\nmax_body_bytes = 8388608\n\
             [[agencies]]\nid = \"health\"\npublic_key = \"{health_key}\"\n"
        );
        for (name, role, agency) in
            [("admin", "admin", None), ("source", "event-source", None), ("health", "agency", Some("health"))]
        {
            let digest = hex::encode(proactive_host::api::auth::digest(&token(name)));
            config += &format!("[[tokens]]\nid = \"{name}\"\nsha256 = \"{digest}\"\nrole = \"{role}\"\n");
            if let Some(a) = agency {
                config += &format!("agency = \"{a}\"\n");
            }
        }
        let config_path = dir.join("serve.toml");
        std::fs::write(&config_path, config).expect("config");
        let clock = dir.join("clock");
        std::fs::write(&clock, PINNED_CLOCK).expect("clock file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_proactive"))
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .arg("--db")
            .arg(&db)
            .arg("--plugins")
            .arg(plugins)
            .arg("--registry")
            .arg(dir.join(proactive_host::demo::REGISTRY_DIR))
            .arg("--clock-file")
            .arg(&clock)
            .env("PROACTIVE_LOG", "warn,proactive_host::serve=info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting proactive serve");
        let pipe = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("listening on ").nth(1) {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let base = rx.recv_timeout(Duration::from_secs(120)).expect("the server did not start");
        let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(300)).build();
        Server { child, base, agent }
    }

    fn post(&self, path: &str, who: &str, content_type: &str, body: &[u8]) -> (u16, Value) {
        let req = self
            .agent
            .post(&format!("{}{path}", self.base))
            .set("Authorization", &format!("Bearer {}", token(who)))
            .set("Content-Type", content_type);
        let r = match req.send_bytes(body) {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("POST {path}: {e}"),
        };
        (r.status(), json(r))
    }

    fn get(&self, path: &str, who: &str) -> Value {
        let r = self.agent.get(&format!("{}{path}", self.base)).set("Authorization", &format!("Bearer {}", token(who)));
        json(r.call().unwrap_or_else(|e| panic!("GET {path}: {e}")))
    }
}

fn json(r: ureq::Response) -> Value {
    let text = r.into_string().expect("a readable answer");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

fn unique() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

/// The events file's lines, as the sender would post them.
fn event_lines(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join(proactive_host::demo::EVENTS_FILE)).expect("events");
    text.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned).collect()
}

/// The baseline: the same events through `Pipeline::ingest` in this process.
fn in_process(dir: &Path, plugins: &Path, lines: &[String]) -> f64 {
    let runtime = Runtime::new(Limits::default()).expect("runtime");
    runtime.load_dir(plugins).expect("plugins");
    let (registry, _) = SnapshotRegistry::load_dir(&dir.join(proactive_host::demo::REGISTRY_DIR)).expect("registry");
    let gate = Gate::new(Registries::from_snapshot(registry));
    let events: Vec<_> =
        lines.iter().map(|l| parse_event(&ndjson::parse_object(l).expect("JSON")).expect("a valid event")).collect();
    let store = Arc::new(SqliteStore::open(&dir.join(format!("inproc-{}.sqlite", unique()))).expect("store"));
    let network = Arc::new(SimNetwork::new(Default::default()));
    let pipeline = Pipeline::new(Arc::new(runtime), gate, store, network, Settings::default());
    let now = proactive_host::intake::ndjson::parse_time(PINNED_CLOCK).expect("time");
    let t0 = Instant::now();
    for e in &events {
        pipeline.ingest(e, now).expect("ingest");
    }
    events.len() as f64 / t0.elapsed().as_secs_f64()
}

/// One event per request from `clients` threads, each with its own connection.
fn http_single(server: &Server, lines: &[String], clients: usize) -> f64 {
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for chunk in lines.chunks(lines.len().div_ceil(clients)) {
            s.spawn(move || {
                for line in chunk {
                    let (status, body) = server.post("/v1/events", "source", "application/json", line.as_bytes());
                    assert_eq!(status, 201, "{body}");
                }
            });
        }
    });
    lines.len() as f64 / t0.elapsed().as_secs_f64()
}

fn http_batches(server: &Server, lines: &[String]) -> f64 {
    let t0 = Instant::now();
    for chunk in lines.chunks(BATCH_LINES) {
        let body = chunk.join("\n");
        let (status, answer) = server.post("/v1/events", "source", "application/x-ndjson", body.as_bytes());
        assert_eq!((status, answer["accepted"].as_u64()), (200, Some(chunk.len() as u64)), "{answer}");
    }
    lines.len() as f64 / t0.elapsed().as_secs_f64()
}

fn events_per_second(dir: &Path, args: &Args, key: &str, md: &mut String) {
    let lines = event_lines(dir);
    let (mut base, mut one, mut four, mut batch) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..args.rounds {
        eprintln!("(e) round {} of {} …", round + 1, args.rounds);
        base.push(in_process(dir, &args.plugins, &lines));
        one.push(http_single(&Server::start(dir, &args.plugins, key), &lines, 1));
        four.push(http_single(&Server::start(dir, &args.plugins, key), &lines, CLIENTS));
        batch.push(http_batches(&Server::start(dir, &args.plugins, key), &lines));
    }
    let ratio = |xs: &[f64]| -> Vec<f64> { xs.iter().zip(&base).map(|(x, b)| x / b).collect() };
    md.push_str(&format!(
        "### (e) Events per second over HTTP\n\n\
         {} events (a generated population's births and 17th birthdays) per round, {} rounds, a fresh \
         server and database per measurement. Each request is `POST /v1/events` with a bearer token, \
         validated, run through the pipeline under its lock and committed before the answer; clients \
         keep their connections alive. The baseline is `Pipeline::ingest` of the same events in one \
         process with the same components and store.\n\n\
         | path | events/s | against in-process |\n|---|---|---|\n\
         | in process (baseline) | {} | 1 |\n\
         | HTTP, 1 event per request, 1 client | {} | {} |\n\
         | HTTP, 1 event per request, {CLIENTS} clients | {} | {} |\n\
         | HTTP, NDJSON batches of {BATCH_LINES} | {} | {} |\n\n",
        lines.len(),
        args.rounds,
        stat(&base).show(""),
        stat(&one).show(""),
        stat(&ratio(&one)).show("×"),
        stat(&four).show(""),
        stat(&ratio(&four)).show("×"),
        stat(&batch).show(""),
        stat(&ratio(&batch)).show("×"),
    ));
}

/// `bytes` with a custom section appended: the same component, a different hash, so the
/// host has never compiled it.
fn variant(bytes: &[u8], tag: &str) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let name = b"proactive-bench";
    let mut payload = Vec::new();
    leb(name.len(), &mut payload);
    payload.extend_from_slice(name);
    payload.extend_from_slice(tag.as_bytes());
    let mut out = bytes.to_vec();
    out.push(0);
    leb(payload.len(), &mut out);
    out.extend_from_slice(&payload);
    out
}

fn upload(server: &Server, key: &ed25519_dalek::SigningKey, bytes: &[u8]) -> (f64, Value) {
    let signature = signing::sign(key, bytes);
    let t0 = Instant::now();
    let r = server
        .agent
        .post(&format!("{}/admin/v1/plugins/health/versions", server.base))
        .set("Authorization", &format!("Bearer {}", token("health")))
        .set("Proactive-Signature", &signature)
        .send_bytes(bytes)
        .unwrap_or_else(|e| panic!("upload: {e}"));
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    (ms, json(r))
}

/// After the `201`, the next event must be decided by the uploaded version.
fn check_serving(server: &Server, event: &str, n: usize, sha: &str) {
    let mut e: Value = serde_json::from_str(event).expect("an event");
    // Event ids may not hold 10-digit runs: a counter, not a timestamp.
    static CHECKS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let k = CHECKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    e["id"] = Value::String(format!("reload-check-{n}-{k}"));
    let (status, body) = server.post("/v1/events", "source", "application/json", e.to_string().as_bytes());
    assert_eq!(status, 201, "{body}");
    let cases = server.get("/v1/cases?service=health.newborn-attachment&limit=1000", "admin");
    let last = cases["cases"].as_array().and_then(|c| c.last()).expect("a health case");
    let case = server.get(&format!("/v1/cases/{}", last["id"]), "admin");
    assert_eq!(case["decisions"][0]["plugin"]["sha256"], sha, "the new version decided: {case}");
}

fn reload_latency(dir: &Path, args: &Args, key: &ed25519_dalek::SigningKey, public: &str, md: &mut String) {
    let original = std::fs::read(args.plugins.join("health.wasm")).expect("health.wasm");
    let birth = event_lines(dir).into_iter().find(|l| l.contains("birth.registered")).expect("a birth event");
    let server = Server::start(dir, &args.plugins, public);
    let (mut cold, mut cached) = (Vec::new(), Vec::new());
    let rounds = args.rounds.max(5);
    let mut previous: Option<Vec<u8>> = None;
    for n in 0..rounds {
        let fresh = variant(&original, &format!("{n}-{}", unique()));
        let (ms, answer) = upload(&server, key, &fresh);
        assert_eq!((&answer["state"], &answer["cached"]), (&Value::from("active"), &Value::from(false)), "{answer}");
        check_serving(&server, &birth, n, answer["version"]["sha256"].as_str().unwrap());
        cold.push(ms);
        if let Some(bytes) = previous.replace(fresh) {
            // Stored and compiled before: the upload finds its artifact in the disk cache.
            let (ms, answer) = upload(&server, key, &bytes);
            assert_eq!((&answer["state"], &answer["cached"]), (&Value::from("active"), &Value::from(true)), "{answer}");
            check_serving(&server, &birth, n, answer["version"]["sha256"].as_str().unwrap());
            cached.push(ms);
        }
    }
    let ratios: Vec<f64> = cold.iter().skip(1).zip(&cached).map(|(c, h)| c / h).collect();
    md.push_str(&format!(
        "### (f) Reload latency: upload to serving\n\n\
         `POST /admin/v1/plugins/health/versions` with the agency's Ed25519 signature, timed from the \
         request to its `201`: signature check, compile (or cache lookup), world, manifest and template \
         checks, storing the version, the audit entry and the swap. The next event after the answer is \
         checked to be decided by the new version's hash. Cold: health.wasm ({} KiB) with a custom \
         section appended per round, so its hash is new and nothing is cached. Cached: re-uploading the \
         previous round's bytes, whose compiled artifact is in `<db>.cache/`. {} cold and {} cached \
         uploads on one server with the four plugins loaded and idle.\n\n\
         | upload | ms |\n|---|---|\n| cold compile | {} |\n| cached artifact | {} |\n| cold / cached | {} |\n\n",
        original.len() / 1024,
        cold.len(),
        cached.len(),
        stat(&cold).show(""),
        stat(&cached).show(""),
        stat(&ratios).show("×"),
    ));
}

fn main() {
    let args = args();
    assert!(args.plugins.join("health.wasm").exists(), "run `cargo xtask plugins` first");
    let dir = tempfile::tempdir().expect("temp dir");
    eprintln!("generating a population of {} …", args.people);
    proactive_host::demo::generate(dir.path(), args.people, 7).expect("generating");
    let (secret, public) = signing::keygen();
    let key_path = dir.path().join("health.key");
    std::fs::write(&key_path, secret).expect("key");
    let key = signing::read_secret_key(&key_path).expect("key");

    let mut md = format!(
        "## Serve (`cargo xtask bench`)\n\nMachine: {}. Release build; the server is the `proactive` binary \
         on loopback, the clients are threads of the benchmark process on the same 2 cores. Figures are \
         medians with the min–max spread in brackets; ratios are taken per round.\n\n",
        common::machine()
    );
    events_per_second(dir.path(), &args, &public, &mut md);
    eprintln!("(f) reload latency …");
    reload_latency(dir.path(), &args, &key, &public, &mut md);
    print!("{md}");
    common::write_section(&args.out, "<!-- serve-benchmarks:start -->", "<!-- serve-benchmarks:end -->", &md);
}
