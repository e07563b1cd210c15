//! The registries the gate asks: the e-government mobile registry, the consent service,
//! the list of state bodies, and the facts plugins may read.
//!
//! Each is a port, because production talks to real services over HTTP while the embedded
//! default loads snapshot files. [`SnapshotRegistry`] is that default.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use proactive_sdk::domain::{Bin, Iin};

use super::consent::Consent;
use super::phone::{self, MobileNumber, PhoneError};
use crate::intake::ndjson::{self, FieldError, Fields};
use crate::model::Language;

/// A number registered on the e-government portal, normalised by the port that read it:
/// people registered numbers in whatever format, and parsing them once at load (rather than
/// on every gate check) is both faster and the moment a bad entry can be reported.
#[derive(Debug, Clone)]
pub struct Registration {
    /// A Kazakh mobile number, or why the registered number is not one (a landline, a
    /// foreign number).
    pub phone: Result<MobileNumber, PhoneError>,
    pub language: Language,
}

pub trait NumberLookup: Send + Sync {
    fn lookup(&self, person: &str) -> Option<Registration>;
}

pub trait ConsentRegistry: Send + Sync {
    fn consents(&self, person: &str) -> Vec<Consent>;
}

pub trait StateBodyRegistry: Send + Sync {
    fn is_state_body(&self, id: &str) -> bool;
}

pub trait FactRegistry: Send + Sync {
    fn fact(&self, person: &str, scope: &str, key: &str) -> Option<String>;
}

/// The four ports together.
#[derive(Clone)]
pub struct Registries {
    pub numbers: Arc<dyn NumberLookup>,
    pub consents: Arc<dyn ConsentRegistry>,
    pub state_bodies: Arc<dyn StateBodyRegistry>,
    pub facts: Arc<dyn FactRegistry>,
}

impl Registries {
    pub fn from_snapshot(s: SnapshotRegistry) -> Self {
        let s = Arc::new(s);
        Registries { numbers: s.clone(), consents: s.clone(), state_bodies: s.clone(), facts: s }
    }
}

/// The snapshot file names inside a registry folder.
pub const NUMBERS_FILE: &str = "numbers.ndjson";
pub const CONSENTS_FILE: &str = "consents.ndjson";
pub const STATE_BODIES_FILE: &str = "state-bodies.ndjson";
pub const FACTS_FILE: &str = "facts.ndjson";

/// Registries loaded from NDJSON snapshot files.
#[derive(Default)]
pub struct SnapshotRegistry {
    numbers: HashMap<String, Registration>,
    consents: HashMap<String, Vec<Consent>>,
    state_bodies: HashSet<String>,
    facts: HashMap<(String, String, String), String>,
}

/// A bad snapshot line: the file and line, never its content.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file}:{line}: {problem}")]
pub struct SnapshotError {
    pub file: &'static str,
    pub line: usize,
    pub problem: String,
}

impl NumberLookup for SnapshotRegistry {
    fn lookup(&self, person: &str) -> Option<Registration> {
        self.numbers.get(person).cloned()
    }
}

impl ConsentRegistry for SnapshotRegistry {
    fn consents(&self, person: &str) -> Vec<Consent> {
        self.consents.get(person).cloned().unwrap_or_default()
    }
}

impl StateBodyRegistry for SnapshotRegistry {
    fn is_state_body(&self, id: &str) -> bool {
        self.state_bodies.contains(id)
    }
}

impl FactRegistry for SnapshotRegistry {
    fn fact(&self, person: &str, scope: &str, key: &str) -> Option<String> {
        self.facts.get(&(person.to_owned(), scope.to_owned(), key.to_owned())).cloned()
    }
}

fn person_id(f: &Fields<'_>, field: &str) -> Result<String, FieldError> {
    let raw = f.str(field)?;
    if Iin::parse(raw).is_ok() || Bin::parse(raw).is_ok() {
        Ok(raw.trim().to_owned())
    } else {
        Err(FieldError::Invalid { field: field.into(), problem: "is neither a valid IIN nor a valid BIN".into() })
    }
}

impl SnapshotRegistry {
    /// Load a registry folder. Missing files are empty registries; bad lines are skipped
    /// and returned, so one typo does not hide a whole snapshot.
    pub fn load_dir(dir: &Path) -> anyhow::Result<(Self, Vec<SnapshotError>)> {
        if !dir.is_dir() {
            anyhow::bail!("the registry folder {} does not exist or is not a folder", dir.display());
        }
        let mut reg = SnapshotRegistry::default();
        let mut errors = Vec::new();
        read(dir, (NUMBERS_FILE, Presence::Required), &mut errors, |f| {
            f.only(&["iin", "phone", "lang"])?;
            let person = person_id(f, "iin")?;
            let language = match f.opt_str("lang")? {
                None => Language::default(),
                Some(l) => Language::parse(l)
                    .ok_or_else(|| FieldError::Invalid { field: "lang".into(), problem: "must be kk or ru".into() })?,
            };
            let phone = match phone::normalise(f.str("phone")?) {
                Err(PhoneError::Unparseable) => {
                    return Err(FieldError::Invalid { field: "phone".into(), problem: "is not a phone number".into() });
                }
                other => other,
            };
            reg.numbers.insert(person, Registration { phone, language });
            Ok(())
        })?;
        read(dir, (CONSENTS_FILE, Presence::Required), &mut errors, |f| {
            f.only(&["id", "iin", "scopes", "granted_at", "expires_at", "revoked_at"])?;
            let id = f.str("id")?;
            if crate::redact::has_identifier_digits(id) {
                return Err(FieldError::Invalid {
                    field: "id".into(),
                    problem: "must not contain an identifier (a run of 10 or more digits): ids enter the audit log"
                        .into(),
                });
            }
            let consent = Consent {
                id: id.to_owned(),
                scopes: f.str_list("scopes")?.into_iter().map(str::to_owned).collect(),
                granted_at: f.time("granted_at")?,
                expires_at: f.opt_time("expires_at")?,
                revoked_at: f.opt_time("revoked_at")?,
            };
            reg.consents.entry(person_id(f, "iin")?).or_default().push(consent);
            Ok(())
        })?;
        read(dir, (STATE_BODIES_FILE, Presence::Optional), &mut errors, |f| {
            f.only(&["bin", "name", "kind"])?;
            reg.state_bodies.insert(person_id(f, "bin")?);
            Ok(())
        })?;
        read(dir, (FACTS_FILE, Presence::Optional), &mut errors, |f| {
            f.only(&["iin", "scope", "key", "value"])?;
            let k = (person_id(f, "iin")?, f.str("scope")?.to_owned(), f.str("key")?.to_owned());
            reg.facts.insert(k, f.str("value")?.to_owned());
            Ok(())
        })?;
        Ok((reg, errors))
    }

    /// How many records each registry holds, for the run's header.
    pub fn sizes(&self) -> BTreeMap<&'static str, usize> {
        BTreeMap::from([
            ("numbers", self.numbers.len()),
            ("consents", self.consents.values().map(Vec::len).sum()),
            ("state-bodies", self.state_bodies.len()),
            ("facts", self.facts.len()),
        ])
    }
}

/// Whether a snapshot file must exist. Without numbers or consents every case would be
/// gated out, and events are idempotent: a typo in a path would cost citizens their offers
/// for good, so those two are required. No state bodies or no facts is a legitimate state.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Presence {
    Required,
    Optional,
}

fn read(
    dir: &Path,
    (file, presence): (&'static str, Presence),
    errors: &mut Vec<SnapshotError>,
    mut each: impl FnMut(&Fields<'_>) -> Result<(), FieldError>,
) -> anyhow::Result<()> {
    let path = dir.join(file);
    let handle = match File::open(&path) {
        Ok(h) => h,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && presence == Presence::Optional => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            anyhow::bail!("the registry snapshot {} is missing (an empty file means an empty registry)", path.display())
        }
        Err(e) => return Err(anyhow::anyhow!("cannot open {}: {e}", path.display())),
    };
    for line in ndjson::lines(BufReader::new(handle)) {
        let result =
            line.result.map_err(|e| e.to_string()).and_then(|m| each(&Fields::new(&m)).map_err(|e| e.to_string()));
        if let Err(problem) = result {
            errors.push(SnapshotError { file, line: line.number, problem });
        }
    }
    Ok(())
}
