//! Compiled components on disk, so a restart or a re-activation skips Cranelift.
//!
//! An entry is named by the engine's compatibility hash and the component's SHA-256: a
//! wasmtime upgrade or a changed engine setting looks in a different place, and an entry
//! never needs invalidating. An entry that fails to load (truncated, corrupted, written by
//! something else) is a miss: the component is compiled again and the entry rewritten.

use std::hash::{Hash as _, Hasher as _};
use std::path::PathBuf;

use crate::runtime::{LoadError, LoadedPlugin, Runtime};

pub struct ArtifactCache {
    dir: PathBuf,
    engine_tag: String,
}

/// Whether a load found its compiled artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    Hit,
    Miss,
}

impl ArtifactCache {
    pub fn new(dir: PathBuf, runtime: &Runtime) -> ArtifactCache {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        runtime.compatibility_hash().hash(&mut hasher);
        ArtifactCache { dir, engine_tag: format!("{:016x}", hasher.finish()) }
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{}-{sha256}.cwasm", self.engine_tag))
    }

    /// Load a component (whose SHA-256 the caller computed), from its artifact if there is
    /// one that loads, else by compiling it and keeping the artifact.
    pub fn load(
        &self,
        runtime: &Runtime,
        name: &str,
        bytes: &[u8],
        sha256: &str,
    ) -> Result<(LoadedPlugin, Lookup), LoadError> {
        let path = self.path(sha256);
        if let Ok(artifact) = std::fs::read(&path) {
            if let Ok(plugin) = runtime.load_artifact(name, bytes, &artifact) {
                return Ok((plugin, Lookup::Hit));
            }
            tracing::warn!(artifact = %path.display(), "a cached compiled component did not load; compiling again");
        }
        let Ok(artifact) = runtime.precompile(bytes) else {
            // Compile again the ordinary way for the error a developer can act on.
            return runtime.load(name, bytes).map(|p| (p, Lookup::Miss));
        };
        let plugin = runtime.load_artifact(name, bytes, &artifact)?;
        if let Err(e) = self.store(&path, &artifact) {
            tracing::warn!(artifact = %path.display(), "could not keep a compiled component: {e:#}");
        }
        Ok((plugin, Lookup::Miss))
    }

    fn store(&self, path: &std::path::Path, artifact: &[u8]) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, artifact)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }
}
