//! The admin API over real HTTP: signed uploads, refusals that leave the active version
//! alone, history, rollback, disable, scheduled activation, and reloads under load.

use std::path::{Path, PathBuf};
use std::time::Instant;

use proactive_sdk::domain::Sex;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::http::Server;
use crate::support::{PLUGINS, TestDir, birth, component, iin, open_store, proactive_ok, registry};

/// The health component with a custom section appended: the same behaviour, other bytes,
/// so another version (and SHA-256) of the same plugin.
fn variant(tag: &str) -> Vec<u8> {
    let mut bytes = std::fs::read(component(PLUGINS[0].0)).expect("the health component");
    let name = b"proactive-test";
    let mut payload = vec![name.len() as u8];
    payload.extend_from_slice(name);
    payload.extend_from_slice(tag.as_bytes());
    assert!(payload.len() < 128, "one-byte LEB128 size");
    bytes.push(0);
    bytes.push(payload.len() as u8);
    bytes.extend_from_slice(&payload);
    bytes
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Agency keys made with the real CLI, and the `[[agencies]]` config for them.
struct Keys {
    dir: PathBuf,
    config: String,
}

impl Keys {
    fn new(t: &TestDir) -> Keys {
        let dir = t.path().join("keys");
        std::fs::create_dir_all(&dir).unwrap();
        let mut config = String::new();
        for agency in ["health", "labour"] {
            let out = dir.join(agency);
            proactive_ok(&["plugin", "keygen", "--out", out.to_str().unwrap()], t.path());
            let public = std::fs::read_to_string(out.with_extension("pub")).unwrap();
            config += &format!("[[agencies]]\nid = \"{agency}\"\npublic_key = \"{}\"\n", public.trim());
        }
        Keys { dir, config }
    }

    /// Sign with the real CLI; returns the signature text.
    fn sign(&self, t: &TestDir, bytes: &[u8], agency: &str) -> String {
        let file = t.path().join(format!("upload-{}.wasm", &sha(bytes)[..12]));
        std::fs::write(&file, bytes).unwrap();
        let key = self.dir.join(format!("{agency}.key"));
        proactive_ok(&["plugin", "sign", file.to_str().unwrap(), "--key", key.to_str().unwrap()], t.path());
        std::fs::read_to_string(format!("{}.sig", file.display())).unwrap().trim().to_owned()
    }
}

fn upload(server: &Server, token: &str, bytes: &[u8], signature: Option<&str>, query: &str) -> (u16, Value) {
    let mut headers = vec![("Content-Type", "application/wasm")];
    if let Some(s) = signature {
        headers.push(("Proactive-Signature", s));
    }
    server.send("POST", &format!("/admin/v1/plugins/health/versions{query}"), Some(token), &headers, Some(bytes))
}

fn active_sha(server: &Server) -> Option<String> {
    let (status, body) = server.get("/admin/v1/plugins", "admin");
    assert_eq!(status, 200, "{body}");
    let health = body["plugins"].as_array().unwrap().iter().find(|p| p["plugin"] == "health").cloned()?;
    if health["state"] != "active" {
        return None;
    }
    health["active"]["sha256"].as_str().map(str::to_owned)
}

/// The SHA-256 of the plugin build behind the health case of an event.
/// The health case of an event, by the admin's case list.
fn health_case(server: &Server, event: &str) -> i64 {
    let (_, list) = server.get("/v1/cases?service=health.newborn-attachment&limit=1000", "admin");
    let found = list["cases"].as_array().unwrap().iter().find(|c| c["event_id"] == event);
    found.and_then(|c| c["id"].as_i64()).unwrap_or_else(|| panic!("no health case for {event}: {list}"))
}

fn health_decision_sha(db: &Path, event: &str) -> String {
    open_store(db)
        .query_row(
            "SELECT d.plugin_hash FROM decisions d JOIN cases c ON c.id = d.case_id \
             WHERE c.event_id = ?1 AND c.service LIKE 'health%' ORDER BY d.id LIMIT 1",
            [event],
            |r| r.get(0),
        )
        .expect("a health decision for the event")
}

fn setup(seed: u16, args: &[&str]) -> (TestDir, Server, Keys, String) {
    let t = TestDir::new();
    let mother = iin(1990, 2, 3, Sex::Female, seed);
    registry(&t, &[&mother]);
    let keys = Keys::new(&t);
    let server = Server::start_with(&t, &keys.config, args);
    (t, server, keys, mother)
}

#[test]
fn signed_uploads_swap_in_and_every_refusal_leaves_the_active_version() {
    let (t, server, keys, mother) = setup(50, &[]);
    let original = sha(&std::fs::read(component(PLUGINS[0].0)).unwrap());
    assert_eq!(active_sha(&server).as_deref(), Some(original.as_str()), "seeded from the plugins folder");
    let (_, listed) = server.get("/admin/v1/plugins", "health");
    let names: Vec<&str> =
        listed["plugins"].as_array().unwrap().iter().map(|p| p["plugin"].as_str().unwrap()).collect();
    assert_eq!(names, ["health"], "an agency lists only its own plugins");

    let v2 = variant("v2");
    let (status, body) = upload(&server, "health", &v2, Some(&keys.sign(&t, &v2, "health")), "");
    assert_eq!((status, body["state"].as_str()), (201, Some("active")), "{body}");
    assert_eq!(active_sha(&server), Some(sha(&v2)));
    let child = |n: u16| iin(2026, 11, 2, Sex::Male, 50 + n);
    let (status, _) = server.post_json("/v1/events", "source", &birth("E-ADM-1", &child(1), &mother));
    assert_eq!(status, 201);
    assert_eq!(health_decision_sha(&server.db, "E-ADM-1"), sha(&v2), "new work runs on the new version");
    // The same bytes again change nothing: the stored version stands as first uploaded,
    // and the answer says it is active (it is), not "stored".
    let (_, before) = server.get("/admin/v1/plugins/health/versions", "admin");
    let (status, body) = upload(&server, "labour", &v2, Some(&keys.sign(&t, &v2, "health")), "?activate=false");
    assert_eq!(status, 403, "another agency still may not: {body}");
    let (status, body) = upload(&server, "admin", &v2, Some(&keys.sign(&t, &v2, "health")), "?activate=false");
    assert_eq!((status, body["state"].as_str()), (201, Some("active")), "{body}");
    let (_, after) = server.get("/admin/v1/plugins/health/versions", "admin");
    assert_eq!(before, after, "no new version, no new action");
    assert_eq!(body["version"], before["versions"][1], "the stored version, as stored: {body}");

    let v3 = variant("v3");
    let good = keys.sign(&t, &v3, "health");
    let mut tampered = v3.clone();
    *tampered.last_mut().unwrap() ^= 0x20;
    // (token, bytes, signature, status, error code)
    type Refusal<'a> = (&'a str, Vec<u8>, Option<String>, u16, &'a str);
    let refusals: Vec<Refusal> = vec![
        ("health", tampered.clone(), Some(good.clone()), 403, "bad-signature"),
        ("admin", tampered, Some(good.clone()), 403, "bad-signature"),
        // Signed by another agency: named as the wrong agency, not as a broken signature.
        ("health", v3.clone(), Some(keys.sign(&t, &v3, "labour")), 403, "forbidden"),
        ("admin", v3.clone(), Some(keys.sign(&t, &v3, "labour")), 403, "bad-signature"),
        ("health", v3.clone(), None, 400, "signature-missing"),
        ("health", v3.clone(), Some("not base64!".into()), 400, "signature-malformed"),
        ("labour", v3.clone(), Some(good.clone()), 403, "forbidden"),
        // The token's agency has no key at all: still named as the wrong agency.
        ("stranger", v3.clone(), Some(good.clone()), 403, "forbidden"),
        ("source", v3.clone(), Some(good.clone()), 403, "forbidden"),
        (
            "health",
            b"not a component".to_vec(),
            Some(keys.sign(&t, b"not a component", "health")),
            422,
            "invalid-component",
        ),
    ];
    for (token, bytes, signature, want, code) in refusals {
        let (status, body) = upload(&server, token, &bytes, signature.as_deref(), "");
        assert_eq!((status, body["error"].as_str()), (want, Some(code)), "as {token}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
        assert_eq!(active_sha(&server), Some(sha(&v2)), "a refused upload left the active version");
    }
    let (status, body) =
        server.declare_only("/admin/v1/plugins/health/versions", "health", &[("Proactive-Signature", &good)], 33 << 20);
    assert_eq!((status, body["error"].as_str()), (413, Some("too-large")), "{body}");

    // Rollback, disable and activate by hash.
    let (status, body) = server.call("POST", "/admin/v1/plugins/health/rollback", Some("health"), None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(active_sha(&server), Some(original.clone()), "rollback returns to the previous version");
    let (status, _) = server.call("POST", "/admin/v1/plugins/health/disable", Some("admin"), None);
    assert_eq!(status, 200);
    let (status, _) = server.call("POST", "/admin/v1/plugins/health/disable", Some("admin"), None);
    assert_eq!(status, 200, "disabling a disabled plugin is fine, and recorded once (below)");
    assert_eq!(active_sha(&server), None);
    let (_, body) = server.post_json("/v1/events", "source", &birth("E-ADM-2", &child(2), &mother));
    assert_eq!(body["cases"], 3, "a disabled plugin's service still opens its case: {body}");
    let waiting = health_case(&server, "E-ADM-2");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (_, case) = server.get(&format!("/v1/cases/{waiting}"), "admin");
    assert_eq!(case["state"], "received", "it waits for the plugin, undecided: {case}");
    let activate = json!({ "sha256": sha(&v2) }).to_string();
    let (status, body) =
        server.call("POST", "/admin/v1/plugins/health/activate", Some("health"), Some(("application/json", &activate)));
    assert_eq!(status, 200, "{body}");
    assert_eq!(active_sha(&server), Some(sha(&v2)));
    let decided = server.wait_case(waiting, "decided once the plugin is back", |c| c["state"] != "received");
    assert_eq!(decided["decisions"][0]["plugin"]["sha256"], sha(&v2), "{decided}");
    let (status, body) =
        server.call("POST", "/admin/v1/plugins/health/activate", Some("labour"), Some(("application/json", &activate)));
    assert_eq!((status, body["error"].as_str()), (404, Some("not-found")), "another agency's plugin: {body}");
    let bogus = json!({ "sha256": "00" }).to_string();
    let (status, _) =
        server.call("POST", "/admin/v1/plugins/health/activate", Some("admin"), Some(("application/json", &bogus)));
    assert_eq!(status, 404);

    let (status, history) = server.get("/admin/v1/plugins/health/versions", "health");
    assert_eq!(status, 200, "{history}");
    let actions: Vec<(&str, &str)> = history["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["action"].as_str().unwrap(), a["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [
            ("upload", "folder:health.wasm"),
            ("activate", "folder:health.wasm"),
            ("upload", "health"),
            ("activate", "health"),
            ("rollback", "health"),
            ("disable", "admin"),
            ("activate", "health"),
        ]
    );
    assert_eq!(history["versions"].as_array().map(Vec::len), Some(2), "refused uploads stored nothing");
    let audited: i64 = open_store(&server.db)
        .query_row(
            "SELECT COUNT(*) FROM audit WHERE entry LIKE '%admin:health%' AND entry LIKE '%plugin.rollback%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(audited, 1, "admin actions are audited with their actor");
}

#[test]
fn a_version_does_not_run_before_its_effective_from_time() {
    let t0 = "2026-12-10T09:00:00+05:00";
    let dir = TestDir::new();
    let clock = dir.write("clock.txt", t0);
    let (t, server, keys, mother) = setup(60, &["--clock-file", clock.to_str().unwrap()]);
    let original = sha(&std::fs::read(component(PLUGINS[0].0)).unwrap());
    let v2 = variant("dated");
    let (status, body) =
        upload(&server, "health", &v2, Some(&keys.sign(&t, &v2, "health")), "?effective_from=2026-12-11");
    assert_eq!((status, body["state"].as_str()), (201, Some("scheduled")), "{body}");
    let (_, listed) = server.get("/admin/v1/plugins", "admin");
    let health = listed["plugins"].as_array().unwrap().iter().find(|p| p["plugin"] == "health").unwrap().clone();
    assert_eq!(health["pending"]["sha256"], json!(sha(&v2)), "{health}");
    let child = |n: u16| iin(2026, 11, 2, Sex::Female, 60 + n);
    server.post_json("/v1/events", "source", &birth("E-EFF-1", &child(1), &mother));
    assert_eq!(health_decision_sha(&server.db, "E-EFF-1"), original, "before its date the old version decides");
    // Still not at 23:59 local on the eve.
    std::fs::write(&clock, "2026-12-10T23:59:00+05:00").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(active_sha(&server), Some(original.clone()));

    std::fs::write(&clock, "2026-12-11T00:00:01+05:00").unwrap();
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    while active_sha(&server) != Some(sha(&v2)) {
        assert!(Instant::now() < deadline, "the scheduled version never activated");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    server.post_json("/v1/events", "source", &birth("E-EFF-2", &child(2), &mother));
    assert_eq!(health_decision_sha(&server.db, "E-EFF-2"), sha(&v2));
}

#[test]
fn fifty_reloads_under_load_fail_nothing_and_each_decision_names_the_version_then_active() {
    let t = TestDir::new();
    let mothers: Vec<String> = (0..40).map(|n| iin(1989, 6, 7, Sex::Female, 100 + n)).collect();
    let refs: Vec<&str> = mothers.iter().map(String::as_str).collect();
    registry(&t, &refs);
    let keys = Keys::new(&t);
    let server = std::sync::Arc::new(Server::start(&t, &keys.config));
    let (a, b) = (variant("flavour-a"), variant("flavour-b"));
    for v in [&a, &b] {
        let (status, body) = upload(&server, "health", v, Some(&keys.sign(&t, v, "health")), "?activate=false");
        assert_eq!(status, 201, "{body}");
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let client = {
        let (server, stop, mothers) = (server.clone(), stop.clone(), mothers.clone());
        std::thread::spawn(move || {
            let mut sent: Vec<(String, Instant, Instant)> = Vec::new();
            let mut n = 0u16;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || n < 20 {
                let id = format!("E-LOAD-{n}");
                let mother = &mothers[n as usize % mothers.len()];
                let started = Instant::now();
                let (status, body) = server.post_json(
                    "/v1/events",
                    "source",
                    &birth(&id, &iin(2026, 11, 2, Sex::Male, 200 + n), mother),
                );
                assert_eq!((status, body["cases"].as_u64()), (201, Some(3)), "{id}: {body}");
                sent.push((id, started, Instant::now()));
                n += 1;
            }
            sent
        })
    };
    for i in 0..50 {
        let v = if i % 2 == 0 { &a } else { &b };
        let body = json!({ "sha256": sha(v) }).to_string();
        let (status, answer) =
            server.call("POST", "/admin/v1/plugins/health/activate", Some("admin"), Some(("application/json", &body)));
        assert_eq!(status, 200, "activation {i}: {answer}");
        // Let some events through between swaps.
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = client.join().expect("the client saw no failed request");
    assert!(sent.len() >= 20, "{} events", sent.len());

    let db = open_store(&server.db);
    let per_event: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM (SELECT event_id FROM cases WHERE event_id LIKE 'E-LOAD-%' GROUP BY event_id HAVING COUNT(*) = 3)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(per_event as usize, sent.len(), "exactly one case per subscribed service for every event");
    let seeded = sha(&std::fs::read(component(PLUGINS[0].0)).unwrap());
    for (id, _, _) in &sent {
        let decided = health_decision_sha(&server.db, id);
        assert!([sha(&a), sha(&b), seeded.clone()].contains(&decided), "{id} was decided by {decided}");
    }
    // Steps and swaps are serialised, and the audit log records both in order: every
    // health decision must name the build of the latest activation before it.
    let mut current: Option<String> = None;
    let (mut decisions, mut swaps) = (0, 0);
    let mut rows = db.prepare("SELECT entry FROM audit ORDER BY seq").unwrap();
    for entry in rows.query_map([], |r| r.get::<_, String>(0)).unwrap() {
        let entry: Value = serde_json::from_str(&entry.unwrap()).unwrap();
        let actor = entry["actor"].as_str().unwrap_or_default();
        if entry["action"] == "plugin.activate" && entry["detail"]["plugin"] == "health" {
            current = entry["detail"]["sha256"].as_str().map(str::to_owned);
            swaps += 1;
        } else if let Some(build) = actor.strip_prefix("plugin:health@") {
            let hash = build.split("#sha256:").nth(1).map(str::to_owned);
            assert_eq!(hash, current, "a decision named a build that was not active then: {entry}");
            decisions += 1;
        }
    }
    assert_eq!(swaps, 51, "the seeding activation and fifty reloads");
    assert!(decisions >= sent.len(), "{decisions} health decisions for {} events", sent.len());
    let builds: i64 = db
        .query_row(
            "SELECT COUNT(DISTINCT d.plugin_hash) FROM decisions d JOIN cases c ON c.id = d.case_id \
             WHERE c.event_id LIKE 'E-LOAD-%' AND c.service LIKE 'health%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(builds >= 2, "the load saw both builds (and maybe the seeded one): {builds}");
    eprintln!("reload under load: {} events, {decisions} health decisions, {builds} builds", sent.len());
}

#[test]
fn plugin_push_refuses_an_oversized_file_before_sending_it() {
    let t = TestDir::new();
    let big = t.path().join("big.wasm");
    std::fs::write(&big, vec![0u8; (33 << 20) as usize]).unwrap();
    let args = ["plugin", "push", big.to_str().unwrap(), "--server", "http://127.0.0.1:9", "--token", "x"];
    let out = crate::support::proactive(&args, t.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("over the 33554432-byte limit"), "{stderr}");
}
