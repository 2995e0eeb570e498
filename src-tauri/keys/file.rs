//! The insecure plaintext key file: development and test only, explicitly
//! requested with `WARDBOOK_INSECURE_KEY_FILE`, refused in production by
//! `Config`, and announced with a warning on every start.

use std::io::Write;
use std::path::PathBuf;

use zeroize::Zeroizing;

use super::{DbKey, KeyError, KeySlot, KeyStore};

#[derive(Debug)]
pub struct InsecureKeyFile {
    path: PathBuf,
}

impl InsecureKeyFile {
    pub fn new(path: PathBuf) -> InsecureKeyFile {
        InsecureKeyFile { path }
    }

    fn slot_path(&self, slot: KeySlot) -> PathBuf {
        match slot {
            KeySlot::Current => self.path.clone(),
            KeySlot::Pending => {
                let mut name = self.path.clone().into_os_string();
                name.push(".pending");
                PathBuf::from(name)
            }
        }
    }

    fn credential_path(&self) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(".device-credential");
        PathBuf::from(name)
    }

    fn write_private(&self, path: &std::path::Path, bytes: &[u8]) -> Result<(), KeyError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| self.err(e))?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(|e| self.err(e))?;
        file.write_all(bytes).map_err(|e| self.err(e))?;
        file.sync_all().map_err(|e| self.err(e))
    }

    fn err(&self, cause: impl std::fmt::Display) -> KeyError {
        KeyError::File { path: self.path.display().to_string(), cause: cause.to_string() }
    }
}

impl KeyStore for InsecureKeyFile {
    fn describe(&self) -> String {
        format!("the INSECURE plaintext key file {}", self.path.display())
    }

    fn load(&self, slot: KeySlot) -> Result<Option<DbKey>, KeyError> {
        match std::fs::read_to_string(self.slot_path(slot)) {
            Ok(text) => {
                let text = Zeroizing::new(text);
                DbKey::from_hex(&text).map(Some).ok_or_else(|| KeyError::Malformed { store: self.describe() })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.err(e)),
        }
    }

    fn save(&self, slot: KeySlot, key: &DbKey) -> Result<(), KeyError> {
        self.write_private(&self.slot_path(slot), key.expose_hex().as_bytes())
    }

    fn load_credential(&self) -> Result<Option<Zeroizing<String>>, KeyError> {
        match std::fs::read_to_string(self.credential_path()) {
            Ok(text) => Ok(Some(Zeroizing::new(text.trim().to_owned()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.err(e)),
        }
    }

    fn save_credential(&self, credential: &str) -> Result<(), KeyError> {
        self.write_private(&self.credential_path(), credential.as_bytes())
    }

    fn delete(&self, slot: KeySlot) -> Result<(), KeyError> {
        match std::fs::remove_file(self.slot_path(slot)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.err(e)),
        }
    }

    fn self_test(&self) -> Result<(), KeyError> {
        Ok(())
    }

    fn is_insecure(&self) -> bool {
        true
    }
}
