//! The workstation PIN of a clinician who signs in through the hospital's
//! browser sign-in (OpenID Connect). Wardbook never sees their hospital
//! password, so after that sign-in they choose a PIN, kept as an Argon2id
//! verifier in the encrypted store beside the password verifiers (`kind`
//! pin) and bounded the same way: the offline window (`allowed_until`) and
//! the failed-attempt limit, at which it is wiped.
//!
//! What the PIN does:
//! - it unlocks the clinician's locked session, online or not: the idle lock
//!   guards an unattended screen, and sending the clinician back through the
//!   browser (and a second factor) every ten minutes would push wards to
//!   longer lock times. A browser sign-in again also works: it starts a new
//!   session;
//! - it signs the clinician in offline, only while the service or their
//!   provider cannot be reached (as a password does): the core asks the
//!   service to start a browser sign-in first, and refuses the PIN when that
//!   works.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use uuid::Uuid;
use wardbook_protocol::workstation::{Credentials, PinEntry, SecretKind, SessionInfo, pin_problem};

use super::offline::{self, Password, Verifier, username_key};
use super::online::{Failure, Remote};
use super::{Current, SessionError, Sessions};
use crate::workstation::Workstation;

/// What the PIN a clinician is about to set gets: from the service's answer
/// to their browser sign-in.
#[derive(Clone, Debug)]
pub(crate) struct PinWindow {
    pub min_length: u32,
    pub allowed_until: DateTime<Utc>,
    pub max_failed_attempts: u32,
    /// The OpenID provider they signed in through.
    pub provider: String,
}

impl Sessions {
    /// Sets the workstation PIN of the clinician whose session waits for
    /// one (`PinSetup`), then lets the session show patient data. Checks the
    /// PIN rule (`pin_problem`: the two entries equal, long enough, not a
    /// repeated character or a run of digits).
    pub async fn set_pin(&self, ws: &Mutex<Workstation>, entry: &PinEntry) -> Result<SessionInfo, SessionError> {
        let (window, session_id, who) = {
            let mut guard = Workstation::lock(ws);
            let mut slot = self.slot();
            self.refresh(&mut slot, &mut guard.store)?;
            match slot.as_ref() {
                None => return Err(SessionError::SignedOut),
                Some(c) if c.locked => return Err(SessionError::Locked),
                Some(c @ Current { pin_setup: Some(window), .. }) => {
                    (window.clone(), c.session_id, (c.username_key.clone(), c.user_id.clone(), c.display_name.clone()))
                }
                Some(_) => {
                    return Err(SessionError::NotAllowed(
                        "A workstation PIN is set after a sign-in through the hospital's browser sign-in.".into(),
                    ));
                }
            }
        };
        if let Some(problem) = pin_problem(&entry.pin, &entry.confirm, window.min_length) {
            return Err(SessionError::PinInvalid(problem));
        }
        let pin = Password::new(&entry.pin);
        let phc = tokio::task::spawn_blocking(move || offline::derive(&pin))
            .await
            .ok()
            .flatten()
            .ok_or(SessionError::PasswordCheck)?;
        let (username_key, user_id, display_name) = who;
        let verifier = Verifier {
            username_key,
            user_id,
            display_name,
            phc,
            allowed_until: window.allowed_until,
            failed_attempts: 0,
            max_failed_attempts: window.max_failed_attempts,
            kind: SecretKind::Pin,
            provider: Some(window.provider),
        };
        let mut guard = Workstation::lock(ws);
        let mut slot = self.slot();
        let current = match slot.as_mut() {
            Some(c) if c.session_id == session_id && c.pin_setup.is_some() => c,
            // Ended (idle) while the PIN was being derived: nothing is kept.
            _ => return Err(SessionError::SignedOut),
        };
        let now = self.clock.now();
        // No audit event: none is defined for it, and the `login` it follows is recorded.
        guard.store.transaction(|db| db.offline_verifiers_mut().save(&verifier, now))?;
        current.pin_setup = None;
        current.idle.restart(now);
        tracing::info!(session = %session_id, "workstation PIN set");
        Ok(current.info(&self.policy))
    }

    /// Signs a clinician in offline with their workstation PIN (in
    /// `credentials.password`): only while the service or their provider
    /// cannot be reached, against the PIN verifier; each wrong PIN counts,
    /// and at the limit the verifier is wiped.
    pub async fn sign_in_pin(
        &self,
        ws: &Mutex<Workstation>,
        credentials: &Credentials,
    ) -> Result<SessionInfo, SessionError> {
        let key = username_key(&credentials.username);
        let pin = Password::new(&credentials.password);
        if key.is_empty() || pin.is_blank() {
            return Err(SessionError::BadCredentials);
        }
        let (remote, provider) = {
            let guard = Workstation::lock(ws);
            let stored = guard.store.db().offline_verifiers().load(&key)?.and_then(|v| v.provider);
            let provider = credentials.provider.clone().filter(|p| !p.is_empty()).or(stored);
            (Remote::for_workstation(&guard)?, provider)
        };
        // The PIN is for when the browser sign-in cannot work: the service,
        // or its link to the provider, is down (health's reachability, which
        // writes nothing at the service).
        if let Some(provider) = provider {
            match remote.provider_reachable(&provider).await {
                Ok(true) => return Err(SessionError::OnlineAvailable),
                Ok(false) | Err(Failure::Unreachable) => {}
                Err(Failure::Refused(err)) => return Err(err),
            }
        }
        let verifier = self.check_offline(ws, &key, &pin, Uuid::now_v7(), SecretKind::Pin).await?;
        self.complete_offline_sign_in(ws, verifier)
    }

    /// Unlocks the locked session of a clinician who unlocks with a PIN.
    pub(super) async fn unlock_with_pin(
        &self,
        ws: &Mutex<Workstation>,
        key: &str,
        pin: &Password,
        session_id: Uuid,
    ) -> Result<SessionInfo, SessionError> {
        self.check_offline(ws, key, pin, session_id, SecretKind::Pin).await?;
        self.finish_local_unlock(ws, session_id)
    }
}
