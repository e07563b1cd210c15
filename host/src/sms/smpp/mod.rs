//! The SMPP 3.4 gateway: an ESME bound as a transceiver to an operator's SMSC.
//!
//! One task owns the connection ([`session`]): it binds, keeps the link alive with
//! `enquire_link`, rebinds with back-off when the connection drops, keeps at most
//! `window` `submit_sm` unacknowledged and at most `rate_per_second` a second, and answers
//! every `deliver_sm`, but only once the host has durably taken what it brought, so a
//! crash never loses a reply the SMSC believes was delivered.
//!
//! The pipeline's dispatch step is synchronous and runs on a blocking thread; it hands a
//! batch of messages to [`SmppGateway`], which submits them through the session
//! concurrently and waits for the answers. A throttled or queue-full answer is retried
//! after a back-off, a lost connection after the rebind; only a permanent refusal is
//! reported as one. A batch that cannot finish within `submit_deadline` reports the rest
//! as transient, so the outbox keeps them queued for the next tick.

pub mod pdus;
mod reassembly;
mod session;

use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use futures::StreamExt as _;

use crate::sms::gateway::{Done, Gateway, GatewayError, Next, OutgoingSms, Progress};
pub use pdus::{Incoming, Source};

/// How to reach and use the SMSC account.
#[derive(Debug, Clone)]
pub struct SmppConfig {
    /// `host:port`.
    pub address: String,
    pub system_id: String,
    pub password: String,
    pub system_type: String,
    pub source: Source,
    /// `submit_sm` sent and not yet answered, at most.
    pub window: usize,
    /// `submit_sm` a second, at most (0: no limit).
    pub rate_per_second: u32,
    pub enquire_link: Duration,
    /// How long an answer may take before the link is taken for dead.
    pub response_timeout: Duration,
    /// The longest wait between reconnection attempts.
    pub reconnect_max: Duration,
    /// How long one dispatch batch may spend submitting.
    pub submit_deadline: Duration,
}

impl SmppConfig {
    pub fn new(address: impl Into<String>) -> Self {
        SmppConfig {
            address: address.into(),
            system_id: "proactive".into(),
            password: String::new(),
            system_type: String::new(),
            source: Source { addr: "1414".into(), ton: 0, npi: 1 },
            window: 10,
            rate_per_second: 0,
            enquire_link: Duration::from_secs(30),
            response_timeout: Duration::from_secs(10),
            reconnect_max: Duration::from_secs(30),
            submit_deadline: Duration::from_secs(5),
        }
    }
}

/// Something the SMSC delivered; `ack` says whether the host took it (the session answers
/// `deliver_sm_resp` accordingly, and the SMSC redelivers what was not taken).
#[derive(Debug)]
pub struct Delivery {
    pub incoming: Incoming,
    pub ack: oneshot::Sender<bool>,
}

/// Deliveries (replies, receipts) waiting for the pipeline, at most.
const DELIVERY_QUEUE: usize = 4096;

/// Why one `submit_sm` did not get an id.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SubmitFailure {
    /// The SMSC asked us to slow down or wait (throttled, queue full, a passing fault).
    Busy(u32),
    /// The connection went before the answer came; whether the SMSC took it is unknown.
    ConnectionLost,
    /// The SMSC will never take this PDU.
    Refused(u32),
}

struct Request {
    pdu: rusmpp::pdus::SubmitSm,
    reply: oneshot::Sender<Result<String, SubmitFailure>>,
}

/// Command statuses that mean "not now" rather than "never".
fn is_transient(status: u32) -> bool {
    matches!(
        status,
        0x08 // ESME_RSYSERR
            | 0x14 // ESME_RMSGQFUL
            | 0x45 // ESME_RSUBMITFAIL
            | 0x58 // ESME_RTHROTTLED
            | 0x64 // ESME_RX_T_APPN
    )
}

pub struct SmppGateway {
    config: SmppConfig,
    requests: mpsc::Sender<Request>,
    bound: watch::Receiver<bool>,
    handle: tokio::runtime::Handle,
}

/// The running session: stop it to unbind.
pub struct SmppSession {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl SmppSession {
    /// Unbinds (waiting briefly for the SMSC's answer) and closes the connection.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

impl SmppGateway {
    /// Starts the session on `handle`'s runtime. Deliveries (replies and receipts) arrive
    /// on the returned receiver.
    pub fn start(
        config: SmppConfig,
        handle: &tokio::runtime::Handle,
    ) -> (SmppGateway, SmppSession, mpsc::Receiver<Delivery>) {
        let (requests, requests_rx) = mpsc::channel(config.window.max(1) * 4);
        // Room for far more than an SMSC keeps unacknowledged: a dispatch holding the
        // pipeline (up to `submit_deadline`) delays the taking, and a full queue would
        // refuse deliveries that an SMSC without retries then loses.
        let (deliveries, deliveries_rx) = mpsc::channel(DELIVERY_QUEUE);
        let (bound_tx, bound) = watch::channel(false);
        let (stop, stop_rx) = watch::channel(false);
        let task = handle.spawn(session::run(config.clone(), requests_rx, deliveries, bound_tx, stop_rx));
        let gateway = SmppGateway { config, requests, bound, handle: handle.clone() };
        (gateway, SmppSession { stop, task }, deliveries_rx)
    }

    /// Whether the session is bound now.
    pub fn is_bound(&self) -> bool {
        *self.bound.borrow()
    }

    /// Waits until the session is bound, up to `timeout`.
    pub async fn wait_bound(&self, timeout: Duration) -> bool {
        let mut bound = self.bound.clone();
        tokio::time::timeout(timeout, bound.wait_for(|b| *b)).await.is_ok_and(|r| r.is_ok())
    }

    async fn submit_part(
        &self,
        pdu: rusmpp::pdus::SubmitSm,
        deadline: tokio::time::Instant,
    ) -> Result<String, GatewayError> {
        let mut backoff = Duration::from_millis(50);
        loop {
            let (reply, answer) = oneshot::channel();
            let sent = self.requests.send(Request { pdu: pdu.clone(), reply }).await;
            let failure = match sent {
                Err(_) => return Err(GatewayError::Transient("the SMPP session has stopped".into())),
                Ok(()) => match answer.await {
                    Ok(Ok(id)) => return Ok(id),
                    Ok(Err(SubmitFailure::Refused(status))) => {
                        crate::metrics::step("smpp", "refused");
                        return Err(GatewayError::Rejected(format!(
                            "the SMSC refused it (command status {status:#x})"
                        )));
                    }
                    Ok(Err(f)) => f,
                    Err(_) => SubmitFailure::ConnectionLost,
                },
            };
            crate::metrics::step(
                "smpp",
                if failure == SubmitFailure::ConnectionLost { "connection-lost" } else { "busy" },
            );
            if tokio::time::Instant::now() + backoff > deadline {
                return Err(GatewayError::Transient(match failure {
                    SubmitFailure::Busy(status) => format!("the SMSC is busy (command status {status:#x})"),
                    _ => "the SMSC connection is down".into(),
                }));
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    /// Submits the parts `sms.taken_parts` does not already cover, in order, telling
    /// `taken` about each part as the SMSC takes it.
    async fn submit_message(
        &self,
        sms: &OutgoingSms<'_>,
        deadline: tokio::time::Instant,
        taken: impl Fn(u32, String),
    ) -> Result<Vec<String>, GatewayError> {
        let pdus = pdus::submit_pdus(sms, &self.config.source).map_err(GatewayError::Rejected)?;
        let total = pdus.len();
        let mut ids: Vec<String> = sms.taken_parts.iter().take(total).cloned().collect();
        // Parts go in order: handsets reassemble any order, but some SMSCs forward as they come.
        for pdu in pdus.into_iter().skip(ids.len()) {
            let id = self.submit_part(pdu, deadline).await?;
            if total > 1 && ids.len() + 1 < total {
                taken(ids.len() as u32 + 1, id.clone());
            }
            ids.push(id);
        }
        Ok(ids)
    }
}

impl Gateway for SmppGateway {
    fn connected(&self) -> Option<bool> {
        Some(self.is_bound())
    }

    fn submit(&self, sms: &OutgoingSms<'_>) -> Result<Vec<String>, GatewayError> {
        let mut out = Err(GatewayError::Transient("nothing submitted".into()));
        self.submit_each(std::slice::from_ref(sms), &mut |_, progress| {
            if let Progress::Done(r) = progress {
                out = r;
            }
            Ok(Next::Continue)
        })
        .map_err(|e| GatewayError::Transient(e.to_string()))?;
        out
    }

    fn submit_each(&self, batch: &[OutgoingSms<'_>], done: &mut Done<'_>) -> anyhow::Result<()> {
        if !self.is_bound() {
            // Reported once: the rest stay queued, as after any transient failure.
            if !batch.is_empty() {
                done(0, Progress::Done(Err(GatewayError::Transient("not bound to the SMSC".into()))))?;
            }
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + self.config.submit_deadline;
        let (parts, mut taken) = mpsc::unbounded_channel::<(usize, u32, String)>();
        let stopped = std::sync::atomic::AtomicBool::new(false);
        let stopped = &stopped;
        self.handle.block_on(async {
            // No more messages under way than the window holds parts: a crash then leaves
            // at most a window's worth of parts in doubt.
            let mut running = futures::stream::iter(batch.iter().enumerate())
                .map(|(i, sms)| {
                    let parts = parts.clone();
                    async move {
                        // Past the deadline nothing new starts (what is under way finishes
                        // within the response timeout), so a slow SMSC bounds the batch.
                        if tokio::time::Instant::now() >= deadline {
                            return (i, Err(GatewayError::Transient("the batch ran out of time".into())));
                        }
                        if stopped.load(std::sync::atomic::Ordering::SeqCst) {
                            return (i, Err(GatewayError::Transient("the batch was stopped".into())));
                        }
                        let result = self.submit_message(sms, deadline, |part, id| {
                            let _ = parts.send((i, part, id));
                        });
                        (i, result.await)
                    }
                })
                .buffer_unordered(self.config.window.max(1));
            loop {
                tokio::select! {
                    biased;
                    Some((i, part, id)) = taken.recv() => {
                        done(i, Progress::Part { part, id })?;
                    }
                    next = running.next() => {
                        let Some((i, result)) = next else { break };
                        // A message's parts are reported before it is.
                        while let Ok((j, part, id)) = taken.try_recv() {
                            done(j, Progress::Part { part, id })?;
                        }
                        if done(i, Progress::Done(result))? == Next::Stop {
                            stopped.store(true, std::sync::atomic::Ordering::SeqCst);
                        }
                    }
                }
            }
            Ok(())
        })
    }
}
