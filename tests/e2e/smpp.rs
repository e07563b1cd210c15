//! SMS over SMPP 3.4 to an independent SMSC: the npm `smpp` package's server, whose own
//! PDU codec and GSM 03.38 / UCS-2 decoders read what the host sends. The host runs as the
//! real binary with the real plugins; the SMSC is started, killed and restarted by the test.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use proactive_sdk::domain::Sex;
use serde_json::Value;

use crate::http::Server;
use crate::smsc::Smsc;
use crate::support::{TestDir, birth, count, iin, open_store, proactive_ok, registry_in, registry_phone};

/// `n` mothers (and their children) known to the registry, in `lang`.
fn people(t: &TestDir, n: usize, seed: u16, lang: &str) -> Vec<(String, String)> {
    let pairs: Vec<(String, String)> = (0..n)
        .map(|i| {
            let day = 1 + (i % 28) as u32;
            (iin(1990, 1 + (i / 28) as u32, day, Sex::Female, seed), iin(2026, 11, day, Sex::Male, seed))
        })
        .collect();
    let mothers: Vec<&str> = pairs.iter().map(|(m, _)| m.as_str()).collect();
    registry_in(t, &mothers, lang);
    pairs
}

fn post_births(server: &Server, prefix: &str, pairs: &[(String, String)]) {
    for (i, (mother, child)) in pairs.iter().enumerate() {
        let (status, body) = server.post_json("/v1/events", "source", &birth(&format!("{prefix}-{i}"), child, mother));
        assert_eq!(status, 201, "{body}");
    }
}

/// `(id, text, parts)` of every message in the outbox, once none is still queued.
fn wait_all_sent(server: &Server) -> Vec<(i64, String, i64)> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let db = open_store(&server.db);
    loop {
        let queued = count(&db, "SELECT count(*) FROM outbox WHERE state = 'queued'");
        let total = count(&db, "SELECT count(*) FROM outbox");
        if queued == 0 && total > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{queued} of {total} messages still queued");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut st = db.prepare("SELECT id, text, parts, state FROM outbox ORDER BY id").unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, String>(3)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .map(|(id, text, parts, state)| {
            assert_eq!(state, "sent", "message {id}");
            (id, text, parts)
        })
        .collect()
}

/// Waits until `n` messages have a `delivered` receipt and every part its own; on failure
/// shows which parts have none.
fn wait_delivered(server: &Server, smsc: &Smsc, n: usize) {
    let db = open_store(&server.db);
    let deadline = Instant::now() + Duration::from_secs(60);
    // Every part's receipt too: a message is delivered only once all its parts are.
    while count(&db, "SELECT count(*) FROM receipts WHERE status = 'delivered'") < n as i64
        || count(&db, "SELECT count(*) FROM outbox_parts WHERE status IS NULL") > 0
    {
        if Instant::now() > deadline {
            let mut st = db.prepare("SELECT message_id, part FROM outbox_parts WHERE status IS NULL").unwrap();
            let open: Vec<(i64, i64)> =
                st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(|r| r.unwrap()).collect();
            panic!("receipts missing: {}; parts with none (message, part): {open:?}", smsc.stats());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The SMSC's messages by the host's message id; fails on a host id seen twice.
fn by_host_id(smsc: &Smsc) -> BTreeMap<i64, Value> {
    let mut out = BTreeMap::new();
    for m in smsc.messages() {
        let key = m["host_id"].as_str().expect("every submission carries the host's key");
        let id: i64 = key.split('-').next().and_then(|id| id.parse().ok()).unwrap_or_else(|| panic!("key {key}"));
        assert!(out.insert(id, m).is_none(), "host message {id} reached the SMSC as two messages");
    }
    out
}

/// Every outbox message reached the SMSC once, reassembled to exactly its text.
fn assert_delivered_whole(sent: &[(i64, String, i64)], smsc: &Smsc) -> BTreeMap<i64, Value> {
    let at_smsc = by_host_id(smsc);
    assert_eq!(at_smsc.len(), sent.len(), "as many messages at the SMSC as in the outbox");
    for (id, text, parts) in sent {
        let m = &at_smsc[id];
        assert_eq!(m["text"].as_str(), Some(text.as_str()), "message {id} as the SMSC reassembled it");
        assert_eq!(m["parts"].as_i64(), Some(*parts), "message {id}: parts {m}");
        assert_eq!(m["total"].as_i64(), Some(*parts), "message {id}: the header's total {m}");
        assert_eq!(m["refs"].as_array().map(Vec::len), Some(1), "message {id}: one concatenation reference {m}");
        assert_eq!(m["registered_delivery"], 1, "message {id} asks for a receipt");
        let cyrillic = text.chars().any(|c| ('\u{0400}'..='\u{04FF}').contains(&c));
        assert_eq!(m["data_coding"], if cyrillic { 8 } else { 0 }, "message {id}: {m}");
    }
    at_smsc
}

#[test]
fn kazakh_offers_arrive_whole_receipts_match_either_id_format_and_a_reply_provides() {
    let t = TestDir::new();
    let pairs = people(&t, 4, 60, "kk");
    let smsc = Smsc::start(t.path().join("smsc.journal"), &[("SMSC_RECEIPTS", "mixed")]);
    let server = Server::start_full(&t, &smsc.config(""), "", &[]);
    post_births(&server, "E-SMPP", &pairs);

    // A Latin text with GSM-7 extension characters, queued as another writer of the outbox
    // would (no plugin writes in Latin): 2 parts, since each escape costs two septets.
    let latin = format!("Proactive test {{ok}} [1414] ~^|\\ 5€ {}", "a".repeat(120));
    let expected = proactive_host::sms::encoding::count(&latin);
    assert_eq!(expected.parts, 2);
    let writer = rusqlite::Connection::open(&server.db).unwrap();
    writer.busy_timeout(Duration::from_secs(10)).unwrap();
    writer
        .execute(
            "INSERT INTO outbox (case_id, kind, phone, text, parts, not_before, state, queued_at) \
             VALUES (NULL, 'help', ?1, ?2, ?3, 0, 'queued', 0)",
            rusqlite::params![registry_phone(0), latin, expected.parts],
        )
        .unwrap();

    let sent = wait_all_sent(&server);
    let at_smsc = assert_delivered_whole(&sent, &smsc);
    let kazakh = |text: &str| text.chars().any(|c| "әғқңөұүһі".contains(c));
    assert!(
        sent.iter().any(|(_, text, parts)| *parts == 3 && kazakh(text)),
        "a Kazakh offer went as three UCS-2 parts: {sent:?}"
    );
    let (latin_id, ..) = sent.iter().find(|(_, text, _)| *text == latin).unwrap();
    assert_eq!(at_smsc[latin_id]["data_coding"], 0, "GSM-7 for a Latin text");

    // Receipts came back naming parts by TLV, by decimal and by hex id: every message is
    // delivered once all its parts are.
    wait_delivered(&server, &smsc, sent.len());
    let db = open_store(&server.db);
    let parts_total: i64 = sent.iter().map(|(_, _, p)| p).sum();
    let stats = smsc.wait("every receipt acknowledged", |s| s["receipts_acked"].as_i64() == Some(parts_total));
    assert_eq!(stats["receipts_sent"], parts_total, "{stats}");

    // The citizen answers through the SMSC; the case is provided.
    let (_, cases) = server.get("/v1/cases?service=health.newborn-attachment", "admin");
    let case = cases["cases"].as_array().and_then(|c| c.first()).cloned().expect("a health case");
    let id = case["id"].as_i64().unwrap();
    let (_, view) = server.get(&format!("/v1/cases/{id}"), "admin");
    let code = view["reply_code"].as_str().expect("a reply code").to_owned();
    let phone = phone_of_case(&server, id).expect("the offer went to a number");
    assert_eq!(smsc.mo(&phone, &format!("Иә {code}")), 0, "the host acknowledged the reply");
    server.wait_case(id, "provided", |c| c["state"] == "provided");
    // The SMSC redelivers it (as it would after a host crash before deliver_sm_resp): the
    // same message again, not an unmatched second reply that would earn a help SMS.
    let help_sql = format!("SELECT count(*) FROM outbox WHERE kind = 'help' AND phone = '{phone}'");
    let help_before = count(&db, &help_sql);
    // A later second than the first (replies are otherwise unique per number, second, text).
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(smsc.mo(&phone, &format!("Иә {code}")), 0);
    let inbound = count(&db, &format!("SELECT count(*) FROM inbound WHERE phone = '{phone}'"));
    assert_eq!((inbound, count(&db, &help_sql)), (1, help_before), "a redelivered reply is taken once");

    // A long answer comes in three parts, the last first, the IBAN cut across two: read
    // as the one message the citizen wrote, it provides the benefit.
    let (_, list) = server.get("/v1/cases?service=labour.childbirth-benefit", "admin");
    let labour = list["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .find(|id| phone_of_case(&server, *id).as_deref() == Some(phone.as_str()))
        .expect("the same mother's benefit case");
    let (_, view) = server.get(&format!("/v1/cases/{labour}"), "admin");
    let code = view["reply_code"].as_str().unwrap();
    let long = format!("Иә {code}, менің шотым KZ86 125K ZT50 0410 0100, рахмет сізге көп");
    assert_eq!(smsc.mo_in_parts(&phone, &long, 3), 0, "every part acknowledged");
    let paid = server.wait_case(labour, "provided", |c| c["state"] != "awaiting-reply");
    assert_eq!(paid["state"], "provided", "{paid}");

    let stats = smsc.stats();
    assert_eq!((stats["duplicates"].as_i64(), stats["binds"].as_i64()), (Some(0), Some(1)), "{stats}");
    let db_path = server.db.clone();
    let (clean, log) = server.terminate();
    assert!(clean, "{log}");
    assert!(log.contains("unbound from the SMSC") || smsc.stats()["unbinds"] == 1, "{log}");
    assert_eq!(smsc.stats()["unbinds"], 1, "the host unbinds on shutdown");
    let out = proactive_ok(&["audit", "verify", "--db", db_path.to_str().unwrap()], t.path());
    assert!(out.contains("intact"), "{out}");
}

/// Waits until `/readyz` reports the SMSC link as `state`.
fn wait_readyz_sms(server: &Server, state: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, ready) = server.get("/readyz", "admin");
        if status == 200 && ready["sms"] == state {
            return;
        }
        assert!(Instant::now() < deadline, "/readyz never said sms {state}: {ready}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The number a case's messages went to, from the store (the API never shows it).
fn phone_of_case(server: &Server, case: i64) -> Option<String> {
    open_store(&server.db).query_row("SELECT phone FROM outbox WHERE case_id = ?1", [case], |r| r.get(0)).ok()
}

#[test]
fn throttled_and_queue_full_answers_delay_but_lose_and_duplicate_nothing() {
    let t = TestDir::new();
    let pairs = people(&t, 8, 61, "ru");
    let smsc = Smsc::start(
        t.path().join("smsc.journal"),
        &[("SMSC_THROTTLE", "25"), ("SMSC_QUEUE_FULL", "10"), ("SMSC_RESP_DELAY_MS", "30")],
    );
    let server = Server::start_full(&t, &smsc.config("window = 3\n"), "", &[]);
    post_births(&server, "E-THR", &pairs);
    let sent = wait_all_sent(&server);
    assert_delivered_whole(&sent, &smsc);
    // Each part's receipt comes 20 ms after it is taken, often before the message's later
    // parts are: none is lost for overtaking the record of its submission.
    wait_delivered(&server, &smsc, sent.len());
    let stats = smsc.stats();
    assert_eq!((stats["throttled"].as_i64(), stats["queue_full"].as_i64()), (Some(25), Some(10)), "{stats}");
    assert_eq!(stats["duplicates"], 0, "{stats}");
    let peak = stats["in_flight_peak"].as_i64().unwrap();
    assert!((2..=3).contains(&peak), "the window of 3 is used and never exceeded: {stats}");
}

#[test]
fn an_smsc_killed_mid_stream_is_rebound_and_nothing_is_lost_or_sent_twice() {
    let t = TestDir::new();
    let pairs = people(&t, 24, 62, "ru");
    let journal = t.path().join("smsc.journal");
    let mut smsc = Smsc::start(journal, &[("SMSC_RESP_DELAY_MS", "150"), ("SMSC_RECEIPTS", "none")]);
    let server = Server::start_full(&t, &smsc.config("window = 2\n"), "", &[]);
    post_births(&server, "E-KILL", &pairs);
    smsc.wait("a few submissions", |s| s["accepted"].as_i64() >= Some(3));
    smsc.kill();
    wait_readyz_sms(&server, "disconnected");
    std::thread::sleep(Duration::from_millis(700));
    smsc.restart();
    wait_readyz_sms(&server, "connected");
    let sent = wait_all_sent(&server);
    assert_delivered_whole(&sent, &smsc);
    let stats = smsc.stats();
    assert!(stats["restored"].as_i64() >= Some(3), "the SMSC remembered what it took before: {stats}");
    assert!(stats["binds"].as_i64() >= Some(1), "the host bound again: {stats}");
}

#[test]
fn an_offer_that_never_reaches_the_phone_is_sent_again_then_decided_by_the_services_rule() {
    let t = TestDir::new();
    let pairs = people(&t, 1, 63, "ru");
    let smsc = Smsc::start(t.path().join("smsc.journal"), &[("SMSC_EXPIRE_FIRST", "1000")]);
    let sms = format!("retry_seconds = 1\ndelivery_attempts = 2\n{}", smsc.config(""));
    let server = Server::start_full(&t, &sms, "", &[]);
    post_births(&server, "E-EXP", &pairs);
    let (_, list) = server.get("/v1/cases?service=health.newborn-attachment", "admin");
    let id = list["cases"][0]["id"].as_i64().expect("a health case");
    let done = server.wait_case(id, "decided after two expired sends", |c| c["state"] == "refused");
    let questions: Vec<&Value> =
        done["messages"].as_array().unwrap().iter().filter(|m| m["kind"] == "question").collect();
    assert_eq!(questions.len(), 2, "the offer was sent twice in all: {done}");
    for q in &questions {
        let steps: Vec<&str> = q["steps"].as_array().unwrap().iter().map(|s| s["step"].as_str().unwrap()).collect();
        assert_eq!(steps, ["queued", "submitted", "expired"], "{q}");
    }
    let last = done["decisions"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["stage"], "timeout", "the service's rule for an unanswered offer decided: {done}");
    assert_eq!(done["ground"], "no-answer", "with the service's ground: {done}");
    let db = open_store(&server.db);
    let audited = |what: &str| {
        let sql = format!(
            "SELECT count(*) FROM audit WHERE json_extract(entry, '$.action') = '{what}' \
             AND json_extract(entry, '$.case_id') = {id}"
        );
        count(&db, &sql)
    };
    assert_eq!((audited("sms.retry"), audited("sms.undelivered")), (1, 1), "why the window closed is on record");
    assert_eq!(smsc.stats()["duplicates"], 0);
}

#[test]
fn a_host_killed_twenty_times_while_submitting_resubmits_under_the_same_keys_and_each_message_arrives_once() {
    let t = TestDir::new();
    let pairs = people(&t, 60, 64, "ru");
    let smsc = Smsc::start(t.path().join("smsc.journal"), &[("SMSC_RESP_DELAY_MS", "40"), ("SMSC_RECEIPTS", "none")]);
    let config = smsc.config("window = 2\n");
    let mut server = Server::start_full(&t, &config, "", &[]);
    post_births(&server, "E-HOSTKILL", &pairs);
    let mut kills = 0;
    let mut seen = 0;
    while kills < 20 {
        let stats = smsc.wait("more submissions", |s| s["submits"].as_i64() >= Some(seen + 3));
        seen = stats["submits"].as_i64().unwrap();
        server.kill();
        kills += 1;
        server = Server::start_full(&t, &config, "", &[]);
    }
    let sent = wait_all_sent(&server);
    assert_delivered_whole(&sent, &smsc);
    let stats = smsc.stats();
    eprintln!(
        "host killed {kills} times mid-dispatch: {} messages, {} accepted parts, {} resubmitted parts dropped by key",
        sent.len(),
        stats["accepted"],
        stats["duplicates"]
    );
    let db = server.db.clone();
    let (clean, log) = server.terminate();
    assert!(clean, "{log}");
    let out = proactive_ok(&["audit", "verify", "--db", db.to_str().unwrap()], t.path());
    assert!(out.contains("intact"), "{out}");
}

#[test]
fn a_second_database_on_the_same_smsc_account_collides_with_nothing() {
    let shared = TestDir::new();
    let smsc = Smsc::start(shared.path().join("smsc.journal"), &[("SMSC_RECEIPTS", "none")]);
    let mut parts = 0;
    // Two stores whose outbox ids both start at 1 (a reinstall, a restore, staging beside
    // production), with the same people, hence the same texts to the same numbers.
    for run in 0..2 {
        let t = TestDir::new();
        let pairs = people(&t, 2, 65, "ru");
        let server = Server::start_full(&t, &smsc.config(""), "", &[]);
        post_births(&server, &format!("E-TWO-{run}"), &pairs);
        parts += wait_all_sent(&server).iter().map(|(_, _, p)| p).sum::<i64>();
        let (clean, log) = server.terminate();
        assert!(clean, "{log}");
    }
    let stats = smsc.stats();
    assert_eq!((stats["accepted"].as_i64(), stats["duplicates"].as_i64()), (Some(parts), Some(0)), "{stats}");
}

#[test]
fn a_message_in_parts_is_delivered_only_when_every_part_is() {
    let t = TestDir::new();
    let pairs = people(&t, 4, 66, "ru");
    // Slow answers, and receipts 100 ms after each answer: a first part's receipt comes
    // after the host has recorded that part, before its second part is even taken. Every
    // second part expires.
    let smsc = Smsc::start(
        t.path().join("smsc.journal"),
        &[
            ("SMSC_RESP_DELAY_MS", "300"),
            ("SMSC_RECEIPT_DELAY_MS", "100"),
            ("SMSC_EXPIRE_PART", "2"),
            ("SMSC_RECEIPTS", "mixed"),
        ],
    );
    let sms = format!("delivery_attempts = 1\n{}", smsc.config("window = 3\n"));
    let server = Server::start_full(&t, &sms, "", &[]);
    post_births(&server, "E-PART", &pairs);
    let sent = wait_all_sent(&server);
    assert!(sent.iter().all(|(_, _, parts)| *parts > 1), "every offer here is long: {sent:?}");
    let db = open_store(&server.db);
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(&db, "SELECT count(*) FROM receipts") < sent.len() as i64 {
        assert!(Instant::now() < deadline, "receipts missing: {}", smsc.stats());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        count(&db, "SELECT count(*) FROM receipts WHERE status = 'expired'"),
        sent.len() as i64,
        "a message whose second part expired is not delivered, whatever its first part did"
    );
}
