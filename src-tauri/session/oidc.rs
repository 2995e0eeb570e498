//! Signing in through the hospital's OpenID provider (RFC 8252, a native
//! app): the workstation makes a PKCE verifier, listens on a loopback
//! redirect, asks the service to start the sign-in, opens the system
//! browser at the provider (where the clinician signs in: Wardbook never
//! sees that password, nor any second factor), waits for the browser to come
//! back with a code and exactly our state, and hands code and verifier to
//! the service, which redeems them and opens the session.
//!
//! The clinician then has no password here to derive an offline verifier
//! from: the session starts in `PinSetup` until they choose a workstation
//! PIN (`pin`), unless they already have one here, which is renewed.
//!
//! The browser is opened through an [`Opener`] the caller gives: the app's
//! Tauri command passes the system browser (tauri-plugin-opener); tests
//! pass a program that plays the browser.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use wardbook_protocol::api::{LoginResponse, OidcCompleteRequest, OidcStartRequest};
use wardbook_protocol::workstation::{SecretKind, SessionMode, SessionState};
use wardbook_protocol::{AuditSubtype, PurposeOfUse};
use zeroize::Zeroizing;

use super::events::{Event, end_events, write};
use super::loopback::{Loopback, Outcome};
use super::offline::{Token, username_key};
use super::online::{Failure, Remote};
use super::pin::PinWindow;
use super::pkce::Pkce;
use super::{Current, SessionError, Sessions};
use crate::workstation::Workstation;

/// Opens the system browser at a URL (the provider's sign-in page). Errors
/// are words for the log; the clinician is told the browser did not open.
pub type Opener<'a> = dyn Fn(&str) -> Result<(), String> + Send + Sync + 'a;

/// However the service's deadline and this computer's clock disagree, the
/// wait lasts at least this long and at most [`LONGEST_WAIT`].
const SHORTEST_WAIT: Duration = Duration::from_secs(30);
const LONGEST_WAIT: Duration = Duration::from_secs(15 * 60);

impl Sessions {
    /// Signs a clinician in through the OpenID Connect `provider` (its id
    /// in the sign-in screen's list). Waits for the browser until the
    /// service's deadline for the attempt, or until [`Sessions::cancel_oidc`].
    /// Answers the new session's state: `PinSetup` (no PIN here yet) or
    /// `Active`. A session already here, locked or not, ends when the new
    /// one starts. When the service or the provider cannot be reached the
    /// answer is `ProviderUnreachable`: sign in offline with the PIN.
    pub async fn sign_in_oidc(
        &self,
        ws: &Mutex<Workstation>,
        provider: &str,
        opener: &Opener<'_>,
    ) -> Result<SessionState, SessionError> {
        let provider = provider.trim();
        if provider.is_empty() {
            return Err(SessionError::NotAllowed("Choose a hospital sign-in from the list.".into()));
        }
        // Registered first, so that a "Cancel" at any point is heard.
        let waiting = Waiting::register(self);
        let (remote, environment) = {
            let guard = Workstation::lock(ws);
            (Remote::for_workstation(&guard)?, guard.config.environment)
        };
        let pkce = Pkce::new();
        let loopback = Loopback::bind().await.map_err(|e| SessionError::Loopback(e.kind().to_string()))?;
        let start = OidcStartRequest {
            provider: provider.to_owned(),
            redirect_uri: loopback.redirect_uri(),
            code_challenge: pkce.challenge().to_owned(),
        };
        let started = remote.oidc_start(&start).await.map_err(|e| match e {
            Failure::Unreachable => SessionError::ProviderUnreachable,
            Failure::Refused(err) => err,
        })?;
        // Only a web page is opened: never a file or another program's scheme.
        if crate::sync::client::check_url(&started.authorization_url, environment).is_err() {
            tracing::warn!("the service sent an authorization URL that is not https");
            return Err(SessionError::NotAllowed(
                "The hospital sign-in's address is not an https web page, so Wardbook will not open it. Ask IT.".into(),
            ));
        }
        let state = Zeroizing::new(started.state);
        let wait = (started.expires_at - chrono::Utc::now())
            .to_std()
            .unwrap_or(SHORTEST_WAIT)
            .clamp(SHORTEST_WAIT, LONGEST_WAIT);
        tracing::info!(provider, "browser sign-in started");
        let outcome = match opener(&started.authorization_url) {
            Err(reason) => {
                tracing::warn!(%reason, "the system browser could not be opened");
                Err(SessionError::BrowserNotOpened)
            }
            Ok(()) => tokio::select! {
                waited = tokio::time::timeout(wait, loopback.wait(&state)) => match waited {
                    Ok(Ok(outcome)) => Ok(outcome),
                    Ok(Err(e)) => Err(SessionError::Loopback(e.kind().to_string())),
                    Err(_) => Err(SessionError::SignInExpired),
                },
                () = waiting.cancel.notified() => Err(SessionError::SignInCancelled),
            },
        };
        drop((loopback, waiting));
        let code = match outcome? {
            Outcome::Code(code) => code,
            Outcome::ProviderError(error) => {
                tracing::info!(%error, "the provider ended the browser sign-in with an error");
                return Err(SessionError::BrowserSignInError(error));
            }
        };
        let complete = OidcCompleteRequest {
            state: state.to_string(),
            code: code.to_string(),
            code_verifier: pkce.expose_verifier().to_owned(),
        };
        let result = remote.oidc_complete(&complete).await;
        drop((Zeroizing::new(complete.code), Zeroizing::new(complete.code_verifier), Zeroizing::new(complete.state)));
        let response = result.map_err(|e| match e {
            // The attempt lives at the service; it is gone now.
            Failure::Unreachable => SessionError::ProviderUnreachable,
            Failure::Refused(err) => err,
        })?;
        self.complete_oidc(ws, provider, response)
    }

    /// Stops waiting for the browser (the sign-in screen's "Cancel").
    pub fn cancel_oidc(&self) {
        if let Some(waiting) = self.waiting_slot().take() {
            waiting.notify_one();
        }
    }

    fn waiting_slot(&self) -> MutexGuard<'_, Option<Arc<Notify>>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts the session the service opened (a `login` event), ending any
    /// other. A PIN this clinician already set here is kept and its window
    /// renewed; otherwise the session waits for one (and a verifier of
    /// someone else who had this user name is deleted).
    fn complete_oidc(
        &self,
        ws: &Mutex<Workstation>,
        provider: &str,
        response: LoginResponse,
    ) -> Result<SessionState, SessionError> {
        let key = username_key(&response.user.username);
        let user_id = response.user.id.to_string();
        let now = self.clock.now();
        let window_end = now + chrono::Duration::hours(i64::from(self.policy.offline_login_hours));
        let window = PinWindow {
            min_length: response.offline_unlock.pin_min_length,
            allowed_until: response.offline_unlock.allowed_until.min(window_end),
            max_failed_attempts: response.offline_unlock.max_failed_attempts.max(1),
            provider: provider.to_owned(),
        };
        let mut guard = Workstation::lock(ws);
        let mut slot = self.slot();
        let existing = guard.store.db().offline_verifiers().load(&key)?;
        let has_pin = existing.as_ref().is_some_and(|v| v.kind == SecretKind::Pin && v.user_id == user_id);
        let someone_else = existing.as_ref().is_some_and(|v| v.user_id != user_id);
        let mut events = slot.take().map(|mut previous| end_events(&mut previous)).unwrap_or_default();
        let who = (user_id.as_str(), key.as_str(), response.user.display_name.as_str());
        let mut current = Current::new(who, SessionMode::Online, now, self.policy.idle_lock);
        current.token = Some(Token::new(response.token));
        current.secret = SecretKind::Pin;
        current.provider = Some(provider.to_owned());
        events.push(Event::new(&current.context(PurposeOfUse::Treatment), AuditSubtype::Login, None));
        write(&mut guard.store, &events, |db| {
            let verifiers = db.offline_verifiers_mut();
            if has_pin {
                verifiers.renew(&key, &current.display_name, now, window.allowed_until, window.max_failed_attempts)
            } else if someone_else {
                verifiers.delete(&key)
            } else {
                Ok(())
            }
        })?;
        tracing::info!(session = %current.session_id, pin_set = has_pin, "signed in through the browser");
        if !has_pin {
            current.pin_setup = Some(window);
        }
        let state = match &current.pin_setup {
            Some(window) => SessionState::PinSetup {
                user_id: current.user_id.clone(),
                display_name: current.display_name.clone(),
                pin_min_length: window.min_length,
            },
            None => SessionState::Active { session: current.info(&self.policy) },
        };
        *slot = Some(current);
        Ok(state)
    }
}

/// The browser sign-in under way, as [`Sessions::cancel_oidc`] finds it: a
/// new one cancels the one before; dropped, it is no longer there to cancel.
struct Waiting<'a> {
    sessions: &'a Sessions,
    cancel: Arc<Notify>,
}

impl<'a> Waiting<'a> {
    fn register(sessions: &'a Sessions) -> Waiting<'a> {
        let cancel = Arc::new(Notify::new());
        if let Some(previous) = sessions.waiting_slot().replace(cancel.clone()) {
            previous.notify_one();
        }
        Waiting { sessions, cancel }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut slot = self.sessions.waiting_slot();
        if slot.as_ref().is_some_and(|w| Arc::ptr_eq(w, &self.cancel)) {
            *slot = None;
        }
    }
}
