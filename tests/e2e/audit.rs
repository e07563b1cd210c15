//! The audit log through the real binary: tampering with the database is pinpointed, proofs
//! check out with a verifier written here from RFC 9162 (not the host's), no IIN or phone
//! number reaches the logs or the audit table, and a citizen's history survives erasure.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rusqlite::{Connection, params};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::{TestDir, count, open_store, proactive, proactive_ok};

/// RFC 9162, written from the RFC for these tests: nothing here calls the host's code.
mod rfc9162 {
    use super::*;

    pub type Hash = [u8; 32];

    fn sha(parts: &[&[u8]]) -> Hash {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().into()
    }

    /// §2.1.1: MTH({d(0)}) = SHA-256(0x00 || d(0)).
    pub fn leaf(entry: &[u8]) -> Hash {
        sha(&[&[0x00], entry])
    }

    /// §2.1.1: SHA-256(0x01 || left || right).
    fn node(left: &Hash, right: &Hash) -> Hash {
        sha(&[&[0x01], left, right])
    }

    /// §2.1.3.2, step by step.
    pub fn verify_inclusion(leaf_index: u64, tree_size: u64, hash: &Hash, path: &[Hash], root: &Hash) -> bool {
        // 1. Compare leaf_index from the inclusion_proof against tree_size. If leaf_index is
        //    greater than or equal to tree_size, then fail the proof verification.
        if leaf_index >= tree_size {
            return false;
        }
        // 2. Set fn to leaf_index and sn to tree_size - 1.
        let (mut fn_, mut sn) = (leaf_index, tree_size - 1);
        // 3. Set r to hash.
        let mut r = *hash;
        // 4. For each value p in the inclusion_path array:
        for p in path {
            // a. If sn is 0, then stop the iteration and fail the proof verification.
            if sn == 0 {
                return false;
            }
            // b. If LSB(fn) is set, or if fn is equal to sn, then:
            if fn_ & 1 == 1 || fn_ == sn {
                // i. Set r to HASH(0x01 || p || r).
                r = node(p, &r);
                // ii. If LSB(fn) is not set, then right-shift both fn and sn equally until
                //     either LSB(fn) is set or fn is 0.
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            } else {
                // Otherwise: set r to HASH(0x01 || r || p).
                r = node(&r, p);
            }
            // c. Finally, right-shift both fn and sn one time.
            fn_ >>= 1;
            sn >>= 1;
        }
        // 5. Compare sn to 0. Compare r against the root_hash. If sn is equal to 0 and r
        //    and the root_hash are equal, then the log has proven the inclusion of hash.
        sn == 0 && r == *root
    }

    /// §2.1.4.2, step by step (for 0 < first < second).
    pub fn verify_consistency(first: u64, second: u64, first_hash: &Hash, second_hash: &Hash, path: &[Hash]) -> bool {
        if first == second {
            return path.is_empty() && first_hash == second_hash;
        }
        // 1. If consistency_path is an empty array, stop and fail the proof verification.
        if path.is_empty() {
            return false;
        }
        // 2. If first is an exact power of 2, then prepend first_hash to the
        //    consistency_path array.
        let mut c = Vec::new();
        if first.is_power_of_two() {
            c.push(*first_hash);
        }
        c.extend_from_slice(path);
        // 3. Set fn to first - 1 and sn to second - 1.
        let (mut fn_, mut sn) = (first - 1, second - 1);
        // 4. If LSB(fn) is set, then right-shift both fn and sn equally until LSB(fn) is
        //    not set.
        while fn_ & 1 == 1 {
            fn_ >>= 1;
            sn >>= 1;
        }
        // 5. Set both fr and sr to the first value in the consistency_path array.
        let (mut fr, mut sr) = (c[0], c[0]);
        // 6. For each subsequent value c in the consistency_path array:
        for p in &c[1..] {
            // a. If sn is 0, then stop the iteration and fail the proof verification.
            if sn == 0 {
                return false;
            }
            // b. If LSB(fn) is set, or if fn is equal to sn, then:
            if fn_ & 1 == 1 || fn_ == sn {
                // i. Set fr to HASH(0x01 || c || fr). Set sr to HASH(0x01 || c || sr).
                fr = node(p, &fr);
                sr = node(p, &sr);
                // ii. If LSB(fn) is not set, then right-shift both fn and sn equally until
                //     either LSB(fn) is set or fn is 0.
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            } else {
                // Otherwise: set sr to HASH(0x01 || sr || c).
                sr = node(&sr, p);
            }
            // c. Finally, right-shift both fn and sn one time.
            fn_ >>= 1;
            sn >>= 1;
        }
        // 7. After completing iterating through the consistency_path array as described
        //    above, verify that the fr calculated is equal to the first_hash supplied, that
        //    the sr calculated is equal to the second_hash supplied, and that sn is 0.
        fr == *first_hash && sr == *second_hash && sn == 0
    }
}

fn hash(hex_text: &Value) -> rfc9162::Hash {
    let bytes = hex::decode(hex_text.as_str().expect("a hex string")).expect("hex");
    bytes.try_into().expect("32 bytes")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// A demo run whose store the tests copy before changing anything.
struct Run {
    _t: TestDir,
    out: PathBuf,
    db: PathBuf,
    stdout: String,
    stderr: String,
}

/// One small demo, with debug logging, shared by the tests (each works on a copy).
fn run() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| {
        let t = TestDir::new();
        let plugins = t.plugins(&[]);
        let out = t.path().join("demo-out");
        let result = Command::new(env!("CARGO_BIN_EXE_proactive"))
            .args(["demo", "--people", "800", "--seed", "11", "--out", path(&out), "--plugins", path(&plugins)])
            .current_dir(t.path())
            .env("PROACTIVE_LOG", "debug,proactive_host=trace") // every crate, not only ours
            .env_remove("PROACTIVE_AUDIT_KEYS")
            .output()
            .expect("running the demo");
        let stdout = String::from_utf8_lossy(&result.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&result.stderr).into_owned();
        assert!(result.status.success(), "demo failed:\n{stdout}\n{}", &stderr[stderr.len().saturating_sub(4000)..]);
        let db = out.join("proactive.sqlite");
        Run { _t: t, out, db, stdout, stderr }
    })
}

/// A copy of the demo's store, keys and published checkpoint in a fresh folder.
fn copy_of_store(t: &TestDir) -> PathBuf {
    let r = run();
    let db = t.path().join("proactive.sqlite");
    for suffix in ["", "-wal", ".checkpoint"] {
        let from = PathBuf::from(format!("{}{suffix}", r.db.display()));
        if from.exists() {
            std::fs::copy(&from, format!("{}{suffix}", db.display())).expect("copying the store");
        }
    }
    let keys = PathBuf::from(format!("{}.keys", db.display()));
    std::fs::create_dir_all(&keys).unwrap();
    for f in std::fs::read_dir(format!("{}.keys", r.db.display())).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), keys.join(f.file_name())).unwrap();
    }
    db
}

fn audit_size(db: &Path) -> i64 {
    count(&open_store(db), "SELECT COUNT(*) FROM audit")
}

/// Run `audit verify` and return (success, stdout).
fn verify(t: &TestDir, db: &Path) -> (bool, String) {
    let out = proactive(&["audit", "verify", "--db", path(db)], t.path());
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn the_demo_log_verifies_and_is_signed_to_the_end() {
    let r = run();
    let t = TestDir::new();
    let (ok, out) = verify(&t, &r.db);
    assert!(ok, "{out}");
    let entries = audit_size(&r.db);
    assert!(entries > 3000, "a demo of 800 people writes thousands of entries, got {entries}");
    assert!(out.contains(&format!("intact: {entries} entries")), "{out}");
    assert!(out.contains(&format!("covers {entries} entries (0 not yet signed)")), "{out}");
    assert!(r.stdout.contains("Merkle tree intact"), "{}", r.stdout);
    let signed = count(&open_store(&r.db), "SELECT COUNT(*) FROM checkpoints");
    assert_eq!(signed, entries / 1000 + i64::from(entries % 1000 != 0), "every 1000 entries and at the end");
}

/// Every kind of tampering, on a fresh copy, and the entry `verify` must name.
#[test]
fn tampering_with_the_database_is_pinpointed() {
    let entries = audit_size(&run().db);
    let last_signed = entries - entries % 1000;
    type Tamper = Box<dyn Fn(&Connection)>;
    let cases: Vec<(&str, Tamper, String)> = vec![
        (
            "change one entry",
            Box::new(|c| {
                c.execute("UPDATE audit SET entry = replace(entry, '\"outcome\":', '\"outcome\":\"x\",\"_\":') WHERE seq = 1234", [])
                    .unwrap();
            }),
            "first bad entry: 1234".into(),
        ),
        (
            "delete one entry",
            Box::new(|c| {
                c.execute("DELETE FROM audit WHERE seq = 500", []).unwrap();
            }),
            "first bad entry: 500".into(),
        ),
        (
            "reorder two entries",
            Box::new(|c| {
                c.execute_batch(
                    "UPDATE audit SET seq = -1 WHERE seq = 700; UPDATE audit SET seq = 700 WHERE seq = 701; \
                     UPDATE audit SET seq = 701 WHERE seq = -1;",
                )
                .unwrap();
            }),
            "first bad entry: 700".into(),
        ),
        (
            "insert an entry, renumbering the rest, with a correct leaf hash",
            Box::new(move |c| {
                let top: i64 = c.query_row("SELECT MAX(seq) FROM audit", [], |r| r.get(0)).unwrap();
                for seq in (900..=top).rev() {
                    c.execute("UPDATE audit SET seq = seq + 1 WHERE seq = ?1", [seq]).unwrap();
                }
                let copy: String = c.query_row("SELECT entry FROM audit WHERE seq = 899", [], |r| r.get(0)).unwrap();
                let forged = copy.replace("\"seq\":899", "\"seq\":900");
                let leaf = hex::encode(rfc9162::leaf(forged.as_bytes()));
                c.execute("INSERT INTO audit (seq, entry, leaf_hash) VALUES (900, ?1, ?2)", params![forged, leaf])
                    .unwrap();
            }),
            "first bad entry: 901".into(),
        ),
        (
            "rewrite an entry and recompute its leaf hash",
            Box::new(|c| {
                let entry: String = c.query_row("SELECT entry FROM audit WHERE seq = 1500", [], |r| r.get(0)).unwrap();
                let forged = entry.replace("\"at\":", "\"at\":1");
                let leaf = hex::encode(rfc9162::leaf(forged.as_bytes()));
                c.execute("UPDATE audit SET entry = ?1, leaf_hash = ?2 WHERE seq = 1500", params![forged, leaf])
                    .unwrap();
            }),
            "entries 1001..=2000 do not make the tree the host signed at size 2000".into(),
        ),
        (
            "cut the last entries",
            Box::new(move |c| {
                c.execute("DELETE FROM audit WHERE seq > ?1", [entries - 5]).unwrap();
            }),
            format!("first bad entry: {}", entries - 4),
        ),
        (
            "cut entries and every checkpoint that covers them",
            Box::new(move |c| {
                c.execute("DELETE FROM audit WHERE seq > ?1", [last_signed]).unwrap();
                c.execute("DELETE FROM checkpoints WHERE size > ?1", [last_signed]).unwrap();
            }),
            format!("the host signed a checkpoint at {entries}"),
        ),
        (
            "replace the latest checkpoint with one signed by another key",
            Box::new(|c| {
                let (size, note): (i64, String) = c
                    .query_row("SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1", [], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .unwrap();
                let forged = sign_with_another_key(&note);
                c.execute("UPDATE checkpoints SET note = ?1 WHERE size = ?2", params![forged, size]).unwrap();
            }),
            "is refused: not signed by the host's key".into(),
        ),
    ];
    for (what, tamper, expected) in cases {
        let t = TestDir::new();
        let db = copy_of_store(&t);
        let (ok, before) = verify(&t, &db);
        assert!(ok, "{what}: the copy verifies before tampering: {before}");
        tamper(&Connection::open(&db).expect("opening the copy read-write"));
        let (ok, out) = verify(&t, &db);
        assert!(!ok, "{what}: verify must fail:\n{out}");
        assert!(out.contains("BROKEN"), "{what}: {out}");
        assert!(out.contains(&expected), "{what}: expected {expected:?} in:\n{out}");
    }
}

#[test]
fn the_host_refuses_to_extend_a_log_cut_behind_its_published_checkpoint() {
    let r = run();
    let t = TestDir::new();
    let db = copy_of_store(&t);
    let signed = audit_size(&db);
    let c = Connection::open(&db).unwrap();
    c.execute("DELETE FROM audit WHERE seq > ?1", [signed - 100]).unwrap();
    c.execute("DELETE FROM checkpoints WHERE size > ?1", [signed - 100]).unwrap();
    drop(c);
    let plugins = t.plugins(&[]);
    let (events, registry) = (r.out.join("events.ndjson"), r.out.join("registry"));
    let args = ["ingest", path(&events), "--registry", path(&registry), "--db", path(&db), "--plugins", path(&plugins)];
    let out = proactive(&args, t.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "ingest must refuse");
    assert!(stderr.contains("no longer matches its published checkpoint"), "{stderr}");
    assert_eq!(audit_size(&db), signed - 100, "nothing was appended");
    let published = std::fs::read_to_string(format!("{}.checkpoint", db.display())).unwrap();
    assert!(published.contains(&format!("\n{signed}\n")), "the published note is kept: {published}");
}

/// The note's body signed by a fresh key under the host's key name, the way a forger with
/// database access but not the key folder would have to.
fn sign_with_another_key(note: &str) -> String {
    use ed25519_dalek::Signer as _;
    let (body, sig_lines) = note.split_once("\n\n").expect("a signed note");
    let body = format!("{body}\n");
    let name = sig_lines.trim_start_matches("— ").split(' ').next().unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&[42; 32]);
    let mut id_input = format!("{name}\n").into_bytes();
    id_input.push(1);
    id_input.extend_from_slice(key.verifying_key().as_bytes());
    let mut blob = Sha256::digest(&id_input)[..4].to_vec();
    blob.extend_from_slice(&key.sign(body.as_bytes()).to_bytes());
    format!("{body}\n— {name} {}\n", B64.encode(blob))
}

#[test]
fn a_public_key_from_another_host_refuses_every_checkpoint() {
    let t = TestDir::new();
    let db = copy_of_store(&t);
    let other = t.path().join("other.pub");
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
    let name = "kz.gov.proactive/audit";
    let mut id_input = format!("{name}\n").into_bytes();
    id_input.push(1);
    id_input.extend_from_slice(key.as_bytes());
    let mut raw = vec![1u8];
    raw.extend_from_slice(key.as_bytes());
    let line = format!("{name}+{}+{}", hex::encode(&Sha256::digest(&id_input)[..4]), B64.encode(raw));
    std::fs::write(&other, line).unwrap();
    let out = proactive(&["audit", "verify", "--db", path(&db), "--public-key", path(&other)], t.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("refused: not signed by the host's key"), "{stdout}");
}

/// The signed checkpoint covering everything, opened here: signature checked with
/// ed25519-dalek directly against the key folder's verifier line.
fn signed_root(db: &Path) -> (u64, rfc9162::Hash) {
    let t = TestDir::new();
    let note = proactive_ok(&["audit", "checkpoint", "--db", path(db)], t.path());
    let verifier = std::fs::read_to_string(format!("{}.keys/audit-signing.pub", db.display())).unwrap();
    let mut parts = verifier.trim().splitn(3, '+');
    let (name, id, key) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
    let key = B64.decode(key).unwrap();
    assert_eq!(key[0], 1, "Ed25519");
    let key = ed25519_dalek::VerifyingKey::from_bytes(&key[1..].try_into().unwrap()).unwrap();
    let (body, sig) = note.split_once("\n\n").unwrap();
    let sig = sig.trim_end().strip_prefix(&format!("— {name} ")).expect("signed by the host's key name");
    let sig = B64.decode(sig).unwrap();
    assert_eq!(hex::encode(&sig[..4]), id);
    let signature = ed25519_dalek::Signature::from_slice(&sig[4..]).unwrap();
    key.verify_strict(format!("{body}\n").as_bytes(), &signature).expect("the checkpoint's signature verifies");
    let mut lines = body.lines();
    assert_eq!(lines.next(), Some(name));
    let size = lines.next().unwrap().parse().unwrap();
    let root = B64.decode(lines.next().unwrap()).unwrap().try_into().unwrap();
    (size, root)
}

#[test]
fn inclusion_proofs_check_out_with_an_independent_verifier() {
    let r = run();
    let t = TestDir::new();
    let (size, root) = signed_root(&r.db);
    let picks = [1, 2, 3, size / 3, size / 2 + 1, size - 1, size];
    for seq in picks {
        let out = proactive_ok(&["audit", "prove", &seq.to_string(), "--db", path(&r.db), "--json"], t.path());
        let proof: Value = serde_json::from_str(&out).expect("JSON");
        assert_eq!(proof["tree_size"], size);
        assert_eq!(hash(&proof["root"]), root, "the proof is against the signed root");
        let entry = proof["entry"].as_str().unwrap();
        let leaf = rfc9162::leaf(entry.as_bytes());
        assert_eq!(hash(&proof["leaf_hash"]), leaf);
        let path: Vec<_> = proof["path"].as_array().unwrap().iter().map(hash).collect();
        assert!(rfc9162::verify_inclusion(seq - 1, size, &leaf, &path, &root), "entry {seq}");
        // The verifier is not trivially true: another entry's leaf, or another position, fails.
        assert!(!rfc9162::verify_inclusion(seq - 1, size, &rfc9162::leaf(b"forged"), &path, &root));
        if seq < size {
            assert!(!rfc9162::verify_inclusion(seq, size, &leaf, &path, &root), "entry {seq} one place on");
        }
    }
    let text = proactive_ok(&["audit", "prove", "5", "--db", path(&r.db)], t.path());
    assert!(text.contains("inclusion proof (RFC 9162 §2.1.3.2): VALID"), "{text}");
}

#[test]
fn consistency_proofs_check_out_with_an_independent_verifier() {
    let r = run();
    let t = TestDir::new();
    let db = open_store(&r.db);
    let sizes: Vec<u64> = db
        .prepare("SELECT size FROM checkpoints ORDER BY size")
        .unwrap()
        .query_map([], |r| r.get::<_, i64>(0).map(|s| s as u64))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(sizes.len() >= 3, "{sizes:?}");
    let mut pairs: BTreeSet<(u64, u64)> = BTreeSet::new();
    for (i, &a) in sizes.iter().enumerate() {
        for &b in &sizes[i..] {
            pairs.insert((a, b));
        }
    }
    for (from, to) in pairs {
        let args = ["audit", "consistency", "--from", &from.to_string(), "--to", &to.to_string(), "--db", path(&r.db)];
        let out = proactive_ok(&[&args[..], &["--json"]].concat(), t.path());
        let proof: Value = serde_json::from_str(&out).expect("JSON");
        let (a, b) = (hash(&proof["from_root"]), hash(&proof["to_root"]));
        let path: Vec<_> = proof["path"].as_array().unwrap().iter().map(hash).collect();
        assert!(rfc9162::verify_consistency(from, to, &a, &b, &path), "{from} → {to}");
        if from < to {
            assert!(!rfc9162::verify_consistency(from, to, &b, &b, &path), "{from} → {to} with a wrong old root");
        }
    }
}

/// Every IIN and phone number the demo generated, in the forms to search for.
fn identifiers(out: &Path) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut iins = BTreeSet::new();
    let mut phones = BTreeSet::new();
    let read = |name: &str| std::fs::read_to_string(out.join(name)).expect("a demo file");
    for line in read("registry/numbers.ndjson").lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        iins.insert(v["iin"].as_str().unwrap().to_owned());
        let written = v["phone"].as_str().unwrap();
        let digits: String = written.chars().filter(char::is_ascii_digit).collect();
        // "8 (701) ..." and "8701..." are the national trunk form of +7.
        let e164 = if written.starts_with('8') { format!("+7{}", &digits[1..]) } else { format!("+{digits}") };
        // The E.164 form contains the national number, so searching for the latter finds both.
        phones.insert(e164[e164.len() - 10..].to_owned());
    }
    for line in read("events.ndjson").lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        iins.insert(v["subject"].as_str().unwrap().to_owned());
        for value in v["attributes"].as_object().unwrap().values() {
            let s = value.as_str().unwrap_or_default();
            if s.len() == 12 && s.chars().all(|c| c.is_ascii_digit()) {
                iins.insert(s.to_owned());
            }
        }
    }
    (iins, phones)
}

#[test]
fn no_iin_or_phone_number_reaches_the_logs_or_the_audit_table() {
    let r = run();
    let (iins, phones) = identifiers(&r.out);
    assert!(iins.len() > 800 && phones.len() > 500, "{} IINs, {} phone numbers", iins.len(), phones.len());
    let db = open_store(&r.db);
    let mut audit = String::new();
    for table in ["SELECT entry FROM audit", "SELECT note FROM checkpoints"] {
        let rows: Vec<String> =
            db.prepare(table).unwrap().query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
        audit += &rows.join("\n");
    }
    // The control: the store's own tables do hold them (that is where erasure happens).
    let events: String = db.query_row("SELECT group_concat(body, '\n') FROM events", [], |r| r.get(0)).unwrap();
    let cases: String =
        db.query_row("SELECT group_concat(COALESCE(phone, ''), '\n') FROM cases", [], |r| r.get(0)).unwrap();
    assert!(digit_windows(&events).any(|w| iins.contains(w)), "the search finds IINs where they are");
    assert!(digit_windows(&cases).any(|w| phones.contains(w)), "the search finds phone numbers where they are");
    assert!(r.stderr.len() > 10_000, "debug logging was on: {} bytes of stderr", r.stderr.len());
    for (name, text) in [("stdout", &r.stdout), ("stderr", &r.stderr), ("audit table", &audit)] {
        let leaked: Vec<&str> = digit_windows(text).filter(|w| iins.contains(*w) || phones.contains(*w)).collect();
        assert!(leaked.is_empty(), "{name} carries {} identifiers, e.g. {:?}", leaked.len(), leaked.first());
    }
}

/// Every 10- and 12-digit window of every run of digits: a text contains an IIN or a
/// national phone number (and so its E.164 form) exactly when one of these equals it. One
/// pass over the text instead of one per identifier.
fn digit_windows(text: &str) -> impl Iterator<Item = &str> {
    let runs = text.split(|c: char| !c.is_ascii_digit());
    runs.flat_map(|run| {
        [10, 12].into_iter().filter(move |&n| run.len() >= n).flat_map(move |n| run.as_bytes().windows(n))
    })
    .map(|w| std::str::from_utf8(w).expect("ASCII digits"))
}

#[test]
fn a_citizens_history_shows_what_was_sent_under_which_consent_and_survives_erasure() {
    let t = TestDir::new();
    let db = copy_of_store(&t);
    let (iin, case_id): (String, i64) = open_store(&db)
        .query_row(
            "SELECT c.recipient, c.id FROM cases c WHERE c.state = 'provided' AND \
             (SELECT COUNT(*) FROM outbox o WHERE o.case_id = c.id AND o.state = 'sent') >= 2 ORDER BY c.id LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("some provided case with an offer and a notice");
    let out = proactive_ok(&["audit", "history", &iin, "--db", path(&db), "--json"], t.path());
    let history: Value = serde_json::from_str(&out).unwrap();
    let case = history["cases"].as_array().unwrap().iter().find(|c| c["case_id"] == case_id).expect("the case");
    assert_eq!(case["state"], "provided");
    assert!(case["consent_id"].as_str().is_some_and(|c| c.starts_with("C-")), "{case}");
    assert!(!case["scopes"].as_array().unwrap().is_empty(), "{case}");
    let messages = case["messages"].as_array().unwrap();
    assert!(messages.iter().any(|m| m["kind"] == "question" && m["sent_at"].is_i64()), "{case}");
    assert!(messages.iter().any(|m| m["kind"] == "notice" && !m["text"].as_str().unwrap().is_empty()), "{case}");
    assert!(case["decisions"].as_array().unwrap().iter().any(|d| d["plugin"].as_str().is_some()));
    assert!(!case["replies"].as_array().unwrap().is_empty(), "{case}");
    assert!(case["audit_entries"].as_array().unwrap().len() >= 5, "{case}");
    let text = proactive_ok(&["audit", "history", &iin, "--db", path(&db)], t.path());
    assert!(text.contains(&format!("case {case_id} ")) && text.contains("outcome: provided"), "{text}");

    // Erase the person's data from the store: the log still verifies, and still ties the
    // case to them by keyed hash.
    let c = Connection::open(&db).unwrap();
    let erased = c
        .execute(
            "UPDATE cases SET recipient = NULL, phone = NULL WHERE recipient = ?1 OR event_id IN \
             (SELECT id FROM events WHERE json_extract(body, '$.subject') = ?1)",
            [&iin],
        )
        .unwrap();
    assert!(erased >= 1);
    c.execute(
        "UPDATE events SET body = json_set(body, '$.subject', 'erased') WHERE json_extract(body, '$.subject') = ?1",
        [&iin],
    )
    .unwrap();
    let (ok, out) = verify(&t, &db);
    assert!(ok, "erasing personal data must not break the log: {out}");
    let after: Value =
        serde_json::from_str(&proactive_ok(&["audit", "history", &iin, "--db", path(&db), "--json"], t.path()))
            .unwrap();
    assert!(after["audit_only_cases"].as_array().unwrap().contains(&Value::from(case_id)), "{after}");

    let bad = proactive(&["audit", "history", "123456789012", "--db", path(&db)], t.path());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && !stderr.contains("123456789012"), "{stderr}");
}

#[test]
fn a_subjects_history_leaves_out_the_recipients_correspondence() {
    let t = TestDir::new();
    let db = copy_of_store(&t);
    let (child, case_id): (String, i64) = open_store(&db)
        .query_row(
            "SELECT json_extract(e.body, '$.subject'), c.id FROM cases c JOIN events e ON e.id = c.event_id \
             WHERE e.kind = 'birth.registered' AND c.state = 'provided' ORDER BY c.id LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("some provided birth case");
    let history: Value =
        serde_json::from_str(&proactive_ok(&["audit", "history", &child, "--db", path(&db), "--json"], t.path()))
            .unwrap();
    let case = history["cases"].as_array().unwrap().iter().find(|c| c["case_id"] == case_id).expect("the case");
    assert_eq!(case["role"], "subject");
    assert_eq!(case["state"], "provided");
    assert!(case["replies"].as_array().unwrap().is_empty(), "the mother's replies are hers: {case}");
    assert!(case["messages"].as_array().unwrap().is_empty(), "the mother's messages are hers: {case}");
}

#[test]
fn a_file_that_is_not_a_checkpoint_is_an_input_error_not_tampering() {
    let r = run();
    let t = TestDir::new();
    let garbage = t.write("kept-note.txt", "hello, auditor\n");
    let out = proactive(&["audit", "verify", "--db", path(&r.db), "--checkpoint", path(&garbage)], t.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "an input error, not a verdict: {stderr}");
    assert!(stderr.contains("kept-note.txt") && stderr.contains("not a checkpoint note"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("BROKEN"));
}
