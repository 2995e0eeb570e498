//! Synthetic data for development, tests and benchmarks: a seeded ward, a
//! first development start's cache, a clinician's activity, an audit
//! backlog. All refused in production. The CLI's `dev` subcommands and the
//! window's first start call these; nothing here parses or prints.

use wardbook_protocol::synthetic::{SyntheticConfig, generate};

use crate::config::Environment;
use crate::store::{Store, StoreError};
use crate::workstation::Workstation;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeedError {
    #[error(
        "Synthetic data is never loaded in production (WARDBOOK_ENV is production or unset). Use a development or test installation."
    )]
    Production,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Counts of what `seed` wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedReport {
    pub patients: usize,
    pub observations: usize,
    pub allergies: usize,
    /// Medication orders, and the doses charted against them.
    pub medication_orders: usize,
    pub medication_administrations: usize,
}

/// Writes a deterministic synthetic ward into the store. Refused in production.
pub fn seed(store: &mut Store, env: Environment, patients: usize, seed: u64) -> Result<SeedReport, SeedError> {
    if env == Environment::Production {
        return Err(SeedError::Production);
    }
    // Anchored to the current hour so the vitals are recent; same seed and
    // hour, same data.
    let now = chrono::Utc::now();
    let anchor = chrono::DurationRound::duration_trunc(now, chrono::TimeDelta::hours(1)).unwrap_or(now);
    let ward = generate(&SyntheticConfig::new(seed, patients, anchor));
    store.upsert_patients(&ward.patients)?;
    store.upsert_observations(&ward.observations)?;
    store.upsert_allergies(&ward.allergies)?;
    store.upsert_medications(&ward.medication_requests, &ward.medication_administrations, &[])?;
    Ok(SeedReport {
        patients: ward.patients.len(),
        observations: ward.observations.len(),
        allergies: ward.allergies.len(),
        medication_orders: ward.medication_requests.len(),
        medication_administrations: ward.medication_administrations.len(),
    })
}

/// What `activity` did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ActivityReport {
    pub edits: u64,
    pub views: u64,
}

/// Development and fault tests: `iterations` times, opens a cached patient's
/// chart (an audited view) and records a synthetic heart rate for them (an
/// edit with its outbox entry), each in its own transaction, as a clinician
/// at another window would. Refused in production.
pub fn activity(
    store: &mut Store,
    env: Environment,
    ctx: &crate::audit::AccessContext,
    iterations: u64,
) -> Result<ActivityReport, SeedError> {
    use wardbook_protocol::{
        Coding, LOINC, Observation, ObservationCategory, ObservationStatus, ObservationValue, Quantity,
    };
    if env == Environment::Production {
        return Err(SeedError::Production);
    }
    let mut report = ActivityReport::default();
    for i in 0..iterations {
        let census = crate::audit::reads::census(store, ctx, None)?;
        report.views += 1;
        let Some(patient) = census.get(i as usize % census.len().max(1)).map(|p| p.id) else { continue };
        crate::audit::reads::open_chart(store, ctx, patient, &crate::audit::reads::Source::Cache)?;
        report.views += 1;
        let now = chrono::Utc::now();
        let observation = Observation {
            id: uuid::Uuid::nil(),
            version: 0,
            updated_at: now,
            deleted: false,
            synthetic: true,
            patient_id: patient,
            category: ObservationCategory::VitalSigns,
            code: Coding { system: LOINC.to_owned(), code: "8867-4".into(), display: "Heart rate".into() },
            panel: None,
            value: ObservationValue::Quantity(Quantity { value: 60.0 + (i % 40) as f64, unit: "/min".into() }),
            reference_range: None,
            interpretation: None,
            status: ObservationStatus::Final,
            status_reason: None,
            effective_at: now,
            recorded_by: String::new(),
        };
        crate::edits::record_observation(store, ctx, observation)?;
        report.edits += 1;
    }
    Ok(report)
}

/// Benchmarks: `count` audit events (census-list views, no patient) in one
/// transaction, as if a workstation had been offline for a long shift.
/// Refused in production.
pub fn audit_backlog(
    store: &mut Store,
    env: Environment,
    ctx: &crate::audit::AccessContext,
    count: u64,
) -> Result<(), SeedError> {
    use wardbook_protocol::{AuditAction, AuditOutcome, AuditSubtype};
    if env == Environment::Production {
        return Err(SeedError::Production);
    }
    let device_id = store.device_id();
    let access = crate::audit::Access {
        action: AuditAction::Read,
        subtype: AuditSubtype::CensusList,
        patient: None,
        outcome: AuditOutcome::Success,
    };
    store.transaction(|db| {
        for _ in 0..count {
            crate::audit::record(db, device_id, ctx, access)?;
        }
        Ok(())
    })?;
    Ok(())
}

/// In development with no server configured, a first start fills the empty
/// cache with synthetic data so there is something to work with.
pub fn seed_if_empty_development(ws: &mut Workstation) -> Result<bool, SeedError> {
    if ws.config.environment != Environment::Development || ws.config.server_url.is_some() || !ws.store.is_empty()? {
        return Ok(false);
    }
    seed(&mut ws.store, ws.config.environment, DEFAULT_SEED_PATIENTS, DEFAULT_SEED)?;
    Ok(true)
}

/// What `make run` shows on a fresh machine.
pub const DEFAULT_SEED_PATIENTS: usize = 24;
pub const DEFAULT_SEED: u64 = 42;
