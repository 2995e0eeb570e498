//! The synthetic wards of the benchmark.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use uuid::Uuid;
use wardbook_protocol::api::{Change, PullResponse};
use wardbook_protocol::synthetic::{SyntheticConfig, SyntheticWard, generate};
use wardbook_protocol::{Allergy, Observation, Patient};

use super::{SMALL_PATIENTS, SMALL_WARD};

/// The hospital: `patients` spread evenly over `wards` (the benchmark's
/// device serves the first), with `days` chosen so the generator makes at
/// least `wanted` observations, then trimmed (or topped up with fresh ids).
pub fn big_ward(patients: usize, wanted: usize, anchor: DateTime<Utc>, wards: &[String]) -> SyntheticWard {
    let probe_patients = patients.clamp(1, 200);
    let mut config = SyntheticConfig::new(2026, probe_patients, anchor);
    config.locations = wards.to_vec();
    config.days = 1;
    let per_patient_day = generate(&config).observations.len().max(1) as f64 / probe_patients as f64;
    config.days = ((wanted as f64 / patients.max(1) as f64 / per_patient_day).ceil() as u32).max(1);
    config.patients = patients;
    let mut ward = generate(&config);
    // Later days add slightly fewer rows per day than the first (admission draws).
    while ward.observations.len() < wanted && config.days < 60 {
        config.days += 1;
        ward = generate(&config);
    }
    println!("{} days of data: {} observations generated", config.days, ward.observations.len());
    // Keep `wanted` of them spread evenly over every patient's stay.
    let total = ward.observations.len();
    if total > wanted {
        let mut i = 0usize;
        ward.observations.retain(|_| {
            let keep = (i + 1) * wanted / total > i * wanted / total;
            i += 1;
            keep
        });
    }
    let n = ward.observations.len();
    let mut i = 0;
    while ward.observations.len() < wanted && n > 0 {
        let mut o = ward.observations[i % n].clone();
        o.id = Uuid::now_v7();
        ward.observations.push(o);
        i += 1;
    }
    // The sync benchmark measures patients, observations and allergies
    // against a raw insert of the same rows; medications are not part of it.
    ward.medication_requests.clear();
    ward.medication_administrations.clear();
    ward
}

/// A few patients on their own location, with MRNs that do not collide with
/// the big ward's.
pub fn small_ward(big: &SyntheticWard, anchor: DateTime<Utc>) -> SyntheticWard {
    let mut config = SyntheticConfig::new(9090, SMALL_PATIENTS * 2, anchor);
    config.locations = vec![SMALL_WARD.to_owned()];
    config.days = 1;
    let mut ward = generate(&config);
    let taken: HashSet<&str> = big.patients.iter().map(|p| p.mrn.as_str()).collect();
    ward.patients.retain(|p| !taken.contains(p.mrn.as_str()));
    ward.patients.truncate(SMALL_PATIENTS);
    let kept: HashSet<Uuid> = ward.patients.iter().map(|p| p.id).collect();
    ward.observations.retain(|o| kept.contains(&o.patient_id));
    ward.allergies.retain(|a| kept.contains(&a.patient_id));
    ward.medication_requests.clear();
    ward.medication_administrations.clear();
    ward
}

/// The rows of a page by kind (removals left out).
pub fn split(page: &PullResponse) -> (Vec<Patient>, Vec<Observation>, Vec<Allergy>) {
    let (mut p, mut o, mut a) = (Vec::new(), Vec::new(), Vec::new());
    for change in &page.changes {
        match change {
            Change::Patient { patient } => p.push(patient.clone()),
            Change::Observation { observation } => o.push(observation.clone()),
            Change::Allergy { allergy } => a.push(allergy.clone()),
            // The benchmark's wards have no medications (see `big_ward`).
            Change::Remove { .. }
            | Change::MedicationRequest { .. }
            | Change::MedicationAdministration { .. }
            | Change::DoseReview { .. } => {}
        }
    }
    (p, o, a)
}
