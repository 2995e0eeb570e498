//! The central side of the sync tests: a real PostgreSQL cluster from
//! wardbook-test-support, migrated, and the real sync service listening on
//! loopback (stoppable and restartable on the same port), plus workstations
//! (`Station`) with their own data directory, SQLCipher file and keyring
//! entries (the real Secret Service, inside `scripts/with-keyring.sh`).
//! Synthetic data only.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use tempfile::TempDir;
use uuid::Uuid;
use wardbook::audit::AccessContext;
use wardbook::config::Config;
use wardbook::store::Store;
use wardbook::sync::{CycleReport, Engine, SyncError};
use wardbook::workstation::Workstation;
use wardbook_protocol::Environment;
use wardbook_server::config::Settings;
use wardbook_server::serve::Running;
use wardbook_test_support::TestDatabase;

pub struct Central {
    pub rt: tokio::runtime::Runtime,
    pub db: TestDatabase,
    pub owner_url: String,
    settings: Settings,
    running: Option<Running>,
    pub addr: SocketAddr,
}

impl Central {
    pub fn start() -> Central {
        Central::start_with(|_| {})
    }

    /// With the service's settings changed first (identity providers, policy).
    pub fn start_with(tweak: impl FnOnce(&mut Settings)) -> Central {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let db = TestDatabase::new().expect("a test database");
        let owner_url = db.url().to_owned();
        rt.block_on(wardbook_server::db::migrate(&owner_url, None)).expect("migrations apply");
        let role = format!("wb_app_{}", db.name());
        db.psql(&format!("CREATE ROLE \"{role}\" LOGIN PASSWORD 'synthetic-test-only' IN ROLE wardbook_service"))
            .expect("service role");
        let config: tokio_postgres::Config = owner_url.parse().expect("url");
        let service_url = format!(
            "postgres://{role}:synthetic-test-only@{}/{}",
            wardbook_server::db::describe_target(&config),
            config.get_dbname().expect("dbname")
        );
        let mut settings = Settings::for_tests(service_url);
        tweak(&mut settings);
        let running = rt.block_on(wardbook_server::serve::start(settings.clone())).expect("service starts");
        let addr = running.addr;
        Central { rt, db, owner_url, settings, running: Some(running), addr }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the service (PostgreSQL keeps running).
    pub fn stop_service(&mut self) {
        if let Some(running) = self.running.take() {
            self.rt.block_on(running.shutdown()).expect("service stops");
        }
    }

    /// Starts the service again on the same port.
    pub fn start_service(&mut self) {
        let mut settings = self.settings.clone();
        settings.listen = self.addr;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            match self.rt.block_on(wardbook_server::serve::start(settings.clone())) {
                Ok(running) => {
                    self.running = Some(running);
                    return;
                }
                // The port can linger for a moment after the previous listener closed.
                Err(e) => assert!(std::time::Instant::now() < deadline, "service restarts: {e}"),
            }
            std::thread::yield_now();
        }
    }

    /// A second listener of the same service over TLS with `cert` and `key`
    /// (PEM files), on its own loopback port.
    pub fn start_tls(&self, cert: &std::path::Path, key: &std::path::Path) -> Running {
        let mut settings = self.settings.clone();
        settings.listen = "127.0.0.1:0".parse().expect("addr");
        settings.tls = Some((cert.to_owned(), key.to_owned()));
        self.rt.block_on(wardbook_server::serve::start(settings)).expect("TLS service starts")
    }

    pub fn owner(&self) -> tokio_postgres::Client {
        self.rt.block_on(async {
            let (client, connection) =
                tokio_postgres::connect(&self.owner_url, tokio_postgres::NoTls).await.expect("connect");
            tokio::spawn(connection);
            client
        })
    }

    pub fn query_i64(&self, sql: &str) -> i64 {
        let client = self.owner();
        self.rt.block_on(client.query_one(sql, &[])).expect("query").get(0)
    }

    /// Loads a synthetic ward (patients alternate between "Ward 7A" and "Ward 7B").
    pub fn synth(&self, patients: usize, seed: u64) -> wardbook_server::admin::SynthReport {
        let mut client = self.owner();
        let keys = self.keys();
        self.rt
            .block_on(wardbook_server::admin::synth(
                &mut client,
                &keys,
                Environment::Test,
                patients,
                seed,
                chrono::Utc::now(),
            ))
            .expect("synth")
    }

    /// The database's data keys (the service's throwaway key-encryption key).
    #[allow(dead_code)] // not every test binary that includes this module uses it
    pub fn keys(&self) -> std::sync::Arc<wardbook_server::keys::KeySet> {
        let state = wardbook_server::AppState::new(self.settings.clone()).expect("app state");
        self.rt.block_on(state.keys.get()).expect("the data keys")
    }

    /// A single-use enrolment code for a location.
    pub fn code(&self, location: &str) -> String {
        let client = self.owner();
        let (code, _) = self
            .rt
            .block_on(wardbook_server::enrolment::create_code(&client, location, chrono::Duration::hours(1)))
            .expect("enrolment code");
        code.expose().to_owned()
    }

    /// Assigns (`active`) or unassigns a patient from a location.
    pub fn assign(&self, patient: Uuid, location: &str, active: bool) {
        let client = self.owner();
        self.rt.block_on(async {
            let location = wardbook_server::admin::location_id(&client, location).await.expect("location");
            wardbook_server::admin::assign(&client, patient, location, active).await.expect("assign");
        });
    }

    /// The server's re-verification of one device's stored audit chain:
    /// (events, first break).
    pub fn verify_audit(&self, device: Uuid) -> (i64, Option<(i64, &'static str)>) {
        let client = self.owner();
        let checks = self.rt.block_on(wardbook_server::audit::verify(&client, Some(device))).expect("verify");
        (checks[0].events, checks[0].broken_at)
    }

    /// Audit event ids stored for a device, in sequence order.
    pub fn stored_audit_ids(&self, device: Uuid) -> Vec<Uuid> {
        let client = self.owner();
        self.rt
            .block_on(client.query("SELECT id FROM audit_events WHERE device_id = $1 ORDER BY sequence", &[&device]))
            .expect("query")
            .iter()
            .map(|r| r.get(0))
            .collect()
    }
}

impl Drop for Central {
    fn drop(&mut self) {
        self.stop_service();
    }
}

/// A workstation: its own data directory, encrypted cache and keyring entries.
pub struct Station {
    pub dir: TempDir,
    pub config: Config,
    /// Shared as the window shares it (see `wardbook::workstation`).
    pub ws: Mutex<Workstation>,
    pub ctx: AccessContext,
    pub engine: Option<Engine>,
}

impl Station {
    pub fn new(user: &str) -> Station {
        Station::with_vars(user, &[])
    }

    pub fn with_vars(user: &str, extra: &[(&str, String)]) -> Station {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut vars: BTreeMap<String, String> = BTreeMap::new();
        vars.insert("WARDBOOK_ENV".into(), "test".into());
        vars.insert("WARDBOOK_DATA_DIR".into(), dir.path().join("data").display().to_string());
        for (k, v) in extra {
            vars.insert((*k).to_owned(), v.clone());
        }
        let config = Config::from_vars(|k| vars.get(k).cloned()).expect("config");
        let ws = wardbook::startup::open_workstation(config.clone()).expect("workstation opens");
        Station { dir, config, ws: Mutex::new(ws), ctx: AccessContext::treatment(user), engine: None }
    }

    pub fn data_dir(&self) -> std::path::PathBuf {
        self.config.data_dir.clone()
    }

    pub fn keys(&self) -> Box<dyn wardbook::keys::KeyStore> {
        wardbook::keys::key_store_for(&self.config)
    }

    pub fn device_id(&self) -> Uuid {
        self.with(|s| s.device_id())
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        f(&mut Workstation::lock(&self.ws).store)
    }

    /// Enrols with `server_url` (the service directly, or a proxy in front).
    pub fn enroll(&mut self, central: &Central, server_url: &str, location: &str) {
        let code = central.code(location);
        let keys = self.keys();
        central
            .rt
            .block_on(wardbook::sync::enroll(&self.ws, keys.as_ref(), Some(server_url), &code))
            .expect("enrolment");
        let engine = self.with(|s| wardbook::sync::engine_for(&self.config, keys.as_ref(), s)).expect("engine");
        self.engine = Some(engine);
    }

    pub fn sync(&self, central: &Central) -> Result<CycleReport, SyncError> {
        let engine = self.engine.as_ref().expect("enrolled");
        central.rt.block_on(engine.cycle(&self.ws))
    }

    pub fn status(&self) -> wardbook_protocol::SyncStatus {
        let keys = self.keys();
        self.with(|s| wardbook::sync::status(&self.config, keys.as_ref(), s)).expect("status")
    }

    pub fn digest(&self) -> wardbook::sync::Digest {
        self.with(|s| wardbook::sync::digest(s)).expect("digest")
    }

    /// The census (an audited view) and every patient's chart: ids of the
    /// patients shown.
    pub fn view_everything(&self) -> Vec<Uuid> {
        self.with(|s| {
            let census = wardbook::audit::reads::census(s, &self.ctx, None).expect("census");
            for p in &census {
                wardbook::audit::reads::open_chart(s, &self.ctx, p.id, &wardbook::audit::reads::Source::Cache)
                    .expect("chart");
            }
            census.iter().map(|p| p.id).collect()
        })
    }

    pub fn audit_ids(&self) -> Vec<Uuid> {
        self.with(|s| wardbook::audit::recent_events(s, u32::MAX).expect("events")).iter().map(|e| e.id).collect()
    }
}

/// A new vital sign for `patient`: a heart rate, synthetic.
pub fn heart_rate(patient: Uuid, bpm: f64) -> wardbook_protocol::Observation {
    use wardbook_protocol::{
        Coding, LOINC, Observation, ObservationCategory, ObservationStatus, ObservationValue, Quantity,
    };
    Observation {
        id: Uuid::nil(),
        version: 0,
        updated_at: chrono::Utc::now(),
        deleted: false,
        synthetic: true,
        patient_id: patient,
        category: ObservationCategory::VitalSigns,
        code: Coding { system: LOINC.to_owned(), code: "8867-4".into(), display: "Heart rate".into() },
        panel: None,
        value: ObservationValue::Quantity(Quantity { value: bpm, unit: "/min".into() }),
        reference_range: None,
        interpretation: None,
        status: ObservationStatus::Final,
        status_reason: None,
        effective_at: chrono::Utc::now(),
        recorded_by: String::new(),
    }
}

/// A new allergy for `patient`, synthetic.
pub fn penicillin_allergy(patient: Uuid) -> wardbook_protocol::Allergy {
    use wardbook_protocol::{
        Allergy, AllergyCategory, AllergyClinicalStatus, AllergyType, AllergyVerificationStatus, Coding, Criticality,
    };
    Allergy {
        id: Uuid::nil(),
        version: 0,
        updated_at: chrono::Utc::now(),
        deleted: false,
        synthetic: true,
        patient_id: patient,
        allergen: Coding {
            system: "http://snomed.info/sct".into(),
            code: "764146007".into(),
            display: "Penicillin".into(),
        },
        allergy_type: AllergyType::Allergy,
        category: AllergyCategory::Medication,
        clinical_status: AllergyClinicalStatus::Active,
        verification_status: AllergyVerificationStatus::Confirmed,
        criticality: Criticality::High,
        reactions: Vec::new(),
        recorded_at: chrono::Utc::now(),
        recorded_by: String::new(),
    }
}
