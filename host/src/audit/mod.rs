//! The audit chain: every step of every case, append-only, each entry hashed with the one
//! before it, so changing, removing or reordering any stored row breaks verification from
//! that row on.
//!
//! Entries are canonical JSON (sorted keys, no insignificant whitespace). Personal
//! identifiers enter only as pseudonyms. The Merkle tree, checkpoints and keys below replace
//! the linear chain in the next step.

pub mod checkpoint;
pub mod keys;
pub mod merkle;

use sha2::{Digest, Sha256};

use crate::store::{AuditEntry, Store};

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Canonical JSON of an entry.
pub fn canonical(entry: &AuditEntry) -> String {
    // `serde_json::Value` objects are BTreeMaps, so keys come out sorted.
    serde_json::to_value(entry).map(|v| v.to_string()).unwrap_or_default()
}

/// SHA-256 over the previous hash and the entry.
pub fn chain_hash(prev_hash: &str, entry_json: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(entry_json.as_bytes());
    hex::encode(h.finalize())
}

/// The result of re-computing the whole chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    Intact {
        entries: u64,
        head: String,
    },
    /// The first entry whose stored link or hash does not match.
    BrokenAt {
        seq: i64,
        expected_seq: i64,
        problem: &'static str,
    },
}

pub fn verify(store: &dyn Store) -> anyhow::Result<Verification> {
    let mut prev = GENESIS.to_owned();
    let mut expected_seq = 1;
    let mut entries = 0u64;
    loop {
        let rows = store.audit_rows(expected_seq - 1, 10_000)?;
        if rows.is_empty() {
            return Ok(Verification::Intact { entries, head: prev });
        }
        for row in rows {
            let broken = |problem| Verification::BrokenAt { seq: row.seq, expected_seq, problem };
            if row.seq != expected_seq {
                return Ok(broken("sequence gap: an entry was deleted or inserted"));
            }
            if row.prev_hash != prev {
                return Ok(broken("link to the previous entry does not match"));
            }
            if chain_hash(&prev, &row.entry_json) != row.hash {
                return Ok(broken("entry content does not match its hash"));
            }
            prev = row.hash;
            expected_seq += 1;
            entries += 1;
        }
    }
}
