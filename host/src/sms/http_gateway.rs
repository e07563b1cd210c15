//! An SMS aggregator's HTTP API: one JSON `POST` per message. Receipts and replies come
//! back through the host's own webhooks (`/v1/sms/status`, `/v1/sms/inbound`).
//!
//! The request carries the submission key (the outbox id and a keyed hash of the message)
//! as `Idempotency-Key` and as `message_id`, so an
//! aggregator that honours it drops the resubmission that follows a crash between its
//! answer and the host's record of it. `429` and `5xx` answers, redirects and network
//! errors are transient (the message stays queued); other `4xx` answers are refusals for
//! good; any `2xx` took the message.

use std::time::Duration;

use serde_json::json;

use super::encoding::{self, Encoding};
use super::gateway::{Done, Gateway, GatewayError, Next, OutgoingSms, Progress};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpGatewayConfig {
    pub url: String,
    /// Sent as `Authorization: Bearer …` when set.
    pub token: Option<String>,
    pub timeout: Duration,
    /// Requests in flight at once.
    pub concurrency: usize,
}

/// The URL as logs may show it: no credentials, no query (either may hold a key).
pub fn shown_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}/{path}")
}

pub struct HttpGateway {
    config: HttpGatewayConfig,
    agent: ureq::Agent,
}

/// The most of an error body quoted back in a refusal.
const QUOTED_BODY_CHARS: usize = 200;

impl HttpGateway {
    pub fn new(config: HttpGatewayConfig) -> Self {
        // A redirect would turn the POST into a GET elsewhere, without the message.
        let agent = ureq::AgentBuilder::new().timeout(config.timeout).redirects(0).build();
        HttpGateway { config, agent }
    }
}

impl Gateway for HttpGateway {
    /// `concurrency` requests at once, each outcome reported on the calling thread as it
    /// comes. After a transient failure or a stop nothing new starts; what is in flight
    /// finishes and is reported.
    fn submit_each(&self, batch: &[OutgoingSms<'_>], done: &mut Done<'_>) -> anyhow::Result<()> {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let (results, outcomes) = std::sync::mpsc::channel();
        std::thread::scope(|scope| {
            for _ in 0..self.config.concurrency.clamp(1, batch.len().max(1)) {
                let results = results.clone();
                let (next, stop) = (&next, &stop);
                scope.spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(sms) = batch.get(i) else { break };
                        let result = self.submit(sms);
                        if matches!(result, Err(GatewayError::Transient(_))) {
                            stop.store(true, Ordering::SeqCst);
                        }
                        if results.send((i, result)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(results);
            // Every request that went out is reported, even after a stop.
            let mut outcome = Ok(());
            for (i, result) in outcomes {
                if outcome.is_err() {
                    continue;
                }
                match done(i, Progress::Done(result)) {
                    Ok(Next::Continue) => {}
                    Ok(Next::Stop) => stop.store(true, Ordering::SeqCst),
                    Err(e) => {
                        stop.store(true, Ordering::SeqCst);
                        outcome = Err(e);
                    }
                }
            }
            outcome
        })
    }

    fn submit(&self, sms: &OutgoingSms<'_>) -> Result<Vec<String>, GatewayError> {
        let body = json!({
            "message_id": sms.key,
            "to": sms.phone,
            "text": sms.text,
            "parts": sms.parts,
            "encoding": match encoding::count(sms.text).encoding {
                Encoding::Gsm7 => "gsm7",
                Encoding::Ucs2 => "ucs2",
            },
        });
        let mut request =
            self.agent.post(&self.config.url).set("Content-Type", "application/json").set("Idempotency-Key", sms.key);
        if let Some(token) = &self.config.token {
            request = request.set("Authorization", &format!("Bearer {token}"));
        }
        let response = match request.send_string(&body.to_string()) {
            Ok(r) => r,
            Err(ureq::Error::Status(code, r)) => {
                let text: String = r.into_string().unwrap_or_default().chars().take(QUOTED_BODY_CHARS).collect();
                let why = format!("the gateway answered {code}: {text}");
                return Err(if code == 429 || code >= 500 {
                    GatewayError::Transient(why)
                } else {
                    GatewayError::Rejected(why)
                });
            }
            // The kind only: the full error quotes the URL, which may carry a key.
            Err(e) => return Err(GatewayError::Transient(format!("reaching the gateway: {}", e.kind()))),
        };
        if (300..400).contains(&response.status()) {
            return Err(GatewayError::Transient(format!(
                "the gateway answered {} (redirects are not followed: set `sms.http.url` to the final address)",
                response.status()
            )));
        }
        // A 2xx took the message. Its receipts need the gateway's id; without one, the
        // submission key stands in (what an aggregator that echoes it would use).
        let text = response.into_string().unwrap_or_default();
        let answer: serde_json::Value = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        match answer.get("id") {
            Some(serde_json::Value::String(id)) if !id.is_empty() && id.len() <= 128 => Ok(vec![id.clone()]),
            Some(serde_json::Value::Number(n)) => Ok(vec![n.to_string()]),
            _ => {
                crate::metrics::step("sms", "gateway-answer-without-id");
                tracing::warn!(
                    message = sms.message_id,
                    "the gateway took a message without giving an `id`; receipts must name its key"
                );
                Ok(vec![sms.key.to_owned()])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_credentials_or_query() {
        assert_eq!(
            shown_url("https://user:pass@sms.example.kz:8443/v1/send?api_key=SECRET#x"),
            "https://sms.example.kz:8443/v1/send"
        );
        assert_eq!(shown_url("http://127.0.0.1:9/"), "http://127.0.0.1:9/");
        assert_eq!(shown_url("http://h"), "http://h/");
    }
}
