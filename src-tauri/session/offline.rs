//! Offline sign-in (DESIGN.md section 6): after each online sign-in the app
//! derives an Argon2id verifier from the password just typed and keeps it in
//! the encrypted store (`store::offline_verifiers`); while the service is
//! unreachable the clinician may sign in or unlock against it until its
//! window closes. Each wrong password counts; at the limit the verifier is
//! deleted and only an online sign-in brings it back.

use argon2::password_hash::{
    self, Decimal, Ident, Output, ParamsString, PasswordHash, PasswordHasher, PasswordVerifier, Salt, SaltString,
    rand_core::OsRng,
};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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

fn argon2() -> MappedArgon2 {
    // The service's parameters (OWASP's Argon2id recommendation): 19 MiB, 2 passes, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    MappedArgon2 { algorithm: Algorithm::Argon2id, version: Version::V0x13, params }
}

/// glibc's malloc serves a request this large from a mapping of its own
/// whatever it has adapted to, and unmaps it when freed: at least its
/// largest dynamic mmap threshold (32 MiB on 64-bit) plus a page.
const ALWAYS_MAPPED_BYTES: usize = 32 * 1024 * 1024 + 4096;

/// Argon2 with its working memory (19 MiB) in a block of
/// [`ALWAYS_MAPPED_BYTES`] (only the part used is touched), so that it goes
/// back to the system after every sign-in and unlock. The argon2 crate's own
/// `vec!` of 19 MiB is mapped the first time; freeing it raises glibc's
/// mmap threshold above 19 MiB, so every later one came from a thread's
/// malloc arena and stayed resident: about 19 MB more after each unlock
/// (docs/memory.md). Same hashes and PHC strings as `Argon2`.
struct MappedArgon2 {
    algorithm: Algorithm,
    version: Version,
    params: Params,
}

impl PasswordHasher for MappedArgon2 {
    type Params = Params;

    fn hash_password<'a>(&self, password: &[u8], salt: impl Into<Salt<'a>>) -> password_hash::Result<PasswordHash<'a>> {
        let salt = salt.into();
        let mut salt_bytes = [0u8; 64];
        let salt_bytes = salt.decode_b64(&mut salt_bytes)?;
        let blocks = self.params.block_count();
        let mut memory: Vec<Block> = Vec::with_capacity(blocks.max(ALWAYS_MAPPED_BYTES / size_of::<Block>()));
        memory.resize(blocks, Block::default());
        let argon2 = Argon2::new(self.algorithm, self.version, self.params.clone());
        let len = self.params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        let output = Output::init_with(len, |out| {
            Ok(argon2.hash_password_into_with_memory(password, salt_bytes, out, &mut memory)?)
        })?;
        Ok(PasswordHash {
            algorithm: self.algorithm.ident(),
            version: Some(self.version.into()),
            params: ParamsString::try_from(&self.params)?,
            salt: Some(salt),
            hash: Some(output),
        })
    }

    fn hash_password_customized<'a>(
        &self,
        password: &[u8],
        algorithm: Option<Ident<'a>>,
        version: Option<Decimal>,
        params: Params,
        salt: impl Into<Salt<'a>>,
    ) -> password_hash::Result<PasswordHash<'a>> {
        let algorithm = algorithm.map(Algorithm::try_from).transpose()?.unwrap_or_default();
        let version = version.map(Version::try_from).transpose()?.unwrap_or_default();
        MappedArgon2 { algorithm, version, params }.hash_password(password, salt)
    }
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
    fn verifiers_are_the_argon2_crates_own_both_ways() {
        let stock =
            Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(19 * 1024, 2, 1, None).expect("params"));
        let salt = SaltString::generate(&mut OsRng);
        let theirs = stock.hash_password(b"synthetic-password-1", &salt).expect("hash").to_string();
        let ours = argon2().hash_password(b"synthetic-password-1", &salt).expect("hash").to_string();
        assert_eq!(ours, theirs);
        let password = Password::new("synthetic-password-1");
        assert!(matches(&password, &theirs));
        assert!(!matches(&Password::new("synthetic-password-2"), &theirs));
        let phc = derive(&password).expect("verifier");
        assert!(stock.verify_password(b"synthetic-password-1", &PasswordHash::new(&phc).expect("PHC")).is_ok());
    }

    #[test]
    fn user_names_match_whatever_their_case_and_spaces() {
        assert_eq!(username_key("  Nurse.A.Synthetic "), "nurse.a.synthetic");
    }
}
