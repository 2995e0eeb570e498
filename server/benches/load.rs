//! `make bench-load`: the sync service under the load of a hospital's
//! workstations (docs/bench-load.md). Not in CI.
//!
//! A durable PostgreSQL cluster (`PgCluster::start_durable`: fsync,
//! synchronous_commit and full_page_writes on) with 40 synthetic wards of 30
//! patients; the real `wardbook-server` binary as a child process (so that
//! its CPU time is its own, and it can be restarted); simulated
//! workstations, each with its own enrolment credential, clinician account,
//! loopback source address and keep-alive connection, running the app's
//! sync cycle over real HTTP; a background writer adding observations, each
//! commit timed so that a device pulling the row measures its staleness.
//!
//! Time is compressed by `WARDBOOK_LOAD_COMPRESSION` (C, default 4): every
//! time constant of the model (the 60 s sync interval, the retry delays,
//! the go-live, the login minute, the five-minute transaction, the
//! restart's downtime) is divided by C, and N workstations are simulated by
//! N / C devices, so the ratio of devices to interval, hence the requests
//! per second, the concurrency and the rows per pull, are those of N real
//! workstations. Scenarios per N: a go-live (every workstation signs in and
//! syncs from scratch within 3 minutes), steady state, 300 logins in a
//! minute, a five-minute write transaction held open, a reconnect storm
//! after a service restart.
//!
//! Settings: WARDBOOK_LOAD_N (default "250,500,1000,2000"),
//! WARDBOOK_LOAD_SECONDS (each measured window, compressed seconds, default
//! 45), WARDBOOK_LOAD_COMPRESSION (default 4; 1 runs in real time),
//! WARDBOOK_LOAD_POOL_SIZE (the service's pool, default the policy's 16),
//! WARDBOOK_LOAD_WRITES (the writer's rows per real second, default 2),
//! WARDBOOK_LOAD_HISTORY (discharged patients whose rows the tables hold
//! besides the wards', default 0).
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

#[path = "load/device.rs"]
mod device;
#[path = "load/metrics.rs"]
mod metrics;
#[path = "load/report.rs"]
mod report;
#[path = "load/setup.rs"]
mod setup;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_postgres::types::ToSql;
use wardbook_protocol::Observation;

use device::{Ctx, Device, Timing, Ward};
use metrics::{Cpu, Endpoint, clock_ticks, process_cpu};
use report::Scenario;
use setup::{Database, LogCounts, Service, connect, named};

/// The app's sync interval (its default `sync_interval_seconds`).
const INTERVAL_REAL: f64 = 60.0;
/// The app's first retry delay and its cap (`engine::RETRY_CAP`).
const RETRY_MIN_REAL: f64 = 1.0;
const RETRY_CAP_REAL: f64 = 15.0;
/// A go-live: every workstation switched on within this many seconds.
const GO_LIVE_REAL: f64 = 180.0;
/// Logins in the login burst, and the minute they come in.
const LOGINS_REAL: f64 = 300.0;
const LOGIN_MINUTE_REAL: f64 = 60.0;
/// The write transaction held open.
const HOLD_REAL: f64 = 300.0;
/// How long the service is down in the restart.
const DOWNTIME_REAL: f64 = 30.0;
/// A cycle carries a clinician's new observation this often.
const PUSH_PROBABILITY: f64 = 0.1;
/// Chart views per cycle: 0 to this many.
const AUDIT_PER_CYCLE: u32 = 4;

#[derive(Clone, Debug)]
pub struct Config {
    pub ns: Vec<usize>,
    pub compression: f64,
    pub seconds: f64,
    pub pool_size: usize,
    pub writes_real: f64,
    pub history: usize,
}

impl Config {
    fn from_env() -> Config {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let ns = var("WARDBOOK_LOAD_N")
            .map(|v| {
                v.split(',').map(|n| n.trim().parse().expect("WARDBOOK_LOAD_N: numbers, comma-separated")).collect()
            })
            .unwrap_or_else(|| vec![250, 500, 1000, 2000]);
        let number = |name: &str, default: f64| var(name).map(|v| v.parse().expect(name)).unwrap_or(default);
        Config {
            ns,
            compression: number("WARDBOOK_LOAD_COMPRESSION", 4.0).max(1.0),
            seconds: number("WARDBOOK_LOAD_SECONDS", 45.0).max(5.0),
            pool_size: number("WARDBOOK_LOAD_POOL_SIZE", 16.0) as usize,
            writes_real: number("WARDBOOK_LOAD_WRITES", 2.0).max(0.01),
            history: number("WARDBOOK_LOAD_HISTORY", 0.0) as usize,
        }
    }

    /// A real duration, compressed.
    pub fn sim(&self, real_seconds: f64) -> Duration {
        Duration::from_secs_f64(real_seconds / self.compression)
    }

    /// The devices that stand for `n` workstations.
    pub fn devices(&self, n: usize) -> usize {
        ((n as f64 / self.compression).ceil() as usize).max(1)
    }

    pub fn logins(&self) -> usize {
        (LOGINS_REAL / self.compression).ceil() as usize
    }

    pub fn interval(&self) -> Duration {
        self.sim(INTERVAL_REAL)
    }

    pub fn window(&self) -> Duration {
        Duration::from_secs_f64(self.seconds)
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let cfg = Config::from_env();
    let max_devices = cfg.ns.iter().map(|n| cfg.devices(*n)).max().unwrap_or(1);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!(
        "Wardbook sync service load benchmark: N = {:?} workstations, time compressed x{} (interval {:.1} s for the app's 60 s, N / {} devices), windows of {} s, {cores} CPU cores shared by PostgreSQL, the service and the load generator",
        cfg.ns,
        cfg.compression,
        cfg.interval().as_secs_f64(),
        cfg.compression,
        cfg.seconds
    );
    let started = Instant::now();
    let database = Database::start().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let kek = dir.path().join("kek");
    wardbook_server::keys::write_new_kek(&kek).expect("a key-encryption key");
    let seeded = setup::seed(&database.owner_url, &kek, cfg.history).await;
    let users = setup::add_users(&database.owner_url, max_devices.max(cfg.logins())).await;
    let port = free_port();
    let mut service = Service::start(&database.service_url, &kek, dir.path(), port, cfg.pool_size).await;
    let base = service.base();
    let mut devices = setup::enrol(&database.owner_url, &base, &seeded.wards, &users, max_devices).await;
    println!(
        "PostgreSQL {} ({}), max_connections={}; service pool_size={} (policy default 16), plain HTTP on loopback, log at info",
        database.version, database.durability, database.max_connections, cfg.pool_size
    );
    println!(
        "seeded {} wards: {} patients, {} observations, {} allergies, {} medication orders, {} doses (synthetic); {} clinician accounts, {} workstations enrolled over POST /v1/enrol; setup took {:.0} s",
        seeded.wards.len(),
        seeded.patients,
        seeded.observations,
        seeded.allergies,
        seeded.medication_requests,
        seeded.medication_administrations,
        users.len(),
        devices.len(),
        started.elapsed().as_secs_f64()
    );
    if let Some(d) = &seeded.discharged {
        println!(
            "history: {} discharged patients (assignments inactive: no workstation receives them) with {} observations, {} allergies, {} medication orders, {} doses",
            d.patients, d.observations, d.allergies, d.medication_requests, d.medication_administrations
        );
    }
    let ctx = Arc::new(Ctx {
        base,
        recorder: metrics::Recorder::new(),
        timing: Timing {
            interval: cfg.interval(),
            retry_min: cfg.sim(RETRY_MIN_REAL),
            retry_cap: cfg.sim(RETRY_CAP_REAL.min(INTERVAL_REAL)),
        },
        wards: seeded.wards,
        commits: std::sync::Mutex::new(std::collections::HashMap::new()),
        last_ok: (0..max_devices).map(|_| AtomicU64::new(0)).collect(),
        epoch: Instant::now(),
        push_probability: PUSH_PROBABILITY,
        audit_per_cycle: AUDIT_PER_CYCLE,
    });
    // The bench's own monitoring connection: its backend's CPU is left out
    // of PostgreSQL's.
    let monitor = connect(&named(&database.owner_url, "wardbook-load-monitor")).await;
    let monitor_pid = monitor.query_one("SELECT pg_backend_pid()", &[]).await.expect("a pid").get::<_, i32>(0) as u32;
    let stats = connect(&named(&database.owner_url, "wardbook-load-stats")).await;
    let stats_pid = stats.query_one("SELECT pg_backend_pid()", &[]).await.expect("a pid").get::<_, i32>(0) as u32;
    let (stop_tx, stop_rx) = watch::channel(false);
    let owner_url = database.owner_url.clone();
    let background: Vec<JoinHandle<()>> = vec![
        tokio::spawn(writer(ctx.clone(), owner_url, cfg.writes_real * cfg.compression, stop_rx.clone())),
        tokio::spawn(pool_sampler(ctx.clone(), monitor, stop_rx.clone())),
        tokio::spawn(health_sampler(ctx.clone(), stop_rx.clone())),
    ];
    let mut all = Vec::new();
    for &n in &cfg.ns {
        let mut run = Run {
            cfg: &cfg,
            ctx: &ctx,
            database: &database,
            service: &mut service,
            stats: &stats,
            except: [monitor_pid, stats_pid],
            meter: None,
        };
        all.extend(run.n(n, &mut devices, &users).await);
    }
    let _ = stop_tx.send(true);
    for b in background {
        let _ = b.await;
    }
    report::summary(&cfg, &all);
    println!(
        "total time {:.1} min; logs (deleted at exit): {}, {}",
        started.elapsed().as_secs_f64() / 60.0,
        service.log_path().display(),
        database.cluster.dir().join("postgres.log").display()
    );
    drop(service);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("its address").port()
}

/// CPU seconds and log counts at the start of the current window.
struct Meter {
    started: Instant,
    cpu: Cpu,
    reads: BTreeMap<String, i64>,
}

/// Rows PostgreSQL has read from each table so far (sequential scans and
/// index fetches, `pg_stat_user_tables`).
async fn table_reads(client: &tokio_postgres::Client) -> BTreeMap<String, i64> {
    let _ = client.batch_execute("SELECT pg_stat_clear_snapshot()").await;
    let rows = client
        .query(
            "SELECT schemaname || '.' || relname, (coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0))::int8
               FROM pg_stat_user_tables",
            &[],
        )
        .await
        .expect("the tables' statistics");
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

struct Run<'a> {
    cfg: &'a Config,
    ctx: &'a Arc<Ctx>,
    database: &'a Database,
    service: &'a mut Service,
    /// Reads the tables' statistics.
    stats: &'a tokio_postgres::Client,
    /// The bench's monitoring backends, left out of PostgreSQL's CPU.
    except: [u32; 2],
    meter: Option<Meter>,
}

impl Run<'_> {
    fn cpu(&self) -> Cpu {
        let ticks = clock_ticks();
        Cpu {
            service: self.service.cpu(),
            postgres: self.database.cpu(ticks, &self.except),
            generator: process_cpu(std::process::id(), ticks).unwrap_or(0.0),
            machine: metrics::machine_cpu(ticks),
        }
    }

    /// Starts a new window now.
    async fn begin(&mut self) {
        let reads = table_reads(self.stats).await;
        self.ctx.recorder.take();
        let _ = self.service.log_counts();
        self.meter = Some(Meter { started: Instant::now(), cpu: self.cpu(), reads });
    }

    /// Ends the current window as scenario `name` and starts the next
    /// one; [`report::scenario`] prints it.
    async fn cut(&mut self, n: usize, name: &'static str, notes: Vec<String>) -> Scenario {
        let window = self.ctx.recorder.take();
        let log: LogCounts = self.service.log_counts();
        let cpu = self.cpu();
        let reads = table_reads(self.stats).await;
        let meter = self
            .meter
            .replace(Meter { started: Instant::now(), cpu, reads: reads.clone() })
            .expect("a window was begun");
        let mut table_reads: Vec<(String, i64)> = reads
            .into_iter()
            .map(|(table, n)| {
                let before = meter.reads.get(&table).copied().unwrap_or(0);
                (table, n - before)
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        table_reads.sort_by_key(|(_, n)| -n);
        Scenario {
            table_reads,
            n,
            devices: self.cfg.devices(n),
            name,
            seconds: meter.started.elapsed().as_secs_f64(),
            window,
            cpu: cpu - meter.cpu,
            log,
            notes,
        }
    }

    /// Prints a scenario and keeps it.
    fn keep(&self, scenario: Scenario, out: &mut Vec<Scenario>) {
        report::scenario(self.cfg, &scenario);
        out.push(scenario);
    }

    /// The five scenarios for `n` workstations.
    async fn n(&mut self, n: usize, devices: &mut Vec<Device>, users: &[String]) -> Vec<Scenario> {
        let cfg = self.cfg;
        let ctx = self.ctx.clone();
        let count = cfg.devices(n);
        let interval = cfg.interval();
        let mut rng = StdRng::seed_from_u64(n as u64);
        let (stop_tx, stop_rx) = watch::channel(false);
        let owner_url = self.database.owner_url.clone();
        println!();
        println!(
            "########## N = {n} workstations: {count} simulated devices ({:.1} per ward), interval {:.1} s ##########",
            count as f64 / ctx.wards.len() as f64,
            interval.as_secs_f64()
        );
        let mut out = Vec::new();

        // 1. Go-live: every workstation switched on at a random moment of
        // the go-live window, its clinician signs in, it syncs from scratch.
        self.begin().await;
        let go_live = cfg.sim(GO_LIVE_REAL);
        let batch: Vec<Device> = devices.drain(..count).collect();
        let idents: Vec<(reqwest::Client, String)> =
            batch.iter().map(|d| (d.http.clone(), d.credential.clone())).collect();
        let mut tasks = Vec::new();
        for mut d in batch {
            d.reset_feed();
            let offset = go_live.mul_f64(rng.random::<f64>());
            tasks.push(tokio::spawn(device::run(d, ctx.clone(), offset, true, stop_rx.clone())));
        }
        let began = Instant::now();
        let deadline = go_live + cfg.window();
        while ctx.recorder.initial_syncs() < count && began.elapsed() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let done = ctx.recorder.initial_syncs();
        let mut notes = vec![format!(
            "go-live: {count} workstations switched on over {:.1} s (3 min / C); {done} of {count} had signed in and finished their initial sync {:.1} s after the first",
            go_live.as_secs_f64(),
            began.elapsed().as_secs_f64()
        )];
        let first = self.cut(n, "go-live", std::mem::take(&mut notes)).await;
        self.keep(first, &mut out);

        // 2. Steady state.
        tokio::time::sleep(cfg.window()).await;
        let steady = self.cut(n, "steady state", Vec::new()).await;
        self.keep(steady, &mut out);

        // 3. 300 logins in a minute (compressed: 300 / C in 60 s / C), on
        // top of the steady traffic; each login a distinct clinician.
        let minute = cfg.sim(LOGIN_MINUTE_REAL);
        let mut logins = Vec::new();
        for (j, user) in users.iter().enumerate().take(cfg.logins()) {
            let (http, credential) = idents[j % count].clone();
            let user = user.clone();
            let offset = minute.mul_f64(rng.random::<f64>());
            let ctx = ctx.clone();
            logins.push(tokio::spawn(async move {
                tokio::time::sleep(offset).await;
                let _ = device::login(&ctx, &http, &credential, &user).await;
            }));
        }
        for l in logins {
            let _ = l.await;
        }
        tokio::time::sleep(interval / 4).await;
        let note = format!(
            "{} logins (300 / C) at random moments of {:.1} s (60 s / C), over the steady traffic",
            cfg.logins(),
            minute.as_secs_f64()
        );
        let logins = self.cut(n, "300 logins/min", vec![note]).await;
        self.keep(logins, &mut out);

        // 4. A write transaction held open for five minutes (compressed).
        let hold = cfg.sim(HOLD_REAL);
        let (opened, committed) = hold_transaction(ctx.clone(), owner_url.clone(), hold).await;
        let tail = (interval * 2).max(cfg.window() / 2);
        tokio::time::sleep(tail).await;
        let window_start = self.meter.as_ref().map(|m| m.started).unwrap_or(opened);
        let mut scenario = self.cut(n, "5-min write txn", Vec::new()).await;
        scenario.notes = report::backlog(&scenario, window_start, opened, committed, hold);
        self.keep(scenario, &mut out);

        // 5. Reconnect storm: the service stopped (SIGTERM) and started
        // again after the downtime, while every workstation keeps trying.
        let downtime = cfg.sim(DOWNTIME_REAL);
        let stopping = Instant::now();
        self.service.stop().await;
        let stopped_in = stopping.elapsed();
        tokio::time::sleep(downtime).await;
        let restarting = Instant::now();
        self.service.restart().await;
        let restarted = Instant::now();
        let deadline = restarted + cfg.window();
        let mut recovered = None;
        while Instant::now() < deadline {
            if recovered.is_none() && (0..count).all(|i| ctx.ok_since(i, restarted)) {
                recovered = Some(restarted.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let synced = (0..count).filter(|i| ctx.ok_since(*i, restarted)).count();
        let note = format!(
            "service stopped by SIGTERM in {:.2} s, down {:.1} s (30 s / C), up again {:.2} s after its start; {}",
            stopped_in.as_secs_f64(),
            (restarting - stopping).as_secs_f64(),
            (restarted - restarting).as_secs_f64(),
            match recovered {
                Some(t) => format!(
                    "all {count} workstations had synced again {:.1} s after the restart ({:.2} intervals)",
                    t.as_secs_f64(),
                    t.as_secs_f64() / interval.as_secs_f64()
                ),
                None => format!(
                    "only {synced} of {count} workstations had synced again {:.0} s after the restart",
                    cfg.seconds
                ),
            }
        );
        let storm = self.cut(n, "reconnect storm", vec![note]).await;
        self.keep(storm, &mut out);

        let _ = stop_tx.send(true);
        let mut back = Vec::with_capacity(count);
        for t in tasks {
            back.push(t.await.expect("a device task"));
        }
        back.sort_by_key(|d| d.index);
        devices.splice(0..0, back);
        out
    }
}

const INSERT_OBSERVATION: &str =
    "INSERT INTO observations (id, patient_id, synthetic, deleted, category, code, status, effective_at, body)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// The parameters of [`INSERT_OBSERVATION`]; runs it on `client`.
async fn insert_observation(client: &impl tokio_postgres::GenericClient, o: &Observation) {
    let body = serde_json::to_value(o).expect("an observation as JSON");
    let params: [&(dyn ToSql + Sync); 9] = [
        &o.id,
        &o.patient_id,
        &o.synthetic,
        &o.deleted,
        &o.category.as_str(),
        &o.code.code,
        &o.status.as_str(),
        &o.effective_at,
        &body,
    ];
    client.execute(INSERT_OBSERVATION, &params).await.expect("an observation inserted");
}

fn random_ward<'a>(wards: &'a [Ward], rng: &mut impl Rng) -> &'a Ward {
    &wards[rng.random_range(0..wards.len())]
}

/// The background writer (a hospital feed): observations into random
/// wards at `rate` rows a second, one transaction each, each commit's
/// instant kept for the staleness of the devices that pull the row.
async fn writer(ctx: Arc<Ctx>, url: String, rate: f64, mut stop: watch::Receiver<bool>) {
    let client = connect(&named(&url, "wardbook-load-writer")).await;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut rng = StdRng::seed_from_u64(7);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let o = random_ward(&ctx.wards, &mut rng).new_observation(&mut rng, "load.writer.synthetic");
        insert_observation(&client, &o).await;
        ctx.commits.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(o.id, Instant::now());
        ctx.recorder.writer_row();
    }
}

/// One write transaction (an observation inserted) held open for `hold`,
/// then committed: (opened, committed).
async fn hold_transaction(ctx: Arc<Ctx>, url: String, hold: Duration) -> (Instant, Instant) {
    let mut client = connect(&named(&url, "wardbook-load-long-transaction")).await;
    let tx = client.transaction().await.expect("a transaction");
    let mut rng = StdRng::seed_from_u64(11);
    let o = random_ward(&ctx.wards, &mut rng).new_observation(&mut rng, "load.long.synthetic");
    insert_observation(&tx, &o).await;
    let opened = Instant::now();
    tokio::time::sleep(hold).await;
    tx.commit().await.expect("commit");
    let committed = Instant::now();
    ctx.commits.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(o.id, committed);
    (opened, committed)
}

/// Every 100 ms: the service's connections in pg_stat_activity, and how
/// many are busy (running a statement or inside a transaction).
async fn pool_sampler(ctx: Arc<Ctx>, client: tokio_postgres::Client, mut stop: watch::Receiver<bool>) {
    let statement = client
        .prepare(
            "SELECT (count(*) FILTER (WHERE state IS DISTINCT FROM 'idle'))::int4, count(*)::int4
               FROM pg_stat_activity WHERE application_name = 'wardbook-server' AND backend_type = 'client backend'",
        )
        .await
        .expect("the monitor's statement");
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = stop.changed() => return,
        }
        if let Ok(row) = client.query_one(&statement, &[]).await {
            let (busy, open): (i32, i32) = (row.get(0), row.get(1));
            ctx.recorder.pool(busy as u32, open as u32);
        }
    }
}

/// Every second: `GET /v1/health`, for the feed horizon's lag.
async fn health_sampler(ctx: Arc<Ctx>, mut stop: watch::Receiver<bool>) {
    let http = device::client(std::net::IpAddr::from([127, 0, 0, 2]));
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
        let request = http.get(format!("{}/v1/health", ctx.base));
        if let Ok((_, body)) = device::send(&ctx.recorder, Endpoint::Health, request).await {
            let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let held = value.pointer("/database/feed_horizon/held_back_seconds").and_then(|v| v.as_f64());
            ctx.recorder.horizon(held.unwrap_or(0.0));
        }
    }
}
