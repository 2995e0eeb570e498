//! The three-way merge's table of cases, and the conflict decision's.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;
use wardbook_protocol::medication::{Dose, DoseReview, DoseReviewOutcome};
use wardbook_protocol::{
    Allergy, AllergyCategory, AllergyClinicalStatus, AllergyType, AllergyVerificationStatus, Coding, Criticality,
    Interpretation, LOINC, Observation, ObservationCategory, ObservationStatus, ObservationValue, Quantity, Reaction,
    ReactionSeverity, ReferenceRange, SNOMED_CT,
};

use super::*;

fn at(minutes: i64) -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + Duration::minutes(minutes)
}

fn hives(severity: ReactionSeverity) -> Reaction {
    Reaction { manifestation: Coding::new(SNOMED_CT, "126485001", "Urticaria"), severity: Some(severity) }
}

/// The allergy as the clinician found it (version 3), changed by `edit`.
fn allergy(edit: impl FnOnce(&mut Allergy)) -> Record {
    let mut allergy = Allergy {
        id: Uuid::from_u128(7),
        version: 3,
        updated_at: at(0),
        deleted: false,
        synthetic: true,
        patient_id: Uuid::from_u128(1),
        allergen: Coding::new(wardbook_protocol::RXNORM, "7980", "Penicillin G"),
        allergy_type: AllergyType::Allergy,
        category: AllergyCategory::Medication,
        clinical_status: AllergyClinicalStatus::Active,
        verification_status: AllergyVerificationStatus::Unconfirmed,
        criticality: Criticality::High,
        reactions: vec![hives(ReactionSeverity::Mild)],
        recorded_at: at(0),
        recorded_by: "dr-1".into(),
    };
    edit(&mut allergy);
    Record::Allergy { allergy }
}

/// The observation as the clinician found it (version 3), changed by `edit`.
fn observation(edit: impl FnOnce(&mut Observation)) -> Record {
    let mut observation = Observation {
        id: Uuid::from_u128(8),
        version: 3,
        updated_at: at(0),
        deleted: false,
        synthetic: true,
        patient_id: Uuid::from_u128(1),
        category: ObservationCategory::Laboratory,
        code: Coding::new(LOINC, "2823-3", "Potassium"),
        panel: None,
        value: ObservationValue::Quantity(Quantity { value: 6.1, unit: "mmol/L".into() }),
        reference_range: Some(ReferenceRange { low: Some(3.5), high: Some(5.0), unit: "mmol/L".into() }),
        interpretation: Some(Interpretation::High),
        status: ObservationStatus::Final,
        status_reason: None,
        effective_at: at(0),
        recorded_by: "lab".into(),
    };
    edit(&mut observation);
    Record::Observation { observation }
}

struct Case {
    name: &'static str,
    prior: Option<Record>,
    mine: Record,
    theirs: Record,
    want: Result<Record, MergeError>,
}

#[test]
fn merge_lays_the_clinicians_changes_over_the_servers_row() {
    let cases = [
        Case {
            name: "a new record is the clinician's, at the server's version",
            prior: None,
            mine: allergy(|a| (a.version, a.criticality) = (0, Criticality::Low)),
            theirs: allergy(|a| a.version = 4),
            want: Ok(allergy(|a| (a.version, a.criticality) = (4, Criticality::Low))),
        },
        Case {
            name: "each side's change to a different field is kept",
            prior: Some(allergy(|_| ())),
            mine: allergy(|a| (a.updated_at, a.criticality) = (at(5), Criticality::Low)),
            theirs: allergy(|a| {
                (a.version, a.updated_at) = (4, at(3));
                a.verification_status = AllergyVerificationStatus::Confirmed;
            }),
            want: Ok(allergy(|a| {
                (a.version, a.updated_at, a.criticality) = (4, at(5), Criticality::Low);
                a.verification_status = AllergyVerificationStatus::Confirmed;
            })),
        },
        Case {
            name: "where both changed a field, the clinician's value wins",
            prior: Some(allergy(|_| ())),
            mine: allergy(|a| a.criticality = Criticality::Low),
            theirs: allergy(|a| (a.version, a.criticality) = (4, Criticality::UnableToAssess)),
            want: Ok(allergy(|a| (a.version, a.criticality) = (4, Criticality::Low))),
        },
        Case {
            name: "an edit that changed nothing is the server's row",
            prior: Some(allergy(|_| ())),
            mine: allergy(|_| ()),
            theirs: allergy(|a| (a.version, a.clinical_status) = (4, AllergyClinicalStatus::Resolved)),
            want: Ok(allergy(|a| (a.version, a.clinical_status) = (4, AllergyClinicalStatus::Resolved))),
        },
        Case {
            name: "a nested object merges field by field",
            prior: Some(allergy(|_| ())),
            mine: allergy(|a| a.allergen.display = "Benzylpenicillin".into()),
            theirs: allergy(|a| (a.version, a.allergen.code) = (4, "7984".into())),
            want: Ok(allergy(|a| {
                a.version = 4;
                a.allergen = Coding::new(wardbook_protocol::RXNORM, "7984", "Benzylpenicillin");
            })),
        },
        Case {
            name: "a list the clinician changed is taken whole",
            prior: Some(allergy(|_| ())),
            mine: allergy(|a| a.reactions.push(hives(ReactionSeverity::Severe))),
            theirs: allergy(|a| (a.version, a.reactions) = (4, vec![hives(ReactionSeverity::Moderate)])),
            want: Ok(allergy(|a| {
                a.version = 4;
                a.reactions = vec![hives(ReactionSeverity::Mild), hives(ReactionSeverity::Severe)];
            })),
        },
        Case {
            name: "a list only the server changed is the server's",
            prior: Some(allergy(|_| ())),
            mine: allergy(|a| a.criticality = Criticality::Low),
            theirs: allergy(|a| (a.version, a.reactions) = (4, Vec::new())),
            want: Ok(allergy(|a| (a.version, a.criticality, a.reactions) = (4, Criticality::Low, Vec::new()))),
        },
        Case {
            name: "an optional object all three have merges field by field",
            prior: Some(observation(|_| ())),
            mine: observation(|o| o.reference_range.as_mut().expect("range").low = Some(3.6)),
            theirs: observation(|o| {
                o.version = 4;
                o.reference_range.as_mut().expect("range").high = Some(5.1);
            }),
            want: Ok(observation(|o| {
                o.version = 4;
                o.reference_range = Some(ReferenceRange { low: Some(3.6), high: Some(5.1), unit: "mmol/L".into() });
            })),
        },
        Case {
            name: "a field the server's row leaves out is the clinician's when they set it",
            prior: Some(observation(|_| ())),
            mine: observation(|o| {
                o.status = ObservationStatus::EnteredInError;
                o.status_reason = Some("wrong patient".into());
            }),
            theirs: observation(|o| (o.version, o.interpretation) = (4, Some(Interpretation::CriticalHigh))),
            want: Ok(observation(|o| {
                (o.version, o.interpretation) = (4, Some(Interpretation::CriticalHigh));
                o.status = ObservationStatus::EnteredInError;
                o.status_reason = Some("wrong patient".into());
            })),
        },
        Case {
            name: "a field only the server set stays",
            prior: Some(observation(|_| ())),
            mine: observation(|o| o.interpretation = None),
            theirs: observation(|o| {
                (o.version, o.status) = (4, ObservationStatus::Amended);
                o.status_reason = Some("recalibrated analyser".into());
            }),
            want: Ok(observation(|o| {
                (o.version, o.status, o.interpretation) = (4, ObservationStatus::Amended, None);
                o.status_reason = Some("recalibrated analyser".into());
            })),
        },
        Case {
            name: "the server's row of another record does not merge",
            prior: Some(allergy(|_| ())),
            mine: allergy(|a| a.criticality = Criticality::Low),
            theirs: allergy(|a| (a.id, a.version) = (Uuid::from_u128(9), 4)),
            want: Err(MergeError::NotOneRecord),
        },
        Case {
            name: "a prior of another kind does not merge",
            prior: Some(observation(|o| o.id = Uuid::from_u128(7))),
            mine: allergy(|a| a.criticality = Criticality::Low),
            theirs: allergy(|a| a.version = 4),
            want: Err(MergeError::NotOneRecord),
        },
    ];
    for case in cases {
        assert_eq!(merge(case.prior.as_ref(), &case.mine, &case.theirs), case.want, "{}", case.name);
    }
}

/// A dose given (version 3), changed by `edit`.
fn administration(edit: impl FnOnce(&mut MedicationAdministration)) -> Record {
    let mut a = MedicationAdministration {
        id: Uuid::from_u128(21),
        version: 3,
        updated_at: at(0),
        deleted: false,
        synthetic: true,
        patient_id: Uuid::from_u128(1),
        request_id: Uuid::from_u128(20),
        due_at: Some(at(0)),
        status: AdministrationStatus::Given,
        not_given_reason: None,
        dose: Some(Dose { value: 500.0, unit: "mg".into() }),
        route: None,
        site: None,
        given_at: at(2),
        performer: "nurse-1".into(),
        witness: None,
        overrides: Vec::new(),
        error_reason: None,
        recorded_at: at(3),
    };
    edit(&mut a);
    Record::MedicationAdministration { medication_administration: a }
}

fn mark(a: &mut MedicationAdministration) {
    a.status = AdministrationStatus::EnteredInError;
    a.error_reason = Some("wrong patient".into());
    a.updated_at = at(9);
}

#[test]
fn an_administration_is_never_merged_field_by_field_and_the_mark_wins() {
    // The server's row differs in a clinical field (it cannot change one,
    // but if it did, its fact stands): only the mark is laid over it.
    let theirs = administration(|a| (a.version, a.site) = (4, Some("left deltoid".into())));
    let mine = administration(|a| {
        mark(a);
        a.dose = Some(Dose { value: 250.0, unit: "mg".into() });
    });
    let merged = merge(Some(&administration(|_| ())), &mine, &theirs).expect("merges");
    let want = administration(|a| {
        mark(a);
        (a.version, a.site) = (4, Some("left deltoid".into()));
    });
    assert_eq!(merged, want);
    let (
        Record::MedicationAdministration { medication_administration: t },
        Record::MedicationAdministration { medication_administration: m },
    ) = (&theirs, &merged)
    else {
        panic!("administrations")
    };
    assert!(t.may_become(m), "what a re-apply pushes is a change the service accepts");

    // A record that is not a mark stays the server's.
    let unmarked = merge(Some(&administration(|_| ())), &administration(|a| a.site = Some("x".into())), &theirs);
    assert_eq!(unmarked, Ok(theirs.clone()));
}

#[test]
fn a_dose_review_is_the_servers_as_it_is() {
    let review = |note: &str, version: i64| Record::DoseReview {
        dose_review: DoseReview {
            id: Uuid::from_u128(30),
            version,
            updated_at: at(0),
            deleted: false,
            synthetic: true,
            patient_id: Uuid::from_u128(1),
            request_id: Uuid::from_u128(20),
            due_at: None,
            administration_ids: vec![Uuid::from_u128(21), Uuid::from_u128(22)],
            outcome: DoseReviewOutcome::DuplicateRecord,
            note: note.into(),
            reviewed_by: "dr-1".into(),
            reviewed_at: at(0),
        },
    };
    let merged = merge(Some(&review("a", 3)), &review("mine", 3), &review("theirs", 4));
    assert_eq!(merged, Ok(review("theirs", 4)));
    assert_eq!(merge(None, &review("mine", 0), &review("theirs", 4)), Ok(review("mine", 4)));
}

#[test]
fn a_conflict_on_an_entered_in_error_mark_never_waits_for_a_clinician() {
    let prior = administration(|_| ());
    let mine = administration(mark);
    let cases: [(&str, Record, Record, Option<i64>, OnConflict); 6] = [
        (
            "the server's row is marked already: settled",
            mine.clone(),
            administration(|a| {
                mark(a);
                a.version = 5;
            }),
            Some(3),
            OnConflict::Settled,
        ),
        (
            "the server's row changed since: the mark goes up again on its version",
            mine.clone(),
            administration(|a| a.version = 4),
            Some(3),
            OnConflict::Rebase(Box::new(administration(|a| {
                mark(a);
                a.version = 4;
            }))),
        ),
        (
            "refused at the server's own version: kept, visible, never dropped",
            mine.clone(),
            administration(|a| a.version = 4),
            Some(4),
            OnConflict::Keep,
        ),
        (
            "a new administration: kept",
            administration(|a| a.version = 0),
            administration(|a| a.version = 4),
            None,
            OnConflict::Keep,
        ),
        (
            "another record's row: kept",
            mine.clone(),
            administration(|a| (a.id, a.version) = (Uuid::from_u128(99), 4)),
            Some(3),
            OnConflict::Keep,
        ),
        ("any other kind of edit: kept", allergy(|_| ()), allergy(|a| a.version = 4), Some(3), OnConflict::Keep),
    ];
    for (name, mine, theirs, base, want) in cases {
        assert_eq!(on_conflict(Some(&prior), &mine, &theirs, base), want, "{name}");
    }
}
