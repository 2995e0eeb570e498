//! Tests of the synthetic generator: determinism, markers, validity, and the
//! documented guarantees about patients 0, 1 and 2.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};

use super::*;
use crate::vitals::{BODY_TEMPERATURE, DIASTOLIC_BP, HEART_RATE, SYSTOLIC_BP, VITAL_SPECS};
use crate::{
    AllergyCategory, AllergyType, AllergyVerificationStatus, Criticality, validate_allergy, validate_observation,
    validate_patient,
};
use uuid::Uuid;

fn anchor() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-14T09:30:00Z").map(|t| t.to_utc()).unwrap_or_default()
}

fn ward(seed: u64, patients: usize) -> SyntheticWard {
    generate(&SyntheticConfig::new(seed, patients, anchor()))
}

fn json(w: &SyntheticWard) -> Vec<u8> {
    serde_json::to_vec(w).expect("serializable")
}

fn quantity(o: &Observation) -> f64 {
    match &o.value {
        ObservationValue::Quantity(q) => q.value,
        _ => panic!("synthetic observations are quantities"),
    }
}

/// The values of `code` for `patient`, in time order.
fn values(w: &SyntheticWard, patient: usize, code: &str) -> Vec<f64> {
    let id = w.patients[patient].id;
    w.observations.iter().filter(|o| o.patient_id == id && o.code.code == code).map(quantity).collect()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

#[test]
fn same_seed_same_bytes_different_seed_different_bytes() {
    let a = json(&ward(42, 12));
    assert_eq!(a, json(&ward(42, 12)));
    assert_ne!(a, json(&ward(43, 12)));
    let mut cfg = SyntheticConfig::new(42, 12, anchor());
    cfg.anchor += chrono::Duration::hours(1);
    assert_ne!(a, json(&generate(&cfg)));
}

#[test]
fn a_patient_does_not_depend_on_how_many_are_generated() {
    let small = ward(7, 4);
    let large = ward(7, 9);
    assert_eq!(small.patients[..], large.patients[..4]);
    let ids: HashSet<Uuid> = small.patients.iter().map(|p| p.id).collect();
    let from_large: Vec<&Observation> = large.observations.iter().filter(|o| ids.contains(&o.patient_id)).collect();
    assert_eq!(small.observations.iter().collect::<Vec<_>>(), from_large);
}

#[test]
fn a_ward_made_in_slices_is_the_ward_made_at_once() {
    let cfg = SyntheticConfig::new(11, 9, anchor());
    let whole = generate(&cfg);
    let mut sliced = SyntheticWard::default();
    // Slices of uneven size, the last running past the end (clamped).
    for range in [0..2, 2..7, 7..20] {
        let part = generate_range(&cfg, range);
        sliced.patients.extend(part.patients);
        sliced.observations.extend(part.observations);
        sliced.allergies.extend(part.allergies);
        sliced.medication_requests.extend(part.medication_requests);
        sliced.medication_administrations.extend(part.medication_administrations);
    }
    assert_eq!(json(&sliced), json(&whole));
    assert!(generate_range(&cfg, 9..12).patients.is_empty(), "no patient past cfg.patients");
}

#[test]
fn every_row_is_marked_synthetic_and_valid() {
    let w = ward(1, 40);
    let today = anchor().date_naive();
    assert_eq!(w.patients.len(), 40);
    for p in &w.patients {
        assert!(p.synthetic && !p.deleted && p.version == 1 && p.updated_at == anchor());
        assert_eq!(validate_patient(p, today), Ok(()), "{p:?}");
        assert_eq!(p.source_system, "wardbook-synthetic");
    }
    for o in &w.observations {
        assert!(o.synthetic && !o.deleted && o.effective_at <= anchor());
        assert_eq!(validate_observation(o), Ok(()), "{o:?}");
        assert_eq!(o.status, ObservationStatus::Final);
        // "On oxygen" is a SNOMED CT finding (LOINC has no yes/no code for it).
        let system = if o.code.code == crate::vitals::ON_OXYGEN { crate::SNOMED_CT } else { crate::LOINC };
        assert_eq!(o.code.system, system);
    }
    for a in &w.allergies {
        assert!(a.synthetic && !a.deleted && a.recorded_at <= anchor());
        assert_eq!(validate_allergy(a), Ok(()), "{a:?}");
    }
    for o in &w.medication_requests {
        assert!(o.synthetic && !o.deleted && o.start <= anchor());
        assert_eq!(crate::medication::validate_medication_request(o), Ok(()), "{o:?}");
    }
    let orders: HashSet<Uuid> = w.medication_requests.iter().map(|o| o.id).collect();
    for a in &w.medication_administrations {
        assert!(a.synthetic && a.given_at <= anchor() && orders.contains(&a.request_id));
        assert_eq!(crate::medication::validate_administration(a), Ok(()), "{a:?}");
    }
    let patient_ids: HashSet<Uuid> = w.patients.iter().map(|p| p.id).collect();
    assert!(w.observations.iter().all(|o| patient_ids.contains(&o.patient_id)));
    assert!(w.allergies.iter().all(|a| patient_ids.contains(&a.patient_id)));
    assert!(w.medication_requests.iter().all(|o| patient_ids.contains(&o.patient_id)));
}

#[test]
fn patient_0_is_prescribed_what_its_allergy_stops() {
    let w = ward(3, 6);
    let p0 = w.patients[0].id;
    let allergies: Vec<_> = w.allergies.iter().filter(|a| a.patient_id == p0).cloned().collect();
    let amoxicillin = w
        .medication_requests
        .iter()
        .find(|o| o.patient_id == p0 && o.medication.code == "723")
        .expect("patient 0 is prescribed amoxicillin");
    assert!(allergies.iter().any(|a| crate::medication::checks::allergy_match(a, amoxicillin).is_some()));
    assert!(w.medication_administrations.iter().all(|a| a.request_id != amoxicillin.id), "no dose was given");
    for p in &w.patients {
        assert!(w.medication_requests.iter().filter(|o| o.patient_id == p.id).count() >= 2);
    }
    assert!(!w.medication_administrations.is_empty(), "the MAR has history");
}

#[test]
fn many_seeds_all_valid() {
    for seed in 100..120 {
        let w = ward(seed, 8);
        assert!(w.patients.iter().all(|p| validate_patient(p, anchor().date_naive()).is_ok()));
        assert!(w.observations.iter().all(|o| validate_observation(o).is_ok()), "{seed}");
        assert!(w.allergies.iter().all(|a| validate_allergy(a).is_ok()), "{seed}");
    }
}

#[test]
fn ids_are_unique_uuid_v7_with_the_row_time() {
    let w = ward(3, 10);
    let mut seen = HashSet::new();
    for id in w.patients.iter().map(|p| p.id) {
        assert_eq!(id.get_version_num(), 7);
        assert!(seen.insert(id));
    }
    for o in &w.observations {
        assert_eq!(o.id.get_version_num(), 7);
        assert!(seen.insert(o.id));
        let (secs, _) = o.id.get_timestamp().expect("v7 timestamp").to_unix();
        assert_eq!(i64::try_from(secs).ok(), Some(o.effective_at.timestamp()));
    }
    assert!(w.allergies.iter().all(|a| seen.insert(a.id)));
}

#[test]
fn unmistakable_markers() {
    let w = ward(5, 60);
    let mut mrns = HashSet::new();
    for (i, p) in w.patients.iter().enumerate() {
        let digits = p.mrn.strip_prefix("SYN-").expect("SYN- prefix");
        assert!(digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()), "{i}");
        assert!(mrns.insert(p.mrn.clone()), "duplicate MRN");
        if let Some(phone) = &p.phone {
            let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
            assert!(digits.contains("55501") && (10..=15).contains(&phone.len()), "{i}");
        }
        if let Some(email) = &p.email {
            assert!(email.ends_with(&format!(".{i}@synthetic.test")), "{i}");
        }
        assert!(p.address.as_deref().is_some_and(|a| a.contains(" Synthetic ")));
        let expected = ["Ward 7A", "Ward 7B"][i % 2];
        assert_eq!(p.location.as_deref(), Some(expected));
        let today = anchor().date_naive();
        assert!(p.birth_date.format("%Y").to_string().as_str() >= "1930");
        assert!(p.birth_date <= NaiveDate::from_ymd_opt(2008, 12, 31).unwrap_or(today));
    }
    assert!(w.patients.iter().any(|p| p.phone.is_some()));
    assert!(w.patients.iter().any(|p| p.email.is_some()));
    let sexes: HashSet<_> = w.patients.iter().map(|p| p.sex).collect();
    assert!(sexes.contains(&crate::Sex::Male) && sexes.contains(&crate::Sex::Female));
    let names: HashSet<_> = w.patients.iter().map(|p| &p.family_name).collect();
    assert!(names.len() > 25, "names should vary");
}

#[test]
fn beds_are_unique_within_a_location() {
    let w = ward(6, 45);
    let mut taken: HashSet<(&str, &str)> = HashSet::new();
    for (i, p) in w.patients.iter().enumerate() {
        let location = p.location.as_deref().expect("a location");
        let bed = p.bed.as_deref().expect("a patient with a location has a bed");
        assert!(taken.insert((location, bed)), "patient {i} shares a bed");
    }
    // Two-digit numbers per location in turn: patients 0 and 1 take bed 01
    // of wards 7A and 7B, patient 2 bed 02 of 7A.
    let first: Vec<(Option<&str>, Option<&str>)> =
        w.patients[..3].iter().map(|p| (p.location.as_deref(), p.bed.as_deref())).collect();
    assert_eq!(first, [(Some("Ward 7A"), Some("01")), (Some("Ward 7B"), Some("01")), (Some("Ward 7A"), Some("02"))]);
    // Past 99 they keep counting, still valid (at most 40 characters).
    let mut cfg = SyntheticConfig::new(6, 120, anchor());
    cfg.locations = vec!["Ward 9".to_owned()];
    let big = generate(&cfg);
    let beds: HashSet<&str> = big.patients.iter().filter_map(|p| p.bed.as_deref()).collect();
    assert_eq!(beds.len(), 120);
    assert_eq!(big.patients[119].bed.as_deref(), Some("120"));
}

#[test]
fn mrn_numbers_are_distinct_over_the_whole_space() {
    let mut seen = vec![false; 1_000_000];
    for index in 0..MAX_PATIENTS {
        let n = mrn_number(123_456, index) as usize;
        assert!(!seen[n], "{index}");
        seen[n] = true;
    }
}

#[test]
fn patient_0_is_febrile() {
    assert_eq!(profile(99, 0), Profile::Febrile);
    let w = ward(99, 3);
    let temps = values(&w, 0, BODY_TEMPERATURE);
    assert!(temps.len() >= 20, "a reading every 4 to 6 hours for 5 days");
    assert!(temps.iter().all(|t| (38.0..=39.8).contains(t)));
    assert!(temps.iter().cloned().fold(0.0, f64::max) - temps.iter().cloned().fold(99.0, f64::min) >= 0.5);
    assert!(mean(&values(&w, 0, HEART_RATE)) > 100.0, "tachycardic");
    let wbc = values(&w, 0, "6690-2");
    assert!(!wbc.is_empty() && wbc.iter().all(|v| *v > 11.0), "raised WBC");
}

#[test]
fn patient_1_is_hypertensive() {
    assert_eq!(profile(99, 1), Profile::Hypertensive);
    let w = ward(99, 3);
    let sbp = values(&w, 1, SYSTOLIC_BP);
    assert!(mean(&sbp) >= 140.0 && sbp.iter().all(|v| (150.0..=190.0).contains(v)));
    assert!(values(&w, 1, DIASTOLIC_BP).iter().all(|v| (95.0..=115.0).contains(v)));
    let id = w.patients[1].id;
    assert!(w.observations.iter().any(|o| o.patient_id == id
        && o.code.code == "2823-3"
        && o.interpretation == Some(Interpretation::CriticalHigh)));
}

#[test]
fn patient_2_is_stable_without_allergies() {
    assert_eq!(profile(99, 2), Profile::Stable);
    let w = ward(99, 3);
    let id = w.patients[2].id;
    let vitals: Vec<&Observation> =
        w.observations.iter().filter(|o| o.patient_id == id && o.category == ObservationCategory::VitalSigns).collect();
    assert!(vitals.len() > 100);
    for o in vitals {
        let Some(spec) = crate::vitals::vital_spec(&o.code.code) else {
            // Air and alert: what NEWS2 scores 0.
            let news2 = [crate::vitals::ON_OXYGEN, crate::vitals::CONSCIOUSNESS];
            assert!(news2.contains(&o.code.code.as_str()), "{}", o.code.code);
            assert!(o.interpretation.is_none_or(|i| i == Interpretation::Normal), "{}", o.code.code);
            continue;
        };
        let expected = if spec.has_normal_band() { Some(Interpretation::Normal) } else { None };
        assert_eq!(o.interpretation, expected, "{}", o.code.code);
    }
    assert!(w.allergies.iter().all(|a| a.patient_id != id));
}

#[test]
fn vitals_are_charted_like_vitals() {
    let w = ward(11, 20);
    let quantities = w
        .observations
        .iter()
        .filter(|o| o.category == ObservationCategory::VitalSigns)
        .filter_map(|o| crate::vitals::vital_spec(&o.code.code).map(|spec| (o, spec)));
    for (o, spec) in quantities {
        let v = quantity(o);
        let decimals = if [BODY_TEMPERATURE, crate::vitals::BODY_WEIGHT].contains(&spec.loinc) { 10.0 } else { 1.0 };
        assert_eq!((v * decimals).round() / decimals, v, "{} rounded", spec.name);
        assert_eq!(o.code.display, spec.display);
        assert_eq!(o.recorded_by, RECORDED_BY_NURSE);
        assert_eq!(o.reference_range, spec.reference_range());
        assert_eq!(o.interpretation, spec.interpret(v));
    }
    // Every vital sign appears, weight and height once per patient.
    for s in VITAL_SPECS {
        let n = w.observations.iter().filter(|o| o.code.code == s.loinc).count();
        let once = [crate::vitals::BODY_WEIGHT, crate::vitals::BODY_HEIGHT].contains(&s.loinc);
        assert!(if once { n == 20 } else { n >= 20 * 20 }, "{}: {n}", s.name);
    }
    // Rounds are 4 to 6 hours apart.
    let times: Vec<_> = w
        .observations
        .iter()
        .filter(|o| o.patient_id == w.patients[0].id && o.code.code == HEART_RATE)
        .map(|o| o.effective_at)
        .collect();
    assert!(times.windows(2).all(|p| (240..=360).contains(&(p[1] - p[0]).num_minutes())));
}

#[test]
fn labs_have_both_panels_ranges_and_flags() {
    let w = ward(21, 40);
    let labs: Vec<&Observation> =
        w.observations.iter().filter(|o| o.category == ObservationCategory::Laboratory).collect();
    let panels: HashSet<&str> = labs.iter().filter_map(|o| o.panel.as_ref()).map(|p| p.code.as_str()).collect();
    assert_eq!(panels, HashSet::from(["58410-2", "51990-0"]));
    for code in ["6690-2", "718-7", "4544-3", "777-3", "2951-2", "2823-3", "2075-0", "1963-8"]
        .into_iter()
        .chain(["3094-0", "2160-0", "2345-7", "17861-6"])
    {
        assert!(labs.iter().any(|o| o.code.code == code), "{code}");
    }
    let mut flags: HashMap<Interpretation, usize> = HashMap::new();
    for o in &labs {
        let range = o.reference_range.as_ref().expect("reference range");
        assert!(range.low < range.high);
        if let ObservationValue::Quantity(q) = &o.value {
            assert_eq!(range.unit, q.unit);
        }
        *flags.entry(o.interpretation.expect("interpreted")).or_default() += 1;
        assert_eq!(o.recorded_by, RECORDED_BY_LAB);
    }
    for f in [Interpretation::Normal, Interpretation::High, Interpretation::Low] {
        assert!(flags.get(&f).is_some_and(|n| *n > 0), "{f}");
    }
    assert!(flags[&Interpretation::Normal] > labs.len() / 2, "mostly normal");
    // Patients other than 1 have critical values too.
    let critical: HashSet<Uuid> = labs
        .iter()
        .filter(|o| o.interpretation.is_some_and(Interpretation::is_critical))
        .map(|o| o.patient_id)
        .collect();
    assert!(critical.len() >= 2, "{}", critical.len());
    // Every patient has both panels on admission, 14 results per draw.
    for p in &w.patients {
        let n = labs.iter().filter(|o| o.patient_id == p.id).count();
        assert!(n >= 14 * 3 && n % 14 == 0, "{n}");
    }
}

#[test]
fn allergies_are_coded_varied_and_sometimes_absent() {
    let w = ward(8, 200);
    let with: HashSet<Uuid> = w.allergies.iter().map(|a| a.patient_id).collect();
    let none = w.patients.len() - with.len();
    assert!((40..=80).contains(&none), "about 30 % without allergies: {none}");
    let p0 = w.patients[0].id;
    assert!(w.allergies.iter().any(|a| a.patient_id == p0
        && a.category == AllergyCategory::Medication
        && a.criticality == Criticality::High
        && a.allergen.system == crate::RXNORM));
    assert!(!with.contains(&w.patients[2].id));
    let has = |f: &dyn Fn(&Allergy) -> bool| w.allergies.iter().any(f);
    assert!(has(&|a| a.criticality == Criticality::High));
    assert!(has(&|a| a.criticality == Criticality::Low));
    assert!(has(&|a| a.verification_status == AllergyVerificationStatus::Unconfirmed));
    assert!(has(&|a| a.allergy_type == AllergyType::Intolerance));
    for cat in [AllergyCategory::Medication, AllergyCategory::Food, AllergyCategory::Environment] {
        assert!(has(&|a| a.category == cat), "{cat}");
    }
    for a in &w.allergies {
        let expected = if a.category == AllergyCategory::Medication { crate::RXNORM } else { crate::SNOMED_CT };
        assert_eq!(a.allergen.system, expected);
        assert!(a.reactions.iter().all(|r| r.manifestation.system == crate::SNOMED_CT));
        let severe = a.reactions.iter().any(|r| ["39579001", "41291007"].contains(&r.manifestation.code.as_str()));
        assert_eq!(severe, a.criticality == Criticality::High);
    }
}

#[test]
fn debug_output_hides_names_and_values() {
    let w = ward(2, 3);
    assert_eq!(
        format!("{w:?}"),
        format!(
            "SyntheticWard {{ patients: 3, observations: {}, allergies: {}, medication_requests: {}, medication_administrations: {} }}",
            w.observations.len(),
            w.allergies.len(),
            w.medication_requests.len(),
            w.medication_administrations.len()
        )
    );
    let p = &w.patients[0];
    let dbg = format!("{p:?}");
    for secret in [&p.given_name, &p.family_name, &p.mrn] {
        assert!(!dbg.contains(secret.as_str()), "{secret}");
    }
    assert!(!dbg.contains("synthetic.test") && !dbg.contains("555"));
    let mut renamed = p.clone();
    renamed.given_name = "Zebedee".into();
    renamed.birth_date = NaiveDate::MIN;
    assert_eq!(format!("{renamed:?}"), dbg);

    let o = &w.observations[0];
    let mut changed = o.clone();
    changed.value = ObservationValue::Quantity(Quantity { value: 123.45, unit: "x".into() });
    changed.interpretation = Some(Interpretation::CriticalHigh);
    assert_eq!(format!("{changed:?}"), format!("{o:?}"));
    assert!(!format!("{o:?}").contains(&quantity(o).to_string()) || quantity(o).fract() == 0.0);

    let a = w.allergies.iter().find(|a| a.patient_id == p.id).expect("patient 0 allergy");
    let dbg = format!("{a:?}");
    assert!(!dbg.contains(&a.allergen.display) && !dbg.contains(&a.allergen.code));
}

#[test]
fn edge_configs() {
    assert_eq!(json(&ward(1, 0)), json(&SyntheticWard::default()));
    let mut cfg = SyntheticConfig::new(1, 3, anchor());
    cfg.days = 0;
    cfg.locations.clear();
    let w = generate(&cfg);
    assert!(w.patients.iter().all(|p| p.location.is_none() && p.bed.is_none()));
    assert!(w.observations.iter().all(|o| o.effective_at == anchor()));
    // An anchor in the past still gives valid birth dates.
    let old = DateTime::parse_from_rfc3339("1950-06-01T00:00:00Z").map(|t| t.to_utc()).unwrap_or_default();
    let w = generate(&SyntheticConfig::new(4, 10, old));
    assert!(w.patients.iter().all(|p| validate_patient(p, old.date_naive()).is_ok()));
}

#[test]
fn every_patient_has_a_complete_news2_at_the_anchor() {
    let w = ward(5, 12);
    for (index, p) in w.patients.iter().enumerate() {
        let mine: Vec<Observation> = w.observations.iter().filter(|o| o.patient_id == p.id).cloned().collect();
        let score = crate::news2::news2_from_observations(&mine, anchor(), crate::news2::default_max_age());
        assert!(score.complete, "patient {index}: {:?}", score.missing);
        if index == 0 {
            // Febrile, on oxygen: at least the 2 for oxygen and a raised temperature.
            assert!(score.total >= 3, "{score:?}");
        }
    }
}
