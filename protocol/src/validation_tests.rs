//! Tests of `validation`: limits at their boundaries, and messages that name
//! the field and the limit but never the value.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::*;
use crate::vitals::{HEART_RATE, VITAL_SPECS};
use crate::{
    AllergyCategory, AllergyClinicalStatus, AllergyType, AllergyVerificationStatus, Coding, Criticality,
    Interpretation, ObservationStatus, Quantity, Reaction, ReactionSeverity, ReferenceRange, Sex,
};

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

fn today() -> NaiveDate {
    date(2026, 3, 14)
}

fn patient() -> Patient {
    Patient {
        id: Uuid::from_u128(1),
        version: 1,
        updated_at: DateTime::<Utc>::UNIX_EPOCH,
        deleted: false,
        synthetic: false,
        mrn: "MRN-1234".into(),
        given_name: "Zebedee".into(),
        family_name: "Quixtonworth".into(),
        birth_date: date(1970, 5, 17),
        sex: Sex::Male,
        phone: Some("(212) 555-0147".into()),
        email: Some("zebedee@example.org".into()),
        address: Some("1 Example Road".into()),
        preferred_language: Some("en".into()),
        location: Some("Ward 7A".into()),
        bed: Some("12".into()),
        source_system: "pas".into(),
    }
}

/// The errors of `p`, asserting that no message leaks `secret`.
fn errors(p: &Patient, secret: &str) -> ValidationErrors {
    match validate_patient(p, today()) {
        Ok(()) => ValidationErrors::new(),
        Err(e) => {
            assert!(!e.is_empty());
            for err in &e {
                assert!(!err.message.contains(secret), "{} leaks the value", err.message);
            }
            assert!(!e.to_string().contains(secret));
            e
        }
    }
}

#[test]
fn a_plain_patient_is_valid() {
    assert_eq!(validate_patient(&patient(), today()), Ok(()));
    let mut p = patient();
    (p.phone, p.email, p.address, p.preferred_language, p.location) = (None, None, None, None, None);
    p.bed = None;
    assert_eq!(validate_patient(&p, today()), Ok(()));
}

#[test]
fn names_at_49_50_and_51_chars() {
    for field in ["given_name", "family_name"] {
        for (len, ok) in [(1, true), (49, true), (50, true), (51, false)] {
            let mut p = patient();
            // Multi-byte characters: the limit counts characters, not bytes.
            let name = "é".repeat(len);
            match field {
                "given_name" => p.given_name = name.clone(),
                _ => p.family_name = name.clone(),
            }
            let e = errors(&p, &name);
            assert_eq!(e.is_empty(), ok, "{field} {len}");
            if !ok {
                assert_eq!(e.len(), 1);
                assert_eq!(e.0[0].field, field);
                assert_eq!(e.0[0].message, format!("{field} must be 1 to 50 characters"));
            }
        }
    }
}

#[test]
fn empty_blank_and_control_names_are_rejected() {
    for bad in ["", "   ", "\t"] {
        let mut p = patient();
        p.given_name = bad.into();
        assert!(errors(&p, "Zebedee").has_field("given_name"));
    }
    let mut p = patient();
    p.family_name = "Zeb\u{7}edee".into();
    let e = errors(&p, "Zeb");
    assert_eq!(e.0[0].message, "family_name must not contain control characters");
}

#[test]
fn beds_at_1_40_and_41_chars_blank_and_control() {
    for (bed, ok) in [
        ("7".to_owned(), true),
        ("03-B".to_owned(), true),
        ("é".repeat(40), true),
        ("é".repeat(41), false),
        (String::new(), false),
        ("  ".to_owned(), false),
    ] {
        let mut p = patient();
        p.bed = Some(bed.clone());
        // A blank bed is in every message: look for a value that could leak instead.
        let e = errors(&p, if bed.trim().is_empty() { "Zebedee" } else { &bed });
        assert_eq!(e.is_empty(), ok, "{} characters", bed.chars().count());
        if !ok {
            assert_eq!(e.to_string(), "bed must be 1 to 40 characters");
        }
    }
    for bad in ["12\n", "\t12", "1\u{0}2", "1\u{85}"] {
        let mut p = patient();
        p.bed = Some(bad.into());
        assert_eq!(errors(&p, bad).to_string(), "bed must not contain control characters");
    }
    let mut p = patient();
    p.bed = None;
    assert_eq!(validate_patient(&p, today()), Ok(()));
}

#[test]
fn a_patient_without_bed_in_its_json_still_decodes() {
    let p = Patient { bed: Some("Quixbed-9".into()), ..patient() };
    let mut json = serde_json::to_value(&p).expect("serialize");
    assert_eq!(json["bed"], "Quixbed-9");
    json.as_object_mut().expect("an object").remove("bed");
    let older: Patient = serde_json::from_value(json).expect("JSON from before beds");
    assert_eq!(older, Patient { bed: None, ..p.clone() });
    assert!(!format!("{p:?}").contains("Quixbed"), "Debug prints no bed");
}

#[test]
fn message_never_contains_the_name() {
    let mut p = patient();
    p.given_name = format!("Zebedee{}", "x".repeat(60));
    let e = errors(&p, "Zebedee");
    assert_eq!(e.to_string(), "given_name must be 1 to 50 characters");
}

#[test]
fn birth_date_boundaries() {
    for (d, ok) in [
        (date(1899, 12, 31), false),
        (date(1900, 1, 1), true),
        (today(), true),
        (today().succ_opt().expect("tomorrow"), false),
    ] {
        let mut p = patient();
        p.birth_date = d;
        let e = errors(&p, &d.to_string());
        assert_eq!(e.is_empty(), ok, "{d}");
        if !ok {
            assert_eq!(e.0[0].field, "birth_date");
            assert_eq!(e.0[0].message, "birth_date must be between 1900-01-01 and today");
        }
    }
}

/// A well-formed address of exactly `len` (at least 198) characters: a
/// 64-character local part (the maximum) and labels of at most 63.
fn email_of_len(len: usize) -> String {
    let d = |n: usize| "d".repeat(n);
    let email = format!("{}@{}.{}.{}.org", "z".repeat(64), d(63), d(63), d(len - 197));
    assert_eq!(email.len(), len);
    email
}

#[test]
fn email_at_254_and_255_chars() {
    let mut p = patient();
    p.email = Some(email_of_len(254));
    assert_eq!(validate_patient(&p, today()), Ok(()));
    p.email = Some(email_of_len(255));
    let e = errors(&p, "zzzz");
    assert_eq!(e.len(), 1);
    assert_eq!(e.0[0].field, "email");
    assert_eq!(e.0[0].message, "email must be at most 254 characters");
}

#[test]
fn malformed_emails() {
    for bad in ["zebedee", "zebedee@", "@example.org", "zeb edee@example.org", "zebedee@localhost"] {
        let mut p = patient();
        p.email = Some(bad.into());
        let e = errors(&p, "zebedee");
        assert_eq!(e.to_string(), "email is not a well-formed address", "{bad}");
    }
    let mut p = patient();
    p.email = Some("Zebedee <zebedee@example.org>".into());
    assert!(errors(&p, "zebedee").has_field("email"));
}

#[test]
fn phone_at_9_10_15_and_16_chars() {
    let msg = "phone must be 10 to 15 characters (digits, spaces, +, -, parentheses)";
    for (phone, ok) in [
        ("555014799", false),
        ("5550147999", true),
        ("+1 212 555 0147", true),
        ("+1 212 555 01479", false),
        ("(212) 555-0147", true),
        ("212.555.0147", false),
        ("212-555-0147 x", false),
    ] {
        let mut p = patient();
        p.phone = Some(phone.into());
        let e = errors(&p, phone);
        assert_eq!(e.is_empty(), ok, "{phone}");
        if !ok {
            assert_eq!(e.to_string(), msg);
        }
    }
    let mut p = patient();
    p.phone = Some("+--()  ---12".into());
    assert_eq!(errors(&p, "12").to_string(), "phone must contain at least 7 digits");
}

#[test]
fn mrn_formats() {
    let msg = "mrn must be 4 to 20 characters: capital letters, digits and hyphens, starting with a letter or digit";
    for (mrn, ok) in [
        ("A123", true),
        ("1234", true),
        ("MRN-1234-X", true),
        ("ABCDEFGHIJ0123456789", true),
        ("A12", false),
        ("ABCDEFGHIJ01234567890", false),
        ("mrn-1234", false),
        ("-1234", false),
        ("MRN 1234", false),
        ("MRN_1234", false),
        ("", false),
    ] {
        let mut p = patient();
        p.mrn = mrn.into();
        let e = errors(&p, if mrn.is_empty() { "\u{0}" } else { mrn });
        assert_eq!(e.is_empty(), ok, "{mrn}");
        if !ok {
            assert_eq!(e.to_string(), msg, "{mrn}");
        }
    }
}

#[test]
fn syn_prefix_exactly_for_synthetic_patients() {
    let mut p = patient();
    p.mrn = "SYN-123456".into();
    assert_eq!(errors(&p, "123456").to_string(), "mrn of a real (non-synthetic) patient must not start with SYN-");
    p.synthetic = true;
    assert_eq!(validate_patient(&p, today()), Ok(()));
    p.mrn = "MRN-1234".into();
    assert_eq!(errors(&p, "1234").to_string(), "mrn of a synthetic patient must start with SYN-");
}

#[test]
fn all_errors_are_collected() {
    let mut p = patient();
    p.given_name = String::new();
    p.family_name = "x".repeat(51);
    p.birth_date = date(1800, 1, 1);
    p.email = Some("nope".into());
    p.phone = Some("1".into());
    p.mrn = "x".into();
    p.address = Some("a".repeat(201));
    p.location = Some("l".repeat(101));
    p.bed = Some(String::new());
    p.preferred_language = Some("not a tag".into());
    p.source_system = " ".into();
    let e = validate_patient(&p, today()).expect_err("invalid");
    let fields: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "given_name",
            "family_name",
            "birth_date",
            "email",
            "phone",
            "mrn",
            "address",
            "location",
            "bed",
            "preferred_language",
            "source_system"
        ]
    );
    assert_eq!(e.to_string().matches("; ").count(), fields.len() - 1);
    let owned: Vec<ValidationError> = e.clone().into_iter().collect();
    assert_eq!(owned.len(), e.len());
    let err: &dyn std::error::Error = &e;
    assert!(err.to_string().starts_with("given_name must be 1 to 50 characters; "));
}

fn vital(code: &str, value: f64, unit: &str) -> Observation {
    Observation {
        id: Uuid::from_u128(2),
        version: 1,
        updated_at: DateTime::<Utc>::UNIX_EPOCH,
        deleted: false,
        synthetic: false,
        patient_id: Uuid::from_u128(1),
        category: ObservationCategory::VitalSigns,
        code: Coding::loinc(code, "vital"),
        panel: None,
        value: ObservationValue::Quantity(Quantity { value, unit: unit.into() }),
        reference_range: None,
        interpretation: Some(Interpretation::Normal),
        status: ObservationStatus::Final,
        status_reason: None,
        effective_at: DateTime::<Utc>::UNIX_EPOCH,
        recorded_by: "nurse-1".into(),
    }
}

#[test]
fn each_vital_at_min_max_just_beyond_and_in_a_wrong_unit() {
    for s in VITAL_SPECS {
        assert_eq!(validate_observation(&vital(s.loinc, s.min, s.ucum)), Ok(()), "{}", s.name);
        assert_eq!(validate_observation(&vital(s.loinc, s.max, s.ucum)), Ok(()), "{}", s.name);
        for bad in [s.min - 0.1, s.max + 0.1] {
            let e = validate_observation(&vital(s.loinc, bad, s.ucum)).expect_err(s.name);
            assert_eq!(e.len(), 1);
            assert_eq!(e.0[0].field, "value");
            let expected = format!("{} (LOINC {}) must be between {} and {} {}", s.name, s.loinc, s.min, s.max, s.ucum);
            assert_eq!(e.0[0].message, expected);
            assert!(!e.to_string().contains(&bad.to_string()));
        }
        let e = validate_observation(&vital(s.loinc, s.min, "[degF]")).expect_err(s.name);
        assert_eq!(e.0[0].field, "value.unit");
        assert!(e.0[0].message.ends_with(&format!("unit must be {}", s.ucum)));
    }
}

#[test]
fn impossible_vitals_from_the_design() {
    let e = validate_observation(&vital(HEART_RATE, 900.0, "/min")).expect_err("900");
    assert_eq!(e.to_string(), "heart rate (LOINC 8867-4) must be between 20 and 300 /min");
    let e = validate_observation(&vital("8310-5", 80.0, "Cel")).expect_err("80 C");
    assert_eq!(e.to_string(), "body temperature (LOINC 8310-5) must be between 25 and 45 Cel");
}

#[test]
fn vital_limits_apply_only_to_vital_signs_and_quantities() {
    let mut lab = vital(HEART_RATE, 900.0, "/min");
    lab.category = ObservationCategory::Laboratory;
    assert_eq!(validate_observation(&lab), Ok(()));
    let mut text = vital(HEART_RATE, 0.0, "/min");
    text.value = ObservationValue::String { text: "irregular".into() };
    assert_eq!(validate_observation(&text), Ok(()));
    assert_eq!(validate_observation(&vital("9999-9", 1e9, "/min")), Ok(()));
}

#[test]
fn non_finite_numbers_are_rejected() {
    for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        for cat in [ObservationCategory::VitalSigns, ObservationCategory::Laboratory] {
            let mut o = vital(HEART_RATE, v, "/min");
            o.category = cat;
            let e = validate_observation(&o).expect_err("non-finite");
            assert_eq!(e.to_string(), "value must be a finite number");
        }
        let mut o = vital(HEART_RATE, 70.0, "/min");
        o.reference_range = Some(ReferenceRange { low: Some(v), high: None, unit: "/min".into() });
        assert!(validate_observation(&o).expect_err("range").has_field("reference_range"));
    }
}

#[test]
fn observation_structure() {
    let mut o = vital(HEART_RATE, 70.0, "/min");
    o.recorded_by = "  ".into();
    o.reference_range = Some(ReferenceRange { low: Some(100.0), high: Some(60.0), unit: "/min".into() });
    o.code.code = String::new();
    let e = validate_observation(&o).expect_err("invalid");
    assert!(e.has_field("recorded_by") && e.has_field("reference_range") && e.has_field("code.code"));
    assert!(e.to_string().contains("reference_range low must not exceed high"));
    let mut o = vital("2345-7", 5.0, " ");
    o.category = ObservationCategory::Laboratory;
    assert!(validate_observation(&o).expect_err("unit").has_field("value.unit"));
    let mut o = vital(HEART_RATE, 70.0, "/min");
    o.reference_range = Some(ReferenceRange { low: Some(60.0), high: Some(60.0), unit: "/min".into() });
    assert_eq!(validate_observation(&o), Ok(()));
}

fn allergy() -> Allergy {
    Allergy {
        id: Uuid::from_u128(3),
        version: 1,
        updated_at: DateTime::<Utc>::UNIX_EPOCH,
        deleted: false,
        synthetic: false,
        patient_id: Uuid::from_u128(1),
        allergen: Coding::new(crate::RXNORM, "7980", "Penicillin G"),
        allergy_type: AllergyType::Allergy,
        category: AllergyCategory::Medication,
        clinical_status: AllergyClinicalStatus::Active,
        verification_status: AllergyVerificationStatus::Confirmed,
        criticality: Criticality::High,
        reactions: vec![Reaction {
            manifestation: Coding::new(crate::SNOMED_CT, "39579001", "Anaphylaxis"),
            severity: Some(ReactionSeverity::Severe),
        }],
        recorded_at: DateTime::<Utc>::UNIX_EPOCH,
        recorded_by: "dr-1".into(),
    }
}

#[test]
fn allergy_rules() {
    assert_eq!(validate_allergy(&allergy()), Ok(()));
    let mut a = allergy();
    a.allergen.display = "Zebedee".repeat(29); // 203 characters
    let e = validate_allergy(&a).expect_err("long");
    assert_eq!(e.to_string(), "allergen.display must be 1 to 200 characters");
    a.allergen.display = "p".repeat(200);
    assert_eq!(validate_allergy(&a), Ok(()));

    let mut a = allergy();
    a.allergen.code = " ".into();
    a.allergen.display = String::new();
    a.recorded_by = String::new();
    a.reactions.push(Reaction { manifestation: Coding::new(crate::SNOMED_CT, "126485001", ""), severity: None });
    let e = validate_allergy(&a).expect_err("invalid");
    let fields: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["allergen.code", "allergen.display", "recorded_by", "reactions[1].manifestation.display"]);
    assert!(e.to_string().contains("reactions[1].manifestation.display must not be empty"));
}

#[test]
fn errors_serialize_for_the_ui() {
    let e: ValidationErrors = ValidationError::new("mrn", "mrn must be ...").into();
    let json = serde_json::to_string(&e).expect("json");
    assert_eq!(json, r#"[{"field":"mrn","message":"mrn must be ..."}]"#);
    assert_eq!(e.0[0].to_string(), "mrn must be ...");
}

#[cfg(feature = "synthetic")]
#[test]
fn unknown_fields_are_refused_even_inside_tagged_values() {
    let obs = crate::synthetic::generate(&crate::synthetic::SyntheticConfig::new(
        7,
        1,
        date(2026, 1, 1).and_hms_opt(0, 0, 0).expect("midnight").and_utc(),
    ))
    .observations
    .remove(0);
    let mut json = serde_json::to_value(&obs).expect("serialises");
    let back: crate::Observation = serde_json::from_value(json.clone()).expect("deserialises");
    assert!(back == obs, "an observation round-trips through JSON");
    json["surprise"] = serde_json::json!(1);
    assert!(serde_json::from_value::<crate::Observation>(json).is_err(), "an unknown field is refused");
}
