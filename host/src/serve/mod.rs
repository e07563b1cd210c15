//! `proactive serve`: the platform as a long-running server on the wall clock.
//!
//! The same pipeline as a batch run, opened the same way ([`crate::platform`]); what
//! differs is where time and input come from. Requests bring events and replies; a ticker
//! fires timers, drains the outbox inside the sending window, and signs a checkpoint every
//! minute. On SIGTERM or Ctrl-C the server stops taking connections, finishes the requests
//! in flight, runs no further ticks, and signs and publishes a final checkpoint.

pub mod config;
mod dev_tokens;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::api::auth::Tokens;
use crate::api::{self, AppState, Clock};
use crate::audit;
use crate::demo::Rejected;
use crate::deploy::Deployer;
use crate::pipeline::ReceiptOutcome;
use crate::pipeline::Settings;
use crate::platform::{self, PluginSource};
use crate::redact::redact;
use crate::runtime::{Limits, Runtime};
use crate::sms::gateway::Gateway;
use crate::sms::http_gateway::HttpGateway;
use crate::sms::sim::SimNetwork;
use crate::sms::smpp::{Delivery, Incoming, SmppGateway, SmppSession};
use config::{GatewayChoice, ServeConfig};
use tokio::sync::mpsc;

/// Compiled components, beside the store (any entry may be deleted at any time).
fn cache_dir(db: &std::path::Path) -> PathBuf {
    PathBuf::from(format!("{}.cache", db.display()))
}

/// How often the server signs the audit tree while it runs.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(60);

pub fn run(overrides: &config::Overrides) -> anyhow::Result<ExitCode> {
    let config = ServeConfig::resolve(overrides)?;
    // Checked before anything is opened, so a typo in a digest costs no startup.
    let configured = Tokens::from_config(&config.tokens).context("setting `tokens`")?;
    let scripts = match &config.subscribers {
        Some(path) => {
            let mut rejected = Vec::new();
            let scripts = crate::demo::read_scripts(path, &mut rejected)?;
            report_rejected(&rejected);
            scripts
        }
        None => HashMap::new(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    let network = Arc::new(SimNetwork::new(scripts));
    let (gateway, smpp): (Arc<dyn Gateway>, _) = match &config.gateway {
        GatewayChoice::Sim => (network.clone(), None),
        GatewayChoice::Smpp(c) => {
            let (gateway, session, deliveries) = SmppGateway::start((**c).clone(), rt.handle());
            eprintln!("SMS go to the SMSC at {} over SMPP 3.4", c.address);
            if c.password.is_empty() {
                eprintln!(
                    "warning: no SMPP password (`sms.smpp.password` or PROACTIVE_SMPP_PASSWORD): binding without one"
                );
            }
            (Arc::new(gateway), Some((session, deliveries)))
        }
        GatewayChoice::Http(c) => {
            eprintln!("SMS go to the HTTP gateway at {}", crate::sms::http_gateway::shown_url(&c.url));
            (Arc::new(HttpGateway::new(c.clone())), None)
        }
    };
    let sim = matches!(config.gateway, GatewayChoice::Sim).then_some(network);
    // Before anything loads, so loading plugins registers their series.
    let metrics = crate::metrics::install();
    let clock = match &config.clock_file {
        Some(path) => Clock::File(path.clone()),
        None => Clock::Wall,
    };
    // The store, not the folder, says what runs: the deployer seeds it from the folder.
    let limits = Limits { breaker_failures: config.breaker_failures, ..Limits::default() };
    let runtime = Arc::new(Runtime::new(limits)?);
    let plugins = PluginSource::Loaded(runtime.clone());
    let files = platform::Files { registry: &config.registry, plugins: &plugins, db: &config.db };
    let settings = Settings { window: config.window, delivery: config.delivery, ..Settings::default() };
    let opened = platform::open(&files, gateway, settings)?;
    let deployer = Arc::new(Deployer::new(
        runtime.clone(),
        opened.store.clone(),
        opened.pipeline.audit().clone(),
        &cache_dir(&config.db),
        config.agency_keys.clone(),
    ));
    for problem in deployer.start(&config.plugins, clock.now())? {
        eprintln!("plugin not loaded: {}", redact(&problem));
    }
    let active = runtime.active();
    let mut paused: Vec<&str> =
        active.services().map(|(p, _)| p.reference.id.as_str()).filter(|id| active.is_paused(id)).collect();
    paused.dedup();
    for id in paused {
        eprintln!("plugin {id} is disabled: its new cases wait until it is enabled through the admin API");
    }
    if runtime.active().is_empty() {
        eprintln!("no plugin is active: upload one through the admin API");
    }
    let registry_rejected: Vec<Rejected> = opened
        .registry_rejected
        .iter()
        .map(|e| Rejected {
            file: format!("{}/{}", config.registry.display(), e.file),
            line: e.line,
            problem: e.problem.clone(),
        })
        .collect();
    report_rejected(&registry_rejected);
    let tokens = if configured.is_empty() {
        let mut agencies: Vec<String> = runtime.active().services().map(|(_, s)| s.agency.clone()).collect();
        agencies.sort();
        agencies.dedup();
        let (tokens, path) = dev_tokens::load_or_create(&config.db, &agencies)?;
        eprintln!("no [[tokens]] configured: development tokens are in {}", path.display());
        tokens
    } else {
        configured
    };
    let state = Arc::new(AppState {
        pipeline: opened.pipeline,
        deployer,
        clock,
        tokens,
        work: Arc::default(),
        max_batch_lines: config.max_batch_lines,
        metrics,
        draining: Default::default(),
    });
    rt.block_on(serve(state, &config, sim, smpp))?;
    Ok(ExitCode::SUCCESS)
}

fn report_rejected(rejected: &[Rejected]) {
    for r in rejected {
        eprintln!("rejected {r}");
    }
}

async fn serve(
    state: Arc<AppState>,
    config: &ServeConfig,
    network: Option<Arc<SimNetwork>>,
    smpp: Option<(SmppSession, mpsc::Receiver<Delivery>)>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let addr = listener.local_addr()?;
    eprintln!("proactive serve: listening on http://{addr}");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let ticker = tokio::spawn(tick_loop(state.clone(), network, config.tick, config.db.clone(), stopped));
    let (session, taker) = match smpp {
        Some((session, deliveries)) => (Some(session), Some(tokio::spawn(take_deliveries(state.clone(), deliveries)))),
        None => (None, None),
    };
    let app = api::router(state.clone(), config.max_body_bytes);
    let draining = state.clone();
    let (signalled, mut signal) = tokio::sync::watch::channel(false);
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            eprintln!("proactive serve: shutting down, finishing requests in flight");
            draining.draining.store(true, Ordering::Relaxed);
            let _ = signalled.send(true);
        })
        .into_future();
    // A client that never finishes its request must not hold the shutdown forever: after
    // the drain time, open connections are dropped. Pipeline steps are transactions, and
    // the final checkpoint below waits for any step still running.
    let drain = config.drain;
    let deadline = async move {
        let _ = signal.wait_for(|s| *s).await;
        tokio::time::sleep(drain).await;
    };
    tokio::select! {
        served = server => served.context("serving HTTP")?,
        () = deadline => eprintln!("proactive serve: connections still open after {drain:?}; closing them"),
    }
    let _ = stop.send(true);
    ticker.await.context("the ticker task")?;
    // Unbinding ends the session, which closes the delivery channel and so the taker.
    if let Some(session) = session {
        session.stop().await;
    }
    if let Some(taker) = taker {
        taker.await.context("the SMPP delivery task")?;
    }
    let db = config.db.clone();
    let now = state.now();
    state
        .run(move |p| {
            if let Some(note) = p.checkpoint(now)? {
                audit::publish(&db, &note)?;
            }
            Ok(())
        })
        .await
        .map_err(|e| anyhow::anyhow!("signing the final checkpoint: {}", e.message))?;
    eprintln!("proactive serve: stopped");
    Ok(())
}

/// The wall-clock side of the pipeline: simulated replies in, timers, the outbox, and a
/// signed checkpoint every [`CHECKPOINT_EVERY`]. A failing tick is logged and retried on
/// the next one; it never stops the server.
async fn tick_loop(
    state: Arc<AppState>,
    network: Option<Arc<SimNetwork>>,
    every: Duration,
    db: PathBuf,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_checkpoint = Instant::now();
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stopped.changed() => return,
        }
        let sign = last_checkpoint.elapsed() >= CHECKPOINT_EVERY;
        let (network, db) = (network.clone(), db.clone());
        let result = state
            .blocking(true, move |s| {
                let now = s.now();
                for activated in s.deployer.activate_due(now)? {
                    tracing::info!(plugin = %activated, "a scheduled version is now active");
                }
                if let Some(m) = &s.metrics {
                    m.run_upkeep();
                }
                let p = &s.pipeline;
                for mo in network.iter().flat_map(|n| n.take_replies(now)) {
                    p.on_inbound(&mo.phone, &mo.text, mo.at, now)?;
                }
                p.resume_waiting(now, 500)?;
                p.fire_timers(now)?;
                if sign && let Some(note) = p.checkpoint(now)? {
                    audit::publish(&db, &note)?;
                }
                Ok(())
            })
            .await;
        // The outbox drains without the pipeline lock held while the gateway works.
        // Once shutdown begins no batch starts, and one under way stops at its next outcome.
        let result = match result {
            Ok(()) if !state.draining.load(Ordering::Relaxed) => {
                state
                    .blocking(false, |s| {
                        let now = s.now();
                        let hold = || s.work.lock().unwrap_or_else(|p| p.into_inner());
                        let stop = || s.draining.load(Ordering::Relaxed);
                        s.pipeline.dispatch_with(now, hold, stop)?;
                        Ok(())
                    })
                    .await
            }
            other => other,
        };
        match result {
            Ok(()) if sign => last_checkpoint = Instant::now(),
            Ok(()) => {}
            Err(e) => tracing::error!("tick failed, retrying next tick: {}", redact(&e.message)),
        }
    }
}

/// Replies and receipts from the SMSC, each taken in its own pipeline step; the session
/// acknowledges a `deliver_sm` only once its step has committed.
async fn take_deliveries(state: Arc<AppState>, mut deliveries: mpsc::Receiver<Delivery>) {
    while let Some(Delivery { incoming, ack }) = deliveries.recv().await {
        let now = state.now();
        let taken = match incoming {
            Incoming::Reply { from, text } => state.run(move |p| p.on_smsc_reply(&from, &text, now).map(drop)).await,
            Incoming::Receipt { ids, status: Some(status) } => {
                let first = ids.clone();
                match state.run(move |p| p.on_receipt_any(&first, status, now, now)).await {
                    // A receipt can overtake the record of its submission: try again a
                    // little later, without holding up the deliveries behind it.
                    Ok(ReceiptOutcome::UnknownMessage) => {
                        tokio::spawn(retry_receipt(state.clone(), ids, status, ack));
                        continue;
                    }
                    other => other.map(drop),
                }
            }
            // En route, accepted: nothing final to record. (The session joins reply parts.)
            Incoming::Receipt { status: None, .. } | Incoming::ReplyPart { .. } => Ok(()),
        };
        if let Err(e) = &taken {
            tracing::error!("an SMPP delivery was not taken; the SMSC will redeliver it: {}", redact(&e.message));
        }
        let _ = ack.send(taken.is_ok());
    }
}

/// How long a receipt for an id the host does not know yet is retried before it is
/// acknowledged and dropped.
const UNKNOWN_RECEIPT_PATIENCE: Duration = Duration::from_secs(10);

async fn retry_receipt(
    state: Arc<AppState>,
    ids: Vec<String>,
    status: crate::store::DeliveryStatus,
    ack: tokio::sync::oneshot::Sender<bool>,
) {
    let started = Instant::now();
    while started.elapsed() < UNKNOWN_RECEIPT_PATIENCE {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let ids = ids.clone();
        let now = state.now();
        match state.run(move |p| p.on_receipt_any(&ids, status, now, now)).await {
            Ok(ReceiptOutcome::UnknownMessage) => continue,
            Ok(_) => {
                let _ = ack.send(true);
                return;
            }
            Err(e) => {
                tracing::error!("an SMPP receipt was not taken; the SMSC will redeliver it: {}", redact(&e.message));
                let _ = ack.send(false);
                return;
            }
        }
    }
    crate::metrics::step("receipt", "unknown-dropped");
    tracing::warn!("a receipt names no message the host sent; acknowledged and dropped");
    let _ = ack.send(true);
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
