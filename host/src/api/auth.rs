//! Bearer tokens and what each role may do.
//!
//! Only SHA-256 digests of tokens are held, in memory and in configuration, so a leaked
//! config file or heap dump grants nothing. A token is looked up by its digest: the
//! comparison never touches the secret itself, so its timing says nothing about it.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sha2::{Digest as _, Sha256};

use super::AppState;
use super::error::ApiError;
use crate::serve::config::TokenFile;

/// What a token may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// The platform team: every agency's cases and plugins.
    Admin,
    /// One agency: its own plugins and cases, nothing of another agency's.
    Agency(String),
    /// A state information system that sends life events.
    EventSource,
    /// An SMS gateway calling back with replies and receipts.
    Gateway,
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's configured name: the actor recorded for what it does.
    pub id: String,
    pub role: Role,
}

impl Principal {
    /// May this caller see or change what belongs to `agency`?
    pub fn acts_for(&self, agency: &str) -> bool {
        match &self.role {
            Role::Admin => true,
            Role::Agency(a) => a == agency,
            Role::EventSource | Role::Gateway => false,
        }
    }

    /// The agency whose data this caller is limited to (`None` for the platform admin).
    /// Roles without access to cases are refused.
    pub fn case_scope(&self) -> Result<Option<&str>, ApiError> {
        match &self.role {
            Role::Admin => Ok(None),
            Role::Agency(a) => Ok(Some(a)),
            Role::EventSource | Role::Gateway => Err(ApiError::forbidden("this token may not read cases")),
        }
    }

    pub fn require(&self, role: &Role, what: &str) -> Result<(), ApiError> {
        if &self.role == role { Ok(()) } else { Err(ApiError::forbidden(format!("this token may not {what}"))) }
    }
}

/// The configured tokens, by digest.
#[derive(Debug, Default)]
pub struct Tokens {
    by_digest: HashMap<[u8; 32], Principal>,
}

pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Tokens {
    /// Check configured tokens: each needs a name, a 64-hex-digit digest, a known role and,
    /// for an agency token, the agency.
    pub fn from_config(tokens: &[TokenFile]) -> anyhow::Result<Tokens> {
        let mut out = Tokens::default();
        for (i, t) in tokens.iter().enumerate() {
            let at =
                crate::redact::redact(&format!("token {} ({:?})", i + 1, t.id.chars().take(64).collect::<String>()));
            anyhow::ensure!(!t.id.trim().is_empty(), "{at}: `id` is empty");
            for (field, value) in [("id", Some(&t.id)), ("agency", t.agency.as_ref())] {
                anyhow::ensure!(
                    !value.is_some_and(|v| crate::redact::has_identifier_digits(v)),
                    "{at}: `{field}` must not contain a run of 10 or more digits: it enters the audit log"
                );
            }
            let bytes = hex::decode(t.sha256.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| anyhow::anyhow!("{at}: `sha256` must be 64 hex digits"))?;
            let role = match (t.role.as_str(), &t.agency) {
                ("admin", None) => Role::Admin,
                ("event-source", None) => Role::EventSource,
                ("gateway", None) => Role::Gateway,
                ("agency", Some(a)) if !a.trim().is_empty() => Role::Agency(a.trim().to_owned()),
                ("agency", _) => anyhow::bail!("{at}: an `agency` token needs `agency = \"...\"`"),
                ("admin" | "event-source" | "gateway", Some(_)) => {
                    anyhow::bail!("{at}: only an `agency` token takes `agency`")
                }
                _ => anyhow::bail!("{at}: `role` must be admin, agency, event-source or gateway"),
            };
            if out.by_digest.insert(bytes, Principal { id: t.id.clone(), role }).is_some() {
                anyhow::bail!("{at}: the same token is configured twice");
            }
        }
        Ok(out)
    }

    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }

    pub fn insert(&mut self, token: &str, principal: Principal) {
        self.by_digest.insert(digest(token), principal);
    }

    fn authenticate(&self, header: Option<&str>) -> Result<Principal, ApiError> {
        let Some(header) = header else {
            return Err(ApiError::unauthorized("missing `Authorization: Bearer <token>` header"));
        };
        // The scheme is case-insensitive (RFC 9110, section 11.1).
        let token = header
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::unauthorized("the Authorization header must be `Bearer <token>`"))?;
        self.by_digest.get(&digest(token)).cloned().ok_or_else(|| ApiError::unauthorized("unknown token"))
    }
}

/// A fresh random token (256 bits, URL-safe base64).
pub fn new_token() -> String {
    use base64::Engine as _;
    use rand_core::RngCore as _;
    let mut bytes = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut bytes);
    format!("pk_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

impl FromRequestParts<Arc<AppState>> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, ApiError> {
        let header = match parts.headers.get(axum::http::header::AUTHORIZATION) {
            None => None,
            Some(v) => Some(v.to_str().map_err(|_| ApiError::unauthorized("the Authorization header is not ASCII"))?),
        };
        state.tokens.authenticate(header)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(role: &str, agency: Option<&str>) -> TokenFile {
        TokenFile {
            id: "t".into(),
            sha256: hex::encode(digest("secret")),
            role: role.into(),
            agency: agency.map(Into::into),
        }
    }

    #[test]
    fn configured_tokens_are_checked() {
        assert!(Tokens::from_config(&[token("admin", None)]).is_ok());
        let e = Tokens::from_config(&[token("agency", None)]).unwrap_err().to_string();
        assert!(e.contains("agency"), "{e}");
        let e = Tokens::from_config(&[token("root", None)]).unwrap_err().to_string();
        assert!(e.contains("`role`"), "{e}");
        let mut short = token("admin", None);
        short.sha256 = "abc".into();
        assert!(Tokens::from_config(&[short]).unwrap_err().to_string().contains("sha256"));
        let e = Tokens::from_config(&[token("admin", None), token("gateway", None)]).unwrap_err().to_string();
        assert!(e.contains("twice"), "{e}");
        for (id, agency) in [("091122615109", None), ("ops", Some("agency 870101300123"))] {
            let mut t = token(if agency.is_some() { "agency" } else { "admin" }, agency);
            t.id = id.into();
            let e = Tokens::from_config(&[t]).unwrap_err().to_string();
            assert!(
                e.contains("10 or more digits") && !e.contains("091122615109") && !e.contains("870101300123"),
                "{e}"
            );
        }
    }

    #[test]
    fn authentication_by_digest() {
        let tokens = Tokens::from_config(&[token("gateway", None)]).unwrap();
        assert_eq!(tokens.authenticate(Some("Bearer secret")).unwrap().role, Role::Gateway);
        assert_eq!(tokens.authenticate(Some("bearer secret")).unwrap().role, Role::Gateway, "any case");
        assert!(tokens.authenticate(Some("Bearer other")).is_err());
        assert!(tokens.authenticate(Some("secret")).is_err());
        assert!(tokens.authenticate(None).is_err());
    }

    #[test]
    fn agencies_act_only_for_themselves() {
        let health = Principal { id: "h".into(), role: Role::Agency("health".into()) };
        assert!(health.acts_for("health"));
        assert!(!health.acts_for("labour"));
        let admin = Principal { id: "a".into(), role: Role::Admin };
        assert!(admin.acts_for("labour"));
        let source = Principal { id: "s".into(), role: Role::EventSource };
        assert!(!source.acts_for("health"));
        assert!(source.case_scope().is_err());
    }
}
