//! `proactive ingest` on hand-written scenarios: bad lines, idempotency, replies.

use std::path::Path;

use proactive_sdk::domain::Sex;
use serde_json::{Value, json};

use crate::support::{TestDir, birth, count, iin, open_store, proactive, proactive_ok, registry};

fn ingest(t: &TestDir, events: &Path, extra: &[&str]) -> (Value, String) {
    let plugins = t.plugins(&[]);
    let (registry, db) = (t.path().join("registry"), t.path().join("store.sqlite"));
    let mut args: Vec<&str> = vec!["ingest", path(events), "--registry", path(&registry), "--db", path(&db)];
    args.extend(["--plugins", path(&plugins), "--json"]);
    args.extend_from_slice(extra);
    let out = proactive(&args, t.path());
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "ingest failed: {stderr}");
    (serde_json::from_slice(&out.stdout).expect("the JSON report"), stderr)
}

fn path(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

#[test]
fn bad_lines_are_reported_by_number_and_leave_no_trace() {
    let t = TestDir::new();
    let mother = iin(1990, 1, 1, Sex::Female, 10);
    let child = iin(2026, 11, 2, Sex::Male, 10);
    registry(&t, &[&mother]);
    let mut bad_iin = child.clone();
    let last = bad_iin.pop().unwrap();
    bad_iin.push(if last == '0' { '1' } else { '0' });
    let mut oversized = birth("E-OVERSIZED", &child, &mother);
    oversized["attributes"]["note"] = json!("x".repeat(300));
    let lines = [
        birth("E-GOOD-1", &child, &mother).to_string(),
        "{\"id\": \"E-BROKEN\", \"kind\": ".to_owned(),
        birth("E-BAD-IIN", &bad_iin, &mother).to_string(),
        // The kind is an IIN: the error must not echo it.
        json!({ "id": "E-UNKNOWN", "kind": mother, "subject": child, "occurred_at": "2026-11-02T10:00:00+05:00" })
            .to_string(),
        oversized.to_string(),
        json!({ "id": "E-NO-MOTHER", "kind": "birth.registered", "subject": child, "occurred_at": "2026-11-02T10:00:00+05:00",
                "attributes": { "birth_order": "1", "region": "astana", "child_status": "alive" } })
        .to_string(),
        birth(&format!("E-{mother}"), &child, &mother).to_string(),
        birth("E-GOOD-2", &iin(2026, 11, 2, Sex::Female, 20), &mother).to_string(),
    ];
    let events = t.write("events.ndjson", &(lines.join("\n") + "\n"));
    let (report, stderr) = ingest(&t, &events, &[]);

    for (line, problem) in [
        (2, "malformed JSON"),
        (3, "check digit"),
        (4, "unknown event kind"),
        (5, "oversized"),
        (6, "missing attribute `mother`"),
        (7, "must not contain an identifier"),
    ] {
        let wanted = format!("events.ndjson:{line}: ");
        let found = stderr.lines().find(|l| l.contains(&wanted));
        let found = found.unwrap_or_else(|| panic!("no error for line {line} in:\n{stderr}"));
        assert!(found.contains(problem), "line {line}: expected {problem:?} in {found:?}");
    }
    assert!(!stderr.contains(&bad_iin) && !stderr.contains(&mother), "personal data in errors:\n{stderr}");
    assert_eq!(report["events_new"], 2);
    assert_eq!(report["events_rejected"], 6);

    let db = open_store(&t.path().join("store.sqlite"));
    let ids: Vec<String> = db
        .prepare("SELECT id FROM events ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(ids, ["E-GOOD-1", "E-GOOD-2"]);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM cases WHERE event_id NOT IN ('E-GOOD-1', 'E-GOOD-2')"), 0);
}

#[test]
fn ingesting_the_same_scenario_twice_adds_no_case_and_no_sms() {
    let t = TestDir::new();
    let out = t.path().join("demo");
    let plugins = t.plugins(&[]);
    proactive_ok(
        &[
            "demo",
            "--people",
            "300",
            "--seed",
            "3",
            "--out",
            out.to_str().unwrap(),
            "--plugins",
            plugins.to_str().unwrap(),
        ],
        t.path(),
    );
    let db_path = out.join("proactive.sqlite");
    let snapshot = |sql: &str| count(&open_store(&db_path), sql);
    let before = [
        snapshot("SELECT COUNT(*) FROM events"),
        snapshot("SELECT COUNT(*) FROM cases"),
        snapshot("SELECT COUNT(*) FROM outbox"),
        snapshot("SELECT COUNT(*) FROM inbound"),
    ];
    assert!(before[1] > 0 && before[2] > 0, "the demo produced no cases or SMS: {before:?}");

    let stdout = proactive_ok(
        &[
            "ingest",
            out.join("events.ndjson").to_str().unwrap(),
            "--registry",
            out.join("registry").to_str().unwrap(),
            "--subscribers",
            out.join("subscribers.ndjson").to_str().unwrap(),
            "--db",
            db_path.to_str().unwrap(),
            "--plugins",
            plugins.to_str().unwrap(),
            "--json",
        ],
        t.path(),
    );
    let report: Value = serde_json::from_str(&stdout).expect("the JSON report");
    assert_eq!(report["events_new"], 0);
    assert_eq!(report["events_duplicate"], before[0]);
    let after = [
        snapshot("SELECT COUNT(*) FROM events"),
        snapshot("SELECT COUNT(*) FROM cases"),
        snapshot("SELECT COUNT(*) FROM outbox"),
        snapshot("SELECT COUNT(*) FROM inbound"),
    ];
    assert_eq!(before, after);
    let verify = proactive_ok(&["audit", "verify", "--db", db_path.to_str().unwrap()], t.path());
    assert!(verify.contains("intact"), "{verify}");
}

#[test]
fn replies_from_a_file_reach_their_case_and_ambiguous_ones_get_help() {
    let t = TestDir::new();
    let mother = iin(1992, 5, 5, Sex::Female, 30);
    let teen = iin(2009, 11, 2, Sex::Male, 30);
    registry(&t, &[&mother, &teen]);
    let events = [
        birth("B-1", &iin(2026, 11, 2, Sex::Female, 40), &mother),
        json!({ "id": "T-1", "kind": "person.turns-17", "subject": teen, "occurred_at": "2026-11-02T00:05:00+05:00",
                "attributes": { "region": "astana" } }),
    ];
    let events = t.write("events.ndjson", &events.iter().map(|e| format!("{e}\n")).collect::<String>());
    // The mother has three open offers: a bare "да" is ambiguous. The teen has one.
    let replies = [
        json!({ "phone": "+77015550000", "text": "да", "at": "2026-11-02T12:00:00+05:00" }),
        json!({ "phone": "8 701 555 00 01", "text": "Да!", "at": "2026-11-02T12:00:00+05:00" }),
        json!({ "phone": "+77019999999", "text": "иә", "at": "2026-11-02T12:30:00+05:00" }),
        // The same message twice (a gateway retry): taken once.
        json!({ "phone": "8 701 555 00 01", "text": "Да!", "at": "2026-11-02T12:00:00+05:00" }),
    ];
    let replies = t.write("replies.ndjson", &replies.iter().map(|e| format!("{e}\n")).collect::<String>());
    let (report, _) = ingest(&t, &events, &["--replies", replies.to_str().unwrap()]);
    assert_eq!(report["replies"], 4);
    assert_eq!(report["replies_unmatched"], 2);
    assert_eq!(report["replies_duplicate"], 1);

    let db = open_store(&t.path().join("store.sqlite"));
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM cases WHERE event_id = 'T-1' AND service = 'defence.conscription-registration' AND state = 'provided'"
        ),
        1
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM inbound"), 3, "every reply is stored");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM inbound WHERE status = 'ambiguous'"), 1);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM inbound WHERE status = 'unmatched'"), 1);
    // Help goes to the mother (a valid mobile with open cases) and to the unknown mobile.
    assert_eq!(count(&db, "SELECT COUNT(*) FROM outbox WHERE kind = 'help'"), 2);
    let help: String = db
        .query_row("SELECT text FROM outbox WHERE kind = 'help' AND phone = '+77015550000'", [], |r| r.get(0))
        .unwrap();
    assert!(help.contains("Коды"), "help lists the open codes: {help}");
    // Nothing for the mother was decided on the ambiguous reply.
    assert_eq!(count(&db, "SELECT COUNT(*) FROM cases WHERE event_id = 'B-1' AND state = 'provided'"), 0);
}

#[test]
fn reply_windows_survive_a_restart() {
    let t = TestDir::new();
    let teen = iin(2009, 11, 2, Sex::Male, 50);
    registry(&t, &[&teen]);
    let event = json!({ "id": "T-RESTART", "kind": "person.turns-17", "subject": teen,
                        "occurred_at": "2026-11-02T00:05:00+05:00", "attributes": { "region": "astana" } });
    let events = t.write("events.ndjson", &format!("{event}\n"));
    let state = || -> (String, Option<String>) {
        open_store(&t.path().join("store.sqlite"))
            .query_row("SELECT state, ground FROM cases WHERE event_id = 'T-RESTART'", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap()
    };

    // First process: stops the virtual clock a day in, with the offer sent and the window open.
    ingest(&t, &events, &["--until", "2026-11-03T00:00:00+05:00"]);
    assert_eq!(state(), ("awaiting-reply".to_owned(), None));

    // Second process, same store: the stored timer fires; nothing is sent twice.
    let (report, _) = ingest(&t, &events, &[]);
    assert_eq!(report["events_duplicate"], 1);
    assert_eq!(state(), ("refused".to_owned(), Some("no-answer".to_owned())));
    let db = open_store(&t.path().join("store.sqlite"));
    assert_eq!(count(&db, "SELECT COUNT(*) FROM outbox WHERE kind = 'question'"), 1);
}

#[test]
fn a_plugin_missing_at_first_ingest_gets_its_cases_when_the_events_come_again() {
    let t = TestDir::new();
    let mother = iin(1991, 3, 3, Sex::Female, 60);
    registry(&t, &[&mother]);
    let events = t.write("events.ndjson", &format!("{}\n", birth("B-LATE", &iin(2026, 11, 2, Sex::Male, 60), &mother)));
    let only_health = t.path().join("only-health");
    std::fs::create_dir_all(&only_health).unwrap();
    std::fs::copy(crate::support::component(crate::support::PLUGINS[0].0), only_health.join("health.wasm")).unwrap();
    let db = t.path().join("store.sqlite");
    let services = || -> Vec<String> {
        let db = open_store(&db);
        let mut st = db.prepare("SELECT service FROM cases ORDER BY service").unwrap();
        st.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    };
    let registry = t.path().join("registry");
    let args = ["ingest", path(&events), "--registry", path(&registry), "--db", path(&db)];
    proactive_ok(&[&args[..], &["--plugins", path(&only_health)]].concat(), t.path());
    assert_eq!(services(), ["health.newborn-attachment"]);

    let plugins = t.plugins(&[]);
    proactive_ok(&[&args[..], &["--plugins", path(&plugins)]].concat(), t.path());
    assert_eq!(services(), ["education.preschool-queue", "health.newborn-attachment", "labour.childbirth-benefit"]);
    // And once every service has its case, the events are plain duplicates.
    let report: Value =
        serde_json::from_str(&proactive_ok(&[&args[..], &["--plugins", path(&plugins), "--json"]].concat(), t.path()))
            .unwrap();
    assert_eq!(report["events_duplicate"], 1);
}

#[test]
fn identifiers_with_stray_spaces_still_reach_the_registries() {
    let t = TestDir::new();
    let mother = iin(1993, 4, 4, Sex::Female, 70);
    registry(&t, &[&mother]);
    let event = birth("B-SPACES", &format!(" {} ", iin(2026, 11, 2, Sex::Female, 70)), &format!(" {mother}"));
    let events = t.write("events.ndjson", &format!("{event}\n"));
    let (report, _) = ingest(&t, &events, &[]);
    assert_eq!(report["events_new"], 1);
    let db = open_store(&t.path().join("store.sqlite"));
    assert_eq!(count(&db, "SELECT COUNT(*) FROM cases WHERE state = 'gated-out'"), 0, "the mother was found");
}

#[test]
fn far_future_times_are_refused_at_intake_and_the_store_stays_usable() {
    let t = TestDir::new();
    let mother = iin(1994, 5, 5, Sex::Female, 80);
    registry(&t, &[&mother]);
    let mut far = birth("B-FAR", &iin(2026, 11, 2, Sex::Male, 80), &mother);
    far["occurred_at"] = json!("9999-12-31T23:59:59Z");
    let ok = birth("B-OK", &iin(2026, 11, 2, Sex::Male, 81), &mother);
    let events = t.write("events.ndjson", &format!("{far}\n{ok}\n"));
    let (report, stderr) = ingest(&t, &events, &[]);
    assert!(stderr.contains("events.ndjson:1: ") && stderr.contains("1900 and 2199"), "{stderr}");
    assert_eq!(report["events_new"], 1);
    assert_eq!(report["audit_intact"], true);
    let db = t.path().join("store.sqlite");
    let verify = proactive_ok(&["audit", "verify", "--db", path(&db)], t.path());
    assert!(verify.contains("intact"), "{verify}");
}

#[test]
fn a_missing_registry_stops_the_run_before_anything_is_stored() {
    let t = TestDir::new();
    let mother = iin(1995, 6, 6, Sex::Female, 90);
    let events =
        t.write("events.ndjson", &format!("{}\n", birth("B-NOREG", &iin(2026, 11, 2, Sex::Male, 90), &mother)));
    let plugins = t.plugins(&[]);
    let db = t.path().join("store.sqlite");
    for registry in [t.path().join("typo"), t.path().join("half")] {
        std::fs::create_dir_all(t.path().join("half")).unwrap();
        std::fs::write(t.path().join("half/numbers.ndjson"), "").unwrap();
        let out = proactive(
            &["ingest", path(&events), "--registry", path(&registry), "--db", path(&db), "--plugins", path(&plugins)],
            t.path(),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "a missing registry must fail the run");
        assert!(stderr.contains("does not exist") || stderr.contains("consents.ndjson is missing"), "{stderr}");
        assert!(!db.exists(), "nothing may be stored");
    }
}

#[test]
fn an_unreadable_registered_number_is_reported_at_load() {
    let t = TestDir::new();
    let mother = iin(1996, 7, 7, Sex::Female, 95);
    registry(&t, &[&mother]);
    let other = iin(1980, 1, 1, Sex::Male, 95);
    let numbers = std::fs::read_to_string(t.path().join("registry/numbers.ndjson")).unwrap();
    t.write("registry/numbers.ndjson", &format!("{numbers}{}\n", json!({ "iin": other, "phone": "call me maybe" })));
    let events = t.write("events.ndjson", &format!("{}\n", birth("B-NUM", &iin(2026, 11, 2, Sex::Male, 95), &mother)));
    let (report, stderr) = ingest(&t, &events, &[]);
    assert!(stderr.contains("numbers.ndjson:2: field `phone`: is not a phone number"), "{stderr}");
    assert_eq!(report["events_new"], 1);
}

#[test]
fn a_store_moved_without_its_keys_is_refused_with_the_reason() {
    let t = TestDir::new();
    let mother = iin(1997, 8, 8, Sex::Female, 99);
    registry(&t, &[&mother]);
    let events = t.write("events.ndjson", &format!("{}\n", birth("B-KEYS", &iin(2026, 11, 2, Sex::Male, 99), &mother)));
    ingest(&t, &events, &[]);
    let moved = t.path().join("moved.sqlite");
    std::fs::copy(t.path().join("store.sqlite"), &moved).unwrap();
    let plugins = t.plugins(&[]);
    let registry = t.path().join("registry");
    let out = proactive(
        &["ingest", path(&events), "--registry", path(&registry), "--db", path(&moved), "--plugins", path(&plugins)],
        t.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("moved.sqlite.keys") && stderr.contains("is missing"), "{stderr}");
    assert!(!t.path().join("moved.sqlite.keys").exists(), "no fresh keys are made for an old log");
}

#[test]
fn a_reply_naming_two_open_offers_is_ambiguous_not_an_answer_to_the_first() {
    let t = TestDir::new();
    let mother = iin(1998, 9, 9, Sex::Female, 97);
    registry(&t, &[&mother]);
    let events = t.write("events.ndjson", &format!("{}\n", birth("B-TWO", &iin(2026, 11, 2, Sex::Male, 97), &mother)));
    ingest(&t, &events, &["--until", "2026-11-02T12:00:00+05:00"]);
    let codes: Vec<(String, String)> = {
        let db = open_store(&t.path().join("store.sqlite"));
        let mut st =
            db.prepare("SELECT service, reply_code FROM cases WHERE event_id = 'B-TWO' ORDER BY service").unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().collect::<Result<_, _>>().unwrap()
    };
    assert_eq!(codes.len(), 3, "{codes:?}");
    let (health, other) = (&codes[1], &codes[0]);
    assert_eq!(health.0, "health.newborn-attachment");
    let replies = [
        json!({ "phone": "+77015550000", "text": format!("иә {} {}", health.1, other.1), "at": "2026-11-02T12:30:00+05:00" }),
        json!({ "phone": "+77015550000", "text": format!("иә {}", health.1), "at": "2026-11-02T12:40:00+05:00" }),
    ];
    let replies = t.write("replies.ndjson", &replies.iter().map(|r| format!("{r}\n")).collect::<String>());
    ingest(&t, &events, &["--replies", path(&replies)]);
    let db = open_store(&t.path().join("store.sqlite"));
    assert_eq!(count(&db, "SELECT COUNT(*) FROM inbound WHERE status = 'ambiguous'"), 1);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM inbound WHERE status = 'matched'"), 1);
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM cases WHERE event_id = 'B-TWO' AND state = 'provided'"),
        1,
        "only the offer the second reply named is answered"
    );
}
