//! One simulated workstation: its own enrolment credential, clinician
//! account, source address (127.1.x.y, so that the service's per-address
//! sign-in limits see one client per workstation, as in a hospital) and
//! keep-alive HTTP connection, running the app's sync cycle over HTTP:
//! audit upload, push, pull pages until `has_more` is false; then the app's
//! wait (the interval moved by up to 20 % either way) or, while the service
//! is unreachable, the app's capped, jittered backoff. Every time constant is
//! divided by the bench's compression factor.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use backon::BackoffBuilder;
use chrono::Utc;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use uuid::Uuid;
use wardbook_protocol::api::{AuditUploadResponse, Mutation, Record};
use wardbook_protocol::{AuditAction, AuditEvent, AuditOutcome, AuditSubtype, GENESIS_HASH, Observation, PurposeOfUse};

use crate::metrics::{Endpoint, Outcome, PullSample, Recorder};

/// The password of every synthetic clinician of the bench.
pub const PASSWORD: &str = "synthetic-load-password";
/// Rows per pull page, as the app asks (`engine::PULL_PAGE`).
pub const PULL_PAGE: u32 = 5000;

/// A ward: its location code, its patients, and one of each patient's
/// observations as a template for new ones.
#[derive(Debug)]
pub struct Ward {
    pub code: String,
    pub patients: Vec<Uuid>,
    pub templates: Vec<Observation>,
}

impl Ward {
    /// A new observation for one of the ward's patients, recorded now.
    pub fn new_observation(&self, rng: &mut impl Rng, by: &str) -> Observation {
        let mut o = self.templates[rng.random_range(0..self.templates.len())].clone();
        o.id = Uuid::now_v7();
        o.effective_at = Utc::now();
        o.recorded_by = by.to_owned();
        o
    }
}

/// The time constants of the app, compressed.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// The sync interval (the app's 60 s, compressed).
    pub interval: Duration,
    /// The first retry delay (1 s, compressed).
    pub retry_min: Duration,
    /// The longest retry delay (min(interval, 15 s), compressed).
    pub retry_cap: Duration,
}

/// What every device task shares.
#[derive(Debug)]
pub struct Ctx {
    pub base: String,
    pub recorder: Recorder,
    pub timing: Timing,
    pub wards: Vec<Ward>,
    /// The background writer's rows: id to the instant its commit returned.
    pub commits: Mutex<HashMap<Uuid, Instant>>,
    /// Per device, when its last cycle succeeded (ms after `epoch`; 0: never).
    pub last_ok: Vec<AtomicU64>,
    pub epoch: Instant,
    /// Chance that a cycle carries a clinician's new observation.
    pub push_probability: f64,
    /// Chart views recorded per cycle: 0 to this many, uniformly.
    pub audit_per_cycle: u32,
}

impl Ctx {
    fn mark_ok(&self, device: usize) {
        let ms = self.epoch.elapsed().as_millis() as u64;
        if let Some(slot) = self.last_ok.get(device) {
            slot.store(ms.max(1), Ordering::Relaxed);
        }
    }

    /// Whether the device's last successful cycle ended after `since`.
    pub fn ok_since(&self, device: usize, since: Instant) -> bool {
        let since = since.saturating_duration_since(self.epoch).as_millis() as u64;
        self.last_ok.get(device).is_some_and(|s| s.load(Ordering::Relaxed) > since)
    }
}

/// Why a cycle or request failed, as the app tells them apart.
#[derive(Clone, Copy, Debug)]
pub enum Fail {
    /// No answer, or 502/503/504: the app backs off and retries.
    Offline,
    /// Another refusal: the app waits a whole interval.
    Refused,
}

/// The source address of device `index`: 127.1.x.y on the loopback network.
pub fn address(index: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 1, (index / 250) as u8, (index % 250 + 1) as u8))
}

/// A keep-alive HTTP client from one source address, with the app's timeouts.
pub fn client(local: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(local)
        .no_proxy()
        .tls_built_in_root_certs(false)
        .tcp_nodelay(true)
        .pool_max_idle_per_host(2)
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .build()
        .expect("an HTTP client")
}

/// Sends a request and reads the whole body, recording it; the status and
/// body of an answer, [`Fail::Offline`] without one.
pub async fn send(
    recorder: &Recorder,
    endpoint: Endpoint,
    request: reqwest::RequestBuilder,
) -> Result<(u16, axum::body::Bytes), Fail> {
    let started = Instant::now();
    let failed = |e: reqwest::Error| {
        let outcome = if e.is_timeout() { Outcome::Timeout } else { Outcome::ConnectionError };
        recorder.request(endpoint, outcome, started.elapsed());
        Fail::Offline
    };
    let response = request.send().await.map_err(failed)?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(failed)?;
    recorder.request(endpoint, Outcome::Status(status), started.elapsed());
    match status {
        200..=299 => Ok((status, body)),
        502..=504 => Err(Fail::Offline),
        _ => Err(Fail::Refused),
    }
}

/// A clinician signs in at a workstation (`POST /v1/login`, Argon2id).
pub async fn login(ctx: &Ctx, http: &reqwest::Client, credential: &str, username: &str) -> Result<(), Fail> {
    let body = serde_json::json!({ "username": username, "password": PASSWORD });
    send(
        &ctx.recorder,
        Endpoint::Login,
        http.post(format!("{}/v1/login", ctx.base)).bearer_auth(credential).json(&body),
    )
    .await
    .map(|_| ())
}

/// A pull page, decoding only what the bench needs (the generator shares
/// the CPU with the service; the app decodes every row in full).
#[derive(Deserialize)]
struct Page {
    changes: Vec<PageChange>,
    cursor: String,
    has_more: bool,
}

#[derive(Deserialize)]
struct PageChange {
    #[serde(default)]
    observation: Option<RowId>,
}

#[derive(Deserialize)]
struct RowId {
    id: Uuid,
}

#[derive(Serialize)]
struct AuditUpload<'a> {
    events: &'a [AuditEvent],
}

#[derive(Serialize)]
struct Push<'a> {
    mutations: &'a [Mutation],
}

#[derive(Deserialize)]
struct PushAnswer {
    results: Vec<PushResult>,
}

#[derive(Deserialize)]
struct PushResult {
    outcome: PushOutcome,
}

#[derive(Deserialize)]
struct PushOutcome {
    outcome: String,
}

/// One workstation's state, kept across scenarios (its store, in the app).
#[derive(Debug)]
pub struct Device {
    pub index: usize,
    pub id: Uuid,
    pub credential: String,
    pub ward: usize,
    pub username: String,
    pub http: reqwest::Client,
    /// The feed cursor; `None` before the initial sync.
    pub cursor: Option<String>,
    /// When the workstation was switched on (its go-live).
    pub switched_on: Option<Instant>,
    /// Whether a cycle has completed since then (the initial sync).
    synced: bool,
    rng: StdRng,
    session: Uuid,
    next_sequence: i64,
    prev_hash: String,
    pending_audit: Vec<AuditEvent>,
    pending_push: Vec<Mutation>,
}

impl Device {
    pub fn new(index: usize, id: Uuid, credential: String, ward: usize, username: String) -> Device {
        Device {
            index,
            id,
            credential,
            ward,
            username,
            http: client(address(index)),
            cursor: None,
            switched_on: None,
            synced: false,
            rng: StdRng::seed_from_u64(0x5EED_0000 + index as u64),
            session: Uuid::new_v4(),
            next_sequence: 1,
            prev_hash: GENESIS_HASH.to_owned(),
            pending_audit: Vec::new(),
            pending_push: Vec::new(),
        }
    }

    /// Back to a fresh workstation's feed position (a go-live); the audit
    /// chain and anything unsent carry on.
    pub fn reset_feed(&mut self) {
        self.cursor = None;
        self.switched_on = None;
        self.synced = false;
    }

    /// The next chart view, sealed onto the device's chain.
    fn chart_view(&mut self, patient: Uuid) -> AuditEvent {
        let event = AuditEvent {
            id: Uuid::now_v7(),
            device_id: self.id,
            sequence: self.next_sequence,
            recorded_at: Utc::now(),
            user_id: self.username.clone(),
            session_id: self.session,
            action: AuditAction::Read,
            subtype: AuditSubtype::ChartOpen,
            patient_id: Some(patient),
            purpose_of_use: PurposeOfUse::Treatment,
            outcome: AuditOutcome::Success,
            prev_hash: self.prev_hash.clone(),
            hash: String::new(),
        }
        .seal();
        self.next_sequence += 1;
        self.prev_hash = event.hash.clone();
        event
    }

    /// One sync cycle, in the app's order: audit, push, pull to the end.
    async fn cycle(&mut self, ctx: &Ctx) -> Result<(), Fail> {
        let ward = &ctx.wards[self.ward];
        let views = self.rng.random_range(0..=ctx.audit_per_cycle);
        for _ in 0..views {
            let patient = ward.patients[self.rng.random_range(0..ward.patients.len())];
            let event = self.chart_view(patient);
            self.pending_audit.push(event);
        }
        if !self.pending_audit.is_empty() {
            let body = AuditUpload { events: &self.pending_audit };
            let request = self.http.post(format!("{}/v1/audit/events", ctx.base)).bearer_auth(&self.credential);
            let (_, bytes) = send(&ctx.recorder, Endpoint::Audit, request.json(&body)).await?;
            let answer: AuditUploadResponse = serde_json::from_slice(&bytes).map_err(|_| Fail::Refused)?;
            self.pending_audit.retain(|e| e.sequence > answer.highest_sequence);
        }
        if self.rng.random_bool(ctx.push_probability) {
            let observation = ward.new_observation(&mut self.rng, &self.username);
            self.pending_push.push(Mutation {
                id: Uuid::now_v7(),
                base_version: None,
                author: self.username.clone(),
                authored_at: Utc::now(),
                record: Record::Observation { observation },
            });
        }
        if !self.pending_push.is_empty() {
            let body = Push { mutations: &self.pending_push };
            let request = self.http.post(format!("{}/v1/sync/push", ctx.base)).bearer_auth(&self.credential);
            let (_, bytes) = send(&ctx.recorder, Endpoint::Push, request.json(&body)).await?;
            let answer: PushAnswer = serde_json::from_slice(&bytes).map_err(|_| Fail::Refused)?;
            let rejected =
                answer.results.iter().filter(|r| !matches!(r.outcome.outcome.as_str(), "applied" | "already_applied"));
            ctx.recorder.push_rejected(rejected.count() as u64);
            self.pending_push.clear();
        }
        let since = self.switched_on.unwrap_or(ctx.epoch);
        loop {
            let mut request = self
                .http
                .get(format!("{}/v1/sync/pull", ctx.base))
                .bearer_auth(&self.credential)
                .query(&[("limit", PULL_PAGE.to_string())]);
            if let Some(cursor) = &self.cursor {
                request = request.query(&[("cursor", cursor)]);
            }
            let at = Instant::now();
            let (_, bytes) = send(&ctx.recorder, Endpoint::Pull, request).await?;
            let received = Instant::now();
            let page: Page = serde_json::from_slice(&bytes).map_err(|_| Fail::Refused)?;
            let mut staleness = Vec::new();
            if page.changes.iter().any(|c| c.observation.is_some()) {
                let commits = ctx.commits.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                for c in &page.changes {
                    if let Some(committed) = c.observation.as_ref().and_then(|o| commits.get(&o.id))
                        && *committed >= since
                    {
                        staleness.push(received.saturating_duration_since(*committed).as_secs_f64());
                    }
                }
            }
            let sample = PullSample { device: self.index, at, rows: page.changes.len() as u32 };
            ctx.recorder.pull(sample, &staleness);
            self.cursor = Some(page.cursor);
            if !page.has_more {
                return Ok(());
            }
        }
    }
}

/// The app's retry delays (`engine::retry_delays`), compressed.
fn retry_delays(timing: Timing) -> impl Iterator<Item = Duration> {
    backon::ExponentialBuilder::new()
        .with_min_delay(timing.retry_min)
        .with_max_delay(timing.retry_cap)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
}

/// The app's wait after a successful cycle (`engine::jittered`): the
/// interval moved by up to a fifth either way.
fn jittered(interval: Duration, unit: f64) -> Duration {
    interval.mul_f64(0.8 + 0.4 * unit.clamp(0.0, 1.0))
}

/// Sleeps for `delay`; true when asked to stop meanwhile.
async fn sleep_or_stop(delay: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        () = tokio::time::sleep(delay) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

/// A workstation switched on after `offset`: its clinician signs in (when
/// `login`), then it syncs until told to stop, and hands its state back.
pub async fn run(
    mut device: Device,
    ctx: std::sync::Arc<Ctx>,
    offset: Duration,
    login_first: bool,
    mut stop: watch::Receiver<bool>,
) -> Device {
    if sleep_or_stop(offset, &mut stop).await {
        return device;
    }
    if device.switched_on.is_none() {
        device.switched_on = Some(Instant::now());
    }
    let mut delays = retry_delays(ctx.timing);
    if login_first {
        loop {
            let delay = match login(&ctx, &device.http, &device.credential, &device.username).await {
                Ok(()) => break,
                Err(Fail::Offline) => delays.next().unwrap_or(ctx.timing.retry_cap),
                Err(Fail::Refused) => break,
            };
            if sleep_or_stop(delay, &mut stop).await {
                return device;
            }
        }
        delays = retry_delays(ctx.timing);
    }
    loop {
        let delay = match device.cycle(&ctx).await {
            Ok(()) => {
                ctx.recorder.cycle(true);
                ctx.mark_ok(device.index);
                if !device.synced
                    && let Some(on) = device.switched_on
                {
                    ctx.recorder.initial_sync(on.elapsed());
                }
                device.synced = true;
                delays = retry_delays(ctx.timing);
                jittered(ctx.timing.interval, device.rng.random::<f64>())
            }
            Err(Fail::Offline) => {
                ctx.recorder.cycle(false);
                delays.next().unwrap_or(ctx.timing.retry_cap)
            }
            Err(Fail::Refused) => {
                ctx.recorder.cycle(false);
                ctx.timing.interval
            }
        };
        if sleep_or_stop(delay, &mut stop).await {
            return device;
        }
    }
}
