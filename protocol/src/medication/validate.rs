//! The rules every stored medication row keeps, whoever wrote it (the
//! feed, a workstation, an import): messages name the field and the limit,
//! never the value.

use super::{AdministrationStatus, Dose, DoseReview, MedicationAdministration, MedicationRequest};
use crate::ValidationErrors;

/// The longest free text kept on an order or administration (instructions,
/// indication, reasons, notes), in characters.
pub const MEDICATION_TEXT_MAX_CHARS: usize = 1000;
/// The longest medication display, generic name, strength, prescriber, site
/// or person named, in characters.
pub const MEDICATION_NAME_MAX_CHARS: usize = 200;

fn text(errs: &mut ValidationErrors, field: &str, value: Option<&str>, required: bool, max: usize) {
    match value.map(str::trim) {
        None | Some("") if required => errs.push(field, format!("{field} is required")),
        Some(v) if v.chars().count() > max => errs.push(field, format!("{field} must be at most {max} characters")),
        _ => {}
    }
}

fn dose(errs: &mut ValidationErrors, field: &str, d: Option<&Dose>) {
    if let Some(d) = d {
        if !d.value.is_finite() || d.value <= 0.0 || d.value > 1.0e6 {
            errs.push(format!("{field}.value"), format!("{field}.value must be a number above 0 and at most 1000000"));
        }
        text(errs, &format!("{field}.unit"), Some(&d.unit), true, 40);
    }
}

pub fn validate_medication_request(o: &MedicationRequest) -> Result<(), ValidationErrors> {
    let mut errs = ValidationErrors::new();
    text(&mut errs, "medication.code", Some(&o.medication.code), true, MEDICATION_NAME_MAX_CHARS);
    text(&mut errs, "medication.display", Some(&o.medication.display), true, MEDICATION_NAME_MAX_CHARS);
    text(&mut errs, "medication.system", Some(&o.medication.system), true, 300);
    for (i, c) in o.ingredients.iter().enumerate() {
        text(&mut errs, &format!("ingredients[{i}].code"), Some(&c.code), true, MEDICATION_NAME_MAX_CHARS);
    }
    text(&mut errs, "generic_name", o.generic_name.as_deref(), false, MEDICATION_NAME_MAX_CHARS);
    text(&mut errs, "strength", o.strength.as_deref(), false, MEDICATION_NAME_MAX_CHARS);
    text(&mut errs, "prescriber", o.prescriber.as_deref(), false, MEDICATION_NAME_MAX_CHARS);
    text(&mut errs, "indication", o.indication.as_deref(), false, MEDICATION_TEXT_MAX_CHARS);
    text(&mut errs, "instructions", o.instructions.as_deref(), false, MEDICATION_TEXT_MAX_CHARS);
    dose(&mut errs, "dose", o.dose.as_ref());
    if let Err(message) = o.timing.validate() {
        errs.push("timing", message);
    }
    if o.end.is_some_and(|end| end < o.start) {
        errs.push("end", "end must not be before start");
    }
    errs.into_result()
}

pub fn validate_administration(a: &MedicationAdministration) -> Result<(), ValidationErrors> {
    let mut errs = ValidationErrors::new();
    text(&mut errs, "performer", Some(&a.performer), true, 120);
    text(&mut errs, "witness", a.witness.as_deref(), false, 120);
    text(&mut errs, "site", a.site.as_deref(), false, MEDICATION_NAME_MAX_CHARS);
    dose(&mut errs, "dose", a.dose.as_ref());
    match a.status {
        AdministrationStatus::NotGiven if a.not_given_reason.is_none() => {
            errs.push("not_given_reason", "not_given_reason is required when a dose is not given");
        }
        AdministrationStatus::Given if a.not_given_reason.is_some() => {
            errs.push("not_given_reason", "not_given_reason is only for a dose not given");
        }
        AdministrationStatus::EnteredInError => {
            text(&mut errs, "error_reason", a.error_reason.as_deref(), true, MEDICATION_TEXT_MAX_CHARS);
        }
        _ => {}
    }
    for (i, o) in a.overrides.iter().enumerate() {
        text(&mut errs, &format!("overrides[{i}].reason"), Some(&o.reason), true, MEDICATION_TEXT_MAX_CHARS);
    }
    errs.into_result()
}

pub fn validate_dose_review(r: &DoseReview) -> Result<(), ValidationErrors> {
    let mut errs = ValidationErrors::new();
    text(&mut errs, "note", Some(&r.note), true, MEDICATION_TEXT_MAX_CHARS);
    text(&mut errs, "reviewed_by", Some(&r.reviewed_by), true, 120);
    if r.administration_ids.len() < 2 {
        errs.push("administration_ids", "administration_ids must name the two or more records reviewed");
    }
    errs.into_result()
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use uuid::Uuid;

    use super::*;
    use crate::medication::{
        CheckOverride, DoseReviewOutcome, MedicationRequestStatus, NotGivenReason, SafetyCheck, Timing,
    };
    use crate::{Coding, RXNORM};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("an RFC 3339 instant").with_timezone(&Utc)
    }

    fn order() -> MedicationRequest {
        MedicationRequest {
            id: Uuid::from_u128(10),
            version: 1,
            updated_at: DateTime::<Utc>::UNIX_EPOCH,
            deleted: false,
            synthetic: true,
            patient_id: Uuid::from_u128(1),
            medication: Coding::new(RXNORM, "161", "Paracetamol"),
            ingredients: Vec::new(),
            generic_name: None,
            strength: None,
            dose: Some(Dose { value: 1.0, unit: "g".into() }),
            route: None,
            timing: Timing::Prn { min_interval_minutes: 240, max_daily_dose: Some(4.0) },
            start: at("2025-06-10T08:00:00Z"),
            end: None,
            status: MedicationRequestStatus::Active,
            prescriber: None,
            indication: None,
            instructions: None,
            high_alert: false,
        }
    }

    fn given() -> MedicationAdministration {
        MedicationAdministration {
            id: Uuid::from_u128(20),
            version: 1,
            updated_at: DateTime::<Utc>::UNIX_EPOCH,
            deleted: false,
            synthetic: true,
            patient_id: Uuid::from_u128(1),
            request_id: Uuid::from_u128(10),
            due_at: None,
            status: AdministrationStatus::Given,
            not_given_reason: None,
            dose: Some(Dose { value: 1.0, unit: "g".into() }),
            route: None,
            site: None,
            given_at: at("2025-06-10T09:00:00Z"),
            performer: "nurse-a".into(),
            witness: None,
            overrides: Vec::new(),
            error_reason: None,
            recorded_at: at("2025-06-10T09:00:00Z"),
        }
    }

    fn review() -> DoseReview {
        DoseReview {
            id: Uuid::from_u128(30),
            version: 1,
            updated_at: DateTime::<Utc>::UNIX_EPOCH,
            deleted: false,
            synthetic: true,
            patient_id: Uuid::from_u128(1),
            request_id: Uuid::from_u128(10),
            due_at: None,
            administration_ids: vec![Uuid::from_u128(20), Uuid::from_u128(21)],
            outcome: DoseReviewOutcome::DoubleDoseConfirmed,
            note: "patient assessed, prescriber told".into(),
            reviewed_by: "dr-1".into(),
            reviewed_at: at("2025-06-10T10:00:00Z"),
        }
    }

    /// Label, the record or its change, (field, message) of each error expected.
    type Case<'a, T> = (&'a str, T, Vec<(String, String)>);

    /// (field, message) of each error, in order.
    fn errors(result: Result<(), ValidationErrors>) -> Vec<(String, String)> {
        result.err().map_or_else(Vec::new, |e| e.iter().map(|e| (e.field.clone(), e.message.clone())).collect())
    }

    fn one(field: &str, message: &str) -> Vec<(String, String)> {
        vec![(field.to_owned(), message.to_owned())]
    }

    const DOSE_VALUE: &str = "dose.value must be a number above 0 and at most 1000000";

    fn dose(value: f64) -> Option<Dose> {
        Some(Dose { value, unit: "g".into() })
    }

    #[test]
    fn administration_messages() {
        type Change = fn(&mut MedicationAdministration);
        let cases: Vec<Case<Change>> = vec![
            ("valid", |_| {}, vec![]),
            (
                "not given without a reason",
                |a| a.status = AdministrationStatus::NotGiven,
                one("not_given_reason", "not_given_reason is required when a dose is not given"),
            ),
            (
                "not given with a reason",
                |a| {
                    a.status = AdministrationStatus::NotGiven;
                    a.not_given_reason = Some(NotGivenReason::Refused);
                },
                vec![],
            ),
            (
                "given with a not-given reason",
                |a| a.not_given_reason = Some(NotGivenReason::Held),
                one("not_given_reason", "not_given_reason is only for a dose not given"),
            ),
            (
                "entered in error without a reason",
                |a| a.status = AdministrationStatus::EnteredInError,
                one("error_reason", "error_reason is required"),
            ),
            (
                "entered in error with a blank reason",
                |a| {
                    a.status = AdministrationStatus::EnteredInError;
                    a.error_reason = Some(" \n ".into());
                },
                one("error_reason", "error_reason is required"),
            ),
            (
                "entered in error with a reason",
                |a| {
                    a.status = AdministrationStatus::EnteredInError;
                    a.error_reason = Some("wrong patient".into());
                },
                vec![],
            ),
            ("dose 0", |a| a.dose = dose(0.0), one("dose.value", DOSE_VALUE)),
            ("dose below 0", |a| a.dose = dose(-1.0), one("dose.value", DOSE_VALUE)),
            ("dose NaN", |a| a.dose = dose(f64::NAN), one("dose.value", DOSE_VALUE)),
            ("dose infinite", |a| a.dose = dose(f64::INFINITY), one("dose.value", DOSE_VALUE)),
            ("dose above the limit", |a| a.dose = dose(1.0e6 + 1.0), one("dose.value", DOSE_VALUE)),
            ("dose at the limit", |a| a.dose = dose(1.0e6), vec![]),
            ("a tiny dose", |a| a.dose = dose(0.001), vec![]),
            ("no dose", |a| a.dose = None, vec![]),
            (
                "a dose without a unit",
                |a| a.dose = Some(Dose { value: 1.0, unit: " ".into() }),
                one("dose.unit", "dose.unit is required"),
            ),
            ("no performer", |a| a.performer = "  ".into(), one("performer", "performer is required")),
            (
                "an override without a reason",
                |a| {
                    a.overrides = vec![
                        CheckOverride { check: SafetyCheck::Allergy, reason: "prescriber confirmed".into() },
                        CheckOverride { check: SafetyCheck::NoWitness, reason: " ".into() },
                    ]
                },
                one("overrides[1].reason", "overrides[1].reason is required"),
            ),
        ];
        for (label, change, expected) in cases {
            let mut a = given();
            change(&mut a);
            assert_eq!(errors(validate_administration(&a)), expected, "{label}");
        }
    }

    #[test]
    fn medication_request_messages() {
        type Change = fn(&mut MedicationRequest);
        let cases: Vec<Case<Change>> = vec![
            ("valid", |_| {}, vec![]),
            (
                "end before start",
                |o| o.end = Some(o.start - chrono::Duration::seconds(1)),
                one("end", "end must not be before start"),
            ),
            ("end at start", |o| o.end = Some(o.start), vec![]),
            ("end after start", |o| o.end = Some(o.start + chrono::Duration::days(5)), vec![]),
            ("dose 0", |o| o.dose = dose(0.0), one("dose.value", DOSE_VALUE)),
            ("dose NaN", |o| o.dose = dose(f64::NAN), one("dose.value", DOSE_VALUE)),
            (
                "no display",
                |o| o.medication.display = String::new(),
                one("medication.display", "medication.display is required"),
            ),
        ];
        for (label, change, expected) in cases {
            let mut o = order();
            change(&mut o);
            assert_eq!(errors(validate_medication_request(&o)), expected, "{label}");
        }
    }

    #[test]
    fn dose_review_messages() {
        let ids = |n: u128| (0..n).map(Uuid::from_u128).collect::<Vec<_>>();
        let too_few = "administration_ids must name the two or more records reviewed";
        let cases: Vec<Case<DoseReview>> = vec![
            ("valid", review(), vec![]),
            ("three records", DoseReview { administration_ids: ids(3), ..review() }, vec![]),
            ("one record", DoseReview { administration_ids: ids(1), ..review() }, one("administration_ids", too_few)),
            ("no records", DoseReview { administration_ids: ids(0), ..review() }, one("administration_ids", too_few)),
            ("a blank note", DoseReview { note: " \t".into(), ..review() }, one("note", "note is required")),
            ("an empty note", DoseReview { note: String::new(), ..review() }, one("note", "note is required")),
            (
                "no reviewer",
                DoseReview { reviewed_by: String::new(), ..review() },
                one("reviewed_by", "reviewed_by is required"),
            ),
        ];
        for (label, r, expected) in cases {
            assert_eq!(errors(validate_dose_review(&r)), expected, "{label}");
        }
    }
}
