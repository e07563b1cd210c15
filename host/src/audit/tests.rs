//! The log against a real SQLite store, tampered with through a second connection, as an
//! administrator with database access and no keys would.

use rusqlite::{Connection, params};
use serde_json::json;

use super::*;
use crate::store::sqlite::SqliteStore;

struct Fixture {
    _dir: tempfile::TempDir,
    db: std::path::PathBuf,
    store: SqliteStore,
    verifier: Verifier,
    /// The last checkpoint's note, as the host published it.
    published: String,
}

/// 45 entries, a checkpoint every 10 and one at the end (45).
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.sqlite");
    let store = SqliteStore::open(&db).unwrap();
    let log = AuditLog::new(Keys::from_seed([1; 32])).checkpoint_every(10);
    for i in 0..45 {
        let mut tx = store.begin().unwrap();
        let entry = Entry::new(1_790_000_000 + i, &Actor::Host, "test.step").case(i).detail(json!({ "i": i }));
        log.append(&mut *tx, entry).unwrap();
        tx.commit().unwrap();
    }
    let mut tx = store.begin().unwrap();
    let published = log.checkpoint(&mut *tx, 1_790_000_100).unwrap().unwrap();
    tx.commit().unwrap();
    Fixture { _dir: dir, db, store, verifier: log.keys().verifier(), published }
}

impl Fixture {
    fn sql(&self, statements: &str) {
        Connection::open(&self.db).unwrap().execute_batch(statements).unwrap();
    }

    fn entry(&self, seq: u64) -> String {
        self.store.audit_rows(seq - 1, 1).unwrap().remove(0).entry
    }

    fn verify(&self) -> Verification {
        verify(&self.store, &self.verifier, std::slice::from_ref(&self.published)).unwrap()
    }

    fn problem(&self) -> Problem {
        match self.verify() {
            Verification::Broken(p) => p,
            Verification::Intact(s) => panic!("tampering went unnoticed: {s:?}"),
        }
    }
}

#[test]
fn canonical_json_sorts_keys_at_every_depth() {
    let cases = [
        (
            json!({ "b": 1, "a": { "d": [ { "z": 1, "y": 2 } ], "c": null } }),
            r#"{"a":{"c":null,"d":[{"y":2,"z":1}]},"b":1}"#,
        ),
        (json!({ "text": "ИИН \"x\"\n" }), r#"{"text":"ИИН \"x\"\n"}"#),
        (json!([]), "[]"),
    ];
    for (value, expected) in cases {
        assert_eq!(canonical(&value), expected);
    }
}

#[test]
fn entries_record_actor_outcome_ground_and_consent() {
    let plugin = PluginRef { id: "labour".into(), version: "1.2.0".into(), hash: "ab".repeat(32) };
    let e = Entry::new(5, &Actor::Plugin(plugin), "decision")
        .case(7)
        .outcome("refuse")
        .ground(Some("law-art-19"))
        .consent(Some("C-1"));
    let json = canonical(&serde_json::to_value(&e).unwrap());
    let expected = format!(
        r#"{{"action":"decision","actor":"plugin:labour@1.2.0#sha256:{}","at":5,"case_id":7,"consent":"C-1","detail":{{}},"ground":"law-art-19","outcome":"refuse","seq":0}}"#,
        "ab".repeat(32)
    );
    assert_eq!(json, expected);
    assert_eq!(Actor::Admin("tok-3".into()).to_string(), "admin:tok-3");
}

#[test]
fn an_untouched_log_verifies_and_every_entry_and_checkpoint_proves() {
    let f = fixture();
    let Verification::Intact(s) = f.verify() else { panic!("{:?}", f.verify()) };
    assert_eq!((s.entries, s.signed, s.checkpoints), (45, 45, 5));
    let sizes: Vec<u64> = f.store.checkpoints().unwrap().iter().map(|c| c.size).collect();
    assert_eq!(sizes, [10, 20, 30, 40, 45]);
    for seq in 1..=45 {
        let (proof, ok) = prove(&f.store, &f.verifier, seq).unwrap();
        assert!(ok, "entry {seq}");
        assert_eq!(proof.checkpoint.size, 45);
    }
    for (old, new) in [(10, 20), (10, 45), (20, 30), (40, 45), (30, 30)] {
        let (_, ok) = prove_consistency(&f.store, &f.verifier, old, new).unwrap();
        assert!(ok, "{old} → {new}");
    }
    assert!(prove(&f.store, &f.verifier, 46).is_err(), "no checkpoint covers 46");
}

/// Each way of tampering, and what verify must say.
#[test]
fn tampering_is_pinpointed() {
    type Tamper = fn(&Fixture);
    let cases: [(&str, Tamper, Problem); 9] = [
        (
            "change an entry",
            |f| f.sql("UPDATE audit SET entry = replace(entry, '\"i\":16', '\"i\":61') WHERE seq = 17"),
            Problem::Altered { seq: 17 },
        ),
        ("delete an entry", |f| f.sql("DELETE FROM audit WHERE seq = 23"), Problem::Missing { seq: 23 }),
        (
            "swap two entries with their hashes",
            |f| {
                f.sql(
                    "UPDATE audit SET seq = -1 WHERE seq = 31; UPDATE audit SET seq = 31 WHERE seq = 32; \
                     UPDATE audit SET seq = 32 WHERE seq = -1;",
                )
            },
            Problem::Misplaced { seq: 31, recorded: 32 },
        ),
        (
            "insert an entry and renumber the rest",
            |f| {
                let mut c = Connection::open(&f.db).unwrap();
                let tx = c.transaction().unwrap();
                for seq in (12..=45).rev() {
                    tx.execute("UPDATE audit SET seq = seq + 1 WHERE seq = ?1", [seq]).unwrap();
                }
                let forged = f.entry(11).replace("\"seq\":11", "\"seq\":12");
                let leaf = hex::encode(merkle::leaf_hash(forged.as_bytes()));
                tx.execute("INSERT INTO audit (seq, entry, leaf_hash) VALUES (12, ?1, ?2)", params![forged, leaf])
                    .unwrap();
                tx.commit().unwrap();
            },
            Problem::Misplaced { seq: 13, recorded: 12 },
        ),
        (
            "rewrite an entry and recompute its hash",
            |f| {
                let forged = f.entry(27).replace("\"i\":26", "\"i\":62");
                let leaf = hex::encode(merkle::leaf_hash(forged.as_bytes()));
                Connection::open(&f.db)
                    .unwrap()
                    .execute("UPDATE audit SET entry = ?1, leaf_hash = ?2 WHERE seq = 27", params![forged, leaf])
                    .unwrap();
            },
            Problem::Rewritten { from: 20, to: 30 },
        ),
        (
            "cut entries off the end",
            |f| f.sql("DELETE FROM audit WHERE seq > 41"),
            Problem::Truncated { entries: 41, signed: 45 },
        ),
        (
            "cut entries and the checkpoints that cover them",
            |f| f.sql("DELETE FROM audit WHERE seq > 38; DELETE FROM checkpoints WHERE size > 30"),
            Problem::Truncated { entries: 38, signed: 45 },
        ),
        (
            "replace a checkpoint with one signed by another key",
            |f| {
                let root = merkle::root(&mut StoreNodes(&f.store), 20).unwrap();
                let other = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
                let note = Checkpoint { size: 20, root, time: 0 }.sign(&other);
                Connection::open(&f.db)
                    .unwrap()
                    .execute("UPDATE checkpoints SET note = ?1 WHERE size = 20", [note])
                    .unwrap();
            },
            Problem::ForeignCheckpoint { size: Some(20), why: NoteError::NotSigned(String::new()) },
        ),
        (
            "relabel a checkpoint row",
            |f| f.sql("UPDATE checkpoints SET size = 25 WHERE size = 20"),
            Problem::ForeignCheckpoint {
                size: Some(20),
                why: NoteError::Malformed("the row's size is not the size signed"),
            },
        ),
    ];
    for (what, tamper, expected) in cases {
        let f = fixture();
        tamper(&f);
        let found = f.problem();
        let same = match (&found, &expected) {
            (
                Problem::ForeignCheckpoint { size: a, why: NoteError::NotSigned(_) },
                Problem::ForeignCheckpoint { size: b, why: NoteError::NotSigned(_) },
            ) => a == b,
            _ => found == expected,
        };
        assert!(same, "{what}: found {found:?}, expected {expected:?}");
        assert!(!found.to_string().is_empty());
    }
}

#[test]
fn without_the_published_note_a_clean_cut_of_rows_and_checkpoints_is_invisible_to_the_database_alone() {
    // Why the host publishes its latest checkpoint outside the database.
    let f = fixture();
    f.sql("DELETE FROM audit WHERE seq > 40; DELETE FROM checkpoints WHERE size > 40");
    assert!(matches!(verify(&f.store, &f.verifier, &[]).unwrap(), Verification::Intact(_)));
    assert!(matches!(f.problem(), Problem::Truncated { entries: 40, signed: 45 }));
}

#[test]
fn a_forked_checkpoint_is_refused() {
    let f = fixture();
    let keys = Keys::from_seed([1; 32]);
    let fork = Checkpoint { size: 45, root: [0; 32], time: 0 }.sign(keys.signing());
    let found = verify(&f.store, &f.verifier, &[fork]).unwrap();
    assert_eq!(found, Verification::Broken(Problem::Forked { size: 45 }));
}

#[test]
fn a_proof_from_tampered_nodes_does_not_pass() {
    let f = fixture();
    f.sql("UPDATE audit_nodes SET hash = zeroblob(32) WHERE level = 1 AND idx = 1");
    let (_, ok) = prove(&f.store, &f.verifier, 1).unwrap();
    assert!(!ok);
}
