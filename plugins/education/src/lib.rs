//! Registration in the preschool (kindergarten) queue (`education.preschool-queue`).
//!
//! Places are given in queue order, and the queue position dates from registration, so a
//! family that registers at birth instead of when they start looking for a place can save
//! years of waiting. Priority categories jump the queue, but the registry cannot always
//! tell that a family is in one, so the single question also asks for a priority code and
//! takes the family's word for it: the claim is checked against documents when a place
//! comes up, not here.
//!
//! The region is fixed at the offer and carried in the case state: the queue the family
//! agreed to join is the one of the region where the birth was registered.

use proactive_sdk::prelude::*;
use proactive_sdk::state;

pub const SERVICE: &str = "education.preschool-queue";
const EVENT: &str = "birth.registered";

/// The priority codes the offer lists.
pub const PRIORITIES: [&str; 4] = ["P1", "P2", "P3", "P4"];

/// The first word of a reply that is a priority code, P1 to P4, in either case and with a
/// Cyrillic Р (it looks the same on a phone keyboard, and people type whichever is nearer).
pub fn priority(text: &str) -> Option<&'static str> {
    text.split(|c: char| !c.is_alphanumeric()).find_map(|token| {
        let mut chars = token.chars();
        let (letter, digit) = (chars.next()?, chars.next()?);
        if chars.next().is_some() || !matches!(letter, 'P' | 'p' | 'Р' | 'р') {
            return None;
        }
        let index = digit.to_digit(10)?.checked_sub(1)?;
        PRIORITIES.get(usize::try_from(index).ok()?).copied()
    })
}

pub struct PreschoolQueue;

impl Plugin for PreschoolQueue {
    fn manifest() -> Vec<ServiceManifest> {
        vec![ServiceManifest {
            id: SERVICE.into(),
            agency: "education".into(),
            title_kk: "Балабақша кезегіне тұру".into(),
            title_ru: "Постановка в очередь в детский сад".into(),
            subscribes: vec![EVENT.into()],
            recipient: "mother".into(),
            consent_scopes: vec!["civil.birth".into(), "education.preschool".into()],
            reply_window_hours: 336,
            effective_from: "2026-01-01".into(),
            templates: vec![
                Template::question(
                    "offer",
                    &[],
                    "Баланы балабақша кезегіне қоямыз ба? Жауап: ИӘ ((code)) немесе \
                     ЖОҚ ((code)). Жеңілдік болса, кодты қосыңыз: P1 көп балалы отбасы, \
                     P2 мүгедектігі бар бала, P3 жетім бала, P4 қаза тапқан әскери \
                     қызметшінің отбасы. Мысалы: ИӘ ((code)) P1",
                    "Поставить ребёнка в очередь в детский сад? Ответ: ДА ((code)) или \
                     НЕТ ((code)). Если есть льгота, добавьте код: P1 многодетная семья, \
                     P2 ребёнок с инвалидностью, P3 ребёнок-сирота, P4 семья погибшего \
                     военнослужащего. Пример: ДА ((code)) P1",
                ),
                Template::question(
                    "clarify",
                    &[],
                    "Жауап танылмады. Балабақша кезегі: ИӘ ((code)) (жеңілдік болса, \
                     P1–P4 коды) немесе ЖОҚ ((code))",
                    "Ответ не распознан. Очередь в детский сад: ДА ((code)) (и код льготы \
                     P1–P4, если есть) или НЕТ ((code))",
                ),
                Template::notice(
                    "done",
                    &["priority"],
                    "Бала балабақша кезегіне қойылды, жеңілдік: ((priority)). \
                     Орын кезек тәртібімен беріледі.",
                    "Ребёнок поставлен в очередь в детский сад, льгота: ((priority)). \
                     Место предоставят в порядке очереди.",
                ),
                // A "none" in the notice would have to be worded per language, and a
                // placeholder carries one value for both: a second notice reads better.
                Template::notice(
                    "done-no-priority",
                    &[],
                    "Бала балабақша кезегіне қойылды. Орын кезек тәртібімен беріледі.",
                    "Ребёнок поставлен в очередь в детский сад. \
                     Место предоставят в порядке очереди.",
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
        if event.attr("child_status").is_some_and(|s| s.trim().eq_ignore_ascii_case("deceased")) {
            return Decision::skip("the child is recorded as deceased");
        }
        let Some(region) = event.attr("region").map(str::trim).filter(|r| !r.is_empty()) else {
            return Decision::refuse(
                "missing-basis-data",
                "the birth record names no region, so there is no queue to join",
                None,
            );
        };
        Decision::offer(msg("offer", &[]), state::encode(&[("region", region)]))
    }

    fn on_reply(service: &str, case: &CaseView, reply: &Reply) -> Decision {
        if service != SERVICE {
            return unknown_service();
        }
        let Some(region) = State::parse(&case.state).and_then(|s| s.get("region").map(str::to_owned)) else {
            return Decision::refuse("internal-state", "the case state names no region", None);
        };
        match reply.answer {
            Answer::Yes => {
                let chosen = priority(&reply.text);
                let notice = match chosen {
                    Some(code) => msg("done", &[("priority", code)]),
                    None => msg("done-no-priority", &[]),
                };
                Decision::provide(
                    "queue-entry",
                    &[("region", &region), ("priority", chosen.unwrap_or("none")), ("child_iin", &case.event.subject)],
                    Some(notice),
                )
            }
            Answer::No => Decision::refuse("recipient-declined", "the mother declined the preschool queue", None),
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
        Decision::refuse("no-answer", "no reply within the 14-day window", None)
    }
}

proactive_sdk::export_plugin!(PreschoolQueue);

fn unknown_service() -> Decision {
    Decision::refuse("unknown-service", "not a service of this plugin", None)
}

#[cfg(test)]
mod tests {
    use proactive_sdk::testing::{
        Harness, assert_templates_fit, assert_templates_load, detail, event, outline, param, reply,
    };

    use super::*;

    type P = PreschoolQueue;

    const MOTHER: &str = "900101400123";
    const CHILD: &str = "261101500127";

    fn birth(extra: &[(&str, &str)]) -> LifeEvent {
        let mut attrs =
            vec![("mother", MOTHER), ("birth_order", "1"), ("region", "shymkent"), ("child_status", "alive")];
        for (k, v) in extra {
            attrs.retain(|(key, _)| key != k);
            attrs.push((k, v));
        }
        event("E-1", "birth.registered", CHILD, &attrs)
    }

    fn offered(h: &Harness) -> (LifeEvent, Decision) {
        let ev = birth(&[]);
        let d = h.on_event::<P>(SERVICE, &ev);
        assert_eq!(outline(h.manifest(), &d), "offer: offer");
        (ev, d)
    }

    #[test]
    fn manifest_declares_the_service() {
        let m = &P::manifest()[0];
        assert_eq!(m.id, SERVICE);
        assert_eq!(m.agency, "education");
        assert_eq!(m.subscribes, ["birth.registered"]);
        assert_eq!(m.recipient, "mother");
        assert_eq!(m.consent_scopes, ["civil.birth", "education.preschool"]);
        assert_eq!(m.reply_window_hours, 336);
        assert_eq!(m.effective_from, "2026-01-01");
    }

    #[test]
    fn templates_load_and_fit() {
        let manifest = P::manifest();
        assert_templates_load(&manifest);
        // The offer lists four categories, so it may take four parts; the rest take one or two.
        assert_templates_fit(&manifest, &[("priority", "P4")], 2, &[("offer", 4)]);
        let offer = &manifest[0].templates[0];
        for code in PRIORITIES {
            assert!(offer.kk.contains(code) && offer.ru.contains(code), "{code} listed");
        }
    }

    #[test]
    fn priority_table() {
        #[track_caller]
        fn check(text: &str, expected: Option<&str>) {
            assert_eq!(priority(text), expected, "{text:?}");
        }
        check("ИӘ 4821 P1", Some("P1"));
        check("иә 4821 p2", Some("P2"));
        check("да 4821 Р3", Some("P3")); // Cyrillic capital Р, U+0420
        check("да 4821 р4", Some("P4")); // Cyrillic small р, U+0440
        check("иә,P2.", Some("P2"));
        check("иә (P4)!", Some("P4"));
        check("иә 4821 P3 P1", Some("P3"));
        check("иә 4821 P5 P2", Some("P2"));
        check("иә 4821", None);
        check("иә 4821 P0", None);
        check("иә 4821 P5", None);
        check("иә 4821 P12", None);
        check("иә 4821 P", None);
        check("иә 4821 AP1", None);
        check("иә 4821 P²", None);
        check("иә 4821 Р١", None);
        check("", None);
    }

    #[test]
    fn on_event_table() {
        #[track_caller]
        fn check(service: &str, ev: &LifeEvent, expected: &str) {
            let h = Harness::for_plugin::<P>();
            assert_eq!(outline(h.manifest(), &h.on_event::<P>(service, ev)), expected);
        }
        check(SERVICE, &birth(&[]), "offer: offer");
        check("health.newborn-attachment", &birth(&[]), "skip: not a service of this plugin");
        let mut other = birth(&[]);
        other.kind = "person.turns-17".into();
        check(SERVICE, &other, "skip: not a subscribed event kind");
        check(SERVICE, &birth(&[("child_status", "deceased")]), "skip: the child is recorded as deceased");
        check(SERVICE, &birth(&[("region", " ")]), "refuse: missing-basis-data");
        let mut no_region = birth(&[]);
        no_region.attributes.retain(|p| p.key != "region");
        check(SERVICE, &no_region, "refuse: missing-basis-data");
    }

    #[test]
    fn offer_keeps_the_region_in_state() {
        let h = Harness::for_plugin::<P>();
        let (_, d) = offered(&h);
        let Decision::Offer(o) = &d else { unreachable!() };
        assert_eq!(o.state, "region=shymkent");
    }

    #[test]
    fn on_reply_table() {
        #[track_caller]
        fn check(asks: u32, text: &str, answer: Answer, expected: &str) {
            let h = Harness::for_plugin::<P>();
            let (ev, d) = offered(&h);
            let case = h.case_after(&ev, &d, asks);
            let out = h.on_reply::<P>(SERVICE, &case, &reply(text, answer));
            assert_eq!(outline(h.manifest(), &out), expected, "{text:?} after {asks} asks");
            if let Decision::AskAgain(o) = &out {
                assert_eq!(o.state, case.state);
            }
        }
        check(0, "иә 4821", Answer::Yes, "provide: queue-entry");
        check(2, "да Р2", Answer::Yes, "provide: queue-entry");
        check(0, "жоқ 4821", Answer::No, "refuse: recipient-declined");
        check(0, "P2", Answer::Other, "ask-again: clarify");
        check(1, "🙂", Answer::Other, "ask-again: clarify");
        check(2, "🙂", Answer::Other, "refuse: no-valid-answer");
    }

    #[test]
    fn queue_entry_records_region_and_priority() {
        #[track_caller]
        fn check(text: &str, priority: &str, notice: &str) {
            let h = Harness::for_plugin::<P>();
            let (ev, d) = offered(&h);
            let case = h.case_after(&ev, &d, 0);
            let out = h.on_reply::<P>(SERVICE, &case, &reply(text, Answer::Yes));
            assert_eq!(detail(&out, "region"), Some("shymkent"));
            assert_eq!(detail(&out, "priority"), Some(priority), "{text:?}");
            assert_eq!(detail(&out, "child_iin"), Some(CHILD));
            let Decision::Provide(p) = &out else { unreachable!() };
            let n = p.notice.as_ref().unwrap();
            assert_eq!(n.template, notice);
            if notice == "done" {
                assert_eq!(param(n, "priority"), Some(priority));
            }
        }
        check("ИӘ 4821 P1", "P1", "done");
        check("иә 4821 p2", "P2", "done");
        check("да 4821 Р3", "P3", "done");
        check("да 4821 р4", "P4", "done");
        check("да 4821 P4", "P4", "done");
        check("иә 4821", "none", "done-no-priority");
        check("иә 4821 P7", "none", "done-no-priority");
    }

    #[test]
    fn corrupt_or_foreign_cases_are_refused_not_panicked_on() {
        #[track_caller]
        fn check(service: &str, state: &str, expected: &str) {
            let h = Harness::for_plugin::<P>();
            let (ev, d) = offered(&h);
            let case = CaseView { state: state.into(), ..h.case_after(&ev, &d, 0) };
            assert_eq!(h.outline_every_answer::<P>(service, &case, "иә P1"), [expected; 3], "{state:?}");
        }
        check(SERVICE, "", "refuse: internal-state");
        check(SERVICE, "region=", "refuse: internal-state");
        check(SERVICE, "region", "refuse: internal-state");
        check(SERVICE, "region=%", "refuse: internal-state");
        check("labour.childbirth-benefit", "region=astana", "refuse: unknown-service");
    }

    #[test]
    fn timeout_and_refusals_carry_no_notice() {
        let h = Harness::for_plugin::<P>();
        let (ev, d) = offered(&h);
        let case = h.case_after(&ev, &d, 2);
        assert_eq!(outline(h.manifest(), &h.on_timeout::<P>(SERVICE, &case)), "refuse: no-answer");
        let out = h.on_timeout::<P>("defence.conscription-registration", &case);
        assert_eq!(outline(h.manifest(), &out), "refuse: unknown-service");
        for out in [
            h.on_reply::<P>(SERVICE, &case, &reply("жоқ", Answer::No)),
            h.on_reply::<P>(SERVICE, &case, &reply("?", Answer::Other)),
            h.on_timeout::<P>(SERVICE, &case),
        ] {
            let Decision::Refuse(r) = out else { panic!("{out:?}") };
            assert!(r.notice.is_none());
        }
        assert!(h.logs().is_empty());
    }
}
