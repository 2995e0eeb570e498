//! What the clinician enters at the bedside, turned into clinical rows: a set
//! of vital signs becomes one observation per filled-in field, an allergy
//! form becomes an allergy. Validation happens here in full before anything
//! is written, so a set with one impossible value records nothing and the
//! error names every field that is wrong.

use chrono::{DateTime, SubsecRound, Utc};
use uuid::Uuid;
use wardbook_protocol::news2::Acvpu;
use wardbook_protocol::vitals::{
    BODY_TEMPERATURE, DIASTOLIC_BP, HEART_RATE, OXYGEN_SATURATION, RESPIRATORY_RATE, SYSTOLIC_BP, consciousness_coding,
    on_oxygen_coding, vital_spec,
};
use wardbook_protocol::{
    Allergy, AllergyEntry, Coding, Interpretation, Observation, ObservationCategory, ObservationStatus,
    ObservationValue, Quantity, Reaction, ReferenceRange, ValidationErrors, VitalsEntry,
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
    let vital = |code: Coding, value: ObservationValue, range: Option<ReferenceRange>, flag: Option<Interpretation>| {
        Observation {
            id: Uuid::nil(),
            version: 0,
            updated_at: now,
            deleted: false,
            synthetic: false,
            patient_id: patient,
            category: ObservationCategory::VitalSigns,
            code,
            panel: None,
            value,
            reference_range: range,
            interpretation: flag,
            status: ObservationStatus::Final,
            status_reason: None,
            effective_at,
            recorded_by: String::new(),
        }
    };
    let mut out = Vec::new();
    for (field, loinc, value) in fields(entry) {
        let Some(value) = value else { continue };
        let Some(spec) = vital_spec(loinc) else { continue };
        if let Err(e) = spec.check(value, spec.ucum) {
            errors.push(field, e.message);
            continue;
        }
        let quantity = ObservationValue::Quantity(Quantity { value, unit: spec.ucum.to_owned() });
        out.push(vital(spec.coding(), quantity, spec.reference_range(), spec.interpret(value)));
    }
    // The two non-numeric NEWS2 items: air or oxygen (no flag: oxygen is a
    // treatment, not an abnormal finding) and ACVPU (anything but alert is
    // flagged abnormal, as NEWS2 scores it 3).
    if let Some(value) = entry.on_oxygen {
        out.push(vital(on_oxygen_coding(), ObservationValue::Boolean { value }, None, None));
    }
    if let Some(level) = entry.consciousness {
        let flag = if level == Acvpu::Alert { Interpretation::Normal } else { Interpretation::Abnormal };
        out.push(vital(consciousness_coding(), ObservationValue::Coded(level.coding()), None, Some(flag)));
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
    fn oxygen_and_consciousness_become_boolean_and_coded_vital_signs() {
        let entry =
            VitalsEntry { on_oxygen: Some(true), consciousness: Some(Acvpu::NewConfusion), ..VitalsEntry::default() };
        let rows = vitals_observations(Uuid::now_v7(), &entry, now()).expect("a set of two is enough");
        assert_eq!(rows.len(), 2);
        for row in &rows {
            assert_eq!(row.category, ObservationCategory::VitalSigns);
            // As written: the author is set then (`edits::record_observations`).
            let written = Observation { recorded_by: "nurse".to_owned(), ..row.clone() };
            assert_eq!(wardbook_protocol::validate_observation(&written), Ok(()));
        }
        let o2 = rows.iter().find(|o| o.code == on_oxygen_coding()).expect("oxygen");
        assert_eq!(o2.value, ObservationValue::Boolean { value: true });
        assert_eq!(o2.interpretation, None);
        let acvpu = rows.iter().find(|o| o.code == consciousness_coding()).expect("consciousness");
        assert_eq!(acvpu.value, ObservationValue::Coded(Acvpu::NewConfusion.coding()));
        assert_eq!(acvpu.interpretation, Some(Interpretation::Abnormal));

        let alert = VitalsEntry { consciousness: Some(Acvpu::Alert), on_oxygen: Some(false), ..Default::default() };
        let rows = vitals_observations(Uuid::now_v7(), &alert, now()).expect("valid");
        let on_air = rows.iter().find(|o| o.code == on_oxygen_coding()).expect("oxygen");
        assert_eq!(on_air.value, ObservationValue::Boolean { value: false });
        let alert = rows.iter().find(|o| o.code == consciousness_coding()).expect("consciousness");
        assert_eq!(alert.interpretation, Some(Interpretation::Normal));

        // What the recorded set scores, as the chart will show it.
        let mut entry = VitalsEntry { respiratory_rate: Some(7.0), heart_rate: Some(70.0), ..entry };
        entry.consciousness = Some(Acvpu::Alert);
        let rows = vitals_observations(Uuid::now_v7(), &entry, now()).expect("valid");
        let score = wardbook_protocol::news2::news2_from_observations(&rows, now(), chrono::Duration::hours(12));
        assert_eq!(score.total, 5, "respiration 3 + oxygen 2");
        assert!(!score.complete);
    }

    #[test]
    fn the_new_fields_are_optional_on_the_wire() {
        // What a UI built before them sends.
        let old = r#"{"effective_at":null,"heart_rate":72,"systolic":null,"diastolic":null,"spo2":null}"#;
        let entry: VitalsEntry = serde_json::from_str(old).expect("an entry without them");
        assert_eq!((entry.on_oxygen, entry.consciousness), (None, None));
        let entry: VitalsEntry =
            serde_json::from_str(r#"{"heart_rate":72,"on_oxygen":true,"consciousness":"voice"}"#).expect("with them");
        assert_eq!((entry.on_oxygen, entry.consciousness), (Some(true), Some(Acvpu::Voice)));
        assert!(serde_json::from_str::<VitalsEntry>(r#"{"consciousness":"drowsy"}"#).is_err());
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
