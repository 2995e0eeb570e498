//! The stack under load: a durable PostgreSQL cluster (wardbook-test-support),
//! migrated as its owner; 40 synthetic wards; the real `wardbook-server`
//! binary as a child process connected as a login role holding only
//! `wardbook_service`'s grants (as in production and server/tests/common);
//! the clinicians' accounts; the workstations enrolled over HTTP.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::StreamExt;
use tokio_postgres::NoTls;
use uuid::Uuid;
use wardbook_protocol::api::{EnrolResponse, Role};
use wardbook_protocol::synthetic::{SyntheticConfig, SyntheticWard, generate};
use wardbook_protocol::{Environment, Observation};
use wardbook_server::config::Settings;
use wardbook_server::{AppState, admin, db, enrolment};
use wardbook_test_support::PgCluster;

use crate::device::{Device, PASSWORD, Ward, address, client};
use crate::metrics::{cluster_cpu, process_cpu};

pub const WARDS: usize = 40;
pub const PATIENTS_PER_WARD: usize = 30;
pub const OBSERVATIONS_PER_PATIENT: usize = 50;

pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    tokio::spawn(connection);
    client
}

/// `url` with an application_name, so the bench's own sessions are told
/// apart from the service's in pg_stat_activity.
pub fn named(url: &str, name: &str) -> String {
    format!("{url}{}application_name={name}", if url.contains('?') { '&' } else { '?' })
}

/// What seeding loaded.
#[derive(Debug)]
pub struct Seeded {
    /// What the history of discharged patients loaded, if any.
    pub discharged: Option<admin::SynthReport>,
    pub wards: Vec<Ward>,
    pub patients: u64,
    pub observations: u64,
    pub allergies: u64,
    pub medication_requests: u64,
    pub medication_administrations: u64,
}

/// A generated hospital: `patients` spread over the 40 wards, at most 50
/// observations each.
fn hospital(seed: u64, patients: usize, locations: &[String]) -> SyntheticWard {
    let mut config = SyntheticConfig::new(seed, patients, Utc::now());
    config.days = 3;
    config.locations = locations.to_vec();
    let mut ward = generate(&config);
    let mut per_patient: HashMap<Uuid, usize> = HashMap::new();
    ward.observations.retain(|o| {
        let n = per_patient.entry(o.patient_id).or_default();
        *n += 1;
        *n <= OBSERVATIONS_PER_PATIENT
    });
    ward
}

/// 40 wards of 30 synthetic patients, at most 50 observations each, loaded
/// with the service's own loader (`admin::load_ward`, identifiers sealed
/// under the data keys of `kek`); and `history` discharged patients (the
/// same data, their assignments made inactive), whom no workstation
/// receives but whose rows the tables hold.
pub async fn seed(owner_url: &str, kek: &Path, history: usize) -> Seeded {
    let locations: Vec<String> = (1..=WARDS).map(|w| format!("LOAD-W{w:02}")).collect();
    let ward = hospital(2027, WARDS * PATIENTS_PER_WARD, &locations);
    let mut settings = Settings::for_tests(owner_url.to_owned());
    settings.kek_file = Some(kek.to_owned());
    let state = AppState::new(settings).expect("state");
    let keys = state.keys.get().await.expect("the data keys");
    let mut client = connect(owner_url).await;
    let mut discharged = None;
    if history > 0 {
        let mut old = hospital(2028, history, &locations);
        for p in &mut old.patients {
            p.mrn = p.mrn.replacen("SYN-", "SYN-D", 1);
        }
        let loaded = admin::load_ward(&mut client, &keys, Environment::Test, &old).await.expect("load the history");
        let ids: Vec<Uuid> = old.patients.iter().map(|p| p.id).collect();
        client
            .execute("UPDATE patient_locations SET active = false WHERE patient_id = ANY($1)", &[&ids])
            .await
            .expect("discharge");
        discharged = Some(loaded);
    }
    let loaded = admin::load_ward(&mut client, &keys, Environment::Test, &ward).await.expect("load");
    client.batch_execute("VACUUM ANALYZE").await.expect("analyze");

    let mut templates: HashMap<Uuid, Observation> = HashMap::new();
    for o in &ward.observations {
        templates.entry(o.patient_id).or_insert_with(|| o.clone());
    }
    let wards = locations
        .iter()
        .map(|code| {
            let patients: Vec<Uuid> =
                ward.patients.iter().filter(|p| p.location.as_deref() == Some(code)).map(|p| p.id).collect();
            let templates = patients.iter().filter_map(|p| templates.get(p).cloned()).collect::<Vec<_>>();
            assert!(!patients.is_empty() && !templates.is_empty(), "every ward has patients with observations");
            Ward { code: code.clone(), patients, templates }
        })
        .collect();
    Seeded {
        discharged,
        wards,
        patients: loaded.patients,
        observations: loaded.observations,
        allergies: loaded.allergies,
        medication_requests: loaded.medication_requests,
        medication_administrations: loaded.medication_administrations,
    }
}

/// Clinician accounts `load.synthetic.NNNN`, through `admin::user_add`
/// (what `wardbook-server user add` runs: Argon2id), a few at a time.
pub async fn add_users(owner_url: &str, count: usize) -> Vec<String> {
    let client = connect(owner_url).await;
    let names: Vec<String> = (0..count).map(|i| format!("load.synthetic.{i:04}")).collect();
    let client = &client;
    let added: Vec<_> = futures_util::stream::iter(names.iter())
        .map(|name| async move {
            admin::user_add(client, name, "Synthetic Load Clinician", &[Role::Clinician], PASSWORD).await
        })
        .buffer_unordered(4)
        .collect()
        .await;
    for a in added {
        a.expect("a user");
    }
    names
}

/// `count` workstations, device `i` on ward `i % 40`: one single-use code
/// each from `enrolment::create_codes` (what `device enroll-code --count`
/// runs), each enrolled through `POST /v1/enrol` from its own address.
pub async fn enrol(owner_url: &str, base: &str, wards: &[Ward], users: &[String], count: usize) -> Vec<Device> {
    let mut db = connect(owner_url).await;
    let mut codes: Vec<Vec<String>> = Vec::new();
    for (w, ward) in wards.iter().enumerate() {
        let n = (0..count).filter(|i| i % wards.len() == w).count() as u32;
        let mut made = Vec::new();
        if n > 0 {
            let (secrets, _) =
                enrolment::create_codes(&mut db, &ward.code, chrono::Duration::hours(4), n).await.expect("codes");
            made = secrets.iter().map(|s| s.expose().to_owned()).collect();
        }
        codes.push(made);
    }
    let jobs: Vec<(usize, String)> = (0..count).map(|i| (i, codes[i % wards.len()][i / wards.len()].clone())).collect();
    let mut devices: Vec<Device> = futures_util::stream::iter(jobs)
        .map(|(i, code)| async move {
            let http = client(address(i));
            let body = serde_json::json!({ "code": code, "device_name": format!("load-synthetic-{i:04}") });
            let response = http.post(format!("{base}/v1/enrol")).json(&body).send().await.expect("enrol");
            assert_eq!(response.status().as_u16(), 201, "enrolment of workstation {i}");
            let enrolled: EnrolResponse = response.json().await.expect("an enrolment");
            Device::new(i, enrolled.device_id, enrolled.credential, i % wards.len(), users[i].clone())
        })
        .buffer_unordered(16)
        .collect()
        .await;
    devices.sort_by_key(|d| d.index);
    devices
}

/// The real service binary, run as `wardbook-server serve`.
#[derive(Debug)]
pub struct Service {
    child: Option<Child>,
    pid: u32,
    pub port: u16,
    database_url: String,
    kek: PathBuf,
    config: PathBuf,
    log: PathBuf,
    log_read: u64,
    /// CPU seconds of the processes that have exited (restarts).
    cpu_before: f64,
    ticks: f64,
}

/// What the service's log said since it was last read.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogCounts {
    /// "no database connection for a request": a pool checkout that failed
    /// (waited the pool's 5 s, or PostgreSQL refused), answered 503.
    pub pool_timeouts: u64,
    /// Rolled back by a concurrent transaction (deadlock, serialization): 503.
    pub concurrent: u64,
    /// Requests that failed with an internal error (500).
    pub internal: u64,
}

impl Service {
    /// Starts the service on `port` and waits until it answers.
    pub async fn start(database_url: &str, kek: &Path, dir: &Path, port: u16, pool_size: usize) -> Service {
        let config = dir.join("server.toml");
        std::fs::write(&config, format!("[policy]\npool_size = {pool_size}\n")).expect("server.toml");
        let mut service = Service {
            child: None,
            pid: 0,
            port,
            database_url: database_url.to_owned(),
            kek: kek.to_owned(),
            config,
            log: dir.join("wardbook-server.log"),
            log_read: 0,
            cpu_before: 0.0,
            ticks: crate::metrics::clock_ticks(),
        };
        service.spawn().await;
        service
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn spawn(&mut self) {
        let log = File::options().create(true).append(true).open(&self.log).expect("the service's log");
        let child = Command::new(env!("CARGO_BIN_EXE_wardbook-server"))
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("WARDBOOK_ENV", "test")
            .env("WARDBOOK_DATABASE_URL", &self.database_url)
            .env("WARDBOOK_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("WARDBOOK_KEK_FILE", &self.kek)
            .env("WARDBOOK_SERVER_CONFIG", &self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("wardbook-server serve starts");
        self.pid = child.id();
        self.child = Some(child);
        let probe = client(std::net::IpAddr::from([127, 0, 0, 3]));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = probe.get(format!("{}/v1/health", self.base())).send().await
                && r.status().is_success()
            {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("wardbook-server exited at start ({status}); see {}", self.log.display());
            }
            assert!(Instant::now() < deadline, "wardbook-server did not answer within 60 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// CPU seconds used by every service process started so far.
    pub fn cpu(&self) -> f64 {
        self.cpu_before + process_cpu(self.pid, self.ticks).unwrap_or(0.0)
    }

    /// SIGTERM (as systemd stops it: in-flight requests get up to 10 s),
    /// then waits for the exit; SIGKILL after 20 s.
    pub async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        self.cpu_before += process_cpu(self.pid, self.ticks).unwrap_or(0.0);
        let _ = Command::new("kill").args(["-TERM", &self.pid.to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn restart(&mut self) {
        self.stop().await;
        self.spawn().await;
    }

    /// Counts of the log lines written since the last call.
    pub fn log_counts(&mut self) -> LogCounts {
        let mut text = String::new();
        if let Ok(mut f) = File::open(&self.log) {
            use std::io::Seek;
            let _ = f.seek(std::io::SeekFrom::Start(self.log_read));
            let _ = f.read_to_string(&mut text);
        }
        self.log_read += text.len() as u64;
        LogCounts {
            pool_timeouts: text.matches("no database connection for a request").count() as u64,
            concurrent: text.matches("was rolled back by a concurrent one").count() as u64,
            internal: text.matches("request failed").count() as u64
                - text.matches("request failed: database unavailable").count() as u64,
        }
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The cluster with its database, the service's role and its URL.
#[derive(Debug)]
pub struct Database {
    pub cluster: PgCluster,
    pub owner_url: String,
    pub service_url: String,
    pub postmaster: u32,
    pub max_connections: String,
    pub durability: String,
    pub version: String,
}

impl Database {
    pub async fn start() -> Database {
        let cluster =
            tokio::task::spawn_blocking(PgCluster::start_durable).await.unwrap().expect("a PostgreSQL cluster");
        let name = cluster.create_database().expect("database");
        let owner_url = cluster.url(&name);
        db::migrate(&owner_url, None).await.expect("migrate");
        cluster
            .psql(&name, "CREATE ROLE wb_load_service LOGIN PASSWORD 'synthetic-load-only' IN ROLE wardbook_service")
            .expect("the service's role");
        let service_url = format!("postgres://wb_load_service:synthetic-load-only@127.0.0.1:{}/{name}", cluster.port());
        let pid_file = std::fs::read_to_string(cluster.data_dir().join("postmaster.pid")).expect("postmaster.pid");
        let postmaster = pid_file.lines().next().and_then(|l| l.trim().parse().ok()).expect("the postmaster's pid");
        let client = connect(&owner_url).await;
        let show =
            async |what: &str| -> String { client.query_one(&format!("SHOW {what}"), &[]).await.unwrap().get(0) };
        let version = show("server_version").await;
        let max_connections = show("max_connections").await;
        let mut durability = Vec::new();
        for setting in ["fsync", "synchronous_commit", "full_page_writes"] {
            let value = show(setting).await;
            assert_eq!(value, "on", "the load bench runs with {setting} on, as production does");
            durability.push(format!("{setting}={value}"));
        }
        Database {
            cluster,
            owner_url,
            service_url,
            postmaster,
            max_connections,
            durability: durability.join(", "),
            version,
        }
    }

    /// CPU seconds of the cluster, less the backends `except`.
    pub fn cpu(&self, ticks: f64, except: &[u32]) -> f64 {
        cluster_cpu(self.postmaster, ticks, except)
    }
}
