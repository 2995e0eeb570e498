//! The tables: one per N and scenario as it ends, and the summary.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::Config;
use crate::metrics::{Cpu, Endpoint, EndpointStats, Window, max, mean, percentile};
use crate::setup::LogCounts;

/// Pull p99 above this, or any 503, is where the service breaks.
const PULL_P99_LIMIT_MS: f64 = 1000.0;

/// The endpoints a workstation calls (health is the bench's own probe).
const WORKSTATION: [Endpoint; 4] = [Endpoint::Pull, Endpoint::Push, Endpoint::Audit, Endpoint::Login];

/// One measured window.
#[derive(Debug)]
pub struct Scenario {
    pub n: usize,
    pub devices: usize,
    pub name: &'static str,
    pub seconds: f64,
    pub window: Window,
    pub cpu: Cpu,
    pub log: LogCounts,
    /// Rows PostgreSQL read per table (sequential and index), most first.
    pub table_reads: Vec<(String, i64)>,
    pub notes: Vec<String>,
}

impl Scenario {
    fn pull_ms(&self) -> &[f64] {
        self.window.stats(Endpoint::Pull).map(|s| s.latencies_ms.as_slice()).unwrap_or(&[])
    }

    fn pull_p99(&self) -> f64 {
        percentile(self.pull_ms(), 99.0)
    }

    /// 503s answered to workstations.
    fn unavailable(&self) -> u64 {
        WORKSTATION.iter().filter_map(|e| self.window.stats(*e)).map(|s| s.unavailable).sum()
    }

    fn other_5xx(&self) -> u64 {
        WORKSTATION.iter().filter_map(|e| self.window.stats(*e)).map(|s| s.other_5xx).sum()
    }

    fn requests(&self) -> u64 {
        WORKSTATION.iter().filter_map(|e| self.window.stats(*e)).map(EndpointStats::requests).sum()
    }

    /// Why this window counts as broken, if it does.
    fn broken(&self) -> Option<String> {
        let p99 = self.pull_p99();
        let unavailable = self.unavailable();
        (p99 > PULL_P99_LIMIT_MS || unavailable > 0)
            .then(|| format!("{}: pull p99 {}, {} answers 503", self.name, seconds(p99 / 1000.0), unavailable))
    }

    /// Device cycles completed over those offered (devices / interval);
    /// none for a go-live, where the devices are switched on one by one.
    fn achieved_ratio(&self, cfg: &Config) -> f64 {
        if self.name == "go-live" {
            return f64::NAN;
        }
        let offered = self.devices as f64 / cfg.interval().as_secs_f64();
        self.window.cycles_ok as f64 / self.seconds / offered
    }

    fn per_cycle_ms(&self, cpu_seconds: f64) -> f64 {
        if self.window.cycles_ok == 0 { f64::NAN } else { cpu_seconds * 1000.0 / self.window.cycles_ok as f64 }
    }

    fn staleness_intervals(&self, cfg: &Config, p: f64) -> f64 {
        percentile(&self.window.staleness_s, p) / cfg.interval().as_secs_f64()
    }
}

fn num(v: f64, decimals: usize) -> String {
    if v.is_finite() { format!("{v:.decimals$}") } else { "-".to_owned() }
}

fn seconds(v: f64) -> String {
    if v.is_finite() { format!("{v:.2} s") } else { "-".to_owned() }
}

/// Prints one scenario's table.
pub fn scenario(cfg: &Config, s: &Scenario) {
    let w = &s.window;
    let interval = cfg.interval().as_secs_f64();
    println!();
    println!("--- N = {} ({} devices), {}: {:.1} s measured ---", s.n, s.devices, s.name, s.seconds);
    println!(
        "{:<22} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>5} {:>5} {:>5} {:>5} {:>7} {:>6}",
        "endpoint",
        "requests",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "2xx",
        "429",
        "4xx",
        "503",
        "5xx",
        "timeout",
        "conn"
    );
    for e in Endpoint::ALL {
        let Some(st) = w.stats(e) else { continue };
        let l = &st.latencies_ms;
        println!(
            "{:<22} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>5} {:>5} {:>5} {:>5} {:>7} {:>6}",
            e.name(),
            st.requests(),
            num(st.requests() as f64 / s.seconds, 1),
            num(percentile(l, 50.0), 1),
            num(percentile(l, 95.0), 1),
            num(percentile(l, 99.0), 1),
            num(max(l), 1),
            st.ok,
            st.too_many,
            st.other_4xx,
            st.unavailable,
            st.other_5xx,
            st.timeouts,
            st.connection_errors
        );
    }
    println!(
        "device cycles: {} completed ({}/s), {} failed; offered {}/s (devices / interval = N / 60 s); achieved/offered {}",
        w.cycles_ok,
        num(w.cycles_ok as f64 / s.seconds, 1),
        w.cycles_failed,
        num(s.devices as f64 / interval, 1),
        num(s.achieved_ratio(cfg), 2)
    );
    let rows: Vec<f64> = w.pulls.iter().map(|p| f64::from(p.rows)).collect();
    println!(
        "rows per pull: mean {}, p50 {}, p99 {}, max {} ({} pages, {} rows); writer {} rows ({}/s); pushes rejected {}",
        num(mean(&rows), 1),
        num(percentile(&rows, 50.0), 0),
        num(percentile(&rows, 99.0), 0),
        num(max(&rows), 0),
        rows.len(),
        rows.iter().sum::<f64>(),
        w.writer_rows,
        num(w.writer_rows as f64 / s.seconds, 1),
        w.pushes_rejected
    );
    let pages = rows.len().max(1) as f64;
    let total: i64 = s.table_reads.iter().map(|(_, n)| n).sum();
    let top: Vec<String> =
        s.table_reads.iter().take(6).map(|(t, n)| format!("{t} {}", num(*n as f64 / pages, 0))).collect();
    println!(
        "rows PostgreSQL read per pull page (every statement's sequential and index reads / pages): {}; by table: {}",
        num(total as f64 / pages, 0),
        top.join(", ")
    );
    let st = &w.staleness_s;
    println!(
        "staleness (writer's commit to a device holding the row): {} rows; p50 {}, p95 {}, p99 {}, max {}; in intervals p50 {}, p99 {} (x C = {} s real at p50)",
        st.len(),
        seconds(percentile(st, 50.0)),
        seconds(percentile(st, 95.0)),
        seconds(percentile(st, 99.0)),
        seconds(max(st)),
        num(s.staleness_intervals(cfg, 50.0), 2),
        num(s.staleness_intervals(cfg, 99.0), 2),
        num(percentile(st, 50.0) * cfg.compression, 0)
    );
    let busy: Vec<f64> = w.pool.iter().map(|p| f64::from(p.0)).collect();
    let open: Vec<f64> = w.pool.iter().map(|p| f64::from(p.1)).collect();
    let saturated = w.pool.iter().filter(|p| p.0 as usize >= cfg.pool_size).count();
    println!(
        "pool ({} connections): busy p50 {}, p95 {}, max {}; all busy in {}% of {} samples; open max {}; checkouts failed (log) {}, rolled back by a concurrent txn {}, internal errors {}",
        cfg.pool_size,
        num(percentile(&busy, 50.0), 0),
        num(percentile(&busy, 95.0), 0),
        num(max(&busy), 0),
        num(100.0 * saturated as f64 / w.pool.len().max(1) as f64, 1),
        w.pool.len(),
        num(max(&open), 0),
        s.log.pool_timeouts,
        s.log.concurrent,
        s.log.internal
    );
    println!(
        "horizon lag (health: feed_horizon.held_back_seconds): p50 {}, max {} ({} samples)",
        seconds(percentile(&w.horizon_s, 50.0)),
        seconds(max(&w.horizon_s)),
        w.horizon_s.len()
    );
    println!(
        "CPU: service {:.1} s ({:.0}% of a core), PostgreSQL {:.1} s ({:.0}%), load generator {:.1} s ({:.0}%), other processes {:.1} s ({:.0}%); per device cycle: service {} ms, PostgreSQL {} ms",
        s.cpu.service,
        100.0 * s.cpu.service / s.seconds,
        s.cpu.postgres,
        100.0 * s.cpu.postgres / s.seconds,
        s.cpu.generator,
        100.0 * s.cpu.generator / s.seconds,
        s.cpu.others(),
        100.0 * s.cpu.others() / s.seconds,
        num(s.per_cycle_ms(s.cpu.service), 2),
        num(s.per_cycle_ms(s.cpu.postgres), 2)
    );
    if !w.initial_syncs_s.is_empty() {
        let i = &w.initial_syncs_s;
        println!(
            "initial syncs (switched on to synced, sign-in included): {}; p50 {}, p95 {}, max {}",
            i.len(),
            seconds(percentile(i, 50.0)),
            seconds(percentile(i, 95.0)),
            seconds(max(i))
        );
    }
    for note in &s.notes {
        println!("{note}");
    }
}

/// The notes of the long transaction: the hold, the horizon, the backlog.
pub fn backlog(
    s: &Scenario,
    window_start: Instant,
    opened: Instant,
    committed: Instant,
    hold: std::time::Duration,
) -> Vec<String> {
    let pulls = &s.window.pulls;
    let during: Vec<f64> =
        pulls.iter().filter(|p| p.at > opened && p.at < committed).map(|p| f64::from(p.rows)).collect();
    let mut first_after: BTreeMap<usize, u32> = BTreeMap::new();
    let mut after = pulls.iter().filter(|p| p.at >= committed).collect::<Vec<_>>();
    after.sort_by_key(|p| p.at);
    for p in after {
        first_after.entry(p.device).or_insert(p.rows);
    }
    let backlog: Vec<f64> = first_after.values().map(|r| f64::from(*r)).collect();
    vec![
        format!(
            "a write transaction held open {:.1} s (5 min / C) from {:.1} s into the window; horizon lag reached {}",
            hold.as_secs_f64(),
            opened.saturating_duration_since(window_start).as_secs_f64(),
            seconds(max(&s.window.horizon_s))
        ),
        format!(
            "while it was open: {} pulls carried mean {} rows (the feed stands still); after its commit the first pull of each of {} devices carried mean {}, max {} rows (the backlog), {} rows in all",
            during.len(),
            num(mean(&during), 2),
            backlog.len(),
            num(mean(&backlog), 1),
            num(max(&backlog), 0),
            backlog.iter().sum::<f64>()
        ),
    ]
}

/// The summary across N, the scaling ratios and the first N that breaks.
pub fn summary(cfg: &Config, all: &[Scenario]) {
    println!();
    println!("========== Summary (time compressed x{}; workstation endpoints only) ==========", cfg.compression);
    println!(
        "{:>5} {:>5} {:<16} {:>7} {:>8} {:>8} {:>9} {:>9} {:>9} {:>5} {:>5} {:>6} {:>9} {:>8} {:>11} {:>7}",
        "N",
        "dev",
        "scenario",
        "req/s",
        "cycles/s",
        "ach/off",
        "pull p50",
        "pull p99",
        "pull max",
        "503",
        "5xx",
        "busy%",
        "svc ms/c",
        "pg ms/c",
        "stale p99/i",
        "others%"
    );
    for s in all {
        let w = &s.window;
        let achieved = w.cycles_ok as f64 / s.seconds;
        let pull = s.pull_ms();
        let saturated = w.pool.iter().filter(|p| p.0 as usize >= cfg.pool_size).count();
        println!(
            "{:>5} {:>5} {:<16} {:>7} {:>8} {:>8} {:>9} {:>9} {:>9} {:>5} {:>5} {:>6} {:>9} {:>8} {:>11} {:>7}",
            s.n,
            s.devices,
            s.name,
            num(s.requests() as f64 / s.seconds, 1),
            num(achieved, 1),
            num(s.achieved_ratio(cfg), 2),
            num(percentile(pull, 50.0), 0),
            num(percentile(pull, 99.0), 0),
            num(max(pull), 0),
            s.unavailable(),
            s.other_5xx(),
            num(100.0 * saturated as f64 / w.pool.len().max(1) as f64, 1),
            num(s.per_cycle_ms(s.cpu.service), 2),
            num(s.per_cycle_ms(s.cpu.postgres), 2),
            num(s.staleness_intervals(cfg, 99.0), 2),
            num(100.0 * s.cpu.others() / s.seconds, 0)
        );
    }
    println!(
        "pull in ms; ach/off = device cycles completed / offered (devices / interval); busy% = samples with every pooled connection busy; ms/c = CPU ms per completed device cycle; stale p99/i = staleness p99 in sync intervals; others% = CPU other processes on this machine took (of one core; 200% = both cores)"
    );

    let steady: Vec<&Scenario> = all.iter().filter(|s| s.name == "steady state").collect();
    if let Some(base) = steady.first() {
        println!();
        println!("Scaling, steady state, against N = {} (ratio 1.00 = unchanged):", base.n);
        println!(
            "{:>5} {:>8} {:>10} {:>13} {:>13} {:>14} {:>14}",
            "N", "N ratio", "req/s", "req/s ratio", "pull p99", "service CPU/c", "PG CPU/c"
        );
        for s in &steady {
            let rate = s.requests() as f64 / s.seconds;
            let base_rate = base.requests() as f64 / base.seconds;
            println!(
                "{:>5} {:>8} {:>10} {:>13} {:>13} {:>14} {:>14}",
                s.n,
                num(s.n as f64 / base.n as f64, 2),
                num(rate, 1),
                num(rate / base_rate, 2),
                num(s.pull_p99() / base.pull_p99(), 2),
                num(s.per_cycle_ms(s.cpu.service) / base.per_cycle_ms(base.cpu.service), 2),
                num(s.per_cycle_ms(s.cpu.postgres) / base.per_cycle_ms(base.cpu.postgres), 2)
            );
        }
    }

    println!();
    let largest = all.iter().map(|s| s.n).max().unwrap_or(0);
    let mut names: Vec<&'static str> = Vec::new();
    for s in all {
        if !names.contains(&s.name) {
            names.push(s.name);
        }
    }
    for name in names {
        let first = all.iter().filter(|s| s.name == name).find_map(|s| s.broken().map(|why| (s.n, why)));
        match first {
            Some((n, why)) => println!("  {name:<16} first breaks at N = {n} ({why})"),
            None => println!("  {name:<16} holds up to N = {largest}"),
        }
    }
    let mut ns: Vec<usize> = all.iter().map(|s| s.n).collect();
    ns.dedup();
    let first = ns.iter().find_map(|n| {
        let why: Vec<String> = all.iter().filter(|s| s.n == *n).filter_map(Scenario::broken).collect();
        (!why.is_empty()).then(|| (n, why.join("; ")))
    });
    match first {
        Some((n, why)) => println!("first N where pull p99 > 1 s or a 503 appears: N = {n} ({why})"),
        None => println!("first N where pull p99 > 1 s or a 503 appears: none up to N = {largest}"),
    }
}
