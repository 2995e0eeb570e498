//! Sessions as the UI sees them: where the session stands, how a clinician
//! signs in (a password, the hospital's browser sign-in, a workstation PIN),
//! the sign-in screen's choice of providers, and the rule a workstation PIN
//! must keep.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::BreakGlassGrant;
use crate::api::LoginProvider;

/// How the clinician signed in: checked by the server, or against the
/// verifier kept in the encrypted store while the server is unreachable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum SessionMode {
    Online,
    Offline,
}

/// The signed-in clinician.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SessionInfo {
    pub user_id: String,
    pub display_name: String,
    pub mode: SessionMode,
    pub started_at: DateTime<Utc>,
    /// The screen locks after this many idle minutes (policy, default 10).
    pub idle_lock_minutes: u32,
    /// Break-the-glass accesses still running.
    pub break_glass: Vec<BreakGlassGrant>,
}

/// Where the workstation's session stands. The UI polls it: `locked` and
/// `signed_out` mean no patient data may be on screen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "state", rename_all = "snake_case")]
#[ts(export)]
pub enum SessionState {
    SignedOut,
    Active {
        session: SessionInfo,
    },
    /// Locked by idleness or by hand: the same clinician unlocks with the
    /// password (or the workstation PIN, `unlock_with`), or another
    /// clinician signs in (ending the locked session).
    Locked {
        user_id: String,
        display_name: String,
        unlock_with: SecretKind,
    },
    /// Signed in through the hospital's browser sign-in (OpenID Connect)
    /// with no workstation PIN here yet: no patient data until the
    /// clinician sets one (`set_pin`), since the PIN is what unlocks the
    /// session and signs in offline. Idleness or "Lock" ends it.
    PinSetup {
        user_id: String,
        display_name: String,
        /// The service's `offline_unlock.pin_min_length`.
        pin_min_length: u32,
    },
}

/// What unlocks a clinician's session and signs them in offline on this
/// workstation: the password they signed in with (a local Wardbook account
/// or an LDAP directory), or the workstation PIN they set after the
/// hospital's browser sign-in (OpenID Connect: the app never sees that
/// password).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum SecretKind {
    Password,
    Pin,
}

impl SecretKind {
    /// As stored in the `offline_verifiers.kind` column.
    pub const fn as_str(self) -> &'static str {
        match self {
            SecretKind::Password => "password",
            SecretKind::Pin => "pin",
        }
    }

    pub fn parse(text: &str) -> Option<SecretKind> {
        match text {
            "password" => Some(SecretKind::Password),
            "pin" => Some(SecretKind::Pin),
            _ => None,
        }
    }
}

/// A sign-in with a password, or (offline, `sign_in_pin`) with a workstation
/// PIN in `password`. `Debug` never shows the password.
#[derive(Clone, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    /// The provider chosen on the sign-in screen (`SignInOptions`): an LDAP
    /// provider checks the password; an OpenID Connect provider's users
    /// sign in offline with their PIN. None: a local Wardbook account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub provider: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"***")
            .field("provider", &self.provider)
            .finish()
    }
}

/// What the sign-in screen offers: the service's identity providers and
/// whether clinicians may use local accounts. Fetched from the service when
/// it answers and kept in the encrypted store, so the screen is the same
/// offline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SignInOptions {
    pub providers: Vec<LoginProvider>,
    /// False: the screen hides the local account form behind a small "IT
    /// emergency account" link (admins' local accounts always work).
    pub local_accounts_for_clinicians: bool,
    /// Whether the service answered just now (false: the list kept from
    /// `as_of`, or, never fetched, local accounts only).
    pub fresh: bool,
    pub as_of: Option<DateTime<Utc>>,
}

/// A new workstation PIN, typed twice. `Debug` never shows it.
#[derive(Clone, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct PinEntry {
    pub pin: String,
    pub confirm: String,
}

impl std::fmt::Debug for PinEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PinEntry(***)")
    }
}

/// A workstation PIN is at most this many characters.
pub const PIN_MAX_CHARS: usize = 64;

/// Why a new workstation PIN is refused. The messages never repeat the PIN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PinProblem {
    #[error("The two PINs are not the same. Type the PIN again in both boxes.")]
    Mismatch,
    #[error("The PIN must be at least {min} characters long (digits, letters or both).")]
    TooShort { min: u32 },
    #[error("The PIN must be at most {max} characters long.")]
    TooLong { max: usize },
    #[error("The PIN cannot contain spaces.")]
    Whitespace,
    #[error("The PIN is too easy to guess (one character repeated, or a run such as 123456). Choose another.")]
    TooSimple,
}

/// The rule a workstation PIN keeps (the workstation's and the UI's one
/// check). At least `min_chars` characters (the service's
/// `pin_min_length`, at least 4 whatever it says), at most
/// [`PIN_MAX_CHARS`]; digits, letters or any other character but
/// whitespace; case counts. Refused as too easy to guess: one character
/// repeated, and a run of consecutive digits up or down (NIST SP 800-63B
/// section 5.1.1.2 asks verifiers to refuse such "repetitive or sequential
/// characters"). Offline, five wrong tries (the policy's
/// `max_failed_attempts`) wipe it: that, not its length, bounds guessing.
pub fn pin_problem(pin: &str, confirm: &str, min_chars: u32) -> Option<PinProblem> {
    let min = min_chars.max(4);
    let chars: Vec<char> = pin.chars().collect();
    if pin != confirm {
        return Some(PinProblem::Mismatch);
    }
    if chars.iter().any(|c| c.is_whitespace()) {
        return Some(PinProblem::Whitespace);
    }
    if chars.len() < min as usize {
        return Some(PinProblem::TooShort { min });
    }
    if chars.len() > PIN_MAX_CHARS {
        return Some(PinProblem::TooLong { max: PIN_MAX_CHARS });
    }
    let repeated = chars.windows(2).all(|w| w[0] == w[1]);
    let digits: Option<Vec<i64>> = chars.iter().map(|c| c.to_digit(10).map(i64::from)).collect();
    let run = digits.is_some_and(|d| {
        let step = d[1] - d[0];
        step.abs() == 1 && d.windows(2).all(|w| w[1] - w[0] == step)
    });
    (repeated || run).then_some(PinProblem::TooSimple)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pin_rule_at_each_boundary() {
        let cases: &[(&str, &str, u32, Option<PinProblem>)] = &[
            ("480213", "480213", 6, None),
            ("48021", "48021", 6, Some(PinProblem::TooShort { min: 6 })),
            ("4802", "4802", 4, None),
            // The service cannot ask for fewer than 4.
            ("480", "480", 2, Some(PinProblem::TooShort { min: 4 })),
            ("ward7b", "ward7b", 6, None),
            ("Ward7b", "ward7b", 6, Some(PinProblem::Mismatch)),
            ("480213", "480214", 6, Some(PinProblem::Mismatch)),
            ("480 213", "480 213", 6, Some(PinProblem::Whitespace)),
            ("111111", "111111", 6, Some(PinProblem::TooSimple)),
            ("aaaaaa", "aaaaaa", 6, Some(PinProblem::TooSimple)),
            ("123456", "123456", 6, Some(PinProblem::TooSimple)),
            ("987654", "987654", 6, Some(PinProblem::TooSimple)),
            ("123457", "123457", 6, None),
            ("135791", "135791", 6, None),
            ("abcdef", "abcdef", 6, None),
            ("ß9ü8é7", "ß9ü8é7", 6, None),
        ];
        for (pin, confirm, min, expected) in cases {
            assert_eq!(pin_problem(pin, confirm, *min), *expected, "{pin:?} / {confirm:?} with {min}");
        }
        let longest = "7".repeat(PIN_MAX_CHARS - 1) + "1";
        assert_eq!(pin_problem(&longest, &longest, 6), None);
        let too_long = longest.clone() + "2";
        assert_eq!(pin_problem(&too_long, &too_long, 6), Some(PinProblem::TooLong { max: PIN_MAX_CHARS }));
    }

    #[test]
    fn secrets_never_print() {
        let entry = PinEntry { pin: "480213".into(), confirm: "480213".into() };
        assert_eq!(format!("{entry:?}"), "PinEntry(***)");
        let credentials = Credentials { username: "n".into(), password: "s3cret".into(), provider: Some("ad".into()) };
        assert!(!format!("{credentials:?}").contains("s3cret"));
        for problem in [PinProblem::Mismatch, PinProblem::TooShort { min: 6 }, PinProblem::TooSimple] {
            assert!(!problem.to_string().contains("480213"));
        }
        assert_eq!(SecretKind::parse(SecretKind::Pin.as_str()), Some(SecretKind::Pin));
        assert_eq!(SecretKind::parse("token"), None);
    }
}
