//! Completing a sign-in or an unlock: after the service accepted the
//! password (the verifier is stored or refreshed), or against the offline
//! verifier when the service cannot be reached; and recording a refusal.

use std::sync::Mutex;

use uuid::Uuid;
use wardbook_protocol::api::LoginResponse;
use wardbook_protocol::workstation::{SessionInfo, SessionMode};
use wardbook_protocol::{AuditSubtype, PurposeOfUse};

use super::events::{Event, end_events, write, write_events};
use super::idle::Idle;
use super::offline::{self, Password, Token, Verifier};
use super::{Current, SessionError, Sessions, UNKNOWN_USER, locked_session};
use crate::store::Db;
use crate::workstation::Workstation;

/// What an online answer completes.
#[derive(Clone, Copy)]
pub(super) enum Completing {
    SignIn,
    Unlock { session_id: Uuid },
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
        };
        let token = Token::new(response.token);
        let mut guard = Workstation::lock(ws);
        let mut slot = self.slot();
        let save = |db: Db<'_>| db.offline_verifiers_mut().save(&verifier, now);
        match completing {
            Completing::SignIn => {
                let mut events = slot.take().map(|mut previous| end_events(&mut previous)).unwrap_or_default();
                let current = Current {
                    user_id: verifier.user_id.clone(),
                    username_key: key.to_owned(),
                    display_name: verifier.display_name.clone(),
                    mode: SessionMode::Online,
                    started_at: now,
                    session_id: Uuid::now_v7(),
                    locked: false,
                    idle: Idle::starting(now, self.policy.idle_lock),
                    token: Some(token),
                    accesses: Vec::new(),
                };
                events.push(Event::new(&current.context(PurposeOfUse::Treatment), AuditSubtype::Login, None));
                write(&mut guard.store, &events, save)?;
                tracing::info!(session = %current.session_id, "signed in online");
                let info = current.info(&self.policy);
                *slot = Some(current);
                Ok(info)
            }
            Completing::Unlock { session_id } => {
                let current = locked_session(&mut slot, session_id)?;
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

    /// Checks a password against the offline verifier. A wrong one is
    /// counted (and at the limit wipes the verifier); every refusal writes an
    /// `unlock-failed` event under `session_id`.
    pub(super) async fn check_offline(
        &self,
        ws: &Mutex<Workstation>,
        key: &str,
        password: &Password,
        session_id: Uuid,
    ) -> Result<Verifier, SessionError> {
        let verifier = {
            let mut guard = Workstation::lock(ws);
            let now = self.clock.now();
            match guard.store.db().offline_verifiers().load(key)? {
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
        tracing::info!(session = %session_id, ?failure, "offline password refused");
        Err(match failure {
            offline::Failure::Counted { .. } => SessionError::BadCredentials,
            offline::Failure::Wiped => SessionError::VerifierWiped,
        })
    }

    /// Starts an offline session for the verifier's clinician, ending any other.
    pub(super) fn complete_offline_sign_in(
        &self,
        ws: &Mutex<Workstation>,
        verifier: Verifier,
    ) -> Result<SessionInfo, SessionError> {
        let mut guard = Workstation::lock(ws);
        let mut slot = self.slot();
        let now = self.clock.now();
        let mut events = slot.take().map(|mut previous| end_events(&mut previous)).unwrap_or_default();
        let current = Current {
            user_id: verifier.user_id,
            username_key: verifier.username_key,
            display_name: verifier.display_name,
            mode: SessionMode::Offline,
            started_at: now,
            session_id: Uuid::now_v7(),
            locked: false,
            idle: Idle::starting(now, self.policy.idle_lock),
            token: None,
            accesses: Vec::new(),
        };
        events.push(Event::new(&current.context(PurposeOfUse::Treatment), AuditSubtype::LoginOffline, None));
        write_events(&mut guard.store, &events)?;
        tracing::info!(session = %current.session_id, "signed in offline");
        let info = current.info(&self.policy);
        *slot = Some(current);
        Ok(info)
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
