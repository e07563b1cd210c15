//! Runs a scenario to completion on a virtual clock: events arrive at their time, the
//! simulated network answers after its scripted delays, timers fire, the outbox drains
//! inside the sending window. Nothing waits for real time, so a month runs in seconds.

use std::time::{Duration, Instant};

use crate::model::{Event, Timestamp};
use crate::pipeline::{InboundOutcome, Ingested, Pipeline};
use crate::sms::sim::{Mo, SimNetwork};

/// What a run did, beyond what the store holds.
#[derive(Debug, Default, Clone)]
pub struct RunStats {
    /// Events handed to the run (for progress and ETA).
    pub events_total: u64,
    pub events_new: u64,
    pub events_duplicate: u64,
    /// Events whose id was already stored for a different event: refused.
    pub events_conflict: u64,
    pub replies: u64,
    pub replies_unmatched: u64,
    /// Replies already taken (the same number, time and text): replayed, not new.
    pub replies_duplicate: u64,
    pub elapsed: Duration,
    /// Virtual time covered.
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
    /// The audit checkpoint signed at the end of the run (the latest one), as a signed note.
    pub checkpoint: Option<String>,
}

/// Feed `events` (any order) and scripted `replies` through the pipeline, with `network`
/// answering questions, until nothing is left to do or the virtual clock passes `until`.
/// Everything pending stays in the store, so a later run on the same store resumes it.
pub fn run(
    pipeline: &Pipeline,
    mut events: Vec<Event>,
    mut replies: Vec<Mo>,
    network: &SimNetwork,
    until: Option<Timestamp>,
    mut progress: impl FnMut(&RunStats),
) -> anyhow::Result<RunStats> {
    let started = Instant::now();
    events.sort_by(|a, b| (a.occurred_at, &a.id).cmp(&(b.occurred_at, &b.id)));
    replies.sort_by(|a, b| (a.at, &a.phone).cmp(&(b.at, &b.phone)));
    let mut stats = RunStats { events_total: events.len() as u64, ..RunStats::default() };
    let (mut ei, mut ri) = (0usize, 0usize);
    let mut now = Timestamp::MIN;
    let mut last_progress = Instant::now();
    loop {
        let next = [
            events.get(ei).map(|e| e.occurred_at),
            replies.get(ri).map(|r| r.at),
            network.next_reply(),
            pipeline.next_wakeup(now)?,
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(t) = next.filter(|t| until.is_none_or(|u| *t <= u)) else { break };
        now = now.max(t);
        stats.first.get_or_insert(now);
        stats.last = Some(now);
        while let Some(e) = events.get(ei).filter(|e| e.occurred_at <= now) {
            match pipeline.ingest(e, now)? {
                Ingested::New { .. } => stats.events_new += 1,
                Ingested::Duplicate => stats.events_duplicate += 1,
                Ingested::Conflict => {
                    tracing::warn!(event = %e.id, "an event id already stored for a different event: refused");
                    stats.events_conflict += 1
                }
            }
            ei += 1;
        }
        let mut due: Vec<Mo> = Vec::new();
        while let Some(r) = replies.get(ri).filter(|r| r.at <= now) {
            due.push(r.clone());
            ri += 1;
        }
        due.extend(network.take_replies(now));
        for mo in due {
            stats.replies += 1;
            match pipeline.on_inbound(&mo.phone, &mo.text, mo.at.max(now), mo.at.max(now))? {
                InboundOutcome::Matched => {}
                InboundOutcome::Duplicate => stats.replies_duplicate += 1,
                InboundOutcome::Unmatched | InboundOutcome::Ambiguous => stats.replies_unmatched += 1,
            }
        }
        pipeline.fire_timers(now)?;
        pipeline.dispatch(now)?;
        if last_progress.elapsed() >= Duration::from_millis(200) {
            stats.elapsed = started.elapsed();
            progress(&stats);
            last_progress = Instant::now();
        }
    }
    // Every run ends on a signed tree head, so cutting entries off the end of the log is
    // always detectable against it.
    stats.checkpoint = pipeline.checkpoint(stats.last.unwrap_or(0))?;
    stats.elapsed = started.elapsed();
    Ok(stats)
}
