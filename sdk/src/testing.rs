//! A native test harness that plays the host, so plugin logic is unit-tested with plain
//! `cargo test`: no wasm build, no runtime. It enforces the same fact rules as the host
//! (declared scope, then the person's consent), so a test that passes here does not
//! silently depend on data the host would withhold.
//!
//! Next to the harness are checks on the SMS side of the contract. The host is the authority
//! on templates: it validates them when it loads the plugin and refuses the whole component
//! if one is wrong. [`assert_templates_load`] and [`assert_templates_fit`] let an agency
//! catch the same problems in `cargo test` instead of at upload, and [`outline`] checks every
//! message a decision asks for against the manifest while reducing the decision to a line a
//! table test can compare.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use chrono::NaiveDate;

use crate::host::{FactError, Level};
use crate::native::HostBridge;
use crate::{
    Answer, CaseView, Decision, LifeEvent, Message, Pair, Plugin, Reply, ServiceManifest, Template, TemplateKind,
};

/// What the plugin under test can see of the host.
#[derive(Default)]
pub struct State {
    now: i64,
    config: BTreeMap<String, String>,
    facts: BTreeMap<(String, String, String), String>,
    consents: BTreeMap<String, BTreeSet<String>>,
    declared_scopes: BTreeSet<String>,
    logs: Vec<(Level, String)>,
}

impl HostBridge for RefCell<State> {
    fn log(&self, level: Level, message: &str) {
        self.borrow_mut().logs.push((level, message.to_owned()));
    }

    fn now(&self) -> i64 {
        self.borrow().now
    }

    fn config(&self, key: &str) -> Option<String> {
        self.borrow().config.get(key).cloned()
    }

    fn fact(&self, person: &str, scope: &str, key: &str) -> Result<Option<String>, FactError> {
        let s = self.borrow();
        if !s.declared_scopes.contains(scope) {
            return Err(FactError::UndeclaredScope);
        }
        if !s.consents.get(person).is_some_and(|c| c.contains(scope)) {
            return Err(FactError::NoConsent);
        }
        Ok(s.facts.get(&(person.to_owned(), scope.to_owned(), key.to_owned())).cloned())
    }
}

/// Plays the host for one plugin in native tests.
pub struct Harness {
    state: Rc<RefCell<State>>,
    manifest: Vec<ServiceManifest>,
}

impl Harness {
    /// A harness for plugin `P`, with the consent scopes its manifest declares, the clock at
    /// 2026-11-02 10:00 Almaty, and the platform's MCI table configured.
    pub fn for_plugin<P: Plugin>() -> Self {
        let manifest = P::manifest();
        let mut state = State {
            declared_scopes: manifest.iter().flat_map(|m| m.consent_scopes.iter().cloned()).collect(),
            ..State::default()
        };
        for (year, value) in [(2024, 3692), (2025, 3932), (2026, 4325)] {
            state.config.insert(format!("mci.{year}"), value.to_string());
        }
        let h = Harness { state: Rc::new(RefCell::new(state)), manifest };
        h.state.borrow_mut().now = local(2026, 11, 2, 10);
        h
    }

    /// The manifest the plugin declared.
    pub fn manifest(&self) -> &[ServiceManifest] {
        &self.manifest
    }

    pub fn set_now(&mut self, ts: i64) -> &mut Self {
        self.state.borrow_mut().now = ts;
        self
    }

    pub fn config(&mut self, key: &str, value: &str) -> &mut Self {
        self.state.borrow_mut().config.insert(key.into(), value.into());
        self
    }

    pub fn remove_config(&mut self, key: &str) -> &mut Self {
        self.state.borrow_mut().config.remove(key);
        self
    }

    /// The person consented to these scopes.
    pub fn consent(&mut self, person: &str, scopes: &[&str]) -> &mut Self {
        let mut s = self.state.borrow_mut();
        let set = s.consents.entry(person.into()).or_default();
        set.extend(scopes.iter().map(|s| (*s).to_owned()));
        drop(s);
        self
    }

    /// A registry fact about a person.
    pub fn fact(&mut self, person: &str, scope: &str, key: &str, value: &str) -> &mut Self {
        self.state.borrow_mut().facts.insert((person.into(), scope.into(), key.into()), value.into());
        self
    }

    /// What the plugin logged so far.
    pub fn logs(&self) -> Vec<(Level, String)> {
        self.state.borrow().logs.clone()
    }

    pub fn on_event<P: Plugin>(&self, service: &str, event: &LifeEvent) -> Decision {
        self.call(|| P::on_event(service, event))
    }

    pub fn on_reply<P: Plugin>(&self, service: &str, case: &CaseView, reply: &Reply) -> Decision {
        self.call(|| P::on_reply(service, case, reply))
    }

    pub fn on_timeout<P: Plugin>(&self, service: &str, case: &CaseView) -> Decision {
        self.call(|| P::on_timeout(service, case))
    }

    /// The [`outline`]s of the plugin's decisions on a reply reading `text` to `case`, once for
    /// each way the host may classify it: yes, no, other. For what must not depend on the
    /// answer, such as refusing a case whose state is corrupt or whose service is not the
    /// plugin's.
    #[track_caller]
    pub fn outline_every_answer<P: Plugin>(&self, service: &str, case: &CaseView, text: &str) -> [String; 3] {
        let outline_for = |answer| outline(&self.manifest, &self.on_reply::<P>(service, case, &reply(text, answer)));
        [outline_for(Answer::Yes), outline_for(Answer::No), outline_for(Answer::Other)]
    }

    /// A case as the host would hand it back after `offer` was sent for `event`.
    pub fn case_after(&self, event: &LifeEvent, decision: &Decision, asks: u32) -> CaseView {
        let state = match decision {
            Decision::Offer(o) | Decision::AskAgain(o) => o.state.clone(),
            other => panic!("case_after needs an offer or ask-again, got {other:?}"),
        };
        CaseView {
            case_id: format!("case-{}", event.id),
            event: event.clone(),
            state,
            asks,
            offered_at: self.state.borrow().now,
        }
    }

    fn call<R>(&self, f: impl FnOnce() -> R) -> R {
        crate::native::with_host(self.state.clone(), f)
    }
}

/// A life event for tests; `occurred_at` is the harness default (2026-11-02 10:00 Almaty).
pub fn event(id: &str, kind: &str, subject: &str, attributes: &[(&str, &str)]) -> LifeEvent {
    LifeEvent {
        id: id.into(),
        kind: kind.into(),
        subject: subject.into(),
        occurred_at: local(2026, 11, 2, 10),
        attributes: attributes.iter().map(|(k, v)| Pair { key: (*k).into(), value: (*v).into() }).collect(),
    }
}

/// A reply as the host would classify it. The classification is given explicitly so plugin
/// tests pin plugin behaviour, not the host's classifier.
pub fn reply(text: &str, answer: Answer) -> Reply {
    Reply { text: text.into(), answer, received_at: local(2026, 11, 2, 12) }
}

/// A timestamp for a local Almaty date and hour.
pub fn local(y: i32, m: u32, d: u32, hour: u32) -> i64 {
    let date = NaiveDate::from_ymd_opt(y, m, d).expect("valid date");
    crate::time::local_timestamp(date, hour, 0)
}

/// Placeholders the host fills itself: a template may use them but never declares them.
const HOST_FILLED: [&str; 2] = ["code", "service"];

/// The `((name))` placeholders in a template text.
pub fn placeholders(text: &str) -> BTreeSet<String> {
    text.split("((").skip(1).filter_map(|rest| rest.split_once("))").map(|(name, _)| name.to_owned())).collect()
}

/// An estimate of the SMS parts a text takes, counted as UCS-2 (as any Kazakh or Russian
/// text is sent): 70 UTF-16 units fit one part, a longer text takes 67 per part.
///
/// Kept simple on purpose: it never counts fewer parts than the network for Cyrillic text,
/// but a Latin-only text would go as GSM-7 and take fewer. The host's count is the
/// authoritative one.
pub fn sms_parts(text: &str) -> usize {
    let units = text.encode_utf16().count();
    if units <= 70 { 1 } else { units.div_ceil(67) }
}

fn template<'m>(manifest: &'m [ServiceManifest], id: &str) -> Option<&'m Template> {
    manifest.iter().flat_map(|m| &m.templates).find(|t| t.id == id)
}

/// Panics unless every template passes the host's load-time rules: template ids are unique
/// within a service, neither text is blank, no host-filled placeholder (`code`, `service`) is
/// declared, every question carries `((code))` in both languages, every declared placeholder
/// is used in both languages, and nothing undeclared is used.
///
/// The host's loader is the authority and checks more (placeholder name syntax, the
/// manifest's own fields); this catches the mistakes that are easy to make while writing
/// texts.
#[track_caller]
pub fn assert_templates_load(manifest: &[ServiceManifest]) {
    for m in manifest {
        let mut ids = BTreeSet::new();
        for t in &m.templates {
            assert!(ids.insert(t.id.as_str()), "{}: duplicate template {}", m.id, t.id);
            let declared: BTreeSet<&str> = t.placeholders.iter().map(String::as_str).collect();
            for p in &declared {
                assert!(!HOST_FILLED.contains(p), "{}: (({p})) is filled by the host and may not be declared", t.id);
            }
            for (lang, text) in [("kk", &t.kk), ("ru", &t.ru)] {
                assert!(!text.trim().is_empty(), "{}/{lang}: text is empty", t.id);
                let used = placeholders(text);
                if matches!(t.kind, TemplateKind::Question) {
                    assert!(used.contains("code"), "{}/{lang}: a question needs ((code))", t.id);
                }
                for p in &declared {
                    assert!(used.contains(*p), "{}/{lang}: (({p})) declared but unused", t.id);
                }
                for u in &used {
                    assert!(
                        declared.contains(u.as_str()) || HOST_FILLED.contains(&u.as_str()),
                        "{}/{lang}: (({u})) is not declared",
                        t.id
                    );
                }
            }
        }
    }
}

/// Panics unless every template, rendered with `samples` (placeholder, value) and a 4-digit
/// reply code for `((code))`, takes at most `max_parts` SMS parts in both languages, and does
/// not end a sample value's abbreviation with a second full stop (`..`).
///
/// `limits` (template id, parts) overrides `max_parts` for single templates, such as an
/// offer that has to list several options. Parts are counted with [`sms_parts`]; pick
/// samples as long as the real values get (the longest region name, the largest amount).
#[track_caller]
pub fn assert_templates_fit(
    manifest: &[ServiceManifest],
    samples: &[(&str, &str)],
    max_parts: usize,
    limits: &[(&str, usize)],
) {
    for t in manifest.iter().flat_map(|m| &m.templates) {
        let limit = limits.iter().find(|(id, _)| *id == t.id).map_or(max_parts, |(_, n)| *n);
        for (lang, text) in [("kk", &t.kk), ("ru", &t.ru)] {
            let mut rendered = text.replace("((code))", "4821");
            for (key, value) in samples {
                rendered = rendered.replace(&format!("(({key}))"), value);
            }
            let parts = sms_parts(&rendered);
            assert!(parts <= limit, "{}/{lang}: {parts} parts > {limit}: {rendered}", t.id);
            assert!(!rendered.contains(".."), "{}/{lang}: doubled dot: {rendered}", t.id);
        }
    }
}

/// Panics unless `message` names a template of `kind` in `manifest` and fills exactly that
/// template's declared placeholders, once each and none blank. The host would fail the case
/// at send time otherwise.
#[track_caller]
pub fn assert_message(manifest: &[ServiceManifest], message: &Message, kind: TemplateKind) {
    let Some(t) = template(manifest, &message.template) else {
        panic!("no template {}", message.template);
    };
    assert_eq!(t.kind, kind, "template {} has the wrong kind", t.id);
    let declared: BTreeSet<&str> = t.placeholders.iter().map(String::as_str).collect();
    let given: BTreeSet<&str> = message.params.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(given, declared, "params of {}", t.id);
    assert_eq!(given.len(), message.params.len(), "duplicate params in {}", t.id);
    for p in &message.params {
        assert!(!p.value.trim().is_empty(), "{}: (({})) is blank", t.id, p.key);
    }
}

/// A one-line outline of a decision for table tests: `"skip: <reason>"`, `"offer: <template>"`,
/// `"ask-again: <template>"`, `"provide: <record kind>"` or `"refuse: <ground>"`.
///
/// On the way it checks every message in the decision with [`assert_message`]: an offer's or
/// ask-again's must name a question, a provision's or refusal's notice a notice.
#[track_caller]
pub fn outline(manifest: &[ServiceManifest], decision: &Decision) -> String {
    match decision {
        Decision::Skip(reason) => format!("skip: {reason}"),
        Decision::Offer(o) => {
            assert_message(manifest, &o.message, TemplateKind::Question);
            format!("offer: {}", o.message.template)
        }
        Decision::AskAgain(o) => {
            assert_message(manifest, &o.message, TemplateKind::Question);
            format!("ask-again: {}", o.message.template)
        }
        Decision::Provide(p) => {
            if let Some(notice) = &p.notice {
                assert_message(manifest, notice, TemplateKind::Notice);
            }
            format!("provide: {}", p.record_kind)
        }
        Decision::Refuse(r) => {
            if let Some(notice) = &r.notice {
                assert_message(manifest, notice, TemplateKind::Notice);
            }
            format!("refuse: {}", r.ground)
        }
    }
}

/// The value a message gives a placeholder, by name.
pub fn param<'a>(message: &'a Message, key: &str) -> Option<&'a str> {
    message.params.iter().find(|p| p.key == key).map(|p| p.value.as_str())
}

/// A detail of a provision, by name; `None` for any other decision.
pub fn detail<'a>(decision: &'a Decision, key: &str) -> Option<&'a str> {
    match decision {
        Decision::Provide(p) => p.details.iter().find(|p| p.key == key).map(|p| p.value.as_str()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use super::*;
    use crate::msg;

    fn manifest(templates: Vec<Template>) -> Vec<ServiceManifest> {
        vec![ServiceManifest {
            id: "test.service".into(),
            agency: "test".into(),
            title_kk: "Сынақ".into(),
            title_ru: "Тест".into(),
            subscribes: vec!["birth.registered".into()],
            recipient: "mother".into(),
            consent_scopes: vec!["civil.birth".into()],
            reply_window_hours: 72,
            effective_from: "2026-01-01".into(),
            templates,
        }]
    }

    fn ask() -> Template {
        Template::question(
            "offer",
            &["clinic"],
            "Емхана ((clinic))? ИӘ ((code))",
            "Поликлиника ((clinic))? ДА ((code))",
        )
    }

    fn done() -> Template {
        Template::notice("done", &["clinic"], "Бекітілді: ((clinic)).", "Прикреплён: ((clinic)).")
    }

    /// The panic message of `f`, or None if it returned.
    fn panic_of(f: impl FnOnce()) -> Option<String> {
        let payload = catch_unwind(AssertUnwindSafe(f)).err()?;
        payload.downcast_ref::<String>().cloned().or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
    }

    #[test]
    fn placeholders_table() {
        #[track_caller]
        fn check(text: &str, expected: &[&str]) {
            let expected: BTreeSet<String> = expected.iter().map(|s| (*s).to_owned()).collect();
            assert_eq!(placeholders(text), expected, "{text:?}");
        }
        check("", &[]);
        check("no placeholders", &[]);
        check("((a)) and ((b)) and ((a))", &["a", "b"]);
        check("ИӘ ((code)) ((clinic)).", &["clinic", "code"]);
        check("unclosed ((a", &[]);
    }

    #[test]
    fn sms_parts_table() {
        for (units, parts) in [(0, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)] {
            assert_eq!(sms_parts(&"ж".repeat(units)), parts, "{units} units");
        }
        // A character outside the BMP is two UTF-16 units.
        assert_eq!(sms_parts(&"🙂".repeat(36)), 2);
    }

    #[test]
    fn templates_load_table() {
        #[track_caller]
        fn check(templates: Vec<Template>, expected: Option<&str>) {
            let m = manifest(templates);
            assert_eq!(panic_of(|| assert_templates_load(&m)).as_deref(), expected);
        }
        check(vec![ask(), done()], None);
        check(vec![ask(), ask()], Some("test.service: duplicate template offer"));
        check(
            vec![Template::question("offer", &[], "Иә?", "Да ((code))?")],
            Some("offer/kk: a question needs ((code))"),
        );
        check(
            vec![Template::notice("done", &["clinic"], "((clinic))", "Готово.")],
            Some("done/ru: ((clinic)) declared but unused"),
        );
        check(
            vec![Template::notice("done", &[], "((clinic))", "((clinic))")],
            Some("done/kk: ((clinic)) is not declared"),
        );
        check(vec![Template::notice("done", &[], " ", "Готово.")], Some("done/kk: text is empty"));
        check(
            vec![Template::notice("done", &["code"], "((code))", "((code))")],
            Some("done: ((code)) is filled by the host and may not be declared"),
        );
        // The host fills `service` in any template.
        check(vec![Template::notice("done", &[], "((service))", "((service))")], None);
    }

    #[test]
    fn templates_fit_table() {
        #[track_caller]
        fn check(samples: &[(&str, &str)], max: usize, limits: &[(&str, usize)], fails: Option<&str>) {
            let m = manifest(vec![ask(), done()]);
            let panic = panic_of(|| assert_templates_fit(&m, samples, max, limits));
            match (panic, fails) {
                (None, None) => {}
                (Some(p), Some(start)) => assert!(p.starts_with(start), "{p}"),
                (p, f) => panic!("expected {f:?}, got {p:?}"),
            }
        }
        let long = "ж".repeat(100);
        check(&[("clinic", "ГП №5")], 1, &[], None);
        check(&[("clinic", &long)], 1, &[], Some("offer/kk: 2 parts > 1"));
        check(&[("clinic", &long)], 1, &[("offer", 2), ("done", 2)], None);
        check(&[("clinic", &long)], 2, &[], None);
        check(&[("clinic", "ГП им. Абая.")], 3, &[], Some("done/kk: doubled dot"));
    }

    #[test]
    fn outline_table() {
        #[track_caller]
        fn check(decision: Decision, expected: Result<&str, &str>) {
            let m = manifest(vec![ask(), done()]);
            let mut got = None;
            let panic = panic_of(|| got = Some(outline(&m, &decision)));
            match expected {
                Ok(line) => assert_eq!((got.as_deref(), panic), (Some(line), None)),
                Err(part) => assert!(panic.as_deref().is_some_and(|p| p.contains(part)), "{part:?} in {panic:?}"),
            }
        }
        let offer = || msg("offer", &[("clinic", "ГП №5")]);
        let notice = || Some(msg("done", &[("clinic", "ГП №5")]));
        check(Decision::skip("not ours"), Ok("skip: not ours"));
        check(Decision::offer(offer(), "s"), Ok("offer: offer"));
        check(Decision::ask_again(offer(), "s"), Ok("ask-again: offer"));
        check(Decision::provide("attachment", &[("clinic", "X")], notice()), Ok("provide: attachment"));
        check(Decision::provide("attachment", &[], None), Ok("provide: attachment"));
        check(Decision::refuse("no-answer", "late", None), Ok("refuse: no-answer"));
        check(Decision::refuse("declined", "no", notice()), Ok("refuse: declined"));
        // Messages are checked against the manifest on the way.
        check(Decision::offer(msg("nope", &[]), "s"), Err("no template nope"));
        check(Decision::refuse("x", "y", Some(offer())), Err("template offer has the wrong kind"));
        check(Decision::offer(msg("offer", &[("clinic", " ")]), "s"), Err("offer: ((clinic)) is blank"));
        check(
            Decision::offer(msg("offer", &[("clinic", "A"), ("clinic", "B")]), "s"),
            Err("duplicate params in offer"),
        );
    }

    /// Answers yes with a provision, no with a refusal, anything else by asking again.
    struct ByAnswer;

    impl Plugin for ByAnswer {
        fn manifest() -> Vec<ServiceManifest> {
            manifest(vec![ask(), done()])
        }
        fn on_event(_service: &str, _event: &LifeEvent) -> Decision {
            Decision::skip("unused")
        }
        fn on_reply(_service: &str, case: &CaseView, reply: &Reply) -> Decision {
            match reply.answer {
                Answer::Yes => Decision::provide("attachment", &[], None),
                Answer::No => Decision::refuse("recipient-declined", "no", None),
                Answer::Other => Decision::ask_again(msg("offer", &[("clinic", "ГП №5")]), case.state.clone()),
            }
        }
        fn on_timeout(_service: &str, _case: &CaseView) -> Decision {
            Decision::refuse("no-answer", "late", None)
        }
    }

    #[test]
    fn outline_every_answer_is_yes_no_other() {
        let h = Harness::for_plugin::<ByAnswer>();
        let ev = event("E-1", "birth.registered", "261101500127", &[]);
        let case = h.case_after(&ev, &Decision::offer(msg("offer", &[("clinic", "ГП №5")]), "a=1"), 0);
        assert_eq!(
            h.outline_every_answer::<ByAnswer>("test.service", &case, "иә"),
            ["provide: attachment", "refuse: recipient-declined", "ask-again: offer"]
        );
    }

    #[test]
    fn param_and_detail() {
        let m = msg("offer", &[("clinic", "ГП №5"), ("slot", "10:30")]);
        assert_eq!(param(&m, "slot"), Some("10:30"));
        assert_eq!(param(&m, "office"), None);
        let d = Decision::provide("appointment", &[("office", "Астана")], None);
        assert_eq!(detail(&d, "office"), Some("Астана"));
        assert_eq!(detail(&d, "slot"), None);
        assert_eq!(detail(&Decision::skip("x"), "office"), None);
    }
}
