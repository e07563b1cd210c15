//! Newborn attachment to a primary health-care clinic (`health.newborn-attachment`).
//!
//! Until someone applies, a newborn belongs to no clinic, and an unattached child misses the
//! patronage visits and the vaccination calendar of the first weeks. The mother's own clinic
//! is the one the family already uses and the one whose nurse would visit, so that is the
//! only clinic worth offering: when she has no attachment, or has not let us read it, there
//! is nothing sensible to propose and the event is skipped rather than guessed at.
//!
//! The offered clinic travels in the case state, so what gets recorded is exactly what the
//! mother agreed to, even if her own attachment changes before she answers.

use proactive_sdk::host::FactError;
use proactive_sdk::prelude::*;
use proactive_sdk::state;

pub const SERVICE: &str = "health.newborn-attachment";
const EVENT: &str = "birth.registered";
const SCOPE: &str = "health.attachment";

pub struct NewbornAttachment;

impl Plugin for NewbornAttachment {
    fn manifest() -> Vec<ServiceManifest> {
        vec![ServiceManifest {
            id: SERVICE.into(),
            agency: "health".into(),
            title_kk: "Нәрестені емханаға бекіту".into(),
            title_ru: "Прикрепление новорождённого к поликлинике".into(),
            subscribes: vec![EVENT.into()],
            recipient: "mother".into(),
            consent_scopes: vec!["civil.birth".into(), SCOPE.into()],
            reply_window_hours: 72,
            effective_from: "2026-01-01".into(),
            templates: vec![
                Template::question(
                    "offer",
                    &["clinic"],
                    "Нәрестені өз емханаңызға бекітейік пе? Емхана: ((clinic)). \
                     Жауап: ИӘ ((code)) немесе ЖОҚ ((code))",
                    "Прикрепить новорождённого к вашей поликлинике? Поликлиника: ((clinic)). \
                     Ответ: ДА ((code)) или НЕТ ((code))",
                ),
                Template::question(
                    "clarify",
                    &[],
                    "Жауап танылмады. Баланы емханаға бекітейік пе? \
                     Жауап: ИӘ ((code)) немесе ЖОҚ ((code))",
                    "Ответ не распознан. Прикрепить ребёнка к поликлинике? \
                     Ответ: ДА ((code)) или НЕТ ((code))",
                ),
                Template::notice(
                    "done",
                    &["clinic"],
                    "Бала емханаға бекітілді: ((clinic)).",
                    "Ребёнок прикреплён к поликлинике: ((clinic)).",
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
        if is_deceased(event) {
            return Decision::skip("the child is recorded as deceased");
        }
        let Some(mother) = event.attr("mother").filter(|m| !m.trim().is_empty()) else {
            return Decision::skip("the birth record names no mother");
        };
        match host::fact(mother, SCOPE, "clinic") {
            Ok(Some(clinic)) if !clinic.trim().is_empty() => {
                let clinic = clinic.trim();
                Decision::offer(msg("offer", &[("clinic", clinic)]), state::encode(&[("clinic", clinic)]))
            }
            Ok(_) => Decision::skip("the mother has no clinic attachment"),
            Err(FactError::NoConsent) => Decision::skip("no consent to read the attachment"),
            // Cannot happen while the manifest declares SCOPE; still not a reason to panic.
            Err(FactError::UndeclaredScope) => Decision::skip("the attachment scope is not declared"),
        }
    }

    fn on_reply(service: &str, case: &CaseView, reply: &Reply) -> Decision {
        if service != SERVICE {
            return unknown_service();
        }
        let Some(clinic) = State::parse(&case.state).and_then(|s| s.get("clinic").map(str::to_owned)) else {
            return Decision::refuse("internal-state", "the case state names no clinic", None);
        };
        match reply.answer {
            Answer::Yes => Decision::provide(
                "attachment",
                &[("clinic", &clinic), ("child_iin", &case.event.subject)],
                Some(msg("done", &[("clinic", &clinic)])),
            ),
            Answer::No => Decision::refuse("recipient-declined", "the mother declined the attachment", None),
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
        Decision::refuse("no-answer", "no reply within the 72-hour window", None)
    }
}

proactive_sdk::export_plugin!(NewbornAttachment);

fn is_deceased(event: &LifeEvent) -> bool {
    event.attr("child_status").is_some_and(|s| s.trim().eq_ignore_ascii_case("deceased"))
}

fn unknown_service() -> Decision {
    Decision::refuse("unknown-service", "not a service of this plugin", None)
}

#[cfg(test)]
mod tests {
    use proactive_sdk::testing::{
        Harness, assert_templates_fit, assert_templates_load, detail, event, outline, param, placeholders, reply,
    };

    use super::*;

    type P = NewbornAttachment;

    const MOTHER: &str = "900101400123";
    const CHILD: &str = "261101500127";
    const CLINIC: &str = "ГКП на ПХВ «Городская поликлиника №5»";

    fn birth(extra: &[(&str, &str)]) -> LifeEvent {
        let mut attrs =
            vec![("mother", MOTHER), ("birth_order", "1"), ("region", "almaty-city"), ("child_status", "alive")];
        for (k, v) in extra {
            attrs.retain(|(key, _)| key != k);
            attrs.push((k, v));
        }
        event("E-1", "birth.registered", CHILD, &attrs)
    }

    /// A harness where the mother consented and is attached to CLINIC.
    fn attached() -> Harness {
        let mut h = Harness::for_plugin::<P>();
        h.consent(MOTHER, &["civil.birth", "health.attachment"]);
        h.fact(MOTHER, "health.attachment", "clinic", CLINIC);
        h
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
        assert_eq!(m.agency, "health");
        assert_eq!(m.subscribes, ["birth.registered"]);
        assert_eq!(m.recipient, "mother");
        assert_eq!(m.consent_scopes, ["civil.birth", "health.attachment"]);
        assert_eq!(m.reply_window_hours, 72);
        assert_eq!(m.effective_from, "2026-01-01");
    }

    #[test]
    fn templates_load_and_fit_three_sms_parts() {
        let manifest = P::manifest();
        assert_templates_load(&manifest);
        assert_templates_fit(&manifest, &[("clinic", CLINIC)], 3, &[]);
        let ids: Vec<_> = manifest[0].templates.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["offer", "clarify", "done"]);
        assert!(placeholders(&manifest[0].templates[0].kk).contains("clinic"));
    }

    #[test]
    fn on_event_table() {
        #[track_caller]
        fn check(h: &Harness, service: &str, ev: &LifeEvent, expected: &str) {
            assert_eq!(outline(h.manifest(), &h.on_event::<P>(service, ev)), expected);
        }
        let h = attached();
        check(&h, SERVICE, &birth(&[]), "offer: offer");
        check(&h, "labour.childbirth-benefit", &birth(&[]), "skip: not a service of this plugin");
        let mut other = birth(&[]);
        other.kind = "person.turns-17".into();
        check(&h, SERVICE, &other, "skip: not a subscribed event kind");
        for status in ["deceased", " Deceased "] {
            let ev = birth(&[("child_status", status)]);
            check(&h, SERVICE, &ev, "skip: the child is recorded as deceased");
        }
        let mut no_mother = birth(&[]);
        no_mother.attributes.retain(|p| p.key != "mother");
        check(&h, SERVICE, &no_mother, "skip: the birth record names no mother");
        check(&h, SERVICE, &birth(&[("mother", " ")]), "skip: the birth record names no mother");

        // Consent but no attachment, or a blank one.
        let mut h = Harness::for_plugin::<P>();
        h.consent(MOTHER, &["civil.birth", "health.attachment"]);
        check(&h, SERVICE, &birth(&[]), "skip: the mother has no clinic attachment");
        h.fact(MOTHER, "health.attachment", "clinic", "  ");
        check(&h, SERVICE, &birth(&[]), "skip: the mother has no clinic attachment");

        // An attachment on record but no consent to read it.
        let mut h = Harness::for_plugin::<P>();
        h.consent(MOTHER, &["civil.birth"]);
        h.fact(MOTHER, "health.attachment", "clinic", CLINIC);
        check(&h, SERVICE, &birth(&[]), "skip: no consent to read the attachment");
    }

    #[test]
    fn offer_names_the_clinic_and_keeps_it_in_state() {
        let h = attached();
        let (_, d) = offered(&h);
        let Decision::Offer(o) = &d else { unreachable!() };
        assert_eq!(param(&o.message, "clinic"), Some(CLINIC));
        assert_eq!(State::parse(&o.state).unwrap().get("clinic"), Some(CLINIC));
    }

    #[test]
    fn on_reply_table() {
        #[track_caller]
        fn check(asks: u32, text: &str, answer: Answer, expected: &str) {
            let h = attached();
            let (ev, d) = offered(&h);
            let case = h.case_after(&ev, &d, asks);
            let out = h.on_reply::<P>(SERVICE, &case, &reply(text, answer));
            assert_eq!(outline(h.manifest(), &out), expected, "{text:?} after {asks} asks");
            if let Decision::AskAgain(o) = &out {
                assert_eq!(o.state, case.state, "ask-again keeps the state");
            }
        }
        check(0, "иә 4821", Answer::Yes, "provide: attachment");
        check(2, "иә", Answer::Yes, "provide: attachment");
        check(0, "жоқ 4821", Answer::No, "refuse: recipient-declined");
        check(0, "🙂", Answer::Other, "ask-again: clarify");
        check(1, "???", Answer::Other, "ask-again: clarify");
        check(2, "???", Answer::Other, "refuse: no-valid-answer");
        check(5, "???", Answer::Other, "refuse: no-valid-answer");
    }

    #[test]
    fn yes_attaches_the_child_to_the_offered_clinic() {
        let mut h = attached();
        let (ev, d) = offered(&h);
        // The mother moves clinic before answering: the offer still stands as made.
        h.fact(MOTHER, "health.attachment", "clinic", "Another clinic");
        let case = h.case_after(&ev, &d, 0);
        let out = h.on_reply::<P>(SERVICE, &case, &reply("иә", Answer::Yes));
        assert_eq!(detail(&out, "clinic"), Some(CLINIC));
        assert_eq!(detail(&out, "child_iin"), Some(CHILD));
        let Decision::Provide(p) = &out else { unreachable!() };
        assert_eq!(p.notice.as_ref().and_then(|n| param(n, "clinic")), Some(CLINIC));
        assert!(h.logs().is_empty());
    }

    #[test]
    fn refusals_carry_no_notice() {
        let h = attached();
        let (ev, d) = offered(&h);
        let case = h.case_after(&ev, &d, 2);
        for out in [
            h.on_reply::<P>(SERVICE, &case, &reply("жоқ", Answer::No)),
            h.on_reply::<P>(SERVICE, &case, &reply("?", Answer::Other)),
            h.on_timeout::<P>(SERVICE, &case),
        ] {
            let Decision::Refuse(r) = out else { panic!("{out:?}") };
            assert!(r.notice.is_none());
        }
    }

    #[test]
    fn corrupt_or_foreign_cases_are_refused_not_panicked_on() {
        #[track_caller]
        fn check(service: &str, state: &str, expected: &str) {
            let h = attached();
            let (ev, d) = offered(&h);
            let case = CaseView { state: state.into(), ..h.case_after(&ev, &d, 0) };
            assert_eq!(h.outline_every_answer::<P>(service, &case, "иә"), [expected; 3], "{state:?}");
        }
        check(SERVICE, "", "refuse: internal-state");
        check(SERVICE, "clinic=", "refuse: internal-state");
        check(SERVICE, "clinic=%zz", "refuse: internal-state");
        check(SERVICE, "nonsense", "refuse: internal-state");
        check(SERVICE, "other=1", "refuse: internal-state");
        check("education.preschool-queue", "clinic=X", "refuse: unknown-service");
    }

    #[test]
    fn timeout_table() {
        let h = attached();
        let (ev, d) = offered(&h);
        let case = h.case_after(&ev, &d, 0);
        let out = h.on_timeout::<P>(SERVICE, &case);
        assert_eq!(outline(h.manifest(), &out), "refuse: no-answer");
        let out = h.on_timeout::<P>("defence.conscription-registration", &case);
        assert_eq!(outline(h.manifest(), &out), "refuse: unknown-service");
    }
}
