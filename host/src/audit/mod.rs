//! The audit log: every step of every case as a canonical-JSON entry, the leaves of an
//! RFC 9162 Merkle tree whose heads the host signs ([`checkpoint`]). Changing, removing,
//! reordering or inserting a stored row is found by [`verify`], which names the first bad
//! entry; cutting off the end is found against the last signed checkpoint; and anyone with
//! the public key can check an inclusion or consistency proof ([`merkle`]).
//!
//! **Architecture invariant:** personal identifiers enter entries only as keyed hashes
//! ([`keys::Keys::keyed_hash`]), so erasing a citizen's data elsewhere never breaks the
//! tree, and the log itself is not a register of IINs and phone numbers.

pub mod checkpoint;
pub mod history;
pub mod keys;
pub mod merkle;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{PluginRef, Timestamp};
use crate::store::{AuditRow, CaseId, Store, StoredCheckpoint, Tx};
use checkpoint::{Checkpoint, NoteError, Verifier};
use keys::Keys;
use merkle::{Frontier, Hash, Nodes};

/// How often the pipeline signs a checkpoint on its own, in entries, besides the one at the
/// end of every run. It bounds how far a rewrite that recomputes every hash can hide: such
/// a rewrite is placed between two checkpoints, so within this many entries.
pub const CHECKPOINT_EVERY: u64 = 1000;

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// The host's own machinery (intake, lifecycle, timers).
    Host,
    /// The legal gate.
    Gate,
    /// The SMS channel.
    Sms,
    /// A ministry's logic: which build, to the byte.
    Plugin(PluginRef),
    /// An administrator, by token id (the admin API, once it exists).
    Admin(String),
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Host => f.write_str("host"),
            Actor::Gate => f.write_str("gate"),
            Actor::Sms => f.write_str("sms"),
            Actor::Plugin(p) => write!(f, "plugin:{}@{}#sha256:{}", p.id, p.version, p.hash),
            Actor::Admin(token) => write!(f, "admin:{token}"),
        }
    }
}

/// One audit entry. `seq` is its position (1-based) and is part of what is hashed, so an
/// entry moved to another row no longer matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    pub at: Timestamp,
    pub actor: String,
    pub action: String,
    pub case_id: Option<CaseId>,
    /// What the step came to: a gate verdict, a decision, a case state.
    pub outcome: Option<String>,
    /// The legal ground: a clause of the Rules for the gate, the plugin's ground for a refusal.
    pub ground: Option<String>,
    /// The consent record the step relied on.
    pub consent: Option<String>,
    pub detail: Value,
}

impl Entry {
    pub fn new(at: Timestamp, actor: &Actor, action: &str) -> Entry {
        Entry {
            seq: 0,
            at,
            actor: actor.to_string(),
            action: action.to_owned(),
            case_id: None,
            outcome: None,
            ground: None,
            consent: None,
            detail: Value::Object(Default::default()),
        }
    }

    pub fn case(mut self, id: impl Into<Option<CaseId>>) -> Self {
        self.case_id = id.into();
        self
    }

    pub fn outcome(mut self, outcome: impl Into<String>) -> Self {
        self.outcome = Some(outcome.into());
        self
    }

    pub fn ground(mut self, ground: Option<impl Into<String>>) -> Self {
        self.ground = ground.map(Into::into);
        self
    }

    pub fn consent(mut self, consent: Option<impl Into<String>>) -> Self {
        self.consent = consent.map(Into::into);
        self
    }

    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }
}

/// Canonical JSON: object keys sorted at every depth, no insignificant whitespace. The
/// bytes are what is hashed, so they must not depend on how a map happens to be ordered.
pub fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The pipeline's handle on the log: appends entries inside the step's transaction, signs
/// checkpoints, and hashes personal identifiers with the host's secret.
pub struct AuditLog {
    keys: Arc<Keys>,
    checkpoint_every: u64,
}

impl AuditLog {
    pub fn new(keys: Keys) -> AuditLog {
        AuditLog { keys: Arc::new(keys), checkpoint_every: CHECKPOINT_EVERY }
    }

    /// A log with throwaway keys (tests, benchmarks).
    pub fn ephemeral() -> AuditLog {
        AuditLog::new(Keys::ephemeral())
    }

    /// Sign a checkpoint every `n` entries (0: only when asked).
    pub fn checkpoint_every(mut self, n: u64) -> AuditLog {
        self.checkpoint_every = n;
        self
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The keyed hash an IIN (or a BIN) enters the log as.
    pub fn identity(&self, iin: &str) -> String {
        self.keys.keyed_hash("id", iin)
    }

    /// The keyed hash a phone number enters the log as (pass the normalised E.164 form).
    pub fn phone(&self, phone: &str) -> String {
        self.keys.keyed_hash("phone", phone)
    }

    /// Append an entry in `tx`; returns its sequence number. Completes the Merkle nodes the
    /// new leaf closes, and signs a checkpoint when the size reaches a multiple of the
    /// interval, all in the same transaction.
    pub fn append(&self, tx: &mut dyn Tx, mut entry: Entry) -> anyhow::Result<u64> {
        let index = tx.audit_size()?;
        entry.seq = index + 1;
        let json = canonical(&serde_json::to_value(&entry)?);
        let leaf = merkle::leaf_hash(json.as_bytes());
        tx.insert_audit(&AuditRow { seq: entry.seq, entry: json, leaf: hex::encode(leaf) })?;
        let completed = merkle::complete(&mut TxNodes(tx), index, leaf)?;
        tx.put_audit_nodes(&completed)?;
        if self.checkpoint_every > 0 && entry.seq.is_multiple_of(self.checkpoint_every) {
            self.sign(tx, entry.seq, entry.at)?;
        }
        Ok(entry.seq)
    }

    /// Sign the current tree unless the latest checkpoint already covers it; returns the
    /// latest signed note either way (none for an empty log).
    pub fn checkpoint(&self, tx: &mut dyn Tx, at: Timestamp) -> anyhow::Result<Option<String>> {
        let size = tx.audit_size()?;
        let latest = tx.latest_checkpoint()?;
        match latest {
            Some(c) if c.size == size => Ok(Some(c.note)),
            _ if size == 0 => Ok(None),
            _ => self.sign(tx, size, at).map(Some),
        }
    }

    fn sign(&self, tx: &mut dyn Tx, size: u64, at: Timestamp) -> anyhow::Result<String> {
        let root = merkle::root(&mut TxNodes(tx), size)?;
        let note = Checkpoint { size, root, time: at }.sign(self.keys.signing());
        tx.insert_checkpoint(&StoredCheckpoint { size, at, root: hex::encode(root), note: note.clone() })?;
        Ok(note)
    }
}

/// The tree's stored nodes, read inside a transaction.
struct TxNodes<'a>(&'a mut dyn Tx);

impl Nodes for TxNodes<'_> {
    fn node(&mut self, level: u32, index: u64) -> anyhow::Result<Hash> {
        self.0.audit_node(level, index)?.ok_or_else(|| missing_node(level, index))
    }
}

/// The tree's stored nodes, read from the store (proofs).
pub struct StoreNodes<'a>(pub &'a dyn Store);

impl Nodes for StoreNodes<'_> {
    fn node(&mut self, level: u32, index: u64) -> anyhow::Result<Hash> {
        self.0.audit_node(level, index)?.ok_or_else(|| missing_node(level, index))
    }
}

fn missing_node(level: u32, index: u64) -> anyhow::Error {
    anyhow::anyhow!("the store has no Merkle node at level {level}, index {index}: the audit table was cut or altered")
}

/// What is wrong with a log, at the first place it goes wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A sequence number is missing: the row was deleted.
    Missing { seq: u64 },
    /// The row holds the entry written at another position: rows were reordered, or one
    /// was inserted or deleted before it and the rest renumbered.
    Misplaced { seq: u64, recorded: u64 },
    /// The entry's bytes do not match the leaf hash stored beside them: the row was edited.
    Altered { seq: u64 },
    /// The row is not an audit entry at all.
    Unreadable { seq: u64 },
    /// Every row matches its own hash, but the tree of the first `to` entries is not the one
    /// the host signed: entries after `from` were rewritten with their hashes recomputed.
    Rewritten { from: u64, to: u64 },
    /// The log is shorter than a signed checkpoint: entries after `entries` were removed.
    Truncated { entries: u64, signed: u64 },
    /// A checkpoint the host's key did not sign.
    ForeignCheckpoint { size: Option<u64>, why: NoteError },
    /// Two checkpoints the host signed for the same size disagree on the root.
    Forked { size: u64 },
}

impl Problem {
    /// The first entry known to be bad, when one can be named.
    pub fn entry(&self) -> Option<u64> {
        match *self {
            Problem::Missing { seq } | Problem::Misplaced { seq, .. } => Some(seq),
            Problem::Altered { seq } | Problem::Unreadable { seq } => Some(seq),
            Problem::Truncated { entries, .. } => Some(entries + 1),
            // A rewrite with recomputed hashes is placed between two checkpoints, not at one
            // entry; the message names the range.
            Problem::Rewritten { .. } | Problem::ForeignCheckpoint { .. } | Problem::Forked { .. } => None,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Missing { seq } => write!(f, "entry {seq} is missing: the row was deleted"),
            Problem::Misplaced { seq, recorded } => write!(
                f,
                "entry {seq} holds the entry written at position {recorded}: rows were reordered, \
                 or one was inserted or deleted before it"
            ),
            Problem::Altered { seq } => write!(f, "entry {seq} does not match its leaf hash: the row was changed"),
            Problem::Unreadable { seq } => write!(f, "entry {seq} is not an audit entry: the row was changed"),
            Problem::Rewritten { from, to } => write!(
                f,
                "entries {}..={to} do not make the tree the host signed at size {to}: \
                 one of them was rewritten with its hashes recomputed",
                from + 1
            ),
            Problem::Truncated { entries, signed } => write!(
                f,
                "the log has {entries} entries but the host signed a checkpoint at {signed}: \
                 entries {}..={signed} were removed",
                entries + 1
            ),
            Problem::ForeignCheckpoint { size: Some(size), why } => {
                write!(f, "the checkpoint at size {size} is refused: {why}")
            }
            Problem::ForeignCheckpoint { size: None, why } => write!(f, "a checkpoint is refused: {why}"),
            Problem::Forked { size } => {
                write!(f, "two signed checkpoints at size {size} have different roots: the log forked")
            }
        }
    }
}

/// What a whole recomputation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    Intact(Summary),
    Broken(Problem),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub entries: u64,
    pub root: Hash,
    /// Signed checkpoints checked (stored and given).
    pub checkpoints: usize,
    /// The size of the largest one; entries past it are not yet signed.
    pub signed: u64,
}

/// Recompute the whole tree from the stored entries and check it against every stored
/// checkpoint and every `extra` signed note (one an auditor kept, or the host's published
/// latest), all of which must be signed by `verifier`.
pub fn verify(store: &dyn Store, verifier: &Verifier, extra: &[String]) -> anyhow::Result<Verification> {
    let stored = store.checkpoints()?;
    let mut signed: Vec<Checkpoint> = Vec::with_capacity(stored.len() + extra.len());
    for note in stored.iter().map(|c| (Some(c.size), &c.note)).chain(extra.iter().map(|n| (None, n))) {
        match Checkpoint::open(note.1, verifier) {
            Ok(c) if note.0.is_none_or(|s| s == c.size) => signed.push(c),
            Ok(c) => {
                // A stored row relabelled to another size than the note inside it.
                let why = NoteError::Malformed("the row's size is not the size signed");
                return Ok(Verification::Broken(Problem::ForeignCheckpoint { size: Some(c.size), why }));
            }
            Err(why) => return Ok(Verification::Broken(Problem::ForeignCheckpoint { size: note.0, why })),
        }
    }
    signed.sort_by_key(|c| c.size);
    // The same tree head signed twice (a stored row and the published copy) is one.
    signed.dedup_by(|a, b| a.size == b.size && a.root == b.root);
    if let Some(w) = signed.windows(2).find(|w| w[0].size == w[1].size) {
        return Ok(Verification::Broken(Problem::Forked { size: w[0].size }));
    }
    let mut pending = signed.iter().peekable();
    let mut last_signed = 0;
    let mut frontier = Frontier::default();
    #[derive(Deserialize)]
    struct Position {
        seq: u64,
    }
    loop {
        let rows = store.audit_rows(frontier.size(), 10_000)?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            let expected = frontier.size() + 1;
            if row.seq != expected {
                return Ok(Verification::Broken(Problem::Missing { seq: expected }));
            }
            let leaf = merkle::leaf_hash(row.entry.as_bytes());
            if hex::encode(leaf) != row.leaf {
                return Ok(Verification::Broken(Problem::Altered { seq: row.seq }));
            }
            match serde_json::from_str::<Position>(&row.entry) {
                Ok(p) if p.seq == row.seq => {}
                Ok(p) => return Ok(Verification::Broken(Problem::Misplaced { seq: row.seq, recorded: p.seq })),
                Err(_) => return Ok(Verification::Broken(Problem::Unreadable { seq: row.seq })),
            }
            frontier.push(leaf);
            while let Some(c) = pending.next_if(|c| c.size == frontier.size()) {
                if c.root != frontier.root() {
                    return Ok(Verification::Broken(Problem::Rewritten { from: last_signed, to: c.size }));
                }
                last_signed = c.size;
            }
        }
    }
    if let Some(c) = signed.last().filter(|c| c.size > frontier.size()) {
        return Ok(Verification::Broken(Problem::Truncated { entries: frontier.size(), signed: c.size }));
    }
    Ok(Verification::Intact(Summary {
        entries: frontier.size(),
        root: frontier.root(),
        checkpoints: signed.len(),
        signed: last_signed,
    }))
}

/// Where the latest signed checkpoint of a store is published: a file beside it, outside
/// the database, so whoever cuts rows and checkpoints out of the database still leaves the
/// signed size behind. (A deployment would also hand it to an outside witness.)
pub fn published_path(db: &Path) -> PathBuf {
    PathBuf::from(format!("{}.checkpoint", db.display()))
}

/// Replace the published checkpoint (write, then rename, so a reader never sees half).
pub fn publish(db: &Path, note: &str) -> anyhow::Result<()> {
    let path = published_path(db);
    let tmp = PathBuf::from(format!("{}.tmp", path.display()));
    std::fs::write(&tmp, note).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("publishing {}", path.display()))?;
    Ok(())
}

/// The published checkpoint of a store, if there is one (for [`verify`]'s `extra`).
pub fn published(db: &Path) -> anyhow::Result<Vec<String>> {
    match std::fs::read_to_string(published_path(db)) {
        Ok(note) => Ok(vec![note]),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", published_path(db).display())),
    }
}

/// Refuse to extend a log that no longer matches its published checkpoint. Appending to a
/// cut or rewritten log and signing the result would replace the published note, the one
/// piece of evidence outside the database. O(log² n) reads, so every run can afford it.
pub fn check_published(store: &dyn Store, verifier: &Verifier, db: &Path) -> anyhow::Result<()> {
    for note in published(db)? {
        let signed = Checkpoint::open(&note, verifier).context("the published audit checkpoint")?;
        let root = merkle::root(&mut StoreNodes(store), signed.size).ok();
        anyhow::ensure!(
            root == Some(signed.root),
            "the audit log no longer matches its published checkpoint at size {}; nothing was run \
             (see `proactive audit verify --db {}`)",
            signed.size,
            db.display()
        );
    }
    Ok(())
}

/// An inclusion proof for one entry against a signed tree head.
#[derive(Debug, Clone)]
pub struct Inclusion {
    pub seq: u64,
    pub entry: String,
    pub leaf: Hash,
    pub checkpoint: Checkpoint,
    pub path: Vec<Hash>,
}

/// Prove that entry `seq` is in the tree of the latest stored checkpoint that covers it.
/// The proof is built from the store's nodes and then checked, here, against the signed
/// root: a corrupted store cannot produce a proof that passes.
pub fn prove(store: &dyn Store, verifier: &Verifier, seq: u64) -> anyhow::Result<(Inclusion, bool)> {
    let Some(stored) = store.checkpoints()?.into_iter().rev().find(|c| c.size >= seq) else {
        anyhow::bail!("no signed checkpoint covers entry {seq} yet");
    };
    let checkpoint = Checkpoint::open(&stored.note, verifier)?;
    let Some(row) = store.audit_rows(seq.saturating_sub(1), 1)?.into_iter().next().filter(|r| r.seq == seq) else {
        anyhow::bail!("there is no entry {seq}");
    };
    let leaf = merkle::leaf_hash(row.entry.as_bytes());
    let path = merkle::inclusion_proof(&mut StoreNodes(store), seq - 1, checkpoint.size)?;
    let ok = merkle::verify_inclusion(seq - 1, checkpoint.size, &leaf, &path, &checkpoint.root);
    Ok((Inclusion { seq, entry: row.entry, leaf, checkpoint, path }, ok))
}

/// A consistency proof between two signed checkpoints.
#[derive(Debug, Clone)]
pub struct Consistency {
    pub old: Checkpoint,
    pub new: Checkpoint,
    pub path: Vec<Hash>,
}

/// Prove that the checkpoint at `old` size is a prefix of the one at `new` size (both
/// stored and signed), and check it.
pub fn prove_consistency(
    store: &dyn Store,
    verifier: &Verifier,
    old: u64,
    new: u64,
) -> anyhow::Result<(Consistency, bool)> {
    let stored = store.checkpoints()?;
    let find = |size: u64| -> anyhow::Result<Checkpoint> {
        let Some(c) = stored.iter().find(|c| c.size == size) else {
            anyhow::bail!("no stored checkpoint at size {size} (see `proactive audit checkpoint --all`)");
        };
        Ok(Checkpoint::open(&c.note, verifier)?)
    };
    let (old, new) = (find(old)?, find(new)?);
    let path = merkle::consistency_proof(&mut StoreNodes(store), old.size, new.size)?;
    let ok = merkle::verify_consistency(old.size, new.size, &old.root, &new.root, &path);
    Ok((Consistency { old, new, path }, ok))
}

#[cfg(test)]
mod tests;
