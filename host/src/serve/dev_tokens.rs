//! Tokens for a server started with none configured, so `proactive serve` works with no
//! config file and is still never open to anonymous callers. They are generated once into
//! `<db>.tokens` (mode 0600, beside the store's key folder) and reused on restart; an agency
//! whose plugin appears later gets its token added. A deployment configures `[[tokens]]`
//! with digests instead, and then this file is neither read nor written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::api::auth::{Principal, Role, Tokens, new_token};

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct DevTokens {
    admin: String,
    event_source: String,
    gateway: String,
    #[serde(default)]
    agency: BTreeMap<String, String>,
}

pub fn path_for(db: &Path) -> PathBuf {
    PathBuf::from(format!("{}.tokens", db.display()))
}

/// Load the development tokens (creating what is missing) for the given agencies.
pub fn load_or_create(db: &Path, agencies: &[String]) -> anyhow::Result<(Tokens, PathBuf)> {
    let path = path_for(db);
    let mut dev = match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str::<DevTokens>(&text)
            .map_err(|e| anyhow::anyhow!("the development tokens file {}: {}", path.display(), e.message()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            DevTokens { admin: new_token(), event_source: new_token(), gateway: new_token(), agency: BTreeMap::new() }
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let missing: Vec<&String> = agencies.iter().filter(|a| !dev.agency.contains_key(*a)).collect();
    let fresh = !path.exists();
    for a in missing.iter() {
        dev.agency.insert((*a).clone(), new_token());
    }
    if fresh || !missing.is_empty() {
        write_private(&path, &dev)?;
    }
    let mut tokens = Tokens::default();
    let mut add = |token: &str, id: &str, role: Role| tokens.insert(token, Principal { id: id.into(), role });
    add(&dev.admin, "dev-admin", Role::Admin);
    add(&dev.event_source, "dev-event-source", Role::EventSource);
    add(&dev.gateway, "dev-gateway", Role::Gateway);
    for (agency, token) in &dev.agency {
        add(token, &format!("dev-agency-{agency}"), Role::Agency(agency.clone()));
    }
    Ok((tokens, path))
}

fn write_private(path: &Path, dev: &DevTokens) -> anyhow::Result<()> {
    let text = format!(
        "# Development tokens for `proactive serve` without configured [[tokens]]. Secret.\n{}",
        toml::to_string(dev)?
    );
    let tmp = PathBuf::from(format!("{}.tmp", path.display()));
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("removing {}", tmp.display()));
        }
        _ => {}
    }
    crate::audit::keys::write_private_new(&tmp, text.as_bytes())?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_and_extended_for_new_agencies() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.sqlite");
        let (_, path) = load_or_create(&db, &["health".into()]).unwrap();
        let first = std::fs::read_to_string(&path).unwrap();
        load_or_create(&db, &["health".into()]).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), first, "a restart keeps the tokens");
        load_or_create(&db, &["health".into(), "labour".into()]).unwrap();
        let after: DevTokens = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let before: DevTokens = toml::from_str(&first).unwrap();
        assert_eq!(after.admin, before.admin);
        assert_eq!(after.agency["health"], before.agency["health"]);
        assert!(after.agency.contains_key("labour"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
