//! The `proactive` command line.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

use crate::audit::checkpoint::Verifier;
use crate::audit::keys::{self, Keys};
use crate::audit::{self, Verification};
use crate::demo::{self, PluginSource, Scenario};
use crate::redact::redact;
use crate::report;
use crate::runner::RunStats;
use crate::runtime::{Limits, Runtime};
use crate::store::Store;
use crate::store::sqlite::SqliteStore;

#[derive(Parser)]
#[command(name = "proactive", version, about = "Kazakhstan's proactive public services platform host")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a synthetic population and a month of life events, run them through the
    /// real plugins on a virtual clock, and print the per-service report.
    Demo {
        /// People in the synthetic population.
        #[arg(long, default_value_t = 10_000)]
        people: usize,
        /// Seed for the generator: the same seed gives the same population.
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Folder for the generated files and the SQLite store (replaced on each run).
        #[arg(long, default_value = "demo-out")]
        out: PathBuf,
        #[arg(long, env = "PROACTIVE_PLUGINS", default_value = "target/plugins")]
        plugins: PathBuf,
        /// Print the report as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run your own scenario: an NDJSON file of events, registry snapshots, and optionally
    /// citizens' replies, on the same virtual clock. Idempotent on event ids.
    Ingest {
        /// Events, one JSON object per line.
        events: PathBuf,
        /// Folder with numbers.ndjson, consents.ndjson, state-bodies.ndjson, facts.ndjson.
        #[arg(long)]
        registry: PathBuf,
        /// Replies: {"phone", "text", "at"} per line.
        #[arg(long)]
        replies: Option<PathBuf>,
        /// Scripted subscribers for the simulated network (as the demo writes them).
        #[arg(long)]
        subscribers: Option<PathBuf>,
        #[arg(long, default_value = "proactive.sqlite")]
        db: PathBuf,
        #[arg(long, env = "PROACTIVE_PLUGINS", default_value = "target/plugins")]
        plugins: PathBuf,
        /// Stop the virtual clock at this RFC 3339 time; run again on the same store to resume.
        #[arg(long, value_parser = parse_time)]
        until: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    /// Run the platform as a server on the wall clock: the agency and gateway HTTP API.
    /// Needs no config file; settings come from defaults, then `--config`, then the
    /// environment, then flags.
    Serve(ServeArgs),
    /// Make a bearer token for the server's `[[tokens]]`.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Work with plugin components.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Verify the audit log, prove entries and checkpoints, show a citizen's history.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// A TOML file with the settings (see the README).
    #[arg(long, env = "PROACTIVE_CONFIG")]
    config: Option<PathBuf>,
    /// Address and port to listen on [default: 127.0.0.1:8080; port 0 picks a free one].
    #[arg(long, env = "PROACTIVE_LISTEN")]
    listen: Option<String>,
    /// The SQLite store [default: proactive.sqlite].
    #[arg(long, env = "PROACTIVE_DB")]
    db: Option<PathBuf>,
    /// Folder of plugin components [default: target/plugins].
    #[arg(long, env = "PROACTIVE_PLUGINS")]
    plugins: Option<PathBuf>,
    /// Folder with the registry snapshots [default: registry].
    #[arg(long, env = "PROACTIVE_REGISTRY")]
    registry: Option<PathBuf>,
    /// Scripted subscribers for the simulated network.
    #[arg(long, env = "PROACTIVE_SUBSCRIBERS")]
    subscribers: Option<PathBuf>,
    /// Sending window in local Almaty hours, e.g. 09:00-21:00.
    #[arg(long, env = "PROACTIVE_SMS_WINDOW")]
    sms_window: Option<String>,
    /// For tests of time-dependent behaviour: read the server's clock (RFC 3339) from
    /// this file at every look.
    #[arg(long, hide = true)]
    clock_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Print a new random token and the `[[tokens]]` entry (with its SHA-256) to configure.
    New {
        /// The token's name, recorded as the actor of what it does.
        #[arg(long)]
        id: String,
        /// admin, agency, event-source or gateway.
        #[arg(long)]
        role: String,
        /// The agency an `agency` token acts for.
        #[arg(long)]
        agency: Option<String>,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Validate a component offline: world, manifest, templates.
    Check { file: PathBuf },
    /// Make an agency's Ed25519 signing key: NAME.key (secret, 0600) and NAME.pub.
    Keygen {
        /// Path without extension for the two files, e.g. `health`.
        #[arg(long)]
        out: PathBuf,
        /// The agency the key is for, as the `[[agencies]]` entry names it (default: the
        /// file name of `--out`).
        #[arg(long)]
        agency: Option<String>,
    },
    /// Sign a component with an agency key: writes FILE.sig (base64) beside it.
    Sign {
        file: PathBuf,
        #[arg(long)]
        key: PathBuf,
    },
    /// Upload a signed component to a server's admin API.
    Push {
        file: PathBuf,
        /// The server, e.g. http://127.0.0.1:8080.
        #[arg(long, env = "PROACTIVE_SERVER")]
        server: String,
        /// A bearer token of the agency (or the platform admin).
        #[arg(long, env = "PROACTIVE_TOKEN", hide_env_values = true)]
        token: String,
        /// The signature file [default: FILE.sig].
        #[arg(long)]
        signature: Option<PathBuf>,
        /// The plugin id [default: the file name without .wasm].
        #[arg(long)]
        id: Option<String>,
        /// Activate at this time (RFC 3339) or date instead of now.
        #[arg(long)]
        effective_from: Option<String>,
        /// Store the version without activating it.
        #[arg(long)]
        no_activate: bool,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the whole Merkle tree from the stored entries, check it against every
    /// signed checkpoint, and name the first bad entry.
    Verify {
        #[command(flatten)]
        store: AuditStore,
        /// Also check against these signed checkpoints (notes an auditor kept).
        #[arg(long)]
        checkpoint: Vec<PathBuf>,
    },
    /// Prove that an entry is in the tree of the latest signed checkpoint covering it.
    Prove {
        /// The entry's sequence number.
        seq: u64,
        #[command(flatten)]
        store: AuditStore,
        #[arg(long)]
        json: bool,
    },
    /// Prove that the signed checkpoint at one size is a prefix of the one at another.
    Consistency {
        #[arg(long)]
        from: u64,
        #[arg(long)]
        to: u64,
        #[command(flatten)]
        store: AuditStore,
        #[arg(long)]
        json: bool,
    },
    /// Print the latest signed checkpoint (or all of them).
    Checkpoint {
        #[arg(long, default_value = "proactive.sqlite")]
        db: PathBuf,
        #[arg(long)]
        all: bool,
    },
    /// One citizen's history: cases, consents and data scopes, messages, replies, outcomes.
    History {
        /// The citizen's IIN.
        iin: String,
        #[arg(long, default_value = "proactive.sqlite")]
        db: PathBuf,
        /// The store's key folder (for the keyed hash that finds the person in the log).
        #[arg(long, env = "PROACTIVE_AUDIT_KEYS")]
        keys: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

/// A store and the public key its checkpoints must verify with.
#[derive(Args)]
struct AuditStore {
    #[arg(long, default_value = "proactive.sqlite")]
    db: PathBuf,
    /// The host's verifier key: a `.pub` file or a key folder [default: the store's key
    /// folder, `<db>.keys`, or PROACTIVE_AUDIT_KEYS].
    #[arg(long)]
    public_key: Option<PathBuf>,
}

impl AuditStore {
    fn open(&self) -> anyhow::Result<(SqliteStore, Verifier)> {
        let store = open_existing(&self.db)?;
        let verifier = keys::load_verifier(&self.public_key.clone().unwrap_or_else(|| keys::dir_for(&self.db)))?;
        Ok((store, verifier))
    }
}

fn open_existing(db: &std::path::Path) -> anyhow::Result<SqliteStore> {
    if !db.exists() {
        anyhow::bail!("no store at {}", db.display());
    }
    SqliteStore::open(db)
}

pub fn main() -> ExitCode {
    crate::redact::install_panic_hook();
    let cli = Cli::parse();
    init_tracing();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", redact(&format!("{e:#}")));
            ExitCode::from(2)
        }
    }
}

fn parse_time(s: &str) -> Result<i64, String> {
    crate::intake::ndjson::parse_time(s)
        .ok_or_else(|| "expected an RFC 3339 time, e.g. 2026-11-03T00:00:00+05:00".into())
}

/// `PROACTIVE_LOG` is an `EnvFilter`; a bare level (`debug`) applies to this crate only,
/// with dependencies at `warn`, since a bare `debug` would drown the platform's own lines
/// in the compiler's.
fn init_tracing() {
    let directives = match std::env::var("PROACTIVE_LOG") {
        Ok(v) if !v.trim().is_empty() && !v.contains(['=', ',']) => format!("warn,proactive_host={}", v.trim()),
        Ok(v) if !v.trim().is_empty() => v,
        _ => "warn".into(),
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&directives).unwrap_or_else(|e| {
        eprintln!("PROACTIVE_LOG: {e}; logging warnings only");
        tracing_subscriber::EnvFilter::new("warn")
    });
    // Colour only on a terminal: log collectors get plain lines.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).try_init();
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Demo { people, seed, out, plugins, json } => {
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let db = out.join("proactive.sqlite");
            for suffix in ["", "-wal", "-shm", ".checkpoint"] {
                let p = PathBuf::from(format!("{}{suffix}", db.display()));
                if p.exists() {
                    std::fs::remove_file(&p).with_context(|| format!("removing the previous run's {}", p.display()))?;
                }
            }
            let generated = demo::generate(&out, people, seed)?;
            if !json {
                println!(
                    "generated {} people, {} births and {} 17th birthdays (seed {seed}) into {}",
                    generated.people,
                    generated.births,
                    generated.birthdays,
                    out.display()
                );
            }
            let scenario = Scenario {
                events: out.join(demo::EVENTS_FILE),
                registry: out.join(demo::REGISTRY_DIR),
                replies: None,
                subscribers: Some(out.join(demo::SUBSCRIBERS_FILE)),
                plugins: PluginSource::Dir(plugins),
                db: db.clone(),
                until: None,
            };
            let mut progress = Progress::new();
            let outcome = demo::run_scenario(&scenario, |s| progress.update(s));
            progress.finish();
            let outcome = outcome?;
            print_problems(&outcome.plugin_errors, &outcome.rejected);
            if json {
                println!("{}", serde_json::to_string_pretty(&outcome.report)?);
            } else {
                println!("{}", outcome.report.render());
                println!("store left for inspection: {}", db.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Ingest { events, registry, replies, subscribers, db, plugins, until, json } => {
            let plugins = PluginSource::Dir(plugins);
            let scenario = Scenario { events, registry, replies, subscribers, plugins, db, until };
            let mut progress = Progress::new();
            let outcome = demo::run_scenario(&scenario, |s| progress.update(s));
            progress.finish();
            let outcome = outcome?;
            print_problems(&outcome.plugin_errors, &outcome.rejected);
            if json {
                println!("{}", serde_json::to_string_pretty(&outcome.report)?);
            } else {
                println!("{}", outcome.report.render());
                println!("final state of each case:");
                print!("{}", report::case_lines(&outcome.store.cases()?));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(a) => crate::serve::run(&crate::serve::config::Overrides {
            config: a.config,
            listen: a.listen,
            db: a.db,
            plugins: a.plugins,
            registry: a.registry,
            subscribers: a.subscribers,
            window: a.sms_window,
            clock_file: a.clock_file,
        }),
        Command::Token { command: TokenCommand::New { id, role, agency } } => {
            let token = crate::api::auth::new_token();
            let entry = crate::serve::config::TokenFile {
                id,
                sha256: hex::encode(crate::api::auth::digest(&token)),
                role,
                agency,
            };
            crate::api::auth::Tokens::from_config(std::slice::from_ref(&entry))?;
            println!("token (give it to its holder; it is not stored anywhere): {token}");
            println!();
            println!("[[tokens]]");
            println!("id = {:?}", entry.id);
            println!("sha256 = {:?}", entry.sha256);
            println!("role = {:?}", entry.role);
            if let Some(a) = &entry.agency {
                println!("agency = {a:?}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Plugin { command } => plugin_command(command),
        Command::Audit { command } => audit_command(command),
    }
}

fn audit_command(command: AuditCommand) -> anyhow::Result<ExitCode> {
    let verdict = |ok: bool| if ok { (ExitCode::SUCCESS, "VALID") } else { (ExitCode::from(1), "INVALID") };
    match command {
        AuditCommand::Verify { store, checkpoint } => {
            let (db, verifier) = store.open()?;
            let mut notes = audit::published(&store.db)?;
            for p in &checkpoint {
                let note = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
                // A file that is not a note at all is the caller's mistake, not evidence of
                // tampering; a note with a wrong signature is evidence, and verify says so.
                if let Err(e @ audit::checkpoint::NoteError::Malformed(_)) =
                    audit::checkpoint::Checkpoint::open(&note, &verifier)
                {
                    anyhow::bail!("{}: {e}", p.display());
                }
                notes.push(note);
            }
            match audit::verify(&db, &verifier, &notes)? {
                Verification::Intact(s) => {
                    println!("audit log intact: {} entries, root {}", s.entries, hex::encode(s.root));
                    println!(
                        "{} signed checkpoints checked; the latest covers {} entries ({} not yet signed)",
                        s.checkpoints,
                        s.signed,
                        s.entries - s.signed
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Verification::Broken(problem) => {
                    println!("audit log BROKEN: {problem}");
                    if let Some(seq) = problem.entry() {
                        println!("first bad entry: {seq}");
                    }
                    Ok(ExitCode::from(1))
                }
            }
        }
        AuditCommand::Prove { seq, store, json } => {
            let (db, verifier) = store.open()?;
            let (proof, ok) = audit::prove(&db, &verifier, seq)?;
            let path: Vec<String> = proof.path.iter().map(hex::encode).collect();
            let (code, word) = verdict(ok);
            if json {
                let out = serde_json::json!({
                    "seq": proof.seq, "entry": proof.entry, "leaf_hash": hex::encode(proof.leaf),
                    "tree_size": proof.checkpoint.size, "root": hex::encode(proof.checkpoint.root),
                    "checkpoint_time": proof.checkpoint.time, "path": path, "valid": ok,
                });
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                println!("entry {}: {}", proof.seq, proof.entry);
                println!("leaf hash  {}", hex::encode(proof.leaf));
                println!("tree size  {} (signed checkpoint)", proof.checkpoint.size);
                println!("root       {}", hex::encode(proof.checkpoint.root));
                println!("path       {} hashes, leaf to root", path.len());
                for h in &path {
                    println!("  {h}");
                }
                println!("inclusion proof (RFC 9162 §2.1.3.2): {word}");
            }
            Ok(code)
        }
        AuditCommand::Consistency { from, to, store, json } => {
            let (db, verifier) = store.open()?;
            let (proof, ok) = audit::prove_consistency(&db, &verifier, from, to)?;
            let path: Vec<String> = proof.path.iter().map(hex::encode).collect();
            let (code, word) = verdict(ok);
            if json {
                let out = serde_json::json!({
                    "from": proof.old.size, "from_root": hex::encode(proof.old.root),
                    "to": proof.new.size, "to_root": hex::encode(proof.new.root), "path": path, "valid": ok,
                });
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                println!("from size {}  root {}", proof.old.size, hex::encode(proof.old.root));
                println!("to size   {}  root {}", proof.new.size, hex::encode(proof.new.root));
                println!("path      {} hashes", path.len());
                for h in &path {
                    println!("  {h}");
                }
                println!("consistency proof (RFC 9162 §2.1.4.2): {word}");
            }
            Ok(code)
        }
        AuditCommand::Checkpoint { db, all } => {
            let checkpoints = open_existing(&db)?.checkpoints()?;
            let Some(latest) = checkpoints.last() else {
                anyhow::bail!("the store has no signed checkpoint yet");
            };
            if all {
                let notes: Vec<&str> = checkpoints.iter().map(|c| c.note.as_str()).collect();
                print!("{}", notes.join("\n"));
            } else {
                print!("{}", latest.note);
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::History { iin, db, keys: dir, json } => {
            if proactive_sdk::domain::Iin::parse(iin.trim()).is_err() {
                anyhow::bail!("the argument is not a valid IIN (12 digits with a valid check digit)");
            }
            let store = open_existing(&db)?;
            let keys = Keys::load(&dir.unwrap_or_else(|| keys::dir_for(&db)))?;
            let history = audit::history::history(&store, &keys, iin.trim())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&history)?);
            } else {
                print!("{}", history.render());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn plugin_command(command: PluginCommand) -> anyhow::Result<ExitCode> {
    use crate::deploy::signing;
    match command {
        PluginCommand::Check { file } => plugin_check(&file),
        PluginCommand::Keygen { out, agency } => {
            let agency = agency.unwrap_or_else(|| {
                out.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "AGENCY".into())
            });
            let (secret, public) = signing::keygen();
            let (key, pub_path) = (out.with_extension("key"), out.with_extension("pub"));
            crate::audit::keys::write_private_new(&key, secret.as_bytes())?;
            std::fs::write(&pub_path, format!("{public}\n"))
                .with_context(|| format!("writing {}", pub_path.display()))?;
            println!("secret key {} (keep it with the agency), public key {}", key.display(), pub_path.display());
            println!();
            println!("[[agencies]]");
            println!("id = {agency:?}");
            println!("public_key = {public:?}");
            println!();
            println!("(add it to the server's --config file and restart the server: uploads are checked against it)");
            Ok(ExitCode::SUCCESS)
        }
        PluginCommand::Sign { file, key } => {
            let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let signature = signing::sign(&signing::read_secret_key(&key)?, &bytes);
            let out = signature_path(&file);
            std::fs::write(&out, format!("{signature}\n")).with_context(|| format!("writing {}", out.display()))?;
            println!("{}: signed, signature in {}", file.display(), out.display());
            Ok(ExitCode::SUCCESS)
        }
        PluginCommand::Push { file, server, token, signature, id, effective_from, no_activate } => {
            let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let limit = crate::runtime::MAX_COMPONENT_BYTES;
            anyhow::ensure!(
                bytes.len() as u64 <= limit,
                "{}: {} bytes is over the {limit}-byte limit for a component; the server would refuse it",
                file.display(),
                bytes.len()
            );
            let sig_path = signature.unwrap_or_else(|| signature_path(&file));
            let sig = std::fs::read_to_string(&sig_path)
                .with_context(|| format!("reading the signature {} (`proactive plugin sign`)", sig_path.display()))?;
            let id = match id {
                Some(id) => id,
                None => {
                    let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                    eprintln!("pushing as plugin id {stem:?}, the file's name (--id chooses another)");
                    stem
                }
            };
            let mut req = ureq::post(&format!("{}/admin/v1/plugins/{id}/versions", server.trim_end_matches('/')))
                .set("Authorization", &format!("Bearer {}", token.trim()))
                .set(crate::api::admin::SIGNATURE_HEADER, sig.trim())
                .set("Content-Type", "application/wasm");
            if let Some(t) = &effective_from {
                req = req.query("effective_from", t);
            }
            if no_activate {
                req = req.query("activate", "false");
            }
            let (status, text) = match req.send_bytes(&bytes) {
                Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
                Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
                Err(e) => anyhow::bail!("reaching {server}: {e}"),
            };
            println!("{status} {text}");
            Ok(if (200..300).contains(&status) { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
    }
}

fn signature_path(file: &std::path::Path) -> PathBuf {
    PathBuf::from(format!("{}.sig", file.display()))
}

fn plugin_check(file: &std::path::Path) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let runtime = Runtime::new(Limits::default())?;
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    match runtime.load(&name, &bytes) {
        Ok(plugin) => {
            println!("{name}: OK");
            println!("  version {}  sha256 {}", plugin.reference.version, plugin.reference.hash);
            for s in &plugin.services {
                println!("  service {} (agency {})", s.id, s.agency);
                println!("    subscribes {}  recipient {}", s.subscribes.join(", "), s.recipient);
                println!("    consent scopes {}", s.consent_scopes.join(", "));
                println!("    reply window {} h  effective from {}", s.reply_window_hours, s.effective_from);
                for (id, t) in &s.templates {
                    println!("    template {id} ({:?}) placeholders: {}", t.kind, t.placeholders.join(", "));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::from(1))
        }
    }
}

fn print_problems(plugin_errors: &[String], rejected: &[demo::Rejected]) {
    for e in plugin_errors {
        eprintln!("plugin not loaded: {e}");
    }
    for r in rejected.iter().take(50) {
        eprintln!("rejected {r}");
    }
    if rejected.len() > 50 {
        eprintln!("... and {} more rejected lines", rejected.len() - 50);
    }
}

/// Progress of a run on stderr: a bar with rate and ETA on a terminal, a plain line every
/// few seconds otherwise (logs and CI keep a readable record).
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    last_line: std::time::Instant,
}

impl Progress {
    fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:30.cyan/blue} {human_pos}/{human_len} events · ETA {eta} · {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        Progress { bar, last_line: std::time::Instant::now() }
    }

    fn update(&mut self, s: &RunStats) {
        let done = s.events_new + s.events_duplicate + s.events_conflict;
        match &self.bar {
            Some(bar) => {
                bar.set_length(s.events_total);
                bar.set_position(done);
                let rate = done as f64 / s.elapsed.as_secs_f64().max(1e-9);
                bar.set_message(format!("{rate:.0} events/s · {} replies", s.replies));
            }
            None if self.last_line.elapsed() >= std::time::Duration::from_secs(5) => {
                let rate = done as f64 / s.elapsed.as_secs_f64().max(1e-9);
                let left = s.events_total.saturating_sub(done) as f64 / rate.max(1e-9);
                eprintln!(
                    "progress: {done}/{} events, {} replies, {rate:.0} events/s, about {left:.0} s of intake left",
                    s.events_total, s.replies
                );
                self.last_line = std::time::Instant::now();
            }
            None => {}
        }
    }

    fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}
