//! A hostile test component whose manifest is huge: 300 services, each with long titles and
//! 20 subscriptions, scopes and templates. It stays inside its own CPU and memory budget
//! (a bigger one runs out of fuel building itself, which is refused too), so what refuses
//! it is the host's bound on manifests: at load, with a reason, every other plugin loaded.
//! Used only by `tests/e2e/sandbox.rs`. Never ship this.

use proactive_sdk::prelude::*;

pub struct HugeManifest;

impl Plugin for HugeManifest {
    fn manifest() -> Vec<ServiceManifest> {
        (0..300)
            .map(|n| ServiceManifest {
                id: format!("hostile.huge-{n}"),
                agency: "hostile".into(),
                title_kk: "ұ".repeat(190),
                title_ru: "ы".repeat(190),
                subscribes: vec!["birth.registered".into(); 20],
                recipient: "mother".into(),
                consent_scopes: vec!["civil.birth".into(); 20],
                reply_window_hours: 24,
                effective_from: "2026-01-01".into(),
                templates: (0..20)
                    .map(|t| {
                        Template::question(
                            &format!("offer-{t}"),
                            &[],
                            "Жауап: ИӘ ((code)) немесе ЖОҚ ((code))",
                            "Ответ: ДА ((code)) или НЕТ ((code))",
                        )
                    })
                    .collect(),
            })
            .collect()
    }

    fn on_event(_service: &str, _event: &LifeEvent) -> Decision {
        Decision::skip("never loaded")
    }

    fn on_reply(_service: &str, _case: &CaseView, _reply: &Reply) -> Decision {
        Decision::skip("never loaded")
    }

    fn on_timeout(_service: &str, _case: &CaseView) -> Decision {
        Decision::skip("never loaded")
    }
}

proactive_sdk::export_plugin!(HugeManifest);
