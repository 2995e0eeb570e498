//! A deterministic generator of realistic synthetic ward data, for
//! development and tests only (DESIGN.md section 9). Production never calls
//! it; everything it makes is marked: `synthetic = true`, `SYN-` MRNs, 555-01xx
//! phones, `synthetic.test` emails, source system `wardbook-synthetic`.
//!
//! # Determinism
//!
//! The output depends on [`SyntheticConfig`] alone: no clock (`Utc::now()`),
//! no OS randomness, no hash-map iteration order. Randomness is ChaCha8 seeded
//! with `seed_from_u64`, which is specified bit for bit, so the same config
//! gives byte-identical JSON on every platform and run. Floating point uses
//! only `+ - * /` and rounding (no `sin`, `exp` or `ln`, whose last bits vary
//! between math libraries).
//!
//! Each patient draws from its own ChaCha streams (one per concern:
//! demographics, vitals, labs, allergies), so patient `i` is the same whatever
//! the number of patients, and changing, say, the lab generator leaves the
//! vitals as they were.
//!
//! # What tests may rely on
//!
//! - Patient 0 is [`Profile::Febrile`] (temperatures 38.0 to 39.8 Cel,
//!   tachycardia, raised WBC) and has at least one active, confirmed,
//!   high-criticality medication allergy.
//! - Patient 1 is [`Profile::Hypertensive`] (SBP 150 to 190, DBP 95 to 115)
//!   and has at least one critical (HH) potassium (on its admission draw,
//!   so when `days` >= 1).
//! - Patient 2 is [`Profile::Stable`] (every vital sign in its normal band)
//!   and has no allergies.
//! - Every patient with a location has a bed, and no two patients share a
//!   bed on one location.
//! - Every row passes `validate_patient` (today = the anchor's date),
//!   `validate_observation` or `validate_allergy`, and every medication row
//!   its `validate_*`.
//! - Patient 0 is prescribed amoxicillin (which its penicillin allergy
//!   stops) and paracetamol as needed; every patient has two or more orders.

mod allergies;
mod labs;
pub mod medications;
mod names;
mod vitals;

use chrono::{DateTime, Duration, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::medication::{MedicationAdministration, MedicationRequest};
use crate::{
    Allergy, Coding, Interpretation, Observation, ObservationCategory, ObservationStatus, ObservationValue, Patient,
    Quantity, ReferenceRange,
};

/// The `source_system` of every synthetic patient.
pub const SOURCE_SYSTEM: &str = "wardbook-synthetic";
/// `recorded_by` of synthetic vital signs.
pub const RECORDED_BY_NURSE: &str = "synthetic-nurse";
/// `recorded_by` of synthetic laboratory results.
pub const RECORDED_BY_LAB: &str = "synthetic-lab";
/// `recorded_by` of synthetic allergies.
pub const RECORDED_BY_CLINICIAN: &str = "synthetic-clinician";
/// `SYN-` plus six digits allows this many distinct MRNs; larger requests
/// are capped to it.
pub const MAX_PATIENTS: usize = 1_000_000;

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntheticConfig {
    pub seed: u64,
    pub patients: usize,
    /// "Now" for the generated ward: the last observation is at or before it,
    /// patients' `updated_at` equals it, and birth dates are not after it.
    pub anchor: DateTime<Utc>,
    /// Length of the stay so far: vitals and labs cover the `days` days
    /// before the anchor.
    pub days: u32,
    /// Patients are spread over these locations in turn (none when empty),
    /// each in the next free bed of its location: "01", "02", ...
    pub locations: Vec<String>,
}

impl SyntheticConfig {
    /// Five days of data on wards 7A and 7B.
    pub fn new(seed: u64, patients: usize, anchor: DateTime<Utc>) -> Self {
        Self { seed, patients, anchor, days: 5, locations: vec!["Ward 7A".to_owned(), "Ward 7B".to_owned()] }
    }
}

/// A generated ward. `Debug` prints counts only (the rows look like PHI).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyntheticWard {
    pub patients: Vec<Patient>,
    pub observations: Vec<Observation>,
    pub allergies: Vec<Allergy>,
    #[serde(default)]
    pub medication_requests: Vec<MedicationRequest>,
    #[serde(default)]
    pub medication_administrations: Vec<MedicationAdministration>,
}

impl std::fmt::Debug for SyntheticWard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyntheticWard")
            .field("patients", &self.patients.len())
            .field("observations", &self.observations.len())
            .field("allergies", &self.allergies.len())
            .field("medication_requests", &self.medication_requests.len())
            .field("medication_administrations", &self.medication_administrations.len())
            .finish()
    }
}

/// The clinical picture a synthetic patient's vitals and labs follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Profile {
    /// Normal vital signs with small noise.
    Stable,
    /// Fever 38.0 to 39.8 Cel with diurnal swings, tachycardia, raised WBC.
    Febrile,
    /// SBP 150 to 190 and DBP 95 to 115 `mm[Hg]`, somewhat raised creatinine.
    Hypertensive,
    /// COPD-like: SpO2 88 to 93 %, tachypnoea, raised bicarbonate.
    Hypoxic,
}

/// The profile of patient `index`: fixed for 0, 1 and 2 (febrile,
/// hypertensive, stable), drawn from the seed for the others.
pub fn profile(seed: u64, index: usize) -> Profile {
    match index {
        0 => Profile::Febrile,
        1 => Profile::Hypertensive,
        2 => Profile::Stable,
        _ => match stream(seed, index, Stream::Profile).random_range(0..100u32) {
            0..20 => Profile::Febrile,
            20..45 => Profile::Hypertensive,
            45..85 => Profile::Stable,
            _ => Profile::Hypoxic,
        },
    }
}

/// Generates a ward from `cfg` alone (see the module documentation).
pub fn generate(cfg: &SyntheticConfig) -> SyntheticWard {
    generate_range(cfg, 0..cfg.patients)
}

/// The patients of `cfg` whose index is in `indexes` (below `cfg.patients`
/// and `MAX_PATIENTS`), with their rows: the same rows `generate` makes for
/// them, since every patient's rows come from their own streams. A large
/// ward can be made a slice at a time, without holding all of it.
pub fn generate_range(cfg: &SyntheticConfig, indexes: std::ops::Range<usize>) -> SyntheticWard {
    let count = cfg.patients.min(MAX_PATIENTS);
    let mut ward = SyntheticWard::default();
    let base = stream(cfg.seed, usize::MAX, Stream::Profile).random_range(0..1_000_000u32);
    for index in indexes.start.min(count)..indexes.end.min(count) {
        let mrn = mrn_number(base, index);
        let mut rng = stream(cfg.seed, index, Stream::Demographics);
        let patient = names::patient(&mut rng, cfg, index, mrn);
        let stay = Stay {
            patient: &patient,
            index,
            profile: profile(cfg.seed, index),
            admitted: admission(cfg, index),
            anchor: cfg.anchor,
        };
        ward.observations.extend(vitals::series(&mut stream(cfg.seed, index, Stream::Vitals), &stay));
        ward.observations.extend(labs::series(&mut stream(cfg.seed, index, Stream::Labs), &stay));
        ward.allergies.extend(allergies::generate(&mut stream(cfg.seed, index, Stream::Allergies), &stay));
        let mut rng = stream(cfg.seed, index, Stream::Medications);
        let orders = medications::orders(&mut rng, &stay);
        ward.medication_administrations.extend(medications::administrations(&mut rng, &stay, &orders));
        ward.medication_requests.extend(orders);
        ward.patients.push(patient);
    }
    ward
}

/// MRN digits `(base + index * stride) mod 10^6`: distinct for every index
/// below 10^6 because the stride is coprime with 10^6, yet not sequential
/// (so no one reads meaning into them).
fn mrn_number(base: u32, index: usize) -> u32 {
    const STRIDE: u64 = 382_871;
    let n = (u64::from(base) + (index as u64 % 1_000_000) * STRIDE) % 1_000_000;
    u32::try_from(n).unwrap_or_default()
}

/// What the per-concern generators need to know about a patient's stay.
pub(crate) struct Stay<'a> {
    pub patient: &'a Patient,
    pub index: usize,
    pub profile: Profile,
    pub admitted: DateTime<Utc>,
    pub anchor: DateTime<Utc>,
}

/// Admitted `days` days before the anchor, up to three hours later, never
/// after the anchor.
fn admission(cfg: &SyntheticConfig, index: usize) -> DateTime<Utc> {
    let mut rng = stream(cfg.seed, index, Stream::Admission);
    let start = cfg.anchor - Duration::days(i64::from(cfg.days));
    (start + Duration::minutes(rng.random_range(0..=180i64))).min(cfg.anchor)
}

#[derive(Clone, Copy)]
enum Stream {
    Profile = 0,
    Admission = 1,
    Demographics = 2,
    Vitals = 3,
    Labs = 4,
    Allergies = 5,
    Medications = 6,
}

/// The ChaCha stream of one concern of one patient.
fn stream(seed: u64, index: usize, concern: Stream) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream((index as u64).wrapping_mul(8).wrapping_add(concern as u64));
    rng
}

/// A UUID v7 for a row made at `at`: the timestamp from `at`, the rest from
/// the RNG (so ids are deterministic too).
pub(crate) fn new_id(rng: &mut ChaCha8Rng, at: DateTime<Utc>) -> Uuid {
    let mut bytes = [0u8; 10];
    rng.fill(&mut bytes);
    let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &bytes).into_uuid()
}

/// A uniformly chosen element (by `u32` index, which samples identically on
/// 32- and 64-bit targets).
pub(crate) fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    let len = u32::try_from(items.len()).unwrap_or(u32::MAX).max(1);
    items[rng.random_range(0..len) as usize]
}

/// Uniform in `[-half_width, half_width]`, peaked at 0 (sum of two uniforms):
/// measurement noise without transcendental functions.
pub(crate) fn jitter(rng: &mut ChaCha8Rng, half_width: f64) -> f64 {
    (rng.random::<f64>() + rng.random::<f64>() - 1.0) * half_width
}

/// `value` rounded to `decimals` (0 to 2) decimal places.
pub(crate) fn round_to(value: f64, decimals: u32) -> f64 {
    let scale = match decimals {
        0 => 1.0,
        1 => 10.0,
        _ => 100.0,
    };
    (value * scale).round() / scale
}

/// One quantity to record.
pub(crate) struct Measurement {
    pub category: ObservationCategory,
    pub code: Coding,
    pub panel: Option<Coding>,
    pub value: f64,
    pub unit: &'static str,
    pub reference_range: Option<ReferenceRange>,
    pub interpretation: Option<Interpretation>,
    pub recorded_by: &'static str,
}

/// A final observation of `m` for the stay's patient at `at`.
pub(crate) fn observation(rng: &mut ChaCha8Rng, stay: &Stay<'_>, at: DateTime<Utc>, m: Measurement) -> Observation {
    Observation {
        id: new_id(rng, at),
        version: 1,
        updated_at: at,
        deleted: false,
        synthetic: true,
        patient_id: stay.patient.id,
        category: m.category,
        code: m.code,
        panel: m.panel,
        value: ObservationValue::Quantity(Quantity { value: m.value, unit: m.unit.to_owned() }),
        reference_range: m.reference_range,
        interpretation: m.interpretation,
        status: ObservationStatus::Final,
        status_reason: None,
        effective_at: at,
        recorded_by: m.recorded_by.to_owned(),
    }
}

#[cfg(test)]
mod tests;
