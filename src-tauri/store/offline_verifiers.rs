//! The `offline_verifiers` table: for each clinician who signed in online on
//! this workstation, an Argon2id verifier of their password (or of the
//! workstation PIN they set after a browser sign-in: `kind`) and the window
//! in which they may sign in or unlock offline (see `crate::session`). Each
//! wrong password or PIN counts; at the limit the row is deleted.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use wardbook_protocol::workstation::SecretKind;

use super::StoreError;
use super::rows::{get_time, time_text};

/// One clinician's verifier row. Its Debug shows no name and no hash.
#[derive(Clone)]
pub(crate) struct Verifier {
    pub username_key: String,
    /// The service's user id (UUID text).
    pub user_id: String,
    pub display_name: String,
    pub phc: String,
    pub allowed_until: DateTime<Utc>,
    pub failed_attempts: u32,
    pub max_failed_attempts: u32,
    /// What `phc` verifies: the password, or the workstation PIN.
    pub kind: SecretKind,
    /// The provider the clinician signs in with (its id): an LDAP directory
    /// for a password, the OpenID provider for a PIN; none for a local account.
    pub provider: Option<String>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("user_id", &self.user_id)
            .field("allowed_until", &self.allowed_until)
            .field("failed_attempts", &self.failed_attempts)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    pub(crate) fn is_open(&self, now: DateTime<Utc>) -> bool {
        now < self.allowed_until
    }
}

/// What a wrong offline password did to the verifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Counted; this many attempts remain.
    Counted { remaining: u32 },
    /// The limit was reached: the verifier is gone.
    Wiped,
}

/// Reads of `offline_verifiers`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OfflineVerifiers<'a>(pub(super) &'a Connection);

impl OfflineVerifiers<'_> {
    pub(crate) fn load(self, username_key: &str) -> Result<Option<Verifier>, StoreError> {
        self.0
            .query_row(
                "SELECT username_key, user_id, display_name, phc, allowed_until, failed_attempts, max_failed_attempts,
                        kind, provider
                   FROM offline_verifiers WHERE username_key = ?1",
                [username_key],
                |row| {
                    Ok((
                        (row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?),
                        row.get::<_, String>(3)?,
                        get_time(row, "allowed_until"),
                        (row.get::<_, u32>(5)?, row.get::<_, u32>(6)?),
                        (row.get::<_, String>(7)?, row.get::<_, Option<String>>(8)?),
                    ))
                },
            )
            .optional()?
            .map(|((username_key, user_id, display_name), phc, allowed_until, (failed, max), (kind, provider))| {
                Ok(Verifier {
                    username_key,
                    user_id,
                    display_name,
                    phc,
                    allowed_until: allowed_until?,
                    failed_attempts: failed,
                    max_failed_attempts: max,
                    // The column's CHECK allows only the two.
                    kind: SecretKind::parse(&kind).unwrap_or(SecretKind::Password),
                    provider,
                })
            })
            .transpose()
    }

    /// The names a user signed in with on this workstation (user name and
    /// display name), by user id: a high-alert dose's witness must be
    /// someone else.
    pub(crate) fn names_of(self, user_id: &str) -> Result<Vec<String>, StoreError> {
        let mut stmt =
            self.0.prepare_cached("SELECT username_key, display_name FROM offline_verifiers WHERE user_id = ?1")?;
        let mut rows = stmt.query([user_id])?;
        let mut names = Vec::new();
        while let Some(row) = rows.next()? {
            names.push(row.get::<_, String>(0)?);
            names.push(row.get::<_, String>(1)?);
        }
        Ok(names)
    }
}

/// Writes to `offline_verifiers`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OfflineVerifiersMut<'a>(pub(super) &'a Connection);

impl OfflineVerifiersMut<'_> {
    /// Stores (or replaces) a verifier after an online sign-in (or a PIN
    /// set after one), with no failed attempts.
    pub(crate) fn save(self, v: &Verifier, online_login_at: DateTime<Utc>) -> Result<(), StoreError> {
        self.0.execute(
            "INSERT INTO offline_verifiers (username_key, user_id, display_name, phc, online_login_at, allowed_until,
                                            failed_attempts, max_failed_attempts, kind, provider)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, ?8, ?9)
             ON CONFLICT (username_key) DO UPDATE SET user_id = excluded.user_id, display_name = excluded.display_name,
                 phc = excluded.phc, online_login_at = excluded.online_login_at, allowed_until = excluded.allowed_until,
                 failed_attempts = 0, max_failed_attempts = excluded.max_failed_attempts, kind = excluded.kind,
                 provider = excluded.provider",
            params![
                v.username_key,
                v.user_id,
                v.display_name,
                v.phc,
                time_text(&online_login_at),
                time_text(&v.allowed_until),
                v.max_failed_attempts.max(1),
                v.kind.as_str(),
                v.provider,
            ],
        )?;
        Ok(())
    }

    /// After another online sign-in of the same clinician through the
    /// browser: the PIN they set stays, its window and limit are renewed,
    /// its failed attempts forgotten.
    pub(crate) fn renew(
        self,
        username_key: &str,
        display_name: &str,
        online_login_at: DateTime<Utc>,
        allowed_until: DateTime<Utc>,
        max_failed_attempts: u32,
    ) -> Result<(), StoreError> {
        self.0.execute(
            "UPDATE offline_verifiers SET display_name = ?2, online_login_at = ?3, allowed_until = ?4,
                    failed_attempts = 0, max_failed_attempts = ?5
              WHERE username_key = ?1",
            params![
                username_key,
                display_name,
                time_text(&online_login_at),
                time_text(&allowed_until),
                max_failed_attempts.max(1)
            ],
        )?;
        Ok(())
    }

    pub(crate) fn delete(self, username_key: &str) -> Result<(), StoreError> {
        self.0.execute("DELETE FROM offline_verifiers WHERE username_key = ?1", [username_key])?;
        Ok(())
    }

    /// Deletes the verifiers of users the service revoked (disabled by an
    /// admin or their directory); returns how many there were.
    pub(crate) fn delete_users(self, user_ids: &[uuid::Uuid]) -> Result<usize, StoreError> {
        let mut deleted = 0;
        for id in user_ids {
            deleted += self.0.execute("DELETE FROM offline_verifiers WHERE user_id = ?1", [id.to_string()])?;
        }
        Ok(deleted)
    }

    pub(crate) fn reset_failures(self, username_key: &str) -> Result<(), StoreError> {
        self.0.execute("UPDATE offline_verifiers SET failed_attempts = 0 WHERE username_key = ?1", [username_key])?;
        Ok(())
    }

    /// Counts a wrong password; deletes the verifier at the limit.
    pub(crate) fn record_failure(self, username_key: &str) -> Result<Failure, StoreError> {
        let counts: Option<(u32, u32)> = self
            .0
            .query_row(
                "UPDATE offline_verifiers SET failed_attempts = failed_attempts + 1 WHERE username_key = ?1
                 RETURNING failed_attempts, max_failed_attempts",
                [username_key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match counts {
            Some((failed, max)) if failed < max => Ok(Failure::Counted { remaining: max - failed }),
            _ => {
                self.delete(username_key)?;
                Ok(Failure::Wiped)
            }
        }
    }
}
