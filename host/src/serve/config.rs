//! `proactive serve` settings: built-in defaults, then a TOML file, then `PROACTIVE_*`
//! environment variables, then flags, each overriding the one before. No file is needed:
//! the defaults run on the embedded parts (SQLite, snapshot registries, simulated SMS).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize;

use crate::sms::window::SendingWindow;

/// The file's shape. Unknown keys are errors, so a misspelt setting is never ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub db: Option<PathBuf>,
    pub plugins: Option<PathBuf>,
    pub registry: Option<PathBuf>,
    /// Scripted subscribers for the simulated network (as `demo` writes them).
    pub subscribers: Option<PathBuf>,
    #[serde(default)]
    pub sms: SmsFile,
    #[serde(default)]
    pub limits: LimitsFile,
    #[serde(default)]
    pub tokens: Vec<TokenFile>,
    #[serde(default)]
    pub agencies: Vec<AgencyFile>,
}

/// An agency and the Ed25519 key its plugin uploads must be signed with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgencyFile {
    pub id: String,
    /// Base64 of the 32-byte public key (`proactive plugin keygen` writes it).
    pub public_key: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsFile {
    /// Local Almaty hours, `"09:00-21:00"`.
    pub window: Option<String>,
    /// `sim` (the simulated network, the default) or `smpp`.
    pub gateway: Option<String>,
    /// Sends of one message in all when the network reports it expired or undeliverable.
    pub delivery_attempts: Option<u32>,
    /// How long before a retry, in seconds.
    pub retry_seconds: Option<u32>,
    /// SMS to one number in any 24 hours, at most.
    pub per_recipient_per_day: Option<u32>,
    /// Help texts (answers to unmatched replies) to one number in any 24 hours, at most.
    pub help_per_day: Option<u32>,
    pub smpp: Option<SmppFile>,
    pub http: Option<HttpFile>,
}

/// `[sms.http]`: an aggregator's HTTP API. The token may come from
/// `PROACTIVE_SMS_HTTP_TOKEN` instead, so it need not be written in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpFile {
    /// Where each message is POSTed (`http://` or `https://`).
    pub url: Option<String>,
    pub token: Option<String>,
    pub timeout_ms: Option<u64>,
    /// Requests in flight at once (default 4).
    pub concurrency: Option<usize>,
}

/// `[sms.smpp]`: the SMSC account. The password may come from `PROACTIVE_SMPP_PASSWORD`
/// instead, so it need not be written in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmppFile {
    /// `host:port` of the SMSC.
    pub address: Option<String>,
    pub system_id: Option<String>,
    pub password: Option<String>,
    pub system_type: Option<String>,
    /// The sender the citizen sees and answers (a short code by default: `1414`).
    pub source_addr: Option<String>,
    pub source_ton: Option<u8>,
    pub source_npi: Option<u8>,
    /// `submit_sm` in flight at once.
    pub window: Option<usize>,
    /// `submit_sm` a second at most (0: no limit).
    pub rate_per_second: Option<u32>,
    pub enquire_link_seconds: Option<u64>,
    pub response_timeout_ms: Option<u64>,
    pub reconnect_max_ms: Option<u64>,
}

/// Which gateway carries SMS.
#[derive(Debug, Clone)]
pub enum GatewayChoice {
    Sim,
    Smpp(Box<crate::sms::smpp::SmppConfig>),
    Http(crate::sms::http_gateway::HttpGatewayConfig),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    pub max_body_bytes: Option<usize>,
    pub max_batch_lines: Option<usize>,
    /// How often timers fire and the outbox drains, in milliseconds.
    pub tick_ms: Option<u64>,
    /// Consecutive failed calls that pause a plugin (0: never).
    pub breaker_failures: Option<u32>,
    /// How long shutdown waits for open connections, in seconds.
    pub drain_seconds: Option<u64>,
}

/// A bearer token as configured: only its SHA-256 is ever written down.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenFile {
    /// A name for the token, recorded as the actor of what it does.
    pub id: String,
    /// Hex SHA-256 of the token (`proactive token new` prints it).
    pub sha256: String,
    /// `admin`, `agency`, `event-source` or `gateway`.
    pub role: String,
    /// The agency an `agency` token acts for.
    pub agency: Option<String>,
}

/// Settings as flags and environment give them (`None`: not given there).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub listen: Option<String>,
    pub db: Option<PathBuf>,
    pub plugins: Option<PathBuf>,
    pub registry: Option<PathBuf>,
    pub subscribers: Option<PathBuf>,
    pub window: Option<String>,
    pub clock_file: Option<PathBuf>,
}

/// The resolved settings the server runs with.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub db: PathBuf,
    pub plugins: PathBuf,
    pub registry: PathBuf,
    pub subscribers: Option<PathBuf>,
    pub window: SendingWindow,
    pub max_body_bytes: usize,
    pub max_batch_lines: usize,
    pub tick: std::time::Duration,
    pub breaker_failures: u32,
    pub drain: std::time::Duration,
    pub tokens: Vec<TokenFile>,
    pub agency_keys: crate::deploy::signing::AgencyKeys,
    pub clock_file: Option<PathBuf>,
    pub gateway: GatewayChoice,
    pub delivery: crate::pipeline::DeliveryPolicy,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
pub const DEFAULT_MAX_BATCH_LINES: usize = 100_000;

impl ServeConfig {
    pub fn resolve(o: &Overrides) -> anyhow::Result<ServeConfig> {
        let mut file = match &o.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let listen_text = o.listen.clone().or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.into());
        let listen = listen_text
            .parse()
            .map_err(|_| anyhow::anyhow!("setting `listen`: expected an address and port such as 127.0.0.1:8080"))?;
        let delivery = delivery_policy(&file.sms)?;
        let gateway = gateway_choice(&mut file.sms)?;
        let window = match o.window.clone().or(file.sms.window) {
            Some(w) => parse_window(&w).context("setting `sms.window`")?,
            None => SendingWindow::default(),
        };
        let max_body_bytes = file.limits.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
        let max_batch_lines = file.limits.max_batch_lines.unwrap_or(DEFAULT_MAX_BATCH_LINES);
        anyhow::ensure!(max_body_bytes >= 1024, "setting `limits.max_body_bytes`: at least 1024");
        anyhow::ensure!(max_batch_lines >= 1, "setting `limits.max_batch_lines`: at least 1");
        let tick_ms = file.limits.tick_ms.unwrap_or(1000);
        anyhow::ensure!((10..=60_000).contains(&tick_ms), "setting `limits.tick_ms`: between 10 and 60000");
        let drain_seconds = file.limits.drain_seconds.unwrap_or(30);
        anyhow::ensure!((1..=3600).contains(&drain_seconds), "setting `limits.drain_seconds`: between 1 and 3600");
        let mut agency_keys = crate::deploy::signing::AgencyKeys::default();
        for (i, a) in file.agencies.iter().enumerate() {
            let key = crate::deploy::signing::parse_public_key(&a.public_key)
                .with_context(|| format!("setting `agencies`, entry {} ({:?}): `public_key`", i + 1, a.id))?;
            agency_keys.insert(&a.id, key);
        }
        Ok(ServeConfig {
            listen,
            db: o.db.clone().or(file.db).unwrap_or_else(|| "proactive.sqlite".into()),
            plugins: o.plugins.clone().or(file.plugins).unwrap_or_else(|| "target/plugins".into()),
            registry: o.registry.clone().or(file.registry).unwrap_or_else(|| "registry".into()),
            subscribers: o.subscribers.clone().or(file.subscribers),
            window,
            max_body_bytes,
            max_batch_lines,
            tick: std::time::Duration::from_millis(tick_ms),
            breaker_failures: file
                .limits
                .breaker_failures
                .unwrap_or_else(|| crate::runtime::Limits::default().breaker_failures),
            drain: std::time::Duration::from_secs(drain_seconds),
            tokens: file.tokens,
            agency_keys,
            clock_file: o.clock_file.clone(),
            gateway,
            delivery,
        })
    }
}

fn delivery_policy(sms: &SmsFile) -> anyhow::Result<crate::pipeline::DeliveryPolicy> {
    let d = crate::pipeline::DeliveryPolicy::default();
    let bounded = |key: &str, value: Option<u32>, range: std::ops::RangeInclusive<u32>, default: u32| {
        let v = value.unwrap_or(default);
        anyhow::ensure!(range.contains(&v), "setting `sms.{key}`: between {} and {}", range.start(), range.end());
        Ok(v)
    };
    Ok(crate::pipeline::DeliveryPolicy {
        attempts: bounded("delivery_attempts", sms.delivery_attempts, 1..=5, d.attempts)?,
        retry_after_seconds: i64::from(bounded(
            "retry_seconds",
            sms.retry_seconds,
            1..=86_400,
            d.retry_after_seconds as u32,
        )?),
        per_recipient_per_day: bounded(
            "per_recipient_per_day",
            sms.per_recipient_per_day,
            1..=1000,
            d.per_recipient_per_day,
        )?,
        help_per_day: bounded("help_per_day", sms.help_per_day, 0..=100, d.help_per_day)?,
    })
}

fn gateway_choice(sms: &mut SmsFile) -> anyhow::Result<GatewayChoice> {
    let name = sms.gateway.as_deref().unwrap_or("sim");
    let unused = |table: &str| anyhow::anyhow!("setting `[sms.{table}]` is given, but `sms.gateway` is {name:?}");
    match name {
        "sim" | "http" if sms.smpp.is_some() => Err(unused("smpp")),
        "sim" | "smpp" if sms.http.is_some() => Err(unused("http")),
        "sim" => Ok(GatewayChoice::Sim),
        "smpp" => {
            let f = sms
                .smpp
                .take()
                .ok_or_else(|| anyhow::anyhow!("setting `sms.gateway = \"smpp\"` needs an `[sms.smpp]` table"))?;
            let password = std::env::var("PROACTIVE_SMPP_PASSWORD").ok();
            smpp_config(f, password).map(|c| GatewayChoice::Smpp(Box::new(c)))
        }
        "http" => {
            let f = sms
                .http
                .take()
                .ok_or_else(|| anyhow::anyhow!("setting `sms.gateway = \"http\"` needs an `[sms.http]` table"))?;
            let url = f.url.ok_or_else(|| anyhow::anyhow!("setting `sms.http.url`: required"))?;
            anyhow::ensure!(
                url.starts_with("http://") || url.starts_with("https://"),
                "setting `sms.http.url`: expected an http:// or https:// address"
            );
            let timeout_ms = f.timeout_ms.unwrap_or(10_000);
            anyhow::ensure!(
                (100..=120_000).contains(&timeout_ms),
                "setting `sms.http.timeout_ms`: between 100 and 120000"
            );
            let token = std::env::var("PROACTIVE_SMS_HTTP_TOKEN").ok().or(f.token);
            // It goes into a header: a space or line break would split or corrupt it.
            anyhow::ensure!(
                token.as_deref().is_none_or(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic())),
                "setting `sms.http.token`: printable ASCII without spaces"
            );
            let concurrency = f.concurrency.unwrap_or(4);
            anyhow::ensure!((1..=64).contains(&concurrency), "setting `sms.http.concurrency`: between 1 and 64");
            Ok(GatewayChoice::Http(crate::sms::http_gateway::HttpGatewayConfig {
                url,
                token,
                timeout: std::time::Duration::from_millis(timeout_ms),
                concurrency,
            }))
        }
        other => {
            anyhow::bail!("setting `sms.gateway`: {other:?} is not a gateway; expected \"sim\", \"smpp\" or \"http\"")
        }
    }
}

fn smpp_config(f: SmppFile, password_env: Option<String>) -> anyhow::Result<crate::sms::smpp::SmppConfig> {
    use std::time::Duration;
    let address =
        f.address.ok_or_else(|| anyhow::anyhow!("setting `sms.smpp.address`: required (host:port of the SMSC)"))?;
    let port = address.rsplit_once(':').map(|(host, port)| (host, port.parse::<u16>()));
    anyhow::ensure!(
        matches!(port, Some((host, Ok(p))) if !host.is_empty() && p > 0),
        "setting `sms.smpp.address`: expected host:port, with a port from 1 to 65535"
    );
    let mut c = crate::sms::smpp::SmppConfig::new(address);
    // SMPP 3.4 field sizes, less the terminating NUL; C-octet strings are ASCII.
    let text = |key: &str, value: Option<String>, max: usize, default: String| -> anyhow::Result<String> {
        let v = value.unwrap_or(default);
        anyhow::ensure!(
            v.len() <= max && v.is_ascii() && !v.contains('\0'),
            "setting `sms.smpp.{key}`: at most {max} ASCII characters"
        );
        Ok(v)
    };
    c.system_id = text("system_id", f.system_id, 15, c.system_id)?;
    c.password = text("password", password_env.or(f.password), 8, c.password)?;
    c.system_type = text("system_type", f.system_type, 12, c.system_type)?;
    c.source.addr = text("source_addr", f.source_addr, 20, c.source.addr)?;
    anyhow::ensure!(!c.source.addr.is_empty(), "setting `sms.smpp.source_addr`: must not be empty");
    anyhow::ensure!(!c.system_id.is_empty(), "setting `sms.smpp.system_id`: must not be empty");
    // A sender name with letters is alphanumeric (TON 5, NPI 0) unless said otherwise.
    let alphanumeric = !c.source.addr.bytes().all(|b| b.is_ascii_digit() || b == b'+');
    let (ton, npi) = if alphanumeric { (5, 0) } else { (c.source.ton, c.source.npi) };
    c.source.ton = f.source_ton.unwrap_or(ton);
    c.source.npi = f.source_npi.unwrap_or(npi);
    anyhow::ensure!(c.source.ton <= 6, "setting `sms.smpp.source_ton`: 0 to 6");
    anyhow::ensure!(c.source.npi <= 18, "setting `sms.smpp.source_npi`: 0 to 18");
    c.window = f.window.unwrap_or(c.window);
    anyhow::ensure!((1..=1000).contains(&c.window), "setting `sms.smpp.window`: between 1 and 1000");
    c.rate_per_second = f.rate_per_second.unwrap_or(c.rate_per_second);
    anyhow::ensure!(c.rate_per_second <= 100_000, "setting `sms.smpp.rate_per_second`: at most 100000 (0: no limit)");
    let secs = f.enquire_link_seconds.unwrap_or(c.enquire_link.as_secs());
    anyhow::ensure!((1..=3600).contains(&secs), "setting `sms.smpp.enquire_link_seconds`: between 1 and 3600");
    c.enquire_link = Duration::from_secs(secs);
    let ms = f.response_timeout_ms.unwrap_or(c.response_timeout.as_millis() as u64);
    anyhow::ensure!((100..=120_000).contains(&ms), "setting `sms.smpp.response_timeout_ms`: between 100 and 120000");
    c.response_timeout = Duration::from_millis(ms);
    let ms = f.reconnect_max_ms.unwrap_or(c.reconnect_max.as_millis() as u64);
    anyhow::ensure!((100..=600_000).contains(&ms), "setting `sms.smpp.reconnect_max_ms`: between 100 and 600000");
    c.reconnect_max = Duration::from_millis(ms);
    Ok(c)
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading the config file {}", path.display()))?;
    toml::from_str(&text).map_err(|e| {
        // The line, not the snippet: the snippet could quote a password.
        let line = e.span().map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        match line {
            Some(line) => anyhow::anyhow!("the config file {}, line {line}: {}", path.display(), e.message()),
            None => anyhow::anyhow!("the config file {}: {}", path.display(), e.message()),
        }
    })
}

/// `"HH:MM-HH:MM"`, local Almaty time.
pub fn parse_window(text: &str) -> anyhow::Result<SendingWindow> {
    let bad = || anyhow::anyhow!("expected local hours such as \"09:00-21:00\"");
    let (start, end) = text.split_once('-').ok_or_else(bad)?;
    let time = |s: &str| chrono::NaiveTime::parse_from_str(s.trim(), "%H:%M").map_err(|_| bad());
    // "24:00" closes the window at the end of the day, so "00:00-24:00" is all day.
    let end = match end.trim() {
        "24:00" => chrono::NaiveTime::from_hms_nano_opt(23, 59, 59, 999_999_999).ok_or_else(bad)?,
        other => time(other)?,
    };
    Ok(SendingWindow::new(time(start)?, end)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_file(text: &str) -> anyhow::Result<ServeConfig> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serve.toml");
        std::fs::write(&path, text).unwrap();
        ServeConfig::resolve(&Overrides { config: Some(path), ..Overrides::default() })
    }

    #[test]
    fn defaults_need_no_file() {
        let c = ServeConfig::resolve(&Overrides::default()).unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.db, PathBuf::from("proactive.sqlite"));
        assert!(c.tokens.is_empty());
    }

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serve.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:9000\"\ndb = \"a.sqlite\"\n").unwrap();
        let o = Overrides { config: Some(path), db: Some("b.sqlite".into()), ..Overrides::default() };
        let c = ServeConfig::resolve(&o).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.db, PathBuf::from("b.sqlite"));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let e = with_file("lisen = \"x\"\n").unwrap_err().to_string();
        assert!(e.contains("lisen"), "{e}");
        let e = with_file("listen = \"nowhere\"\n").unwrap_err().to_string();
        assert!(e.contains("`listen`"), "{e}");
        assert!(parse_window("00:00-24:00").is_ok(), "all day");
        let e = with_file("[sms]\nwindow = \"21:00-09:00\"\n").unwrap_err();
        assert!(format!("{e:#}").contains("sms.window"), "{e:#}");
        let e = with_file("[limits]\ntick_ms = 0\n").unwrap_err().to_string();
        assert!(e.contains("tick_ms"), "{e}");
        let e = with_file("[sms]\nwindow = \"09:00-21:00\"\n\n[limits]\ntick_ms = -1\n").unwrap_err().to_string();
        assert!(e.contains("line 5"), "a type error names its line: {e}");
    }

    #[test]
    fn the_smpp_gateway_is_checked_field_by_field() {
        let c = with_file(
            "[sms]\ngateway = \"smpp\"\n[sms.smpp]\naddress = \"127.0.0.1:2775\"\nsystem_id = \"egov\"\nwindow = 20\n",
        )
        .unwrap();
        let GatewayChoice::Smpp(s) = c.gateway else { panic!("not smpp") };
        assert_eq!((s.system_id.as_str(), s.window, s.source.addr.as_str()), ("egov", 20, "1414"));
        for (file, names) in [
            ("[sms]\ngateway = \"smpp\"\n", "[sms.smpp]"),
            ("[sms]\ngateway = \"kannel\"\n", "sms.gateway"),
            ("[sms]\ngateway = \"smpp\"\n[sms.smpp]\nsystem_id = \"x\"\n", "sms.smpp.address"),
            (
                "[sms]\ngateway = \"smpp\"\n[sms.smpp]\naddress = \"h:1\"\npassword = \"much-too-long\"\n",
                "sms.smpp.password",
            ),
            ("[sms]\ngateway = \"smpp\"\n[sms.smpp]\naddress = \"h:1\"\nwindow = 0\n", "sms.smpp.window"),
            ("[sms]\ngateway = \"smpp\"\n[sms.smpp]\naddress = \"h:99999\"\n", "sms.smpp.address"),
            ("[sms]\ngateway = \"smpp\"\n[sms.smpp]\naddress = \"h:1\"\nsystem_id = \"\"\n", "sms.smpp.system_id"),
            (
                "[sms]\ngateway = \"http\"\n[sms.http]\nurl = \"http://x\"\ntoken = \"a\\nX-Evil: 1\"\n",
                "sms.http.token",
            ),
            ("[sms.smpp]\naddres = \"h:1\"\n", "addres"),
            ("[sms.smpp]\naddress = \"h:1\"\n", "sms.gateway"),
            ("[sms]\ngateway = \"http\"\n[sms.http]\nurl = \"ftp://x\"\n", "sms.http.url"),
            ("[sms]\ngateway = \"http\"\n", "[sms.http]"),
        ] {
            let e = format!("{:#}", with_file(file).unwrap_err());
            assert!(e.contains(names), "{file}: {e}");
        }
        assert!(matches!(with_file("").unwrap().gateway, GatewayChoice::Sim));
        let c =
            with_file("[sms]\ngateway = \"smpp\"\n[sms.smpp]\naddress = \"h:1\"\nsource_addr = \"eGov\"\n").unwrap();
        let GatewayChoice::Smpp(s) = c.gateway else { panic!("not smpp") };
        assert_eq!((s.source.ton, s.source.npi), (5, 0), "a sender name is alphanumeric");
        let e = format!("{:#}", with_file("[sms]\nper_recipient_per_day = 0\n").unwrap_err());
        assert!(e.contains("sms.per_recipient_per_day"), "{e}");
        let c = with_file("[sms]\nretry_seconds = 300\ndelivery_attempts = 3\n").unwrap();
        assert_eq!((c.delivery.retry_after_seconds, c.delivery.attempts), (300, 3));
    }
}
