//! Crash consistency: `proactive ingest` is killed with SIGKILL at random points, at least
//! 20 times, while it sends SMS and takes replies; each time it is simply run again on the
//! same store. The end state must be exactly that of a run never interrupted.
//!
//! The replies come from a file (recorded from a demo run's simulated subscribers), as a
//! real gateway holds replies while the host is down; the simulated network's own scripted
//! replies live in the killed process and would die with it.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{TestDir, open_store, proactive_ok};

const KILLS: usize = 20;

fn count(db: &Path, sql: &str) -> i64 {
    open_store(db).query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Audit entries so far; 0 before the store (or its schema) exists.
fn audit_size(db: &Path) -> i64 {
    if !db.exists() {
        return 0;
    }
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| c.query_row("SELECT COUNT(*) FROM audit", [], |r| r.get(0)))
        .unwrap_or(0)
}

/// Every case's outcome and the messages it got, in a comparable form.
fn outcome(db: &Path) -> Vec<(String, String, String, Option<String>, i64, i64)> {
    let store = open_store(db);
    let mut st = store
        .prepare(
            "SELECT c.event_id, c.service, c.state, c.ground, c.asks, \
             (SELECT COUNT(*) FROM outbox o WHERE o.case_id = c.id) \
             FROM cases c ORDER BY c.event_id, c.service",
        )
        .unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// A small deterministic generator; the seed is printed so a failing run can be repeated.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}

#[test]
fn ingest_killed_twenty_times_mid_work_ends_exactly_as_a_run_never_interrupted() {
    let t = TestDir::new();
    let plugins = t.plugins(&[]);
    let p = |p: &Path| p.to_str().unwrap().to_owned();
    let gen_dir = t.path().join("gen");
    proactive_ok(
        &["demo", "--people", "1500", "--seed", "5", "--out", &p(&gen_dir), "--plugins", &p(&plugins)],
        t.path(),
    );

    // The replies the demo's subscribers sent, as a gateway would hand them over.
    let demo_db = gen_dir.join("proactive.sqlite");
    let mut replies = String::new();
    {
        let store = open_store(&demo_db);
        let mut st = store.prepare("SELECT phone, text, received_at FROM inbound ORDER BY id").unwrap();
        let rows =
            st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?))).unwrap();
        for row in rows {
            let (phone, text, at) = row.unwrap();
            let at = chrono::DateTime::from_timestamp(at, 0).unwrap().to_rfc3339();
            replies += &format!("{}\n", serde_json::json!({ "phone": phone, "text": text, "at": at }));
        }
    }
    let replies_file = t.write("replies.ndjson", &replies);
    let n_replies = replies.lines().count() as i64;
    assert!(n_replies > 50, "the demo produced too few replies to test with: {n_replies}");

    let args = |db: &Path| -> Vec<String> {
        vec![
            "ingest".into(),
            p(&gen_dir.join("events.ndjson")),
            "--registry".into(),
            p(&gen_dir.join("registry")),
            "--replies".into(),
            p(&replies_file),
            "--db".into(),
            p(db),
            "--plugins".into(),
            p(&plugins),
        ]
    };
    let run = |db: &Path| -> std::process::Child {
        Command::new(env!("CARGO_BIN_EXE_proactive"))
            .args(args(db))
            .current_dir(t.path())
            .env_remove("PROACTIVE_PLUGINS")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };

    // The reference: one run, never interrupted; its length sets where the kills land.
    let reference = t.path().join("reference.sqlite");
    let started = Instant::now();
    let status = run(&reference).wait().unwrap();
    let whole = started.elapsed();
    assert!(status.success());

    // A run with nothing left to do (start-up, and the files replayed as duplicates).
    let started = Instant::now();
    assert!(run(&reference).wait().unwrap().success());
    let idle = started.elapsed();
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    eprintln!(
        "crash: the uninterrupted run took {:.2} s, a run with nothing to do {:.2} s; kill seed {seed}",
        whole.as_secs_f64(),
        idle.as_secs_f64()
    );
    let mut rng = Lcg(seed);
    let total = count(&reference, "SELECT COUNT(*) FROM audit");

    // Kill, run again, kill again... until the run gets to finish; on fresh stores until
    // at least KILLS kills have landed mid-work. The delay adapts so each kill cuts the
    // remaining work short somewhere new.
    let (mut kills, mut stores) = (0, Vec::new());
    while kills < KILLS {
        let crashed = t.path().join(format!("crashed-{}.sqlite", stores.len()));
        let mut delay = idle.as_millis() as u64 / 2;
        let mut progress = Vec::new();
        for _attempt in 0..200 {
            let before = audit_size(&crashed);
            let mut child = run(&crashed);
            std::thread::sleep(Duration::from_millis(delay + rng.below(delay / 2 + 1)));
            if child.try_wait().unwrap().is_some() {
                break; // it finished before the kill
            }
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
            let after = audit_size(&crashed);
            if after > before && after < total {
                kills += 1;
                progress.push(after);
            }
            // Aim at an eighth of the work per kill.
            if after - before > total / 8 {
                delay = delay * 3 / 4;
            } else if after == before {
                delay = delay * 5 / 4 + 10;
            }
        }
        eprintln!("crash: store {}: killed at audit sizes {progress:?} of {total}", stores.len());
        assert!(run(&crashed).wait().unwrap().success(), "the run after the last kill completes");
        stores.push(crashed);
    }
    eprintln!("crash: {kills} kills mid-work over {} stores", stores.len());

    // Every event processed, every reply taken once, every case final, exactly as the
    // uninterrupted run left them, and no message queued twice.
    let expected = outcome(&reference);
    for crashed in &stores {
        assert_eq!(outcome(crashed), expected, "{}", crashed.display());
        assert_eq!(
            count(crashed, "SELECT COUNT(*) FROM outbox"),
            count(&reference, "SELECT COUNT(*) FROM outbox"),
            "no message queued twice"
        );
    }
    for db in stores.iter().chain([&reference]) {
        assert_eq!(count(db, "SELECT COUNT(*) FROM inbound"), n_replies, "no reply lost or taken twice");
        assert_eq!(
            count(db, "SELECT COUNT(*) FROM cases WHERE state IN ('received', 'offered', 'awaiting-reply')"),
            0,
            "every case reached a final state"
        );
        assert_eq!(count(db, "SELECT COUNT(*) FROM outbox WHERE state = 'queued'"), 0, "every SMS sent");
        let verify = proactive_ok(&["audit", "verify", "--db", &p(db)], t.path());
        assert!(verify.contains("intact"), "{verify}");
    }
}
