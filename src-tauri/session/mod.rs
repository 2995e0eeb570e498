//! The clinician's session on this workstation (DESIGN.md sections 6 to 8):
//! sign-in (online against the service with a password, a local account or
//! an LDAP directory's, or through the hospital's OpenID provider in the
//! system browser; offline against a verifier kept in the encrypted store:
//! the password, or the workstation PIN a browser sign-in sets), the idle
//! lock, unlock, sign-out and break-the-glass.
//! Every step writes its audit event (action `execute`) through
//! [`crate::audit::record_session_event`].
//!
//! Plain Rust: the Tauri commands hold one [`Sessions`] in the app state and
//! call it. Network calls never run under the workstation lock: the lock is
//! taken to read settings and build a client, released for the call, and
//! taken again to write.
//!
//! The user id in audit events and in [`AccessContext`] is the service's user
//! id (a UUID), as the service's reports and its `break_glass_accesses` rows
//! carry it.

mod break_glass;
mod clock;
mod error;
mod events;
mod idle;
mod loopback;
mod offline;
mod oidc;
mod online;
mod pin;
mod pkce;
mod providers;
mod sign_in;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;
use wardbook_protocol::workstation::{
    BreakGlassResponse, Credentials, SecretKind, SessionInfo, SessionMode, SessionState,
};
use wardbook_protocol::{AuditSubtype, PurposeOfUse};

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::SessionError;
pub use offline::Password;
pub use oidc::Opener;

use crate::audit::AccessContext;
use crate::audit::reads::Source;
use crate::config::Config;
use crate::store::Store;
use crate::workstation::Workstation;
use break_glass::EmergencyAccess;
use events::{Event, end_events, write_events};
use idle::Idle;
use offline::Token;
use online::{Failure, Remote};
use sign_in::Completing;

/// The user id recorded for a failed attempt by a name this workstation does
/// not know (no verifier): names are not recorded.
pub const UNKNOWN_USER: &str = "unknown";

/// The session settings, from the configuration (policy, environment, defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionPolicy {
    pub idle_lock: Duration,
    pub offline_login_hours: u32,
    pub break_glass_minutes: u32,
}

impl SessionPolicy {
    pub fn from_config(config: &Config) -> SessionPolicy {
        SessionPolicy {
            idle_lock: config.idle_lock,
            offline_login_hours: config.offline_login_hours,
            break_glass_minutes: config.break_glass_minutes,
        }
    }
}

/// The signed-in (or locked) clinician.
#[derive(Debug)]
struct Current {
    user_id: String,
    username_key: String,
    display_name: String,
    mode: SessionMode,
    started_at: DateTime<Utc>,
    session_id: Uuid,
    locked: bool,
    idle: Idle,
    /// The online session's token (none after an offline sign-in).
    token: Option<Token>,
    accesses: Vec<EmergencyAccess>,
    /// What unlocks the session: the password, or (after a browser
    /// sign-in) the workstation PIN.
    secret: SecretKind,
    /// The provider the clinician signed in through (an LDAP directory, or
    /// the OpenID provider); none for a local account.
    provider: Option<String>,
    /// Until the clinician of a browser sign-in has set a workstation PIN:
    /// the rules it gets. No patient data meanwhile.
    pin_setup: Option<pin::PinWindow>,
}

impl Current {
    /// A session starting now for `who` (user id, user name key, display
    /// name), unlocked by a password unless changed.
    fn new(who: (&str, &str, &str), mode: SessionMode, now: DateTime<Utc>, idle_lock: Duration) -> Current {
        let (user_id, username_key, display_name) = who;
        Current {
            user_id: user_id.to_owned(),
            username_key: username_key.to_owned(),
            display_name: display_name.to_owned(),
            mode,
            started_at: now,
            session_id: Uuid::now_v7(),
            locked: false,
            idle: Idle::starting(now, idle_lock),
            token: None,
            accesses: Vec::new(),
            secret: SecretKind::Password,
            provider: None,
            pin_setup: None,
        }
    }

    fn context(&self, purpose: PurposeOfUse) -> AccessContext {
        AccessContext { user_id: self.user_id.clone(), session_id: self.session_id, purpose }
    }

    fn info(&self, policy: &SessionPolicy) -> SessionInfo {
        SessionInfo {
            user_id: self.user_id.clone(),
            display_name: self.display_name.clone(),
            mode: self.mode,
            started_at: self.started_at,
            idle_lock_minutes: idle::minutes(policy.idle_lock),
            break_glass: self.accesses.iter().map(|a| a.grant.clone()).collect(),
        }
    }

    /// The events that end the running accesses.
    fn stop_accesses(&mut self) -> Vec<Event> {
        let ctx = self.context(PurposeOfUse::EmergencyTreatment);
        std::mem::take(&mut self.accesses)
            .iter()
            .map(|a| Event::new(&ctx, AuditSubtype::BreakGlassStop, Some(a.patient_id())))
            .collect()
    }
}

/// The clinician's session on this workstation. Lives in the app state;
/// every method takes the internal lock briefly (after the workstation's,
/// when both are held).
pub struct Sessions {
    policy: SessionPolicy,
    clock: Arc<dyn Clock>,
    current: Mutex<Option<Current>>,
    /// The browser sign-in under way, to cancel it.
    waiting: Mutex<Option<Arc<tokio::sync::Notify>>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &*self.slot() {
            None => "signed out",
            Some(c) if c.locked => "locked",
            Some(_) => "active",
        };
        f.debug_struct("Sessions").field("policy", &self.policy).field("state", &state).finish()
    }
}

impl Sessions {
    pub fn new(policy: SessionPolicy) -> Sessions {
        Sessions::with_clock(policy, Arc::new(SystemClock))
    }

    /// With another clock (tests move a [`ManualClock`] instead of sleeping).
    pub fn with_clock(policy: SessionPolicy, clock: Arc<dyn Clock>) -> Sessions {
        Sessions { policy, clock, current: Mutex::new(None), waiting: Mutex::new(None) }
    }

    pub fn policy(&self) -> &SessionPolicy {
        &self.policy
    }

    fn slot(&self) -> MutexGuard<'_, Option<Current>> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Locks an idle session and ends expired accesses, writing their
    /// events. The session is locked in memory first: if the events cannot
    /// be written the error is returned, but no patient data is shown.
    fn refresh(&self, slot: &mut Option<Current>, store: &mut Store) -> Result<(), SessionError> {
        let now = self.clock.now();
        let Some(current) = slot.as_mut() else { return Ok(()) };
        if current.locked {
            return Ok(());
        }
        if current.pin_setup.is_some() && current.idle.is_due(now) {
            // Nobody may walk up and choose the absent clinician's PIN.
            return end_pin_setup(slot, store);
        }
        if current.idle.is_due(now) {
            tracing::info!(session = %current.session_id, "session locked after the idle period");
            return lock_current(current, store);
        }
        let expired = break_glass::take_expired(&mut current.accesses, now);
        if !expired.is_empty() {
            let ctx = current.context(PurposeOfUse::EmergencyTreatment);
            let events: Vec<Event> =
                expired.iter().map(|a| Event::new(&ctx, AuditSubtype::BreakGlassStop, Some(a.patient_id()))).collect();
            tracing::info!(session = %current.session_id, count = events.len(), "break-the-glass access expired");
            write_events(store, &events)?;
        }
        Ok(())
    }

    /// Where the session stands; first locks it (writing a `lock` audit
    /// event) when idle past the policy.
    pub fn state(&self, store: &mut Store) -> Result<SessionState, SessionError> {
        let mut slot = self.slot();
        self.refresh(&mut slot, store)?;
        Ok(match slot.as_ref() {
            None => SessionState::SignedOut,
            Some(c) if c.locked => SessionState::Locked {
                user_id: c.user_id.clone(),
                display_name: c.display_name.clone(),
                unlock_with: c.secret,
            },
            Some(Current { pin_setup: Some(window), user_id, display_name, .. }) => SessionState::PinSetup {
                user_id: user_id.clone(),
                display_name: display_name.clone(),
                pin_min_length: window.min_length,
            },
            Some(c) => SessionState::Active { session: c.info(&self.policy) },
        })
    }

    /// The context (user id, session id, purpose Treatment) for an audited
    /// read or an edit; `Locked` or `SignedOut` otherwise. Applies the idle
    /// check; is not activity.
    pub fn context(&self, store: &mut Store) -> Result<AccessContext, SessionError> {
        let mut slot = self.slot();
        self.refresh(&mut slot, store)?;
        active(&slot).map(|c| c.context(PurposeOfUse::Treatment))
    }

    /// Keyboard or pointer activity in the UI: postpones the idle lock
    /// (ignored when locked, signed out, or already idle past the policy).
    pub fn activity(&self) {
        let now = self.clock.now();
        if let Some(current) = self.slot().as_mut().filter(|c| !c.locked) {
            current.idle.touch(now);
        }
    }

    /// Locks the session by hand (nothing happens when signed out or
    /// locked). A session still waiting for its PIN ends instead: there is
    /// nothing to unlock it with.
    pub fn lock(&self, store: &mut Store) -> Result<(), SessionError> {
        let mut slot = self.slot();
        match slot.as_mut() {
            Some(current) if current.pin_setup.is_some() => end_pin_setup(&mut slot, store),
            Some(current) if !current.locked => lock_current(current, store),
            _ => Ok(()),
        }
    }

    /// Ends the session (a `logout` event), and any running access.
    pub fn sign_out(&self, store: &mut Store) -> Result<(), SessionError> {
        let Some(mut current) = self.slot().take() else { return Ok(()) };
        let events = end_events(&mut current);
        tracing::info!(session = %current.session_id, "signed out");
        write_events(store, &events)?;
        Ok(())
    }

    /// Signs a clinician in with a password (a local account, or through
    /// `credentials.provider`, an LDAP provider): online against the service
    /// when it answers (then the offline verifier is stored or refreshed);
    /// offline against the verifier when the service or the directory
    /// cannot be reached (not when it refuses). A session already here,
    /// locked or not, ends first.
    pub async fn sign_in(
        &self,
        ws: &Mutex<Workstation>,
        credentials: &Credentials,
    ) -> Result<SessionInfo, SessionError> {
        let key = offline::username_key(&credentials.username);
        let password = Password::new(&credentials.password);
        if key.is_empty() || password.is_blank() {
            return Err(SessionError::BadCredentials);
        }
        let provider = credentials.provider.as_deref().filter(|p| !p.is_empty());
        let remote = Remote::for_workstation(&Workstation::lock(ws))?;
        match remote.login(&key, &password, provider).await {
            Ok(response) => {
                let completing = Completing::SignIn { provider: provider.map(str::to_owned) };
                self.complete_online(ws, &key, &password, response, completing).await
            }
            Err(Failure::Unreachable) => {
                let session_id = Uuid::now_v7();
                let verifier = self.check_offline(ws, &key, &password, session_id, SecretKind::Password).await?;
                self.complete_offline_sign_in(ws, verifier)
            }
            Err(Failure::Refused(err)) => {
                self.record_refusal(ws, &key, Uuid::now_v7(), &err)?;
                Err(err)
            }
        }
    }

    /// Unlocks the locked session with the same clinician's password (online
    /// when the service answers, else against the offline verifier), or,
    /// after a browser sign-in, with their workstation PIN (always here:
    /// see `pin`).
    pub async fn unlock(&self, ws: &Mutex<Workstation>, password: &str) -> Result<SessionInfo, SessionError> {
        let password = Password::new(password);
        let (key, session_id, user_id, secret, provider) = {
            let mut guard = Workstation::lock(ws);
            let mut slot = self.slot();
            self.refresh(&mut slot, &mut guard.store)?;
            match slot.as_ref() {
                None => return Err(SessionError::SignedOut),
                Some(c) if c.pin_setup.is_some() => return Err(SessionError::PinSetup),
                Some(c) if !c.locked => return Ok(c.info(&self.policy)),
                Some(c) => (c.username_key.clone(), c.session_id, c.user_id.clone(), c.secret, c.provider.clone()),
            }
        };
        if password.is_blank() {
            write_events(&mut Workstation::lock(ws).store, &[Event::failed(&user_id, session_id)])?;
            return Err(SessionError::BadCredentials);
        }
        if secret == SecretKind::Pin {
            return self.unlock_with_pin(ws, &key, &password, session_id).await;
        }
        let remote = Remote::for_workstation(&Workstation::lock(ws))?;
        match remote.login(&key, &password, provider.as_deref()).await {
            Ok(response) => {
                if response.user.id.to_string() != user_id {
                    // The name now belongs to another account: not this session's clinician.
                    write_events(&mut Workstation::lock(ws).store, &[Event::failed(&user_id, session_id)])?;
                    return Err(SessionError::BadCredentials);
                }
                self.complete_online(ws, &key, &password, response, Completing::Unlock { session_id }).await
            }
            Err(Failure::Unreachable) => {
                self.check_offline(ws, &key, &password, session_id, SecretKind::Password).await?;
                self.finish_local_unlock(ws, session_id)
            }
            Err(Failure::Refused(err)) => {
                if matches!(err, SessionError::BadCredentials) {
                    write_events(&mut Workstation::lock(ws).store, &[Event::failed(&user_id, session_id)])?;
                }
                Err(err)
            }
        }
    }

    /// The in-memory records of a running access to `patient` and the
    /// emergency-treatment context to audit views of them; `None` when none
    /// runs. Expired accesses end here (writing `break-glass-stop`).
    pub fn emergency_access(
        &self,
        store: &mut Store,
        patient: Uuid,
    ) -> Result<Option<(AccessContext, BreakGlassResponse)>, SessionError> {
        let mut slot = self.slot();
        self.refresh(&mut slot, store)?;
        let current = active(&slot)?;
        Ok(current
            .accesses
            .iter()
            .find(|a| a.patient_id() == patient)
            .map(|a| (current.context(PurposeOfUse::EmergencyTreatment), a.records.clone())))
    }

    /// Who acts on `patient`'s chart, and where its rows come from: a
    /// running break-the-glass access's records, with the
    /// emergency-treatment context; else the cache, with the treatment
    /// context. `Locked` or `SignedOut` otherwise; applies the idle check.
    pub fn chart_access(&self, store: &mut Store, patient: Uuid) -> Result<(AccessContext, Source), SessionError> {
        Ok(match self.emergency_access(store, patient)? {
            Some((ctx, held)) => (ctx, Source::Held(Box::new(held))),
            None => (self.context(store)?, Source::Cache),
        })
    }

    /// The signed-in user's online session, for their own calls to the
    /// service beyond sign-in (the privacy workspace, `crate::privacy`):
    /// the context (with `purpose`) and the login token. `Offline` after
    /// an offline sign-in; `Locked` or `SignedOut` otherwise.
    pub fn online_session(
        &self,
        store: &mut Store,
        purpose: PurposeOfUse,
    ) -> Result<(AccessContext, zeroize::Zeroizing<String>), SessionError> {
        let mut slot = self.slot();
        self.refresh(&mut slot, store)?;
        let current = active(&slot)?;
        let token = current.token.as_ref().ok_or(SessionError::Offline)?;
        Ok((current.context(purpose), zeroize::Zeroizing::new(token.expose().to_owned())))
    }
}

/// The session, when signed in and unlocked (and its PIN set).
fn active(slot: &Option<Current>) -> Result<&Current, SessionError> {
    match slot {
        None => Err(SessionError::SignedOut),
        Some(c) if c.locked => Err(SessionError::Locked),
        Some(c) if c.pin_setup.is_some() => Err(SessionError::PinSetup),
        Some(c) => Ok(c),
    }
}

/// Ends a session still waiting for its PIN (a `logout` event).
fn end_pin_setup(slot: &mut Option<Current>, store: &mut Store) -> Result<(), SessionError> {
    if let Some(mut current) = slot.take() {
        tracing::info!(session = %current.session_id, "session ended before its workstation PIN was set");
        write_events(store, &end_events(&mut current))?;
    }
    Ok(())
}

/// The session `session_id`, when it is still the current one (locked or
/// not: an unlock that raced another one completes).
fn locked_session(slot: &mut Option<Current>, session_id: Uuid) -> Result<&mut Current, SessionError> {
    match slot.as_mut() {
        Some(c) if c.session_id == session_id => Ok(c),
        _ => Err(SessionError::SignedOut),
    }
}

/// Locks the session in memory, then writes the events: the accesses' stops and `lock`.
fn lock_current(current: &mut Current, store: &mut Store) -> Result<(), SessionError> {
    current.locked = true;
    let mut events = current.stop_accesses();
    events.push(Event::new(&current.context(PurposeOfUse::Treatment), AuditSubtype::Lock, None));
    write_events(store, &events)?;
    Ok(())
}
