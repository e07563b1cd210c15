//! The embedded store: one SQLite file in WAL mode.
//!
//! One connection behind a mutex: SQLite serialises writers anyway, and a single writer
//! with batched transactions is faster than contending ones. Statements are cached.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use anyhow::Context as _;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{
    AuditRow, Case, CaseFilter, CaseId, DecisionRecord, DeliveryStatus, HeldReply, Inbound, InboundRecord, MessageKind,
    MessageState, NewMessage, OutboxMessage, PluginAction, PluginVersion, Receipt, ServiceCounts, Store,
    StoredCheckpoint, Tx,
};
use crate::model::{CaseState, Event, Language, Timestamp};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS cases (
    id INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL REFERENCES events(id),
    service TEXT NOT NULL,
    agency TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    ground TEXT,
    recipient TEXT,
    phone TEXT,
    language TEXT,
    consent_id TEXT,
    reply_code TEXT,
    asks INTEGER NOT NULL DEFAULT 0,
    plugin_state TEXT NOT NULL DEFAULT '',
    offered_at INTEGER,
    deadline INTEGER,
    result TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (event_id, service)
);
CREATE INDEX IF NOT EXISTS cases_timer ON cases (deadline) WHERE state = 'awaiting-reply';
CREATE INDEX IF NOT EXISTS cases_phone ON cases (phone) WHERE state IN ('offered', 'awaiting-reply');
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY,
    case_id INTEGER NOT NULL REFERENCES cases(id),
    at INTEGER NOT NULL,
    stage TEXT NOT NULL,
    plugin_id TEXT,
    plugin_version TEXT,
    plugin_hash TEXT,
    decision TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_case ON decisions (case_id);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    case_id INTEGER REFERENCES cases(id),
    kind TEXT NOT NULL,
    phone TEXT NOT NULL,
    text TEXT NOT NULL,
    parts INTEGER NOT NULL,
    not_before INTEGER NOT NULL,
    state TEXT NOT NULL,
    queued_at INTEGER NOT NULL,
    sent_at INTEGER,
    gateway_id TEXT
);
CREATE INDEX IF NOT EXISTS cases_waiting ON cases (service, id) WHERE state = 'received';
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (not_before) WHERE state = 'queued';
CREATE INDEX IF NOT EXISTS outbox_gateway ON outbox (gateway_id) WHERE state = 'sent';
CREATE INDEX IF NOT EXISTS outbox_phone ON outbox (phone, sent_at);
CREATE TABLE IF NOT EXISTS outbox_parts (
    message_id INTEGER NOT NULL REFERENCES outbox(id),
    part INTEGER NOT NULL,
    gateway_id TEXT NOT NULL,
    status TEXT,
    PRIMARY KEY (message_id, part)
);
CREATE INDEX IF NOT EXISTS outbox_parts_gateway ON outbox_parts (gateway_id);
CREATE TABLE IF NOT EXISTS receipts (
    message_id INTEGER PRIMARY KEY REFERENCES outbox(id),
    status TEXT NOT NULL,
    at INTEGER NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS inbound (
    id INTEGER PRIMARY KEY,
    phone TEXT NOT NULL,
    text TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    answer TEXT NOT NULL,
    case_id INTEGER REFERENCES cases(id),
    status TEXT NOT NULL,
    UNIQUE (phone, received_at, text)
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    entry TEXT NOT NULL,
    leaf_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_nodes (
    level INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS plugin_versions (
    seq INTEGER PRIMARY KEY,
    plugin TEXT NOT NULL,
    version TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    agency TEXT NOT NULL,
    signature TEXT,
    uploaded_at INTEGER NOT NULL,
    uploaded_by TEXT NOT NULL,
    effective_from INTEGER,
    component BLOB NOT NULL,
    UNIQUE (plugin, sha256)
);
CREATE TABLE IF NOT EXISTS plugin_actions (
    seq INTEGER PRIMARY KEY,
    plugin TEXT NOT NULL,
    action TEXT NOT NULL,
    version_seq INTEGER REFERENCES plugin_versions(seq),
    at INTEGER NOT NULL,
    actor TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    size INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    root TEXT NOT NULL,
    note TEXT NOT NULL
);
"#;

pub struct SqliteStore {
    conn: Mutex<Connection>,
    /// Held for the store's lifetime by a process that runs the pipeline on it.
    _writer_lock: Option<std::fs::File>,
}

impl SqliteStore {
    /// Open a store to run the pipeline on, refusing if another process is already doing so:
    /// two runs on one store would each send the SMS the other is about to send.
    pub fn open_exclusive(path: &Path) -> anyhow::Result<Self> {
        let lock_path = PathBuf::from(format!("{}.lock", path.display()));
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("creating the store's lock file {}", lock_path.display()))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                anyhow::bail!("the store {} is in use by another process", path.display())
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", lock_path.display()));
            }
        }
        let mut store = Self::open(path)?;
        store._writer_lock = Some(lock);
        Ok(store)
    }

    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let conn = Connection::open(path).with_context(|| format!("opening the store {}", path.display()))?;
        Self::init(conn)
    }

    pub fn in_memory() -> anyhow::Result<Self> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> anyhow::Result<Self> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // NORMAL is durable across process crashes in WAL mode; only an OS crash can lose
        // the last transactions, never corrupt the file.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let chained: bool =
            conn.prepare("SELECT 1 FROM pragma_table_info('audit') WHERE name = 'prev_hash'")?.exists([])?;
        anyhow::ensure!(
            !chained,
            "this store was written by an earlier version with a linear audit chain; start a new store"
        );
        conn.execute_batch(SCHEMA).context("creating the schema")?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(SqliteStore { conn: Mutex::new(conn), _writer_lock: None })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

const CASE_COLUMNS: &str = "id, event_id, service, agency, state, reason, ground, recipient, phone, language, \
     consent_id, reply_code, asks, plugin_state, offered_at, deadline, result, created_at, updated_at";

fn case_from_row(r: &Row<'_>) -> rusqlite::Result<Case> {
    let state: String = r.get(4)?;
    let language: Option<String> = r.get(9)?;
    Ok(Case {
        id: r.get(0)?,
        event_id: r.get(1)?,
        service: r.get(2)?,
        agency: r.get(3)?,
        state: CaseState::parse(&state).unwrap_or(CaseState::Failed),
        reason: r.get(5)?,
        ground: r.get(6)?,
        recipient: r.get(7)?,
        phone: r.get(8)?,
        language: language.as_deref().and_then(Language::parse),
        consent_id: r.get(10)?,
        reply_code: r.get(11)?,
        asks: r.get(12)?,
        plugin_state: r.get(13)?,
        offered_at: r.get(14)?,
        deadline: r.get(15)?,
        result: r.get(16)?,
        created_at: r.get(17)?,
        updated_at: r.get(18)?,
    })
}

/// A part's gateway id; a receipt already recorded for it stays unless the id changed.
const PUT_PART: &str = "INSERT INTO outbox_parts (message_id, part, gateway_id, status) VALUES (?1, ?2, ?3, NULL) \
     ON CONFLICT (message_id, part) DO UPDATE SET gateway_id = excluded.gateway_id, \
     status = CASE WHEN gateway_id = excluded.gateway_id THEN status ELSE NULL END";

const MESSAGE_COLUMNS: &str =
    "id, case_id, kind, phone, text, parts, not_before, state, queued_at, sent_at, gateway_id";

fn delivery_status(r: &Row<'_>, column: usize) -> rusqlite::Result<DeliveryStatus> {
    let text: String = r.get(column)?;
    DeliveryStatus::parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, "unknown delivery status".into())
    })
}

fn message_from_row(r: &Row<'_>) -> rusqlite::Result<OutboxMessage> {
    let kind: String = r.get(2)?;
    let state: String = r.get(7)?;
    Ok(OutboxMessage {
        id: r.get(0)?,
        case_id: r.get(1)?,
        kind: kind_parse(&kind),
        phone: r.get(3)?,
        text: r.get(4)?,
        parts: r.get(5)?,
        not_before: r.get(6)?,
        state: match state.as_str() {
            "queued" => MessageState::Queued,
            "sent" => MessageState::Sent,
            _ => MessageState::Failed,
        },
        queued_at: r.get(8)?,
        sent_at: r.get(9)?,
        // A failed message keeps the gateway's reason in this column, not an id.
        gateway_id: if state == "sent" { r.get(10)? } else { None },
    })
}

fn audit_row(r: &Row<'_>) -> rusqlite::Result<AuditRow> {
    Ok(AuditRow { seq: r.get::<_, i64>(0)? as u64, entry: r.get(1)?, leaf: r.get(2)? })
}

fn checkpoint_row(r: &Row<'_>) -> rusqlite::Result<StoredCheckpoint> {
    Ok(StoredCheckpoint { size: r.get::<_, i64>(0)? as u64, at: r.get(1)?, root: r.get(2)?, note: r.get(3)? })
}

/// A Merkle node: level 0 is the entry's leaf column (hex), higher levels the node table.
fn audit_node(conn: &Connection, level: u32, index: u64) -> anyhow::Result<Option<[u8; 32]>> {
    let hash: Option<Vec<u8>> = if level == 0 {
        let hex_leaf: Option<String> = conn
            .prepare_cached("SELECT leaf_hash FROM audit WHERE seq = ?1")?
            .query_row([index as i64 + 1], |r| r.get(0))
            .optional()?;
        hex_leaf.and_then(|h| hex::decode(h).ok())
    } else {
        conn.prepare_cached("SELECT hash FROM audit_nodes WHERE level = ?1 AND idx = ?2")?
            .query_row(params![level, index as i64], |r| r.get(0))
            .optional()?
    };
    Ok(hash.and_then(|h| <[u8; 32]>::try_from(h).ok()))
}

fn kind_str(k: MessageKind) -> &'static str {
    match k {
        MessageKind::Question => "question",
        MessageKind::Notice => "notice",
        MessageKind::Help => "help",
    }
}

fn kind_parse(s: &str) -> MessageKind {
    match s {
        "question" => MessageKind::Question,
        "notice" => MessageKind::Notice,
        _ => MessageKind::Help,
    }
}

fn json_str<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

impl Store for SqliteStore {
    fn begin(&self) -> anyhow::Result<Box<dyn Tx + '_>> {
        let conn = self.conn();
        conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(Box::new(SqliteTx { conn, open: true }))
    }

    fn case(&self, id: CaseId) -> anyhow::Result<Option<Case>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(&format!("SELECT {CASE_COLUMNS} FROM cases WHERE id = ?1"))?;
        Ok(st.query_row([id], case_from_row).optional()?)
    }

    fn cases(&self) -> anyhow::Result<Vec<Case>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(&format!("SELECT {CASE_COLUMNS} FROM cases ORDER BY id"))?;
        let rows = st.query_map([], case_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn find_cases(&self, f: &CaseFilter) -> anyhow::Result<Vec<Case>> {
        let conn = self.conn();
        // Absent conditions are NULL parameters, so one cached statement serves every filter.
        let mut st = conn.prepare_cached(&format!(
            "SELECT {CASE_COLUMNS} FROM cases WHERE id > ?1 AND (?2 IS NULL OR agency = ?2) \
             AND (?3 IS NULL OR service = ?3) AND (?4 IS NULL OR state = ?4) ORDER BY id LIMIT ?5"
        ))?;
        let rows = st.query_map(
            params![f.after, f.agency, f.service, f.state.map(|s| s.as_str()), f.limit as i64],
            case_from_row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn due_timers(&self, now: Timestamp, limit: usize, skip: &[String]) -> anyhow::Result<Vec<Case>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(&format!(
            "SELECT {CASE_COLUMNS} FROM cases WHERE state = 'awaiting-reply' AND deadline <= ?1 \
             AND service NOT IN (SELECT value FROM json_each(?3)) ORDER BY deadline, id LIMIT ?2"
        ))?;
        let skip = serde_json::to_string(skip)?;
        let rows = st.query_map(params![now, limit as i64, skip], case_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn held_replies(&self, service: &str, limit: usize) -> anyhow::Result<Vec<HeldReply>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(
            "SELECT i.id, i.case_id, i.text, i.received_at FROM inbound i JOIN cases c ON c.id = i.case_id \
             WHERE i.status = 'held' AND c.service = ?1 ORDER BY i.received_at, i.id LIMIT ?2",
        )?;
        let rows = st.query_map(params![service, limit as i64], |r| {
            Ok(HeldReply { id: r.get(0)?, case_id: r.get(1)?, text: r.get(2)?, received_at: r.get(3)? })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn waiting_cases(&self, service: &str, limit: usize) -> anyhow::Result<Vec<Case>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(&format!(
            "SELECT {CASE_COLUMNS} FROM cases WHERE state = 'received' AND service = ?1 ORDER BY id LIMIT ?2"
        ))?;
        let rows = st.query_map(params![service, limit as i64], case_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn next_timer(&self) -> anyhow::Result<Option<Timestamp>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached("SELECT MIN(deadline) FROM cases WHERE state = 'awaiting-reply'")?;
        Ok(st.query_row([], |r| r.get(0))?)
    }

    fn due_messages(&self, now: Timestamp, limit: usize) -> anyhow::Result<Vec<OutboxMessage>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM outbox WHERE state = 'queued' AND not_before <= ?1 \
             ORDER BY not_before, id LIMIT ?2"
        ))?;
        let rows = st.query_map(params![now, limit as i64], message_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn taken_parts(&self, message: i64) -> anyhow::Result<Vec<String>> {
        let conn = self.conn();
        let mut st =
            conn.prepare_cached("SELECT part, gateway_id FROM outbox_parts WHERE message_id = ?1 ORDER BY part")?;
        let rows = st.query_map([message], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
        // Only the unbroken run from part 1 counts: parts go in order.
        let mut ids = Vec::new();
        for row in rows {
            let (part, id) = row?;
            if part != ids.len() as i64 + 1 {
                break;
            }
            ids.push(id);
        }
        Ok(ids)
    }

    fn sent_to_since(&self, phone: &str, since: Timestamp) -> anyhow::Result<u64> {
        let conn = self.conn();
        let mut st =
            conn.prepare_cached("SELECT count(*) FROM outbox WHERE phone = ?1 AND state = 'sent' AND sent_at >= ?2")?;
        Ok(st.query_row(params![phone, since], |r| r.get::<_, i64>(0))? as u64)
    }

    fn inbound_seen_since(&self, phone: &str, text: &str, since: Timestamp) -> anyhow::Result<bool> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM inbound WHERE phone = ?1 AND text = ?2 AND received_at >= ?3)",
        )?;
        Ok(st.query_row(params![phone, text, since], |r| r.get(0))?)
    }

    fn help_to_since(&self, phone: &str, since: Timestamp) -> anyhow::Result<u64> {
        let conn = self.conn();
        let mut st =
            conn.prepare_cached("SELECT count(*) FROM outbox WHERE phone = ?1 AND kind = 'help' AND queued_at >= ?2")?;
        Ok(st.query_row(params![phone, since], |r| r.get::<_, i64>(0))? as u64)
    }

    fn next_message(&self) -> anyhow::Result<Option<Timestamp>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached("SELECT MIN(not_before) FROM outbox WHERE state = 'queued'")?;
        Ok(st.query_row([], |r| r.get(0))?)
    }

    fn open_cases_for_phone(&self, phone: &str) -> anyhow::Result<Vec<Case>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(&format!(
            "SELECT {CASE_COLUMNS} FROM cases WHERE phone = ?1 AND state IN ('offered', 'awaiting-reply') ORDER BY id"
        ))?;
        let rows = st.query_map([phone], case_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn event(&self, id: &str) -> anyhow::Result<Option<Event>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached("SELECT body FROM events WHERE id = ?1")?;
        let body: Option<String> = st.query_row([id], |r| r.get(0)).optional()?;
        body.map(|b| serde_json::from_str(&b).context("stored event is not valid JSON")).transpose()
    }

    fn decisions(&self, case: CaseId) -> anyhow::Result<Vec<DecisionRecord>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(
            "SELECT at, stage, plugin_id, plugin_version, plugin_hash, decision, detail FROM decisions \
             WHERE case_id = ?1 ORDER BY id",
        )?;
        let rows = st.query_map([case], |r| {
            let stage: String = r.get(1)?;
            let id: Option<String> = r.get(2)?;
            let plugin = match id {
                Some(id) => Some(crate::model::PluginRef { id, version: r.get(3)?, hash: r.get(4)? }),
                None => None,
            };
            Ok(DecisionRecord {
                case_id: case,
                at: r.get(0)?,
                stage: match stage.as_str() {
                    "event" => "event",
                    "reply" => "reply",
                    "timeout" => "timeout",
                    _ => "host",
                },
                plugin,
                decision: r.get(5)?,
                detail: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn counts(&self) -> anyhow::Result<BTreeMap<String, ServiceCounts>> {
        let conn = self.conn();
        let mut out: BTreeMap<String, ServiceCounts> = BTreeMap::new();
        let mut st = conn.prepare_cached(
            "SELECT service, state, COALESCE(ground, reason, ''), COUNT(*) FROM cases GROUP BY 1, 2, 3",
        )?;
        let rows = st.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?))
        })?;
        for row in rows {
            let (service, state, reason, n) = row?;
            let c = out.entry(service).or_default();
            c.cases += n as u64;
            *c.by_state.entry(state.clone()).or_default() += n as u64;
            *c.by_reason.entry((state, reason)).or_default() += n as u64;
        }
        let mut st = conn.prepare_cached(
            "SELECT c.service, COUNT(DISTINCT d.case_id) FROM decisions d JOIN cases c ON c.id = d.case_id \
             WHERE d.decision = 'offer' GROUP BY 1",
        )?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (service, n) = row?;
            out.entry(service).or_default().offers = n as u64;
        }
        let mut st = conn.prepare_cached(
            "SELECT c.service, COUNT(*), SUM(o.parts) FROM outbox o JOIN cases c ON c.id = o.case_id \
             WHERE o.state = 'sent' GROUP BY 1",
        )?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)))?;
        for row in rows {
            let (service, n, parts) = row?;
            let c = out.entry(service).or_default();
            c.messages = n as u64;
            c.parts = parts as u64;
        }
        Ok(out)
    }

    fn audit_rows(&self, after_seq: u64, limit: usize) -> anyhow::Result<Vec<AuditRow>> {
        let conn = self.conn();
        let mut st =
            conn.prepare_cached("SELECT seq, entry, leaf_hash FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2")?;
        let rows = st.query_map(params![after_seq as i64, limit as i64], audit_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn audit_node(&self, level: u32, index: u64) -> anyhow::Result<Option<[u8; 32]>> {
        audit_node(&self.conn(), level, index)
    }

    fn checkpoints(&self) -> anyhow::Result<Vec<StoredCheckpoint>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached("SELECT size, at, root, note FROM checkpoints ORDER BY size")?;
        let rows = st.query_map([], checkpoint_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn audit_rows_containing(&self, text: &str) -> anyhow::Result<Vec<AuditRow>> {
        let conn = self.conn();
        let mut st =
            conn.prepare_cached("SELECT seq, entry, leaf_hash FROM audit WHERE instr(entry, ?1) > 0 ORDER BY seq")?;
        let rows = st.query_map([text], audit_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn cases_for_person(&self, iin: &str) -> anyhow::Result<Vec<Case>> {
        let conn = self.conn();
        let columns = CASE_COLUMNS.split(", ").map(|c| format!("c.{c}")).collect::<Vec<_>>().join(", ");
        let mut st = conn.prepare_cached(&format!(
            "SELECT {columns} FROM cases c JOIN events e ON e.id = c.event_id \
             WHERE c.recipient = ?1 OR json_extract(e.body, '$.subject') = ?1 ORDER BY c.id"
        ))?;
        let rows = st.query_map([iin], case_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn messages_for_case(&self, case: CaseId) -> anyhow::Result<Vec<OutboxMessage>> {
        let conn = self.conn();
        let mut st =
            conn.prepare_cached(&format!("SELECT {MESSAGE_COLUMNS} FROM outbox WHERE case_id = ?1 ORDER BY id"))?;
        let rows = st.query_map([case], message_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn message_by_gateway_id(&self, gateway_id: &str) -> anyhow::Result<Option<OutboxMessage>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM outbox WHERE id = (\
             SELECT max(id) FROM (SELECT id FROM outbox WHERE gateway_id = ?1 AND state = 'sent' \
             UNION ALL SELECT message_id FROM outbox_parts WHERE gateway_id = ?1))"
        ))?;
        Ok(st.query_row([gateway_id], message_from_row).optional()?)
    }

    fn receipts_for_case(&self, case: CaseId) -> anyhow::Result<Vec<Receipt>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(
            "SELECT r.message_id, r.status, r.at, r.received_at FROM receipts r \
             JOIN outbox o ON o.id = r.message_id WHERE o.case_id = ?1 ORDER BY r.message_id",
        )?;
        let rows = st.query_map([case], |r| {
            Ok(Receipt { message_id: r.get(0)?, status: delivery_status(r, 1)?, at: r.get(2)?, received_at: r.get(3)? })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn loose_messages(&self, phone: &str) -> anyhow::Result<Vec<OutboxMessage>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM outbox WHERE case_id IS NULL AND phone = ?1 ORDER BY id"
        ))?;
        let rows = st.query_map([phone], message_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn inbound_for_case(&self, case: CaseId) -> anyhow::Result<Vec<InboundRecord>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(
            "SELECT text, received_at, answer, status FROM inbound WHERE case_id = ?1 ORDER BY received_at, id",
        )?;
        let rows = st.query_map([case], |r| {
            Ok(InboundRecord { text: r.get(0)?, received_at: r.get(1)?, answer: r.get(2)?, status: r.get(3)? })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn message_count(&self) -> anyhow::Result<u64> {
        let conn = self.conn();
        let n: i64 = conn.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))?;
        Ok(n as u64)
    }

    fn inbound_counts(&self) -> anyhow::Result<BTreeMap<String, u64>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached("SELECT status, COUNT(*) FROM inbound GROUP BY 1")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (k, n) = row?;
            out.insert(k, n as u64);
        }
        Ok(out)
    }

    fn plugin_versions(&self, plugin: Option<&str>) -> anyhow::Result<Vec<PluginVersion>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(
            "SELECT seq, plugin, version, sha256, agency, signature, uploaded_at, uploaded_by, effective_from \
             FROM plugin_versions WHERE ?1 IS NULL OR plugin = ?1 ORDER BY seq",
        )?;
        let rows = st.query_map([plugin], |r| {
            Ok(PluginVersion {
                seq: r.get(0)?,
                plugin: r.get(1)?,
                version: r.get(2)?,
                sha256: r.get(3)?,
                agency: r.get(4)?,
                signature: r.get(5)?,
                uploaded_at: r.get(6)?,
                uploaded_by: r.get(7)?,
                effective_from: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn plugin_component(&self, version_seq: i64) -> anyhow::Result<Option<Vec<u8>>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached("SELECT component FROM plugin_versions WHERE seq = ?1")?;
        Ok(st.query_row([version_seq], |r| r.get(0)).optional()?)
    }

    fn plugin_actions(&self, plugin: Option<&str>) -> anyhow::Result<Vec<PluginAction>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(
            "SELECT seq, plugin, action, version_seq, at, actor FROM plugin_actions \
             WHERE ?1 IS NULL OR plugin = ?1 ORDER BY seq",
        )?;
        let rows = st.query_map([plugin], |r| {
            Ok(PluginAction {
                seq: r.get(0)?,
                plugin: r.get(1)?,
                action: r.get(2)?,
                version_seq: r.get(3)?,
                at: r.get(4)?,
                actor: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

struct SqliteTx<'a> {
    conn: MutexGuard<'a, Connection>,
    open: bool,
}

impl Drop for SqliteTx<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

impl Tx for SqliteTx<'_> {
    fn insert_event(&mut self, event: &Event, received_at: Timestamp) -> anyhow::Result<bool> {
        let body = serde_json::to_string(event)?;
        let n = self
            .conn
            .prepare_cached("INSERT OR IGNORE INTO events (id, kind, body, received_at) VALUES (?1, ?2, ?3, ?4)")?
            .execute(params![event.id, event.kind, body, received_at])?;
        Ok(n == 1)
    }

    fn insert_case(&mut self, c: &Case) -> anyhow::Result<CaseId> {
        self.conn
            .prepare_cached(
                "INSERT INTO cases (event_id, service, agency, state, reason, ground, recipient, phone, language, \
                 consent_id, reply_code, asks, plugin_state, offered_at, deadline, result, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
            )?
            .execute(params![
                c.event_id,
                c.service,
                c.agency,
                c.state.as_str(),
                c.reason,
                c.ground,
                c.recipient,
                c.phone,
                c.language.map(Language::as_str),
                c.consent_id,
                c.reply_code,
                c.asks,
                c.plugin_state,
                c.offered_at,
                c.deadline,
                c.result,
                c.created_at,
                c.updated_at
            ])?;
        Ok(self.conn.last_insert_rowid())
    }

    fn update_case(&mut self, c: &Case) -> anyhow::Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE cases SET state = ?2, reason = ?3, ground = ?4, recipient = ?5, phone = ?6, language = ?7, \
                 consent_id = ?8, reply_code = ?9, asks = ?10, plugin_state = ?11, offered_at = ?12, deadline = ?13, \
                 result = ?14, updated_at = ?15 WHERE id = ?1",
            )?
            .execute(params![
                c.id,
                c.state.as_str(),
                c.reason,
                c.ground,
                c.recipient,
                c.phone,
                c.language.map(Language::as_str),
                c.consent_id,
                c.reply_code,
                c.asks,
                c.plugin_state,
                c.offered_at,
                c.deadline,
                c.result,
                c.updated_at
            ])?;
        Ok(())
    }

    fn record_decision(&mut self, d: &DecisionRecord) -> anyhow::Result<()> {
        let (id, version, hash) = match &d.plugin {
            Some(p) => (Some(&p.id), Some(&p.version), Some(&p.hash)),
            None => (None, None, None),
        };
        self.conn
            .prepare_cached(
                "INSERT INTO decisions (case_id, at, stage, plugin_id, plugin_version, plugin_hash, decision, detail) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![d.case_id, d.at, d.stage, id, version, hash, d.decision, d.detail])?;
        Ok(())
    }

    fn enqueue(&mut self, m: &NewMessage) -> anyhow::Result<i64> {
        self.conn
            .prepare_cached(
                "INSERT INTO outbox (case_id, kind, phone, text, parts, not_before, state, queued_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?6)",
            )?
            .execute(params![m.case_id, kind_str(m.kind), m.phone, m.text, m.parts, m.not_before])?;
        Ok(self.conn.last_insert_rowid())
    }

    fn record_part_taken(&mut self, message: i64, part: u32, gateway_id: &str) -> anyhow::Result<()> {
        self.conn.prepare_cached(PUT_PART)?.execute(params![message, part, gateway_id])?;
        Ok(())
    }

    fn release_inbound(&mut self, id: i64) -> anyhow::Result<()> {
        self.conn
            .prepare_cached("UPDATE inbound SET status = 'matched' WHERE id = ?1 AND status = 'held'")?
            .execute([id])?;
        Ok(())
    }

    fn defer(&mut self, message: i64, not_before: Timestamp) -> anyhow::Result<()> {
        self.conn
            .prepare_cached("UPDATE outbox SET not_before = ?2 WHERE id = ?1 AND state = 'queued'")?
            .execute(params![message, not_before])?;
        Ok(())
    }

    fn mark_sent(&mut self, message: i64, at: Timestamp, gateway_ids: &[String]) -> anyhow::Result<()> {
        self.conn
            .prepare_cached("UPDATE outbox SET state = 'sent', sent_at = ?2, gateway_id = ?3 WHERE id = ?1")?
            .execute(params![message, at, gateway_ids.first()])?;
        if gateway_ids.len() > 1 {
            let mut st = self.conn.prepare_cached(PUT_PART)?;
            for (i, id) in gateway_ids.iter().enumerate() {
                st.execute(params![message, i as i64 + 1, id])?;
            }
        }
        Ok(())
    }

    fn record_part_status(
        &mut self,
        message: i64,
        gateway_id: &str,
        status: DeliveryStatus,
    ) -> anyhow::Result<Vec<Option<DeliveryStatus>>> {
        self.conn
            .prepare_cached(
                "UPDATE outbox_parts SET status = ?3 WHERE message_id = ?1 AND gateway_id = ?2 AND status IS NULL",
            )?
            .execute(params![message, gateway_id, status.as_str()])?;
        let mut st = self.conn.prepare_cached("SELECT status FROM outbox_parts WHERE message_id = ?1 ORDER BY part")?;
        let rows = st.query_map([message], |r| {
            let s: Option<String> = r.get(0)?;
            Ok(s.and_then(|s| DeliveryStatus::parse(&s)))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn mark_failed(&mut self, message: i64, at: Timestamp, reason: &str) -> anyhow::Result<()> {
        self.conn
            .prepare_cached("UPDATE outbox SET state = 'failed', sent_at = ?2, gateway_id = ?3 WHERE id = ?1")?
            .execute(params![message, at, reason])?;
        Ok(())
    }

    fn insert_receipt(&mut self, r: &Receipt) -> anyhow::Result<Option<DeliveryStatus>> {
        let n = self
            .conn
            .prepare_cached(
                "INSERT OR IGNORE INTO receipts (message_id, status, at, received_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![r.message_id, r.status.as_str(), r.at, r.received_at])?;
        if n == 1 {
            return Ok(None);
        }
        let existing =
            self.conn.query_row("SELECT status FROM receipts WHERE message_id = ?1", [r.message_id], |row| {
                delivery_status(row, 0)
            })?;
        Ok(Some(existing))
    }

    fn insert_inbound(&mut self, m: &Inbound) -> anyhow::Result<Option<i64>> {
        let n = self
            .conn
            .prepare_cached(
                "INSERT OR IGNORE INTO inbound (phone, text, received_at, answer, case_id, status) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![m.phone, m.text, m.received_at, json_str(&m.answer), m.case_id, json_str(&m.status)])?;
        Ok((n == 1).then(|| self.conn.last_insert_rowid()))
    }

    fn has_plugin_versions(&mut self, plugin: &str) -> anyhow::Result<bool> {
        let mut st = self.conn.prepare_cached("SELECT 1 FROM plugin_versions WHERE plugin = ?1 LIMIT 1")?;
        Ok(st.query_row([plugin], |_| Ok(())).optional()?.is_some())
    }

    fn stored_event(&mut self, id: &str) -> anyhow::Result<Option<Event>> {
        let mut st = self.conn.prepare_cached("SELECT body FROM events WHERE id = ?1")?;
        let body: Option<String> = st.query_row([id], |r| r.get(0)).optional()?;
        body.map(|b| serde_json::from_str(&b).context("stored event is not valid JSON")).transpose()
    }

    fn case_services(&mut self, event_id: &str) -> anyhow::Result<Vec<String>> {
        let mut st = self.conn.prepare_cached("SELECT service FROM cases WHERE event_id = ?1")?;
        let rows = st.query_map([event_id], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn codes_in_use(&mut self, phone: &str) -> anyhow::Result<Vec<String>> {
        let mut st = self.conn.prepare_cached(
            "SELECT reply_code FROM cases WHERE phone = ?1 AND state IN ('offered', 'awaiting-reply') \
             AND reply_code IS NOT NULL",
        )?;
        let rows = st.query_map([phone], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn audit_size(&mut self) -> anyhow::Result<u64> {
        let max: Option<i64> = self.conn.prepare_cached("SELECT MAX(seq) FROM audit")?.query_row([], |r| r.get(0))?;
        Ok(max.unwrap_or(0) as u64)
    }

    fn insert_audit(&mut self, row: &AuditRow) -> anyhow::Result<()> {
        self.conn.prepare_cached("INSERT INTO audit (seq, entry, leaf_hash) VALUES (?1, ?2, ?3)")?.execute(params![
            row.seq as i64,
            row.entry,
            row.leaf
        ])?;
        Ok(())
    }

    fn audit_node(&mut self, level: u32, index: u64) -> anyhow::Result<Option<[u8; 32]>> {
        audit_node(&self.conn, level, index)
    }

    fn put_audit_nodes(&mut self, nodes: &[(u32, u64, [u8; 32])]) -> anyhow::Result<()> {
        let mut st = self.conn.prepare_cached("INSERT INTO audit_nodes (level, idx, hash) VALUES (?1, ?2, ?3)")?;
        for (level, index, hash) in nodes {
            st.execute(params![level, *index as i64, &hash[..]])?;
        }
        Ok(())
    }

    fn latest_checkpoint(&mut self) -> anyhow::Result<Option<StoredCheckpoint>> {
        Ok(self
            .conn
            .prepare_cached("SELECT size, at, root, note FROM checkpoints ORDER BY size DESC LIMIT 1")?
            .query_row([], checkpoint_row)
            .optional()?)
    }

    fn insert_checkpoint(&mut self, c: &StoredCheckpoint) -> anyhow::Result<()> {
        self.conn
            .prepare_cached("INSERT INTO checkpoints (size, at, root, note) VALUES (?1, ?2, ?3, ?4)")?
            .execute(params![c.size as i64, c.at, c.root, c.note])?;
        Ok(())
    }

    fn insert_plugin_version(&mut self, v: &PluginVersion, component: &[u8]) -> anyhow::Result<i64> {
        self.conn
            .prepare_cached(
                "INSERT OR IGNORE INTO plugin_versions (plugin, version, sha256, agency, signature, uploaded_at, \
                 uploaded_by, effective_from, component) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                v.plugin,
                v.version,
                v.sha256,
                v.agency,
                v.signature,
                v.uploaded_at,
                v.uploaded_by,
                v.effective_from,
                component
            ])?;
        let seq = self
            .conn
            .prepare_cached("SELECT seq FROM plugin_versions WHERE plugin = ?1 AND sha256 = ?2")?
            .query_row(params![v.plugin, v.sha256], |r| r.get(0))?;
        Ok(seq)
    }

    fn insert_plugin_action(&mut self, a: &PluginAction) -> anyhow::Result<i64> {
        self.conn
            .prepare_cached(
                "INSERT INTO plugin_actions (plugin, action, version_seq, at, actor) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![a.plugin, a.action, a.version_seq, a.at, a.actor])?;
        Ok(self.conn.last_insert_rowid())
    }

    fn commit(mut self: Box<Self>) -> anyhow::Result<()> {
        self.conn.execute_batch("COMMIT")?;
        self.open = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_while_the_first_holds_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.sqlite");
        let first = SqliteStore::open_exclusive(&db).expect("the first writer opens");
        let second = SqliteStore::open_exclusive(&db).err().expect("the second writer is refused");
        assert!(second.to_string().contains("in use by another process"), "{second}");
        drop(first);
        SqliteStore::open_exclusive(&db).expect("free again once the first is gone");
    }
}
