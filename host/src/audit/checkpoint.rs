//! Signed checkpoints: the tree size, root and time, in the signed-note text format used by
//! transparency logs (C2SP `signed-note` and `tlog-checkpoint`), so an auditor can check one
//! with any note verifier, or by reading it.
//!
//! ```text
//! kz.gov.proactive/audit
//! 1024
//! 3q2+7w...base64 root...=
//! time 2026-11-30T18:00:00Z
//!
//! — kz.gov.proactive/audit AbCdEf...base64(key id ‖ signature)...
//! ```
//!
//! The signature covers every byte above the blank line. The key id is the first four bytes
//! of SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key), so a note signed by another key is told
//! apart before any signature is checked.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};

use super::merkle::Hash;
use crate::model::Timestamp;

/// The log's name: the first line of every checkpoint and the signing key's name.
pub const ORIGIN: &str = "kz.gov.proactive/audit";

/// The Ed25519 algorithm byte of signed-note keys.
const ALG_ED25519: u8 = 1;

/// A tree head: what the host commits to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub size: u64,
    pub root: Hash,
    /// The time of the step that closed it (the pipeline's clock, never read here).
    pub time: Timestamp,
}

/// A public key that checks notes: the `name+id+key` line of a key folder's `.pub` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("not a checkpoint note: {0}")]
    Malformed(&'static str),
    #[error("not signed by the host's key (no signature from key {0})")]
    NotSigned(String),
    #[error("the signature by the host's key does not verify")]
    BadSignature,
}

impl Verifier {
    pub fn new(name: &str, key: VerifyingKey) -> Verifier {
        Verifier { name: name.to_owned(), id: key_id(name, &key), key }
    }

    pub fn parse(text: &str) -> Result<Verifier, NoteError> {
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NoteError::Malformed("a verifier key is name+id+key"));
        };
        let key = B64.decode(key).map_err(|_| NoteError::Malformed("the key is not base64"))?;
        let Some((&ALG_ED25519, key)) = key.split_first() else {
            return Err(NoteError::Malformed("not an Ed25519 key"));
        };
        let key = <[u8; 32]>::try_from(key).map_err(|_| NoteError::Malformed("an Ed25519 key has 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&key).map_err(|_| NoteError::Malformed("not a valid Ed25519 key"))?;
        let v = Verifier::new(name, key);
        if hex::encode(v.id) != id {
            return Err(NoteError::Malformed("the key id does not match the key"));
        }
        Ok(v)
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl std::fmt::Display for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut key = vec![ALG_ED25519];
        key.extend_from_slice(self.key.as_bytes());
        write!(f, "{}+{}+{}", self.name, hex::encode(self.id), B64.encode(key))
    }
}

fn key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ALG_ED25519]);
    h.update(key.as_bytes());
    let digest = h.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

impl Checkpoint {
    /// The signed text: origin, size, root, time.
    fn body(&self) -> String {
        let time = chrono::DateTime::from_timestamp(self.time, 0)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default();
        format!("{ORIGIN}\n{}\n{}\ntime {time}\n", self.size, B64.encode(self.root))
    }

    /// The signed note.
    pub fn sign(&self, key: &SigningKey) -> String {
        let body = self.body();
        let signature = key.sign(body.as_bytes());
        let mut blob = key_id(ORIGIN, &key.verifying_key()).to_vec();
        blob.extend_from_slice(&signature.to_bytes());
        format!("{body}\n— {ORIGIN} {}\n", B64.encode(blob))
    }

    /// Parse a note and check that `verifier` signed it. Other signatures are ignored, as
    /// the signed-note format allows; one from the verifier's key must be there and verify.
    pub fn open(note: &str, verifier: &Verifier) -> Result<Checkpoint, NoteError> {
        let Some((body, signatures)) = note.split_once("\n\n") else {
            return Err(NoteError::Malformed("no blank line before the signatures"));
        };
        let body = format!("{body}\n");
        let mut found = false;
        for line in signatures.lines().filter(|l| !l.is_empty()) {
            let rest = line.strip_prefix("— ").ok_or(NoteError::Malformed("a signature line starts with —"))?;
            let (name, blob) = rest.split_once(' ').ok_or(NoteError::Malformed("a signature line is — name sig"))?;
            let blob = B64.decode(blob).map_err(|_| NoteError::Malformed("a signature is not base64"))?;
            if name != verifier.name || blob.len() != 4 + 64 || blob[..4] != verifier.id {
                continue;
            }
            found = true;
            let signature = Signature::from_slice(&blob[4..]).map_err(|_| NoteError::BadSignature)?;
            verifier.key.verify(body.as_bytes(), &signature).map_err(|_| NoteError::BadSignature)?;
        }
        if !found {
            return Err(NoteError::NotSigned(format!("{}+{}", verifier.name, hex::encode(verifier.id))));
        }
        Self::parse_body(&body)
    }

    fn parse_body(body: &str) -> Result<Checkpoint, NoteError> {
        let mut lines = body.lines();
        if lines.next() != Some(ORIGIN) {
            return Err(NoteError::Malformed("the origin is not this log"));
        }
        let size = lines.next().and_then(|l| l.parse().ok()).ok_or(NoteError::Malformed("no tree size"))?;
        let root = lines
            .next()
            .and_then(|l| B64.decode(l).ok())
            .and_then(|r| <[u8; 32]>::try_from(r).ok())
            .ok_or(NoteError::Malformed("no root hash"))?;
        let time = lines
            .find_map(|l| l.strip_prefix("time "))
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp())
            .ok_or(NoteError::Malformed("no time"))?;
        Ok(Checkpoint { size, root, time })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn verifier(seed: u8) -> Verifier {
        Verifier::new(ORIGIN, key(seed).verifying_key())
    }

    #[test]
    fn a_signed_note_opens_with_its_key_only() {
        let c = Checkpoint { size: 1024, root: [7; 32], time: 1_790_000_000 };
        let note = c.sign(&key(1));
        assert!(note.starts_with("kz.gov.proactive/audit\n1024\n"), "{note}");
        assert!(note.contains("\ntime 2026-"), "{note}");
        assert_eq!(Checkpoint::open(&note, &verifier(1)), Ok(c.clone()));
        assert!(matches!(Checkpoint::open(&note, &verifier(2)), Err(NoteError::NotSigned(_))));
    }

    #[test]
    fn any_change_to_the_signed_text_is_refused() {
        let note = Checkpoint { size: 5, root: [9; 32], time: 0 }.sign(&key(1));
        let edits: [(&str, &str); 3] = [("\n5\n", "\n4\n"), ("time 1970", "time 1971"), ("kz.gov", "kz.gop")];
        for (from, to) in edits {
            let forged = note.replacen(from, to, 1);
            assert_ne!(forged, note);
            assert!(Checkpoint::open(&forged, &verifier(1)).is_err(), "{from} → {to}");
        }
    }

    #[test]
    fn a_note_signed_by_another_key_under_the_same_id_is_refused() {
        let good = Checkpoint { size: 5, root: [9; 32], time: 0 }.sign(&key(1));
        let other = Checkpoint { size: 5, root: [8; 32], time: 0 }.sign(&key(2));
        // Graft the other key's signature behind our key id.
        let (body, _) = other.split_once("\n\n").unwrap();
        let (_, ours) = good.split_once("\n\n").unwrap();
        let their_sig = B64.decode(other.trim_end().rsplit(' ').next().unwrap()).unwrap();
        let our_id = B64.decode(ours.trim_end().rsplit(' ').next().unwrap()).unwrap();
        let mut blob = our_id[..4].to_vec();
        blob.extend_from_slice(&their_sig[4..]);
        let forged = format!("{body}\n\n— {ORIGIN} {}\n", B64.encode(blob));
        assert_eq!(Checkpoint::open(&forged, &verifier(1)), Err(NoteError::BadSignature));
    }

    #[test]
    fn verifier_keys_round_trip_and_reject_garbage() {
        let v = verifier(3);
        assert_eq!(Verifier::parse(&v.to_string()), Ok(v.clone()));
        for bad in ["", "name", "a+b+c", &v.to_string().replacen('+', "+0", 1)] {
            assert!(Verifier::parse(bad).is_err(), "{bad:?}");
        }
    }
}
