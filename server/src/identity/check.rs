//! Is each identity provider reachable (for health and `doctor`), and are
//! the directory's users still there: every `directory_check_minutes` the
//! service asks each LDAP directory about each enabled user it created, and
//! disables those the directory no longer vouches for (gone, or failing the
//! provider's `enabled_filter`). Their sessions end and every workstation
//! drops their offline verifier at its next sync, even if they never sign
//! in again. (An OpenID provider cannot be asked about a user who is not
//! signing in: its leavers are refused at their next sign-in, and an admin
//! ends access everywhere at once with `wardbook-server user disable`.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use wardbook_protocol::api::{ProviderHealth, ProviderKind};

use super::users::{self, DisabledBy};
use super::{Provider, ProviderConfig, Providers};
use crate::AppState;

/// How long a reachability result is reused: health is polled often.
const REACHABILITY_TTL: Duration = Duration::from_secs(60);

/// The last reachability results and when they were taken.
#[derive(Debug, Default)]
pub struct ReachabilityCache(tokio::sync::Mutex<Option<(Instant, Vec<ProviderHealth>)>>);

/// How long health waits for all providers together: health is what load
/// balancers poll, and a provider that hangs must not take the service out
/// of rotation with it.
const PROBE_BUDGET: Duration = Duration::from_secs(3);

async fn probe(config: &ProviderConfig, provider: &Provider) -> ProviderHealth {
    let check = async {
        match provider {
            Provider::Oidc(p) => p.check().await,
            Provider::Ldap(p) => p.check().await,
        }
    };
    let kind = match provider {
        Provider::Oidc(_) => ProviderKind::Oidc,
        Provider::Ldap(_) => ProviderKind::Ldap,
    };
    let problem = match tokio::time::timeout(PROBE_BUDGET, check).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some(format!("{} did not answer within {} s.", config.name(), PROBE_BUDGET.as_secs())),
    };
    if let Some(problem) = &problem {
        tracing::warn!(provider = config.id(), %problem, "identity provider unreachable");
    }
    ProviderHealth {
        id: config.id().to_owned(),
        name: config.name().to_owned(),
        kind,
        reachable: problem.is_none(),
        problem,
        checked_at: Utc::now(),
    }
}

impl Providers {
    /// Each provider's reachability, checked now (all together, within
    /// [`PROBE_BUDGET`]) or at most a minute ago.
    pub async fn reachability(&self) -> Vec<ProviderHealth> {
        if self.is_empty() {
            return Vec::new();
        }
        let mut cached = self.cache.0.lock().await;
        if let Some((at, results)) = cached.as_ref()
            && at.elapsed() < REACHABILITY_TTL
        {
            return results.clone();
        }
        // All at once, each within the budget: health answers in seconds
        // whatever the providers do.
        let results =
            futures_util::future::join_all(self.iter().map(|(config, provider)| probe(config, provider))).await;
        *cached = Some((Instant::now(), results.clone()));
        results
    }
}

/// One pass over every LDAP provider's enabled users: disables those the
/// directory no longer vouches for. An unreachable directory disables no
/// one (it is reported by health instead). Returns how many were disabled.
pub async fn directory_pass(state: &AppState) -> crate::error::Result<usize> {
    let mut disabled = 0;
    for (config, provider) in state.providers.iter() {
        let Provider::Ldap(ldap) = provider else { continue };
        let db = state.db().await?;
        for (id, subject) in users::enabled_of(&db, config.id()).await? {
            match ldap.is_active(&subject).await {
                Ok(true) => {}
                Ok(false) => {
                    if users::disable(&db, id, DisabledBy::Directory).await? {
                        disabled += 1;
                    }
                }
                Err(e) => {
                    tracing::warn!(provider = config.id(), error = %e, "directory check stopped: directory unavailable");
                    break;
                }
            }
        }
    }
    if disabled > 0 {
        tracing::info!(disabled, "directory check disabled leavers");
    }
    Ok(disabled)
}

/// Runs [`directory_pass`] every `directory_check_minutes` (never when 0 or
/// when no LDAP provider is configured).
pub fn spawn(state: Arc<AppState>) -> Option<tokio::task::JoinHandle<()>> {
    let minutes = state.settings.policy.directory_check_minutes;
    let any_ldap = state.providers.iter().any(|(_, p)| matches!(p, Provider::Ldap(_)));
    if minutes == 0 || !any_ldap {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(u64::from(minutes) * 60));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = directory_pass(&state).await {
                tracing::warn!(error = %e, "directory check failed; retrying at the next interval");
            }
        }
    }))
}
