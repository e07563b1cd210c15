//! Plumbing for the HTTP tests: a real `proactive serve` on a free loopback port, and a
//! client that insists every answer is JSON.

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proactive_sdk::domain::Sex;
use serde_json::Value;

use crate::support::{TestDir, iin, registry};

/// Each role's token in the test config, by name.
pub const TOKENS: [(&str, &str, Option<&str>); 6] = [
    ("admin", "admin", None),
    ("health", "agency", Some("health")),
    ("labour", "agency", Some("labour")),
    ("source", "event-source", None),
    ("gateway", "gateway", None),
    ("stranger", "agency", Some("no-such-agency")),
];

pub fn secret(name: &str) -> String {
    format!("test-token-{name}")
}

/// A running `proactive serve`, killed when dropped.
pub struct Server {
    child: Option<Child>,
    pub base: String,
    stderr: Arc<Mutex<String>>,
    pub db: PathBuf,
}

impl Server {
    /// Start on a free port with the four plugins, the test tokens, ticking every 50 ms and
    /// sending at any hour.
    pub fn start(t: &TestDir, extra_config: &str) -> Server {
        Self::start_with(t, extra_config, &[])
    }

    /// As [`Server::start`], with more config and flags.
    pub fn start_with(t: &TestDir, extra_config: &str, args: &[&str]) -> Server {
        Self::start_full(t, "", extra_config, args)
    }

    /// As [`Server::start_with`], with more of the `[sms]` table (and its sub-tables).
    pub fn start_full(t: &TestDir, sms_config: &str, extra_config: &str, args: &[&str]) -> Server {
        let plugins = t.plugins(&[]);
        let db = t.path().join("serve.sqlite");
        let mut config = format!(
            "listen = \"127.0.0.1:0\"\n[sms]\nwindow = \"00:00-24:00\"\n{sms_config}[limits]\ntick_ms = 50\nmax_body_bytes = 65536\n",
        );
        config += extra_config;
        for (name, role, agency) in TOKENS {
            let digest = hex::encode(proactive_host::api::auth::digest(&secret(name)));
            config += &format!("[[tokens]]\nid = \"{name}\"\nsha256 = \"{digest}\"\nrole = \"{role}\"\n");
            if let Some(a) = agency {
                config += &format!("agency = \"{a}\"\n");
            }
        }
        let config_path = t.write("serve.toml", &config);
        let mut child = Command::new(env!("CARGO_BIN_EXE_proactive"))
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .arg("--db")
            .arg(&db)
            .arg("--plugins")
            .arg(&plugins)
            .arg("--registry")
            .arg(t.path().join("registry"))
            .args(args)
            .current_dir(t.path())
            .env_remove("PROACTIVE_PLUGINS")
            .env("PROACTIVE_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting proactive serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let pipe = child.stderr.take().expect("piped stderr");
        let log = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("listening on ").nth(1) {
                    let _ = addr_tx.send(addr.trim().to_owned());
                }
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let base = match addr_rx.recv_timeout(Duration::from_secs(120)) {
            Ok(base) => base,
            Err(_) => {
                let _ = child.kill();
                panic!("the server did not start:\n{}", stderr.lock().unwrap());
            }
        };
        Server { child: Some(child), base, stderr, db }
    }

    /// `(status, JSON body)` of a request; every answer must be JSON.
    pub fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<(&str, &str)>) -> (u16, Value) {
        match body {
            Some((content_type, text)) => {
                self.send(method, path, token, &[("Content-Type", content_type)], Some(text.as_bytes()))
            }
            None => self.send(method, path, token, &[], None),
        }
    }

    /// A request with any headers and a raw body.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> (u16, Value) {
        let mut req = ureq::request(method, &format!("{}{path}", self.base)).timeout(Duration::from_secs(120));
        if let Some(name) = token {
            req = req.set("Authorization", &format!("Bearer {}", secret(name)));
        }
        for (name, value) in headers {
            req = req.set(name, value);
        }
        let result = match body {
            Some(bytes) => req.send_bytes(bytes),
            None => req.call(),
        };
        let response = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = response.status();
        let text = response.into_string().expect("a readable body");
        let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {path} {status}: not JSON: {text}"));
        (status, body)
    }

    /// A request that declares a `content_length` body but sends only its headers, then
    /// reads the answer: how to see an early refusal (413) without racing the server,
    /// which may close the connection before a client has finished writing a huge body.
    pub fn declare_only(
        &self,
        path: &str,
        token: &str,
        headers: &[(&str, &str)],
        content_length: usize,
    ) -> (u16, Value) {
        use std::io::{Read as _, Write as _};
        let addr = self.base.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(addr).expect("connecting");
        stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Length: {content_length}\r\nConnection: close\r\n",
            secret(token)
        );
        for (name, value) in headers {
            head += &format!("{name}: {value}\r\n");
        }
        head += "\r\n";
        stream.write_all(head.as_bytes()).expect("writing the head");
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer);
        let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or("");
        let json = serde_json::from_str(body).unwrap_or_else(|_| panic!("POST {path} {status}: not JSON: {answer}"));
        (status, json)
    }

    /// A plain-text route (such as `/metrics`): `(status, body)`.
    pub fn get_text(&self, path: &str) -> (u16, String) {
        let result = ureq::get(&format!("{}{path}", self.base)).timeout(Duration::from_secs(60)).call();
        let response = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("GET {path}: {e}"),
        };
        (response.status(), response.into_string().expect("a readable body"))
    }

    pub fn post_json(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        self.call("POST", path, Some(token), Some(("application/json", &body.to_string())))
    }

    pub fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call("GET", path, Some(token), None)
    }

    /// Poll until `pred` holds for the case (as the admin sees it), or fail.
    pub fn wait_case(&self, id: i64, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, case) = self.get(&format!("/v1/cases/{id}"), "admin");
            assert_eq!(status, 200, "{case}");
            if pred(&case) {
                return case;
            }
            assert!(Instant::now() < deadline, "case {id} never became {what}: {case}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: no drain, no final checkpoint, as when the machine dies.
    pub fn kill(mut self) {
        let mut child = self.child.take().expect("running");
        let _ = child.kill();
        let _ = child.wait();
    }

    /// SIGTERM, then wait for the exit; returns whether it exited cleanly, and its stderr.
    pub fn terminate(mut self) -> (bool, String) {
        let mut child = self.child.take().expect("running");
        let killed = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().expect("kill");
        assert!(killed.success());
        let status = child.wait().expect("waiting for the server");
        // The reader thread finishes when the pipe closes.
        std::thread::sleep(Duration::from_millis(100));
        let log = self.stderr.lock().unwrap().clone();
        (status.success(), log)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A server over a registry that knows one mother, and her child's IIN; `seed` keeps the
/// people of different tests apart.
pub fn started(seed: u16) -> (TestDir, Server, String, String) {
    let t = TestDir::new();
    let mother = iin(1991, 3, 4, Sex::Female, seed);
    let child = iin(2026, 11, 2, Sex::Male, seed);
    registry(&t, &[&mother]);
    let server = Server::start(&t, "");
    (t, server, mother, child)
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339()
}

pub fn case_ids_by_service(server: &Server) -> Vec<(String, i64)> {
    let (status, body) = server.get("/v1/cases", "admin");
    assert_eq!(status, 200, "{body}");
    body["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["service"].as_str().unwrap().to_owned(), c["id"].as_i64().unwrap()))
        .collect()
}
