//! Registration at the conscription district, приписка (`defence.conscription-registration`).
//!
//! Every male citizen must be registered at a conscription district in the year he turns 17,
//! and most learn of it from a summons. Offering a concrete appointment instead turns an
//! obligation into a single "yes": the registry already knows who is due, and the district
//! office only needs to know when he will come.
//!
//! The slot is derived, not booked: the first working day at least a week ahead, at a time
//! spread over the day by the event id, so the same event always gets the same proposal
//! (decisions are replayable) and a yearly batch does not send a whole cohort at 09:00.
//! One alternative slot, a week later, is offered on a "no"; a second "no" means he will
//! arrange it himself. The office and slot travel in the case state, so the appointment that
//! gets recorded is the one he was shown.
//!
//! When the registry has no district for him, the offer names his region; the place is
//! still the defence office of his district, which he knows better than we do.

use proactive_sdk::host::FactError;
use proactive_sdk::prelude::*;
use proactive_sdk::state;
use proactive_sdk::time::chrono::{Datelike, Days, NaiveDate, Weekday};
use proactive_sdk::time::local_date;

pub const SERVICE: &str = "defence.conscription-registration";
const EVENT: &str = "person.turns-17";
const SCOPE: &str = "defence.registration";

/// Region codes as the registry sends them, and how the region reads inside a Kazakh or a
/// Russian SMS. City names are spelt the same in both languages; oblast names are not, so
/// both are given, in full (an abbreviation's dot would double up with the sentence's).
const REGIONS: &[(&str, &str)] = &[
    ("astana", "Астана"),
    ("almaty-city", "Алматы"),
    ("shymkent", "Шымкент"),
    ("abai-region", "Абай облысы / область Абай"),
    ("akmola-region", "Ақмола облысы / Акмолинская область"),
    ("aktobe-region", "Ақтөбе облысы / Актюбинская область"),
    ("almaty-region", "Алматы облысы / Алматинская область"),
    ("atyrau-region", "Атырау облысы / Атырауская область"),
    ("east-kazakhstan-region", "Шығыс Қазақстан облысы / Восточно-Казахстанская область"),
    ("jetisu-region", "Жетісу облысы / область Жетісу"),
    ("zhetysu-region", "Жетісу облысы / область Жетісу"),
    ("zhambyl-region", "Жамбыл облысы / Жамбылская область"),
    ("karaganda-region", "Қарағанды облысы / Карагандинская область"),
    ("kostanay-region", "Қостанай облысы / Костанайская область"),
    ("kyzylorda-region", "Қызылорда облысы / Кызылординская область"),
    ("mangystau-region", "Маңғыстау облысы / Мангистауская область"),
    ("north-kazakhstan-region", "Солтүстік Қазақстан облысы / Северо-Казахстанская область"),
    ("pavlodar-region", "Павлодар облысы / Павлодарская область"),
    ("turkistan-region", "Түркістан облысы / Туркестанская область"),
    ("ulytau-region", "Ұлытау облысы / область Ұлытау"),
    ("west-kazakhstan-region", "Батыс Қазақстан облысы / Западно-Казахстанская область"),
];

pub struct ConscriptionRegistration;

/// An appointment: a local date and a time of day in minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    date: NaiveDate,
    minutes: u32,
}

impl Slot {
    /// The first weekday at least 7 days after `today`, at 09:00 plus half an hour for each
    /// step of the event id's byte sum mod 16 (so 09:00 to 16:30).
    pub fn first(today: NaiveDate, event_id: &str) -> Slot {
        let week = add_days(today, 7);
        let date = match week.weekday() {
            Weekday::Sat => add_days(week, 2),
            Weekday::Sun => add_days(week, 1),
            _ => week,
        };
        // Wrapping keeps the sum's residue mod 16 exact, since 16 divides 2^64.
        let step = event_id.bytes().fold(0u64, |sum, b| sum.wrapping_add(u64::from(b))) % 16;
        Slot { date, minutes: 9 * 60 + 30 * step as u32 }
    }

    /// The alternative: a week later, same weekday and time.
    pub fn next_week(self) -> Slot {
        Slot { date: add_days(self.date, 7), ..self }
    }

    /// "2026-11-12 10:30".
    pub fn format(self) -> String {
        format!("{} {:02}:{:02}", self.date, self.minutes / 60, self.minutes % 60)
    }

    pub fn parse(text: &str) -> Option<Slot> {
        let (date, time) = text.trim().split_once(' ')?;
        let (hour, minute) = time.split_once(':')?;
        let (hour, minute) = (hour.parse::<u32>().ok()?, minute.parse::<u32>().ok()?);
        if hour >= 24 || minute >= 60 || time.len() != 5 {
            return None;
        }
        Some(Slot { date: date.parse().ok()?, minutes: hour * 60 + minute })
    }
}

/// Calendar arithmetic that cannot fail on any date the host can send (it stays put at the
/// end of chrono's range instead of panicking).
fn add_days(date: NaiveDate, days: u64) -> NaiveDate {
    date.checked_add_days(Days::new(days)).unwrap_or(date)
}

/// What the citizen was last offered.
struct Appointment {
    slot: Slot,
    office: String,
    alternative: bool,
}

impl Appointment {
    fn encode(&self) -> String {
        state::encode(&[
            ("slot", &self.slot.format()),
            ("office", &self.office),
            ("alt", if self.alternative { "1" } else { "0" }),
        ])
    }

    fn decode(text: &str) -> Option<Appointment> {
        let s = State::parse(text)?;
        Some(Appointment {
            slot: Slot::parse(s.get("slot")?)?,
            office: s.get("office")?.to_owned(),
            alternative: match s.get("alt")? {
                "0" => false,
                "1" => true,
                _ => return None,
            },
        })
    }

    fn params(&self) -> [(&'static str, String); 2] {
        [("office", self.office.clone()), ("slot", self.slot.format())]
    }
}

fn message(template: &str, appointment: &Appointment) -> Message {
    let params = appointment.params();
    let refs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    msg(template, &refs)
}

impl Plugin for ConscriptionRegistration {
    fn manifest() -> Vec<ServiceManifest> {
        vec![ServiceManifest {
            id: SERVICE.into(),
            agency: "defence".into(),
            title_kk: "Әскерге шақыру учаскесіне тіркеу".into(),
            title_ru: "Приписка к призывному участку".into(),
            subscribes: vec![EVENT.into()],
            recipient: "subject".into(),
            consent_scopes: vec!["civil.identity".into(), SCOPE.into()],
            reply_window_hours: 168,
            effective_from: "2026-01-01".into(),
            templates: vec![
                Template::question(
                    "offer",
                    &["office", "slot"],
                    "Шақыру учаскесіне тіркелу: ((slot)), қорғаныс істері басқармасы: \
                     ((office)). Жауап: ИӘ ((code)) – растау, ЖОҚ ((code)) – басқа уақыт",
                    "Приписка к призывному участку: ((slot)), управление по делам обороны: \
                     ((office)). Ответ: ДА ((code)) — подтвердить, НЕТ ((code)) — другое время",
                ),
                Template::question(
                    "another-slot",
                    &["office", "slot"],
                    "Тіркелудің басқа уақыты: ((slot)), қорғаныс істері басқармасы: \
                     ((office)). Жауап: ИӘ ((code)) – растау, ЖОҚ ((code)) – өзім жазыламын",
                    "Другое время приписки: ((slot)), управление по делам обороны: \
                     ((office)). Ответ: ДА ((code)) — подтвердить, НЕТ ((code)) — запишусь сам",
                ),
                Template::question(
                    "clarify",
                    &[],
                    "Жауап танылмады. Тіркелу уақыты сізге ыңғайлы ма? \
                     Жауап: ИӘ ((code)) немесе ЖОҚ ((code))",
                    "Ответ не распознан. Время приписки вам подходит? \
                     Ответ: ДА ((code)) или НЕТ ((code))",
                ),
                Template::notice(
                    "done",
                    &["office", "slot"],
                    "Сіз шақыру учаскесіне тіркелуге жазылдыңыз: ((slot)), қорғаныс істері \
                     басқармасы: ((office)). Жеке куәлігіңізді ала келіңіз.",
                    "Вы записаны на приписку: ((slot)), управление по делам обороны: \
                     ((office)). Возьмите удостоверение личности.",
                ),
            ],
        }]
    }

    fn on_event(service: &str, event: &LifeEvent) -> Decision {
        if service != SERVICE {
            return Decision::skip("not a service of this plugin");
        }
        if event.kind != EVENT {
            return Decision::skip("not a subscribed event kind");
        }
        let Ok(person) = Iin::parse(&event.subject) else {
            return Decision::skip("the subject's IIN is not valid");
        };
        if person.sex() != Sex::Male {
            return Decision::skip("registration applies to male citizens only");
        }
        if person.birth_date().year() + 17 != local_date(event.occurred_at).year() {
            return Decision::skip("does not turn 17 in the year of the event");
        }
        match host::fact(person.as_str(), SCOPE, "registered") {
            Ok(Some(v)) if v.trim().eq_ignore_ascii_case("true") => {
                return Decision::skip("already registered at a conscription district");
            }
            Ok(_) => {}
            Err(FactError::NoConsent) => {
                return Decision::skip("no consent to read the registration status");
            }
            // Cannot happen while the manifest declares SCOPE; still not a reason to panic.
            Err(FactError::UndeclaredScope) => {
                return Decision::skip("the registration scope is not declared");
            }
        }
        let district = host::fact(person.as_str(), SCOPE, "district").ok().flatten();
        let office = match district.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
            Some(district) => district.to_owned(),
            None => {
                let region = event.attr("region").unwrap_or("").trim();
                match REGIONS.iter().find(|(code, _)| *code == region) {
                    Some((_, name)) => (*name).to_owned(),
                    None => {
                        return Decision::refuse(
                            "missing-basis-data",
                            &format!("no district on record and unknown region {region:?}"),
                            None,
                        );
                    }
                }
            }
        };
        let appointment =
            Appointment { slot: Slot::first(local_date(host::now()), &event.id), office, alternative: false };
        Decision::offer(message("offer", &appointment), appointment.encode())
    }

    fn on_reply(service: &str, case: &CaseView, reply: &Reply) -> Decision {
        if service != SERVICE {
            return unknown_service();
        }
        let Some(appointment) = Appointment::decode(&case.state) else {
            return Decision::refuse("internal-state", "the case state holds no slot", None);
        };
        match reply.answer {
            Answer::Yes => Decision::provide(
                "appointment",
                &[
                    ("office", &appointment.office),
                    ("slot", &appointment.slot.format()),
                    ("person_iin", &case.event.subject),
                ],
                Some(message("done", &appointment)),
            ),
            Answer::No if !appointment.alternative => {
                let alternative = Appointment { slot: appointment.slot.next_week(), alternative: true, ..appointment };
                Decision::ask_again(message("another-slot", &alternative), alternative.encode())
            }
            Answer::No => Decision::refuse(
                "recipient-declined",
                "both slots declined; the citizen will arrange registration himself",
                None,
            ),
            Answer::Other if case.asks < 2 => Decision::ask_again(msg("clarify", &[]), case.state.clone()),
            Answer::Other => {
                Decision::refuse("no-valid-answer", "no recognisable answer after two clarifications", None)
            }
        }
    }

    fn on_timeout(service: &str, _case: &CaseView) -> Decision {
        if service != SERVICE {
            return unknown_service();
        }
        Decision::refuse("no-answer", "no reply within the 7-day window", None)
    }
}

proactive_sdk::export_plugin!(ConscriptionRegistration);

fn unknown_service() -> Decision {
    Decision::refuse("unknown-service", "not a service of this plugin", None)
}

#[cfg(test)]
mod tests {
    use proactive_sdk::testing::{
        Harness, assert_templates_fit, assert_templates_load, detail, event, local, outline, param, reply,
    };

    use super::*;

    type P = ConscriptionRegistration;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// A valid IIN for a birth date and sex.
    fn iin(birth: NaiveDate, sex: Sex) -> String {
        (1..100).find_map(|serial| Iin::from_parts(birth, sex, serial)).unwrap().as_str().to_owned()
    }

    fn boy() -> String {
        iin(date(2009, 5, 20), Sex::Male)
    }

    fn turns17(subject: &str) -> LifeEvent {
        event("E-1", "person.turns-17", subject, &[("region", "karaganda-region")])
    }

    /// A harness where `person` consented to both scopes.
    fn consented(person: &str) -> Harness {
        let mut h = Harness::for_plugin::<P>();
        h.consent(person, &["civil.identity", "defence.registration"]);
        h
    }

    fn offered(h: &Harness, person: &str) -> (LifeEvent, Decision) {
        let ev = turns17(person);
        let d = h.on_event::<P>(SERVICE, &ev);
        assert_eq!(outline(h.manifest(), &d), "offer: offer");
        (ev, d)
    }

    fn offer_params(d: &Decision) -> (String, String) {
        let (Decision::Offer(o) | Decision::AskAgain(o)) = d else { panic!("{d:?}") };
        let get = |k| param(&o.message, k).unwrap().to_owned();
        (get("office"), get("slot"))
    }

    #[test]
    fn manifest_declares_the_service() {
        let m = &P::manifest()[0];
        assert_eq!(m.id, SERVICE);
        assert_eq!(m.agency, "defence");
        assert_eq!(m.subscribes, ["person.turns-17"]);
        assert_eq!(m.recipient, "subject");
        assert_eq!(m.consent_scopes, ["civil.identity", "defence.registration"]);
        assert_eq!(m.reply_window_hours, 168);
        assert_eq!(m.effective_from, "2026-01-01");
    }

    #[test]
    fn templates_load_and_fit_three_sms_parts_for_every_region() {
        let manifest = P::manifest();
        assert_templates_load(&manifest);
        for (_, name) in REGIONS {
            assert_templates_fit(&manifest, &[("office", name), ("slot", "2026-11-12 10:30")], 3, &[]);
        }
    }

    #[test]
    fn sex_comes_from_iin_digit_seven() {
        let male = boy();
        let female = iin(date(2009, 5, 20), Sex::Female);
        assert_eq!(&male[6..7], "5");
        assert_eq!(&female[6..7], "6");
        let h = consented(&male);
        let d = h.on_event::<P>(SERVICE, &turns17(&male));
        assert_eq!(outline(h.manifest(), &d), "offer: offer");
        let h = consented(&female);
        let d = h.on_event::<P>(SERVICE, &turns17(&female));
        assert_eq!(outline(h.manifest(), &d), "skip: registration applies to male citizens only");
    }

    #[test]
    fn on_event_table() {
        #[track_caller]
        fn check(service: &str, ev: &LifeEvent, facts: &[(&str, &str)], expected: &str) {
            let mut h = consented(&ev.subject);
            for (key, value) in facts {
                h.fact(&ev.subject, "defence.registration", key, value);
            }
            assert_eq!(outline(h.manifest(), &h.on_event::<P>(service, ev)), expected);
        }
        let ok = "offer: offer";
        let wrong_age = "skip: does not turn 17 in the year of the event";
        // Age in the event's (local) year: the harness events occur in 2026.
        check(SERVICE, &turns17(&boy()), &[], ok);
        check(SERVICE, &turns17(&iin(date(2009, 1, 1), Sex::Male)), &[], ok);
        check(SERVICE, &turns17(&iin(date(2009, 12, 31), Sex::Male)), &[], ok);
        check(SERVICE, &turns17(&iin(date(2010, 1, 1), Sex::Male)), &[], wrong_age);
        check(SERVICE, &turns17(&iin(date(2008, 12, 31), Sex::Male)), &[], wrong_age);
        check(SERVICE, &turns17(&iin(date(1909, 5, 20), Sex::Male)), &[], wrong_age);
        let mut new_year = turns17(&boy());
        // 2027-01-01 01:00 in Almaty is still 2026 in UTC: the local year counts.
        new_year.occurred_at = local(2027, 1, 1, 1);
        check(SERVICE, &new_year, &[], wrong_age);
        // Not a male citizen, or not a valid IIN.
        check(
            SERVICE,
            &turns17(&iin(date(2009, 5, 20), Sex::Female)),
            &[],
            "skip: registration applies to male citizens only",
        );
        for bad in ["", "123", "09052050012x", "090520500120", "091320500123"] {
            check(SERVICE, &turns17(bad), &[], "skip: the subject's IIN is not valid");
        }
        // Registration status.
        let done = "skip: already registered at a conscription district";
        check(SERVICE, &turns17(&boy()), &[("registered", "true")], done);
        check(SERVICE, &turns17(&boy()), &[("registered", " TRUE ")], done);
        check(SERVICE, &turns17(&boy()), &[("registered", "false")], ok);
        // Foreign calls.
        check("health.newborn-attachment", &turns17(&boy()), &[], "skip: not a service of this plugin");
        let mut birth = turns17(&boy());
        birth.kind = "birth.registered".into();
        check(SERVICE, &birth, &[], "skip: not a subscribed event kind");
    }

    #[test]
    fn without_consent_the_status_cannot_be_read() {
        let mut h = Harness::for_plugin::<P>();
        h.consent(&boy(), &["civil.identity"]);
        let d = h.on_event::<P>(SERVICE, &turns17(&boy()));
        assert_eq!(outline(h.manifest(), &d), "skip: no consent to read the registration status");
    }

    #[test]
    fn office_is_the_district_or_else_the_region() {
        #[track_caller]
        fn check(district: Option<&str>, region: Option<&str>, expected: Result<&str, &str>) {
            let person = boy();
            let mut h = consented(&person);
            if let Some(d) = district {
                h.fact(&person, "defence.registration", "district", d);
            }
            let attrs: Vec<_> = region.iter().map(|r| ("region", *r)).collect();
            let ev = event("E-1", "person.turns-17", &person, &attrs);
            let d = h.on_event::<P>(SERVICE, &ev);
            match expected {
                Ok(office) => {
                    assert_eq!(outline(h.manifest(), &d), "offer: offer");
                    assert_eq!(offer_params(&d).0, office);
                    let Decision::Offer(o) = &d else { unreachable!() };
                    assert_eq!(State::parse(&o.state).unwrap().get("office"), Some(office));
                }
                Err(ground) => assert_eq!(outline(h.manifest(), &d), ground),
            }
        }
        let district = "Әуезов ауданы, Алматы";
        check(Some(district), Some("almaty-city"), Ok(district));
        check(Some(" Алатау; корпус=2 "), None, Ok("Алатау; корпус=2"));
        check(None, Some("almaty-city"), Ok("Алматы"));
        check(Some("  "), Some("karaganda-region"), Ok("Қарағанды облысы / Карагандинская область"));
        check(None, Some(" shymkent "), Ok("Шымкент"));
        check(None, Some("atlantis"), Err("refuse: missing-basis-data"));
        check(None, None, Err("refuse: missing-basis-data"));
    }

    #[test]
    fn slot_is_a_weekday_a_week_ahead() {
        #[track_caller]
        fn check(now: i64, event_id: &str, expected: &str) {
            let person = boy();
            let mut h = consented(&person);
            h.set_now(now);
            let ev = event(event_id, "person.turns-17", &person, &[("region", "astana")]);
            let d = h.on_event::<P>(SERVICE, &ev);
            assert_eq!(offer_params(&d).1, expected, "{event_id:?}");
            let Decision::Offer(o) = &d else { unreachable!() };
            assert_eq!(o.state, format!("slot={expected};office=Астана;alt=0"));
        }
        // Monday 2 November 2026 (the harness clock); "E-1" sums to 163, 163 mod 16 = 3.
        check(local(2026, 11, 2, 10), "E-1", "2026-11-09 10:30");
        check(local(2026, 11, 4, 10), "E-1", "2026-11-11 10:30");
        check(local(2026, 11, 6, 10), "E-1", "2026-11-13 10:30");
        check(local(2026, 11, 7, 10), "E-1", "2026-11-16 10:30");
        check(local(2026, 11, 8, 10), "E-1", "2026-11-16 10:30");
        // 01:00 on Saturday in Almaty is still Friday in UTC: the local date counts.
        check(local(2026, 11, 7, 1), "E-1", "2026-11-16 10:30");
        // The time of day spreads over 09:00..16:30 by the id's byte sum mod 16.
        check(local(2026, 11, 2, 10), "P", "2026-11-09 09:00");
        check(local(2026, 11, 2, 10), "A", "2026-11-09 09:30");
        check(local(2026, 11, 2, 10), "O", "2026-11-09 16:30");
        check(local(2026, 11, 2, 10), "", "2026-11-09 09:00");
        check(local(2026, 11, 2, 10), "ПП", "2026-11-09 16:00");
    }

    #[test]
    fn slot_parse_table() {
        #[track_caller]
        fn check(text: &str, ok: bool) {
            assert_eq!(Slot::parse(text).is_some(), ok, "{text:?}");
            if ok {
                assert_eq!(Slot::parse(text).unwrap().format(), text.trim());
            }
        }
        check("2026-11-09 10:30", true);
        check(" 2026-11-09 16:30 ", true);
        check("2026-11-09", false);
        check("2026-11-09 24:00", false);
        check("2026-11-09 10:60", false);
        check("2026-11-09 1:30", false);
        check("2026-11-09 10:3", false);
        check("2026-02-30 10:30", false);
        check("soon 10:30", false);
        check("2026-11-09 aa:bb", false);
    }

    #[test]
    fn on_reply_table() {
        #[track_caller]
        fn check(alt: bool, asks: u32, answer: Answer, expected: &str) {
            let person = boy();
            let h = consented(&person);
            let (ev, d) = offered(&h, &person);
            let mut case = h.case_after(&ev, &d, asks);
            if alt {
                case.state = case.state.replace("alt=0", "alt=1");
            }
            let out = h.on_reply::<P>(SERVICE, &case, &reply("…", answer));
            assert_eq!(outline(h.manifest(), &out), expected, "alt {alt}, {asks} asks");
            if expected == "ask-again: clarify" {
                let Decision::AskAgain(o) = &out else { unreachable!() };
                assert_eq!(o.state, case.state);
            }
        }
        check(false, 0, Answer::Yes, "provide: appointment");
        check(true, 1, Answer::Yes, "provide: appointment");
        check(false, 0, Answer::No, "ask-again: another-slot");
        check(false, 2, Answer::No, "ask-again: another-slot");
        check(true, 1, Answer::No, "refuse: recipient-declined");
        for alt in [false, true] {
            check(alt, 0, Answer::Other, "ask-again: clarify");
            check(alt, 1, Answer::Other, "ask-again: clarify");
            check(alt, 2, Answer::Other, "refuse: no-valid-answer");
        }
    }

    #[test]
    fn the_alternative_slot_is_a_week_later_and_can_be_confirmed() {
        let person = boy();
        let h = consented(&person);
        let (ev, d) = offered(&h, &person);
        let (office, slot) = offer_params(&d);
        assert_eq!(slot, "2026-11-09 10:30");

        let case = h.case_after(&ev, &d, 0);
        let again = h.on_reply::<P>(SERVICE, &case, &reply("жоқ", Answer::No));
        assert_eq!(outline(h.manifest(), &again), "ask-again: another-slot");
        assert_eq!(offer_params(&again), (office.clone(), "2026-11-16 10:30".to_owned()));
        let Decision::AskAgain(o) = &again else { unreachable!() };
        assert_eq!(o.state, format!("slot=2026-11-16 10:30;office={office};alt=1"));

        let case = h.case_after(&ev, &again, 1);
        let out = h.on_reply::<P>(SERVICE, &case, &reply("иә", Answer::Yes));
        assert_eq!(detail(&out, "slot"), Some("2026-11-16 10:30"));
        assert_eq!(detail(&out, "office"), Some(office.as_str()));
        assert_eq!(detail(&out, "person_iin"), Some(person.as_str()));
        let Decision::Provide(p) = &out else { unreachable!() };
        let notice = p.notice.as_ref().unwrap();
        assert_eq!(param(notice, "slot"), Some("2026-11-16 10:30"));
        assert_eq!(param(notice, "office"), Some(office.as_str()));

        let declined = h.on_reply::<P>(SERVICE, &case, &reply("жоқ", Answer::No));
        let Decision::Refuse(r) = declined else { panic!() };
        assert_eq!((r.ground.as_str(), r.notice.is_none()), ("recipient-declined", true));
        assert!(h.logs().is_empty());
    }

    #[test]
    fn yes_books_the_offered_slot() {
        let person = boy();
        let h = consented(&person);
        let (ev, d) = offered(&h, &person);
        let case = h.case_after(&ev, &d, 0);
        let out = h.on_reply::<P>(SERVICE, &case, &reply("иә", Answer::Yes));
        assert_eq!(detail(&out, "slot"), Some("2026-11-09 10:30"));
        assert_eq!(detail(&out, "office"), Some("Қарағанды облысы / Карагандинская область"));
        assert_eq!(detail(&out, "person_iin"), Some(person.as_str()));
    }

    #[test]
    fn corrupt_or_foreign_cases_are_refused_not_panicked_on() {
        #[track_caller]
        fn check(service: &str, state: &str, expected: &str) {
            let person = boy();
            let h = consented(&person);
            let (ev, d) = offered(&h, &person);
            let case = CaseView { state: state.into(), ..h.case_after(&ev, &d, 0) };
            assert_eq!(h.outline_every_answer::<P>(service, &case, "иә"), [expected; 3], "{state:?}");
        }
        let internal = "refuse: internal-state";
        check(SERVICE, "", internal);
        check(SERVICE, "nonsense", internal);
        check(SERVICE, "slot=2026-11-09 10:30;office=X", internal);
        check(SERVICE, "slot=2026-11-09 10:30;office=X;alt=2", internal);
        check(SERVICE, "slot=2026-11-09 10:30;office=;alt=0", internal);
        check(SERVICE, "slot=tomorrow;office=X;alt=0", internal);
        check(SERVICE, "office=X;alt=0", internal);
        check("labour.childbirth-benefit", "slot=2026-11-09 10:30;office=X;alt=0", "refuse: unknown-service");
    }

    #[test]
    fn timeout_table() {
        let person = boy();
        let h = consented(&person);
        let (ev, d) = offered(&h, &person);
        let case = h.case_after(&ev, &d, 0);
        assert_eq!(outline(h.manifest(), &h.on_timeout::<P>(SERVICE, &case)), "refuse: no-answer");
        let out = h.on_timeout::<P>("health.newborn-attachment", &case);
        assert_eq!(outline(h.manifest(), &out), "refuse: unknown-service");
    }
}
