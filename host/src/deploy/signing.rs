//! Agencies sign their components with Ed25519, over the exact component bytes. The host
//! keeps each agency's public key; a component runs only if the key of the agency its
//! manifest names signed it, whoever uploads it. Keys and signatures are base64 text, so
//! they travel in config files, headers and shell variables unchanged.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the upload carries no signature (header `Proactive-Signature`)")]
    Missing,
    #[error("the signature is not base64 of 64 bytes")]
    Malformed,
    #[error("no signing key is configured for agency {0:?}")]
    UnknownAgency(String),
    #[error("the signature does not verify with agency {0:?}'s key")]
    Invalid(String),
}

/// Every agency's public key.
#[derive(Debug, Default, Clone)]
pub struct AgencyKeys {
    by_agency: BTreeMap<String, VerifyingKey>,
}

impl AgencyKeys {
    pub fn insert(&mut self, agency: &str, key: VerifyingKey) {
        self.by_agency.insert(agency.to_owned(), key);
    }

    pub fn is_empty(&self) -> bool {
        self.by_agency.is_empty()
    }

    /// Check `signature` (base64) over `bytes` with `agency`'s key.
    pub fn verify(&self, agency: &str, bytes: &[u8], signature: Option<&str>) -> Result<(), SignatureError> {
        let text = signature.map(str::trim).filter(|s| !s.is_empty()).ok_or(SignatureError::Missing)?;
        let raw = B64.decode(text).map_err(|_| SignatureError::Malformed)?;
        let sig = Signature::from_slice(&raw).map_err(|_| SignatureError::Malformed)?;
        let key = self.by_agency.get(agency).ok_or_else(|| SignatureError::UnknownAgency(agency.to_owned()))?;
        key.verify_strict(bytes, &sig).map_err(|_| SignatureError::Invalid(agency.to_owned()))
    }

    /// The agency whose key a valid signature is by, if any: to tell an agency that signed
    /// another agency's build (or uploads with the wrong token) what is actually wrong.
    pub fn signer(&self, bytes: &[u8], signature: Option<&str>) -> Option<&str> {
        self.by_agency.keys().find(|a| self.verify(a, bytes, signature).is_ok()).map(String::as_str)
    }
}

/// A public key as configured: base64 of the 32 key bytes.
pub fn parse_public_key(text: &str) -> anyhow::Result<VerifyingKey> {
    let raw = B64.decode(text.trim()).ok().and_then(|b| <[u8; 32]>::try_from(b).ok());
    let raw = raw.ok_or_else(|| anyhow::anyhow!("expected base64 of a 32-byte Ed25519 public key"))?;
    VerifyingKey::from_bytes(&raw).map_err(|_| anyhow::anyhow!("not a valid Ed25519 public key"))
}

/// A new key pair: `(secret file text, public key text)`.
pub fn keygen() -> (String, String) {
    let key = SigningKey::generate(&mut rand_core::OsRng);
    (format!("{}\n", B64.encode(key.to_bytes())), B64.encode(key.verifying_key().to_bytes()))
}

/// Read a secret key file that [`keygen`] wrote.
pub fn read_secret_key(path: &Path) -> anyhow::Result<SigningKey> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let raw = B64.decode(text.trim()).ok().and_then(|b| <[u8; 32]>::try_from(b).ok());
    let raw = raw.ok_or_else(|| anyhow::anyhow!("{} is not a secret key file from `plugin keygen`", path.display()))?;
    Ok(SigningKey::from_bytes(&raw))
}

/// The base64 signature of `bytes`.
pub fn sign(key: &SigningKey, bytes: &[u8]) -> String {
    B64.encode(key.sign(bytes).to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_named_agencys_key_over_the_exact_bytes_verifies() {
        let (secret, public) = keygen();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k"), &secret).unwrap();
        let key = read_secret_key(&dir.path().join("k")).unwrap();
        let (_, other_public) = keygen();
        let mut keys = AgencyKeys::default();
        keys.insert("health", parse_public_key(&public).unwrap());
        keys.insert("labour", parse_public_key(&other_public).unwrap());
        let bytes = b"component bytes".to_vec();
        let sig = sign(&key, &bytes);
        assert_eq!(keys.verify("health", &bytes, Some(&sig)), Ok(()));
        let mut tampered = bytes.clone();
        tampered[0] ^= 1;
        assert_eq!(keys.verify("health", &tampered, Some(&sig)), Err(SignatureError::Invalid("health".into())));
        assert_eq!(keys.verify("labour", &bytes, Some(&sig)), Err(SignatureError::Invalid("labour".into())));
        assert_eq!(keys.verify("defence", &bytes, Some(&sig)), Err(SignatureError::UnknownAgency("defence".into())));
        assert_eq!(keys.verify("health", &bytes, None), Err(SignatureError::Missing));
        assert_eq!(keys.verify("health", &bytes, Some("!!")), Err(SignatureError::Malformed));
        assert!(parse_public_key("AAAA").is_err());
    }
}
