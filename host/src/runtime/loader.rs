//! Loading components: compile, link against the host's world, read and validate the
//! manifest. A broken file is reported by name and never stops the others from loading.

use std::fmt;
use std::path::Path;

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use sha2::{Digest, Sha256};

use super::bindings::AgencyPluginPre;
use super::call::run_pre;
use super::manifest::{self, ManifestError};
use super::{CallFailure, LoadedPlugin, Runtime};
use crate::model::PluginRef;

/// Components larger than this are refused before compiling.
pub const MAX_COMPONENT_BYTES: u64 = 32 << 20;

#[derive(Debug)]
pub enum LoadErrorKind {
    Read(std::io::Error),
    TooLarge(u64),
    /// Not a valid WebAssembly component (a core module, garbage, a truncated file).
    Compile(String),
    /// The component imports something this host does not provide.
    Link(String),
    /// The component does not export `kz-gov:proactive/service@0.1.0` with the right types.
    WrongWorld(String),
    /// Calling `manifest` or `version` failed.
    Describe(CallFailure),
    Manifest(ManifestError),
    BadVersion,
    DuplicateService(String),
}

/// Why one file did not load.
#[derive(Debug)]
pub struct LoadError {
    pub file: String,
    pub kind: LoadErrorKind,
}

impl LoadError {
    pub(crate) fn new(file: &str, kind: LoadErrorKind) -> Self {
        LoadError { file: file.to_owned(), kind }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = &self.file;
        match &self.kind {
            LoadErrorKind::Read(e) => write!(f, "{file}: cannot read: {e}"),
            LoadErrorKind::TooLarge(n) => {
                write!(f, "{file}: {n} bytes is over the {MAX_COMPONENT_BYTES}-byte limit")
            }
            LoadErrorKind::Compile(e) => write!(f, "{file}: not a valid WebAssembly component: {e}"),
            LoadErrorKind::Link(e) => write!(f, "{file}: imports something the host does not provide: {e}"),
            LoadErrorKind::WrongWorld(e) => {
                write!(f, "{file}: does not implement the kz-gov:proactive/agency-plugin@0.1.0 world: {e}")
            }
            LoadErrorKind::Describe(e) => write!(f, "{file}: describing itself failed: {e}"),
            LoadErrorKind::Manifest(e) => write!(f, "{file}: invalid manifest: {e}"),
            LoadErrorKind::BadVersion => write!(f, "{file}: version must be 1-32 printable characters"),
            LoadErrorKind::DuplicateService(s) => {
                write!(f, "{file}: service {s:?} is already carried by another plugin")
            }
        }
    }
}

impl std::error::Error for LoadError {}

/// What loading a folder did.
#[derive(Default)]
pub struct LoadReport {
    pub(crate) loaded: Vec<LoadedPlugin>,
    /// The plugins now active.
    pub active: Vec<PluginRef>,
    pub errors: Vec<LoadError>,
}

pub(super) fn load(runtime: &Runtime, name: &str, bytes: &[u8]) -> Result<LoadedPlugin, LoadError> {
    if bytes.len() as u64 > MAX_COMPONENT_BYTES {
        return Err(LoadError::new(name, LoadErrorKind::TooLarge(bytes.len() as u64)));
    }
    let component = runtime.compile(bytes).map_err(|e| LoadError::new(name, LoadErrorKind::Compile(root_cause(&e))))?;
    validate(runtime, name, bytes, component)
}

/// Load from an artifact `Runtime::precompile` made earlier for the same component bytes:
/// no Cranelift work, only the same linking and validation.
pub(super) fn load_precompiled(
    runtime: &Runtime,
    name: &str,
    bytes: &[u8],
    artifact: &[u8],
) -> Result<LoadedPlugin, LoadError> {
    load_artifact(runtime, name, bytes, artifact).or_else(|_| load(runtime, name, bytes))
}

/// Load from an artifact with no fallback: an artifact that does not deserialize is an
/// error, so the on-disk cache can tell a hit from a miss.
pub(super) fn load_artifact(
    runtime: &Runtime,
    name: &str,
    bytes: &[u8],
    artifact: &[u8],
) -> Result<LoadedPlugin, LoadError> {
    // SAFETY: `Component::deserialize` trusts its input to be an artifact this engine
    // configuration produced. Callers pass only artifacts from `Runtime::precompile` kept
    // in the host's own storage; wasmtime itself refuses artifacts from another engine
    // version or configuration, which callers then treat as a cache miss.
    let component = unsafe { wasmtime::component::Component::deserialize(runtime.engine(), artifact) }
        .map_err(|e| LoadError::new(name, LoadErrorKind::Compile(root_cause(&e))))?;
    validate(runtime, name, bytes, component)
}

fn validate(
    runtime: &Runtime,
    name: &str,
    bytes: &[u8],
    component: wasmtime::component::Component,
) -> Result<LoadedPlugin, LoadError> {
    let err = |kind| LoadError::new(name, kind);
    let instance_pre =
        runtime.linker().instantiate_pre(&component).map_err(|e| err(LoadErrorKind::Link(root_cause(&e))))?;
    let pre = AgencyPluginPre::new(instance_pre).map_err(|e| err(LoadErrorKind::WrongWorld(root_cause(&e))))?;
    let (version, raw_manifest) = run_pre(runtime, &pre, None, |p, store| {
        let service = p.kz_gov_proactive_service();
        let version = service.call_version(&mut *store)?;
        let manifest = service.call_manifest(&mut *store)?;
        Ok((version, manifest))
    })
    .map_err(|e| err(LoadErrorKind::Describe(e)))?;
    if version.is_empty() || version.len() > 32 || version.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(err(LoadErrorKind::BadVersion));
    }
    let services = manifest::validate(raw_manifest).map_err(|e| err(LoadErrorKind::Manifest(e)))?;
    let id = Path::new(name).file_stem().and_then(|s| s.to_str()).unwrap_or(name).to_owned();
    let hash = hex::encode(Sha256::digest(bytes));
    Ok(LoadedPlugin { reference: PluginRef { id, version, hash }, services, code: super::Code::Wasm(pre) })
}

pub(super) fn load_dir(runtime: &Runtime, path: &Path) -> anyhow::Result<LoadReport> {
    let mut report = LoadReport::default();
    for (name, read) in read_dir(path)? {
        match read.and_then(|bytes| load(runtime, &name, &bytes)) {
            Ok(p) => report.loaded.push(p),
            Err(e) => report.errors.push(e),
        }
    }
    Ok(report)
}

/// A file of a plugins folder: its name, and its bytes or why they could not be read.
pub type FolderFile = (String, Result<Vec<u8>, LoadError>);

/// Every `*.wasm` file in a folder, by name, read through a capability handle so a name
/// can never escape it; a file that cannot be read (or is too large) is its error.
pub fn read_dir(path: &Path) -> anyhow::Result<Vec<FolderFile>> {
    use anyhow::Context as _;
    let dir = Dir::open_ambient_dir(path, ambient_authority())
        .with_context(|| format!("opening the plugins folder {}", path.display()))?;
    let mut names = Vec::new();
    for entry in dir.entries().context("listing the plugins folder")? {
        let entry = entry.context("listing the plugins folder")?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".wasm") && entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names
        .into_iter()
        .map(|name| {
            let read = read_bounded(&dir, &name).map_err(|kind| LoadError::new(&name, kind));
            (name, read)
        })
        .collect())
}

fn read_bounded(dir: &Dir, name: &str) -> Result<Vec<u8>, LoadErrorKind> {
    let meta = dir.metadata(name).map_err(LoadErrorKind::Read)?;
    if meta.len() > MAX_COMPONENT_BYTES {
        return Err(LoadErrorKind::TooLarge(meta.len()));
    }
    dir.read(name).map_err(LoadErrorKind::Read)
}

fn root_cause(e: &wasmtime::Error) -> String {
    let mut text = e.to_string();
    if let Some(cause) = e.chain().nth(1) {
        text = format!("{text}: {cause}");
    }
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    flat.chars().take(300).collect()
}
