//! The task that owns the SMPP connection: bind, keep alive, window, rebind, unbind.

use std::collections::HashMap;
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::{SinkExt as _, StreamExt as _};
use rusmpp::pdus::BindTransceiver;
use rusmpp::tokio_codec::CommandCodec;
use rusmpp::values::{InterfaceVersion, Npi, Ton};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, sleep, timeout};
use tokio_util::codec::Framed;

use super::pdus::Incoming;
use super::pdus::c_string;
use super::reassembly::{self, Reassembly};
use super::{Delivery, Request, SmppConfig, SubmitFailure, is_transient, pdus};
use crate::redact::redact;

type Link = Framed<TcpStream, CommandCodec>;

/// How long the host may take to store a delivery before the SMSC is told to retry it.
const DELIVERY_ACK_TIMEOUT: Duration = Duration::from_secs(30);

enum Ended {
    Stopped,
    Lost(String),
}

struct Sequence(u32);

impl Sequence {
    /// Sequence numbers run 1..=0x7FFFFFFF and wrap.
    fn next(&mut self) -> u32 {
        self.0 = if self.0 >= 0x7FFF_FFFF { 1 } else { self.0 + 1 };
        self.0
    }
}

pub(super) async fn run(
    config: SmppConfig,
    mut requests: mpsc::Receiver<Request>,
    deliveries: mpsc::Sender<Delivery>,
    bound: watch::Sender<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let mut seq = Sequence(0);
    let mut backoff = Duration::from_millis(100);
    loop {
        if *stop.borrow() {
            return;
        }
        match connect_and_bind(&config, &mut seq).await {
            Ok(mut link) => {
                backoff = Duration::from_millis(100);
                tracing::info!(smsc = %config.address, "bound to the SMSC as a transceiver");
                crate::metrics::step("smpp", "bound");
                let _ = bound.send(true);
                let ended = session(&config, &mut link, &mut seq, &mut requests, &deliveries, &mut stop).await;
                let _ = bound.send(false);
                match ended {
                    Ended::Stopped => return,
                    Ended::Lost(why) => {
                        crate::metrics::step("smpp", "unbound");
                        tracing::warn!(smsc = %config.address, "SMPP session lost, rebinding: {}", redact(&why));
                    }
                }
            }
            Err(why) => {
                crate::metrics::step("smpp", "bind-failed");
                tracing::warn!(smsc = %config.address, "cannot bind to the SMSC, retrying in {backoff:?}: {}", redact(&why));
                tokio::select! {
                    _ = sleep(backoff) => {}
                    _ = stop.changed() => return,
                }
                backoff = (backoff * 2).min(config.reconnect_max);
            }
        }
    }
}

async fn connect_and_bind(config: &SmppConfig, seq: &mut Sequence) -> Result<Link, String> {
    let stream = timeout(config.response_timeout, TcpStream::connect(&config.address))
        .await
        .map_err(|_| "connecting timed out".to_owned())?
        .map_err(|e| format!("connecting: {e}"))?;
    let _ = stream.set_nodelay(true);
    let mut link = Framed::new(stream, CommandCodec::new());
    let bind = BindTransceiver::builder()
        .system_id(c_string("system_id", &config.system_id)?)
        .password(c_string("password", &config.password)?)
        .system_type(c_string("system_type", &config.system_type)?)
        .interface_version(InterfaceVersion::Smpp3_4)
        .addr_ton(Ton::Unknown)
        .addr_npi(Npi::Unknown)
        .build();
    let n = seq.next();
    link.send(Command::new(CommandStatus::EsmeRok, n, bind)).await.map_err(|e| format!("sending bind: {e}"))?;
    let answer = timeout(config.response_timeout, async {
        while let Some(frame) = link.next().await {
            let command = frame.map_err(|e| format!("reading the bind answer: {e}"))?;
            if command.id() == CommandId::BindTransceiverResp && command.sequence_number() == n {
                return Ok(command.status());
            }
        }
        Err("the SMSC closed the connection during bind".to_owned())
    })
    .await
    .map_err(|_| "the bind answer timed out".to_owned())??;
    if answer != CommandStatus::EsmeRok {
        return Err(format!("the SMSC refused the bind (command status {:#x})", u32::from(answer)));
    }
    Ok(link)
}

async fn session(
    config: &SmppConfig,
    link: &mut Link,
    seq: &mut Sequence,
    requests: &mut mpsc::Receiver<Request>,
    deliveries: &mpsc::Sender<Delivery>,
    stop: &mut watch::Receiver<bool>,
) -> Ended {
    let window = config.window.max(1);
    let gap = match config.rate_per_second {
        0 => Duration::ZERO,
        r => Duration::from_secs(1) / r,
    };
    let mut pending: HashMap<u32, (oneshot::Sender<Result<String, SubmitFailure>>, Instant)> = HashMap::new();
    let mut acks: Acks = FuturesUnordered::new();
    let mut parts = Reassembly::default();
    let mut keepalive = tokio::time::interval(config.enquire_link);
    keepalive.tick().await;
    let mut link_asked: Option<Instant> = None;
    let mut next_send = Instant::now();
    let ended = loop {
        tokio::select! {
            _ = stop.changed() => {
                unbind(config, link, seq).await;
                break Ended::Stopped;
            }
            frame = link.next() => {
                let command = match frame {
                    None => break Ended::Lost("the SMSC closed the connection".into()),
                    Some(Err(e)) => break Ended::Lost(format!("reading a PDU: {e}")),
                    Some(Ok(c)) => c,
                };
                let n = command.sequence_number();
                let status = u32::from(command.status());
                let deliver_ok = || Some((CommandStatus::EsmeRok, Pdu::DeliverSmResp(Default::default())));
                let mut unbound = false;
                let answer = match command.id() {
                    CommandId::SubmitSmResp | CommandId::GenericNack => {
                        if let Some((reply, _)) = pending.remove(&n) {
                            let result = match (command.pdu(), status) {
                                (Some(Pdu::SubmitSmResp(r)), 0) => Ok(r.message_id().as_str().to_owned()),
                                (_, 0) => Err(SubmitFailure::Busy(0)),
                                (_, s) if is_transient(s) => Err(SubmitFailure::Busy(s)),
                                (_, s) => Err(SubmitFailure::Refused(s)),
                            };
                            let _ = reply.send(result);
                        }
                        None
                    }
                    CommandId::DeliverSm => match command.pdu() {
                        Some(Pdu::DeliverSm(sm)) => match pdus::read_deliver(sm) {
                            Ok(Incoming::ReplyPart { from, reference, total, seq, text }) => {
                                if let Some((whole, pdus)) = parts.add(from, reference, total, seq, text, n, Instant::now()) {
                                    hand_over(deliveries, &mut acks, whole, pdus);
                                }
                                None
                            }
                            Ok(incoming) => {
                                hand_over(deliveries, &mut acks, incoming, vec![n]);
                                None
                            }
                            Err(why) => {
                                // Nothing the host could do with it on a retry either.
                                crate::metrics::step("smpp", "unreadable-delivery");
                                tracing::warn!("an unreadable deliver_sm was acknowledged and dropped: {}", redact(&why));
                                deliver_ok()
                            }
                        },
                        _ => deliver_ok(),
                    },
                    CommandId::EnquireLink => Some((CommandStatus::EsmeRok, Pdu::EnquireLinkResp)),
                    CommandId::EnquireLinkResp => {
                        link_asked = None;
                        None
                    }
                    CommandId::Unbind => {
                        unbound = true;
                        Some((CommandStatus::EsmeRok, Pdu::UnbindResp))
                    }
                    // A request we do not serve: SMPP wants a generic_nack, not silence.
                    id if u32::from(id) & 0x8000_0000 == 0 => Some((CommandStatus::EsmeRinvcmdid, Pdu::GenericNack)),
                    _ => None,
                };
                if let Some((status, pdu)) = answer
                    && respond(link, n, status, pdu).await.is_err()
                {
                    break Ended::Lost("writing an answer to the SMSC".into());
                }
                if unbound {
                    break Ended::Lost("the SMSC unbound".into());
                }
            }
            Some((pdus, ok)) = acks.next(), if !acks.is_empty() => {
                let status = if ok { CommandStatus::EsmeRok } else { CommandStatus::EsmeRxTAppn };
                let mut failed = false;
                for n in pdus {
                    failed |= respond(link, n, status, Pdu::DeliverSmResp(Default::default())).await.is_err();
                }
                if failed {
                    break Ended::Lost("writing deliver_sm_resp".into());
                }
            }
            _ = keepalive.tick() => {
                let now = Instant::now();
                for (whole, pdus) in now.checked_sub(reassembly::PATIENCE).map(|cutoff| parts.expire(cutoff)).unwrap_or_default() {
                    crate::metrics::step("smpp", "reply-parts-missing");
                    hand_over(deliveries, &mut acks, whole, pdus);
                }
                if link_asked.is_some_and(|at| now - at > config.response_timeout) {
                    break Ended::Lost("no answer to enquire_link".into());
                }
                if pending.values().any(|(_, at)| now - *at > config.response_timeout) {
                    break Ended::Lost("a submit_sm went unanswered".into());
                }
                let n = seq.next();
                if link.send(Command::new(CommandStatus::EsmeRok, n, Pdu::EnquireLink)).await.is_err() {
                    break Ended::Lost("writing enquire_link".into());
                }
                link_asked.get_or_insert(now);
            }
            request = requests.recv(), if pending.len() < window => {
                let Some(Request { pdu, reply }) = request else { break Ended::Stopped };
                // Its batch has given up waiting (stopped, or failed to record): sending it
                // now would only make a copy nobody records.
                if reply.is_closed() {
                    continue;
                }
                if next_send > Instant::now() {
                    tokio::time::sleep_until(next_send).await;
                }
                next_send = Instant::now() + gap;
                let n = seq.next();
                if link.send(Command::new(CommandStatus::EsmeRok, n, pdu)).await.is_err() {
                    let _ = reply.send(Err(SubmitFailure::ConnectionLost));
                    break Ended::Lost("writing submit_sm".into());
                }
                pending.insert(n, (reply, Instant::now()));
            }
        }
    };
    // Whatever was in flight may or may not have been taken: its sender resubmits it with
    // the same host id once bound again.
    for (_, (reply, _)) in pending.drain() {
        let _ = reply.send(Err(SubmitFailure::ConnectionLost));
    }
    ended
}

/// Answers still owed to the SMSC: the PDUs a delivery came in, and whether it was taken.
type Acks = FuturesUnordered<std::pin::Pin<Box<dyn std::future::Future<Output = (Vec<u32>, bool)> + Send>>>;

/// Queues a delivery for the pipeline and owes the SMSC an answer for `pdus` once it is
/// taken. Never waits: a dispatch may be waiting on this session for submit answers. A
/// full queue drops the ack, which answers a temporary refusal, and the SMSC redelivers.
fn hand_over(deliveries: &mpsc::Sender<Delivery>, acks: &mut Acks, incoming: Incoming, pdus: Vec<u32>) {
    let (ack, taken) = oneshot::channel();
    if deliveries.try_send(Delivery { incoming, ack }).is_err() {
        crate::metrics::step("smpp", "delivery-deferred");
        tracing::warn!("the delivery queue is full: a deliver_sm was refused for now, the SMSC should redeliver it");
    }
    acks.push(Box::pin(async move {
        let ok = matches!(timeout(DELIVERY_ACK_TIMEOUT, taken).await, Ok(Ok(true)));
        (pdus, ok)
    }));
}

async fn respond(link: &mut Link, n: u32, status: CommandStatus, pdu: Pdu) -> Result<(), String> {
    link.send(Command::new(status, n, pdu)).await.map_err(|e| e.to_string())
}

/// Unbinds politely: the SMSC then stops sending receipts here and releases the account.
async fn unbind(config: &SmppConfig, link: &mut Link, seq: &mut Sequence) {
    let n = seq.next();
    if link.send(Command::new(CommandStatus::EsmeRok, n, Pdu::Unbind)).await.is_err() {
        return;
    }
    let wait = async {
        while let Some(Ok(command)) = link.next().await {
            if command.id() == CommandId::UnbindResp {
                return;
            }
        }
    };
    let _ = timeout(config.response_timeout.min(Duration::from_secs(2)), wait).await;
    tracing::info!(smsc = %config.address, "unbound from the SMSC");
}
