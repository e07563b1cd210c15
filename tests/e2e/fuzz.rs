//! Property tests ("fuzzing where fuzzing doesn't fit": stable Rust, no sanitizer build)
//! of every parser of outside input: events (JSON and NDJSON), replies, templates, IIN,
//! BIN, IBAN and phone numbers, SMS part counting and encoding, the SMPP deliveries the host
//! reads (receipts, replies, concatenation headers) from raw bytes up, the redactor, and
//! component upload validation. Each must return, never panic, whatever it is given; several also have an
//! exact property checked against a model.
//!
//! CI runs proptest's default 256 cases per property (the component one, which compiles,
//! 24). For a longer local run: `PROPTEST_CASES=20000 cargo xtask test fuzz::`.
//! A failure prints the minimal input; it goes into the table test of the module at fault.

use proactive_host::intake::{ndjson, parse_event};
use proactive_host::redact::{has_identifier_digits, redact};
use proactive_host::sms::gateway::OutgoingSms;
use proactive_host::sms::smpp::pdus;
use proactive_host::sms::{encoding, reply, template};
use proactive_sdk::domain::{Bin, Iin, KzIban, Sex};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Strings with the characters outside input is made of: ASCII, Cyrillic and Kazakh
/// letters, digits, JSON punctuation, controls, bidi overrides, emoji, and placeholders.
fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[ -~]{0,12}",
        "[а-яәғқңөұүһіА-ЯӘҒҚҢӨҰҮҺІ ]{0,12}",
        "[0-9 +()-]{0,16}",
        Just("((code))".to_owned()),
        Just("((".to_owned()),
        Just("))".to_owned()),
        Just("\u{202E}".to_owned()),
        Just("\u{0}\n\r\t".to_owned()),
        Just("😀👍🏽".to_owned()),
        Just("{\"a\":".to_owned()),
        Just("870101300123".to_owned()),
    ];
    prop::collection::vec(piece, 0..8).prop_map(|v| v.concat())
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,10}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Objects shaped like events, each field present or not, right type or not.
fn event_like() -> impl Strategy<Value = Value> {
    let field = |name: &'static str, good: BoxedStrategy<Value>| {
        prop::option::of(prop_oneof![3 => good, 1 => json_value()]).prop_map(move |v| (name, v))
    };
    let iin = (1950i32..2026, 1u32..13, 1u32..29, any::<bool>(), 1u16..9000).prop_map(|(y, m, d, f, n)| {
        let sex = if f { Sex::Female } else { Sex::Male };
        let date = chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
        Iin::from_parts(date, sex, n).map(|i| json!(i.as_str())).unwrap_or(Value::Null)
    });
    let kinds =
        prop_oneof![Just(json!("birth.registered")), Just(json!("person.turns-17")), text().prop_map(|t| json!(t))];
    (
        field("id", "[A-Z]{1,3}-[0-9]{1,6}".prop_map(|s| json!(s)).boxed()),
        field("kind", kinds.boxed()),
        field("subject", iin.clone().boxed()),
        field("occurred_at", Just(json!("2026-11-02T10:00:00+05:00")).boxed()),
        field(
            "attributes",
            prop::collection::btree_map(
                prop_oneof![Just("mother".to_owned()), Just("region".to_owned()), "[a-z_]{1,8}"],
                prop_oneof![iin.boxed(), text().prop_map(Value::String).boxed(), json_value().boxed()],
                0..5,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect()))
            .boxed(),
        ),
        prop::option::of(("[a-z]{1,6}", json_value())),
    )
        .prop_map(|(a, b, c, d, e, extra)| {
            let mut m = Map::new();
            for (name, v) in [a, b, c, d, e] {
                if let Some(v) = v {
                    m.insert(name.to_owned(), v);
                }
            }
            if let Some((k, v)) = extra {
                m.insert(k, v);
            }
            Value::Object(m)
        })
}

proptest! {
    #[test]
    fn fuzz_event_objects_parse_or_are_refused_with_a_reason(v in event_like()) {
        let text = v.to_string();
        match ndjson::parse_object(&text).map_err(|e| e.to_string()).and_then(|m| parse_event(&m).map_err(|e| e.to_string())) {
            Ok(event) => {
                prop_assert!(Iin::parse(event.subject.as_str()).is_ok());
                prop_assert_eq!(event.id.as_str(), v["id"].as_str().unwrap());
            }
            Err(reason) => prop_assert!(!reason.trim().is_empty()),
        }
    }

    #[test]
    fn fuzz_raw_bodies_never_panic_the_event_parser(body in text()) {
        if let Ok(m) = ndjson::parse_object(&body) {
            let _ = parse_event(&m);
        }
    }

    #[test]
    fn fuzz_ndjson_gives_one_result_per_line_in_order(lines in prop::collection::vec(prop_oneof![text(), event_like().prop_map(|v| v.to_string())], 0..12)) {
        let body = lines.join("\n");
        let parsed: Vec<_> = ndjson::lines(body.as_bytes()).collect();
        let numbers: Vec<usize> = parsed.iter().map(|l| l.number).collect();
        prop_assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{:?}", numbers);
        let physical = body.split('\n').count();
        prop_assert!(numbers.iter().all(|n| (1..=physical).contains(n)), "{:?} of {}", numbers, physical);
    }

    #[test]
    fn fuzz_replies_read_codes_only_from_the_text(t in text()) {
        let r = reply::read(&t);
        for code in &r.codes {
            prop_assert_eq!(code.len(), 4);
            prop_assert!(code.bytes().all(|b| b.is_ascii_digit()) && t.contains(code.as_str()));
        }
        prop_assert_eq!(r.code.as_ref(), r.codes.first());
    }

    #[test]
    fn fuzz_templates_render_in_one_pass(t in text(), value in "[ -~а-яә]{0,40}") {
        let _ = template::placeholders(&t);
        let _ = template::render(&t, &|_| Some(value.clone()));
        // A value is never scanned again: whatever it says appears literally.
        let rendered = template::render("A ((x)) B", &|_| Some(value.clone()));
        prop_assert_eq!(rendered.ok(), Some(format!("A {value} B")));
        let injected = format!("{value}((code))");
        prop_assert_eq!(template::render("((x))", &|_| Some(injected.clone())).ok(), Some(injected));
    }

    #[test]
    fn fuzz_identifiers_parse_or_are_refused(t in text()) {
        let _ = Bin::parse(&t);
        let _ = KzIban::parse(&t);
        if let Ok(iin) = Iin::parse(&t) {
            prop_assert_eq!(iin.as_str().len(), 12);
            let _ = iin.birth_date();
        }
    }

    #[test]
    fn fuzz_built_iins_round_trip(y in 1900i32..2099, m in 1u32..13, d in 1u32..29, f: bool, serial in 0u16..10000) {
        let date = chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
        if let Some(iin) = Iin::from_parts(date, if f { Sex::Female } else { Sex::Male }, serial) {
            let back = Iin::parse(iin.as_str());
            prop_assert!(back.is_ok(), "{}", iin.as_str());
            prop_assert_eq!(back.unwrap().birth_date(), date);
        }
    }

    #[test]
    fn fuzz_phone_numbers_normalise_to_e164_or_are_refused(t in text()) {
        if let Ok(n) = proactive_host::gate::phone::normalise(&t) {
            prop_assert!(n.as_str().starts_with('+') && n.as_str()[1..].bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn fuzz_sms_part_counts_are_monotonic(t in text(), more in text()) {
        let a = encoding::count(&t);
        prop_assert!(a.parts >= 1);
        let b = encoding::count(&format!("{t}{more}"));
        prop_assert!(b.units >= a.units || b.encoding != a.encoding);
    }

    #[test]
    fn fuzz_redaction_leaves_no_identifier(t in text()) {
        prop_assert!(!has_identifier_digits(&redact(&t)), "{}", redact(&t));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(24), ..ProptestConfig::default() })]

    /// The admin upload's validation on a real component with bytes flipped, cut or
    /// inserted: a clean refusal or a load, never a panic.
    #[test]
    fn fuzz_mutated_components_are_refused_or_loaded(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6), cut in any::<prop::sample::Index>(), truncate: bool) {
        let mut bytes = std::fs::read(crate::support::component("plugin-health")).unwrap();
        for (at, byte) in flips {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        let _ = runtime().load("health.wasm", &bytes);
    }
}

/// Proptest's case count from `PROPTEST_CASES`, or `default` for the expensive properties.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn runtime() -> &'static proactive_host::runtime::Runtime {
    static RT: std::sync::OnceLock<proactive_host::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| proactive_host::runtime::Runtime::new(Default::default()).expect("runtime"))
}

proptest! {
    #[test]
    fn fuzz_smpp_parts_carry_the_text_exactly(t in text(), id in 1i64..100_000) {
        let sms = OutgoingSms::standalone(id, "k", "+77011234567", &t);
        let source = pdus::Source { addr: "1414".into(), ton: 0, npi: 1 };
        let parts = pdus::submit_pdus(&sms, &source).unwrap();
        prop_assert_eq!(parts.len() as u32, encoding::count(&t).parts);
        let mut bytes = Vec::new();
        for p in &parts {
            let body: &[u8] = p.short_message();
            prop_assert!(body.len() <= 140 || pdus::encoding_of(p) == encoding::Encoding::Gsm7 && body.len() <= 160);
            bytes.extend_from_slice(if parts.len() > 1 { &body[6..] } else { body });
        }
        let back = match pdus::encoding_of(&parts[0]) {
            encoding::Encoding::Gsm7 => encoding::decode_gsm7(&bytes),
            encoding::Encoding::Ucs2 => String::from_utf16(&bytes.chunks(2).map(|b| u16::from_be_bytes([b[0], b[1]])).collect::<Vec<_>>()).unwrap(),
        };
        prop_assert_eq!(back, t);
    }

    #[test]
    fn fuzz_smpp_deliveries_of_any_shape_are_read_or_refused(
        esm in any::<u8>(),
        coding in any::<u8>(),
        body in prop::collection::vec(any::<u8>(), 0..200),
        from in "[0-9A-Za-z+]{0,20}",
        ton in 0u8..7,
        receipted in prop::option::of("[0-9A-Fa-f]{1,20}"),
    ) {
        use rusmpp::pdus::DeliverSm;
        use rusmpp::tlvs::MessageDeliveryRequestTlvValue;
        use rusmpp::types::{COctetString, OctetString};
        let mut builder = DeliverSm::builder()
            .esm_class(esm.into())
            .data_coding(coding.into())
            .source_addr_ton(ton.into())
            .source_addr(COctetString::from_slice(format!("{from}\0").as_bytes()).unwrap())
            .short_message(OctetString::from_slice(&body).unwrap());
        if let Some(id) = &receipted {
            builder = builder.push_tlv(MessageDeliveryRequestTlvValue::ReceiptedMessageId(COctetString::from_slice(format!("{id}\0").as_bytes()).unwrap()));
        }
        match pdus::read_deliver(&builder.build()) {
            Ok(pdus::Incoming::Receipt { ids, .. }) => prop_assert!(!ids.is_empty()),
            Ok(pdus::Incoming::ReplyPart { total, seq, .. }) => prop_assert!(seq >= 1 && seq <= total && total > 1),
            Ok(pdus::Incoming::Reply { from: f, .. }) => prop_assert!(!f.is_empty()),
            Err(why) => prop_assert!(!why.is_empty()),
        }
    }

    #[test]
    fn fuzz_smpp_raw_bytes_decode_without_panic(framed in any::<bool>(), body in prop::collection::vec(any::<u8>(), 0..300)) {
        use tokio_util::codec::Decoder as _;
        // Half the inputs are framed as a deliver_sm (length, command id 5, status, sequence)
        // so the body reaches the PDU decoder and the host's reading of it.
        let mut bytes = Vec::new();
        if framed {
            bytes.extend_from_slice(&(16 + body.len() as u32).to_be_bytes());
            bytes.extend_from_slice(&[0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 1]);
        }
        bytes.extend_from_slice(&body);
        let mut buf = tokio_util::bytes::BytesMut::from(&bytes[..]);
        let mut codec = rusmpp::tokio_codec::CommandCodec::new();
        while let Ok(Some(command)) = codec.decode(&mut buf) {
            if let Some(rusmpp::Pdu::DeliverSm(sm)) = command.pdu() {
                let _ = pdus::read_deliver(sm);
            }
        }
    }

    #[test]
    fn fuzz_receipt_ids_are_tried_literally_first(raw in "[ -~]{0,30}") {
        let ids = pdus::id_candidates(&raw);
        if !raw.trim().is_empty() {
            prop_assert_eq!(ids.first().map(String::as_str), Some(raw.trim()));
        }
        prop_assert!(ids.iter().all(|id| !id.is_empty()));
    }
}
