//! The key-encryption key (KEK): read from its file, or outside production
//! a throwaway one; it wraps and unwraps the data keys and never enters
//! PostgreSQL.

use std::path::{Path, PathBuf};

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::KeyInit;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use wardbook_protocol::Environment;
use zeroize::Zeroizing;

use super::{KeyError, open_with, seal_with};

/// The key-encryption key, from its file. Never printed: `Debug` shows the
/// file and the fingerprint only.
pub struct Kek {
    cipher: Aes256Gcm,
    fingerprint: String,
    path: PathBuf,
    throwaway: bool,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kek")
            .field("path", &self.path)
            .field("fingerprint", &self.fingerprint)
            .field("throwaway", &self.throwaway)
            .finish()
    }
}

impl Kek {
    /// The key in `path`: one line, the base64 of 32 bytes.
    pub fn from_file(path: &Path) -> Result<Kek, KeyError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => Zeroizing::new(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(KeyError::KekMissing { path: path.to_owned() });
            }
            Err(e) => return Err(KeyError::KekUnreadable { path: path.to_owned(), reason: e.kind().to_string() }),
        };
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|_| KeyError::KekMalformed { path: path.to_owned() })?,
        );
        if bytes.len() != 32 {
            return Err(KeyError::KekMalformed { path: path.to_owned() });
        }
        Ok(Kek::from_bytes(&bytes, path.to_owned(), false))
    }

    fn from_bytes(bytes: &[u8], path: PathBuf, throwaway: bool) -> Kek {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(bytes).expect("HMAC takes a key of any length");
        mac.update(b"wardbook key-encryption key fingerprint");
        let fingerprint = hex::encode(&mac.finalize().into_bytes()[..8]);
        Kek { cipher: Aes256Gcm::new_from_slice(bytes).expect("32 bytes"), fingerprint, path, throwaway }
    }

    /// The configured key; outside production, with none configured, a
    /// throwaway key in a file of the temporary directory that every
    /// process of this user on this machine shares (development and tests).
    pub fn configured(file: Option<&Path>, environment: Environment) -> Result<Kek, KeyError> {
        match (file, environment) {
            (Some(path), _) => Kek::from_file(path),
            (None, Environment::Production) => Err(KeyError::KekNotConfigured),
            (None, _) => {
                let path = throwaway_path();
                if !path.exists() {
                    write_new_kek(&path).or_else(|e| if path.exists() { Ok(()) } else { Err(e) })?;
                }
                let mut kek = Kek::from_file(&path)?;
                kek.throwaway = true;
                Ok(kek)
            }
        }
    }

    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn is_throwaway(&self) -> bool {
        self.throwaway
    }

    pub(super) fn wrap(&self, key_id: i32, purpose: &str, key: &[u8]) -> Vec<u8> {
        seal_with(&self.cipher, &wrap_aad(key_id, purpose), key)
    }

    pub(super) fn unwrap(&self, key_id: i32, purpose: &str, wrapped: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        open_with(&self.cipher, &wrap_aad(key_id, purpose), wrapped).map(Zeroizing::new)
    }
}

fn wrap_aad(key_id: i32, purpose: &str) -> Vec<u8> {
    format!("wardbook data key\0{key_id}\0{purpose}").into_bytes()
}

/// Where the throwaway key of development and tests lives.
fn throwaway_path() -> PathBuf {
    let user = std::env::var("USER").unwrap_or_else(|_| "user".to_owned());
    std::env::temp_dir().join(format!("wardbook-throwaway-kek-{user}"))
}

/// Writes a new random KEK to `path` (mode 0600), never over an existing file:
/// written aside, then linked into place.
pub fn write_new_kek(path: &Path) -> Result<(), KeyError> {
    let mut key = Zeroizing::new([0u8; 32]);
    rand::rng().fill_bytes(key.as_mut());
    let text = Zeroizing::new(format!("{}\n", base64::engine::general_purpose::STANDARD.encode(key.as_ref())));
    let write_err = |e: std::io::Error| KeyError::Write { path: path.to_owned(), reason: e.kind().to_string() };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let aside = dir.join(format!(".wardbook-kek-{}-{}", std::process::id(), rand::rng().next_u64()));
    {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&aside).map_err(write_err)?;
        file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(write_err)?;
    }
    let linked = std::fs::hard_link(&aside, path);
    let _ = std::fs::remove_file(&aside);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(KeyError::FileExists { path: path.to_owned() }),
        Err(e) => Err(write_err(e)),
    }
}
