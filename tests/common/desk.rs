//! A workstation as the app opens it, enrolled against the test service
//! (`central`), for the session tests. Synthetic data only.

use std::collections::BTreeMap;
use std::sync::Mutex;

use tempfile::TempDir;
use wardbook::config::Config;
use wardbook::session::{SessionError, Sessions};
use wardbook::workstation::Workstation;
use wardbook_protocol::AuditEvent;
use wardbook_protocol::workstation::{Credentials, SessionInfo};

use super::central::Central;

/// A workstation enrolled on `location`, opened as the app opens it.
pub struct Desk {
    _dir: TempDir,
    pub ws: Mutex<Workstation>,
    pub config: Config,
}

impl Desk {
    pub fn new(central: &Central, location: &str) -> Desk {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut vars: BTreeMap<String, String> = BTreeMap::new();
        vars.insert("WARDBOOK_ENV".into(), "test".into());
        vars.insert("WARDBOOK_DATA_DIR".into(), dir.path().join("data").display().to_string());
        let config = Config::from_vars(|k| vars.get(k).cloned()).expect("config");
        let ws = Mutex::new(wardbook::startup::open_workstation(config.clone()).expect("workstation opens"));
        let keys = wardbook::keys::key_store_for(&config);
        let code = central.code(location);
        central
            .rt
            .block_on(wardbook::sync::enroll(&ws, keys.as_ref(), Some(&central.url()), &code))
            .expect("enrolment");
        Desk { _dir: dir, ws, config }
    }

    pub fn events(&self) -> Vec<AuditEvent> {
        wardbook::audit::recent_events(&self.ws.lock().unwrap().store, u32::MAX).expect("events")
    }

    pub fn last_event(&self) -> AuditEvent {
        self.events().pop().expect("an event")
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut wardbook::store::Store) -> R) -> R {
        f(&mut self.ws.lock().unwrap().store)
    }

    /// One sync cycle against the service.
    pub fn sync(&self, central: &Central) -> Result<wardbook::sync::CycleReport, wardbook::sync::SyncError> {
        let keys = wardbook::keys::key_store_for(&self.config);
        let engine = self.with(|s| wardbook::sync::engine_for(&self.config, keys.as_ref(), s)).expect("engine");
        central.rt.block_on(engine.cycle(&self.ws))
    }

    /// Signs in with a user name and password (online, or offline when the service is down).
    pub fn sign_in(
        &self,
        central: &Central,
        sessions: &Sessions,
        username: &str,
        password: &str,
    ) -> Result<SessionInfo, SessionError> {
        let credentials = Credentials { username: username.to_owned(), password: password.to_owned(), provider: None };
        central.rt.block_on(sessions.sign_in(&self.ws, &credentials))
    }
}
