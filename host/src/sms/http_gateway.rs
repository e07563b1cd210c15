//! An SMS aggregator's HTTP API: one JSON `POST` per message. Receipts and replies come
//! back through the host's own webhooks (`/v1/sms/status`, `/v1/sms/inbound`).
//!
//! The request carries the submission key (the outbox id and a keyed hash of the message)
//! as `Idempotency-Key` and as `message_id`, so an
//! aggregator that honours it drops the resubmission that follows a crash between its
//! answer and the host's record of it. `429` and `5xx` answers and network errors are
//! transient (the message stays queued); other `4xx` answers are refusals for good.

use std::time::Duration;

use serde_json::json;

use super::encoding::{self, Encoding};
use super::gateway::{Gateway, GatewayError, OutgoingSms};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpGatewayConfig {
    pub url: String,
    /// Sent as `Authorization: Bearer …` when set.
    pub token: Option<String>,
    pub timeout: Duration,
}

pub struct HttpGateway {
    config: HttpGatewayConfig,
    agent: ureq::Agent,
}

/// The most of an error body quoted back in a refusal.
const QUOTED_BODY_CHARS: usize = 200;

impl HttpGateway {
    pub fn new(config: HttpGatewayConfig) -> Self {
        let agent = ureq::AgentBuilder::new().timeout(config.timeout).build();
        HttpGateway { config, agent }
    }
}

impl Gateway for HttpGateway {
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
            Err(e) => return Err(GatewayError::Transient(format!("reaching the gateway: {e}"))),
        };
        let text = response.into_string().map_err(|e| GatewayError::Transient(format!("reading its answer: {e}")))?;
        let answer: serde_json::Value = serde_json::from_str(&text)
            .map_err(|_| GatewayError::Transient("the gateway's answer is not JSON".into()))?;
        match answer.get("id") {
            Some(serde_json::Value::String(id)) if !id.is_empty() && id.len() <= 128 => Ok(vec![id.clone()]),
            Some(serde_json::Value::Number(n)) => Ok(vec![n.to_string()]),
            // It may have taken the message: the retry carries the same idempotency key.
            _ => Err(GatewayError::Transient("the gateway's answer has no usable `id`".into())),
        }
    }
}
