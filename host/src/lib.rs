//! The proactive-services platform host.
//!
//! Events come in ([`intake`]), every subscribed service's sandboxed plugin decides
//! ([`runtime`]), the legal gate holds ([`gate`]), SMS offers go out and replies come back
//! ([`sms`]), and cases move through their lifecycle ([`pipeline`]), stored durably
//! ([`store`]) and audited ([`audit`]). See `ARCHITECTURE.md` at the repository root.

pub mod api;
pub mod audit;
pub mod cli;
pub mod demo;
pub mod deploy;
pub mod gate;
pub mod intake;
pub mod metrics;
pub mod model;
pub mod pipeline;
pub mod platform;
pub mod redact;
pub mod report;
pub mod runner;
pub mod runtime;
pub mod serve;
pub mod sms;
pub mod store;
