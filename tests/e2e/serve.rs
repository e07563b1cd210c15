//! `proactive serve`: the real binary on loopback, the real components, real HTTP.

use std::path::Path;

use proactive_sdk::domain::Sex;
use serde_json::json;

use crate::http::{Server, case_ids_by_service, now_rfc3339, started};
use crate::support::{HOSTILE, TestDir, birth, component, iin, open_store, proactive_ok, registry};

#[test]
fn an_event_over_http_becomes_cases_an_sms_and_a_provided_service() {
    let (t, server, mother, child) = started(20);
    let event = birth("E-HTTP-1", &child, &mother);

    let (status, body) = server.post_json("/v1/events", "source", &event);
    assert_eq!((status, &body["status"]), (201, &json!("accepted")), "{body}");
    assert_eq!(body["cases"], 3, "health, labour and education subscribe to births: {body}");
    let (status, body) = server.post_json("/v1/events", "source", &event);
    assert_eq!((status, &body["status"]), (200, &json!("duplicate")), "the same id again adds nothing: {body}");

    let cases = case_ids_by_service(&server);
    assert_eq!(cases.len(), 3, "{cases:?}");
    let health = cases.iter().find(|(s, _)| s.starts_with("health")).expect("a health case").1;
    // The ticker sends the offer inside the (test's all-day) window.
    let sent = server.wait_case(health, "awaiting a reply", |c| c["state"] == "awaiting-reply");
    let decision = &sent["decisions"][0];
    assert_eq!(decision["decision"], "offer", "{sent}");
    assert_eq!(decision["plugin"]["id"], "health", "{sent}");
    assert_eq!(decision["plugin"]["sha256"].as_str().map(str::len), Some(64), "{sent}");
    assert!(sent.get("phone").is_none() && sent.get("recipient").is_none(), "no personal data in a case view: {sent}");

    let code: String = open_store(&server.db)
        .query_row("SELECT reply_code FROM cases WHERE id = ?1", [health], |r| r.get(0))
        .expect("the offer's reply code");
    let reply = json!({ "from": "+7 701 555 00 00", "text": format!("иә {code}"), "at": now_rfc3339() });
    let (status, body) = server.post_json("/v1/sms/inbound", "gateway", &reply);
    assert_eq!((status, &body["status"]), (200, &json!("matched")), "{body}");
    let (_, body) = server.post_json("/v1/sms/inbound", "gateway", &reply);
    assert_eq!(body["status"], "duplicate", "a retried webhook is taken once: {body}");
    let done = server.wait_case(health, "provided", |c| c["state"] == "provided");
    assert_eq!(done["decisions"].as_array().map(Vec::len), Some(2), "{done}");

    let db = server.db.clone();
    let (clean, log) = server.terminate();
    assert!(clean, "SIGTERM is a clean exit:\n{log}");
    assert!(log.contains("stopped"), "{log}");
    assert!(log.lines().any(|l| l.contains("path=/v1/events") && l.contains("status=201")), "a request log: {log}");
    for secret in [mother.as_str(), child.as_str(), "7015550000"] {
        assert!(!log.contains(secret), "the server log holds personal data:\n{log}");
    }
    let out = proactive_ok(&["audit", "verify", "--db", db.to_str().unwrap()], t.path());
    assert!(out.contains("intact"), "{out}");
    assert!(out.contains("(0 not yet signed)"), "shutdown signs the whole log: {out}");
}

#[test]
fn agencies_see_only_their_own_cases_and_roles_only_their_routes() {
    let (_t, server, mother, child) = started(30);
    let (status, body) = server.post_json("/v1/events", "source", &birth("E-SCOPE-1", &child, &mother));
    assert_eq!(status, 201, "{body}");
    let cases = case_ids_by_service(&server);
    let id_of = |prefix: &str| cases.iter().find(|(s, _)| s.starts_with(prefix)).expect("a case").1;
    let (health, labour) = (id_of("health"), id_of("labour"));

    let listed = |token: &str| -> Vec<String> {
        let (status, body) = server.get("/v1/cases", token);
        assert_eq!(status, 200, "{token}: {body}");
        body["cases"].as_array().unwrap().iter().map(|c| c["agency"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(listed("health"), ["health"]);
    assert_eq!(listed("labour"), ["labour"]);
    assert_eq!(listed("stranger"), Vec::<String>::new());
    assert_eq!(listed("admin").len(), 3);

    let event = birth("E-SCOPE-2", &child, &mother).to_string();
    let reply = json!({ "from": "+77015550000", "text": "да", "at": now_rfc3339() }).to_string();
    let receipt = json!({ "message_id": "sim-none", "status": "delivered", "at": now_rfc3339() }).to_string();
    let json_body = |b: &str| Some(("application/json", b.to_owned()));
    // (method, path, body) against every role: the expected status per role.
    type Row<'a> = (&'a str, String, Option<(&'a str, String)>, [u16; 7]);
    //            roles: admin health labour source gateway stranger (none)
    let rows: Vec<Row> = vec![
        ("POST", "/v1/events".into(), json_body(&event), [403, 403, 403, 201, 403, 403, 401]),
        ("GET", "/v1/cases".into(), None, [200, 200, 200, 403, 403, 200, 401]),
        ("GET", format!("/v1/cases/{health}"), None, [200, 200, 404, 403, 403, 404, 401]),
        ("GET", format!("/v1/cases/{labour}"), None, [200, 404, 200, 403, 403, 404, 401]),
        ("POST", "/v1/sms/inbound".into(), json_body(&reply), [403, 403, 403, 403, 200, 403, 401]),
        // The gateway passes the role check and learns only that no message has that id.
        ("POST", "/v1/sms/status".into(), json_body(&receipt), [403, 403, 403, 403, 404, 403, 401]),
        ("GET", "/healthz".into(), None, [200; 7]),
        ("GET", "/readyz".into(), None, [200; 7]),
        ("GET", "/openapi.json".into(), None, [200; 7]),
        // Another agency's plugin answers as if it did not exist, like its cases.
        ("GET", "/admin/v1/plugins".into(), None, [200, 200, 200, 403, 403, 200, 401]),
        ("GET", "/admin/v1/plugins/health/versions".into(), None, [200, 200, 404, 403, 403, 404, 401]),
        (
            "POST",
            "/admin/v1/plugins/health/versions".into(),
            Some(("application/wasm", "not wasm".into())),
            [422, 400, 400, 403, 403, 400, 401],
        ),
        (
            "POST",
            "/admin/v1/plugins/health/activate".into(),
            json_body(r#"{"sha256":"00"}"#),
            [404, 404, 404, 403, 403, 404, 401],
        ),
        ("POST", "/admin/v1/plugins/health/rollback".into(), None, [409, 409, 404, 403, 403, 404, 401]),
        ("POST", "/admin/v1/plugins/health/disable".into(), None, [200, 200, 404, 403, 403, 404, 401]),
        ("POST", "/admin/v1/plugins/health/enable".into(), None, [200, 200, 404, 403, 403, 404, 401]),
    ];
    let roles = ["admin", "health", "labour", "source", "gateway", "stranger"];
    for (method, path, body, expected) in rows {
        for (i, want) in expected.iter().enumerate() {
            let token = roles.get(i).copied();
            let body = body.as_ref().map(|(c, b)| (*c, b.as_str()));
            let (status, answer) = server.call(method, &path, token, body);
            assert_eq!(status, *want, "{method} {path} as {token:?}: {answer}");
            if status >= 400 {
                assert!(answer["error"].is_string() && answer["message"].is_string(), "{answer}");
            }
        }
    }
    let (status, _) = server.call("GET", "/v1/cases", None, None);
    assert_eq!(status, 401);
    let (status, body) = server.call("GET", "/v1/cases", Some("nobody"), None);
    assert_eq!((status, body["error"].as_str()), (401, Some("unauthorized")));
}

#[test]
fn bad_input_gets_a_json_4xx_that_names_the_problem() {
    let (_t, server, mother, child) = started(40);
    let post =
        |content_type: &str, body: &str| server.call("POST", "/v1/events", Some("source"), Some((content_type, body)));

    let (status, body) = post("application/json", "{\"id\": \"E-1\", \"kind\": ");
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("malformed JSON at column"), "{body}");
    let mut no_kind = birth("E-2", &child, &mother);
    no_kind.as_object_mut().unwrap().remove("kind");
    let (status, body) = post("application/json", &no_kind.to_string());
    assert_eq!((status, body["message"].as_str()), (400, Some("missing field `kind`")), "{body}");
    let mut wrong_type = birth("E-3", &child, &mother);
    wrong_type["occurred_at"] = json!(12);
    let (status, body) = post("application/json", &wrong_type.to_string());
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("`occurred_at`"), "{body}");
    let mut future = birth("E-4", &child, &mother);
    future["occurred_at"] = json!("2199-01-01T00:00:00+05:00");
    let (status, body) = post("application/json", &future.to_string());
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("in the future"), "{body}");
    // The kind is an IIN: no error may echo it.
    let mut iin_kind = birth("E-5", &child, &mother);
    iin_kind["kind"] = json!(mother);
    let (status, body) = post("application/json", &iin_kind.to_string());
    assert_eq!(status, 400);
    assert!(!body.to_string().contains(&mother), "an error body echoed an IIN: {body}");

    let batch = [
        birth("E-B1", &child, &mother).to_string(),
        "not json".into(),
        birth("E-B1", &child, &mother).to_string(),
        String::new(),
        birth("E-B2", &iin(2026, 11, 3, Sex::Female, 41), &mother).to_string(),
    ]
    .join("\n");
    let (status, body) = post("application/x-ndjson", &batch);
    assert_eq!(status, 200, "{body}");
    assert_eq!((&body["accepted"], &body["duplicate"], &body["rejected"]), (&json!(2), &json!(1), &json!(1)), "{body}");
    let statuses: Vec<(u64, &str)> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(statuses, [(1, "accepted"), (2, "rejected"), (3, "duplicate"), (5, "accepted")]);

    // A body must say what it is: anything but JSON (or NDJSON for events) is a 415.
    let event = birth("E-CT", &child, &mother).to_string();
    for (path, token) in [("/v1/events", "source"), ("/v1/sms/inbound", "gateway"), ("/v1/sms/status", "gateway")] {
        let (status, body) = server.call("POST", path, Some(token), Some(("text/plain", &event)));
        assert_eq!((status, body["error"].as_str()), (415, Some("unsupported-media-type")), "{path}: {body}");
        assert!(body["message"].as_str().unwrap().contains("text/plain"), "names what came: {body}");
        let (status, body) = server.send("POST", path, Some(token), &[], Some(event.as_bytes()));
        assert_eq!(status, 415, "{path} without a Content-Type: {body}");
    }
    let (status, body) = post("application/json; charset=utf-8", &event);
    assert_eq!(status, 201, "parameters are fine: {body}");

    let (status, body) = post("application/json", &"x".repeat(70_000));
    assert_eq!((status, body["error"].as_str()), (413, Some("too-large")), "{body}");
    let (status, body) = server.call("GET", "/v2/nothing", Some("admin"), None);
    assert_eq!((status, body["error"].as_str()), (404, Some("not-found")));
    let (status, body) = server.call("DELETE", "/v1/events", Some("source"), None);
    assert_eq!((status, body["error"].as_str()), (405, Some("method-not-allowed")));
    let (status, body) = server.get("/v1/cases/abc", "admin");
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid-case-id")));
    let (status, body) = server.get("/v1/cases?state=lost", "admin");
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("`state`"), "{body}");
    let (status, body) = server.get("/v1/cases?colour=red", "admin");
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("`colour`"), "{body}");
    let (status, body) =
        server.post_json("/v1/sms/inbound", "gateway", &json!({ "from": "+77015550000", "text": "да" }));
    assert_eq!((status, body["message"].as_str()), (400, Some("missing field `at`")), "{body}");
    // A gateway's clock may not date a decision in another century, either way.
    for (at, problem) in [("2199-12-31T12:00:00+05:00", "in the future"), ("1901-01-01T12:00:00+05:00", "days ago")] {
        let reply = json!({ "from": "+77015550000", "text": "да", "at": at });
        let (status, body) = server.post_json("/v1/sms/inbound", "gateway", &reply);
        assert_eq!(status, 400, "{at}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains("`at`") && message.contains(problem), "{at}: {body}");
    }
    // A sender that is no phone number (an IIN, a name) is refused, never stored.
    for from in ["261112654687", "Aigerim"] {
        let reply = json!({ "from": from, "text": "да", "at": crate::http::now_rfc3339() });
        let (status, body) = server.post_json("/v1/sms/inbound", "gateway", &reply);
        assert_eq!(status, 400, "{from}: {body}");
        assert!(body["message"].as_str().unwrap().contains("field `from`: is not a phone number"), "{body}");
        assert!(!body.to_string().contains(from), "the value is not echoed: {body}");
    }
    let receipt = json!({ "message_id": "sim-1", "status": "delivered", "at": "2199-12-31T12:00:00+05:00" });
    let (status, body) = server.post_json("/v1/sms/status", "gateway", &receipt);
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("in the future"), "{body}");

    // One id for two different events: refused, and the stored one untouched.
    let mut other = birth("E-B1", &iin(2026, 11, 4, Sex::Male, 42), &mother);
    other["attributes"]["birth_order"] = json!("3");
    let (status, body) = post("application/json", &other.to_string());
    assert_eq!((status, body["error"].as_str()), (409, Some("event-id-conflict")), "{body}");
    let batch = [other.to_string(), birth("E-B1", &child, &mother).to_string()].join("\n");
    let (status, body) = post("application/x-ndjson", &batch);
    assert_eq!(status, 200, "{body}");
    let statuses: Vec<&str> =
        body["results"].as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!((statuses, &body["conflict"]), (vec!["conflict", "duplicate"], &json!(1)), "{body}");
    let stored: String =
        open_store(&server.db).query_row("SELECT body FROM events WHERE id = 'E-B1'", [], |r| r.get(0)).unwrap();
    assert!(stored.contains(&child), "the first event stands");

    // No error body quotes an identifier back, whatever route or part of the request held it.
    let iin_text = mother.clone();
    let echoes = [
        server.get(&format!("/v1/cases/{iin_text}"), "admin"),
        server.get(&format!("/v1/cases?{iin_text}=1"), "admin"),
        server.call("POST", &format!("/admin/v1/plugins/{iin_text}/enable"), Some("admin"), None),
        server.call("POST", "/admin/v1/plugins/x/disable?a=%2B77757378103", Some("admin"), None),
        server.post_json(
            "/v1/sms/inbound",
            "gateway",
            &json!({ "from": "+77015550000", "text": "да", "at": now_rfc3339(), iin_text.clone(): 1 }),
        ),
        server.post_json(
            "/v1/sms/status",
            "gateway",
            &json!({ "message_id": "+77757378103", "status": "delivered", "at": now_rfc3339(), "+77757378103": 1 }),
        ),
        server.send(
            "POST",
            &format!("/admin/v1/plugins/{iin_text}/versions"),
            Some("admin"),
            &[("Proactive-Signature", "AAAA")],
            Some(b"not wasm"),
        ),
    ];
    for (status, body) in echoes {
        assert!((400..500).contains(&status), "{status} {body}");
        let text = body.to_string();
        assert!(
            !text.contains(&iin_text) && !text.contains("77757378103"),
            "an error body quotes an identifier: {text}"
        );
    }

    // After all of that, the server still serves and the store holds exactly the good events.
    let (status, _) = server.call("GET", "/healthz", None, None);
    assert_eq!(status, 200);
    let events: i64 = open_store(&server.db).query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0)).unwrap();
    assert_eq!(events, 3, "E-B1, E-B2 and E-CT");
}

#[test]
fn a_client_that_never_finishes_its_request_does_not_hold_the_shutdown() {
    use std::io::Write as _;
    let t = TestDir::new();
    registry(&t, &[]);
    let server = Server::start(&t, "drain_seconds = 1\n");
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut stalled = std::net::TcpStream::connect(&addr).unwrap();
    stalled.write_all(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{").unwrap();
    let mut half_headers = std::net::TcpStream::connect(&addr).unwrap();
    half_headers.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let (clean, log) = server.terminate();
    assert!(clean, "{log}");
    assert!(log.contains("closing them") && log.contains("stopped"), "{log}");
    drop((stalled, half_headers));
}

#[test]
fn a_bad_config_is_refused_with_the_setting_named() {
    let t = TestDir::new();
    registry(&t, &[]);
    let plugins = t.plugins(&[]);
    let config =
        t.write("bad.toml", "listen = \"127.0.0.1:0\"\n[[tokens]]\nid = \"x\"\nsha256 = \"00\"\nrole = \"admin\"\n");
    let out = crate::support::proactive(
        &["serve", "--config", path_str(&config), "--plugins", path_str(&plugins), "--registry", "registry"],
        t.path(),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("sha256"), "{stderr}");
    let missing = crate::support::proactive(
        &["serve", "--plugins", path_str(&plugins), "--registry", "nowhere", "--listen", "127.0.0.1:0"],
        t.path(),
    );
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("registry folder"), "{missing:?}");
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// The value of the one metric line whose name and labels all match.
fn metric(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| labels.iter().all(|want| l.contains(want)))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[test]
fn metrics_count_plugin_calls_limit_kills_and_pipeline_steps() {
    let t = TestDir::new();
    let mother = iin(1994, 9, 10, Sex::Female, 70);
    registry(&t, &[&mother]);
    std::fs::create_dir_all(t.path().join("plugins")).unwrap();
    std::fs::copy(component(HOSTILE.0), t.path().join("plugins/hostile.wasm")).unwrap();
    let server = Server::start(&t, "");
    let mut looping = birth("E-MET-1", &iin(2026, 11, 2, Sex::Male, 70), &mother);
    looping["attributes"]["region"] = json!("loop");
    let (status, body) = server.post_json("/v1/events", "source", &looping);
    assert_eq!((status, &body["cases"]), (201, &json!(4)), "the three ministries and the hostile plugin: {body}");
    let (_, body) = server.post_json("/v1/events", "source", &looping);
    assert_eq!(body["status"], "duplicate");

    let (status, text) = server.get_text("/metrics");
    assert_eq!(status, 200, "{text}");
    let calls = |plugin: &str| {
        metric(&text, "proactive_plugin_invocations_total", &[&format!("plugin=\"{plugin}\""), "stage=\"event\""])
    };
    for plugin in ["health", "labour", "education", "hostile"] {
        assert_eq!(calls(plugin), Some(1.0), "{plugin}:\n{text}");
    }
    let kill = &["plugin=\"hostile\"", "limit=\"cpu\""];
    assert_eq!(metric(&text, "proactive_plugin_limit_kills_total", kill), Some(1.0), "{text}");
    let errors = &["plugin=\"hostile\"", "kind=\"cpu-limit\""];
    assert_eq!(metric(&text, "proactive_plugin_errors_total", errors), Some(1.0), "{text}");
    let no_errors = metric(&text, "proactive_plugin_errors_total", &["plugin=\"health\"", "kind=\"trap\""]);
    assert_eq!(no_errors, Some(0.0), "a loaded plugin's series exist from the start, at zero: {text}");
    let count = &["plugin=\"health\""];
    assert_eq!(metric(&text, "proactive_plugin_call_duration_seconds_count", count), Some(1.0), "{text}");
    let step = |stage: &str, outcome: &str| {
        metric(&text, "proactive_pipeline_total", &[&format!("stage=\"{stage}\""), &format!("outcome=\"{outcome}\"")])
    };
    assert_eq!(step("intake", "accepted"), Some(1.0), "{text}");
    assert_eq!(step("intake", "duplicate"), Some(1.0), "{text}");
    assert_eq!(step("gate", "pass"), Some(4.0), "{text}");
    assert_eq!(step("decision", "failed"), Some(1.0), "{text}");
    assert!(!text.contains(&mother), "no identifier in a scrape");
}

#[test]
fn the_openapi_document_lists_every_route_and_each_one_answers_as_documented() {
    let t = TestDir::new();
    registry(&t, &[]);
    let server = Server::start(&t, "");
    let (status, doc) = server.get("/openapi.json", "admin");
    assert_eq!(status, 200, "{doc}");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{doc}");
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer", "{doc}");

    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("a path item") {
            operations.push(format!("{} {path}", method.to_uppercase()));
            let secured = op.get("security").is_some();
            let concrete = path.replace("{id}", "1");
            // No token: a secured route refuses with 401; an open one answers. Neither may
            // fall through to the router's "no such route" or "method not allowed".
            let (status, body) = if method == "get" && !secured {
                let (status, text) = server.get_text(&concrete);
                (status, serde_json::Value::String(text))
            } else {
                server.call(&method.to_uppercase(), &concrete, None, None)
            };
            let expected = if secured { 401 } else { 200 };
            assert_eq!(status, expected, "{method} {path} without a token: {body}");
            let responses = op["responses"].as_object().expect("responses");
            assert!(responses.keys().any(|c| c.starts_with('2')), "{method} {path}: no success documented");
            assert_eq!(responses.contains_key("401"), secured, "{method} {path}: 401 documented iff secured");
        }
    }
    operations.sort();
    let expected = [
        "GET /admin/v1/plugins",
        "GET /admin/v1/plugins/{id}/versions",
        "GET /healthz",
        "GET /metrics",
        "GET /openapi.json",
        "GET /readyz",
        "GET /v1/cases",
        "GET /v1/cases/{id}",
        "POST /admin/v1/plugins/{id}/activate",
        "POST /admin/v1/plugins/{id}/disable",
        "POST /admin/v1/plugins/{id}/enable",
        "POST /admin/v1/plugins/{id}/rollback",
        "POST /admin/v1/plugins/{id}/versions",
        "POST /v1/events",
        "POST /v1/sms/inbound",
        "POST /v1/sms/status",
    ];
    assert_eq!(operations, expected);

    // The schemas are the types the handlers answer with, and they carry no personal data.
    let case = &doc["components"]["schemas"]["CaseView"]["properties"];
    assert!(case.get("state").is_some() && case.get("decisions").is_some(), "{case}");
    for personal in ["recipient", "phone", "subject", "iin"] {
        assert!(case.get(personal).is_none(), "a case view must not carry `{personal}`");
    }
    let error = &doc["components"]["schemas"]["ErrorBody"]["required"];
    assert_eq!(error, &json!(["error", "message"]));
}

#[test]
fn the_files_a_server_keeps_beside_its_store_are_not_committed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    for file in ["proactive.sqlite.tokens", "proactive.sqlite.keys/audit-signing.key", "x.sqlite.cache/a", "health.key"]
    {
        let status = std::process::Command::new("git")
            .args(["check-ignore", "-q", file])
            .current_dir(root)
            .status()
            .expect("git, which CI's clean clone has");
        assert!(status.success(), "{file} is not ignored by .gitignore");
    }
}
