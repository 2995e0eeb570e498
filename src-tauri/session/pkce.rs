//! Proof Key for Code Exchange (RFC 7636) for the browser sign-in: the
//! workstation makes a secret verifier, sends only its S256 challenge when
//! the sign-in starts, and proves it holds the verifier when it hands in the
//! code. A code intercepted on its way to the loopback redirect (another
//! program on this computer, a browser extension) is useless without it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// A verifier and its challenge. The verifier is wiped on drop and never printed.
pub(crate) struct Pkce {
    verifier: Zeroizing<String>,
    challenge: String,
}

impl std::fmt::Debug for Pkce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkce").field("challenge", &self.challenge).finish_non_exhaustive()
    }
}

impl Pkce {
    /// A fresh verifier: 32 random bytes (rand's thread generator, a CSPRNG
    /// seeded by the operating system), base64url without padding: 43
    /// characters, 256 bits of entropy (the RFC's recommendation).
    pub(crate) fn new() -> Pkce {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(bytes.as_mut());
        Pkce::from_verifier(URL_SAFE_NO_PAD.encode(bytes.as_ref()))
    }

    fn from_verifier(verifier: String) -> Pkce {
        let challenge = challenge(&verifier);
        Pkce { verifier: Zeroizing::new(verifier), challenge }
    }

    /// Sent when the sign-in starts.
    pub(crate) fn challenge(&self) -> &str {
        &self.challenge
    }

    /// Sent once, with the code.
    pub(crate) fn expose_verifier(&self) -> &str {
        &self.verifier
    }
}

/// The S256 challenge: BASE64URL(SHA-256(ASCII(verifier))), unpadded.
fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_is_rfc_7636s_s256() {
        // RFC 7636, appendix B.
        let pkce = Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into());
        assert_eq!(pkce.challenge(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn each_verifier_is_new_43_url_safe_characters_and_never_printed() {
        let a = Pkce::new();
        let b = Pkce::new();
        assert_ne!(a.expose_verifier(), b.expose_verifier());
        for pkce in [&a, &b] {
            let verifier = pkce.expose_verifier();
            assert_eq!(verifier.len(), 43, "{verifier}");
            assert!(verifier.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
            assert_eq!(pkce.challenge().len(), 43);
            assert_eq!(pkce.challenge(), challenge(verifier));
            assert!(!format!("{pkce:?}").contains(verifier));
        }
    }
}
