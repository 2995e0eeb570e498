//! Offline sign-in (DESIGN.md section 6): after each online sign-in the app
//! derives an Argon2id verifier from the password just typed and keeps it in
//! the encrypted store (`store::offline_verifiers`); while the service is
//! unreachable the clinician may sign in or unlock against it until its
//! window closes. Each wrong password counts; at the limit the verifier is
//! deleted and only an online sign-in brings it back.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::Zeroizing;

pub(crate) use crate::store::offline_verifiers::{Failure, Verifier};

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
