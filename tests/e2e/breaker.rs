//! The circuit breaker over HTTP: a plugin that fails call after call is paused and the
//! pause recorded; its services' new cases wait, undecided and not lost, through a
//! restart; the other plugins' cases go on; an administrator enables it and the waiting
//! cases are decided.

use proactive_sdk::domain::Sex;
use serde_json::{Value, json};

use crate::http::{Server, case_ids_by_service};
use crate::support::{HOSTILE, TestDir, birth, component, iin, registry};

const THRESHOLD: usize = 3;

fn hostile_event(n: usize, region: &str, mother: &str) -> Value {
    let mut e = birth(&format!("E-BRK-{n}"), &iin(2026, 11, 2, Sex::Male, 80 + n as u16), mother);
    e["attributes"]["region"] = json!(region);
    e
}

fn hostile_case(server: &Server, event: &str) -> Value {
    let (_, list) = server.get("/v1/cases?service=hostile.misbehave&limit=1000", "admin");
    let found = list["cases"].as_array().unwrap().iter().find(|c| c["event_id"] == event).cloned();
    found.unwrap_or_else(|| panic!("no hostile case for {event}: {list}"))
}

fn hostile_plugin(server: &Server) -> Value {
    let (_, list) = server.get("/admin/v1/plugins", "admin");
    list["plugins"].as_array().unwrap().iter().find(|p| p["plugin"] == "hostile").cloned().expect("listed")
}

#[test]
fn a_failing_plugin_is_paused_its_new_cases_wait_through_a_crash_and_run_once_enabled() {
    let t = TestDir::new();
    let mother = iin(1990, 5, 6, Sex::Female, 80);
    registry(&t, &[&mother]);
    std::fs::create_dir_all(t.path().join("plugins")).unwrap();
    std::fs::copy(component(HOSTILE.0), t.path().join("plugins/hostile.wasm")).unwrap();
    let config = format!("breaker_failures = {THRESHOLD}\n");
    let server = Server::start(&t, &config);

    for n in 0..THRESHOLD {
        let (status, body) = server.post_json("/v1/events", "source", &hostile_event(n, "loop", &mother));
        assert_eq!((status, &body["cases"]), (201, &json!(4)), "{body}");
        let case = hostile_case(&server, &format!("E-BRK-{n}"));
        assert_eq!(case["state"], "failed", "each failing call fails its own case: {case}");
    }
    // The trip is on record with the step that caused it: at once, not a tick later.
    assert_eq!(hostile_plugin(&server)["state"], "disabled", "{}", hostile_plugin(&server));
    // New events still open the hostile case, which waits.
    let waiting: Vec<String> = (THRESHOLD..THRESHOLD + 2).map(|n| format!("E-BRK-{n}")).collect();
    for (i, id) in waiting.iter().enumerate() {
        let (status, body) = server.post_json("/v1/events", "source", &hostile_event(THRESHOLD + i, "benign", &mother));
        assert_eq!((status, &body["cases"]), (201, &json!(4)), "{id}: {body}");
    }
    for id in &waiting {
        assert_eq!(hostile_case(&server, id)["state"], "received", "{id} waits, undecided");
    }
    let others = case_ids_by_service(&server);
    let health = others.iter().filter(|(s, _)| s.starts_with("health")).count();
    assert_eq!(health, THRESHOLD + 2, "the other plugins' cases went on: {others:?}");
    let (status, history) = server.get("/admin/v1/plugins/hostile/versions", "admin");
    assert_eq!(status, 200, "{history}");
    let last = history["actions"].as_array().unwrap().last().cloned().unwrap();
    assert_eq!((&last["action"], &last["actor"]), (&json!("disable"), &json!("breaker")), "{history}");
    let (_, metrics) = server.get_text("/metrics");
    assert!(
        metrics.lines().any(|l| l.starts_with("proactive_plugin_breaker_trips_total{plugin=\"hostile\"} 1")),
        "{metrics}"
    );

    // A crash right after keeps the pause and the waiting cases.
    server.kill();
    let server = Server::start(&t, &config);
    assert_eq!(hostile_plugin(&server)["state"], "disabled");
    let (_, ready) = server.get("/readyz", "admin");
    assert_eq!(ready["services"], 4, "a paused plugin's service is not counted as ready: {ready}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    for id in &waiting {
        assert_eq!(hostile_case(&server, id)["state"], "received", "{id} still waits after the restart");
    }

    let (status, body) = server.call("POST", "/admin/v1/plugins/hostile/enable", Some("health"), None);
    assert_eq!(status, 404, "another agency may not enable it: {body}");
    let (status, body) = server.call("POST", "/admin/v1/plugins/hostile/enable", Some("admin"), None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(hostile_plugin(&server)["state"], "active");
    for id in &waiting {
        let case = hostile_case(&server, id);
        let id_n = case["id"].as_i64().unwrap();
        let decided = server.wait_case(id_n, "decided once enabled", |c| c["state"] != "received");
        assert_eq!((&decided["state"], &decided["reason"]), (&json!("skipped"), &json!("benign")), "{decided}");
    }
    let (clean, log) = server.terminate();
    assert!(clean && log.contains("plugin hostile is disabled"), "the restart said so:\n{log}");
}

/// A paused plugin is not called for its open cases either: a reply to one is held, a
/// reply window that closes meanwhile waits, and on enable the held reply is decided first.
#[test]
fn replies_and_timers_of_a_paused_plugins_open_cases_wait_for_it() {
    let t = TestDir::new();
    let answering = iin(1990, 7, 8, Sex::Female, 84);
    let silent = iin(1990, 7, 9, Sex::Female, 85);
    registry(&t, &[&answering, &silent]);
    let clock = t.path().join("clock");
    std::fs::write(&clock, crate::http::now_rfc3339()).unwrap();
    let server = Server::start_with(&t, "", &["--clock-file", clock.to_str().unwrap()]);
    for (n, mother) in [&answering, &silent].into_iter().enumerate() {
        let child = iin(2026, 11, 6, Sex::Male, 84 + n as u16);
        let (status, body) = server.post_json("/v1/events", "source", &birth(&format!("E-HOLD-{n}"), &child, mother));
        assert_eq!(status, 201, "{body}");
    }
    let (_, list) = server.get("/v1/cases?service=health.newborn-attachment", "admin");
    let ids: Vec<i64> = list["cases"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect();
    let cases: Vec<Value> =
        ids.iter().map(|id| server.wait_case(*id, "sent", |c| c["state"] == "awaiting-reply")).collect();
    let (status, body) = server.call("POST", "/admin/v1/plugins/health/disable", Some("admin"), None);
    assert_eq!(status, 200, "{body}");

    let (reply_case, quiet_case) = (&cases[0], &cases[1]);
    let code = reply_case["reply_code"].as_str().unwrap();
    let reply = json!({ "from": "+77015550000", "text": format!("да {code}"), "at": crate::http::now_rfc3339() });
    let (status, body) = server.post_json("/v1/sms/inbound", "gateway", &reply);
    assert_eq!((status, &body["status"]), (200, &json!("matched")), "{body}");
    // Four days on: both windows have closed, but nothing is decided while health is paused.
    let later = (chrono::Utc::now() + chrono::Duration::days(4)).to_rfc3339();
    std::fs::write(&clock, &later).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(400));
    for c in [reply_case, quiet_case] {
        let (_, now) = server.get(&format!("/v1/cases/{}", c["id"]), "admin");
        assert_eq!(now["state"], "awaiting-reply", "undecided while paused: {now}");
    }
    let (status, body) = server.call("POST", "/admin/v1/plugins/health/enable", Some("admin"), None);
    assert_eq!(status, 200, "{body}");
    let answered = server.wait_case(reply_case["id"].as_i64().unwrap(), "provided", |c| c["state"] != "awaiting-reply");
    assert_eq!(answered["state"], "provided", "the reply that came in time decides, not the timer: {answered}");
    let quiet = server.wait_case(quiet_case["id"].as_i64().unwrap(), "refused", |c| c["state"] != "awaiting-reply");
    assert_eq!((&quiet["state"], &quiet["ground"]), (&json!("refused"), &json!("no-answer")), "{quiet}");
}
