//! Sealing, opening, blind indexes and the KEK file, without a database.

#![allow(clippy::unwrap_used)]
use aes_gcm::aead::KeyInit;

use super::*;

fn keyset(current: i32) -> KeySet {
    let mut data = HashMap::new();
    for id in 1..=current {
        data.insert(id, Aes256Gcm::new_from_slice(&[id as u8; 32]).unwrap());
    }
    KeySet { current, data, index: Zeroizing::new(vec![9; 32]) }
}

#[test]
fn a_value_opens_only_in_its_own_row_and_column() {
    let keys = keyset(1);
    let sealed = keys.seal_text(Column::FamilyName, "row-1", "Synthetic");
    assert!(!sealed.windows(9).any(|w| w == b"Synthetic"), "no clear text in the ciphertext");
    assert_eq!(keys.open_text(Some(1), Column::FamilyName, "row-1", &sealed).unwrap(), "Synthetic");
    for (column, row) in [(Column::GivenName, "row-1"), (Column::FamilyName, "row-2")] {
        assert!(matches!(keys.open(Some(1), column, row, &sealed), Err(KeyError::Integrity { .. })));
    }
    // A flipped bit, a truncated value, another key: refused, never garbage.
    let mut flipped = sealed.clone();
    flipped[20] ^= 1;
    assert!(matches!(keys.open(Some(1), Column::FamilyName, "row-1", &flipped), Err(KeyError::Integrity { .. })));
    assert!(matches!(keys.open(Some(1), Column::FamilyName, "row-1", &sealed[..10]), Err(KeyError::Integrity { .. })));
    assert!(matches!(
        keys.open(Some(7), Column::FamilyName, "row-1", &sealed),
        Err(KeyError::UnknownKey { key_id: 7 })
    ));
    // Two seals of one value differ (random nonce).
    assert_ne!(sealed, keys.seal_text(Column::FamilyName, "row-1", "Synthetic"));
    // A row with no key id is clear text from before encryption.
    assert_eq!(keys.open_text(None, Column::FamilyName, "row-1", b"Clear").unwrap(), "Clear");
}

#[test]
fn values_sealed_under_an_older_key_still_open_after_rotation() {
    let old = keyset(1);
    let sealed = old.seal_text(Column::Mrn, "r", "SYN-1");
    let new = keyset(2);
    assert_eq!(new.current(), 2);
    assert_eq!(new.open_text(Some(1), Column::Mrn, "r", &sealed).unwrap(), "SYN-1");
}

#[test]
fn blind_indexes_normalise_and_keep_lookups_apart() {
    let keys = keyset(1);
    let dob = chrono::NaiveDate::from_ymd_opt(1950, 2, 3).unwrap();
    assert_eq!(keys.name_birth_index("  van  Synthetic ", dob), keys.name_birth_index("VAN SYNTHETIC", dob));
    assert_ne!(keys.name_birth_index("Synthetic", dob), keys.name_birth_index("Synthetik", dob));
    assert_ne!(keys.name_birth_index("Synthetic", dob), keys.name_birth_index("Synthetic", dob.succ_opt().unwrap()));
    assert_eq!(keys.mrn_index(" SYN-1 "), keys.mrn_index("SYN-1"));
    assert_ne!(keys.mrn_index("SYN-1"), keys.mrn_index("syn-1"), "MRNs keep their case");
    // The same text in two kinds of lookup, or split differently, hashes differently.
    assert_ne!(keys.blind(Blind::Mrn, &["x"]), keys.blind(Blind::ExternalId, &["x"]));
    assert_ne!(keys.blind(Blind::ExternalId, &["ab", "c"]), keys.blind(Blind::ExternalId, &["a", "bc"]));
    let other = KeySet { index: Zeroizing::new(vec![8; 32]), ..keyset(1) };
    assert_ne!(keys.mrn_index("SYN-1"), other.mrn_index("SYN-1"), "the index is keyed");
}

#[test]
fn the_kek_file_is_base64_of_32_bytes_and_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kek");
    write_new_kek(&path).unwrap();
    let first = std::fs::read(&path).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert!(matches!(write_new_kek(&path), Err(KeyError::FileExists { .. })));
    assert_eq!(std::fs::read(&path).unwrap(), first, "the existing key is untouched");
    let kek = Kek::from_file(&path).unwrap();
    assert_eq!(kek.fingerprint().len(), 16);
    assert!(!format!("{kek:?}").contains(std::str::from_utf8(&first).unwrap().trim()), "Debug shows no key");
    let wrapped = kek.wrap(3, "data", &[5; 32]);
    assert_eq!(kek.unwrap(3, "data", &wrapped).unwrap().as_slice(), &[5; 32]);
    assert!(kek.unwrap(4, "data", &wrapped).is_none(), "a wrapped key is bound to its id");

    let missing = dir.path().join("none");
    assert!(matches!(Kek::from_file(&missing), Err(KeyError::KekMissing { .. })));
    for bad in ["", "not base64!", "c2hvcnQ="] {
        std::fs::write(dir.path().join("bad"), bad).unwrap();
        assert!(matches!(Kek::from_file(&dir.path().join("bad")), Err(KeyError::KekMalformed { .. })), "{bad:?}");
    }
    assert!(matches!(Kek::configured(None, Environment::Production), Err(KeyError::KekNotConfigured)));
    let message = KeyError::KekMissing { path: missing.clone() }.to_string();
    assert!(message.contains(&missing.display().to_string()) && message.contains("generate-kek"));
}
