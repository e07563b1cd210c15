//! The outbox's limits per number: a daily cap on SMS (the rest wait, none is dropped) and
//! on help texts (so unmatched replies cannot pump SMS at a number).

use std::time::{Duration, Instant};

use proactive_sdk::domain::Sex;
use serde_json::json;

use crate::http::{Server, now_rfc3339};
use crate::support::{TestDir, birth, count, iin, open_store, registry};

#[test]
fn a_numbers_daily_cap_holds_the_rest_back_and_help_texts_are_capped() {
    let t = TestDir::new();
    let mother = iin(1991, 5, 6, Sex::Female, 70);
    let child = iin(2026, 11, 3, Sex::Female, 70);
    registry(&t, &[&mother]);
    let server = Server::start_full(&t, "per_recipient_per_day = 2\nhelp_per_day = 1\n", "", &[]);
    let (status, body) = server.post_json("/v1/events", "source", &birth("E-CAP-1", &child, &mother));
    assert_eq!(status, 201, "{body}");

    let db = open_store(&server.db);
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(&db, "SELECT count(*) FROM outbox WHERE state = 'sent'") < 2 {
        assert!(Instant::now() < deadline, "two messages never went");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Many ticks later, the third offer still waits, about an hour out.
    std::thread::sleep(Duration::from_millis(600));
    let questions = count(&db, "SELECT count(*) FROM outbox WHERE kind = 'question'");
    assert_eq!(questions, 3, "three services offered");
    assert_eq!(count(&db, "SELECT count(*) FROM outbox WHERE state = 'sent'"), 2, "the cap of 2 holds");
    let wait = count(&db, "SELECT max(not_before) - strftime('%s', 'now') FROM outbox WHERE state = 'queued'");
    assert!((3000..=3700).contains(&wait), "the third waits about an hour, not for ever: {wait} s");

    let stranger = "+7 701 555 99 99";
    for text in ["hello", "hello again"] {
        let reply = json!({ "from": stranger, "text": text, "at": now_rfc3339() });
        let (status, body) = server.post_json("/v1/sms/inbound", "gateway", &reply);
        assert_eq!((status, &body["status"]), (200, &json!("unmatched")), "{body}");
    }
    assert_eq!(
        count(&db, "SELECT count(*) FROM outbox WHERE kind = 'help' AND phone = '+77015559999'"),
        1,
        "one help text a day for a number"
    );
    assert_eq!(count(&db, "SELECT count(*) FROM inbound WHERE phone = '+77015559999'"), 2, "both replies are stored");
}
