//! The HTTP gateway: each message POSTed as JSON to an aggregator (here a small one in the
//! test, answering as told), with receipts and replies back through the host's webhooks.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proactive_sdk::domain::Sex;
use serde_json::{Value, json};

use crate::http::{Server, now_rfc3339};
use crate::support::{TestDir, birth, count, iin, open_store, registry};

/// One request as the aggregator saw it.
#[derive(Debug, Clone)]
struct Seen {
    idempotency_key: Option<String>,
    authorization: Option<String>,
    body: Value,
}

/// An aggregator on loopback: answers the first `unavailable` requests 503, then refuses
/// everything with 400 if `refuse`, or takes it, answering `{"id": "agg-N"}`.
fn aggregator(unavailable: usize, refuse: bool) -> (u16, Arc<Mutex<Vec<Seen>>>) {
    aggregator_gated(unavailable, refuse, None)
}

/// Holds the first request (every request, if `all`) until the test opens the gate (or
/// 60 s pass), then says so.
struct Gate {
    open: AtomicBool,
    first_answered: AtomicBool,
    all: bool,
}

fn aggregator_gated(unavailable: usize, refuse: bool, gate: Option<Arc<Gate>>) -> (u16, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut headers = Vec::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                headers.push(line.trim_end().to_owned());
            }
            let header = |name: &str| {
                headers.iter().find_map(|h| {
                    let (k, v) = h.split_once(':')?;
                    k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                })
            };
            let length: usize = header("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            log.lock().unwrap().push(Seen {
                idempotency_key: header("idempotency-key"),
                authorization: header("authorization"),
                body,
            });
            if let Some(gate) = gate.as_ref().filter(|g| n == 0 || g.all) {
                let until = Instant::now() + Duration::from_secs(60);
                while !gate.open.load(Ordering::SeqCst) && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            let (status, answer) = if n < unavailable {
                ("503 Service Unavailable", json!({ "error": "busy" }))
            } else if refuse {
                ("400 Bad Request", json!({ "error": "blocked content" }))
            } else {
                ("200 OK", json!({ "id": format!("agg-{n}") }))
            };
            let answer = answer.to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
            if let Some(gate) = &gate {
                gate.first_answered.store(true, Ordering::SeqCst);
            }
        }
    });
    (port, seen)
}

/// A server on the aggregator at `port`, once a birth's offers have left the outbox.
fn started_with(t: &TestDir, port: u16, mother: &str, child: &str) -> (Server, rusqlite::Connection) {
    let sms =
        format!("gateway = \"http\"\n[sms.http]\nurl = \"http://127.0.0.1:{port}/send\"\ntoken = \"agg-secret\"\n");
    let server = Server::start_full(t, &sms, "", &[]);
    let (status, body) = server.post_json("/v1/events", "source", &birth("E-HTTP-1", child, mother));
    assert_eq!(status, 201, "{body}");
    let db = open_store(&server.db);
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(&db, "SELECT count(*) FROM outbox WHERE state = 'queued'") > 0
        || count(&db, "SELECT count(*) FROM outbox") == 0
    {
        assert!(Instant::now() < deadline, "messages still queued");
        std::thread::sleep(Duration::from_millis(50));
    }
    (server, db)
}

#[test]
fn a_refusal_for_good_fails_the_case_and_is_not_retried() {
    let t = TestDir::new();
    let mother = iin(1992, 2, 4, Sex::Female, 81);
    let child = iin(2026, 11, 5, Sex::Male, 81);
    registry(&t, &[&mother]);
    let (port, seen) = aggregator(0, true);
    let (server, db) = started_with(&t, port, &mother, &child);
    assert_eq!(count(&db, "SELECT count(*) FROM outbox WHERE state = 'failed'"), 3);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(seen.lock().unwrap().len(), 3, "each refused message was posted once");
    let (_, list) = server.get("/v1/cases", "admin");
    for c in list["cases"].as_array().unwrap() {
        let (_, view) = server.get(&format!("/v1/cases/{}", c["id"]), "admin");
        assert_eq!(view["state"], "failed", "{view}");
        assert_eq!(view["reason"], "the gateway rejected the SMS", "{view}");
        assert_eq!(view["messages"][0]["steps"][1]["step"], "failed", "{view}");
    }
}

#[test]
fn messages_are_posted_once_each_with_their_idempotency_key_and_receipts_come_back_by_webhook() {
    let t = TestDir::new();
    let mother = iin(1992, 2, 3, Sex::Female, 80);
    let child = iin(2026, 11, 4, Sex::Male, 80);
    registry(&t, &[&mother]);
    let (port, seen) = aggregator(2, false);
    let (server, db) = started_with(&t, port, &mother, &child);
    let sent = count(&db, "SELECT count(*) FROM outbox WHERE state = 'sent'");
    assert_eq!(sent, 3, "three offers went");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2 + 3, "two 503s retried, then each message once: {seen:?}");
    for s in &seen {
        assert_eq!(s.authorization.as_deref(), Some("Bearer agg-secret"));
        assert_eq!(s.idempotency_key.as_deref(), s.body["message_id"].as_str(), "{s:?}");
        let key = s.idempotency_key.as_deref().unwrap();
        assert!(key.len() > 10 && key.split_once('-').is_some(), "the outbox id and a keyed hash: {key}");
        assert_eq!(s.body["to"], "+77015550000");
        assert_eq!(s.body["encoding"], "ucs2");
    }
    let accepted: Vec<&Seen> = seen[2..].iter().collect();
    let mut keys: Vec<&str> = accepted.iter().map(|s| s.idempotency_key.as_deref().unwrap()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 3, "no message posted twice once taken");

    // The aggregator's receipt and the citizen's reply come back through the webhooks.
    let (_, list) = server.get("/v1/cases?service=health.newborn-attachment", "admin");
    let id = list["cases"][0]["id"].as_i64().unwrap();
    let gateway_id: String =
        db.query_row("SELECT gateway_id FROM outbox WHERE case_id = ?1", [id], |r| r.get(0)).unwrap();
    assert!(gateway_id.starts_with("agg-"), "the aggregator's id is kept: {gateway_id}");
    let receipt = json!({ "message_id": gateway_id, "status": "delivered", "at": now_rfc3339() });
    let (status, body) = server.post_json("/v1/sms/status", "gateway", &receipt);
    assert_eq!((status, &body["status"]), (200, &json!("recorded")), "{body}");
    let (_, view) = server.get(&format!("/v1/cases/{id}"), "admin");
    let steps: Vec<&str> =
        view["messages"][0]["steps"].as_array().unwrap().iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(steps, ["queued", "submitted", "delivered"], "{view}");
    let code = view["reply_code"].as_str().unwrap();
    let reply = json!({ "from": "+77015550000", "text": format!("да {code}"), "at": now_rfc3339() });
    let (status, body) = server.post_json("/v1/sms/inbound", "gateway", &reply);
    assert_eq!((status, &body["status"]), (200, &json!("matched")), "{body}");
    server.wait_case(id, "provided", |c| c["state"] == "provided");
}

#[test]
fn a_gateway_that_hangs_delays_no_other_step() {
    let t = TestDir::new();
    let first = iin(1992, 2, 5, Sex::Female, 82);
    let second = iin(1992, 2, 6, Sex::Female, 83);
    registry(&t, &[&first, &second]);
    let gate = Arc::new(Gate { open: AtomicBool::new(false), first_answered: AtomicBool::new(false), all: false });
    let (port, seen) = aggregator_gated(0, false, Some(gate.clone()));
    let sms = format!("gateway = \"http\"\n[sms.http]\nurl = \"http://127.0.0.1:{port}/send\"\ntimeout_ms = 120000\n");
    let server = Server::start_full(&t, &sms, "", &[]);
    let (status, body) =
        server.post_json("/v1/events", "source", &birth("E-HANG-1", &iin(2026, 11, 7, Sex::Male, 82), &first));
    assert_eq!(status, 201, "{body}");
    // The first POST reaches the aggregator, which holds it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "nothing was posted");
        std::thread::sleep(Duration::from_millis(20));
    }
    // While the gateway hangs, events and replies are still taken.
    let (status, body) =
        server.post_json("/v1/events", "source", &birth("E-HANG-2", &iin(2026, 11, 8, Sex::Male, 83), &second));
    assert_eq!(status, 201, "{body}");
    let reply = json!({ "from": "+77015550099", "text": "hello", "at": now_rfc3339() });
    let (status, _) = server.post_json("/v1/sms/inbound", "gateway", &reply);
    assert_eq!(status, 200);
    assert!(
        !gate.first_answered.load(Ordering::SeqCst),
        "both were taken while the gateway still held its first request"
    );
    gate.open.store(true, Ordering::SeqCst);
    let db = open_store(&server.db);
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(&db, "SELECT count(*) FROM outbox WHERE state = 'sent'") < 6 {
        assert!(Instant::now() < deadline, "the outbox did not drain once the gateway answered");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn shutdown_stops_sending_and_leaves_the_rest_queued() {
    let t = TestDir::new();
    let mothers: Vec<String> = (0..4).map(|i| iin(1993, 3, 1 + i, Sex::Female, 90)).collect();
    registry(&t, &mothers.iter().map(String::as_str).collect::<Vec<_>>());
    let gate = Arc::new(Gate { open: AtomicBool::new(false), first_answered: AtomicBool::new(false), all: true });
    let (port, seen) = aggregator_gated(0, false, Some(gate.clone()));
    let sms = format!(
        "gateway = \"http\"\n[sms.http]\nurl = \"http://127.0.0.1:{port}/send\"\ntimeout_ms = 120000\nconcurrency = 1\n"
    );
    let server = Server::start_full(&t, &sms, "", &[]);
    for (i, m) in mothers.iter().enumerate() {
        let child = iin(2026, 11, 10 + i as u32, Sex::Male, 90);
        let (status, body) = server.post_json("/v1/events", "source", &birth(&format!("E-STOP-{i}"), &child, m));
        assert_eq!(status, 201, "{body}");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "nothing was posted");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SIGTERM while the aggregator holds a request; it lets requests through only now.
    let db_path = server.db.clone();
    let stopper = std::thread::spawn(move || server.terminate());
    std::thread::sleep(Duration::from_millis(300));
    gate.open.store(true, Ordering::SeqCst);
    let (clean, log) = stopper.join().unwrap();
    assert!(clean, "{log}");
    let db = open_store(&db_path);
    let queued = count(&db, "SELECT count(*) FROM outbox WHERE state = 'queued'");
    let sent = count(&db, "SELECT count(*) FROM outbox WHERE state = 'sent'");
    assert!(queued > 0, "no batch goes on after shutdown begins: {sent} sent, {queued} left queued");
    assert_eq!(sent as usize, seen.lock().unwrap().len(), "what was posted is what is recorded as sent");
}
