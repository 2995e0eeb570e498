//! Recording doses on a real SQLCipher store: every safety check blocks
//! until overridden, the override is kept and audited in the dose's own
//! transaction, the allergy check finds the patient's stored allergies by
//! code and by ingredient, and the workstation's own rules (due times,
//! reasons, witnesses, entered-in-error).
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub(crate) mod fixture;
mod ward;

use chrono::Duration;
use wardbook_protocol::medication::{
    AdministrationInError, AdministrationStatus, CheckOverride, MedicationRequestStatus, NotGivenReason,
    RecordAdministrationOutcome, SafetyCheck, Timing,
};
use wardbook_protocol::{AuditAction, AuditSubtype, Coding, RXNORM};

use self::fixture::*;
use super::*;
use crate::store::outbox::OutboxState;

/// One safety check: the order, the doses already given and the allergies
/// that make it fail, and the entry recorded.
struct Case {
    check: SafetyCheck,
    order: MedicationRequest,
    given: Vec<(i64, f64)>,
    allergy: Option<(&'static str, &'static str)>,
    witness: Option<&'static str>,
    message: &'static str,
}

fn cases(patient: Uuid) -> Vec<Case> {
    let paracetamol = |timing: Timing| order(patient, timing);
    vec![
        Case {
            check: SafetyCheck::Allergy,
            order: paracetamol(prn(60, None)),
            given: vec![],
            allergy: Some(("161", "Acetaminophen")),
            witness: None,
            message: "the same medication",
        },
        Case {
            check: SafetyCheck::Allergy,
            order: {
                let mut o = paracetamol(prn(60, None));
                o.medication = Coding::new(RXNORM, "313782", "Paracetamol 500 mg tablet");
                o.ingredients = vec![Coding::new(RXNORM, "161", "acetaminophen")];
                o
            },
            given: vec![],
            allergy: Some(("161", "Acetaminophen")),
            witness: None,
            message: "an ingredient of it",
        },
        Case {
            check: SafetyCheck::PrnInterval,
            order: paracetamol(prn(240, Some(4000.0))),
            given: vec![(60, 1000.0)],
            allergy: None,
            witness: None,
            message: "every 240 minutes",
        },
        Case {
            check: SafetyCheck::PrnDailyMaximum,
            order: paracetamol(prn(60, Some(3000.0))),
            given: vec![(20 * 60, 1000.0), (15 * 60, 1000.0), (10 * 60, 1000.0)],
            allergy: None,
            witness: None,
            message: "maximum is 3000 mg",
        },
        Case {
            check: SafetyCheck::OrderNotActive,
            order: {
                let mut o = paracetamol(prn(60, None));
                o.status = MedicationRequestStatus::Stopped;
                o
            },
            given: vec![],
            allergy: None,
            witness: None,
            message: "is stopped",
        },
        Case {
            check: SafetyCheck::OutsideOrderDates,
            order: {
                let mut o = paracetamol(prn(60, None));
                o.end = Some(now() - Duration::hours(1));
                o
            },
            given: vec![],
            allergy: None,
            witness: None,
            message: "outside the order's start and end",
        },
        Case {
            check: SafetyCheck::NoWitness,
            order: {
                let mut o = paracetamol(prn(60, None));
                o.high_alert = true;
                o
            },
            given: vec![],
            allergy: None,
            // The nurse naming themselves is no witness.
            witness: Some(NURSE),
            message: "high-alert",
        },
    ]
}

#[test]
fn each_safety_check_blocks_without_an_override_and_saves_with_one_audited_with_the_dose() {
    for (n, case) in cases(uuid::Uuid::nil()).into_iter().enumerate() {
        let mut f = Fixture::new();
        let patient = f.patient;
        let mut order = case.order;
        order.patient_id = patient;
        let prior: Vec<_> =
            case.given.iter().map(|(ago, mg)| given(&order, now() - Duration::minutes(*ago), None, *mg)).collect();
        f.store.upsert_medications(std::slice::from_ref(&order), &prior, &[]).unwrap();
        if let Some((code, display)) = case.allergy {
            f.store.upsert_allergies(&[allergy(patient, code, display)]).unwrap();
        }
        let mut e = entry(order.id);
        e.witness = case.witness.map(str::to_owned);
        let before = f.counts();

        let held = record_administration(&mut f.store, &f.ctx, patient, &e).unwrap();
        let RecordAdministrationOutcome::NeedsOverride { findings } = held else { panic!("case {n}: held back") };
        let checks: Vec<SafetyCheck> = findings.iter().map(|x| x.check).collect();
        assert_eq!(checks, [case.check], "case {n}: exactly the check that failed");
        assert!(findings[0].message.contains(case.message), "case {n}: {}", findings[0].message);
        assert_eq!(f.counts(), before, "case {n}: nothing saved, nothing audited");

        // A blank reason is no override.
        e.overrides = vec![CheckOverride { check: case.check, reason: "  ".into() }];
        let held = record_administration(&mut f.store, &f.ctx, patient, &e).unwrap();
        assert!(matches!(held, RecordAdministrationOutcome::NeedsOverride { .. }), "case {n}");

        // With a reason it is saved; an override of a check that passed is not kept.
        let other = if case.check == SafetyCheck::NoWitness { SafetyCheck::Allergy } else { SafetyCheck::NoWitness };
        e.overrides = vec![
            CheckOverride { check: case.check, reason: " prescriber confirmed by phone ".into() },
            CheckOverride { check: other, reason: "not needed".into() },
        ];
        let saved = record_administration(&mut f.store, &f.ctx, patient, &e).unwrap();
        let RecordAdministrationOutcome::Saved { row, findings } = saved else { panic!("case {n}: saved") };
        assert_eq!(findings.len(), 1, "case {n}");
        assert!(row.pending, "case {n}");
        let a = &row.administration;
        assert_eq!(
            a.overrides,
            [CheckOverride { check: case.check, reason: "prescriber confirmed by phone".into() }],
            "case {n}"
        );
        assert_eq!((a.performer.as_str(), a.version, a.due_at), (f.ctx.user_id.as_str(), 0, None), "case {n}");
        assert_eq!(a.dose, order.dose, "case {n}: the order's dose by default");
        let after = f.counts();
        assert_eq!(after.administrations, before.administrations + 1, "case {n}");
        assert_eq!(after.pending_edits, before.pending_edits + 1, "case {n}");
        assert_eq!(after.events, before.events + 1, "case {n}: one override, one event");
        let event = f.last_event();
        assert_eq!(
            (event.subtype, event.action, event.patient_id),
            (AuditSubtype::MedicationOverride, AuditAction::Create, Some(patient)),
            "case {n}"
        );
    }
}

#[test]
fn an_override_whose_audit_event_cannot_be_written_saves_nothing() {
    let mut f = Fixture::new();
    let mut order = order(f.patient, prn(60, None));
    order.high_alert = true;
    f.store.upsert_medications(std::slice::from_ref(&order), &[], &[]).unwrap();
    let raw = f.raw();
    raw.execute_batch(
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events
         BEGIN SELECT RAISE(ABORT, 'simulated audit failure'); END;",
    )
    .unwrap();
    let mut e = entry(order.id);
    e.overrides = vec![CheckOverride { check: SafetyCheck::NoWitness, reason: "cardiac arrest".into() }];
    let before = f.counts();
    record_administration(&mut f.store, &f.ctx, f.patient, &e).expect_err("the override's event failed");
    assert_eq!(f.counts(), before, "the dose and its outbox entry went with the event");

    raw.execute_batch("DROP TRIGGER refuse_audit").unwrap();
    let saved = record_administration(&mut f.store, &f.ctx, f.patient, &e).unwrap();
    assert!(matches!(saved, RecordAdministrationOutcome::Saved { .. }));
    // A witness who is someone else needs no override.
    e.overrides.clear();
    e.witness = Some("nurse.other".into());
    e.given_at = Some(now() - Duration::hours(2));
    let saved = record_administration(&mut f.store, &f.ctx, f.patient, &e).unwrap();
    let RecordAdministrationOutcome::Saved { row, findings } = saved else { panic!("saved") };
    assert!(findings.is_empty());
    assert_eq!(row.administration.witness.as_deref(), Some("nurse.other"));
}

#[test]
fn due_times_reasons_and_times_are_checked_before_anything_is_read() {
    let mut f = Fixture::new();
    let scheduled = order(f.patient, Timing::EveryHours { hours: 6 });
    let as_needed = order(f.patient, prn(60, None));
    f.store.upsert_medications(&[scheduled.clone(), as_needed.clone()], &[], &[]).unwrap();
    let field_of = |result: Result<RecordAdministrationOutcome, StoreError>| match result {
        Err(StoreError::Invalid(errors)) => {
            errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; ")
        }
        other => panic!("refused: {other:?}"),
    };
    let refused =
        |f: &mut Fixture, e: &AdministrationEntry| field_of(record_administration(&mut f.store, &f.ctx, f.patient, e));

    let mut e = entry(as_needed.id);
    e.due_at = Some(scheduled.start);
    assert!(refused(&mut f, &e).contains("due_at"), "a PRN dose answers no due time");
    let e = entry(scheduled.id);
    assert!(refused(&mut f, &e).contains("due_at"), "a scheduled dose names its due time");
    let mut e = entry(scheduled.id);
    e.due_at = Some(scheduled.start + Duration::hours(1));
    assert!(refused(&mut f, &e).contains("not one of the order's due times"));
    let mut e = entry(as_needed.id);
    e.status = AdministrationStatus::NotGiven;
    assert!(refused(&mut f, &e).contains("not_given_reason"));
    let mut e = entry(as_needed.id);
    e.given_at = Some(now() + Duration::hours(1));
    assert!(refused(&mut f, &e).contains("future"));
    let mut e = entry(as_needed.id);
    e.status = AdministrationStatus::EnteredInError;
    assert!(refused(&mut f, &e).contains("status"));
    assert_eq!(f.counts().administrations, 0);

    // A due time of the schedule, and a dose not given with its reason (no checks, no dose).
    let due = scheduled.start + Duration::hours(6);
    let mut e = entry(scheduled.id);
    (e.due_at, e.status, e.not_given_reason) =
        (Some(due), AdministrationStatus::NotGiven, Some(NotGivenReason::Refused));
    let RecordAdministrationOutcome::Saved { row, .. } =
        record_administration(&mut f.store, &f.ctx, f.patient, &e).unwrap()
    else {
        panic!("saved")
    };
    assert_eq!((row.administration.due_at, row.administration.dose.as_ref()), (Some(due), None));
    // Another patient's order is not found for this patient.
    let err = record_administration(&mut f.store, &f.ctx, f.other, &entry(as_needed.id)).unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

#[test]
fn entered_in_error_needs_a_reason_keeps_the_record_and_is_pushed_on_its_version() {
    let mut f = Fixture::new();
    let order = order(f.patient, prn(60, None));
    let pulled = given(&order, now() - Duration::hours(2), None, 1000.0);
    f.store.upsert_medications(std::slice::from_ref(&order), std::slice::from_ref(&pulled), &[]).unwrap();
    for reason in [String::new(), "   ".into(), "x".repeat(501)] {
        let request = AdministrationInError { administration_id: pulled.id, reason };
        let err = administration_entered_in_error(&mut f.store, &f.ctx, &request).unwrap_err();
        assert!(err.to_string().contains("1 to 500"), "{err}");
    }
    let request =
        AdministrationInError { administration_id: pulled.id, reason: "recorded on the wrong patient".into() };
    let row = administration_entered_in_error(&mut f.store, &f.ctx, &request).unwrap();
    assert_eq!(row.administration.status, AdministrationStatus::EnteredInError);
    assert_eq!(row.administration.error_reason.as_deref(), Some("recorded on the wrong patient"));
    assert!(pulled.may_become(&row.administration));
    let mutations = crate::sync::local::mutations(&f.store, &f.pending()).unwrap();
    assert_eq!(mutations.len(), 1);
    assert_eq!(mutations[0].base_version, Some(pulled.version), "an update on the version the clinician saw");
    let err = administration_entered_in_error(&mut f.store, &f.ctx, &request).unwrap_err();
    assert!(err.to_string().contains("already"), "{err}");
    assert_eq!(f.store.db().outbox().count(OutboxState::Pending).unwrap(), 1);

    // The dose no longer counts: the PRN interval is free again.
    let saved = record_administration(&mut f.store, &f.ctx, f.patient, &entry(order.id)).unwrap();
    assert!(matches!(saved, RecordAdministrationOutcome::Saved { ref findings, .. } if findings.is_empty()));
}
