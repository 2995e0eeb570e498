//! The database key, the device credential, and where they are kept.
//!
//! The key is 32 random bytes, kept in the OS keyring (Secret Service on
//! Linux, Credential Manager on Windows, Keychain on macOS) and handed to
//! SQLCipher raw. It is never written beside the database. Outside
//! production, and only when explicitly asked for with
//! `WARDBOOK_INSECURE_KEY_FILE`, a plaintext key file may stand in for the
//! keyring (CI machines without a desktop session), with a warning on every
//! start.
//!
//! Each data directory has its own key, so several installations (or test
//! runs) on one account never share or overwrite each other's keys.

mod file;
mod os_keyring;
mod secret;

use std::path::Path;

use zeroize::Zeroizing;

pub use file::InsecureKeyFile;
pub use os_keyring::{OsKeyring, SERVICE as KEYRING_SERVICE};
pub use secret::DbKey;

use crate::config::{Config, KeyLocation};

/// Which stored key: the one that opens the database, or the next one while
/// a rekey is under way (see `store::rekey`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySlot {
    Current,
    Pending,
}

impl KeySlot {
    fn suffix(self) -> &'static str {
        match self {
            KeySlot::Current => "current",
            KeySlot::Pending => "pending",
        }
    }
}

/// Failures of the key store. Messages say which store was tried and what
/// to do; they never contain key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("No usable OS keyring: tried {tried} and it failed ({cause}). {hint}")]
    KeyringUnavailable { tried: &'static str, hint: &'static str, cause: String },
    #[error(
        "The keyring self-test failed: a test entry written to {tried} read back differently. The keyring is not usable; {hint}"
    )]
    SelfTestMismatch { tried: &'static str, hint: &'static str },
    #[error(
        "The database key stored in {store} is not a valid Wardbook key (expected 64 hex digits). Restore the keyring from backup or ask IT; nothing was changed."
    )]
    Malformed { store: String },
    #[error("Could not use the insecure key file {path}: {cause}. Check the path and its permissions.")]
    File { path: String, cause: String },
}

/// A place that keeps database keys.
pub trait KeyStore: Send + Sync {
    /// A human description for messages and `doctor`, e.g.
    /// "the Secret Service keyring (GNOME Keyring, KWallet)".
    fn describe(&self) -> String;
    fn load(&self, slot: KeySlot) -> Result<Option<DbKey>, KeyError>;
    fn save(&self, slot: KeySlot, key: &DbKey) -> Result<(), KeyError>;
    /// Removes the key in `slot`; absent is fine.
    fn delete(&self, slot: KeySlot) -> Result<(), KeyError>;
    /// Writes, reads back (through a separate handle) and deletes a canary.
    fn self_test(&self) -> Result<(), KeyError>;
    /// The device credential for the sync service, if this workstation is enrolled.
    fn load_credential(&self) -> Result<Option<Zeroizing<String>>, KeyError>;
    /// Stores the device credential (replacing any earlier one).
    fn save_credential(&self, credential: &str) -> Result<(), KeyError>;
    /// True only for the plaintext key file (never in production).
    fn is_insecure(&self) -> bool {
        false
    }
}

/// The key store the configuration asks for.
pub fn key_store_for(config: &Config) -> Box<dyn KeyStore> {
    match &config.key_location {
        KeyLocation::OsKeyring => Box::new(OsKeyring::for_data_dir(&config.data_dir)),
        KeyLocation::InsecureFile(path) => Box::new(InsecureKeyFile::new(path.clone())),
    }
}

/// A short, stable name for a data directory, used in keyring account names:
/// the first 16 hex digits of the SHA-256 of its absolute path.
pub fn data_dir_tag(data_dir: &Path) -> String {
    use sha2::{Digest, Sha256};
    let absolute = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    let digest = Sha256::digest(absolute.to_string_lossy().as_bytes());
    hex::encode(&digest[..8])
}
