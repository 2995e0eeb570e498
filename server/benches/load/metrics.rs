//! What the load bench measures: every request's endpoint, outcome and
//! latency, rows per pull, staleness, completed cycles, pool and horizon
//! samples, all into the current [`Window`]; and CPU time read from /proc.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The endpoints a workstation (and the bench's health probe) calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Endpoint {
    Pull,
    Push,
    Audit,
    Login,
    Health,
}

impl Endpoint {
    pub const ALL: [Endpoint; 5] = [Endpoint::Pull, Endpoint::Push, Endpoint::Audit, Endpoint::Login, Endpoint::Health];

    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Pull => "GET /v1/sync/pull",
            Endpoint::Push => "POST /v1/sync/push",
            Endpoint::Audit => "POST /v1/audit/events",
            Endpoint::Login => "POST /v1/login",
            Endpoint::Health => "GET /v1/health",
        }
    }
}

/// How one request ended.
#[derive(Clone, Copy, Debug)]
pub enum Outcome {
    /// An HTTP answer, body read in full.
    Status(u16),
    /// No answer within the client's timeout.
    Timeout,
    /// Connection refused, reset or closed before an answer.
    ConnectionError,
}

#[derive(Debug, Default)]
pub struct EndpointStats {
    /// Latencies (request sent to body read) of every answer, in ms.
    pub latencies_ms: Vec<f64>,
    pub ok: u64,
    pub too_many: u64,
    pub other_4xx: u64,
    pub unavailable: u64,
    pub other_5xx: u64,
    pub timeouts: u64,
    pub connection_errors: u64,
}

impl EndpointStats {
    pub fn requests(&self) -> u64 {
        self.ok
            + self.too_many
            + self.other_4xx
            + self.unavailable
            + self.other_5xx
            + self.timeouts
            + self.connection_errors
    }
}

/// One pull page: which device, when it was sent, how many rows it carried.
#[derive(Clone, Copy, Debug)]
pub struct PullSample {
    pub device: usize,
    pub at: Instant,
    pub rows: u32,
}

/// Everything recorded between two [`Recorder::take`]s.
#[derive(Debug)]
pub struct Window {
    pub endpoints: BTreeMap<Endpoint, EndpointStats>,
    pub pulls: Vec<PullSample>,
    /// A writer's commit to a device holding the row, in seconds.
    pub staleness_s: Vec<f64>,
    pub cycles_ok: u64,
    pub cycles_failed: u64,
    /// Switched on to first complete sync (login included), in seconds.
    pub initial_syncs_s: Vec<f64>,
    /// (busy, open) connections of the service, sampled from pg_stat_activity.
    pub pool: Vec<(u32, u32)>,
    /// `database.feed_horizon.held_back_seconds` of the health endpoint.
    pub horizon_s: Vec<f64>,
    pub pushes_rejected: u64,
    pub writer_rows: u64,
}

impl Window {
    fn new() -> Window {
        Window {
            endpoints: BTreeMap::new(),
            pulls: Vec::new(),
            staleness_s: Vec::new(),
            cycles_ok: 0,
            cycles_failed: 0,
            initial_syncs_s: Vec::new(),
            pool: Vec::new(),
            horizon_s: Vec::new(),
            pushes_rejected: 0,
            writer_rows: 0,
        }
    }

    pub fn stats(&self, e: Endpoint) -> Option<&EndpointStats> {
        self.endpoints.get(&e)
    }
}

/// The current window, shared by every task of the bench.
#[derive(Debug)]
pub struct Recorder {
    window: Mutex<Window>,
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder { window: Mutex::new(Window::new()) }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Window) -> R) -> R {
        let mut w = self.window.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut w)
    }

    /// Ends the current window and starts the next one now.
    pub fn take(&self) -> Window {
        self.with(|w| std::mem::replace(w, Window::new()))
    }

    pub fn request(&self, endpoint: Endpoint, outcome: Outcome, latency: Duration) {
        self.with(|w| {
            let s = w.endpoints.entry(endpoint).or_default();
            match outcome {
                Outcome::Status(code) => {
                    s.latencies_ms.push(latency.as_secs_f64() * 1000.0);
                    match code {
                        200..=299 => s.ok += 1,
                        429 => s.too_many += 1,
                        503 => s.unavailable += 1,
                        500..=599 => s.other_5xx += 1,
                        _ => s.other_4xx += 1,
                    }
                }
                Outcome::Timeout => s.timeouts += 1,
                Outcome::ConnectionError => s.connection_errors += 1,
            }
        });
    }

    pub fn pull(&self, sample: PullSample, staleness: &[f64]) {
        self.with(|w| {
            w.pulls.push(sample);
            w.staleness_s.extend_from_slice(staleness);
        });
    }

    pub fn cycle(&self, ok: bool) {
        self.with(|w| if ok { w.cycles_ok += 1 } else { w.cycles_failed += 1 });
    }

    pub fn initial_sync(&self, took: Duration) {
        self.with(|w| w.initial_syncs_s.push(took.as_secs_f64()));
    }

    pub fn initial_syncs(&self) -> usize {
        self.with(|w| w.initial_syncs_s.len())
    }

    pub fn pool(&self, busy: u32, open: u32) {
        self.with(|w| w.pool.push((busy, open)));
    }

    pub fn horizon(&self, seconds: f64) {
        self.with(|w| w.horizon_s.push(seconds));
    }

    pub fn push_rejected(&self, n: u64) {
        self.with(|w| w.pushes_rejected += n);
    }

    pub fn writer_row(&self) {
        self.with(|w| w.writer_rows += 1);
    }
}

/// Nearest-rank percentile `p` (0 to 100) of unsorted values; NaN when none.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v[rank.min(v.len()) - 1]
}

pub fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NAN, f64::max)
}

pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() { f64::NAN } else { values.iter().sum::<f64>() / values.len() as f64 }
}

/// Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`, else 100).
pub fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// The fields of /proc/<pid>/stat after the command name: index 0 is the
/// state (field 3 of proc(5)), 1 the parent, 11 and 12 utime and stime, 13
/// and 14 the reaped children's cutime and cstime.
fn stat_fields(pid: u32) -> Option<Vec<u64>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = text.rsplit_once(')')?;
    Some(rest.split_whitespace().map(|f| f.parse::<u64>().unwrap_or(0)).collect())
}

/// CPU seconds (user and system) a process has used; `None` once it is gone.
pub fn process_cpu(pid: u32, ticks: f64) -> Option<f64> {
    let f = stat_fields(pid)?;
    Some((f.get(11)? + f.get(12)?) as f64 / ticks)
}

/// CPU seconds of a PostgreSQL cluster: the postmaster, the backends and
/// background processes alive (its children) but those in `except`, and
/// those that have exited (the postmaster reaped them into its cutime and
/// cstime).
pub fn cluster_cpu(postmaster: u32, ticks: f64, except: &[u32]) -> f64 {
    let Some(f) = stat_fields(postmaster) else { return 0.0 };
    let mut total = f.get(11..15).map(|s| s.iter().sum::<u64>()).unwrap_or(0);
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
            if except.contains(&pid) {
                continue;
            }
            if let Some(c) = stat_fields(pid)
                && c.get(1).copied() == Some(u64::from(postmaster))
            {
                total += c.get(11).copied().unwrap_or(0) + c.get(12).copied().unwrap_or(0);
            }
        }
    }
    total as f64 / ticks
}

/// CPU seconds the whole machine has been busy (every core, /proc/stat:
/// user, nice, system, irq, softirq, steal).
pub fn machine_cpu(ticks: f64) -> f64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else { return 0.0 };
    let f: Vec<u64> = line.split_whitespace().skip(1).map(|v| v.parse().unwrap_or(0)).collect();
    let busy = [0, 1, 2, 5, 6, 7].iter().map(|i| f.get(*i).copied().unwrap_or(0)).sum::<u64>();
    busy as f64 / ticks
}

/// CPU seconds used so far: the service, PostgreSQL, this process, and the
/// whole machine (so that what other processes took shows).
#[derive(Clone, Copy, Debug, Default)]
pub struct Cpu {
    pub service: f64,
    pub postgres: f64,
    pub generator: f64,
    pub machine: f64,
}

impl Cpu {
    /// What processes other than these three used.
    pub fn others(&self) -> f64 {
        (self.machine - self.service - self.postgres - self.generator).max(0.0)
    }
}

impl std::ops::Sub for Cpu {
    type Output = Cpu;
    fn sub(self, o: Cpu) -> Cpu {
        Cpu {
            service: self.service - o.service,
            postgres: self.postgres - o.postgres,
            generator: self.generator - o.generator,
            machine: self.machine - o.machine,
        }
    }
}
