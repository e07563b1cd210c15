//! The host's audit keys: the Ed25519 key that signs checkpoints, and the secret that turns
//! personal identifiers into keyed hashes before they enter the log.
//!
//! They live in a folder of their own, by default `<store>.keys/` next to the store (or
//! `PROACTIVE_AUDIT_KEYS`), created with owner-only permissions on first use. Keeping them
//! out of the database is the point: whoever can rewrite the database still cannot sign a
//! checkpoint, and cannot link a keyed hash back to an IIN by trying every IIN.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::SigningKey;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::checkpoint::{ORIGIN, Verifier};

/// The signing key's seed, base64 (secret).
pub const SIGNING_FILE: &str = "audit-signing.key";
/// The verifier key line an auditor needs (public): `name+id+key`.
pub const VERIFIER_FILE: &str = "audit-signing.pub";
/// The keyed-hash secret for personal identifiers, base64 (secret).
pub const PERSONAL_FILE: &str = "personal-data.key";

/// Where the keys for a store live unless configured otherwise.
pub fn dir_for(db: &Path) -> PathBuf {
    match std::env::var_os("PROACTIVE_AUDIT_KEYS") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(format!("{}.keys", db.display())),
    }
}

pub struct Keys {
    signing: SigningKey,
    personal: [u8; 32],
}

impl Keys {
    /// Load the keys from `dir`, creating any that are missing (the first run on a store).
    pub fn load_or_create(dir: &Path) -> anyhow::Result<Keys> {
        create_private_dir(dir)?;
        let signing = match read_secret(&dir.join(SIGNING_FILE))? {
            Some(seed) => SigningKey::from_bytes(&seed),
            None => {
                let key = SigningKey::generate(&mut rand_core::OsRng);
                write_secret(&dir.join(SIGNING_FILE), &key.to_bytes())?;
                key
            }
        };
        let personal = match read_secret(&dir.join(PERSONAL_FILE))? {
            Some(secret) => secret,
            None => {
                let mut secret = [0u8; 32];
                rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut secret);
                write_secret(&dir.join(PERSONAL_FILE), &secret)?;
                secret
            }
        };
        let keys = Keys { signing, personal };
        let verifier_path = dir.join(VERIFIER_FILE);
        if !verifier_path.exists() {
            std::fs::write(&verifier_path, format!("{}\n", keys.verifier()))
                .with_context(|| format!("writing {}", verifier_path.display()))?;
        }
        Ok(keys)
    }

    /// Load existing keys; never creates any (for the read-only audit commands).
    pub fn load(dir: &Path) -> anyhow::Result<Keys> {
        let missing = |f: &str| anyhow::anyhow!("no audit key {} (is {} the store's key folder?)", f, dir.display());
        let seed = read_secret(&dir.join(SIGNING_FILE))?.ok_or_else(|| missing(SIGNING_FILE))?;
        let personal = read_secret(&dir.join(PERSONAL_FILE))?.ok_or_else(|| missing(PERSONAL_FILE))?;
        Ok(Keys { signing: SigningKey::from_bytes(&seed), personal })
    }

    /// Fresh keys that live only in memory: for tests and benchmarks, whose logs nobody
    /// verifies after the process ends.
    pub fn ephemeral() -> Keys {
        let mut personal = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut personal);
        Keys { signing: SigningKey::generate(&mut rand_core::OsRng), personal }
    }

    /// Deterministic keys from a seed, for tests that need to know the keys.
    pub fn from_seed(seed: [u8; 32]) -> Keys {
        let personal = super::merkle::leaf_hash(&seed);
        Keys { signing: SigningKey::from_bytes(&seed), personal }
    }

    pub fn signing(&self) -> &SigningKey {
        &self.signing
    }

    pub fn verifier(&self) -> Verifier {
        Verifier::new(ORIGIN, self.signing.verifying_key())
    }

    /// A keyed hash of a personal identifier. `kind` separates domains (an IIN and a phone
    /// number never hash alike). 128 bits are plenty against collisions here, and keep
    /// entries short.
    pub fn keyed_hash(&self, kind: &str, value: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.personal).expect("HMAC takes any key length");
        mac.update(kind.as_bytes());
        mac.update(b":");
        mac.update(value.as_bytes());
        format!("hmac:{}", hex::encode(&mac.finalize().into_bytes()[..16]))
    }
}

/// The verifier key of a key folder (only the public file is needed).
pub fn load_verifier(path: &Path) -> anyhow::Result<Verifier> {
    let file = if path.is_dir() { path.join(VERIFIER_FILE) } else { path.to_path_buf() };
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading the verifier key {}", file.display()))?;
    Verifier::parse(text.trim()).with_context(|| format!("{} is not a verifier key", file.display()))
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).with_context(|| format!("creating the key folder {}", dir.display()))
}

fn read_secret(path: &Path) -> anyhow::Result<Option<[u8; 32]>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)?.permissions().mode();
        anyhow::ensure!(
            mode & 0o077 == 0,
            "{} is readable by others (mode {:o}); make it 0600 with chmod",
            path.display(),
            mode & 0o777
        );
    }
    let bytes = B64.decode(text.trim()).ok().and_then(|b| <[u8; 32]>::try_from(b).ok());
    bytes.map(Some).ok_or_else(|| anyhow::anyhow!("{} does not hold a base64 32-byte key", path.display()))
}

fn write_secret(path: &Path, secret: &[u8; 32]) -> anyhow::Result<()> {
    write_private_new(path, format!("{}\n", B64.encode(secret)).as_bytes())
}

/// Create a file only its owner can read (0600), refusing to replace one, and sync it.
pub fn write_private_new(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents)?;
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_created_once_private_and_then_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("store.sqlite.keys");
        let first = Keys::load_or_create(&folder).unwrap();
        let again = Keys::load_or_create(&folder).unwrap();
        let loaded = Keys::load(&folder).unwrap();
        assert_eq!(first.verifier(), again.verifier());
        assert_eq!(first.keyed_hash("iin", "900101400123"), loaded.keyed_hash("iin", "900101400123"));
        assert_eq!(load_verifier(&folder).unwrap(), first.verifier());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            for f in [SIGNING_FILE, PERSONAL_FILE] {
                let mode = std::fs::metadata(folder.join(f)).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{f}");
            }
            let mode = std::fs::metadata(&folder).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
            std::fs::set_permissions(folder.join(SIGNING_FILE), std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(Keys::load(&folder).is_err(), "a readable secret is refused");
        }
    }

    #[test]
    fn keyed_hashes_separate_kinds_and_keys_and_hide_the_input() {
        let a = Keys::from_seed([1; 32]);
        let b = Keys::from_seed([2; 32]);
        let h = a.keyed_hash("iin", "900101400123");
        assert!(h.starts_with("hmac:") && h.len() == 5 + 32);
        assert!(!h.contains("900101400123"));
        assert_ne!(h, a.keyed_hash("phone", "900101400123"));
        assert_ne!(h, b.keyed_hash("iin", "900101400123"));
        assert_ne!(h, a.keyed_hash("iin", "900101400124"));
    }

    #[test]
    fn a_missing_folder_is_an_error_for_read_only_commands() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Keys::load(&dir.path().join("nowhere")).is_err());
        assert!(load_verifier(&dir.path().join("nowhere")).is_err());
    }
}
