//! Sign-in against the hospital's LDAP directory (OpenLDAP, 389 Directory
//! Server, Active Directory): the password is checked by the directory
//! itself, with a bind as the person's own entry, over TLS (LDAPS, or
//! StartTLS before anything else is sent; clear text only to this machine).
//!
//! The entry is found either by a search as a service account
//! (`user_base` + `user_filter`, the usual setup, and the only one that works
//! when user names are not part of the DN, as in Active Directory) or from a
//! DN template (`user_dn_template`, direct bind). Once the password is right
//! the entry is read again, through `enabled_filter` when one is set: an
//! entry the filter rejects is a disabled account, [`ProviderError::Disabled`].
//! [`Ldap::is_active`] asks the same question later, for sessions of people
//! who have since left. Groups come from a group search (`group_base` +
//! `group_filter`) or from the entry's `memberOf`, each as its DN and its `cn`.
//!
//! What a person types is escaped before it reaches a filter (RFC 4515) or a
//! DN (RFC 4514), see `escape.rs`; an empty password is refused before any
//! bind, because LDAP treats a bind with a DN and no password as an
//! anonymous bind that succeeds (RFC 4513 section 5.1.2).

mod conn;
mod escape;

pub use escape::{dn_value, filter_value, first_rdn_value};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ldap3::{LdapError, Scope, SearchEntry};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::{DirectoryUser, ProviderError};
use conn::{Endpoint, describe, is_transport, result_code, values};

/// One `[[identity_providers]]` table with `kind = "ldap"`; see
/// docs/it-guide.md, "LDAP directory sign-in", for examples.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    pub id: String,
    pub name: String,
    /// `ldaps://host[:port]` or `ldap://host[:port]` (then `starttls` must be
    /// true, except to a loopback host).
    pub url: String,
    #[serde(default)]
    pub starttls: bool,
    /// The CA certificates (PEM) the directory's certificate is checked
    /// against; without it, the operating system's roots.
    pub ca_file: Option<PathBuf>,
    /// The service account that searches for users (and reads their groups
    /// and whether they are enabled). Without it, searches are anonymous.
    pub bind_dn: Option<String>,
    /// A file holding the service account's password (one line), read when
    /// the service starts. Never the password itself in the configuration.
    pub bind_password_file: Option<PathBuf>,
    /// Direct bind: the user's DN, `{username}` standing for the escaped
    /// user name, e.g. `uid={username},ou=people,dc=example,dc=org`.
    /// Exclusive with `user_base`.
    pub user_dn_template: Option<String>,
    /// Search, then bind: where users are searched for (subtree).
    pub user_base: Option<String>,
    /// Which entry a user name is; `{username}` stands for the escaped name.
    #[serde(default = "default_user_filter")]
    pub user_filter: String,
    /// The attribute whose value (trimmed, lower-case) is the Wardbook user name.
    #[serde(default = "default_username_attribute")]
    pub username_attribute: String,
    #[serde(default = "default_display_name_attribute")]
    pub display_name_attribute: String,
    /// A filter an enabled account's entry matches, e.g. Active Directory's
    /// `(!(userAccountControl:1.2.840.113556.1.4.803:=2))` or OpenLDAP's
    /// `(!(pwdAccountLockedTime=*))`. Without it every entry is enabled.
    pub enabled_filter: Option<String>,
    /// Where groups are searched for (subtree). Without it, groups come from
    /// the user's `member_of_attribute`.
    pub group_base: Option<String>,
    /// Which groups a user is in; `{dn}` stands for the user's DN and
    /// `{username}` for the user name attribute's value, both escaped.
    #[serde(default = "default_group_filter")]
    pub group_filter: String,
    /// The attribute of a user's entry listing the DNs of their groups, used
    /// when `group_base` is not set.
    #[serde(default = "default_member_of_attribute")]
    pub member_of_attribute: String,
    /// The longest a sign-in, a check or a health probe may take, connection
    /// included.
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: u64,
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<String>>,
}

fn default_user_filter() -> String {
    "(uid={username})".to_owned()
}
fn default_username_attribute() -> String {
    "uid".to_owned()
}
fn default_display_name_attribute() -> String {
    "cn".to_owned()
}
fn default_group_filter() -> String {
    "(|(member={dn})(uniqueMember={dn}))".to_owned()
}
fn default_member_of_attribute() -> String {
    "memberOf".to_owned()
}
fn default_timeout_seconds() -> u64 {
    10
}

/// The service account's password: shown as `Secret(*******)`, wiped on
/// drop, read only through [`Secret::expose`].
struct Secret(Zeroizing<String>);

impl Secret {
    fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(*******)")
    }
}

/// A configured LDAP directory. Each call opens its own connection.
#[derive(Debug)]
pub struct Ldap {
    pub config: LdapConfig,
    endpoint: Endpoint,
    tls: Arc<rustls::ClientConfig>,
    bind_password: Option<Secret>,
    timeout: Duration,
}

impl Ldap {
    /// Checks the configuration (URL and transport, one way to find users,
    /// filters that parse, the CA file, the password file) without
    /// contacting the directory: that is [`Ldap::check`].
    pub fn new(config: LdapConfig) -> Result<Ldap, ProviderError> {
        let wrong = |reason: String| ProviderError::Misconfigured { provider: config.name.clone(), reason };
        let endpoint = Endpoint::parse(&config.url, config.starttls).map_err(wrong)?;
        match (&config.user_dn_template, &config.user_base) {
            (Some(template), None) if !template.contains("{username}") => {
                return Err(wrong("user_dn_template must contain {username}".to_owned()));
            }
            (None, Some(_)) if !config.user_filter.contains("{username}") => {
                return Err(wrong("user_filter must contain {username}".to_owned()));
            }
            (Some(_), Some(_)) => {
                return Err(wrong(
                    "set either user_base (search, then bind) or user_dn_template (direct bind), not both".to_owned(),
                ));
            }
            (None, None) => {
                return Err(wrong("set user_base (search, then bind) or user_dn_template (direct bind)".to_owned()));
            }
            _ => {}
        }
        let filters = [
            ("user_filter", Some(config.user_filter.as_str())),
            ("group_filter", Some(config.group_filter.as_str())),
            ("enabled_filter", config.enabled_filter.as_deref()),
        ];
        for (key, filter) in filters {
            let sample = filter.map(|f| f.replace("{username}", "x").replace("{dn}", "x"));
            if let Some(sample) = sample
                && ldap3::parse_filter(&sample).is_err()
            {
                return Err(wrong(format!("{key} is not an LDAP filter (RFC 4515), such as (uid={{username}})")));
            }
        }
        if config.group_base.is_some()
            && !config.group_filter.contains("{dn}")
            && !config.group_filter.contains("{username}")
        {
            return Err(wrong("group_filter must contain {dn} or {username}".to_owned()));
        }
        let bind_password = match (&config.bind_dn, &config.bind_password_file) {
            (Some(_), Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| wrong(format!("cannot read bind_password_file {} ({})", path.display(), e.kind())))?;
                let text = Zeroizing::new(text);
                let password = text.trim_end_matches(['\r', '\n']);
                if password.is_empty() {
                    return Err(wrong(format!("bind_password_file {} is empty", path.display())));
                }
                Some(Secret(Zeroizing::new(password.to_owned())))
            }
            (None, None) => None,
            _ => return Err(wrong("bind_dn and bind_password_file go together: set both or neither".to_owned())),
        };
        if !(1..=300).contains(&config.timeout_seconds) {
            return Err(wrong("timeout_seconds must be between 1 and 300".to_owned()));
        }
        let tls = crate::hl7::outbound::client_tls(config.ca_file.as_deref()).map_err(wrong)?;
        let timeout = Duration::from_secs(config.timeout_seconds);
        Ok(Ldap { config, endpoint, tls, bind_password, timeout })
    }

    /// Checks a user name and password against the directory: the person's
    /// entry, their enabled state, their groups. `Refused` for a wrong
    /// password, an unknown or ambiguous user name and an empty password;
    /// `Disabled` when the password is right but the entry fails
    /// `enabled_filter`.
    pub async fn authenticate(&self, username: &str, password: &str) -> Result<DirectoryUser, ProviderError> {
        let username = username.trim();
        if username.is_empty() {
            return Err(self.refused("empty user name"));
        }
        if password.is_empty() {
            return Err(self.refused("empty password"));
        }
        self.within(self.sign_in(username, password)).await
    }

    /// Is the account (by its DN, the subject) still there and enabled? `Ok(false)` when gone or disabled.
    ///
    /// A directory answers "no such entry" both for what is gone and for
    /// what the reader may not see. So `false` for a missing entry needs its
    /// parent (`ou=people,...`) to be visible: a service account (or, without
    /// one, an anonymous reader) that sees nothing is `Misconfigured`, not a
    /// directory of leavers.
    pub async fn is_active(&self, subject: &str) -> Result<bool, ProviderError> {
        self.within(async {
            let mut ldap = self.connect().await?;
            self.bind_service(&mut ldap).await?;
            let filter = self.config.enabled_filter.as_deref().unwrap_or("(objectClass=*)");
            let active = match conn::search(&mut ldap, subject, Scope::Base, filter, &["1.1"]).await {
                Ok(entries) if !entries.is_empty() => true,
                Ok(_) => false,
                Err(e) if result_code(&e) == Some(32) => false,
                // Not a DN at all: no account of this directory.
                Err(e) if result_code(&e) == Some(34) => return Ok(false),
                Err(e) => return Err(self.failed("the check of an account", e)),
            };
            if !active && !self.read_entry_unfiltered(&mut ldap, subject).await? {
                let parent = escape::parent_dn(subject).unwrap_or_default();
                if !parent.is_empty() && !self.read_entry_unfiltered(&mut ldap, parent).await? {
                    return Err(self.misconfigured(format!(
                        "{parent} cannot be read, so whether its accounts still exist cannot be told: \
                         the service account (bind_dn) needs read access to user entries"
                    )));
                }
            }
            let _ = ldap.unbind().await;
            Ok(active)
        })
        .await
    }

    /// Reachability for health and doctor: connect, TLS, and the service account's bind.
    pub async fn check(&self) -> Result<(), ProviderError> {
        self.within(async {
            let mut ldap = self.connect().await?;
            self.bind_service(&mut ldap).await?;
            let _ = ldap.unbind().await;
            Ok(())
        })
        .await
    }

    async fn sign_in(&self, username: &str, password: &str) -> Result<DirectoryUser, ProviderError> {
        let mut ldap = self.connect().await?;
        let dn = match &self.config.user_dn_template {
            Some(template) => template.replace("{username}", &dn_value(username)),
            None => self.find_user(&mut ldap, username).await?,
        };
        if let Err(e) = ldap.simple_bind(&dn, password).await.and_then(|r| r.success()) {
            if is_transport(&e) {
                return Err(self.unreachable(&e));
            }
            tracing::debug!(provider = %self.config.id, result = %describe(&e), "the directory refused a user's bind");
            return Err(self.refused(match result_code(&e) {
                Some(49) => "wrong password or unknown user",
                _ => "the directory refused the bind",
            }));
        }
        // The service account, when there is one, reads what follows; else
        // the user, who can usually read their own entry.
        self.bind_service(&mut ldap).await?;
        let Some(entry) = self.read_entry(&mut ldap, &dn).await? else {
            return Err(match self.read_entry_unfiltered(&mut ldap, &dn).await? {
                true if self.config.enabled_filter.is_some() => self.disabled(),
                _ => self.misconfigured(
                    "the entry of a user whose password was right cannot be read: the service account \
                     (or, without one, each user) needs read access to user entries"
                        .to_owned(),
                ),
            });
        };
        let user = self.directory_user(&mut ldap, username, entry).await?;
        let _ = ldap.unbind().await;
        Ok(user)
    }

    /// Search, then bind: the one entry `user_filter` finds for `username`.
    async fn find_user(&self, ldap: &mut ldap3::Ldap, username: &str) -> Result<String, ProviderError> {
        self.bind_service(ldap).await?;
        let filter = self.config.user_filter.replace("{username}", &filter_value(username));
        let base = self.config.user_base.as_deref().unwrap_or_default();
        let found = conn::search(ldap, base, Scope::Subtree, &filter, &["1.1"])
            .await
            .map_err(|e| self.failed("the search for the user (user_base, user_filter)", e))?;
        match <[SearchEntry; 1]>::try_from(found) {
            Ok([entry]) => Ok(entry.dn),
            Err(found) if found.is_empty() => Err(self.refused("unknown user")),
            Err(_) => {
                tracing::warn!(
                    provider = %self.config.id,
                    "user_filter matched more than one entry for one user name; the sign-in is refused"
                );
                Err(self.refused("ambiguous user name"))
            }
        }
    }

    /// The user's entry if it passes `enabled_filter`, with the attributes we use.
    async fn read_entry(&self, ldap: &mut ldap3::Ldap, dn: &str) -> Result<Option<SearchEntry>, ProviderError> {
        let filter = self.config.enabled_filter.as_deref().unwrap_or("(objectClass=*)");
        let c = &self.config;
        let mut attributes = vec![c.username_attribute.as_str(), c.display_name_attribute.as_str()];
        if c.group_base.is_none() {
            attributes.push(&c.member_of_attribute);
        }
        match conn::search(ldap, dn, Scope::Base, filter, &attributes).await {
            Ok(entries) => Ok(entries.into_iter().next()),
            Err(e) if result_code(&e) == Some(32) => Ok(None),
            Err(e) => Err(self.failed("reading the user's entry", e)),
        }
    }

    /// Whether the entry is there at all, whatever `enabled_filter` says.
    async fn read_entry_unfiltered(&self, ldap: &mut ldap3::Ldap, dn: &str) -> Result<bool, ProviderError> {
        match conn::search(ldap, dn, Scope::Base, "(objectClass=*)", &["1.1"]).await {
            Ok(entries) => Ok(!entries.is_empty()),
            Err(e) if result_code(&e) == Some(32) => Ok(false),
            Err(e) => Err(self.failed("reading the user's entry", e)),
        }
    }

    async fn directory_user(
        &self,
        ldap: &mut ldap3::Ldap,
        typed: &str,
        entry: SearchEntry,
    ) -> Result<DirectoryUser, ProviderError> {
        let names = values(&entry, &self.config.username_attribute);
        // A multi-valued attribute (uid may be): the value the person typed.
        let Some(name) = names.iter().find(|n| n.trim().eq_ignore_ascii_case(typed)).or(names.first()) else {
            return Err(self.misconfigured(format!(
                "a user's entry has no {} attribute (username_attribute), or the service account cannot read it",
                self.config.username_attribute
            )));
        };
        let username = name.trim().to_lowercase();
        let display_name = values(&entry, &self.config.display_name_attribute)
            .first()
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| username.clone());
        let mut groups = Vec::new();
        match &self.config.group_base {
            Some(base) => {
                let filter = self
                    .config
                    .group_filter
                    .replace("{dn}", &filter_value(&entry.dn))
                    .replace("{username}", &filter_value(name.trim()));
                let found = conn::search(ldap, base, Scope::Subtree, &filter, &["cn"])
                    .await
                    .map_err(|e| self.failed("the group search (group_base, group_filter)", e))?;
                for group in found {
                    let names = values(&group, "cn").to_vec();
                    groups.push(group.dn);
                    groups.extend(names);
                }
            }
            None => {
                for dn in values(&entry, &self.config.member_of_attribute) {
                    groups.push(dn.clone());
                    groups.extend(first_rdn_value(dn, "cn"));
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        groups.retain(|g| seen.insert(g.clone()));
        Ok(DirectoryUser { subject: entry.dn, username, display_name, groups })
    }

    async fn connect(&self) -> Result<ldap3::Ldap, ProviderError> {
        conn::connect(&self.endpoint, &self.tls).await.map_err(|e| self.unreachable(&e))
    }

    /// Binds as the service account, when one is configured.
    async fn bind_service(&self, ldap: &mut ldap3::Ldap) -> Result<(), ProviderError> {
        let (Some(dn), Some(password)) = (&self.config.bind_dn, &self.bind_password) else { return Ok(()) };
        match ldap.simple_bind(dn, password.expose()).await.and_then(|r| r.success()) {
            Ok(_) => Ok(()),
            Err(e) if is_transport(&e) => Err(self.unreachable(&e)),
            Err(e) => Err(self.misconfigured(format!(
                "the directory refused the service account's bind, {}: check bind_dn and bind_password_file",
                describe(&e)
            ))),
        }
    }

    /// Runs `work` within `timeout_seconds`.
    async fn within<T>(&self, work: impl Future<Output = Result<T, ProviderError>>) -> Result<T, ProviderError> {
        tokio::time::timeout(self.timeout, work).await.unwrap_or_else(|_| {
            Err(ProviderError::Unreachable {
                provider: self.config.name.clone(),
                reason: format!(
                    "{} did not answer within {} s (timeout_seconds)",
                    self.endpoint.address, self.config.timeout_seconds
                ),
            })
        })
    }

    /// A failed search or read: the transport's failure, or the directory's
    /// answer, which means the configuration (a base that is not there, a
    /// service account without access).
    fn failed(&self, what: &str, e: LdapError) -> ProviderError {
        match result_code(&e) {
            _ if is_transport(&e) => self.unreachable(&e),
            Some(51 | 52) => self.unreachable(&e),
            _ => self.misconfigured(format!("{what} failed, {}", describe(&e))),
        }
    }

    fn refused(&self, why: &'static str) -> ProviderError {
        ProviderError::Refused { provider: self.config.name.clone(), why }
    }

    fn disabled(&self) -> ProviderError {
        ProviderError::Disabled { provider: self.config.name.clone() }
    }

    fn unreachable(&self, e: &LdapError) -> ProviderError {
        let reason = format!("{}: {}", self.endpoint.address, describe(e));
        ProviderError::Unreachable { provider: self.config.name.clone(), reason }
    }

    fn misconfigured(&self, reason: String) -> ProviderError {
        ProviderError::Misconfigured { provider: self.config.name.clone(), reason }
    }
}

#[cfg(test)]
mod tests;
