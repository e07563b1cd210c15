//! A deliberately hostile plugin, used only by the sandbox tests (`tests/e2e/sandbox.rs`).
//!
//! The host promises that one ministry's broken or malicious code fails its own case and
//! nothing else: every call runs in a fresh instance with a CPU (fuel) budget, a memory
//! limit and a bounded wasm stack, and every decision is size-checked before the host keeps
//! it. This component exists to break each of those promises on purpose, so the end-to-end
//! tests can prove the host holds them with a real component through the real binary.
//!
//! Its manifest is perfectly valid (so it loads and passes the gate like any other service);
//! its `on_event` misbehaves according to the event's `region` attribute:
//!
//! | region  | behaviour                                   | the host should report      |
//! |---------|---------------------------------------------|-----------------------------|
//! | `loop`  | spins forever                               | CPU budget exhausted        |
//! | `oom`   | allocates (and touches) memory forever      | memory limit reached        |
//! | `stack` | recurses without end                        | wasm stack overflow         |
//! | `panic` | panics                                      | plugin trapped              |
//! | `huge`  | returns a skip with a 10 MB reason          | invalid decision (too big)  |
//! | `facts` | calls `fact` with garbage, in a tight loop  | host import abused          |
//! | `logs`  | calls `log` in a tight loop                 | host import abused          |
//! | `inject`| offers, with a template value that reads `((code)) ((name))` | sent literally |
//! | other   | `skip("benign")`                            | a normal skip               |
//!
//! `on_reply` and `on_timeout` simply refuse. Never ship this.

use proactive_sdk::prelude::*;

pub const SERVICE: &str = "hostile.misbehave";

/// The size of the oversized skip reason: far over the host's bound on decision texts.
pub const HUGE_REASON_BYTES: usize = 10 * 1024 * 1024;

pub struct Hostile;

impl Plugin for Hostile {
    fn manifest() -> Vec<ServiceManifest> {
        vec![ServiceManifest {
            id: SERVICE.into(),
            agency: "hostile".into(),
            title_kk: "Сынақ: жаман мінезді қызмет".into(),
            title_ru: "Тест: сервис с плохим поведением".into(),
            subscribes: vec!["birth.registered".into()],
            recipient: "mother".into(),
            consent_scopes: vec!["civil.birth".into()],
            reply_window_hours: 24,
            effective_from: "2026-01-01".into(),
            templates: vec![Template::question(
                "offer",
                &["name"],
                "Сынақ хабарламасы ((name)). Жауап: ИӘ ((code)) немесе ЖОҚ ((code))",
                "Тестовое сообщение ((name)). Ответ: ДА ((code)) или НЕТ ((code))",
            )],
        }]
    }

    fn on_event(_service: &str, event: &LifeEvent) -> Decision {
        match event.attr("region").map(str::trim) {
            Some("loop") => spin(),
            Some("oom") => hoard(),
            Some("stack") => {
                let depth = dig(core::hint::black_box(0));
                Decision::skip(format!("came back from depth {depth}"))
            }
            Some("panic") => panic!("the hostile plugin panics on purpose"),
            Some("huge") => Decision::skip("x".repeat(HUGE_REASON_BYTES)),
            Some("facts") => pester_facts(),
            Some("logs") => loop {
                proactive_sdk::host::log(proactive_sdk::host::Level::Info, &"\u{0}\u{202E}".repeat(1000));
            },
            Some("inject") => Decision::offer(msg("offer", &[("name", INJECTED)]), "injected"),
            _ => Decision::skip("benign"),
        }
    }

    fn on_reply(_service: &str, _case: &CaseView, _reply: &Reply) -> Decision {
        Decision::refuse("not-supported", "the hostile test plugin takes no replies", None)
    }

    fn on_timeout(_service: &str, _case: &CaseView) -> Decision {
        Decision::refuse("not-supported", "the hostile test plugin has nothing to do on timeout", None)
    }
}

proactive_sdk::export_plugin!(Hostile);

/// What the `inject` offer's value says: placeholder syntax, which the host must send as
/// it stands rather than expand.
pub const INJECTED: &str = "((code)) ((name)) 0000";

/// Asks for facts nobody may have, with names no manifest declares, without end.
fn pester_facts() -> Decision {
    let mut n = 0usize;
    loop {
        let junk = "\u{0}".repeat(n % 4096);
        let _ = proactive_sdk::host::fact(&junk, "no.such.scope", &"k".repeat(n % 70_000));
        n = core::hint::black_box(n + 1);
    }
}

/// Burns CPU forever. `black_box` keeps the optimiser from proving the loop pointless.
fn spin() -> Decision {
    let mut n: u64 = 0;
    loop {
        n = core::hint::black_box(n.wrapping_add(1));
    }
}

/// Grows memory forever: 1 MiB chunks, each written to on every page so the allocation
/// is real, all kept alive in `kept`.
fn hoard() -> Decision {
    const CHUNK: usize = 1 << 20;
    let mut kept: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; CHUNK];
        for i in (0..CHUNK).step_by(4096) {
            chunk[i] = 0xA5;
        }
        kept.push(core::hint::black_box(chunk));
        core::hint::black_box(&kept);
    }
}

/// Recurses until the stack runs out. The `black_box` on the result is work done after the
/// call, so the recursion cannot be turned into a loop; the (never reached) base case keeps
/// the `unconditional_recursion` lint quiet.
#[inline(never)]
fn dig(depth: u64) -> u64 {
    if depth == u64::MAX {
        return 0;
    }
    let below = dig(core::hint::black_box(depth + 1));
    core::hint::black_box(below) ^ depth
}
