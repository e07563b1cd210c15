//! `POST /v1/sms/status`: delivery receipts over HTTP, matched by the gateway's message id,
//! recorded once, shown on the case, and audited.

use serde_json::json;

use crate::http::{case_ids_by_service, now_rfc3339, started};
use crate::support::proactive_ok;

#[test]
fn a_delivery_receipt_is_recorded_once_shown_on_the_case_and_audited() {
    let (t, server, mother, child) = started(21);
    let (status, body) = server.post_json("/v1/events", "source", &crate::support::birth("E-DLR-1", &child, &mother));
    assert_eq!(status, 201, "{body}");
    let health = case_ids_by_service(&server).into_iter().find(|(s, _)| s.starts_with("health")).unwrap().1;
    let sent = server.wait_case(health, "its offer sent", |c| c["state"] == "awaiting-reply");
    let message = &sent["messages"][0];
    assert_eq!((&message["state"], &message["kind"]), (&json!("sent"), &json!("question")), "{sent}");
    assert!(message["delivery"].is_null(), "no receipt yet: {sent}");
    assert!(message.get("text").is_none() && message.get("phone").is_none(), "no number or text: {sent}");
    let gateway_id: String = crate::support::open_store(&server.db)
        .query_row("SELECT gateway_id FROM outbox WHERE case_id = ?1", [health], |r| r.get(0))
        .unwrap();

    // Dated before the message was sent: not believed.
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    let early = json!({ "message_id": gateway_id, "status": "delivered", "at": yesterday });
    let (status, body) = server.post_json("/v1/sms/status", "gateway", &early);
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("before the message was sent"), "{body}");
    // Nor is a reply dated before the offer an answer to it.
    let code = sent["reply_code"].as_str().expect("the case shows its reply code").to_owned();
    let stale = json!({ "from": "+7 701 555 00 00", "text": format!("иә {code}"), "at": yesterday });
    let (status, body) = server.post_json("/v1/sms/inbound", "gateway", &stale);
    assert_eq!((status, &body["status"]), (200, &json!("unmatched")), "{body}");
    let (_, case) = server.get(&format!("/v1/cases/{health}"), "health");
    assert_eq!(case["state"], "awaiting-reply", "the stale reply decided nothing: {case}");
    let fresh = json!({ "from": "+7 701 555 00 00", "text": format!("иә {code}"), "at": now_rfc3339() });
    let (status, body) = server.post_json("/v1/sms/inbound", "gateway", &fresh);
    assert_eq!((status, &body["status"]), (200, &json!("matched")), "the same reply, dated now, matches: {body}");

    let receipt = |status: &str| json!({ "message_id": gateway_id, "status": status, "at": now_rfc3339() });
    let (status, body) = server.post_json("/v1/sms/status", "gateway", &receipt("delivered"));
    assert_eq!((status, &body["status"]), (200, &json!("recorded")), "{body}");
    let (status, body) = server.post_json("/v1/sms/status", "gateway", &receipt("delivered"));
    assert_eq!((status, &body["status"]), (200, &json!("duplicate")), "a retried webhook: {body}");
    let (status, body) = server.post_json("/v1/sms/status", "gateway", &receipt("expired"));
    assert_eq!((status, &body["error"]), (409, &json!("receipt-conflict")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("`delivered`"), "names what stands: {body}");

    let (_, case) = server.get(&format!("/v1/cases/{health}"), "health");
    assert_eq!(case["messages"][0]["delivery"]["status"], "delivered", "{case}");

    // Refusals name the problem, and only a gateway may report.
    let refusals = [
        (json!({ "message_id": "sim-999999", "status": "delivered", "at": now_rfc3339() }), 404, "not-found"),
        (json!({ "message_id": gateway_id, "status": "read", "at": now_rfc3339() }), 400, "status"),
        (json!({ "message_id": gateway_id, "status": "delivered" }), 400, "at"),
        (json!({ "message_id": "", "status": "delivered", "at": now_rfc3339() }), 400, "message_id"),
        (json!({ "message_id": gateway_id, "status": "delivered", "at": "yesterday" }), 400, "at"),
        (json!({ "message_id": 7, "status": "delivered", "at": now_rfc3339() }), 400, "message_id"),
        (json!({ "id": gateway_id, "status": "delivered", "at": now_rfc3339() }), 400, "id"),
    ];
    for (body, expected, named) in refusals {
        let (status, answer) = server.post_json("/v1/sms/status", "gateway", &body);
        assert_eq!(status, expected, "{body} -> {answer}");
        let text = answer.to_string();
        assert!(text.contains(named), "{body}: the answer names `{named}`: {answer}");
    }
    for token in ["source", "health", "admin"] {
        let (status, body) = server.post_json("/v1/sms/status", token, &receipt("delivered"));
        assert_eq!(status, 403, "{token}: {body}");
    }
    let (status, body) = server.call("POST", "/v1/sms/status", Some("gateway"), Some(("application/json", "{")));
    assert_eq!(status, 400, "{body}");

    let db = server.db.clone();
    let (clean, _) = server.terminate();
    assert!(clean);
    let out = proactive_ok(&["audit", "verify", "--db", db.to_str().unwrap()], t.path());
    assert!(out.contains("intact"), "{out}");
    let receipts: i64 = crate::support::open_store(&db)
        .query_row("SELECT COUNT(*) FROM audit WHERE entry LIKE '%\"sms.receipt\"%'", [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("the audit table: {e}"));
    assert_eq!(receipts, 1, "one receipt audited, the duplicate not");
}
