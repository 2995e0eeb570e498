//! Completing a sign-in or an unlock: after the service accepted the
//! password (the verifier is stored or refreshed), or against the offline
//! verifier (a password's or a workstation PIN's) when the service cannot be
//! reached; and recording a refusal.

use std::sync::Mutex;

use uuid::Uuid;
use wardbook_protocol::api::LoginResponse;
use wardbook_protocol::workstation::{SecretKind, SessionInfo, SessionMode};
use wardbook_protocol::{AuditSubtype, PurposeOfUse};

use super::events::{Event, end_events, write, write_events};
use super::offline::{self, Password, Token, Verifier};
use super::{Current, SessionError, Sessions, UNKNOWN_USER, locked_session};
use crate::store::Db;
use crate::workstation::Workstation;

/// What an online answer completes.
#[derive(Clone)]
pub(super) enum Completing {
    /// A sign-in, through this LDAP provider (none: a local account).
    SignIn {
        provider: Option<String>,
    },
    Unlock {
        session_id: Uuid,
    },
}

impl Sessions {
    /// After the service accepted the password: stores the verifier, then
    /// starts the session (ending any other) or unlocks the locked one.
    pub(super) async fn complete_online(
        &self,
        ws: &Mutex<Workstation>,
        key: &str,
        password: &Password,
        response: LoginResponse,
        completing: Completing,
    ) -> Result<SessionInfo, SessionError> {
        let for_hash = password.clone();
        let phc = tokio::task::spawn_blocking(move || offline::derive(&for_hash))
            .await
            .ok()
            .flatten()
            .ok_or(SessionError::PasswordCheck)?;
        let now = self.clock.now();
        let window_end = now + chrono::Duration::hours(i64::from(self.policy.offline_login_hours));
        let verifier = Verifier {
            username_key: key.to_owned(),
            user_id: response.user.id.to_string(),
            display_name: response.user.display_name.clone(),
            phc,
            allowed_until: response.offline_unlock.allowed_until.min(window_end),
            failed_attempts: 0,
            max_failed_attempts: response.offline_unlock.max_failed_attempts.max(1),
            kind: SecretKind::Password,
            provider: match &completing {
                Completing::SignIn { provider } => provider.clone(),
                Completing::Unlock { .. } => None,
            },
        };
        let token = Token::new(response.token);
        let mut guard = Workstation::lock(ws);
        let mut slot = self.slot();
        match completing {
            Completing::SignIn { provider } => {
                let save = |db: Db<'_>| db.offline_verifiers_mut().save(&verifier, now);
                let mut events = slot.take().map(|mut previous| end_events(&mut previous)).unwrap_or_default();
                let who = (verifier.user_id.as_str(), key, verifier.display_name.as_str());
                let mut current = Current::new(who, SessionMode::Online, now, self.policy.idle_lock);
                current.token = Some(token);
                current.provider = provider;
                events.push(Event::new(&current.context(PurposeOfUse::Treatment), AuditSubtype::Login, None));
                write(&mut guard.store, &events, save)?;
                tracing::info!(session = %current.session_id, "signed in online");
                let info = current.info(&self.policy);
                *slot = Some(current);
                Ok(info)
            }
            Completing::Unlock { session_id } => {
                let current = locked_session(&mut slot, session_id)?;
                // The session's own provider: an unlock does not change it.
                let verifier = Verifier { provider: current.provider.clone(), ..verifier };
                let save = |db: Db<'_>| db.offline_verifiers_mut().save(&verifier, now);
                let event = Event::new(&current.context(PurposeOfUse::Treatment), AuditSubtype::Unlock, None);
                write(&mut guard.store, &[event], save)?;
                current.locked = false;
                current.idle.restart(now);
                current.token = Some(token);
                current.mode = SessionMode::Online;
                tracing::info!(session = %session_id, "session unlocked online");
                Ok(current.info(&self.policy))
            }
        }
    }

    /// Checks a password (or a PIN: `kind`) against the offline verifier.
    /// A wrong one is counted (and at the limit wipes the verifier); every
    /// refusal writes an `unlock-failed` event under `session_id`. A
    /// verifier of the other kind refuses without counting: the clinician
    /// chose the wrong form.
    pub(super) async fn check_offline(
        &self,
        ws: &Mutex<Workstation>,
        key: &str,
        password: &Password,
        session_id: Uuid,
        kind: SecretKind,
    ) -> Result<Verifier, SessionError> {
        let verifier = {
            let mut guard = Workstation::lock(ws);
            let now = self.clock.now();
            match guard.store.db().offline_verifiers().load(key)? {
                Some(v) if v.kind != kind => {
                    write_events(&mut guard.store, &[Event::failed(&v.user_id, session_id)])?;
                    return Err(match v.kind {
                        SecretKind::Pin => SessionError::UsePin,
                        SecretKind::Password => SessionError::UsePassword,
                    });
                }
                Some(v) if v.is_open(now) => v,
                Some(v) => {
                    let event = Event::failed(&v.user_id, session_id);
                    write(&mut guard.store, &[event], |db| db.offline_verifiers_mut().delete(key))?;
                    return Err(SessionError::OfflineNotAllowed);
                }
                None => {
                    write_events(&mut guard.store, &[Event::failed(UNKNOWN_USER, session_id)])?;
                    return Err(SessionError::OfflineNotAllowed);
                }
            }
        };
        let (for_check, phc) = (password.clone(), verifier.phc.clone());
        let ok = tokio::task::spawn_blocking(move || offline::matches(&for_check, &phc))
            .await
            .map_err(|_| SessionError::PasswordCheck)?;
        let mut guard = Workstation::lock(ws);
        if ok {
            guard.store.db().offline_verifiers_mut().reset_failures(key)?;
            return Ok(verifier);
        }
        let mut failure = offline::Failure::Wiped;
        let event = Event::failed(&verifier.user_id, session_id);
        write(&mut guard.store, &[event], |db| {
            failure = db.offline_verifiers_mut().record_failure(key)?;
            Ok(())
        })?;
        tracing::info!(session = %session_id, ?failure, ?kind, "offline password or PIN refused");
        Err(match (failure, kind) {
            (offline::Failure::Counted { .. }, _) => SessionError::BadCredentials,
            (offline::Failure::Wiped, SecretKind::Password) => SessionError::VerifierWiped,
            (offline::Failure::Wiped, SecretKind::Pin) => SessionError::PinWiped,
        })
    }

    /// Starts an offline session for the verifier's clinician, ending any
    /// other; it unlocks with the verifier's kind of secret.
    pub(super) fn complete_offline_sign_in(
        &self,
        ws: &Mutex<Workstation>,
        verifier: Verifier,
    ) -> Result<SessionInfo, SessionError> {
        let mut guard = Workstation::lock(ws);
        let mut slot = self.slot();
        let now = self.clock.now();
        let mut events = slot.take().map(|mut previous| end_events(&mut previous)).unwrap_or_default();
        let who = (verifier.user_id.as_str(), verifier.username_key.as_str(), verifier.display_name.as_str());
        let mut current = Current::new(who, SessionMode::Offline, now, self.policy.idle_lock);
        current.secret = verifier.kind;
        current.provider = verifier.provider;
        events.push(Event::new(&current.context(PurposeOfUse::Treatment), AuditSubtype::LoginOffline, None));
        write_events(&mut guard.store, &events)?;
        tracing::info!(session = %current.session_id, "signed in offline");
        let info = current.info(&self.policy);
        *slot = Some(current);
        Ok(info)
    }

    /// Unlocks the locked session once its password or PIN was checked on
    /// this workstation (an `unlock` event).
    pub(super) fn finish_local_unlock(
        &self,
        ws: &Mutex<Workstation>,
        session_id: Uuid,
    ) -> Result<SessionInfo, SessionError> {
        let mut guard = Workstation::lock(ws);
        let mut slot = self.slot();
        let current = locked_session(&mut slot, session_id)?;
        current.locked = false;
        current.idle.restart(self.clock.now());
        let event = Event::new(&current.context(PurposeOfUse::Treatment), AuditSubtype::Unlock, None);
        write_events(&mut guard.store, &[event])?;
        tracing::info!(session = %session_id, secret = ?current.secret, "session unlocked offline");
        Ok(current.info(&self.policy))
    }

    /// A refused online sign-in: an `unlock-failed` event under the user id
    /// of the name's verifier, if this workstation has one.
    pub(super) fn record_refusal(
        &self,
        ws: &Mutex<Workstation>,
        key: &str,
        session_id: Uuid,
        err: &SessionError,
    ) -> Result<(), SessionError> {
        if !matches!(err, SessionError::BadCredentials) {
            return Ok(());
        }
        let mut guard = Workstation::lock(ws);
        let user_id = guard.store.db().offline_verifiers().load(key)?.map(|v| v.user_id);
        write_events(&mut guard.store, &[Event::failed(user_id.as_deref().unwrap_or(UNKNOWN_USER), session_id)])?;
        Ok(())
    }
}
