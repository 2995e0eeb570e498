//! The sign-in screen's choices: the service's identity providers (`GET
//! /v1/login/providers`), fetched when it answers and kept in the encrypted
//! store (`sync_state`), so that the screen offers the same choices offline
//! (where an OpenID provider's clinicians sign in with their PIN). A
//! workstation that never fetched the list, or is not enrolled, offers
//! local accounts only: the form as it was before providers existed.

use std::sync::Mutex;
use std::time::Duration;

use wardbook_protocol::api::LoginProviders;
use wardbook_protocol::workstation::SignInOptions;

use super::online::Remote;
use super::{SessionError, Sessions};
use crate::store::sync_state::SyncKey;
use crate::workstation::Workstation;

/// The screen waits no longer than this for the service: then it shows the
/// list it kept.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

impl Sessions {
    /// The providers to show: the service's list when it answers (kept for
    /// next time), else the one kept from `as_of`.
    pub async fn sign_in_options(&self, ws: &Mutex<Workstation>) -> Result<SignInOptions, SessionError> {
        let (remote, kept) = {
            let guard = Workstation::lock(ws);
            let kept = guard
                .store
                .db()
                .sync_state()
                .get(SyncKey::LoginProviders)?
                .and_then(|json| serde_json::from_str::<SignInOptions>(&json).ok());
            (Remote::for_workstation(&guard).ok(), kept)
        };
        let fetched = match remote {
            Some(remote) => tokio::time::timeout(FETCH_TIMEOUT, remote.providers()).await.ok().and_then(Result::ok),
            None => None,
        };
        let Some(LoginProviders { providers, local_accounts_for_clinicians }) = fetched else {
            return Ok(kept.map(|k| SignInOptions { fresh: false, ..k }).unwrap_or_else(local_only));
        };
        let options =
            SignInOptions { providers, local_accounts_for_clinicians, fresh: true, as_of: Some(self.clock.now()) };
        if let Ok(json) = serde_json::to_string(&SignInOptions { fresh: false, ..options.clone() }) {
            Workstation::lock(ws).store.transaction(|db| db.sync_state_mut().set(SyncKey::LoginProviders, &json))?;
        }
        Ok(options)
    }
}

fn local_only() -> SignInOptions {
    SignInOptions { providers: Vec::new(), local_accounts_for_clinicians: true, fresh: false, as_of: None }
}
