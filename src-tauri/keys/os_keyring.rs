//! The OS keyring through the `keyring` crate, with the platform store
//! chosen explicitly: if the platform feature were missing this would not
//! compile, instead of silently falling back to keyring's in-memory mock.

use std::path::Path;

use keyring::{Entry, credential::CredentialBuilder};
use zeroize::Zeroizing;

use super::{DbKey, KeyError, KeySlot, KeyStore, data_dir_tag};

/// The keyring "service" under which Wardbook keeps its entries.
pub const SERVICE: &str = "org.wardbook.desktop";

#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd"))]
mod platform {
    pub const TRIED: &str =
        "the Secret Service keyring (org.freedesktop.secrets on the D-Bus session bus: GNOME Keyring or KWallet)";
    pub const HINT: &str = "Sign in to a desktop session whose keyring is running and unlocked (install gnome-keyring if it is missing), then start Wardbook again; if this persists, ask IT.";
    pub fn builder() -> Box<keyring::credential::CredentialBuilder> {
        keyring::secret_service::default_credential_builder()
    }
}

#[cfg(target_os = "windows")]
mod platform {
    pub const TRIED: &str = "the Windows Credential Manager";
    pub const HINT: &str = "Sign in with a Windows account that has a credential store (not a temporary profile); if this persists, ask IT.";
    pub fn builder() -> Box<keyring::credential::CredentialBuilder> {
        keyring::windows::default_credential_builder()
    }
}

#[cfg(target_os = "macos")]
mod platform {
    pub const TRIED: &str = "the macOS Keychain";
    pub const HINT: &str =
        "Unlock the login keychain (Keychain Access), then start Wardbook again; if this persists, ask IT.";
    pub fn builder() -> Box<keyring::credential::CredentialBuilder> {
        keyring::macos::default_credential_builder()
    }
}

/// The OS keyring, with one entry per data directory and slot.
pub struct OsKeyring {
    account_prefix: String,
    credential_account: String,
    builder: Box<CredentialBuilder>,
}

impl std::fmt::Debug for OsKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OsKeyring").field("account_prefix", &self.account_prefix).finish()
    }
}

impl OsKeyring {
    pub fn for_data_dir(data_dir: &Path) -> OsKeyring {
        let tag = data_dir_tag(data_dir);
        OsKeyring {
            account_prefix: format!("database-key/{tag}"),
            credential_account: format!("device-credential/{tag}"),
            builder: platform::builder(),
        }
    }

    /// The keyring account name of `slot`, e.g. `database-key/0123abcd…/current`.
    pub fn account(&self, slot: KeySlot) -> String {
        format!("{}/{}", self.account_prefix, slot.suffix())
    }

    fn entry(&self, account: &str) -> Result<Entry, KeyError> {
        let credential = self.builder.build(None, SERVICE, account).map_err(unavailable)?;
        Ok(Entry::new_with_credential(credential))
    }
}

/// One keyring call, tried again while the platform store is briefly away.
/// A Secret Service daemon that restarts (it has been seen to abort under
/// load, and a session's supervisor or D-Bus starts it again) answers the
/// call in flight with a platform failure ("recipient disconnected", a
/// collection still locked) that the same call a moment later does not.
/// Up to four more tries over about two seconds; any other error, or the
/// same one after that, is final and reported as it is.
fn retried<T>(call: impl FnMut() -> keyring::Result<T>) -> keyring::Result<T> {
    use backon::{BlockingRetryable, ExponentialBuilder};
    call.retry(
        ExponentialBuilder::default()
            .with_min_delay(std::time::Duration::from_millis(100))
            .with_max_delay(std::time::Duration::from_secs(1))
            .with_max_times(4),
    )
    .sleep(std::thread::sleep)
    .when(|e| matches!(e, keyring::Error::PlatformFailure(_) | keyring::Error::NoStorageAccess(_)))
    .notify(|e, after| tracing::warn!(error = %describe_error(e), ?after, "the OS keyring failed; trying again"))
    .call()
}

fn unavailable(err: keyring::Error) -> KeyError {
    KeyError::KeyringUnavailable { tried: platform::TRIED, hint: platform::HINT, cause: describe_error(&err) }
}

/// keyring's errors, in words that carry no secret (its `BadEncoding`
/// variant holds the stored bytes, so `Display` is not used blindly).
fn describe_error(err: &keyring::Error) -> String {
    match err {
        keyring::Error::PlatformFailure(e) => format!("platform failure: {e}"),
        keyring::Error::NoStorageAccess(e) => format!("no access to the store: {e}"),
        keyring::Error::NoEntry => "no entry".into(),
        keyring::Error::BadEncoding(_) => "the stored value is not text".into(),
        keyring::Error::TooLong(name, max) => format!("{name} is longer than {max}"),
        keyring::Error::Invalid(name, why) => format!("{name} is invalid: {why}"),
        keyring::Error::Ambiguous(_) => "more than one entry matches".into(),
        _ => "unexpected keyring error".into(),
    }
}

impl KeyStore for OsKeyring {
    fn describe(&self) -> String {
        platform::TRIED.to_owned()
    }

    fn load(&self, slot: KeySlot) -> Result<Option<DbKey>, KeyError> {
        let entry = self.entry(&self.account(slot))?;
        match retried(|| entry.get_password()) {
            Ok(text) => {
                let text = Zeroizing::new(text);
                DbKey::from_hex(&text).map(Some).ok_or_else(|| KeyError::Malformed { store: self.describe() })
            }
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(keyring::Error::BadEncoding(_)) => Err(KeyError::Malformed { store: self.describe() }),
            Err(e) => Err(unavailable(e)),
        }
    }

    fn save(&self, slot: KeySlot, key: &DbKey) -> Result<(), KeyError> {
        let entry = self.entry(&self.account(slot))?;
        retried(|| entry.set_password(&key.expose_hex())).map_err(unavailable)
    }

    fn delete(&self, slot: KeySlot) -> Result<(), KeyError> {
        let entry = self.entry(&self.account(slot))?;
        match retried(|| entry.delete_credential()) {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    fn load_credential(&self) -> Result<Option<Zeroizing<String>>, KeyError> {
        let entry = self.entry(&self.credential_account)?;
        match retried(|| entry.get_password()) {
            Ok(text) => Ok(Some(Zeroizing::new(text))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    fn save_credential(&self, credential: &str) -> Result<(), KeyError> {
        let entry = self.entry(&self.credential_account)?;
        retried(|| entry.set_password(credential)).map_err(unavailable)
    }

    fn self_test(&self) -> Result<(), KeyError> {
        let account = format!("self-test/{}", uuid::Uuid::new_v4());
        let canary = DbKey::generate();
        let entry = self.entry(&account)?;
        retried(|| entry.set_password(&canary.expose_hex())).map_err(unavailable)?;
        // Read back through a separate entry: a store that keeps values only
        // inside one Entry object (keyring's mock) fails here.
        let reader = self.entry(&account)?;
        let read = retried(|| reader.get_password()).map_err(unavailable);
        let deleter = self.entry(&account)?;
        let deleted = retried(|| deleter.delete_credential()).map_err(unavailable);
        let read = Zeroizing::new(read?);
        deleted?;
        if DbKey::from_hex(&read).as_ref() != Some(&canary) {
            return Err(KeyError::SelfTestMismatch { tried: platform::TRIED, hint: platform::HINT });
        }
        Ok(())
    }
}
