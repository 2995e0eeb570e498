//! Who a person is, according to the hospital: the identity providers a
//! service trusts besides its own local accounts (OpenID Connect and LDAP,
//! several at once), the mapping from their groups to Wardbook roles, and
//! the just-in-time Wardbook user a directory account becomes at its first
//! sign-in (its roles refreshed at every sign-in).
//!
//! The protocols live in `oidc` and `ldap`; each turns a sign-in into a
//! [`DirectoryUser`]. What follows from it (roles, the user row, the
//! session) is decided here, once, for both.

pub mod check;
pub mod ldap;
pub mod oidc;
pub mod oidc_flow;
pub mod users;

use std::collections::BTreeMap;

use serde::Deserialize;
use wardbook_protocol::api::Role;

/// One identity provider of the configuration file (`[[identity_providers]]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProviderConfig {
    Oidc(oidc::OidcConfig),
    Ldap(ldap::LdapConfig),
}

impl ProviderConfig {
    /// The short id clients name the provider by (`[a-z0-9-]`).
    pub fn id(&self) -> &str {
        match self {
            ProviderConfig::Oidc(c) => &c.id,
            ProviderConfig::Ldap(c) => &c.id,
        }
    }

    /// The name shown on the sign-in screen.
    pub fn name(&self) -> &str {
        match self {
            ProviderConfig::Oidc(c) => &c.name,
            ProviderConfig::Ldap(c) => &c.name,
        }
    }

    /// Directory group (as the provider names it) → Wardbook role names.
    pub fn groups(&self) -> &BTreeMap<String, Vec<String>> {
        match self {
            ProviderConfig::Oidc(c) => &c.groups,
            ProviderConfig::Ldap(c) => &c.groups,
        }
    }
}

/// A person as a provider vouched for them at sign-in. Its Debug shows the
/// provider's subject and the groups, never a name.
#[derive(Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    /// The provider's stable id for the person (OIDC `sub`; LDAP: the entry's DN).
    pub subject: String,
    /// The Wardbook user name: from the configured claim or attribute,
    /// trimmed and lower-case.
    pub username: String,
    pub display_name: String,
    /// Group names (OIDC: the groups claim's values; LDAP: each group's DN
    /// and its `cn`), matched against the provider's `groups` mapping.
    pub groups: Vec<String>,
}

impl std::fmt::Debug for DirectoryUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectoryUser").field("groups", &self.groups).finish_non_exhaustive()
    }
}

/// Why a provider did not vouch for someone. The messages name the provider
/// and what to do; never a password, a token or a claim's value.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// Wrong user name or password, unknown account, or a token that fails
    /// its checks (signature, issuer, audience, expiry, nonce).
    #[error("The sign-in was refused by {provider}.")]
    Refused { provider: String, why: &'static str },
    /// The account exists but is disabled (or fails the provider's filter).
    #[error("The account is disabled in {provider}.")]
    Disabled { provider: String },
    /// The provider could not be reached or answered nonsense.
    #[error("{provider} could not be reached: {reason}")]
    Unreachable { provider: String, reason: String },
    /// The configuration is wrong (a file missing, a bad URL).
    #[error("The configuration of {provider} is wrong: {reason}")]
    Misconfigured { provider: String, reason: String },
}

/// Checks what the configuration file can get wrong before any provider is
/// contacted: ids, names and the roles the groups map to.
pub fn validate(providers: &[ProviderConfig], environment: wardbook_protocol::Environment) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    for p in providers {
        let id = p.id();
        let valid_id = !id.is_empty()
            && id.len() <= 32
            && id.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid_id {
            return Err(format!(
                "the id {id:?} must be 1 to 32 lower-case letters, digits or '-' (for example \"hospital-ad\")"
            ));
        }
        if !seen.insert(id) {
            return Err(format!("two providers have the id {id:?}; give each its own"));
        }
        if p.name().trim().is_empty() || p.name().chars().count() > 60 {
            return Err(format!("provider {id:?}: the name shown on the sign-in screen must be 1 to 60 characters"));
        }
        // In production, passwords cross the network only inside TLS, even to a loopback directory.
        if let ProviderConfig::Ldap(l) = p
            && environment == wardbook_protocol::Environment::Production
            && l.url.trim().to_ascii_lowercase().starts_with("ldap://")
            && !l.starttls
        {
            return Err(format!(
                "provider {id:?}: in production a directory is reached over ldaps:// or with starttls = true, never in plain LDAP"
            ));
        }
        for (group, roles) in p.groups() {
            if let Some(bad) = roles.iter().find(|r| Role::parse(r).is_none()) {
                return Err(format!(
                    "provider {id:?}: group {group:?} maps to {bad:?}, which is not a role: use clinician, admin, privacy_officer or integration"
                ));
            }
        }
    }
    Ok(())
}

/// The roles a directory user's groups give, in a stable order. Group names
/// match whatever their case.
pub fn roles_for(groups: &[String], mapping: &BTreeMap<String, Vec<String>>) -> Vec<Role> {
    let mut roles: Vec<Role> = mapping
        .iter()
        .filter(|(group, _)| groups.iter().any(|g| g.eq_ignore_ascii_case(group)))
        .flat_map(|(_, roles)| roles.iter().filter_map(|r| Role::parse(r)))
        .collect();
    roles.sort_by_key(|r| Role::ALL.iter().position(|a| a == r));
    roles.dedup();
    roles
}

/// A provider ready to use.
#[derive(Debug)]
pub enum Provider {
    Oidc(oidc::Oidc),
    Ldap(ldap::Ldap),
}

/// The configured providers, each built or with the reason it could not be.
#[derive(Debug, Default)]
pub struct Providers {
    entries: Vec<(ProviderConfig, Result<Provider, String>)>,
    cache: check::ReachabilityCache,
}

impl Providers {
    pub fn new(configs: &[ProviderConfig]) -> Providers {
        let entries = configs
            .iter()
            .map(|c| {
                let built = match c {
                    ProviderConfig::Oidc(o) => oidc::Oidc::new(o.clone()).map(Provider::Oidc),
                    ProviderConfig::Ldap(l) => ldap::Ldap::new(l.clone()).map(Provider::Ldap),
                };
                (c.clone(), built.map_err(|e| e.to_string()))
            })
            .collect();
        Providers { entries, cache: check::ReachabilityCache::default() }
    }

    /// The first provider that could not be built, with why: the service refuses to start.
    pub fn misconfigured(&self) -> Option<&str> {
        self.entries.iter().find_map(|(_, built)| built.as_ref().err().map(String::as_str))
    }

    /// A provider by its id, with its configuration.
    pub fn get(&self, id: &str) -> Option<(&ProviderConfig, &Provider)> {
        self.entries.iter().find(|(c, _)| c.id() == id).and_then(|(c, p)| p.as_ref().ok().map(|p| (c, p)))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&ProviderConfig, &Provider)> {
        self.entries.iter().filter_map(|(c, p)| p.as_ref().ok().map(|p| (c, p)))
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn mapping() -> BTreeMap<String, Vec<String>> {
        BTreeMap::from([
            ("Wardbook-Clinicians".to_owned(), vec!["clinician".to_owned()]),
            ("wardbook-privacy".to_owned(), vec!["privacy_officer".to_owned(), "clinician".to_owned()]),
            ("wardbook-admins".to_owned(), vec!["admin".to_owned()]),
        ])
    }

    #[test]
    fn groups_map_to_roles_whatever_their_case_each_role_once() {
        let groups = vec!["wardbook-clinicians".to_owned(), "WARDBOOK-PRIVACY".to_owned(), "staff".to_owned()];
        assert_eq!(roles_for(&groups, &mapping()), vec![Role::Clinician, Role::PrivacyOfficer]);
        assert_eq!(roles_for(&["staff".to_owned()], &mapping()), Vec::<Role>::new());
        assert_eq!(roles_for(&[], &mapping()), Vec::<Role>::new());
    }

    #[test]
    fn the_configuration_is_checked_before_any_provider_is_contacted() {
        let parse = |toml_text: &str| -> Vec<ProviderConfig> {
            #[derive(Deserialize)]
            struct File {
                identity_providers: Vec<ProviderConfig>,
            }
            toml::from_str::<File>(toml_text).unwrap().identity_providers
        };
        let env = wardbook_protocol::Environment::Test;
        let good = parse(
            "[[identity_providers]]\nkind = \"ldap\"\nid = \"hospital-ad\"\nname = \"Hospital directory\"\nurl = \"ldaps://dc.hospital.example\"\n[identity_providers.groups]\n\"wardbook-clinicians\" = [\"clinician\"]\n",
        );
        assert!(validate(&good, env).is_ok());
        let mut twice = good.clone();
        twice.extend(good.clone());
        assert!(validate(&twice, env).unwrap_err().contains("two providers"));
        let bad_role = parse(
            "[[identity_providers]]\nkind = \"ldap\"\nid = \"ad\"\nname = \"AD\"\nurl = \"ldaps://dc\"\n[identity_providers.groups]\n\"g\" = [\"doctor\"]\n",
        );
        assert!(validate(&bad_role, env).unwrap_err().contains("not a role"));
        let bad_id = parse(
            "[[identity_providers]]\nkind = \"ldap\"\nid = \"Hospital AD\"\nname = \"AD\"\nurl = \"ldaps://dc\"\n",
        );
        assert!(validate(&bad_id, env).unwrap_err().contains("lower-case"));
        let plain =
            parse("[[identity_providers]]\nkind = \"ldap\"\nid = \"ad\"\nname = \"AD\"\nurl = \"ldap://127.0.0.1\"\n");
        assert!(validate(&plain, env).is_ok(), "plain LDAP on loopback outside production");
        let production = wardbook_protocol::Environment::Production;
        assert!(validate(&plain, production).unwrap_err().contains("never in plain LDAP"));
    }
}
