//! The database key as a secret type: redacted `Debug`, wiped on drop,
//! readable only through explicitly named accessors.

use rand::RngCore;
use zeroize::{Zeroize, Zeroizing};

/// 32 random bytes that SQLCipher uses raw. Prints as `DbKey(*******)`.
#[derive(Clone, PartialEq, Eq)]
pub struct DbKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for DbKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DbKey(*******)")
    }
}

impl DbKey {
    /// A fresh key from rand's thread-local CSPRNG (ChaCha, seeded and
    /// periodically reseeded from the operating system).
    pub fn generate() -> DbKey {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(bytes.as_mut());
        DbKey(bytes)
    }

    pub fn from_bytes(bytes: [u8; 32]) -> DbKey {
        let mut bytes = bytes;
        let key = DbKey(Zeroizing::new(bytes));
        bytes.zeroize();
        key
    }

    /// Parses 64 hex digits (surrounding white space ignored).
    pub fn from_hex(text: &str) -> Option<DbKey> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text.trim(), bytes.as_mut()).ok()?;
        Some(DbKey(bytes))
    }

    /// The key as 64 lowercase hex digits, for storage.
    pub fn expose_hex(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(64));
        for byte in self.0.iter() {
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        out
    }

    /// The SQLCipher statement that applies this key raw (no KDF):
    /// `PRAGMA key = "x'…'"`. `verb` is `key` or `rekey`.
    pub(crate) fn expose_pragma(&self, verb: &str) -> Zeroizing<String> {
        let hex = self.expose_hex();
        let mut out = Zeroizing::new(String::with_capacity(80));
        out.push_str("PRAGMA ");
        out.push_str(verb);
        out.push_str(" = \"x'");
        out.push_str(&hex);
        out.push_str("'\"");
        out
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let key = DbKey::generate();
        let shown = format!("{key:?}");
        assert_eq!(shown, "DbKey(*******)");
        assert!(!shown.contains(&key.expose_hex()[..8]));
    }

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        let key = DbKey::generate();
        let again = DbKey::from_hex(&key.expose_hex()).expect("valid hex");
        assert_eq!(key, again);
        assert!(DbKey::from_hex("abc").is_none());
        assert!(DbKey::from_hex(&"zz".repeat(32)).is_none());
        assert_ne!(DbKey::generate(), DbKey::generate());
    }

    #[test]
    fn pragma_is_raw_key_form() {
        let key = DbKey::from_bytes([0xab; 32]);
        assert_eq!(*key.expose_pragma("key"), format!("PRAGMA key = \"x'{}'\"", "ab".repeat(32)));
    }
}
