//! Envelope encryption of patient identifiers at rest (docs/decisions.md,
//! "Encryption of identifiers at rest").
//!
//! Every identifier column (names, date of birth, contact details, MRN, the
//! senders' identifiers, raw HL7 text) is stored as AES-256-GCM ciphertext:
//! a random 96-bit nonce, then the ciphertext and its tag. The associated
//! data names the table, the column and the row, so a value copied to
//! another row or column fails its integrity check instead of showing
//! another patient. Each row records the id of the data key that sealed it
//! (`key_id`; none for a row still in clear text from before encryption).
//!
//! Data keys are random and stored in `data_keys` wrapped (AES-256-GCM) by
//! the key-encryption key (KEK), which is read from a file and never enters
//! PostgreSQL. Exact lookups go through blind indexes: HMAC-SHA-256 under a
//! key of its own (purpose `index`) over normalised input.
//!
//! [`Kek`] is the file, [`Keyring`] what a process holds (the KEK and,
//! once loaded from the database, a [`KeySet`]), [`store`] the database
//! side (init, rotation, status) and [`reencrypt`] the background worker.

mod kek;
pub mod reencrypt;
pub mod store;

pub use kek::{Kek, write_new_kek};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use wardbook_protocol::Environment;
use zeroize::Zeroizing;

const NONCE_BYTES: usize = 12;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error(
        "No key-encryption key is configured, and production never runs without one. Set WARDBOOK_KEK_FILE (the systemd unit passes /etc/wardbook/kek through LoadCredential); for a new installation create it with `wardbook-server keys generate-kek FILE` and run `wardbook-server keys init`. See the IT guide, \"Keys\"."
    )]
    KekNotConfigured,
    #[error(
        "The key-encryption key file {path} does not exist. Restore it from its backup (IT guide, \"Keys\"); for a new installation create it with `wardbook-server keys generate-kek {path}`. Nothing was read or written."
    )]
    KekMissing { path: PathBuf },
    #[error(
        "The key-encryption key file {path} cannot be read ({reason}). Make it readable by the service only (the systemd unit's LoadCredential does this). Nothing was read or written."
    )]
    KekUnreadable { path: PathBuf, reason: String },
    #[error(
        "The key-encryption key file {path} does not hold a key: it must be one line, the base64 of 32 random bytes (`wardbook-server keys generate-kek`). Nothing was read or written."
    )]
    KekMalformed { path: PathBuf },
    #[error(
        "The key-encryption key in {path} is not the one that wrapped this database's data keys (its fingerprint is {found}, the database expects {expected}). Point WARDBOOK_KEK_FILE at the right key, restored from its backup. Nothing was read or written."
    )]
    WrongKek { path: String, found: String, expected: String },
    #[error(
        "This database has no encryption keys yet. Run `wardbook-server keys init` once, after `migrate` and before `serve`."
    )]
    NotInitialised,
    #[error("This database has its encryption keys already; `keys init` runs once. See `wardbook-server keys status`.")]
    AlreadyInitialised,
    #[error(
        "The data key {key_id} cannot be unwrapped although the key-encryption key matches: the stored key is damaged. Restore the data_keys table from a backup."
    )]
    DamagedKey { key_id: i32 },
    #[error(
        "A stored value of {column} failed its integrity check: it was altered, or moved from another row or column. Nothing was returned. Restore the row from a backup and tell the privacy officer."
    )]
    Integrity { column: &'static str },
    #[error(
        "A stored value names the data key {key_id}, which this service does not know or which was retired. Run `wardbook-server keys status`; restore the key from a backup of data_keys."
    )]
    UnknownKey { key_id: i32 },
    #[error("{0}")]
    Refused(String),
    #[error("The file {path} exists already; choose another name or remove it first.")]
    FileExists { path: PathBuf },
    #[error("Cannot write {path}: {reason}.")]
    Write { path: PathBuf, reason: String },
}

/// The columns that hold ciphertext: each value's associated data starts
/// with the table and column, so a value is bound to where it was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    Mrn,
    GivenName,
    FamilyName,
    BirthDate,
    Phone,
    Email,
    Address,
    ExternalIdValue,
    Hl7Raw,
    Hl7Parsed,
}

impl Column {
    pub fn name(self) -> &'static str {
        match self {
            Column::Mrn => "phi.patient_identities.mrn",
            Column::GivenName => "phi.patient_identities.given_name",
            Column::FamilyName => "phi.patient_identities.family_name",
            Column::BirthDate => "phi.patient_identities.birth_date",
            Column::Phone => "phi.patient_identities.phone",
            Column::Email => "phi.patient_identities.email",
            Column::Address => "phi.patient_identities.address",
            Column::ExternalIdValue => "phi.external_ids.value",
            Column::Hl7Raw => "phi.hl7_messages.raw",
            Column::Hl7Parsed => "phi.hl7_messages.parsed",
        }
    }
}

/// The lookups a blind index serves; each hashes its own domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blind {
    /// A patient's MRN, trimmed.
    Mrn,
    /// Family name (case-folded, spaces collapsed) and date of birth (ISO).
    FamilyNameBirthDate,
    /// A sender's identifier: kind, system and value, the value trimmed.
    ExternalId,
}

impl Blind {
    fn domain(self) -> &'static [u8] {
        match self {
            Blind::Mrn => b"mrn",
            Blind::FamilyNameBirthDate => b"family_name+birth_date",
            Blind::ExternalId => b"external_id",
        }
    }
}

/// The family name as its blind index hashes it: case-folded, outer spaces
/// trimmed and inner runs of whitespace made one space.
pub fn normalise_name(name: &str) -> String {
    name.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

fn seal_with(cipher: &Aes256Gcm, aad: &[u8], plain: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_BYTES];
    rand::rng().fill_bytes(&mut nonce);
    let sealed = cipher
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain, aad })
        .expect("AES-GCM encrypts any message shorter than 64 GiB");
    let mut out = Vec::with_capacity(NONCE_BYTES + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    out
}

fn open_with(cipher: &Aes256Gcm, aad: &[u8], stored: &[u8]) -> Option<Vec<u8>> {
    if stored.len() < NONCE_BYTES + 16 {
        return None;
    }
    let (nonce, sealed) = stored.split_at(NONCE_BYTES);
    cipher.decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad }).ok()
}

/// The data keys of one database, unwrapped: what seals and opens values.
pub struct KeySet {
    current: i32,
    data: HashMap<i32, Aes256Gcm>,
    index: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<_> = self.data.keys().collect();
        ids.sort();
        f.debug_struct("KeySet").field("current", &self.current).field("data_keys", &ids).finish_non_exhaustive()
    }
}

fn aad(column: Column, row: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(column.name().len() + 1 + row.len());
    aad.extend_from_slice(column.name().as_bytes());
    aad.push(0);
    aad.extend_from_slice(row.as_bytes());
    aad
}

impl KeySet {
    /// The data key that seals new values.
    pub fn current(&self) -> i32 {
        self.current
    }

    /// `plain` sealed under the current key for `column` of `row`.
    pub fn seal(&self, column: Column, row: &str, plain: &[u8]) -> Vec<u8> {
        let cipher = self.data.get(&self.current).expect("the current key is loaded with the set");
        seal_with(cipher, &aad(column, row), plain)
    }

    pub fn seal_text(&self, column: Column, row: &str, plain: &str) -> Vec<u8> {
        self.seal(column, row, plain.as_bytes())
    }

    pub fn seal_opt(&self, column: Column, row: &str, plain: Option<&str>) -> Option<Vec<u8>> {
        plain.map(|p| self.seal_text(column, row, p))
    }

    /// A stored value: ciphertext under `key_id`, or with no key id a value
    /// still in clear text (UTF-8) from before encryption.
    pub fn open(&self, key_id: Option<i32>, column: Column, row: &str, stored: &[u8]) -> Result<Vec<u8>, KeyError> {
        let Some(key_id) = key_id else { return Ok(stored.to_vec()) };
        let cipher = self.data.get(&key_id).ok_or(KeyError::UnknownKey { key_id })?;
        open_with(cipher, &aad(column, row), stored).ok_or(KeyError::Integrity { column: column.name() })
    }

    pub fn open_text(&self, key_id: Option<i32>, column: Column, row: &str, stored: &[u8]) -> Result<String, KeyError> {
        String::from_utf8(self.open(key_id, column, row, stored)?)
            .map_err(|_| KeyError::Integrity { column: column.name() })
    }

    pub fn open_opt(
        &self,
        key_id: Option<i32>,
        column: Column,
        row: &str,
        stored: Option<&[u8]>,
    ) -> Result<Option<String>, KeyError> {
        stored.map(|s| self.open_text(key_id, column, row, s)).transpose()
    }

    /// The blind index of `parts` (already normalised) for one kind of lookup.
    pub fn blind(&self, kind: Blind, parts: &[&str]) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.index).expect("HMAC takes a key of any length");
        mac.update(kind.domain());
        for part in parts {
            // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac.finalize().into_bytes().to_vec()
    }

    /// The index of an MRN as lookups and writes compute it.
    pub fn mrn_index(&self, mrn: &str) -> Vec<u8> {
        self.blind(Blind::Mrn, &[mrn.trim()])
    }

    /// The index of family name plus date of birth (ISO 8601).
    pub fn name_birth_index(&self, family_name: &str, birth_date: chrono::NaiveDate) -> Vec<u8> {
        self.blind(Blind::FamilyNameBirthDate, &[&normalise_name(family_name), &birth_date.to_string()])
    }

    /// The index of a sender's identifier.
    pub fn external_id_index(&self, kind: &str, system: &str, value: &str) -> Vec<u8> {
        self.blind(Blind::ExternalId, &[kind, system, value.trim()])
    }
}

/// What one process holds: the KEK, and the database's data keys once
/// loaded (and reloaded when a rotation makes a new key current).
pub struct Keyring {
    kek: Option<Kek>,
    /// Why there is no KEK: reported when a key is needed, so a command that
    /// never touches identifiers still runs.
    missing: Option<String>,
    environment: Environment,
    pool: crate::db::Pool,
    /// `host:port` of PostgreSQL, for the hint when it is unreachable.
    target: String,
    loaded: RwLock<Option<Arc<KeySet>>>,
    /// The last [`store::status`] and when it was counted: health, which a
    /// load balancer may poll every few seconds, reads it instead of
    /// counting every sealed row each time.
    status: std::sync::Mutex<Option<(std::time::Instant, wardbook_protocol::api::EncryptionStatus)>>,
}

/// How long health may show a counted status (a rotation's progress).
const STATUS_FRESH: std::time::Duration = std::time::Duration::from_secs(30);

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("kek", &self.kek)
            .field("environment", &self.environment)
            .finish_non_exhaustive()
    }
}

impl Keyring {
    /// The keyring of the configured KEK, loading data keys through `pool`.
    /// A KEK that cannot be had is kept as an error that [`Keyring::kek`]
    /// and [`Keyring::get`] return.
    pub fn new(file: Option<&Path>, environment: Environment, pool: crate::db::Pool, target: String) -> Keyring {
        let (kek, missing) = match Kek::configured(file, environment) {
            Ok(kek) => (Some(kek), None),
            Err(e) => (None, Some(e.to_string())),
        };
        Keyring {
            kek,
            missing,
            environment,
            pool,
            target,
            loaded: RwLock::new(None),
            status: std::sync::Mutex::new(None),
        }
    }

    /// The KEK, or why there is none.
    pub fn kek(&self) -> Result<&Kek, KeyError> {
        self.kek.as_ref().ok_or_else(|| KeyError::Refused(self.missing.clone().unwrap_or_default()))
    }

    /// The data keys, loaded from the database on first use. Outside
    /// production a database without keys gets its first ones here (what
    /// `keys init` does in production).
    pub async fn get(&self) -> Result<Arc<KeySet>, crate::Error> {
        if let Some(set) = self.loaded.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
            return Ok(set.clone());
        }
        self.reload().await
    }

    /// Rows per key, counted at most every [`STATUS_FRESH`] (and again after
    /// rows moved, see [`Keyring::forget_status`]).
    pub async fn status(
        &self,
        db: &impl tokio_postgres::GenericClient,
    ) -> Result<wardbook_protocol::api::EncryptionStatus, crate::Error> {
        if let Some((at, status)) = self.status.lock().unwrap_or_else(|e| e.into_inner()).as_ref()
            && at.elapsed() < STATUS_FRESH
        {
            return Ok(status.clone());
        }
        let throwaway = self.kek.as_ref().is_some_and(Kek::is_throwaway);
        let status = store::status(db, throwaway).await?;
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = Some((std::time::Instant::now(), status.clone()));
        Ok(status)
    }

    /// Counts again at the next [`Keyring::status`]: rows moved or keys changed.
    pub fn forget_status(&self) {
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Loads the data keys again (a rotation made a new one current).
    pub async fn reload(&self) -> Result<Arc<KeySet>, crate::Error> {
        let kek = self.kek()?;
        let mut client = self.pool.get().await.map_err(|_| crate::Error::unavailable(&self.target))?;
        let set = match store::load(&**client, kek).await {
            Err(crate::Error::Keys(KeyError::NotInitialised)) if self.environment != Environment::Production => {
                match store::init(&mut client, kek).await {
                    Ok(()) | Err(crate::Error::Keys(KeyError::AlreadyInitialised)) => {}
                    Err(e) => return Err(e),
                }
                store::load(&**client, kek).await?
            }
            other => other?,
        };
        let set = Arc::new(set);
        let previous = self.loaded.write().unwrap_or_else(|e| e.into_inner()).replace(set.clone());
        if previous.is_none_or(|p| p.current != set.current) {
            self.forget_status();
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests;
