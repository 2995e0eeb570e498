//! Why a session step did not happen.

use crate::store::StoreError;
use crate::sync::SyncError;

/// Why a session step did not happen: what happened and what to do. Never a
/// user name, password, token, patient data or SQL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    #[error("No clinician is signed in on this workstation. Sign in to continue.")]
    SignedOut,
    #[error("The session is locked. Enter your password to unlock it, or sign in as another clinician.")]
    Locked,
    #[error(
        "The user name or password was not accepted. Check them and try again; if it keeps happening, ask IT (the account may be disabled)."
    )]
    BadCredentials,
    #[error(
        "The sync service cannot be reached, and offline sign-in is only possible for a clinician who signed in online on this workstation recently. Sign in online once the network is back, or follow the downtime procedure."
    )]
    OfflineNotAllowed,
    #[error(
        "Too many wrong passwords were entered while offline, so offline sign-in for this clinician is now off on this workstation. Sign in online (once the network is back) to turn it on again."
    )]
    VerifierWiped,
    #[error("This workstation is not enrolled with a sync service, so clinicians cannot sign in. Ask IT to enrol it.")]
    NotEnrolled,
    #[error(
        "Break-the-glass needs the sync service, which cannot be reached (or this session started offline). Reconnect and sign in online, or follow the downtime procedure."
    )]
    Offline,
    #[error(
        "Break-the-glass needs a reason of at least 10 characters (at most 500) saying why this patient's records are needed now. Enter it and try again."
    )]
    ReasonRequired,
    #[error("No patient with that MRN was found. Check the number and try again.")]
    NotFound,
    #[error(
        "The online session has expired. Lock the screen and unlock it while online (or sign in again), then try again."
    )]
    OnlineSessionExpired,
    #[error(
        "Your account is not allowed to do this (break-the-glass needs the clinician role). Ask IT if this is wrong."
    )]
    Forbidden,
    #[error("Too many sign-in attempts. Wait a minute and try again.")]
    TooManyAttempts,
    #[error("The sync service refused the request ({code}, status {status}). Try again; if it persists, ask IT.")]
    Service { status: u16, code: String },
    #[error("The password check could not run. Try again; if it persists, run `wardbook doctor` and call IT.")]
    PasswordCheck,
    #[error(
        "Set your workstation PIN first: Wardbook shows no patient records until it is set, since it is what unlocks this session."
    )]
    PinSetup,
    #[error("{0}")]
    PinInvalid(wardbook_protocol::workstation::PinProblem),
    #[error(
        "Too many wrong PINs were entered, so this clinician's workstation PIN is wiped. Sign in through the hospital sign-in (online) to set a new one."
    )]
    PinWiped,
    #[error(
        "This clinician signs in through the hospital's browser sign-in: offline, choose it on the sign-in screen and enter your workstation PIN."
    )]
    UsePin,
    #[error("This clinician signs in with a password here, not a workstation PIN. Use the password form.")]
    UsePassword,
    #[error(
        "The hospital sign-in can be reached, so sign in through it in the browser. The workstation PIN is for when it cannot be reached."
    )]
    OnlineAvailable,
    #[error(
        "The hospital sign-in or the sync service cannot be reached. If you set a workstation PIN on this workstation, sign in with your user name and PIN; otherwise follow the downtime procedure."
    )]
    ProviderUnreachable,
    #[error("{0}")]
    NotAllowed(String),
    #[error("The hospital sign-in was not accepted: {0}")]
    BrowserSignInRefused(String),
    #[error(
        "The hospital sign-in ended with an error in the browser ({0}). Start it again; if it keeps happening, ask IT."
    )]
    BrowserSignInError(String),
    #[error("The browser sign-in was cancelled.")]
    SignInCancelled,
    #[error("The browser sign-in was not finished in time. Start it again.")]
    SignInExpired,
    #[error("The system browser could not be opened for the hospital sign-in. Ask IT to check the default browser.")]
    BrowserNotOpened,
    #[error(
        "Wardbook could not wait for the browser's answer on this computer ({0}). Try again; if it persists, ask IT (a local firewall may block 127.0.0.1)."
    )]
    Loopback(String),
    #[error("{0}")]
    Sync(SyncError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SessionError {
    /// A stable code for the UI.
    pub fn code(&self) -> &'static str {
        match self {
            SessionError::SignedOut => "signed_out",
            SessionError::Locked => "locked",
            SessionError::BadCredentials => "bad_credentials",
            SessionError::OfflineNotAllowed => "offline_not_allowed",
            SessionError::VerifierWiped => "verifier_wiped",
            SessionError::NotEnrolled => "not_enrolled",
            SessionError::Offline => "offline",
            SessionError::ReasonRequired => "reason_required",
            SessionError::NotFound => "not_found",
            SessionError::OnlineSessionExpired => "online_session_expired",
            SessionError::Forbidden => "forbidden",
            SessionError::TooManyAttempts => "too_many_attempts",
            SessionError::Service { .. } => "service",
            SessionError::PasswordCheck => "password_check",
            SessionError::PinSetup => "pin_setup",
            SessionError::PinInvalid(_) => "pin_invalid",
            SessionError::PinWiped => "verifier_wiped",
            SessionError::UsePin => "use_pin",
            SessionError::UsePassword => "use_password",
            SessionError::OnlineAvailable => "online_available",
            SessionError::ProviderUnreachable => "oidc_unreachable",
            SessionError::NotAllowed(_) => "not_allowed",
            SessionError::BrowserSignInRefused(_) => "browser_sign_in_refused",
            SessionError::BrowserSignInError(_) => "browser_sign_in_error",
            SessionError::SignInCancelled => "cancelled",
            SessionError::SignInExpired => "sign_in_expired",
            SessionError::BrowserNotOpened => "browser",
            SessionError::Loopback(_) => "loopback",
            SessionError::Sync(_) => "sync",
            SessionError::Store(_) => "store",
        }
    }

    pub(crate) fn from_sync(e: SyncError) -> SessionError {
        match e {
            SyncError::NotEnrolled | SyncError::NoServer => SessionError::NotEnrolled,
            SyncError::Store(e) => SessionError::Store(e),
            other => SessionError::Sync(other),
        }
    }
}
