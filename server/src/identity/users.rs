//! Wardbook users who come from a directory: created at their first sign-in
//! (just in time), their name and roles refreshed at every sign-in, and
//! disabled (with every session ended) when their directory or an admin
//! says so. A disabled user's id travels in every pull
//! ([`revoked_since`]) so that workstations delete its offline verifier.

use chrono::{DateTime, Utc};
use uuid::Uuid;
use wardbook_protocol::api::Role;

use super::{DirectoryUser, ProviderConfig, roles_for};
use crate::error::{Error, Result};

/// A user allowed to sign in now.
#[derive(Clone, Debug)]
pub struct Account {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub roles: Vec<Role>,
}

/// Who disabled an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisabledBy {
    /// `wardbook-server user disable`: only `user enable` undoes it.
    Admin,
    /// The directory: the account disabled or gone there, or in no group
    /// that maps to a role. The directory vouching again enables it.
    Directory,
}

impl DisabledBy {
    fn as_str(self) -> &'static str {
        match self {
            DisabledBy::Admin => "admin",
            DisabledBy::Directory => "directory",
        }
    }
}

const DISABLED_HERE: &str =
    "This account is disabled in Wardbook. Ask IT (wardbook-server user enable) if that is a mistake.";
const NO_ROLE: &str =
    "Your directory account is in no group that gives a Wardbook role. Ask IT to add you to the right group.";
const NAME_TAKEN: &str = "A Wardbook account with this user name exists already (a local account, or one from another sign-in provider). Ask IT to rename or remove it.";
const BAD_NAME: &str = "The directory gave a user name Wardbook cannot use (2 to 128 characters: letters, digits, '.', '_', '@' or '-'). Ask IT to check the provider's user name claim or attribute.";

fn valid_username(name: &str) -> bool {
    (2..=128).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._@-".contains(c))
}

/// The Wardbook account of a person their provider just vouched for:
/// created at the first sign-in, refreshed (name, roles) at every one.
/// Refused when an admin disabled it, when the groups give no role (the
/// account is then disabled by the directory, so its offline verifiers go
/// too), or when the user name belongs to another account.
pub async fn provision(db: &tokio_postgres::Client, config: &ProviderConfig, who: &DirectoryUser) -> Result<Account> {
    let provider = config.id();
    let username = who.username.trim().to_lowercase();
    if !valid_username(&username) {
        tracing::info!(provider, "directory sign-in refused: unusable user name");
        return Err(Error::Forbidden(BAD_NAME));
    }
    let display_name: String = match who.display_name.trim() {
        "" => username.clone(),
        name => name.chars().take(120).collect(),
    };
    let roles = roles_for(&who.groups, config.groups());
    let existing = db
        .query_opt("SELECT id, disabled_by FROM users WHERE provider = $1 AND subject = $2", &[&provider, &who.subject])
        .await?;
    if let Some(row) = &existing {
        let id: Uuid = row.get(0);
        let disabled_by: Option<String> = row.get(1);
        if disabled_by.as_deref() == Some(DisabledBy::Admin.as_str()) {
            tracing::info!(user = %id, provider, "directory sign-in refused: disabled by an admin");
            return Err(Error::Unauthorized(DISABLED_HERE));
        }
        if roles.is_empty() {
            disable(db, id, DisabledBy::Directory).await?;
            tracing::info!(user = %id, provider, "directory sign-in refused: no mapped group");
            return Err(Error::Forbidden(NO_ROLE));
        }
    } else if roles.is_empty() {
        tracing::info!(provider, "directory sign-in refused: no mapped group");
        return Err(Error::Forbidden(NO_ROLE));
    }
    let role_names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    let taken = db
        .query_opt(
            "SELECT 1 FROM users WHERE username = $1 AND (provider IS DISTINCT FROM $2 OR subject <> $3)",
            &[&username, &provider, &who.subject],
        )
        .await?;
    if taken.is_some() {
        tracing::info!(provider, "directory sign-in refused: the user name belongs to another account");
        return Err(Error::Forbidden(NAME_TAKEN));
    }
    let id: Uuid = match existing {
        Some(row) => {
            let id: Uuid = row.get(0);
            db.execute(
                "UPDATE users SET username = $2, display_name = $3, roles = $4, last_sign_in_at = now(),
                        disabled = false, disabled_at = NULL, disabled_by = NULL
                  WHERE id = $1",
                &[&id, &username, &display_name, &role_names],
            )
            .await?;
            id
        }
        None => {
            let id = Uuid::now_v7();
            db.execute(
                "INSERT INTO users (id, username, display_name, roles, provider, subject, last_sign_in_at)
                 VALUES ($1, $2, $3, $4, $5, $6, now())",
                &[&id, &username, &display_name, &role_names, &provider, &who.subject],
            )
            .await?;
            tracing::info!(user = %id, provider, "directory user created at first sign-in");
            id
        }
    };
    Ok(Account { id, username, display_name, roles })
}

/// Disables an account and ends its sessions. Already disabled: unchanged,
/// except that an admin's disabling replaces the directory's (so that the
/// directory vouching again does not undo it).
pub async fn disable(db: &tokio_postgres::Client, id: Uuid, by: DisabledBy) -> Result<bool> {
    let n = db
        .execute(
            "UPDATE users SET disabled = true, disabled_by = $2,
                    disabled_at = CASE WHEN disabled THEN disabled_at ELSE now() END
              WHERE id = $1 AND (NOT disabled OR ($2 = 'admin' AND disabled_by = 'directory'))",
            &[&id, &by.as_str()],
        )
        .await?;
    let ended = db.execute("DELETE FROM sessions WHERE user_id = $1", &[&id]).await?;
    if n > 0 {
        tracing::info!(user = %id, by = by.as_str(), sessions = ended, "user disabled");
    }
    Ok(n > 0)
}

/// Enables an account an admin or its directory disabled.
pub async fn enable(db: &tokio_postgres::Client, id: Uuid) -> Result<bool> {
    let n = db
        .execute(
            "UPDATE users SET disabled = false, disabled_at = NULL, disabled_by = NULL WHERE id = $1 AND disabled",
            &[&id],
        )
        .await?;
    Ok(n > 0)
}

/// Users disabled at or after `since`: what every pull carries, so that
/// workstations delete their offline verifiers.
pub async fn revoked_since(db: &tokio_postgres::Client, since: DateTime<Utc>) -> Result<Vec<Uuid>> {
    let rows = db.query("SELECT id FROM users WHERE disabled AND disabled_at >= $1 ORDER BY id", &[&since]).await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The directory accounts of one provider that are enabled now: what the
/// directory check walks (`crate::identity::check`).
pub async fn enabled_of(db: &tokio_postgres::Client, provider: &str) -> Result<Vec<(Uuid, String)>> {
    let rows = db
        .query("SELECT id, subject FROM users WHERE provider = $1 AND NOT disabled ORDER BY id", &[&provider])
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_user_names_may_be_addresses_but_nothing_stranger() {
        for good in ["nurse.a", "n.synthetic@hospital.example", "ab", "x_1-2"] {
            assert!(valid_username(good), "{good}");
        }
        for bad in ["", "a", "-a", "Nurse", "a b", "a\0b", "a/b", &"a".repeat(129)] {
            assert!(!valid_username(bad), "{bad:?}");
        }
    }
}
