//! What the clinician enters at the bedside, turned into clinical rows: a set
//! of vital signs becomes one observation per filled-in field, an allergy
//! form becomes an allergy. Validation happens here in full before anything
//! is written, so a set with one impossible value records nothing and the
//! error names every field that is wrong.

use chrono::{DateTime, SubsecRound, Utc};
use uuid::Uuid;
use wardbook_protocol::vitals::{
    BODY_TEMPERATURE, DIASTOLIC_BP, HEART_RATE, OXYGEN_SATURATION, RESPIRATORY_RATE, SYSTOLIC_BP, vital_spec,
};
use wardbook_protocol::{
    Allergy, AllergyEntry, Observation, ObservationCategory, ObservationStatus, ObservationValue, Quantity, Reaction,
    ValidationErrors, VitalsEntry,
};

use crate::audit::AccessContext;
use crate::edits;
use crate::store::{Store, StoreError};

/// The entry's fields with the LOINC code each is recorded under.
fn fields(entry: &VitalsEntry) -> [(&'static str, &'static str, Option<f64>); 6] {
    [
        ("heart_rate", HEART_RATE, entry.heart_rate),
        ("systolic", SYSTOLIC_BP, entry.systolic),
        ("diastolic", DIASTOLIC_BP, entry.diastolic),
        ("respiratory_rate", RESPIRATORY_RATE, entry.respiratory_rate),
        ("temperature", BODY_TEMPERATURE, entry.temperature),
        ("spo2", OXYGEN_SATURATION, entry.spo2),
    ]
}

/// The observations a vitals entry records (ids, versions and author are
/// set when they are written). Every impossible value is reported, by field.
pub fn vitals_observations(
    patient: Uuid,
    entry: &VitalsEntry,
    now: DateTime<Utc>,
) -> Result<Vec<Observation>, ValidationErrors> {
    let mut errors = ValidationErrors::new();
    let effective_at = entry.effective_at.unwrap_or(now).trunc_subsecs(6);
    if effective_at > now + chrono::Duration::minutes(5) {
        errors.push("effective_at", "the time measured cannot be in the future");
    }
    let mut out = Vec::new();
    for (field, loinc, value) in fields(entry) {
        let Some(value) = value else { continue };
        let Some(spec) = vital_spec(loinc) else { continue };
        if let Err(e) = spec.check(value, spec.ucum) {
            errors.push(field, e.message);
            continue;
        }
        out.push(Observation {
            id: Uuid::nil(),
            version: 0,
            updated_at: now,
            deleted: false,
            synthetic: false,
            patient_id: patient,
            category: ObservationCategory::VitalSigns,
            code: spec.coding(),
            panel: None,
            value: ObservationValue::Quantity(Quantity { value, unit: spec.ucum.to_owned() }),
            reference_range: spec.reference_range(),
            interpretation: spec.interpret(value),
            status: ObservationStatus::Final,
            status_reason: None,
            effective_at,
            recorded_by: String::new(),
        });
    }
    if out.is_empty() && errors.is_empty() {
        errors.push("vitals", "enter at least one value");
    }
    errors.into_result().map(|()| out)
}

/// Records a set of vital signs, all or nothing.
pub fn record_vitals(
    store: &mut Store,
    ctx: &AccessContext,
    patient: Uuid,
    entry: &VitalsEntry,
) -> Result<Vec<Observation>, StoreError> {
    let batch = vitals_observations(patient, entry, Utc::now())?;
    edits::record_observations(store, ctx, batch)
}

/// Saves a new allergy or a change to one. A change must name the version
/// the clinician saw: if the cache has moved on since (a pull brought a
/// newer row), the save is refused so that nobody overwrites what they did
/// not see.
pub fn save_allergy(
    store: &mut Store,
    ctx: &AccessContext,
    patient: Uuid,
    entry: &AllergyEntry,
) -> Result<Allergy, StoreError> {
    let now = Utc::now();
    let (id, version) = match entry.id {
        Some(id) => {
            let cached = store.db().allergies().version(id, patient)?.ok_or(StoreError::NotFound)?;
            if entry.base_version.is_some_and(|v| v != cached) {
                let mut errors = ValidationErrors::new();
                errors.push("allergy", "it changed since it was opened; open it again and repeat the change");
                return Err(StoreError::Invalid(errors));
            }
            (id, cached)
        }
        None => (Uuid::nil(), 0),
    };
    let allergy = Allergy {
        id,
        version,
        updated_at: now,
        deleted: false,
        synthetic: false,
        patient_id: patient,
        allergen: entry.allergen.clone(),
        allergy_type: entry.allergy_type,
        category: entry.category,
        clinical_status: entry.clinical_status,
        verification_status: entry.verification_status,
        criticality: entry.criticality,
        reactions: entry
            .reactions
            .iter()
            .map(|r| Reaction { manifestation: r.manifestation.clone(), severity: r.severity })
            .collect(),
        recorded_at: now,
        recorded_by: ctx.user_id.clone(),
    };
    edits::save_allergy(store, ctx, allergy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        Utc::now()
    }

    #[test]
    fn each_filled_field_becomes_one_flagged_observation() {
        let entry = VitalsEntry { heart_rate: Some(128.0), spo2: Some(97.0), ..VitalsEntry::default() };
        let rows = vitals_observations(Uuid::now_v7(), &entry, now()).expect("valid");
        assert_eq!(rows.len(), 2);
        let hr = rows.iter().find(|o| o.code.code == HEART_RATE).expect("heart rate");
        assert_eq!(hr.interpretation, Some(wardbook_protocol::Interpretation::High));
        assert!(hr.reference_range.is_some());
    }

    #[test]
    fn an_impossible_value_refuses_the_whole_set_and_names_the_field_and_limit() {
        let entry =
            VitalsEntry { heart_rate: Some(900.0), temperature: Some(80.0), spo2: Some(97.0), ..Default::default() };
        let err = vitals_observations(Uuid::now_v7(), &entry, now()).expect_err("impossible");
        assert!(err.has_field("heart_rate") && err.has_field("temperature"), "{err}");
        let text = err.to_string();
        assert!(text.contains("heart rate") && text.contains("between 20 and 300"), "{text}");
        assert!(!text.contains("900"), "the entered value is not echoed: {text}");
    }

    #[test]
    fn an_empty_set_is_refused() {
        let err = vitals_observations(Uuid::now_v7(), &VitalsEntry::default(), now()).expect_err("empty");
        assert!(err.to_string().contains("at least one value"));
    }

    #[test]
    fn a_future_time_is_refused() {
        let entry = VitalsEntry {
            effective_at: Some(now() + chrono::Duration::hours(2)),
            heart_rate: Some(80.0),
            ..Default::default()
        };
        assert!(vitals_observations(Uuid::now_v7(), &entry, now()).is_err());
    }
}
