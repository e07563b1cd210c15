//! Plumbing for the SMPP tests and the SMPP benchmark (which includes this file): the npm
//! `smpp` package's SMSC (driven by `tests/smsc/smsc.js`) on loopback, and its control API.

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn smsc_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/smsc")
}

/// A running SMSC, killed when dropped. Its journal outlives it, so a restart remembers
/// what it accepted, as a real SMSC's store would.
pub struct Smsc {
    child: Option<Child>,
    pub smpp_port: u16,
    control_port: u16,
    journal: PathBuf,
    env: Vec<(String, String)>,
}

impl Smsc {
    /// Start with `env` (see `smsc.js` for the knobs) on free ports.
    pub fn start(journal: PathBuf, env: &[(&str, &str)]) -> Smsc {
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let mut smsc = Smsc { child: None, smpp_port: 0, control_port: 0, journal, env };
        smsc.spawn();
        smsc
    }

    fn spawn(&mut self) {
        let dir = smsc_dir();
        assert!(
            dir.join("node_modules/smpp").exists(),
            "the test SMSC is not installed: run `npm ci` in tests/smsc (`cargo xtask test` does)"
        );
        let mut child = Command::new("node")
            .arg(dir.join("smsc.js"))
            .env("SMSC_JOURNAL", &self.journal)
            .env("SMSC_PORT", self.smpp_port.to_string())
            .env("SMSC_CONTROL", self.control_port.to_string())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting node (the SMPP tests need Node.js)");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).expect("the SMSC did not start");
        let port = |key: &str| -> u16 {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("the SMSC said {line:?}"))
        };
        self.smpp_port = port("smpp=");
        self.control_port = port("control=");
        self.child = Some(child);
    }

    /// SIGKILL: no unbind, nothing answered.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start again on the same ports with the same journal.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    fn get(&self, path: &str) -> Value {
        let url = format!("http://127.0.0.1:{}{path}", self.control_port);
        let text = ureq::get(&url).timeout(Duration::from_secs(30)).call().expect("the SMSC control API").into_string();
        serde_json::from_str(&text.expect("a body")).expect("JSON from the SMSC")
    }

    /// Every message the SMSC accepted, reassembled, one per host message id.
    pub fn messages(&self) -> Vec<Value> {
        self.get("/messages").as_array().cloned().unwrap_or_default()
    }

    pub fn stats(&self) -> Value {
        self.get("/stats")
    }

    /// A citizen's SMS to the host; returns the `deliver_sm_resp` command status.
    pub fn mo(&self, from: &str, text: &str) -> u64 {
        self.mo_in_parts(from, text, 1)
    }

    /// As [`Smsc::mo`], as `parts` concatenated `deliver_sm`, the last first; returns the
    /// worst command status of their answers.
    pub fn mo_in_parts(&self, from: &str, text: &str, parts: u32) -> u64 {
        let url = format!("http://127.0.0.1:{}/mo", self.control_port);
        let body = serde_json::json!({ "from": from, "text": text, "parts": parts, "reverse": parts > 1 }).to_string();
        let answer =
            ureq::post(&url).timeout(Duration::from_secs(60)).send_string(&body).expect("the SMSC sent the MO");
        let v: Value = serde_json::from_str(&answer.into_string().unwrap()).unwrap();
        v["command_status"].as_u64().expect("a command status")
    }

    /// Waits until `pred` holds for the stats, or fails naming `what`.
    pub fn wait(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let stats = self.stats();
            if pred(&stats) {
                return stats;
            }
            assert!(Instant::now() < deadline, "the SMSC never saw {what}: {stats}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The `[sms]` config that points a server at this SMSC.
    pub fn config(&self, extra: &str) -> String {
        format!(
            "gateway = \"smpp\"\n[sms.smpp]\naddress = \"127.0.0.1:{}\"\nsystem_id = \"proactive\"\npassword = \"secret\"\n\
             enquire_link_seconds = 1\nresponse_timeout_ms = 2000\nreconnect_max_ms = 500\n{extra}",
            self.smpp_port
        )
    }
}

impl Drop for Smsc {
    fn drop(&mut self) {
        self.kill();
    }
}
