//! Sandbox tests: a hostile component (tests/guests/hostile) that loops, exhausts memory,
//! overflows its stack, panics and returns an oversized decision fails only its own cases,
//! with the reason recorded, while the real plugins carry on; broken files in the plugins
//! folder are reported by name and never stop the others from loading.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use proactive_sdk::domain::{Iin, Sex};
use serde_json::Value;

use proactive_host::demo::ALL_SCOPES;

use crate::support::{
    HOSTILE, HOSTILE_MANIFEST, PLUGINS, TestDir, assert_success, component, count, open_store, proactive,
};

const HOSTILE_SERVICE: &str = "hostile.misbehave";
/// The real services that subscribe to `birth.registered`.
const BIRTH_SERVICES: [&str; 3] =
    ["health.newborn-attachment", "labour.childbirth-benefit", "education.preschool-queue"];
const DEFENCE_SERVICE: &str = "defence.conscription-registration";

/// Each hostile region, with what its case's failure reason must say.
const MISBEHAVIOURS: [(&str, &[&str]); 7] = [
    ("loop", &["CPU budget"]),
    ("oom", &["memory limit"]),
    ("stack", &["stack overflow"]),
    ("panic", &["trapped"]),
    ("huge", &["skip reason", "over the", "limit"]),
    ("facts", &["host import"]),
    ("logs", &["host import", "log calls"]),
];
/// The hostile plugin offers on this region, with placeholder syntax in a template value.
const INJECT_REGION: &str = "inject";
const BENIGN_REGION: &str = "astana";

/// Only a guard against a hang turning into a stuck test run: not a performance assertion.
/// The fuel budget is what actually bounds the hostile loop.
const HANG_GUARD: Duration = Duration::from_secs(600);

/// The first valid IIN for a birth date and sex, from `serial` on.
fn iin(birth: (i32, u32, u32), sex: Sex, serial: u16) -> String {
    let date = NaiveDate::from_ymd_opt(birth.0, birth.1, birth.2).expect("a calendar date");
    (serial..=9999)
        .find_map(|s| Iin::from_parts(date, sex, s))
        .expect("some serial gives a valid IIN")
        .as_str()
        .to_owned()
}

/// A scenario on disk: events file and registry folder.
struct Scenario {
    events: std::path::PathBuf,
    registry: std::path::PathBuf,
    /// Event id → region, for the birth events.
    births: Vec<(String, String)>,
    /// The id of the `person.turns-17` event, if any.
    turns_17: Option<String>,
}

/// One birth per region, each to a different mother with a registered Kazakh mobile, full
/// consent and a clinic attachment; optionally one 17th birthday for the defence plugin.
impl Scenario {
    /// `proactive ingest` of this scenario into `db` with the given plugins folder.
    fn ingest_args(&self, db: &Path, plugins: &Path) -> Vec<String> {
        let p = |p: &Path| p.to_str().expect("temp paths are UTF-8").to_owned();
        let mut args = vec!["ingest".to_owned(), p(&self.events), "--registry".into(), p(&self.registry)];
        args.extend(["--db".into(), p(db), "--plugins".into(), p(plugins), "--json".into()]);
        args
    }
}

fn write_scenario(t: &TestDir, regions: &[&str], with_turns_17: bool) -> Scenario {
    let mut events = String::new();
    let mut numbers = String::new();
    let mut consents = String::new();
    let mut facts = String::new();
    let scopes = serde_json::to_string(&ALL_SCOPES).expect("scopes as JSON");
    let person = |n: usize, who: &str, numbers: &mut String, consents: &mut String| {
        numbers.push_str(&format!("{{\"iin\":\"{who}\",\"phone\":\"+7701123{:04}\",\"lang\":\"kk\"}}\n", 4500 + n));
        consents.push_str(&format!(
            "{{\"id\":\"C-{n}\",\"iin\":\"{who}\",\"scopes\":{scopes},\"granted_at\":\"2025-03-01T09:00:00+05:00\"}}\n"
        ));
    };
    let mut births = Vec::new();
    for (i, region) in regions.iter().enumerate() {
        let mother = iin((1994, 4, 10 + i as u32), Sex::Female, 100 + i as u16);
        let child = iin((2026, 11, 2), [Sex::Male, Sex::Female][i % 2], 200 + 10 * i as u16);
        let id = format!("B-{region}");
        events.push_str(&format!(
            "{{\"id\":\"{id}\",\"kind\":\"birth.registered\",\"subject\":\"{child}\",\
             \"occurred_at\":\"2026-11-02T10:{:02}:00+05:00\",\"attributes\":{{\"mother\":\"{mother}\",\
             \"birth_order\":\"1\",\"region\":\"{region}\",\"child_status\":\"alive\"}}}}\n",
            i
        ));
        person(i, &mother, &mut numbers, &mut consents);
        facts.push_str(&format!(
            "{{\"iin\":\"{mother}\",\"scope\":\"health.attachment\",\"key\":\"clinic\",\"value\":\"Emkhana 5\"}}\n"
        ));
        births.push((id, region.to_string()));
    }
    let turns_17 = with_turns_17.then(|| {
        let teen = iin((2009, 5, 20), Sex::Male, 300);
        person(regions.len(), &teen, &mut numbers, &mut consents);
        facts.push_str(&format!(
            "{{\"iin\":\"{teen}\",\"scope\":\"defence.registration\",\"key\":\"district\",\
             \"value\":\"Astana, Esil district office\"}}\n"
        ));
        events.push_str(&format!(
            "{{\"id\":\"T-17\",\"kind\":\"person.turns-17\",\"subject\":\"{teen}\",\
             \"occurred_at\":\"2026-05-20T09:00:00+05:00\",\"attributes\":{{\"region\":\"astana\"}}}}\n"
        ));
        "T-17".to_owned()
    });
    let registry = t.path().join("registry");
    t.write("registry/numbers.ndjson", &numbers);
    t.write("registry/consents.ndjson", &consents);
    t.write("registry/state-bodies.ndjson", "");
    t.write("registry/facts.ndjson", &facts);
    Scenario { events: t.write("events.ndjson", &events), registry, births, turns_17 }
}

/// Run the real binary like [`crate::support::proactive`], but turn a hang into a failure
/// (the child is killed) instead of a test run that never ends. Returns the output and how
/// long the run took.
fn proactive_guarded(args: &[&str], cwd: &Path) -> (Output, Duration) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_proactive"))
        .args(args)
        .current_dir(cwd)
        .env_remove("PROACTIVE_PLUGINS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the proactive binary");
    let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the proactive binary") {
            break status;
        }
        if started.elapsed() > HANG_GUARD {
            let _ = child.kill();
            let _ = child.wait();
            panic!("proactive {args:?} was still running after {HANG_GUARD:?}: the sandbox did not stop a plugin");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    let output = Output {
        status,
        stdout: stdout.join().expect("reading stdout"),
        stderr: stderr.join().expect("reading stderr"),
    };
    (output, elapsed)
}

fn service_report<'a>(report: &'a Value, service: &str) -> &'a Value {
    report["services"]
        .as_array()
        .expect("the report lists services")
        .iter()
        .find(|s| s["service"] == service)
        .unwrap_or_else(|| panic!("the report has no entry for {service}:\n{report:#}"))
}

fn counts(v: &Value) -> BTreeMap<String, u64> {
    v.as_object().expect("a map of counts").iter().map(|(k, n)| (k.clone(), n.as_u64().expect("a count"))).collect()
}

/// A case's (state, reason, ground).
fn case(db: &rusqlite::Connection, event: &str, service: &str) -> (String, Option<String>, Option<String>) {
    db.query_row(
        "SELECT state, reason, ground FROM cases WHERE event_id = ?1 AND service = ?2",
        [event, service],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .unwrap_or_else(|e| panic!("no case for event {event} and service {service}: {e}"))
}

fn offers(db: &rusqlite::Connection, event: &str, service: &str) -> i64 {
    db.query_row(
        "SELECT COUNT(*) FROM decisions d JOIN cases c ON c.id = d.case_id \
         WHERE c.event_id = ?1 AND c.service = ?2 AND d.decision = 'offer'",
        [event, service],
        |r| r.get(0),
    )
    .expect("counting offers")
}

#[test]
fn sandbox_hostile_plugin_fails_only_its_own_cases() {
    let t = TestDir::new();
    let hostile = std::fs::read(component(HOSTILE.0)).expect("reading the built hostile component");
    let plugins = t.plugins(&[(&format!("{}.wasm", HOSTILE.1), hostile)]);
    let mut regions: Vec<&str> = MISBEHAVIOURS.iter().map(|(r, _)| *r).collect();
    regions.push(INJECT_REGION);
    regions.push(BENIGN_REGION);
    let s = write_scenario(&t, &regions, false);
    let db = t.path().join("run.sqlite");
    let args = s.ingest_args(&db, &plugins);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    let (out, elapsed) = proactive_guarded(&args, t.path());
    eprintln!("sandbox: the hostile ingest run took {:.2} s", elapsed.as_secs_f64());
    assert_success(&args, &out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("plugin not loaded"), "every plugin, the hostile one included, loads:\n{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("the --json report parses");
    let store = open_store(&db);

    // The hostile service: each misbehaviour fails its own case, with the reason recorded.
    let mut expected_failed: BTreeMap<String, u64> = BTreeMap::new();
    for (region, needles) in MISBEHAVIOURS {
        let event = format!("B-{region}");
        let (state, reason, _) = case(&store, &event, HOSTILE_SERVICE);
        let reason = reason.unwrap_or_default();
        eprintln!("sandbox: {region} -> {state}: {reason}");
        assert_eq!(state, "failed", "the {region} case must fail, got {state} ({reason})");
        for needle in needles {
            assert!(reason.contains(needle), "the {region} case's reason should mention {needle:?}: {reason:?}");
        }
        assert!(reason.len() < 1024, "the {region} case's reason is bounded ({} bytes)", reason.len());
        let kind = reason.split(':').next().unwrap_or(&reason).trim().to_owned();
        *expected_failed.entry(kind).or_default() += 1;
    }
    let (state, reason, _) = case(&store, &format!("B-{BENIGN_REGION}"), HOSTILE_SERVICE);
    assert_eq!((state.as_str(), reason.as_deref()), ("skipped", Some("benign")));

    // Placeholder syntax in a value is sent as it stands: the one real code is the case's.
    let (text, code): (String, String) = store
        .query_row(
            &format!(
                "SELECT o.text, c.reply_code FROM outbox o JOIN cases c ON c.id = o.case_id \
                 WHERE c.event_id = 'B-{INJECT_REGION}' AND c.service = '{HOSTILE_SERVICE}'"
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("the injected offer was queued");
    assert!(text.contains("((code)) ((name)) 0000"), "the value stays literal: {text}");
    assert_eq!(text.matches(code.as_str()).count(), 2, "only the template's own placeholders took the code: {text}");

    // The report agrees with the store: one failure per misbehaviour, one offer, one skip.
    let misbehaving = MISBEHAVIOURS.len() as u64;
    let h = service_report(&report, HOSTILE_SERVICE);
    assert_eq!(h["events"], misbehaving + 2, "{h:#}");
    assert_eq!(h["skipped"], 1, "{h:#}");
    assert_eq!(h["offers"], 1, "{h:#}");
    assert_eq!(h["open"], 0, "{h:#}");
    let failed = counts(&h["failed"]);
    assert_eq!(failed, expected_failed, "report failed counts vs the store's reasons");
    assert_eq!(failed.values().sum::<u64>(), misbehaving, "{h:#}");
    assert_eq!(failed.len(), 6, "six distinct failure kinds (two host-import abuses): {failed:?}");
    assert_eq!(
        count(&store, &format!("SELECT COUNT(*) FROM cases WHERE service = '{HOSTILE_SERVICE}' AND state = 'failed'")),
        misbehaving as i64
    );

    // The real services got every one of the same events and carried on normally: each
    // made an offer, and with no replies each case ended refused for no answer.
    for service in BIRTH_SERVICES {
        for (event, region) in &s.births {
            let (state, reason, ground) = case(&store, event, service);
            assert_ne!(state, "failed", "{service} on the {region} event failed: {reason:?}");
            assert_eq!(offers(&store, event, service), 1, "{service} offered on the {region} event");
            assert_eq!(
                (state.as_str(), ground.as_deref()),
                ("refused", Some("no-answer")),
                "{service} on the {region} event ({reason:?})"
            );
        }
        let r = service_report(&report, service);
        assert_eq!(r["events"], misbehaving + 2, "{r:#}");
        assert_eq!(r["offers"], misbehaving + 2, "{r:#}");
        assert_eq!(counts(&r["failed"]), BTreeMap::new(), "{r:#}");
        assert_eq!(counts(&r["refused"]), BTreeMap::from([("no-answer".to_owned(), misbehaving + 2)]), "{r:#}");
        assert!(r["messages"].as_u64().unwrap() >= misbehaving + 2, "every offer was sent: {r:#}");
    }
    assert_eq!(report["events_new"], misbehaving + 2);
    assert_eq!(report["events_rejected"], 0);
    assert_eq!(report["audit_intact"], true);
}

/// A few KiB of deterministic noise (xorshift), which is no WebAssembly of any kind.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

const CORE_MODULE: &[u8] = b"\0asm\x01\0\0\0";

#[test]
fn sandbox_broken_files_are_reported_by_name_and_the_real_plugins_still_load() {
    let t = TestDir::new();
    let huge = std::fs::read(component(HOSTILE_MANIFEST.0)).expect("the built huge-manifest component");
    let plugins = t.plugins(&[
        ("broken.wasm", noise(4096)),
        ("core.wasm", CORE_MODULE.to_vec()),
        (&format!("{}.wasm", HOSTILE_MANIFEST.1), huge),
    ]);
    let s = write_scenario(&t, &[BENIGN_REGION], true);
    let db = t.path().join("run.sqlite");
    let args = s.ingest_args(&db, &plugins);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (out, _) = proactive_guarded(&args, t.path());
    assert_success(&args, &out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for file in ["broken.wasm", "core.wasm"] {
        let line =
            stderr.lines().find(|l| l.contains(file)).unwrap_or_else(|| panic!("stderr should name {file}:\n{stderr}"));
        assert!(line.contains("plugin not loaded"), "{line}");
        assert!(line.contains("not a valid WebAssembly component"), "{line}");
    }
    let line = stderr.lines().find(|l| l.contains("huge-manifest.wasm")).expect("the huge manifest is named");
    assert!(line.contains("plugin not loaded") && line.contains("300 services; at most 64"), "{line}");
    for (_, name) in PLUGINS {
        assert!(!stderr.contains(&format!("{name}.wasm")), "{name}.wasm must load cleanly:\n{stderr}");
    }

    // All four real plugins are active: each got a case for its event, and none failed.
    let report: Value = serde_json::from_slice(&out.stdout).expect("the --json report parses");
    let store = open_store(&db);
    let birth = &s.births[0].0;
    for service in BIRTH_SERVICES {
        let (state, reason, _) = case(&store, birth, service);
        assert_ne!(state, "failed", "{service}: {reason:?}");
        assert_eq!(offers(&store, birth, service), 1, "{service} offered");
    }
    let teen = s.turns_17.as_deref().expect("a 17th birthday event");
    let (state, reason, _) = case(&store, teen, DEFENCE_SERVICE);
    assert_ne!(state, "failed", "{DEFENCE_SERVICE}: {reason:?}");
    assert_eq!(offers(&store, teen, DEFENCE_SERVICE), 1, "{DEFENCE_SERVICE} offered");
    let services: Vec<&str> =
        report["services"].as_array().unwrap().iter().map(|s| s["service"].as_str().unwrap()).collect();
    assert_eq!(services.len(), 4, "exactly the four real services ran: {services:?}");
    assert_eq!(count(&store, "SELECT COUNT(*) FROM cases WHERE state = 'failed'"), 0);
}

#[test]
fn sandbox_plugin_check_accepts_a_real_plugin_and_names_a_corrupt_file() {
    let t = TestDir::new();
    let plugins = t.plugins(&[("broken.wasm", noise(4096)), ("core.wasm", CORE_MODULE.to_vec())]);

    let health = plugins.join("health.wasm");
    let out = proactive(&["plugin", "check", health.to_str().unwrap()], t.path());
    assert_success(&["plugin", "check", "health.wasm"], &out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("health.wasm: OK"), "{stdout}");
    assert!(stdout.contains("service health.newborn-attachment (agency health)"), "{stdout}");

    // The hostile component's manifest is valid: only its behaviour is bad.
    let hostile = component(HOSTILE.0);
    let out = proactive(&["plugin", "check", hostile.to_str().unwrap()], t.path());
    assert_success(&["plugin", "check", "hostile"], &out);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("service {HOSTILE_SERVICE} (agency hostile)")));

    for file in ["broken.wasm", "core.wasm"] {
        let path = plugins.join(file);
        let out = proactive(&["plugin", "check", path.to_str().unwrap()], t.path());
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!out.status.success(), "checking {file} must fail:\n{text}");
        assert!(text.contains(file), "the message names {file}:\n{text}");
        assert!(text.contains("not a valid WebAssembly component"), "{text}");
        assert!(!text.contains(": OK"), "{text}");
    }
}
