//! Shared test plumbing: build the guest components once per test run, give each test its
//! own plugins folder and working directory, and run the `proactive` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use chrono::NaiveDate;
use proactive_host::demo::ALL_SCOPES;
use proactive_sdk::domain::{Iin, Sex};
use serde_json::{Value, json};

/// Guest crates and the file names they get in a plugins folder.
pub const PLUGINS: [(&str, &str); 4] = [
    ("plugin-health", "health"),
    ("plugin-labour", "labour"),
    ("plugin-defence", "defence"),
    ("plugin-education", "education"),
];
pub const HOSTILE: (&str, &str) = ("hostile-plugin", "hostile");
pub const HOSTILE_MANIFEST: (&str, &str) = ("hostile-manifest-plugin", "huge-manifest");

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("host/ is inside the workspace").to_path_buf()
}

/// Build every guest (the four plugins and the hostile test plugin) once per test run, in
/// its own target folder so it never waits on the lock of the `cargo test` that runs us.
/// Returns the folder holding the built `.wasm` files.
pub fn guests() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = workspace_root();
        let target_dir = root.join("target/guests");
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.current_dir(&root)
            .args(["build", "--release", "--target", "wasm32-wasip2", "--target-dir"])
            .arg(&target_dir)
            .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
            .env("CARGO_PROFILE_RELEASE_STRIP", "true")
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET")
            .env_remove("CARGO_TARGET_DIR");
        for (krate, _) in PLUGINS.iter().chain([&HOSTILE, &HOSTILE_MANIFEST]) {
            cmd.args(["--package", krate]);
        }
        let out = cmd.output().expect("running cargo to build the guests");
        assert!(
            out.status.success(),
            "building the guest components failed (is the wasm32-wasip2 target installed? `rustup target add wasm32-wasip2`):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        target_dir.join("wasm32-wasip2/release")
    })
}

/// The built component of a guest crate.
pub fn component(krate: &str) -> PathBuf {
    guests().join(format!("{}.wasm", krate.replace('-', "_")))
}

/// A fresh temporary folder for one test.
pub struct TestDir {
    pub dir: tempfile::TempDir,
}

impl TestDir {
    pub fn new() -> Self {
        TestDir { dir: tempfile::tempdir().expect("creating a temp dir") }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A plugins folder with the four ministry plugins, plus `extra` (file name, bytes).
    pub fn plugins(&self, extra: &[(&str, Vec<u8>)]) -> PathBuf {
        let dir = self.path().join("plugins");
        std::fs::create_dir_all(&dir).expect("creating the plugins folder");
        for (krate, name) in PLUGINS {
            std::fs::copy(component(krate), dir.join(format!("{name}.wasm"))).expect("copying a plugin");
        }
        for (name, bytes) in extra {
            std::fs::write(dir.join(name), bytes).expect("writing an extra plugin file");
        }
        dir
    }

    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let p = self.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("creating a folder");
        }
        std::fs::write(&p, content).expect("writing a file");
        p
    }
}

/// Run the real `proactive` binary.
pub fn proactive(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_proactive"))
        .args(args)
        .current_dir(cwd)
        .env_remove("PROACTIVE_PLUGINS")
        .output()
        .expect("running the proactive binary")
}

/// Run it and insist on success; returns stdout.
#[track_caller]
pub fn proactive_ok(args: &[&str], cwd: &Path) -> String {
    let out = proactive(args, cwd);
    assert_success(args, &out);
    String::from_utf8(out.stdout).expect("stdout is UTF-8")
}

/// Fail with both output streams when a run of the binary did not succeed.
#[track_caller]
pub fn assert_success(args: &[&str], out: &Output) {
    assert!(
        out.status.success(),
        "proactive {args:?} failed with {}:\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Open the run's SQLite store read-only for assertions.
pub fn open_store(db: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).expect("opening the store")
}

pub fn count(db: &rusqlite::Connection, sql: &str) -> i64 {
    db.query_row(sql, [], |r| r.get(0)).expect("a count query")
}

pub fn iin(y: i32, m: u32, d: u32, sex: Sex, serial: u16) -> String {
    let date = NaiveDate::from_ymd_opt(y, m, d).expect("valid date");
    (serial..).find_map(|s| Iin::from_parts(date, sex, s)).expect("some serial is checkable").to_string()
}

/// A registry where each given person has a KZ mobile number (in order) and full consent.
pub fn registry(t: &TestDir, people: &[&str]) -> std::path::PathBuf {
    registry_in(t, people, "ru")
}

/// The `n`-th person's number in [`registry`], in E.164.
pub fn registry_phone(n: usize) -> String {
    format!("+7701555{:02}{:02}", n / 100, n % 100)
}

/// As [`registry`], everyone preferring `lang` (`kk` or `ru`).
pub fn registry_in(t: &TestDir, people: &[&str], lang: &str) -> std::path::PathBuf {
    let mut numbers = String::new();
    let mut consents = String::new();
    let mut facts = String::new();
    for (i, p) in people.iter().enumerate() {
        numbers += &format!(
            "{}\n",
            json!({ "iin": p, "phone": format!("8 (701) 555-{:02}-{:02}", i / 100, i % 100), "lang": lang })
        );
        consents += &format!(
            "{}\n",
            json!({ "id": format!("C-{i}"), "iin": p, "scopes": ALL_SCOPES, "granted_at": "2025-01-01T00:00:00+05:00" })
        );
        facts +=
            &format!("{}\n", json!({ "iin": p, "scope": "health.attachment", "key": "clinic", "value": "Емхана №1" }));
    }
    t.write("registry/numbers.ndjson", &numbers);
    t.write("registry/consents.ndjson", &consents);
    t.write("registry/facts.ndjson", &facts);
    t.path().join("registry")
}

pub fn birth(id: &str, child: &str, mother: &str) -> Value {
    json!({
        "id": id, "kind": "birth.registered", "subject": child, "occurred_at": "2026-11-02T10:00:00+05:00",
        "attributes": { "mother": mother, "birth_order": "2", "region": "astana", "child_status": "alive" }
    })
}
