//! Reads from streaming replicas: the change feed's pulls (every
//! workstation, every minute: most of the service's reads) go to a hot
//! standby when one is configured (`WARDBOOK_DATABASE_REPLICA_URLS`) and
//! fit to serve, and to the primary otherwise. Writes, sign-in and device
//! authentication always use the primary.
//!
//! **Fit to serve** is decided by a monitor that checks every replica once
//! a second: it answers, it is still a standby (`pg_is_in_recovery()`; a
//! promoted one is never read from, whatever its data), and its lag is at
//! most `policy.replica_max_lag_seconds`. The lag is measured against the
//! primary itself: the monitor notes the primary's WAL position at each
//! check, and a replica's lag is the age of the oldest noted position it has
//! not yet replayed (0 when it has replayed everything noted). A request
//! that fails on a replica (it stopped, its connection broke, a query was
//! cancelled by a conflict with recovery) is answered from the primary at
//! once; a lost connection also takes the replica out of use until the
//! monitor finds it back.
//!
//! **No skipped rows on a standby.** The feed's horizon is the xmin of the
//! reading snapshot (`crate::feed`); on a standby that snapshot is the
//! primary's as far as WAL is replayed, so every transaction below its
//! xmin has committed or aborted there too. What a standby cannot do is
//! serve a cursor the primary (or a replica further ahead) issued beyond
//! its own horizon: a page is read from a replica only when the replica's
//! xmin has reached the cursor's window end (or its start, for a new
//! window); otherwise it is read from the primary (`feed::pull` with
//! [`crate::feed::Source::Replica`]).

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use wardbook_protocol::api::{ReadRouting, ReadTarget, ReplicaReadState, ReplicaReads};

use crate::AppState;
use crate::db::{self, DbSetupError};

/// How often the monitor checks each replica.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The configured replicas and what the monitor last found of each.
#[derive(Debug)]
pub struct Replicas {
    members: Vec<Member>,
    /// Round robin over the replicas in use.
    next: AtomicUsize,
    max_lag: Duration,
    /// The primary's WAL position at each check, oldest first.
    primary_positions: Mutex<VecDeque<(Instant, i64)>>,
}

#[derive(Debug)]
struct Member {
    pool: db::Pool,
    target: String,
    state: Mutex<Found>,
    pulls_served: AtomicU64,
    fallbacks: AtomicU64,
}

/// What the last check (or the last failed request) found.
#[derive(Clone, Debug)]
struct Found {
    state: ReplicaReadState,
    lag_seconds: Option<f64>,
    problem: Option<String>,
    checked_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A replica picked for one request.
#[derive(Clone, Copy, Debug)]
pub struct Picked<'a> {
    replicas: &'a Replicas,
    index: usize,
}

impl Picked<'_> {
    pub fn pool(&self) -> &db::Pool {
        &self.replicas.members[self.index].pool
    }

    /// The request was answered from this replica.
    pub fn served(&self) {
        self.replicas.members[self.index].pulls_served.fetch_add(1, Ordering::Relaxed);
    }

    /// The request went to the primary instead: the replica is behind the
    /// cursor (`lost` false), or failed (`lost` true when the connection is
    /// gone, which takes the replica out of use until the monitor sees it
    /// answer again).
    pub fn fell_back(&self, lost: Option<String>) {
        let member = &self.replicas.members[self.index];
        member.fallbacks.fetch_add(1, Ordering::Relaxed);
        if let Some(problem) = lost {
            tracing::warn!(target = %member.target, %problem, "a read on a replica failed; reads go to the primary until it answers again");
            let mut found = lock(&member.state);
            found.state = ReplicaReadState::Down;
            found.problem = Some(problem);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Replicas {
    /// A pool per replica URL (connected as the primary's: TLS verified
    /// against `ca_file`, or plain to loopback only). No connection is made
    /// here; nothing is read from a replica before the monitor's first check.
    pub fn new(
        urls: &[String],
        ca_file: Option<&Path>,
        pool_size: usize,
        max_lag: Duration,
    ) -> Result<Replicas, DbSetupError> {
        let members = urls
            .iter()
            .map(|url| {
                let (pool, target) = db::pool(url, ca_file, pool_size)?;
                Ok(Member {
                    pool,
                    target,
                    state: Mutex::new(Found {
                        state: ReplicaReadState::Unchecked,
                        lag_seconds: None,
                        problem: None,
                        checked_at: None,
                    }),
                    pulls_served: AtomicU64::new(0),
                    fallbacks: AtomicU64::new(0),
                })
            })
            .collect::<Result<Vec<_>, DbSetupError>>()?;
        Ok(Replicas { members, next: AtomicUsize::new(0), max_lag, primary_positions: Mutex::new(VecDeque::new()) })
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The next replica in use, or `None`: read from the primary.
    pub fn pick(&self) -> Option<Picked<'_>> {
        let n = self.members.len();
        if n == 0 {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|i| (start + i) % n)
            .find(|&i| lock(&self.members[i].state).state == ReplicaReadState::InUse)
            .map(|index| Picked { replicas: self, index })
    }

    /// Where reads go now, and each replica's state, for health.
    pub fn routing(&self) -> ReadRouting {
        let replicas: Vec<ReplicaReads> = self
            .members
            .iter()
            .map(|m| {
                let found = lock(&m.state).clone();
                ReplicaReads {
                    target: m.target.clone(),
                    state: found.state,
                    lag_seconds: found.lag_seconds,
                    problem: found.problem,
                    checked_at: found.checked_at,
                    pulls_served: m.pulls_served.load(Ordering::Relaxed),
                    fallbacks: m.fallbacks.load(Ordering::Relaxed),
                }
            })
            .collect();
        let pulls_to = if replicas.iter().any(|r| r.state == ReplicaReadState::InUse) {
            ReadTarget::Replicas
        } else {
            ReadTarget::Primary
        };
        ReadRouting { pulls_to, max_lag_seconds: self.max_lag.as_secs_f64(), replicas }
    }

    /// One check of every replica against the primary (see the module doc).
    pub async fn check(&self, primary: &db::Pool) {
        if self.members.is_empty() {
            return;
        }
        let now = Instant::now();
        match primary_position(primary).await {
            Ok(position) => {
                let mut positions = lock(&self.primary_positions);
                positions.push_back((now, position));
                // Older positions matter only to say "further behind than the limit".
                let keep = self.max_lag + CHECK_EVERY * 5;
                while positions.front().is_some_and(|(at, _)| now.duration_since(*at) > keep) {
                    positions.pop_front();
                }
            }
            Err(problem) => {
                // Without the primary no lag can be measured: the states
                // found last stand (and pulls fail at authentication anyway).
                tracing::warn!(%problem, "replica check: the primary's WAL position cannot be read");
                return;
            }
        }
        for member in &self.members {
            let found = match replica_position(&member.pool).await {
                Err(problem) => Found {
                    state: ReplicaReadState::Down,
                    lag_seconds: None,
                    problem: Some(problem),
                    checked_at: Some(chrono::Utc::now()),
                },
                Ok(None) => Found {
                    state: ReplicaReadState::NotAStandby,
                    lag_seconds: None,
                    problem: Some(
                        "It is not in recovery: it was promoted or is not a replica. It is never read from; remove it from WARDBOOK_DATABASE_REPLICA_URLS or rebuild it as a standby."
                            .to_owned(),
                    ),
                    checked_at: Some(chrono::Utc::now()),
                },
                Ok(Some(replayed)) => {
                    let lag = {
                        let positions = lock(&self.primary_positions);
                        positions
                            .iter()
                            .find(|(_, position)| *position > replayed)
                            .map_or(Duration::ZERO, |(at, _)| now.duration_since(*at))
                    };
                    let lagging = lag > self.max_lag;
                    Found {
                        state: if lagging { ReplicaReadState::Lagging } else { ReplicaReadState::InUse },
                        lag_seconds: Some(lag.as_secs_f64()),
                        problem: lagging.then(|| {
                            format!(
                                "It is {:.0} s behind the primary, more than the limit ({} s): reads go to the primary until it catches up.",
                                lag.as_secs_f64(),
                                self.max_lag.as_secs()
                            )
                        }),
                        checked_at: Some(chrono::Utc::now()),
                    }
                }
            };
            let mut state = lock(&member.state);
            if state.state != found.state {
                tracing::info!(target = %member.target, from = ?state.state, to = ?found.state, "replica state changed");
            }
            *state = found;
        }
    }
}

async fn primary_position(pool: &db::Pool) -> Result<i64, String> {
    let client = pool.get().await.map_err(|e| e.to_string())?;
    let row = client
        .query_one("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint", &[])
        .await
        .map_err(|e| db::describe(&e))?;
    Ok(row.get(0))
}

/// The replica's replayed WAL position, or `None` when it is not a standby.
async fn replica_position(pool: &db::Pool) -> Result<Option<i64>, String> {
    let client = pool.get().await.map_err(|e| format!("it cannot be reached ({e})"))?;
    let row = client
        .query_one(
            "SELECT pg_is_in_recovery(), pg_wal_lsn_diff(coalesce(pg_last_wal_replay_lsn(), '0/0'), '0/0')::bigint",
            &[],
        )
        .await
        .map_err(|e| format!("it does not answer ({})", db::describe(&e)))?;
    Ok(row.get::<_, bool>(0).then(|| row.get(1)))
}

/// Checks the replicas every [`CHECK_EVERY`] while the service runs; `None`
/// when none is configured.
pub fn spawn_monitor(state: Arc<AppState>) -> Option<JoinHandle<()>> {
    if state.replicas.is_empty() {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            state.replicas.check(&state.pool).await;
        }
    }))
}
