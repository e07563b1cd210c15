//! End-to-end tests: the real plugins built to wasm, driven through the real `proactive`
//! binary. All of them compile into this one test binary (one link, one plugin build).

mod http;
mod smsc;
mod support;

mod admin;
mod audit;
mod breaker;
mod crash;
mod demo_expectation;
mod fuzz;
mod http_gateway;
mod ingest;
mod native;
mod outbox;
mod receipts;
mod runtime;
mod sandbox;
mod serve;
mod smpp;
