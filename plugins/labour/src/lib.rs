//! The lump-sum childbirth benefit (`labour.childbirth-benefit`).
//!
//! Every registered birth entitles the mother to the benefit, yet many families apply late
//! or never because it takes a visit and a bank statement. The registry already knows the
//! birth order, and the law sets the amount in MCI, so the plugin can state the exact sum up
//! front and needs only two things from the mother: her consent and an account to pay to.
//!
//! The amount is fixed when the offer is made and carried in the case state: the mother is
//! promised a sum, and a configuration change before she answers must not change it.
//!
//! When the plugin cannot compute the amount (the birth record lacks a usable birth order,
//! or the platform has no MCI for the birth year) the benefit still applies, so this is not
//! a skip; it is a refusal on the ground `missing-basis-data`, which puts the case in front
//! of a person instead of silently dropping an entitlement.

use proactive_sdk::prelude::*;
use proactive_sdk::state;
use proactive_sdk::time::chrono::Datelike;
use proactive_sdk::time::local_date;

pub const SERVICE: &str = "labour.childbirth-benefit";
const EVENT: &str = "birth.registered";

/// The legal basis recorded on every payment order. The 2005 law on state benefits to
/// families with children lost force on 1 July 2023; the Social Code replaced it.
pub const LEGAL_GROUND: &str = "Социальный кодекс РК от 20.04.2023 № 224-VII: \
                                единовременное государственное пособие на рождение ребёнка";

/// 38 MCI for the first to third child, 63 MCI for the fourth and later.
pub fn mci_count(birth_order: u32) -> u32 {
    if birth_order <= 3 { 38 } else { 63 }
}

pub struct ChildbirthBenefit;

/// What the offer promised, as carried in the case state.
#[derive(Debug, PartialEq, Eq)]
struct Promise {
    amount: u64,
    mci_count: u32,
    mci_year: i32,
}

impl Promise {
    fn encode(&self) -> String {
        state::encode(&[
            ("amount", &self.amount.to_string()),
            ("mci_count", &self.mci_count.to_string()),
            ("mci_year", &self.mci_year.to_string()),
        ])
    }

    fn decode(text: &str) -> Option<Promise> {
        let s = State::parse(text)?;
        let promise = Promise {
            amount: s.get("amount")?.parse().ok()?,
            mci_count: s.get("mci_count")?.parse().ok()?,
            mci_year: s.get("mci_year")?.parse().ok()?,
        };
        (promise.amount > 0).then_some(promise)
    }
}

impl Plugin for ChildbirthBenefit {
    fn manifest() -> Vec<ServiceManifest> {
        vec![ServiceManifest {
            id: SERVICE.into(),
            agency: "labour".into(),
            title_kk: "Бала тууына байланысты біржолғы жәрдемақы".into(),
            title_ru: "Единовременное пособие на рождение ребёнка".into(),
            subscribes: vec![EVENT.into()],
            recipient: "mother".into(),
            consent_scopes: vec!["civil.birth".into(), "social.benefits".into()],
            reply_window_hours: 720,
            effective_from: "2026-01-01".into(),
            templates: vec![
                Template::question(
                    "offer",
                    &["amount"],
                    "Сізге бала тууына байланысты біржолғы жәрдемақы тиесілі: ((amount)). \
                     Алу үшін жауап: ИӘ ((code)) және IBAN шотыңыз (KZ…). \
                     Бас тарту: ЖОҚ ((code))",
                    "Вам положено единовременное пособие на рождение ребёнка: ((amount)). \
                     Чтобы получить, ответьте: ДА ((code)) и ваш IBAN (KZ…). \
                     Отказ: НЕТ ((code))",
                ),
                Template::question(
                    "iban",
                    &[],
                    "IBAN танылмады. Жіберіңіз: ИӘ ((code)) және IBAN (KZ және 18 таңба). \
                     Бас тарту: ЖОҚ ((code))",
                    "IBAN не распознан. Отправьте: ДА ((code)) и IBAN (KZ и 18 знаков). \
                     Отказ: НЕТ ((code))",
                ),
                Template::notice(
                    "done",
                    &["amount"],
                    "Бала тууына байланысты ((amount)) жәрдемақы тағайындалды, \
                     ол IBAN шотыңызға аударылады.",
                    "Пособие на рождение ребёнка ((amount)) назначено \
                     и будет перечислено на ваш IBAN.",
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
        let Some(birth_order) =
            event.attr("birth_order").and_then(|s| s.trim().parse::<u32>().ok()).filter(|n| *n >= 1)
        else {
            return Decision::refuse("missing-basis-data", "the birth record has no valid birth order", None);
        };
        let year = local_date(event.occurred_at).year();
        let Some(mci) = Mci::for_year(year).filter(|m| m.tenge > 0) else {
            return Decision::refuse(
                "missing-basis-data",
                &format!("no MCI is configured for the birth year {year}"),
                None,
            );
        };
        let count = mci_count(birth_order);
        let promise = Promise { amount: mci.times(count), mci_count: count, mci_year: mci.year };
        Decision::offer(msg("offer", &[("amount", &Mci::format_tenge(promise.amount))]), promise.encode())
    }

    fn on_reply(service: &str, case: &CaseView, reply: &Reply) -> Decision {
        if service != SERVICE {
            return unknown_service();
        }
        let Some(promise) = Promise::decode(&case.state) else {
            return Decision::refuse("internal-state", "the case state holds no amount", None);
        };
        if matches!(reply.answer, Answer::No) {
            return Decision::refuse("recipient-declined", "the mother declined the benefit", None);
        }
        // Yes, or a reply the host could not classify that still carries an IBAN: the
        // account number is the substance of the answer.
        match KzIban::find_in(&reply.text) {
            Some(iban) => {
                let amount = promise.amount.to_string();
                Decision::provide(
                    "payment-order",
                    &[
                        ("amount", &amount),
                        ("mci_count", &promise.mci_count.to_string()),
                        ("mci_year", &promise.mci_year.to_string()),
                        ("iban", iban.as_str()),
                        ("legal_ground", LEGAL_GROUND),
                        ("child_iin", &case.event.subject),
                    ],
                    Some(msg("done", &[("amount", &Mci::format_tenge(promise.amount))])),
                )
            }
            None if case.asks < 2 => Decision::ask_again(msg("iban", &[]), case.state.clone()),
            None => Decision::refuse("invalid-payment-details", "no valid KZ IBAN after two requests", None),
        }
    }

    fn on_timeout(service: &str, _case: &CaseView) -> Decision {
        if service != SERVICE {
            return unknown_service();
        }
        Decision::refuse("no-answer", "no reply within the 30-day window", None)
    }
}

proactive_sdk::export_plugin!(ChildbirthBenefit);

fn unknown_service() -> Decision {
    Decision::refuse("unknown-service", "not a service of this plugin", None)
}

#[cfg(test)]
mod tests {
    use proactive_sdk::testing::{
        Harness, assert_templates_fit, assert_templates_load, detail, event, local, outline, param, reply,
    };

    use super::*;

    type P = ChildbirthBenefit;

    const MOTHER: &str = "900101400123";
    const CHILD: &str = "261101500127";
    /// The IBAN registry's Kazakh example.
    const IBAN: &str = "KZ86125KZT5004100100";

    fn birth(order: &str, at: i64) -> LifeEvent {
        let mut ev = event(
            "E-1",
            "birth.registered",
            CHILD,
            &[("mother", MOTHER), ("birth_order", order), ("region", "astana"), ("child_status", "alive")],
        );
        ev.occurred_at = at;
        ev
    }

    fn offered(h: &Harness) -> (LifeEvent, Decision) {
        let ev = birth("2", local(2026, 11, 2, 10));
        let d = h.on_event::<P>(SERVICE, &ev);
        assert_eq!(outline(h.manifest(), &d), "offer: offer");
        (ev, d)
    }

    fn offered_amount(d: &Decision) -> &str {
        let Decision::Offer(o) = d else { panic!("not an offer: {d:?}") };
        param(&o.message, "amount").unwrap()
    }

    #[test]
    fn manifest_declares_the_service() {
        let m = &P::manifest()[0];
        assert_eq!(m.id, SERVICE);
        assert_eq!(m.agency, "labour");
        assert_eq!(m.subscribes, ["birth.registered"]);
        assert_eq!(m.recipient, "mother");
        assert_eq!(m.consent_scopes, ["civil.birth", "social.benefits"]);
        assert_eq!(m.reply_window_hours, 720);
        assert_eq!(m.effective_from, "2026-01-01");
    }

    #[test]
    fn templates_load_and_fit_three_sms_parts() {
        let manifest = P::manifest();
        assert_templates_load(&manifest);
        assert_templates_fit(&manifest, &[("amount", "1 234 567 ₸")], 3, &[]);
    }

    #[test]
    fn amount_by_birth_order_and_birth_year() {
        #[track_caller]
        fn check(order: &str, at: i64, amount: &str, state: &str) {
            let h = Harness::for_plugin::<P>();
            let d = h.on_event::<P>(SERVICE, &birth(order, at));
            assert_eq!(offered_amount(&d), amount, "order {order}");
            let Decision::Offer(o) = &d else { unreachable!() };
            assert_eq!(o.state, state);
        }
        let y2026 = local(2026, 3, 15, 12);
        check("1", y2026, "164 350 ₸", "amount=164350;mci_count=38;mci_year=2026");
        check("2", y2026, "164 350 ₸", "amount=164350;mci_count=38;mci_year=2026");
        check("3", y2026, "164 350 ₸", "amount=164350;mci_count=38;mci_year=2026");
        check("4", y2026, "272 475 ₸", "amount=272475;mci_count=63;mci_year=2026");
        check("5", y2026, "272 475 ₸", "amount=272475;mci_count=63;mci_year=2026");
        check(" 12 ", y2026, "272 475 ₸", "amount=272475;mci_count=63;mci_year=2026");
        let y2025 = local(2025, 6, 1, 12);
        check("1", y2025, "149 416 ₸", "amount=149416;mci_count=38;mci_year=2025");
        check("4", y2025, "247 716 ₸", "amount=247716;mci_count=63;mci_year=2025");
        let y2024 = local(2024, 1, 10, 12);
        check("3", y2024, "140 296 ₸", "amount=140296;mci_count=38;mci_year=2024");
        check("6", y2024, "232 596 ₸", "amount=232596;mci_count=63;mci_year=2024");
        // 2025-01-01 02:00 in Almaty is still 31 December in UTC: the local year counts.
        check("1", local(2025, 1, 1, 2), "149 416 ₸", "amount=149416;mci_count=38;mci_year=2025");
    }

    #[test]
    fn mci_count_table() {
        for (order, count) in [(1, 38), (2, 38), (3, 38), (4, 63), (5, 63), (u32::MAX, 63)] {
            assert_eq!(mci_count(order), count, "order {order}");
        }
    }

    #[test]
    fn on_event_table() {
        #[track_caller]
        fn check(h: &Harness, service: &str, ev: &LifeEvent, expected: &str) {
            assert_eq!(outline(h.manifest(), &h.on_event::<P>(service, ev)), expected);
        }
        let at = local(2026, 11, 2, 10);
        let mut h = Harness::for_plugin::<P>();
        check(&h, SERVICE, &birth("1", at), "offer: offer");
        check(&h, "health.newborn-attachment", &birth("1", at), "skip: not a service of this plugin");
        let mut other = birth("1", at);
        other.kind = "person.turns-17".into();
        check(&h, SERVICE, &other, "skip: not a subscribed event kind");
        let mut dead = birth("1", at);
        dead.attributes.iter_mut().filter(|p| p.key == "child_status").for_each(|p| {
            p.value = "deceased".into();
        });
        check(&h, SERVICE, &dead, "skip: the child is recorded as deceased");
        for order in ["0", "-1", "", "first", "2.5", "99999999999"] {
            check(&h, SERVICE, &birth(order, at), "refuse: missing-basis-data");
        }
        let mut no_order = birth("1", at);
        no_order.attributes.retain(|p| p.key != "birth_order");
        check(&h, SERVICE, &no_order, "refuse: missing-basis-data");
        // No MCI for the birth year, or a broken or zero value.
        check(&h, SERVICE, &birth("1", local(2023, 5, 5, 12)), "refuse: missing-basis-data");
        h.config("mci.2026", "4 325");
        check(&h, SERVICE, &birth("1", at), "refuse: missing-basis-data");
        h.config("mci.2026", "0");
        check(&h, SERVICE, &birth("1", at), "refuse: missing-basis-data");
        h.remove_config("mci.2026");
        let out = h.on_event::<P>(SERVICE, &birth("1", at));
        let Decision::Refuse(r) = out else { panic!("{out:?}") };
        assert_eq!(r.detail, "no MCI is configured for the birth year 2026");
        assert!(r.notice.is_none());
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
                assert_eq!(o.state, case.state, "ask-again keeps the promise");
            }
        }
        // Consent and a valid IBAN, however it is written.
        check(0, "иә 4821 KZ86125KZT5004100100", Answer::Yes, "provide: payment-order");
        check(0, "ИӘ 4821 kz86 125k zt50 0410 0100", Answer::Yes, "provide: payment-order");
        check(2, "да, KZ86125KZT5004100100", Answer::Yes, "provide: payment-order");
        // Not classified as yes, but the IBAN is the answer.
        check(0, "KZ86125KZT5004100100", Answer::Other, "provide: payment-order");
        // No wins even with an IBAN.
        check(0, "жоқ 4821 KZ86125KZT5004100100", Answer::No, "refuse: recipient-declined");
        check(2, "нет", Answer::No, "refuse: recipient-declined");
        // Yes without a valid IBAN, or garbage: ask again twice, then refuse.
        for (text, answer) in [
            ("иә 4821", Answer::Yes),
            ("иә 4821 KZ00125KZT5004100100", Answer::Yes),
            ("иә 4821 KZ86125KZT500410010", Answer::Yes),
            ("🙂", Answer::Other),
        ] {
            check(0, text, answer, "ask-again: iban");
            check(1, text, answer, "ask-again: iban");
            check(2, text, answer, "refuse: invalid-payment-details");
            check(7, text, answer, "refuse: invalid-payment-details");
        }
    }

    #[test]
    fn payment_order_carries_the_promised_amount() {
        let mut h = Harness::for_plugin::<P>();
        let (ev, d) = offered(&h);
        // The index changes between offer and reply: the promise stands.
        h.config("mci.2026", "9999");
        let case = h.case_after(&ev, &d, 1);
        let out = h.on_reply::<P>(SERVICE, &case, &reply("иә 4821 KZ86125KZT5004100100", Answer::Yes));
        assert_eq!(detail(&out, "amount"), Some("164350"));
        assert_eq!(detail(&out, "mci_count"), Some("38"));
        assert_eq!(detail(&out, "mci_year"), Some("2026"));
        assert_eq!(detail(&out, "iban"), Some(IBAN));
        assert_eq!(detail(&out, "legal_ground"), Some(LEGAL_GROUND));
        assert_eq!(detail(&out, "child_iin"), Some(CHILD));
        let Decision::Provide(p) = &out else { unreachable!() };
        assert_eq!(p.notice.as_ref().and_then(|n| param(n, "amount")), Some("164 350 ₸"));
        assert!(h.logs().is_empty());
    }

    #[test]
    fn a_computed_iban_is_accepted() {
        let h = Harness::for_plugin::<P>();
        let (ev, d) = offered(&h);
        let iban = KzIban::compute("722", "S000012345678").unwrap();
        let case = h.case_after(&ev, &d, 0);
        let text = format!("иә {}", iban.grouped());
        let out = h.on_reply::<P>(SERVICE, &case, &reply(&text, Answer::Yes));
        assert_eq!(detail(&out, "iban"), Some(iban.as_str()));
    }

    #[test]
    fn corrupt_or_foreign_cases_are_refused_not_panicked_on() {
        #[track_caller]
        fn check(service: &str, state: &str, expected: &str) {
            let h = Harness::for_plugin::<P>();
            let (ev, d) = offered(&h);
            let case = CaseView { state: state.into(), ..h.case_after(&ev, &d, 0) };
            assert_eq!(
                h.outline_every_answer::<P>(service, &case, "иә KZ86125KZT5004100100"),
                [expected; 3],
                "{state:?}"
            );
        }
        check(SERVICE, "", "refuse: internal-state");
        check(SERVICE, "garbage", "refuse: internal-state");
        check(SERVICE, "amount=164350;mci_count=38", "refuse: internal-state");
        check(SERVICE, "amount=lots;mci_count=38;mci_year=2026", "refuse: internal-state");
        check(SERVICE, "amount=0;mci_count=38;mci_year=2026", "refuse: internal-state");
        check(SERVICE, "amount=-5;mci_count=38;mci_year=2026", "refuse: internal-state");
        check(SERVICE, "amount=1;mci_count=x;mci_year=2026", "refuse: internal-state");
        check(SERVICE, "amount=1;mci_count=38;mci_year=y", "refuse: internal-state");
        check("health.newborn-attachment", "amount=1;mci_count=38;mci_year=2026", "refuse: unknown-service");
    }

    #[test]
    fn state_is_read_tolerantly() {
        let h = Harness::for_plugin::<P>();
        let (ev, d) = offered(&h);
        let mut case = h.case_after(&ev, &d, 0);
        case.state = " mci_year=2026 ; mci_count=38;amount=1;v=2;".into();
        let out = h.on_reply::<P>(SERVICE, &case, &reply("иә KZ86125KZT5004100100", Answer::Yes));
        assert_eq!(detail(&out, "amount"), Some("1"));
    }

    #[test]
    fn timeout_table() {
        let h = Harness::for_plugin::<P>();
        let (ev, d) = offered(&h);
        let case = h.case_after(&ev, &d, 0);
        assert_eq!(outline(h.manifest(), &h.on_timeout::<P>(SERVICE, &case)), "refuse: no-answer");
        let out = h.on_timeout::<P>("defence.conscription-registration", &case);
        assert_eq!(outline(h.manifest(), &out), "refuse: unknown-service");
    }

    #[test]
    fn no_answer_refusals_carry_no_notice() {
        let h = Harness::for_plugin::<P>();
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
}
