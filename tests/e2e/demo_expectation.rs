//! The demo, checked against an expectation derived from its input files alone.
//!
//! `proactive demo` writes a synthetic population and a month of events, then runs them
//! through the real plugins. This test reads back only what the generator wrote (events,
//! registry, subscriber scripts), re-derives from the published rules what must happen to
//! every (event, service) pair — recipient, gate, plugin decision, each scripted reply on the
//! virtual clock, the consent re-check before provision — and compares that table with the
//! final state of every case in the store and with the per-service counts of the report.
//! Nothing here reads the host's decisions to build the expectation, and nothing calls host
//! code: the oracle is a second, independent implementation of the rules.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::Path;

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone};
use chrono_tz::Asia::Almaty;
use serde_json::{Value, json};

use crate::support::{TestDir, open_store, proactive_ok};

const HEALTH: &str = "health.newborn-attachment";
const LABOUR: &str = "labour.childbirth-benefit";
const EDUCATION: &str = "education.preschool-queue";
const DEFENCE: &str = "defence.conscription-registration";

const BIRTH: &str = "birth.registered";
const TURNS_17: &str = "person.turns-17";

/// How many questions the host itself allows per case (`Settings::max_asks`): a plugin that
/// asks again more often fails the case.
const HOST_MAX_ASKS: u32 = 3;

/// A service as its manifest declares it (DESIGN §5).
struct Service {
    id: &'static str,
    subscribes: &'static str,
    /// The event attribute naming the recipient, or "subject".
    recipient: &'static str,
    scopes: &'static [&'static str],
    window_hours: i64,
}

const SERVICES: [Service; 4] = [
    Service {
        id: HEALTH,
        subscribes: BIRTH,
        recipient: "mother",
        scopes: &["civil.birth", "health.attachment"],
        window_hours: 72,
    },
    Service {
        id: LABOUR,
        subscribes: BIRTH,
        recipient: "mother",
        scopes: &["civil.birth", "social.benefits"],
        window_hours: 720,
    },
    Service {
        id: EDUCATION,
        subscribes: BIRTH,
        recipient: "mother",
        scopes: &["civil.birth", "education.preschool"],
        window_hours: 336,
    },
    Service {
        id: DEFENCE,
        subscribes: TURNS_17,
        recipient: "subject",
        scopes: &["civil.identity", "defence.registration"],
        window_hours: 168,
    },
];

// ---------------------------------------------------------------------------------------
// The input files
// ---------------------------------------------------------------------------------------

struct Event {
    id: String,
    kind: String,
    subject: String,
    at: i64,
    attributes: BTreeMap<String, String>,
}

struct Consent {
    scopes: HashSet<String>,
    granted_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
}

struct Script {
    delay_minutes: i64,
    answers: BTreeMap<String, Vec<String>>,
}

/// Everything the generator wrote, as the oracle needs it.
struct Inputs {
    events: Vec<Event>,
    /// IIN → the number as written in the registry.
    numbers: HashMap<String, String>,
    consents: HashMap<String, Vec<Consent>>,
    state_bodies: HashSet<String>,
    /// (IIN, scope, key) → value.
    facts: HashMap<(String, String, String), String>,
    /// E.164 → script.
    scripts: HashMap<String, Script>,
}

fn ndjson(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), i + 1)))
        .collect()
}

fn text(v: &Value, field: &str) -> String {
    v[field].as_str().unwrap_or_else(|| panic!("field {field:?} is not a string in an input line")).to_owned()
}

fn time(s: &str) -> i64 {
    DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("bad time {s:?}: {e}")).timestamp()
}

fn opt_time(v: &Value, field: &str) -> Option<i64> {
    v.get(field).and_then(Value::as_str).map(time)
}

impl Inputs {
    fn read(out: &Path) -> Inputs {
        let registry = out.join("registry");
        let events = ndjson(&out.join("events.ndjson"))
            .iter()
            .map(|v| Event {
                id: text(v, "id"),
                kind: text(v, "kind"),
                subject: text(v, "subject"),
                at: time(&text(v, "occurred_at")),
                attributes: v["attributes"]
                    .as_object()
                    .expect("attributes are an object")
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().expect("attribute values are strings").to_owned()))
                    .collect(),
            })
            .collect();
        let numbers =
            ndjson(&registry.join("numbers.ndjson")).iter().map(|v| (text(v, "iin"), text(v, "phone"))).collect();
        let mut consents: HashMap<String, Vec<Consent>> = HashMap::new();
        for v in ndjson(&registry.join("consents.ndjson")) {
            consents.entry(text(&v, "iin")).or_default().push(Consent {
                scopes: v["scopes"]
                    .as_array()
                    .expect("scopes are an array")
                    .iter()
                    .map(|s| s.as_str().expect("scopes are strings").to_owned())
                    .collect(),
                granted_at: time(&text(&v, "granted_at")),
                expires_at: opt_time(&v, "expires_at"),
                revoked_at: opt_time(&v, "revoked_at"),
            });
        }
        let state_bodies = ndjson(&registry.join("state-bodies.ndjson")).iter().map(|v| text(v, "bin")).collect();
        let facts = ndjson(&registry.join("facts.ndjson"))
            .iter()
            .map(|v| ((text(v, "iin"), text(v, "scope"), text(v, "key")), text(v, "value")))
            .collect();
        let scripts = ndjson(&out.join("subscribers.ndjson"))
            .iter()
            .map(|v| {
                let phone = match classify_phone(&text(v, "phone")) {
                    Phone::KzMobile(e164) => e164,
                    other => panic!("a subscriber script is for a number that is not a KZ mobile ({other:?})"),
                };
                let answers = v["answers"]
                    .as_object()
                    .expect("answers are an object")
                    .iter()
                    .map(|(service, list)| {
                        let list = list.as_array().expect("answer lists are arrays");
                        (
                            service.clone(),
                            list.iter().map(|a| a.as_str().expect("answers are strings").to_owned()).collect(),
                        )
                    })
                    .collect();
                (phone, Script { delay_minutes: v["delay_minutes"].as_i64().expect("delay_minutes"), answers })
            })
            .collect();
        Inputs { events, numbers, consents, state_bodies, facts, scripts }
    }

    fn fact(&self, iin: &str, scope: &str, key: &str) -> Option<&str> {
        self.facts.get(&(iin.to_owned(), scope.to_owned(), key.to_owned())).map(String::as_str)
    }
}

// ---------------------------------------------------------------------------------------
// The rules, re-derived
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phone {
    KzMobile(String),
    Landline,
    Foreign,
}

/// Reads a number as people write it. Only the shapes the generator documents are known:
/// anything else is an oracle failure, not a guess.
fn classify_phone(written: &str) -> Phone {
    let plus = written.trim_start().starts_with('+');
    let digits: String = written.chars().filter(char::is_ascii_digit).collect();
    let international = match (plus, digits.len()) {
        (true, _) => digits.clone(),
        (false, 11) if digits.starts_with('8') => format!("7{}", &digits[1..]),
        (false, 10) => format!("7{digits}"),
        _ => panic!("unexpected number shape ({} digits)", digits.len()),
    };
    if !international.starts_with('7') {
        return Phone::Foreign; // e.g. +998 (Uzbekistan)
    }
    assert_eq!(international.len(), 11, "a +7 number has 10 national digits");
    let national = &international[1..];
    let p3: u32 = national[..3].parse().expect("digits");
    match p3 {
        700..=709 | 747 | 760..=764 | 770..=779 | 785 => Phone::KzMobile(format!("+{international}")),
        710..=729 => Phone::Landline,
        // Russia shares +7: 3xx, 4xx, 8xx and 9xx are Russian ranges.
        300..=499 | 800..=999 => Phone::Foreign,
        _ => panic!("unexpected +7 range {p3}xx"),
    }
}

/// Which consent answers for `scopes` at `at`: Ok, or the gate reason.
fn consent_verdict(consents: &[Consent], scopes: &[&str], at: i64) -> Result<(), &'static str> {
    let covers = |c: &Consent| scopes.iter().all(|s| c.scopes.contains(*s));
    let revoked = |c: &Consent| c.revoked_at.is_some_and(|r| r <= at);
    let expired = |c: &Consent| c.expires_at.is_some_and(|e| e <= at);
    let active = |c: &Consent| c.granted_at <= at && !revoked(c) && !expired(c);
    if consents.iter().any(|c| covers(c) && active(c)) {
        return Ok(());
    }
    let covering: Vec<&Consent> = consents.iter().filter(|c| covers(c) && c.granted_at <= at).collect();
    if covering.iter().any(|c| revoked(c)) {
        Err("consent-revoked")
    } else if covering.iter().any(|c| expired(c)) {
        Err("consent-expired")
    } else if consents.iter().any(active) {
        Err("consent-scope")
    } else {
        Err("no-consent")
    }
}

/// What a reply means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    Yes,
    No,
    Other,
}

const YES_WORDS: [&str; 7] = ["иә", "ия", "иа", "иэ", "да", "yes", "1"];
const NO_WORDS: [&str; 6] = ["жоқ", "жок", "нет", "неа", "no", "2"];

/// The Cyrillic letter a Latin one is typed for.
fn look_alike(c: char) -> Option<char> {
    let pairs = [
        ('a', 'а'),
        ('b', 'в'),
        ('c', 'с'),
        ('e', 'е'),
        ('h', 'н'),
        ('i', 'і'),
        ('k', 'к'),
        ('m', 'м'),
        ('o', 'о'),
        ('p', 'р'),
        ('t', 'т'),
        ('x', 'х'),
        ('y', 'у'),
    ];
    pairs.iter().find(|(l, _)| *l == c).map(|(_, cy)| *cy)
}

fn word_reading(w: &str) -> Option<Reading> {
    if YES_WORDS.contains(&w) {
        Some(Reading::Yes)
    } else if NO_WORDS.contains(&w) {
        Some(Reading::No)
    } else {
        None
    }
}

/// Reads a scripted answer (with the `((code))` token taken out: the code only routes it).
fn read_reply(answer: &str) -> Reading {
    let lowered = answer.replace("((code))", " ").to_lowercase().replace('ё', "е");
    let (mut yes, mut no) = (false, false);
    for word in lowered.split(|c: char| !(c.is_alphabetic() || c.is_ascii_digit())).filter(|w| !w.is_empty()) {
        // Split the word into runs of letters and runs of digits.
        let mut runs: Vec<String> = Vec::new();
        let mut last_digit = None;
        for c in word.chars() {
            let digit = c.is_ascii_digit();
            if last_digit != Some(digit) {
                runs.push(String::new());
            }
            runs.last_mut().expect("a run").push(c);
            last_digit = Some(digit);
        }
        for run in &runs {
            let reading = if run.starts_with(|c: char| c.is_ascii_digit()) {
                // "1"/"2" only as a whole word: "P2" is a priority code, not a "no".
                if runs.len() == 1 { word_reading(run) } else { None }
            } else if run.chars().any(|c| ('\u{0400}'..='\u{052F}').contains(&c)) {
                word_reading(&run.chars().map(|c| look_alike(c).unwrap_or(c)).collect::<String>())
            } else {
                word_reading(run).or_else(|| {
                    let mapped: Option<String> = run.chars().map(look_alike).collect();
                    mapped.and_then(|m| word_reading(&m))
                })
            };
            match reading {
                Some(Reading::Yes) => yes = true,
                Some(Reading::No) => no = true,
                _ => {}
            }
        }
    }
    match (yes, no) {
        (true, false) => Reading::Yes,
        (false, true) => Reading::No,
        _ => Reading::Other,
    }
}

/// ISO 13616 mod-97 check of a 20-character KZ IBAN (upper case, no spaces).
fn valid_kz_iban(candidate: &str) -> bool {
    if candidate.len() != 20 || !candidate.starts_with("KZ") || !candidate.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let rearranged = format!("{}{}", &candidate[4..], &candidate[..4]);
    let mut remainder = 0u32;
    for c in rearranged.chars() {
        let value = c.to_digit(36).expect("alphanumeric");
        remainder = if value < 10 { (remainder * 10 + value) % 97 } else { (remainder * 100 + value) % 97 };
    }
    remainder == 1
}

/// Whether the text carries a valid KZ IBAN anywhere, written with spaces or in lower case.
fn has_valid_iban(answer: &str) -> bool {
    let chars: Vec<char> = answer.replace("((code))", " ").chars().collect();
    (0..chars.len()).filter(|&i| chars[i].eq_ignore_ascii_case(&'k')).any(|start| {
        let candidate: String = chars[start..]
            .iter()
            .filter(|c| !c.is_whitespace())
            .take_while(|c| c.is_ascii_alphanumeric())
            .take(20)
            .collect::<String>()
            .to_ascii_uppercase();
        valid_kz_iban(&candidate)
    })
}

/// The sending window: 09:00 (inclusive) to 21:00 (exclusive), Almaty time.
fn next_open(at: i64) -> i64 {
    let local = Almaty.timestamp_opt(at, 0).single().expect("a valid instant").naive_local();
    let (start, end) = (NaiveTime::from_hms_opt(9, 0, 0).unwrap(), NaiveTime::from_hms_opt(21, 0, 0).unwrap());
    if local.time() >= start && local.time() < end {
        return at;
    }
    let day = if local.time() < start { local.date() } else { local.date() + Duration::days(1) };
    Almaty.from_local_datetime(&day.and_time(start)).earliest().expect("09:00 exists").timestamp()
}

/// A case's final outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Skipped,
    Gated(String),
    Provided { asks: u32 },
    Refused { ground: String, asks: u32 },
    Failed { asks: u32 },
}

impl Outcome {
    fn offered(&self) -> bool {
        matches!(self, Outcome::Provided { .. } | Outcome::Refused { .. } | Outcome::Failed { .. })
    }

    fn asks(&self) -> u32 {
        match self {
            Outcome::Provided { asks } | Outcome::Refused { asks, .. } | Outcome::Failed { asks } => *asks,
            _ => 0,
        }
    }

    /// Question SMS the case sent: the offer and every ask-again.
    fn questions(&self) -> i64 {
        if self.offered() { 1 + i64::from(self.asks()) } else { 0 }
    }

    /// Every plugin confirms a provision with one notice, and refuses silently.
    fn notices(&self) -> i64 {
        i64::from(matches!(self, Outcome::Provided { .. }))
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Skipped => write!(f, "skipped"),
            Outcome::Gated(r) => write!(f, "gated-out/{r}"),
            Outcome::Provided { asks } => write!(f, "provided (asks {asks})"),
            Outcome::Refused { ground, asks } => write!(f, "refused/{ground} (asks {asks})"),
            Outcome::Failed { asks } => write!(f, "failed (asks {asks})"),
        }
    }
}

/// The expectation for one (event, service) pair, with a PII-free trace of why.
struct Expected {
    outcome: Outcome,
    /// Scripted replies the case consumes (each one a reply the network delivers).
    replies: u64,
    why: String,
}

/// What a service decides on one reply.
enum Step {
    Provide,
    Refuse(&'static str),
    AskAgain,
}

fn expect_case(inputs: &Inputs, service: &Service, event: &Event) -> Expected {
    let done = |outcome, why: String| Expected { outcome, replies: 0, why };
    // 1. Recipient.
    let recipient = match event.attributes.get("representative") {
        Some(rep) => rep.clone(),
        None if service.recipient == "subject" => event.subject.clone(),
        None => event.attributes.get(service.recipient).cloned().expect("the recipient attribute is present"),
    };
    // 2. Gate, at the event's time.
    if inputs.state_bodies.contains(&recipient) {
        return done(Outcome::Gated("state-body".into()), "recipient is a state body".into());
    }
    let Some(written) = inputs.numbers.get(&recipient) else {
        return done(Outcome::Gated("no-registered-number".into()), "no numbers line".into());
    };
    let phone = match classify_phone(written) {
        Phone::KzMobile(e164) => e164,
        Phone::Landline => return done(Outcome::Gated("not-mobile".into()), "landline".into()),
        Phone::Foreign => return done(Outcome::Gated("foreign-number".into()), "foreign number".into()),
    };
    let consents = inputs.consents.get(&recipient).map(Vec::as_slice).unwrap_or_default();
    if let Err(reason) = consent_verdict(consents, service.scopes, event.at) {
        return done(Outcome::Gated(reason.into()), "consent at the event".into());
    }
    // 3. The plugin on the event.
    let deceased = event.attributes.get("child_status").is_some_and(|s| s.trim().eq_ignore_ascii_case("deceased"));
    match service.id {
        HEALTH | LABOUR | EDUCATION if deceased => {
            return done(Outcome::Skipped, "child deceased".into());
        }
        HEALTH => {
            let mother = &event.attributes["mother"];
            if inputs.fact(mother, "health.attachment", "clinic").is_none_or(|c| c.trim().is_empty()) {
                return done(Outcome::Skipped, "mother has no clinic".into());
            }
        }
        DEFENCE => {
            let digits: Vec<u32> = event.subject.chars().map(|c| c.to_digit(10).expect("IIN digits")).collect();
            let century = match digits[6] {
                1 | 2 => 1800,
                3 | 4 => 1900,
                5 | 6 => 2000,
                d => panic!("IIN digit 7 is {d}"),
            };
            let birth_year = century + (digits[0] * 10 + digits[1]) as i32;
            let event_year = Almaty.timestamp_opt(event.at, 0).single().expect("instant").year();
            if digits[6].is_multiple_of(2) {
                return done(Outcome::Skipped, "female".into());
            }
            if birth_year + 17 != event_year {
                return done(Outcome::Skipped, "does not turn 17 this year".into());
            }
            if inputs.fact(&event.subject, "defence.registration", "registered").is_some_and(|v| v.trim() == "true") {
                return done(Outcome::Skipped, "already registered".into());
            }
        }
        _ => {}
    }
    // 4. The offer, then each scripted reply on the virtual clock.
    let script = inputs.scripts.get(&phone);
    let answers: &[String] = script.and_then(|s| s.answers.get(service.id)).map(Vec::as_slice).unwrap_or_default();
    let delay = script.map_or(0, |s| s.delay_minutes) * 60;
    let window = service.window_hours * 3600;
    let mut sent = next_open(event.at);
    let (mut asks, mut alternative, mut replies) = (0u32, false, 0u64);
    let mut why = format!("offered; {} scripted answers, delay {} min", answers.len(), delay / 60);
    let outcome = loop {
        let deadline = sent + window;
        let Some(answer) = answers.get(replies as usize) else {
            why.push_str("; script exhausted");
            break Outcome::Refused { ground: "no-answer".into(), asks };
        };
        let reply_at = sent + delay;
        if reply_at > deadline {
            why.push_str("; reply after the window");
            break Outcome::Refused { ground: "no-answer".into(), asks };
        }
        replies += 1;
        let reading = read_reply(answer);
        why.push_str(&format!("; reply {replies} reads {reading:?}"));
        let step = match service.id {
            HEALTH | EDUCATION => match reading {
                Reading::Yes => Step::Provide,
                Reading::No => Step::Refuse("recipient-declined"),
                Reading::Other if asks < 2 => Step::AskAgain,
                Reading::Other => Step::Refuse("no-valid-answer"),
            },
            LABOUR => match reading {
                Reading::No => Step::Refuse("recipient-declined"),
                _ if has_valid_iban(answer) => Step::Provide,
                _ if asks < 2 => Step::AskAgain,
                _ => Step::Refuse("invalid-payment-details"),
            },
            DEFENCE => match reading {
                Reading::Yes => Step::Provide,
                Reading::No if !alternative => {
                    alternative = true;
                    Step::AskAgain
                }
                Reading::No => Step::Refuse("recipient-declined"),
                Reading::Other if asks < 2 => Step::AskAgain,
                Reading::Other => Step::Refuse("no-valid-answer"),
            },
            other => unreachable!("service {other}"),
        };
        match step {
            // 5. Consent is checked again at the reply, before anything is provided.
            Step::Provide => match consent_verdict(consents, service.scopes, reply_at) {
                Ok(()) => break Outcome::Provided { asks },
                Err(reason) => {
                    why.push_str(&format!("; consent at the reply: {reason}"));
                    break Outcome::Refused { ground: "consent-withdrawn".into(), asks };
                }
            },
            Step::Refuse(ground) => break Outcome::Refused { ground: ground.into(), asks },
            Step::AskAgain if asks >= HOST_MAX_ASKS => break Outcome::Failed { asks },
            Step::AskAgain => {
                asks += 1;
                sent = next_open(reply_at);
            }
        }
    };
    Expected { outcome, replies, why }
}

// ---------------------------------------------------------------------------------------
// The comparison
// ---------------------------------------------------------------------------------------

/// A case as the store holds it.
struct Actual {
    state: String,
    reason: Option<String>,
    ground: Option<String>,
    asks: u32,
    questions: i64,
    notices: i64,
}

impl Actual {
    fn matches(&self, e: &Outcome) -> bool {
        match e {
            Outcome::Skipped => self.state == "skipped",
            Outcome::Gated(r) => self.state == "gated-out" && self.reason.as_deref() == Some(r),
            Outcome::Provided { asks } => self.state == "provided" && self.asks == *asks,
            Outcome::Refused { ground, asks } => {
                self.state == "refused" && self.ground.as_deref() == Some(ground) && self.asks == *asks
            }
            Outcome::Failed { asks } => self.state == "failed" && self.asks == *asks,
        }
    }
}

impl fmt::Display for Actual {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.state.as_str() {
            "skipped" => write!(f, "skipped")?,
            "gated-out" => write!(f, "gated-out/{}", self.reason.as_deref().unwrap_or("?"))?,
            "refused" => write!(f, "refused/{} (asks {})", self.ground.as_deref().unwrap_or("?"), self.asks)?,
            "provided" | "failed" => write!(f, "{} (asks {})", self.state, self.asks)?,
            other => write!(f, "{other} (asks {})", self.asks)?,
        }
        write!(f, ", {} questions, {} notices", self.questions, self.notices)
    }
}

fn read_cases(db: &rusqlite::Connection) -> BTreeMap<(String, String), Actual> {
    let mut st = db
        .prepare(
            "SELECT c.event_id, c.service, c.state, c.reason, c.ground, c.asks, \
             (SELECT COUNT(*) FROM outbox o WHERE o.case_id = c.id AND o.kind = 'question'), \
             (SELECT COUNT(*) FROM outbox o WHERE o.case_id = c.id AND o.kind = 'notice') \
             FROM cases c",
        )
        .expect("preparing the cases query");
    let rows = st
        .query_map([], |r| {
            Ok((
                (r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                Actual {
                    state: r.get(2)?,
                    reason: r.get(3)?,
                    ground: r.get(4)?,
                    asks: r.get(5)?,
                    questions: r.get(6)?,
                    notices: r.get(7)?,
                },
            ))
        })
        .expect("querying the cases");
    rows.map(|r| r.expect("a case row")).collect()
}

/// The report's per-service counts the expectation predicts.
fn expected_report(inputs: &Inputs, table: &BTreeMap<(String, String), Expected>) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for service in &SERVICES {
        let cases: Vec<&Expected> =
            table.iter().filter(|((_, s), _)| s.as_str() == service.id).map(|(_, e)| e).collect();
        let events = inputs.events.iter().filter(|e| e.kind == service.subscribes).count();
        assert_eq!(cases.len(), events, "one expected case per subscribed event");
        let (mut gated, mut refused, mut failed) = (BTreeMap::new(), BTreeMap::new(), 0u64);
        let (mut skipped, mut offers, mut provided, mut messages) = (0u64, 0u64, 0u64, 0i64);
        for e in &cases {
            offers += u64::from(e.outcome.offered());
            messages += e.outcome.questions() + e.outcome.notices();
            match &e.outcome {
                Outcome::Skipped => skipped += 1,
                Outcome::Gated(r) => *gated.entry(r.clone()).or_insert(0u64) += 1,
                Outcome::Provided { .. } => provided += 1,
                Outcome::Refused { ground, .. } => *refused.entry(ground.clone()).or_insert(0u64) += 1,
                Outcome::Failed { .. } => failed += 1,
            }
        }
        assert_eq!(failed, 0, "the oracle itself predicts failed cases for {}: the rules changed?", service.id);
        out.insert(
            service.id.to_owned(),
            json!({
                "service": service.id,
                "events": events,
                "skipped": skipped,
                "gated": gated,
                "offers": offers,
                "messages": messages,
                "provided": provided,
                "refused": refused,
                "failed": {},
                "open": 0,
            }),
        );
    }
    out
}

/// An IIN or phone shown only by its first two and last two digits.
fn mask(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= 4 {
        return "*".repeat(chars.len());
    }
    format!(
        "{}{}{}",
        chars[..2].iter().collect::<String>(),
        "*".repeat(chars.len() - 4),
        chars[chars.len() - 2..].iter().collect::<String>()
    )
}

fn run_and_check(seed: u64, people: usize) {
    let t = TestDir::new();
    let plugins = t.plugins(&[]);
    let out = t.path().join("out");
    let stdout = proactive_ok(
        &[
            "demo",
            "--people",
            &people.to_string(),
            "--seed",
            &seed.to_string(),
            "--out",
            out.to_str().expect("a UTF-8 path"),
            "--plugins",
            plugins.to_str().expect("a UTF-8 path"),
            "--json",
        ],
        t.path(),
    );
    let report: Value = serde_json::from_str(&stdout).expect("the demo prints its report as JSON");

    // The expectation, from the files alone.
    let inputs = Inputs::read(&out);
    let mut table: BTreeMap<(String, String), Expected> = BTreeMap::new();
    for event in &inputs.events {
        for service in SERVICES.iter().filter(|s| s.subscribes == event.kind) {
            let previous =
                table.insert((event.id.clone(), service.id.to_owned()), expect_case(&inputs, service, event));
            assert!(previous.is_none(), "event id {} appears twice in events.ndjson", event.id);
        }
    }
    // The mix must exercise what it claims to, or an exact match proves little. (A state
    // body as representative, about 1 event in 100, may miss a seed, so it is not required.)
    let outcomes: HashSet<String> =
        table.values().map(|e| e.outcome.to_string().split(' ').next().unwrap().to_owned()).collect();
    for needed in [
        "skipped",
        "gated-out/no-registered-number",
        "gated-out/not-mobile",
        "gated-out/foreign-number",
        "gated-out/no-consent",
        "gated-out/consent-revoked",
        "gated-out/consent-expired",
        "gated-out/consent-scope",
        "provided",
        "refused/recipient-declined",
        "refused/no-answer",
        "refused/consent-withdrawn",
    ] {
        assert!(outcomes.contains(needed), "seed {seed}: the generated mix has no {needed} case");
    }

    // (a) Every case in the store against its expectation.
    let db = open_store(&out.join("proactive.sqlite"));
    let actual = read_cases(&db);
    let mut diffs = Vec::new();
    for (key, e) in &table {
        let (event_id, service) = key;
        match actual.get(key) {
            None => diffs.push(format!("{event_id} {service}: expected {}, but the store has no case", e.outcome)),
            Some(a) => {
                let counts_ok = a.questions == e.outcome.questions() && a.notices == e.outcome.notices();
                if !a.matches(&e.outcome) || !counts_ok {
                    let recipient = inputs
                        .events
                        .iter()
                        .find(|ev| &ev.id == event_id)
                        .map(|ev| {
                            let who = if service == DEFENCE { &ev.subject } else { &ev.attributes["mother"] };
                            mask(who)
                        })
                        .unwrap_or_default();
                    diffs.push(format!(
                        "{event_id} {service} (recipient {recipient}):\n      expected {}, {} questions, {} notices [{}]\n      actual   {a}",
                        e.outcome,
                        e.outcome.questions(),
                        e.outcome.notices(),
                        e.why
                    ));
                }
            }
        }
    }
    for (event_id, service) in actual.keys().filter(|k| !table.contains_key(*k)) {
        diffs.push(format!("{event_id} {service}: a case the expectation has no event/service pair for"));
    }
    assert!(
        diffs.is_empty(),
        "seed {seed}: {} of {} cases differ from the expectation; the first {}:\n  {}",
        diffs.len(),
        table.len(),
        diffs.len().min(10),
        diffs.iter().take(10).cloned().collect::<Vec<_>>().join("\n  ")
    );

    // Every message went out; none was help for an unmatched reply.
    let unsent: i64 = db.query_row("SELECT COUNT(*) FROM outbox WHERE state <> 'sent'", [], |r| r.get(0)).unwrap();
    assert_eq!(unsent, 0, "seed {seed}: messages left unsent");
    let help: i64 = db.query_row("SELECT COUNT(*) FROM outbox WHERE kind = 'help'", [], |r| r.get(0)).unwrap();
    assert_eq!(help, 0, "seed {seed}: help messages for unmatched replies");

    // (b) The report's per-service counts.
    let expected = expected_report(&inputs, &table);
    let services = report["services"].as_array().expect("services[] in the report");
    let mut got = BTreeMap::new();
    for s in services {
        let id = s["service"].as_str().expect("service id").to_owned();
        let mut s = s.clone();
        let obj = s.as_object_mut().expect("a service object");
        obj.remove("sms_parts");
        got.insert(id, s);
    }
    let report_diffs: Vec<String> = expected
        .keys()
        .chain(got.keys().filter(|k| !expected.contains_key(*k)))
        .filter(|k| expected.get(*k) != got.get(*k))
        .map(|k| {
            format!(
                "{k}:\n      expected {}\n      reported {}",
                expected.get(k).map_or("-".into(), Value::to_string),
                got.get(k).map_or("-".into(), Value::to_string)
            )
        })
        .collect();
    assert!(report_diffs.is_empty(), "seed {seed}: report counts differ:\n  {}", report_diffs.join("\n  "));
    for s in services {
        assert_eq!(s["open"], 0, "seed {seed}: open cases in {}", s["service"]);
        assert_eq!(s["failed"], json!({}), "seed {seed}: failed cases in {}", s["service"]);
    }
    let expected_replies: u64 = table.values().map(|e| e.replies).sum();
    let run_summary = json!({
        "events_new": report["events_new"],
        "events_rejected": report["events_rejected"],
        "replies": report["replies"],
        "replies_unmatched": report["replies_unmatched"],
        "audit_intact": report["audit_intact"],
    });
    assert_eq!(
        run_summary,
        json!({
            "events_new": inputs.events.len(),
            "events_rejected": 0,
            "replies": expected_replies,
            "replies_unmatched": 0,
            "audit_intact": true,
        }),
        "seed {seed}: run summary"
    );
}

#[test]
fn demo_matches_an_expectation_derived_from_its_files_seed_7() {
    run_and_check(7, 600);
}

#[test]
fn demo_matches_an_expectation_derived_from_its_files_seed_11() {
    run_and_check(11, 600);
}

#[test]
fn oracle_reads_replies_and_ibans_as_the_rules_say() {
    use Reading::{No, Other, Yes};
    for (text, reading) in [
        ("Иә ((code))", Yes),
        ("ия 👍", Yes),
        ("Да! ((code))", Yes),
        ("Дa ((code))", Yes), // Latin a
        ("1", Yes),
        ("жоқ ((code))", No),
        ("ЖОҚ!", No),
        ("жок.", No),
        ("HET ((code))", No), // all Latin
        ("2 ((code))", No),
        ("Нет", No),
        ("yes", Yes),
        ("no", No),
        ("???", Other),
        ("кто это", Other),
        ("не понял", Other),
        ("хорошо подумаю", Other),
        ("asdf", Other),
        ("👍 ((code))", Other),
        ("иә ((code)) P2", Yes),
        ("иә ((code)) p3", Yes),
        ("иә ((code)) Р2", Yes),
        ("((code)) kz86125kzt5004100100", Other),
        ("да нет", Other),
    ] {
        assert_eq!(read_reply(text), reading, "{text:?}");
    }
    assert!(has_valid_iban("иә ((code)) KZ86125KZT5004100100"));
    assert!(has_valid_iban("иә ((code)) KZ86 125K ZT50 0410 0100"));
    assert!(has_valid_iban("((code)) kz86125kzt5004100100"));
    assert!(!has_valid_iban("иә ((code)) KZ86125KZT5004100101"));
    assert!(!has_valid_iban("иә ((code))"));
    for (written, class) in [
        ("+7 701 123 45 67", Phone::KzMobile("+77011234567".into())),
        ("8 (778) 123-45-67", Phone::KzMobile("+77781234567".into())),
        ("87471234567", Phone::KzMobile("+77471234567".into())),
        ("+77001234567", Phone::KzMobile("+77001234567".into())),
        ("+7 727 212 34 56", Phone::Landline),
        ("8 7172 51 23 45", Phone::Landline),
        ("+7 916 123 45 67", Phone::Foreign),
        ("+998 90 123 45 67", Phone::Foreign),
    ] {
        assert_eq!(classify_phone(written), class, "{}", mask(written));
    }
}
