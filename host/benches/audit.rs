//! Audit log benchmarks: append throughput and a full verification of a log of a million
//! entries, plus what a proof costs at that size. Run with
//! `cargo bench -p proactive-host --bench audit` (`-- --entries N` for another size); the
//! results replace the audit section of `BENCHMARKS.md`.
//!
//! The entries are shaped like the pipeline's (the same actions, keyed hashes and sizes) and
//! go through the real [`AuditLog::append`] into a SQLite store on disk, a few per
//! transaction as a pipeline step writes them. The baseline writes the same rows with only
//! their leaf hash (no Merkle nodes, no checkpoints), so the ratio is the price of the tree.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use proactive_host::audit::{self, Actor, AuditLog, Entry, StoreNodes, Verification, merkle};
use proactive_host::model::PluginRef;
use proactive_host::store::sqlite::SqliteStore;
use proactive_host::store::{AuditRow, Store};
use serde_json::json;

/// Entries per transaction: about what one pipeline step writes.
const PER_STEP: u64 = 5;

struct Args {
    entries: u64,
    out: PathBuf,
}

fn args() -> Args {
    let mut a = Args { entries: 1_000_000, out: Path::new(env!("CARGO_MANIFEST_DIR")).join("../BENCHMARKS.md") };
    common::parse_flags(|flag, value| {
        match flag {
            "--entries" => a.entries = value.parse().expect("--entries N"),
            "--out" => a.out = PathBuf::from(value),
            _ => return false,
        }
        true
    });
    a
}

/// The `i`-th entry of a synthetic case lifecycle.
fn entry(log: &AuditLog, i: u64) -> Entry {
    let case = (i / 6) as i64 + 1;
    let at = 1_790_000_000 + i as i64;
    let person = format!("{:012}", 900_101_000_000 + i / 6);
    let plugin = PluginRef { id: "labour".into(), version: "0.1.0".into(), hash: "4b".repeat(32) };
    match i % 6 {
        0 => Entry::new(at, &Actor::Host, "event.received")
            .outcome("accepted")
            .detail(json!({ "event": format!("BR-2026-{case:06}"), "kind": "birth.registered", "subject": log.identity(&person) })),
        1 => Entry::new(at, &Actor::Host, "case.received").case(case).outcome("received").detail(
            json!({ "event": format!("BR-2026-{case:06}"), "service": "labour.childbirth-benefit", "agency": "labour" }),
        ),
        2 => Entry::new(at, &Actor::Gate, "gate.pass")
            .case(case)
            .outcome("pass")
            .ground(Some("rules-3"))
            .consent(Some(format!("C-{case:07}")))
            .detail(json!({ "recipient": log.identity(&person), "phone": log.phone(&format!("+7701{:07}", case)),
                            "scopes": ["civil.birth", "social.benefits"] })),
        3 => Entry::new(at, &Actor::Plugin(plugin), "decision")
            .case(case)
            .outcome("offer")
            .consent(Some(format!("C-{case:07}")))
            .detail(json!({ "stage": "event", "service": "labour.childbirth-benefit" })),
        4 => Entry::new(at, &Actor::Host, "case.state")
            .case(case)
            .outcome("offered")
            .consent(Some(format!("C-{case:07}")))
            .detail(json!({ "reason": null })),
        _ => Entry::new(at, &Actor::Sms, "sms.sent")
            .case(case)
            .outcome("sent")
            .consent(Some(format!("C-{case:07}")))
            .detail(json!({ "message": case, "parts": 2, "kind": "question", "to": log.phone(&format!("+7701{:07}", case)) })),
    }
}

fn fresh_store(dir: &Path, name: &str) -> (SqliteStore, PathBuf) {
    let db = dir.join(name);
    (SqliteStore::open(&db).expect("a store"), db)
}

/// Append `n` entries through the real log, `PER_STEP` per transaction, then sign the end.
fn append_all(store: &SqliteStore, log: &AuditLog, n: u64) -> Duration {
    let started = Instant::now();
    let mut i = 0;
    while i < n {
        let mut tx = store.begin().expect("begin");
        for _ in 0..PER_STEP.min(n - i) {
            log.append(&mut *tx, entry(log, i)).expect("append");
            i += 1;
        }
        tx.commit().expect("commit");
    }
    let mut tx = store.begin().expect("begin");
    log.checkpoint(&mut *tx, 1_790_000_000 + n as i64).expect("checkpoint");
    tx.commit().expect("commit");
    started.elapsed()
}

/// The same rows with only their leaf hash: what the log cost before the tree.
fn append_plain(store: &SqliteStore, log: &AuditLog, n: u64) -> Duration {
    let started = Instant::now();
    let mut i = 0;
    while i < n {
        let mut tx = store.begin().expect("begin");
        for _ in 0..PER_STEP.min(n - i) {
            let mut e = entry(log, i);
            e.seq = i + 1;
            let json = audit::canonical(&serde_json::to_value(&e).expect("json"));
            let leaf = hex::encode(merkle::leaf_hash(json.as_bytes()));
            tx.insert_audit(&AuditRow { seq: i + 1, entry: json, leaf }).expect("insert");
            i += 1;
        }
        tx.commit().expect("commit");
    }
    started.elapsed()
}

/// Median and spread in seconds.
fn median(v: Vec<Duration>) -> common::Stat {
    common::stat(&v.iter().map(Duration::as_secs_f64).collect::<Vec<_>>())
}

fn size_of(db: &Path) -> u64 {
    ["", "-wal"].iter().filter_map(|s| std::fs::metadata(format!("{}{s}", db.display())).ok()).map(|m| m.len()).sum()
}

fn main() {
    let args = args();
    let n = args.entries;
    let dir = tempfile::tempdir().expect("a temp dir");
    let log = AuditLog::ephemeral();
    let verifier = log.keys().verifier();
    let mut md = String::new();
    let _ = writeln!(md, "## Audit\n");
    let _ = writeln!(
        md,
        "`cargo bench -p proactive-host --bench audit` ({}). {n} entries shaped like the pipeline's \
         (keyed hashes, ~330 bytes of canonical JSON), {PER_STEP} per transaction as a pipeline step \
         writes them, into SQLite (WAL, synchronous=NORMAL) on local disk.\n",
        common::machine()
    );

    eprintln!("appending {n} entries through AuditLog::append …");
    let (store, db) = fresh_store(dir.path(), "audit.sqlite");
    let full = append_all(&store, &log, n);
    eprintln!("  {:.1} s", full.as_secs_f64());
    let (plain_store, plain_db) = fresh_store(dir.path(), "plain.sqlite");
    eprintln!("appending the same rows without the tree …");
    let plain = append_plain(&plain_store, &log, n);
    drop(plain_store);
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let _ = writeln!(md, "| measure | figure |\n|---|---|");
    let _ = writeln!(
        md,
        "| append, Merkle log (nodes + a signed checkpoint every {}) | {:.0} entries/s ({:.1} s for {n}) |",
        audit::CHECKPOINT_EVERY,
        rate(full),
        full.as_secs_f64()
    );
    let _ = writeln!(md, "| append, rows and leaf hash only (baseline) | {:.0} entries/s |", rate(plain));
    let _ = writeln!(
        md,
        "| cost of the tree | {:.2}× the baseline's time per entry |",
        full.as_secs_f64() / plain.as_secs_f64()
    );
    let _ = writeln!(
        md,
        "| store size | {:.0} bytes/entry with the tree, {:.0} without |",
        size_of(&db) as f64 / n as f64,
        size_of(&plain_db) as f64 / n as f64
    );

    eprintln!("verifying {n} entries (3 rounds) …");
    let mut rounds = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let v = audit::verify(&store, &verifier, &[]).expect("verify");
        rounds.push(started.elapsed());
        assert!(matches!(v, Verification::Intact(ref s) if s.entries == n), "{v:?}");
    }
    let verify = median(rounds);
    let _ = writeln!(
        md,
        "| `audit verify`: full recomputation of {n} entries + {} checkpoints | {} ({:.0} entries/s) |",
        store.checkpoints().expect("checkpoints").len(),
        verify.show("s"),
        rate(Duration::from_secs_f64(verify.median))
    );

    eprintln!("proofs …");
    let mut inclusion = Vec::new();
    let mut nodes = StoreNodes(&store);
    for k in 0..200u64 {
        let index = (k * 7_919_993) % n;
        let started = Instant::now();
        let path = merkle::inclusion_proof(&mut nodes, index, n).expect("a proof");
        inclusion.push(started.elapsed());
        std::hint::black_box(path);
    }
    let mut consistency = Vec::new();
    for k in 1..=200u64 {
        let old = (k * 4_999) % n + 1;
        let started = Instant::now();
        let path = merkle::consistency_proof(&mut nodes, old, n).expect("a proof");
        consistency.push(started.elapsed());
        std::hint::black_box(path);
    }
    let (inc, con) = (median(inclusion), median(consistency));
    let _ = writeln!(
        md,
        "| inclusion proof at {n} (from stored nodes) | {:.0} µs median, {:.0} µs max |",
        inc.median * 1e6,
        inc.max * 1e6
    );
    let _ =
        writeln!(md, "| consistency proof to {n} | {:.0} µs median, {:.0} µs max |", con.median * 1e6, con.max * 1e6);
    let _ = writeln!(
        md,
        "\nAppend is measured end to end (canonical JSON, HMAC of identifiers, SHA-256, SQLite writes and \
         commits); verify reads every row back, rehashes it, rebuilds the tree in memory and checks every \
         signed checkpoint. One run per figure (verify: median of 3); the machine is shared, and runs during other builds measured up to half these rates, so the ratio is steadier than the absolute figures."
    );
    print!("{md}");
    common::write_section(&args.out, "<!-- audit-benchmarks:start -->", "<!-- audit-benchmarks:end -->", &md);
}
