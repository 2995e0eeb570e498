//! Synthetic medication orders and the doses already charted against them:
//! a small ward formulary (RxNorm ingredient codes, SNOMED CT routes) with
//! the timings wards use, high-alert drugs among them, and the last day's
//! administrations by a synthetic nurse, so the MAR has history.
//!
//! Patient 0 (penicillin allergy) is prescribed amoxicillin: the allergy
//! check stops its doses until overridden, as it must.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{Stay, new_id, pick};
use crate::medication::{
    AdministrationStatus, Dose, MedicationAdministration, MedicationRequest, MedicationRequestStatus, NotGivenReason,
    Timing, due_times,
};
use crate::{Coding, RXNORM, SNOMED_CT};

/// `performer` of synthetic administrations and the prescriber's name.
pub const SYNTHETIC_NURSE: &str = "synthetic-nurse";
pub const SYNTHETIC_PRESCRIBER: &str = "Dr Synthetic (SYNTHETIC)";

#[derive(Clone, Copy)]
struct Drug {
    code: &'static str,
    display: &'static str,
    generic: &'static str,
    strength: &'static str,
    dose: f64,
    unit: &'static str,
    route: (&'static str, &'static str),
    timing: Form,
    high_alert: bool,
    indication: &'static str,
}

#[derive(Clone, Copy)]
enum Form {
    Fixed(&'static [(u32, u32)]),
    Every(u32),
    PerDay(u32),
    Prn(u32, Option<f64>),
}

const ORAL: (&str, &str) = ("26643006", "Oral route");
const SUBCUT: (&str, &str) = ("34206005", "Subcutaneous route");
const IV: (&str, &str) = ("47625008", "Intravenous route");
const INHALED: (&str, &str) = ("447694001", "Respiratory tract route");

#[expect(clippy::too_many_arguments, reason = "a formulary row: one argument per column")]
const fn drug(
    code: &'static str,
    display: &'static str,
    generic: &'static str,
    strength: &'static str,
    (dose, unit): (f64, &'static str),
    route: (&'static str, &'static str),
    timing: Form,
    high_alert: bool,
    indication: &'static str,
) -> Drug {
    Drug { code, display, generic, strength, dose, unit, route, timing, high_alert, indication }
}

const PARACETAMOL: Drug = drug(
    "161",
    "Paracetamol 500 mg tablet",
    "paracetamol",
    "500 mg per tablet",
    (1000.0, "mg"),
    ORAL,
    Form::Prn(240, Some(4000.0)),
    false,
    "Pain or fever",
);
const AMOXICILLIN: Drug = drug(
    "723",
    "Amoxicillin 500 mg capsule",
    "amoxicillin",
    "500 mg per capsule",
    (500.0, "mg"),
    ORAL,
    Form::PerDay(3),
    false,
    "Community-acquired pneumonia",
);

const FORMULARY: &[Drug] = &[
    drug(
        "7646",
        "Omeprazole 20 mg capsule",
        "omeprazole",
        "20 mg per capsule",
        (20.0, "mg"),
        ORAL,
        Form::Fixed(&[(8, 0)]),
        false,
        "Gastric protection",
    ),
    drug(
        "67108",
        "Enoxaparin 40 mg/0.4 mL injection",
        "enoxaparin",
        "40 mg in 0.4 mL",
        (40.0, "mg"),
        SUBCUT,
        Form::Fixed(&[(18, 0)]),
        true,
        "Thromboprophylaxis",
    ),
    drug(
        "6809",
        "Metformin 500 mg tablet",
        "metformin",
        "500 mg per tablet",
        (500.0, "mg"),
        ORAL,
        Form::PerDay(2),
        false,
        "Type 2 diabetes",
    ),
    drug(
        "274783",
        "Insulin glargine 100 units/mL",
        "insulin glargine",
        "100 units per mL",
        (12.0, "[iU]"),
        SUBCUT,
        Form::Fixed(&[(22, 0)]),
        true,
        "Type 2 diabetes",
    ),
    drug(
        "7052",
        "Morphine sulfate 10 mg/5 mL oral solution",
        "morphine",
        "10 mg in 5 mL",
        (5.0, "mg"),
        ORAL,
        Form::Prn(120, Some(30.0)),
        true,
        "Severe pain",
    ),
    drug(
        "26225",
        "Ondansetron 4 mg tablet",
        "ondansetron",
        "4 mg per tablet",
        (4.0, "mg"),
        ORAL,
        Form::Prn(480, Some(16.0)),
        false,
        "Nausea",
    ),
    drug(
        "4603",
        "Furosemide 40 mg tablet",
        "furosemide",
        "40 mg per tablet",
        (40.0, "mg"),
        ORAL,
        Form::Fixed(&[(8, 0), (14, 0)]),
        false,
        "Fluid overload",
    ),
    drug(
        "83367",
        "Atorvastatin 20 mg tablet",
        "atorvastatin",
        "20 mg per tablet",
        (20.0, "mg"),
        ORAL,
        Form::Fixed(&[(22, 0)]),
        false,
        "Secondary prevention",
    ),
    drug(
        "2193",
        "Ceftriaxone 1 g powder for injection",
        "ceftriaxone",
        "1 g per vial",
        (2.0, "g"),
        IV,
        Form::Every(24),
        false,
        "Sepsis",
    ),
    drug(
        "5224",
        "Heparin sodium 5,000 units/mL injection",
        "heparin",
        "5000 units per mL",
        (5000.0, "[iU]"),
        SUBCUT,
        Form::Every(12),
        true,
        "Thromboprophylaxis",
    ),
    drug(
        "435",
        "Salbutamol 100 micrograms/dose inhaler",
        "salbutamol",
        "100 micrograms per dose",
        (200.0, "ug"),
        INHALED,
        Form::Prn(240, None),
        false,
        "Wheeze",
    ),
    drug(
        "17767",
        "Amlodipine 5 mg tablet",
        "amlodipine",
        "5 mg per tablet",
        (5.0, "mg"),
        ORAL,
        Form::PerDay(1),
        false,
        "Hypertension",
    ),
    PARACETAMOL,
];

fn timing(form: Form) -> Timing {
    match form {
        Form::Fixed(times) => {
            Timing::FixedTimes { times: times.iter().filter_map(|(h, m)| NaiveTime::from_hms_opt(*h, *m, 0)).collect() }
        }
        Form::Every(hours) => Timing::EveryHours { hours },
        Form::PerDay(count) => Timing::TimesPerDay { count },
        Form::Prn(min_interval_minutes, max_daily_dose) => Timing::Prn { min_interval_minutes, max_daily_dose },
    }
}

fn order(rng: &mut ChaCha8Rng, stay: &Stay<'_>, drug: Drug, status: MedicationRequestStatus) -> MedicationRequest {
    let start = stay.admitted + Duration::minutes(rng.random_range(30..=240i64));
    MedicationRequest {
        id: new_id(rng, start),
        version: 1,
        updated_at: start.min(stay.anchor),
        deleted: false,
        synthetic: true,
        patient_id: stay.patient.id,
        medication: Coding::new(RXNORM, drug.code, drug.display),
        ingredients: vec![Coding::new(RXNORM, drug.code, drug.generic)],
        generic_name: Some(drug.generic.to_owned()),
        strength: Some(drug.strength.to_owned()),
        dose: Some(Dose { value: drug.dose, unit: drug.unit.to_owned() }),
        route: Some(Coding::new(SNOMED_CT, drug.route.0, drug.route.1)),
        timing: timing(drug.timing),
        start,
        end: None,
        status,
        prescriber: Some(SYNTHETIC_PRESCRIBER.to_owned()),
        indication: Some(drug.indication.to_owned()),
        instructions: None,
        high_alert: drug.high_alert,
    }
}

/// The patient's orders: two to five from the formulary (patient 0:
/// amoxicillin and paracetamol), mostly active, some stopped or on hold.
pub(crate) fn orders(rng: &mut ChaCha8Rng, stay: &Stay<'_>) -> Vec<MedicationRequest> {
    let mut chosen: Vec<Drug> = Vec::new();
    if stay.index == 0 {
        chosen.extend([AMOXICILLIN, PARACETAMOL]);
    } else {
        let count = rng.random_range(2..=5usize);
        while chosen.len() < count {
            let candidate = pick(rng, FORMULARY);
            if chosen.iter().all(|c| c.code != candidate.code) {
                chosen.push(candidate);
            }
        }
    }
    chosen
        .into_iter()
        .map(|d| {
            let status = match rng.random_range(0..100u32) {
                _ if stay.index == 0 => MedicationRequestStatus::Active,
                0..85 => MedicationRequestStatus::Active,
                85..95 => MedicationRequestStatus::Stopped,
                _ => MedicationRequestStatus::OnHold,
            };
            order(rng, stay, d, status)
        })
        .collect()
}

/// What was charted over the 24 hours before the anchor (up to an hour
/// before it, so the next doses are still to give): each scheduled dose of
/// an active order given, or now and then not given with a reason; a PRN
/// order used up to three times, its minimum interval apart. Due times are
/// computed in UTC (the synthetic ward's time zone). Orders the allergy
/// check would stop (patient 0) have no doses.
pub(crate) fn administrations(
    rng: &mut ChaCha8Rng,
    stay: &Stay<'_>,
    orders: &[MedicationRequest],
) -> Vec<MedicationAdministration> {
    let (from, to) = (stay.anchor - Duration::hours(24), stay.anchor - Duration::hours(1));
    let mut out = Vec::new();
    for o in orders.iter().filter(|o| o.status == MedicationRequestStatus::Active) {
        if stay.index == 0 && o.medication.code == AMOXICILLIN.code {
            continue;
        }
        let times: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> = match &o.timing {
            Timing::Prn { min_interval_minutes, .. } => {
                let doses = rng.random_range(0..=3i64);
                let gap = i64::from(*min_interval_minutes) + 30;
                (0..doses)
                    .map(|k| (to - Duration::minutes(gap * k + 15), None))
                    .filter(|(t, _)| *t >= o.start)
                    .collect()
            }
            timing => due_times(timing, o.start, o.end, chrono_tz::UTC, from, to)
                .into_iter()
                .map(|due| (due + Duration::minutes(rng.random_range(-20..=25i64)), Some(due)))
                .collect(),
        };
        for (given_at, due_at) in times {
            let not_given = due_at.is_some() && rng.random_bool(0.06);
            out.push(MedicationAdministration {
                id: new_id(rng, given_at),
                version: 1,
                updated_at: given_at,
                deleted: false,
                synthetic: true,
                patient_id: stay.patient.id,
                request_id: o.id,
                due_at,
                status: if not_given { AdministrationStatus::NotGiven } else { AdministrationStatus::Given },
                not_given_reason: not_given
                    .then(|| pick(rng, &[NotGivenReason::Refused, NotGivenReason::Held, NotGivenReason::PatientAway])),
                dose: if not_given { None } else { o.dose.clone() },
                route: o.route.clone(),
                site: None,
                given_at,
                performer: SYNTHETIC_NURSE.to_owned(),
                witness: o.high_alert.then(|| "synthetic-nurse-2".to_owned()),
                overrides: Vec::new(),
                error_reason: None,
                recorded_at: given_at,
            });
        }
    }
    out
}
