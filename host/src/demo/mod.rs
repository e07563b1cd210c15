//! `proactive demo` and `proactive ingest`: a scenario from files, run to completion on the
//! virtual clock, with the report.
//!
//! The demo first generates its scenario ([`population`]) into the output folder; ingest
//! takes one the user wrote. Both then go through [`run_scenario`], so what the demo shows
//! is exactly what a user's own files get.

mod population;
mod rng;

pub use population::{ALL_SCOPES, EVENTS_FILE, Generated, REGISTRY_DIR, SUBSCRIBERS_FILE, generate};

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;

use crate::audit;
use crate::gate::phone;
use crate::intake::ndjson::{self, Fields};
use crate::intake::parse_event;
use crate::model::Event;
use crate::pipeline::Settings;
use crate::platform;
pub use crate::platform::PluginSource;
use crate::report::Report;
use crate::runner::{self, RunStats};
use crate::sms::sim::{Mo, Script, SimNetwork};
use crate::store::Store;

/// Where a scenario's inputs and store are.
pub struct Scenario {
    pub events: PathBuf,
    pub registry: PathBuf,
    pub replies: Option<PathBuf>,
    pub subscribers: Option<PathBuf>,
    pub plugins: PluginSource,
    pub db: PathBuf,
    /// Stop the virtual clock here; a later run on the same store resumes.
    pub until: Option<crate::model::Timestamp>,
}

/// A rejected input line.
#[derive(Debug, Clone)]
pub struct Rejected {
    pub file: String,
    pub line: usize,
    pub problem: String,
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A problem can quote a field name or kind the sender wrote, which may be an IIN.
        write!(f, "{}:{}: {}", self.file, self.line, crate::redact::redact(&self.problem))
    }
}

pub struct Outcome {
    pub report: Report,
    pub stats: RunStats,
    pub rejected: Vec<Rejected>,
    pub plugin_errors: Vec<String>,
    pub store: Arc<dyn Store>,
}

/// Load everything, run to completion, report. Bad lines are collected, not fatal.
pub fn run_scenario(s: &Scenario, mut progress: impl FnMut(&RunStats)) -> anyhow::Result<Outcome> {
    let mut rejected = Vec::new();
    let events = read_events(&s.events, &mut rejected)?;
    let replies = match &s.replies {
        Some(p) => read_replies(p, &mut rejected)?,
        None => Vec::new(),
    };
    let scripts = match &s.subscribers {
        Some(p) => read_scripts(p, &mut rejected)?,
        None => HashMap::new(),
    };
    let network = Arc::new(SimNetwork::new(scripts));
    let files = platform::Files { registry: &s.registry, plugins: &s.plugins, db: &s.db };
    let opened = platform::open(&files, network.clone(), Settings::default())?;
    rejected.extend(opened.registry_rejected.iter().map(|e| Rejected {
        file: format!("{}/{}", s.registry.display(), e.file),
        line: e.line,
        problem: e.problem.clone(),
    }));
    let events_rejected = rejected.iter().filter(|r| r.file == s.events.display().to_string()).count() as u64;
    let stats = runner::run(&opened.pipeline, events, replies, &network, s.until, &mut progress)?;
    if let Some(note) = &stats.checkpoint {
        audit::publish(&s.db, note)?;
    }
    let store = opened.store;
    let verification = audit::verify(&*store, &opened.verifier, &audit::published(&s.db)?)?;
    let report = Report::build(&*store, &stats, events_rejected, &verification)?;
    Ok(Outcome { report, stats, rejected, plugin_errors: opened.plugin_errors, store })
}

fn open(path: &Path) -> anyhow::Result<BufReader<File>> {
    Ok(BufReader::new(File::open(path).with_context(|| format!("opening {}", path.display()))?))
}

fn read_events(path: &Path, rejected: &mut Vec<Rejected>) -> anyhow::Result<Vec<Event>> {
    let file = path.display().to_string();
    let mut events = Vec::new();
    for line in ndjson::lines(open(path)?) {
        match line.result.map_err(|e| e.to_string()).and_then(|m| parse_event(&m).map_err(|e| e.to_string())) {
            Ok(e) => events.push(e),
            Err(problem) => rejected.push(Rejected { file: file.clone(), line: line.number, problem }),
        }
    }
    Ok(events)
}

/// Replies: `{"phone": "...", "text": "...", "at": "RFC 3339"}` per line.
fn read_replies(path: &Path, rejected: &mut Vec<Rejected>) -> anyhow::Result<Vec<Mo>> {
    let file = path.display().to_string();
    let mut out = Vec::new();
    for line in ndjson::lines(open(path)?) {
        let parsed = line.result.map_err(|e| e.to_string()).and_then(|m| {
            let f = Fields::new(&m);
            let mo = (|| {
                f.only(&["phone", "text", "at"])?;
                let text = f.str("text")?;
                if text.chars().count() > 1600 {
                    return Err(ndjson::FieldError::Invalid {
                        field: "text".into(),
                        problem: "is over 1600 characters".into(),
                    });
                }
                Ok(Mo { phone: f.str("phone")?.to_owned(), text: text.to_owned(), at: f.time("at")? })
            })();
            mo.map_err(|e| e.to_string())
        });
        match parsed {
            Ok(mo) => out.push(mo),
            Err(problem) => rejected.push(Rejected { file: file.clone(), line: line.number, problem }),
        }
    }
    Ok(out)
}

pub(crate) fn read_scripts(path: &Path, rejected: &mut Vec<Rejected>) -> anyhow::Result<HashMap<String, Script>> {
    let file = path.display().to_string();
    let mut out = HashMap::new();
    for line in ndjson::lines(open(path)?) {
        let parsed = line
            .result
            .map_err(|e| e.to_string())
            .and_then(|m| {
                serde_json::from_value::<Script>(serde_json::Value::Object(m)).map_err(|_| {
                    "not a subscriber script: expected {\"phone\", \"delay_minutes\", \"answers\": {service: [texts]}}"
                        .to_owned()
                })
            })
            .and_then(|s| {
                if s.delay_minutes > crate::sms::sim::MAX_DELAY_MINUTES {
                    return Err(format!("field `delay_minutes`: at most {}", crate::sms::sim::MAX_DELAY_MINUTES));
                }
                Ok(s)
            })
            .and_then(|s| match phone::normalise(&s.phone) {
                Ok(p) => Ok((p.as_str().to_owned(), s)),
                Err(e) => Err(format!("field `phone`: {e}")),
            });
        match parsed {
            Ok((phone, script)) => {
                out.insert(phone, script);
            }
            Err(problem) => rejected.push(Rejected { file: file.clone(), line: line.number, problem }),
        }
    }
    Ok(out)
}
