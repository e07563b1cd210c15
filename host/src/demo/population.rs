//! A deterministic synthetic population and a month of its life events, written as the same
//! files `proactive ingest` reads, so the demo is also a worked example of the formats.
//!
//! The mix is chosen to exercise every branch of the gate and the four services: people
//! without a registered number, with a landline or a foreign number, without consent, with
//! revoked, expired or too-narrow consent, consent withdrawn between offer and provision,
//! state institutions as legal representatives, and scripted subscribers who answer yes,
//! no, nonsense, invalid IBANs, or nothing at all.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context as _;
use chrono::{Datelike, Duration, NaiveDate};
use proactive_sdk::domain::{Bin, BinDivision, BinEntityType, Iin, KzIban, Sex};
use proactive_sdk::time::local_timestamp;
use serde_json::json;

use super::rng::Rng;
use crate::gate::registry::{CONSENTS_FILE, FACTS_FILE, NUMBERS_FILE, STATE_BODIES_FILE};
use crate::sms::sim::Script;

pub const EVENTS_FILE: &str = "events.ndjson";
pub const SUBSCRIBERS_FILE: &str = "subscribers.ndjson";
pub const REGISTRY_DIR: &str = "registry";

/// Every scope the four services use; "full" consent covers all of them.
pub const ALL_SCOPES: [&str; 6] = [
    "civil.birth",
    "civil.identity",
    "health.attachment",
    "social.benefits",
    "defence.registration",
    "education.preschool",
];

const HEALTH: &str = "health.newborn-attachment";
const LABOUR: &str = "labour.childbirth-benefit";
const DEFENCE: &str = "defence.conscription-registration";
const EDUCATION: &str = "education.preschool-queue";

const REGIONS: [&str; 6] =
    ["almaty-city", "astana", "shymkent", "karaganda-region", "aktobe-region", "turkistan-region"];
const MOBILE_PREFIXES: [&str; 12] =
    ["700", "701", "702", "705", "707", "708", "747", "771", "775", "776", "777", "778"];

/// What the generator wrote.
#[derive(Debug, Default, Clone)]
pub struct Generated {
    pub people: usize,
    pub births: usize,
    pub birthdays: usize,
    pub state_bodies: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum PhoneKind {
    Mobile,
    None,
    Landline,
    Foreign,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ConsentKind {
    Full,
    None,
    Revoked,
    Expired,
    MissingScope,
    /// Withdrawn two days after the person's event: between the offer and a late answer.
    RevokedLater,
}

struct Writers {
    events: BufWriter<fs::File>,
    numbers: BufWriter<fs::File>,
    consents: BufWriter<fs::File>,
    state_bodies: BufWriter<fs::File>,
    facts: BufWriter<fs::File>,
    subscribers: BufWriter<fs::File>,
    consents_written: usize,
}

fn create(path: &Path) -> anyhow::Result<BufWriter<fs::File>> {
    Ok(BufWriter::new(fs::File::create(path).with_context(|| format!("creating {}", path.display()))?))
}

fn line(w: &mut BufWriter<fs::File>, v: serde_json::Value) -> anyhow::Result<()> {
    writeln!(w, "{v}")?;
    Ok(())
}

fn rfc3339(ts: i64) -> String {
    let utc = chrono::DateTime::<chrono::Utc>::from_timestamp(ts, 0).unwrap_or_default();
    utc.with_timezone(&proactive_sdk::time::ALMATY).to_rfc3339()
}

/// Generates unique valid IINs.
struct IinFactory {
    used: HashSet<String>,
}

impl IinFactory {
    fn make(&mut self, rng: &mut Rng, birth: NaiveDate, sex: Sex) -> Iin {
        loop {
            let serial = rng.below(10_000) as u16;
            if let Some(iin) = Iin::from_parts(birth, sex, serial)
                && self.used.insert(iin.as_str().to_owned())
            {
                return iin;
            }
        }
    }
}

struct Person {
    iin: Iin,
    phone: Option<String>,
    consent: ConsentKind,
}

/// Write a population of `people` (and their newborns) with a month of events into `out`.
pub fn generate(out: &Path, people: usize, seed: u64) -> anyhow::Result<Generated> {
    let registry = out.join(REGISTRY_DIR);
    fs::create_dir_all(&registry).with_context(|| format!("creating {}", registry.display()))?;
    let mut w = Writers {
        events: create(&out.join(EVENTS_FILE))?,
        numbers: create(&registry.join(NUMBERS_FILE))?,
        consents: create(&registry.join(CONSENTS_FILE))?,
        state_bodies: create(&registry.join(STATE_BODIES_FILE))?,
        facts: create(&registry.join(FACTS_FILE))?,
        subscribers: create(&out.join(SUBSCRIBERS_FILE))?,
        consents_written: 0,
    };
    let mut rng = Rng::new(seed);
    let mut iins = IinFactory { used: HashSet::new() };
    let mut generated = Generated { people, ..Default::default() };

    // State bodies: guardianship authorities of local executive bodies.
    let mut state_bodies = Vec::new();
    for i in 0..10u32 {
        let bin = loop {
            let serial = rng.below(100_000) as u32;
            if let Some(b) = Bin::from_parts(
                2005 + i as i32,
                1 + i % 12,
                BinEntityType::ResidentLegalEntity,
                BinDivision::HeadOffice,
                serial,
            ) {
                break b;
            }
        };
        line(
            &mut w.state_bodies,
            json!({ "bin": bin.as_str(), "name": format!("Әкімдіктің қорғаншылық органы №{}", i + 1), "kind": "local-executive-body" }),
        )?;
        state_bodies.push(bin.as_str().to_owned());
    }
    generated.state_bodies = state_bodies.len();

    let month_start = NaiveDate::from_ymd_opt(2026, 11, 1).expect("valid date");
    let mut used_phones = HashSet::new();
    let mothers = people * 4 / 10;
    let teens = people / 10;
    for index in 0..people {
        let role = if index < mothers {
            Role::Mother
        } else if index < mothers + teens {
            Role::Teen
        } else {
            Role::Other
        };
        let (birth, sex) = match role {
            Role::Mother => (date_between(&mut rng, 1981, 2007), Sex::Female),
            Role::Teen => (
                NaiveDate::from_ymd_opt(2009, 11, rng.range(1, 30) as u32).expect("valid date"),
                if rng.below(2) == 0 { Sex::Male } else { Sex::Female },
            ),
            Role::Other => {
                (date_between(&mut rng, 1946, 2007), if rng.below(2) == 0 { Sex::Male } else { Sex::Female })
            }
        };
        let iin = iins.make(&mut rng, birth, sex);
        let person = register(&mut w, &mut rng, &mut used_phones, iin)?;
        match role {
            Role::Mother if rng.below(2) == 0 => {
                birth_event(&mut w, &mut rng, &mut iins, &person, &state_bodies, month_start, &mut generated)?;
            }
            Role::Teen => {
                let date = NaiveDate::from_ymd_opt(2026, 11, person.iin.birth_date().day()).unwrap_or(month_start);
                let at = local_timestamp(date, 0, 5) + rng.range(0, 600) * 60;
                teen_event(&mut w, &mut rng, &person, &state_bodies, at, &mut generated)?;
            }
            _ => {}
        }
    }
    for writer in
        [&mut w.events, &mut w.numbers, &mut w.consents, &mut w.state_bodies, &mut w.facts, &mut w.subscribers]
    {
        writer.flush()?;
    }
    Ok(generated)
}

#[derive(Clone, Copy)]
enum Role {
    Mother,
    Teen,
    Other,
}

fn date_between(rng: &mut Rng, from_year: i32, to_year: i32) -> NaiveDate {
    let start = NaiveDate::from_ymd_opt(from_year, 1, 1).expect("valid date");
    let end = NaiveDate::from_ymd_opt(to_year, 12, 31).expect("valid date");
    start + Duration::days(rng.below((end - start).num_days() as u64) as i64)
}

/// Write a person's number registration, consent and general facts.
fn register(w: &mut Writers, rng: &mut Rng, used: &mut HashSet<String>, iin: Iin) -> anyhow::Result<Person> {
    let kind = rng.weighted(&[
        (86, PhoneKind::Mobile),
        (6, PhoneKind::None),
        (4, PhoneKind::Landline),
        (4, PhoneKind::Foreign),
    ]);
    let lang = if rng.below(10) < 6 { "kk" } else { "ru" };
    let phone = match kind {
        PhoneKind::None => None,
        PhoneKind::Mobile => {
            let (national, e164) = loop {
                let national = format!("{}{}", rng.pick(&MOBILE_PREFIXES), rng.digits(7));
                if used.insert(national.clone()) {
                    break (national.clone(), format!("+7{national}"));
                }
            };
            let written = match rng.below(4) {
                0 => format!("+7 {} {} {} {}", &national[..3], &national[3..6], &national[6..8], &national[8..]),
                1 => format!("8 ({}) {}-{}-{}", &national[..3], &national[3..6], &national[6..8], &national[8..]),
                2 => format!("8{national}"),
                _ => e164.clone(),
            };
            line(&mut w.numbers, json!({ "iin": iin.as_str(), "phone": written, "lang": lang }))?;
            Some(e164)
        }
        PhoneKind::Landline => {
            let written = if rng.below(2) == 0 {
                format!("+7 727 2{} {} {}", rng.digits(2), rng.digits(2), rng.digits(2))
            } else {
                format!("8 7172 5{} {} {}", rng.digits(1), rng.digits(2), rng.digits(2))
            };
            line(&mut w.numbers, json!({ "iin": iin.as_str(), "phone": written, "lang": lang }))?;
            None
        }
        PhoneKind::Foreign => {
            let written = if rng.below(2) == 0 {
                format!("+7 916 {} {} {}", rng.digits(3), rng.digits(2), rng.digits(2))
            } else {
                format!("+998 90 {} {} {}", rng.digits(3), rng.digits(2), rng.digits(2))
            };
            line(&mut w.numbers, json!({ "iin": iin.as_str(), "phone": written, "lang": lang }))?;
            None
        }
    };
    let consent = rng.weighted(&[
        (76, ConsentKind::Full),
        (7, ConsentKind::None),
        (5, ConsentKind::Revoked),
        (3, ConsentKind::Expired),
        (5, ConsentKind::MissingScope),
        (4, ConsentKind::RevokedLater),
    ]);
    Ok(Person { iin, phone, consent })
}

/// Write the person's consent record; `event_at` places a later withdrawal.
fn write_consent(w: &mut Writers, rng: &mut Rng, p: &Person, event_at: i64, drop_scope: &str) -> anyhow::Result<()> {
    let granted = local_timestamp(date_between(rng, 2024, 2025), 12, 0);
    w.consents_written += 1;
    let id = format!("C-{:07}", w.consents_written);
    let all: Vec<&str> = ALL_SCOPES.to_vec();
    let mut record = json!({ "id": id, "iin": p.iin.as_str(), "scopes": all, "granted_at": rfc3339(granted) });
    match p.consent {
        ConsentKind::None => return Ok(()),
        ConsentKind::Full => {}
        ConsentKind::Revoked => {
            record["revoked_at"] =
                json!(rfc3339(local_timestamp(NaiveDate::from_ymd_opt(2026, 10, 1).expect("date"), 12, 0)))
        }
        ConsentKind::Expired => {
            record["expires_at"] =
                json!(rfc3339(local_timestamp(NaiveDate::from_ymd_opt(2026, 10, 15).expect("date"), 0, 0)))
        }
        ConsentKind::MissingScope => {
            let scopes: Vec<&str> = ALL_SCOPES.iter().copied().filter(|s| *s != drop_scope).collect();
            record["scopes"] = json!(scopes);
        }
        ConsentKind::RevokedLater => record["revoked_at"] = json!(rfc3339(event_at + 2 * 86_400)),
    }
    line(&mut w.consents, record)
}

fn birth_event(
    w: &mut Writers,
    rng: &mut Rng,
    iins: &mut IinFactory,
    mother: &Person,
    state_bodies: &[String],
    month_start: NaiveDate,
    generated: &mut Generated,
) -> anyhow::Result<()> {
    let day = month_start + Duration::days(rng.below(30) as i64);
    let at = local_timestamp(day, 0, 0) + rng.range(0, 86_399);
    let sex = if rng.below(2) == 0 { Sex::Male } else { Sex::Female };
    let child = iins.make(rng, day, sex);
    let order = rng.weighted(&[(35, 1), (30, 2), (18, 3), (10, 4), (5, 5), (2, 6)]);
    let deceased = rng.below(1000) < 15;
    let region = *rng.pick(&REGIONS);
    let mut attributes = json!({
        "mother": mother.iin.as_str(),
        "birth_order": order.to_string(),
        "region": region,
        "child_status": if deceased { "deceased" } else { "alive" },
    });
    if rng.below(100) == 0 {
        attributes["representative"] = json!(rng.pick(state_bodies));
    }
    generated.births += 1;
    line(
        &mut w.events,
        json!({
            "id": format!("BR-2026-{:06}", generated.births),
            "kind": "birth.registered",
            "subject": child.as_str(),
            "occurred_at": rfc3339(at),
            "attributes": attributes,
        }),
    )?;
    let dropped = rng_scope(rng, &["health.attachment", "social.benefits", "education.preschool"]);
    write_consent(w, rng, mother, at, dropped)?;
    if rng.below(100) < 85 {
        line(
            &mut w.facts,
            json!({ "iin": mother.iin.as_str(), "scope": "health.attachment", "key": "clinic", "value": format!("Емхана №{}", rng.range(1, 40)) }),
        )?;
    }
    let Some(phone) = &mother.phone else { return Ok(()) };
    let iban = KzIban::compute(&format!("{}", rng.range(100, 999)), &rng.digits(13)).expect("valid IBAN parts");
    let bad_iban = corrupt(iban.as_str());
    let mut answers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let delay = if mother.consent == ConsentKind::RevokedLater {
        // Answers only the benefit, three days later: after the withdrawal.
        answers.insert(LABOUR.into(), vec![format!("иә ((code)) {}", iban.grouped())]);
        3 * 24 * 60
    } else {
        rng.range(5, 600) as u32
    };
    if mother.consent != ConsentKind::RevokedLater {
        let yes = yes_word(rng);
        let no = no_word(rng);
        let health = match rng.weighted(&[(60, 0), (10, 1), (8, 2), (4, 3), (18, 4)]) {
            0 => vec![format!("{yes} ((code))")],
            1 => vec![format!("{no} ((code))")],
            2 => vec![format!("{} ((code))", garbage(rng)), format!("{yes} ((code))")],
            3 => vec![format!("{} ((code))", garbage(rng)); 3],
            _ => vec![],
        };
        let labour = match rng.weighted(&[(55, 0), (10, 1), (10, 2), (5, 3), (5, 4), (15, 5)]) {
            0 => vec![format!("{yes} ((code)) {}", iban.as_str())],
            1 => vec![format!("{no} ((code))")],
            2 => vec![format!("{yes} ((code)) {bad_iban}"), format!("{yes} ((code)) {}", iban.grouped())],
            3 => vec![format!("{yes} ((code)) {bad_iban}"); 3],
            4 => vec![format!("{yes} ((code))"), format!("((code)) {}", iban.as_str().to_lowercase())],
            _ => vec![],
        };
        let education = match rng.weighted(&[(40, 0), (20, 1), (15, 2), (5, 3), (20, 4)]) {
            0 => vec![format!("{yes} ((code))")],
            1 => vec![format!("{yes} ((code)) {}", rng.pick(&["P1", "P2", "P3", "P4", "Р2", "p3"]))],
            2 => vec![format!("{no} ((code))")],
            3 => vec![format!("{} ((code))", garbage(rng)), format!("{yes} ((code))")],
            _ => vec![],
        };
        for (service, list) in [(HEALTH, health), (LABOUR, labour), (EDUCATION, education)] {
            if !list.is_empty() {
                answers.insert(service.into(), list);
            }
        }
    }
    write_script(w, phone, delay, answers)
}

fn teen_event(
    w: &mut Writers,
    rng: &mut Rng,
    teen: &Person,
    state_bodies: &[String],
    at: i64,
    generated: &mut Generated,
) -> anyhow::Result<()> {
    let mut attributes = json!({ "region": rng.pick(&REGIONS) });
    if rng.below(100) == 0 {
        attributes["representative"] = json!(rng.pick(state_bodies));
    }
    generated.birthdays += 1;
    line(
        &mut w.events,
        json!({
            "id": format!("T17-2026-{:06}", generated.birthdays),
            "kind": "person.turns-17",
            "subject": teen.iin.as_str(),
            "occurred_at": rfc3339(at),
            "attributes": attributes,
        }),
    )?;
    write_consent(w, rng, teen, at, "defence.registration")?;
    if rng.below(100) < 10 {
        line(
            &mut w.facts,
            json!({ "iin": teen.iin.as_str(), "scope": "defence.registration", "key": "registered", "value": "true" }),
        )?;
    }
    if rng.below(100) < 60 {
        line(
            &mut w.facts,
            json!({ "iin": teen.iin.as_str(), "scope": "defence.registration", "key": "district", "value": format!("ҚІБ №{}", rng.range(1, 12)) }),
        )?;
    }
    let Some(phone) = &teen.phone else { return Ok(()) };
    let mut answers = BTreeMap::new();
    let delay = if teen.consent == ConsentKind::RevokedLater {
        answers.insert(DEFENCE.to_owned(), vec!["иә".to_owned()]);
        3 * 24 * 60
    } else {
        // A teenager has one open case, so a bare answer is unambiguous.
        let list = match rng.weighted(&[(55, 0), (15, 1), (10, 2), (5, 3), (15, 4)]) {
            0 => vec![rng.pick(&["Иә", "да", "Да!", "1", "ия 👍"]).to_string()],
            1 => vec!["нет".to_owned(), "да".to_owned()],
            2 => vec!["жоқ".to_owned(), "ЖОҚ!".to_owned()],
            3 => vec![garbage(rng), "иә".to_owned()],
            _ => vec![],
        };
        if !list.is_empty() {
            answers.insert(DEFENCE.to_owned(), list);
        }
        rng.range(5, 600) as u32
    };
    write_script(w, phone, delay, answers)
}

fn write_script(
    w: &mut Writers,
    phone: &str,
    delay_minutes: u32,
    answers: BTreeMap<String, Vec<String>>,
) -> anyhow::Result<()> {
    let script = Script { phone: phone.to_owned(), delay_minutes, answers };
    line(&mut w.subscribers, serde_json::to_value(script)?)
}

fn rng_scope<'a>(rng: &mut Rng, options: &[&'a str]) -> &'a str {
    options[rng.below(options.len() as u64) as usize]
}

fn yes_word(rng: &mut Rng) -> &'static str {
    const YES: [&str; 7] = ["Иә", "ия", "ИӘ", "да", "Да!", "1", "Дa"];
    YES[rng.below(YES.len() as u64) as usize]
}

fn no_word(rng: &mut Rng) -> &'static str {
    const NO: [&str; 5] = ["жоқ", "Нет", "2", "HET", "жок."];
    NO[rng.below(NO.len() as u64) as usize]
}

fn garbage(rng: &mut Rng) -> String {
    rng.pick(&["???", "кто это", "👍", "не понял", "хорошо подумаю", "asdf"]).to_string()
}

/// The same IBAN with one account digit changed: right shape, wrong check digits.
fn corrupt(iban: &str) -> String {
    let mut chars: Vec<char> = iban.chars().collect();
    let last = chars.len() - 1;
    chars[last] = if chars[last] == '0' { '1' } else { '0' };
    chars.into_iter().collect()
}
