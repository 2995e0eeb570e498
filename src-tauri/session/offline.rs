//! Offline sign-in (DESIGN.md section 6): after each online sign-in the app
//! derives an Argon2id verifier from the password just typed and keeps it in
//! the encrypted store; while the service is unreachable the clinician may
//! sign in or unlock against it until its window closes. Each wrong password
//! counts; at the limit the verifier is deleted and only an online sign-in
//! brings it back.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Params, Version};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use zeroize::Zeroizing;

use crate::store::StoreError;
use crate::store::rows::{get_time, time_text};

/// A password as typed: wiped from memory on drop, never printed.
#[derive(Clone)]
pub struct Password(Zeroizing<String>);

impl Password {
    pub fn new(text: &str) -> Password {
        Password(Zeroizing::new(text.to_owned()))
    }

    /// The text, for the one place that needs it (the login request, the hash).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_blank(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

/// The online session's login token: in memory only, wiped on drop, never printed.
#[derive(Clone)]
pub(crate) struct Token(Zeroizing<String>);

impl Token {
    pub(crate) fn new(text: String) -> Token {
        Token(Zeroizing::new(text))
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

/// User names match whatever their case and surrounding spaces (the
/// service stores them trimmed and lower-case).
pub(crate) fn username_key(username: &str) -> String {
    username.trim().to_lowercase()
}

fn argon2() -> Argon2<'static> {
    // The service's parameters (OWASP's Argon2id recommendation): 19 MiB, 2 passes, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The PHC string of a new verifier. Blocking: call through `spawn_blocking`.
pub(crate) fn derive(password: &Password) -> Option<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2().hash_password(password.expose().as_bytes(), &salt).ok().map(|h| h.to_string())
}

/// Does the password match the verifier? Blocking: call through `spawn_blocking`.
pub(crate) fn matches(password: &Password, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|parsed| argon2().verify_password(password.expose().as_bytes(), &parsed).is_ok())
}

/// One clinician's verifier row.
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
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("user_id", &self.user_id)
            .field("allowed_until", &self.allowed_until)
            .field("failed_attempts", &self.failed_attempts)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    pub(crate) fn is_open(&self, now: DateTime<Utc>) -> bool {
        now < self.allowed_until
    }
}

pub(crate) fn load(conn: &Connection, username_key: &str) -> Result<Option<Verifier>, StoreError> {
    conn.query_row(
        "SELECT username_key, user_id, display_name, phc, allowed_until, failed_attempts, max_failed_attempts
           FROM offline_verifiers WHERE username_key = ?1",
        [username_key],
        |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                get_time(row, "allowed_until"),
                row.get::<_, u32>(5)?,
                row.get::<_, u32>(6)?,
            ))
        },
    )
    .optional()?
    .map(|(username_key, user_id, display_name, phc, allowed_until, failed_attempts, max_failed_attempts)| {
        Ok(Verifier {
            username_key,
            user_id,
            display_name,
            phc,
            allowed_until: allowed_until?,
            failed_attempts,
            max_failed_attempts,
        })
    })
    .transpose()
}

/// Stores (or replaces) a verifier after an online sign-in, with no failed attempts.
pub(crate) fn save(conn: &Connection, v: &Verifier, online_login_at: DateTime<Utc>) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO offline_verifiers (username_key, user_id, display_name, phc, online_login_at, allowed_until,
                                        failed_attempts, max_failed_attempts)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7)
         ON CONFLICT (username_key) DO UPDATE SET user_id = excluded.user_id, display_name = excluded.display_name,
             phc = excluded.phc, online_login_at = excluded.online_login_at, allowed_until = excluded.allowed_until,
             failed_attempts = 0, max_failed_attempts = excluded.max_failed_attempts",
        params![
            v.username_key,
            v.user_id,
            v.display_name,
            v.phc,
            time_text(&online_login_at),
            time_text(&v.allowed_until),
            v.max_failed_attempts.max(1),
        ],
    )?;
    Ok(())
}

pub(crate) fn delete(conn: &Connection, username_key: &str) -> Result<(), StoreError> {
    conn.execute("DELETE FROM offline_verifiers WHERE username_key = ?1", [username_key])?;
    Ok(())
}

pub(crate) fn reset_failures(conn: &Connection, username_key: &str) -> Result<(), StoreError> {
    conn.execute("UPDATE offline_verifiers SET failed_attempts = 0 WHERE username_key = ?1", [username_key])?;
    Ok(())
}

/// What a wrong offline password did to the verifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Counted; this many attempts remain.
    Counted { remaining: u32 },
    /// The limit was reached: the verifier is gone.
    Wiped,
}

/// Counts a wrong password; deletes the verifier at the limit.
pub(crate) fn record_failure(conn: &Connection, username_key: &str) -> Result<Failure, StoreError> {
    let counts: Option<(u32, u32)> = conn
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
            delete(conn, username_key)?;
            Ok(Failure::Wiped)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifiers_match_only_their_password_and_secrets_never_print() {
        let password = Password::new("synthetic-password-1");
        let phc = derive(&password).unwrap_or_default();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(matches(&password, &phc));
        assert!(!matches(&Password::new("synthetic-password-2"), &phc));
        assert!(!matches(&password, "not a hash"));
        assert_eq!(format!("{password:?}"), "Password(***)");
        assert_eq!(format!("{:?}", Token::new("wbu1_secret".into())), "Token(***)");
    }

    #[test]
    fn user_names_match_whatever_their_case_and_spaces() {
        assert_eq!(username_key("  Nurse.A.Synthetic "), "nurse.a.synthetic");
    }
}
