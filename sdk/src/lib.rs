//! # proactive-sdk
//!
//! Write a ministry's proactive-service logic in plain Rust and ship it as a sandboxed
//! WebAssembly component that the platform host loads, limits and hot-reloads.
//!
//! A plugin **decides**; the host **does**. The host looks the citizen's mobile number up in
//! the e-government registry, verifies consent, checks that the recipient is not a state
//! body, sends and receives SMS, keeps timers, stores cases and writes the audit log. Your
//! code never sees a phone number and cannot send anything itself: it answers four
//! questions through the [`Plugin`] trait and returns a [`Decision`].
//!
//! ## Example: a complete plugin
//!
//! ```
//! use proactive_sdk::prelude::*;
//!
//! pub struct Clinic;
//!
//! impl Plugin for Clinic {
//!     fn manifest() -> Vec<ServiceManifest> {
//!         vec![ServiceManifest {
//!             id: "health.newborn-attachment".into(),
//!             agency: "health".into(),
//!             title_kk: "Нәрестені емханаға бекіту".into(),
//!             title_ru: "Прикрепление новорождённого к поликлинике".into(),
//!             subscribes: vec!["birth.registered".into()],
//!             recipient: "mother".into(),
//!             consent_scopes: vec!["health.attachment".into()],
//!             reply_window_hours: 72,
//!             effective_from: "2026-01-01".into(),
//!             templates: vec![Template::question(
//!                 "offer",
//!                 &["clinic"],
//!                 "Баланы ((clinic)) емханасына бекітеміз бе? ИӘ ((code)) немесе ЖОҚ ((code))",
//!                 "Прикрепить ребёнка к ((clinic))? ДА ((code)) или НЕТ ((code))",
//!             )],
//!         }]
//!     }
//!
//!     fn on_event(_service: &str, event: &LifeEvent) -> Decision {
//!         let Some(mother) = event.attr("mother") else {
//!             return Decision::skip("no mother on the birth record");
//!         };
//!         match host::fact(mother, "health.attachment", "clinic") {
//!             Ok(Some(clinic)) => Decision::offer(msg("offer", &[("clinic", &clinic)]), clinic),
//!             _ => Decision::skip("mother has no clinic attachment"),
//!         }
//!     }
//!
//!     fn on_reply(_service: &str, case: &CaseView, reply: &Reply) -> Decision {
//!         match reply.answer {
//!             Answer::Yes => Decision::provide("attachment", &[("clinic", &case.state)], None),
//!             _ => Decision::refuse("recipient-declined", "the mother said no", None),
//!         }
//!     }
//!
//!     fn on_timeout(_service: &str, _case: &CaseView) -> Decision {
//!         Decision::refuse("no-answer", "no reply within the window", None)
//!     }
//! }
//!
//! proactive_sdk::export_plugin!(Clinic);
//!
//! // The same code runs natively in unit tests, against a harness that plays the host:
//! use proactive_sdk::testing::{Harness, event};
//! let mut h = Harness::for_plugin::<Clinic>();
//! h.consent("900101400122", &["health.attachment"]);
//! h.fact("900101400122", "health.attachment", "clinic", "Emkhana 5");
//! let ev = event("E-1", "birth.registered", "261101500126", &[("mother", "900101400122")]);
//! let d = h.on_event::<Clinic>("health.newborn-attachment", &ev);
//! assert!(matches!(d, Decision::Offer(_)));
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2`; the `.wasm` file in
//! `target/wasm32-wasip2/release/` is the component you sign and upload.
//!
//! ## Concepts
//! - **Manifest.** One component carries one agency's services. Each declares the event kinds
//!   it subscribes to, the event attribute naming the recipient, the consent scopes it needs,
//!   its reply window, the date its legal basis takes effect, and kk/ru SMS templates. The
//!   host checks the templates when it loads the plugin: every `((placeholder))` must be
//!   declared, and every question must carry the host's `((code))`.
//! - **Fresh instance per call.** Nothing survives between calls. What you need later goes
//!   into the `state` string of an offer and comes back in [`CaseView::state`].
//! - **Limits.** Every call has a CPU and memory budget. Exceeding it fails that case only.
//! - **Facts.** [`host::fact`] reads registry facts limited to your declared consent scopes
//!   and to what the person consented to.

pub mod domain;
pub mod host;
#[cfg(not(target_arch = "wasm32"))]
pub mod native;
pub mod state;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
pub mod time;
mod values;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "agency-plugin",
        pub_export_macro: true,
        export_macro_name: "__export_agency_plugin",
        default_bindings_module: "proactive_sdk::bindings",
    });
}

pub use bindings::kz_gov::proactive::types::{
    Answer, CaseView, Decision, LifeEvent, Message, Offer, Pair, Provision, Refusal, Reply, ServiceManifest, Template,
    TemplateKind,
};
pub use values::msg;

/// The service logic an agency implements. Every function is called on a fresh instance,
/// so there is no `self`: carry what you need across calls in the offer's `state`.
pub trait Plugin {
    /// The services this component carries.
    fn manifest() -> Vec<ServiceManifest>;
    /// A subscribed event arrived. Return skip, offer, provide or refuse.
    fn on_event(service: &str, event: &LifeEvent) -> Decision;
    /// The citizen answered. Return provide, refuse or ask-again.
    fn on_reply(service: &str, case: &CaseView, reply: &Reply) -> Decision;
    /// The reply window ran out. Return provide, refuse or ask-again.
    fn on_timeout(service: &str, case: &CaseView) -> Decision;
}

/// Everything a plugin usually needs, in one `use`.
pub mod prelude {
    pub use crate::domain::{Bin, Iin, KzIban, Mci, Sex};
    pub use crate::host;
    pub use crate::state::State;
    pub use crate::{
        Answer, CaseView, Decision, LifeEvent, Message, Plugin, Reply, ServiceManifest, Template, TemplateKind, msg,
    };
}

/// Export a [`Plugin`] implementation as the component's `service` interface.
/// Call it once, at the crate root of the plugin.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct ProactiveSdkExport;
            impl $crate::bindings::exports::kz_gov::proactive::service::Guest for ProactiveSdkExport {
                fn version() -> ::std::string::String {
                    ::std::string::String::from(env!("CARGO_PKG_VERSION"))
                }
                fn manifest() -> ::std::vec::Vec<$crate::ServiceManifest> {
                    <$plugin as $crate::Plugin>::manifest()
                }
                fn on_event(service: ::std::string::String, event: $crate::LifeEvent) -> $crate::Decision {
                    <$plugin as $crate::Plugin>::on_event(&service, &event)
                }
                fn on_reply(
                    service: ::std::string::String,
                    case: $crate::CaseView,
                    reply: $crate::Reply,
                ) -> $crate::Decision {
                    <$plugin as $crate::Plugin>::on_reply(&service, &case, &reply)
                }
                fn on_timeout(service: ::std::string::String, case: $crate::CaseView) -> $crate::Decision {
                    <$plugin as $crate::Plugin>::on_timeout(&service, &case)
                }
            }
    $crate::bindings::__export_agency_plugin!(ProactiveSdkExport with_types_in $crate::bindings);
        };
    };
}
