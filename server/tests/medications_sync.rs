//! Medication orders reach the ward's devices through the feed; pushed
//! administrations are append-only facts: two for one due dose from two
//! devices are both kept, an entered-in-error mark is accepted whatever
//! version the device saw, and any other change is refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{Duration, Utc};
use common::{TestServer, new_mutation};
use uuid::Uuid;
use wardbook_protocol::api::{Change, MutationOutcome, Record, RejectReason};
use wardbook_protocol::medication::{
    AdministrationStatus, Dose, DoseReview, DoseReviewOutcome, MedicationAdministration, MedicationRequest,
    MedicationRequestStatus, Timing,
};
use wardbook_protocol::{Coding, RXNORM};

/// A synthetic order for `patient`, filed under the sender's order number.
async fn file_order(server: &TestServer, patient: Uuid, number: &str, status: MedicationRequestStatus) -> Uuid {
    let order = MedicationRequest {
        id: Uuid::now_v7(),
        version: 0,
        updated_at: Utc::now(),
        deleted: false,
        synthetic: true,
        patient_id: patient,
        medication: Coding::new(RXNORM, "723", "Amoxicillin 500 MG Oral Capsule"),
        ingredients: vec![Coding::new(RXNORM, "723", "Amoxicillin")],
        generic_name: Some("amoxicillin".into()),
        strength: Some("500 mg per capsule".into()),
        dose: Some(Dose { value: 500.0, unit: "mg".into() }),
        route: Some(Coding::new("http://snomed.info/sct", "26643006", "Oral route")),
        timing: Timing::TimesPerDay { count: 3 },
        // Fixed, so that filing the same order twice sends the same order.
        start: chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap(),
        end: None,
        status,
        prescriber: Some("Dr Synthetic".into()),
        indication: None,
        instructions: None,
        high_alert: false,
    };
    let keys = server.state.keys.get().await.unwrap();
    let mut db = server.owner().await;
    let tx = db.transaction().await.unwrap();
    let id = wardbook_server::ingest::upsert_medication_request(&tx, &keys, ("urn:test:placer", number), order)
        .await
        .unwrap()
        .expect("the order is filed");
    tx.commit().await.unwrap();
    id
}

fn administration(
    order: &MedicationRequest,
    due_at: chrono::DateTime<Utc>,
    performer: &str,
) -> MedicationAdministration {
    MedicationAdministration {
        id: Uuid::now_v7(),
        version: 0,
        updated_at: Utc::now(),
        deleted: false,
        synthetic: true,
        patient_id: order.patient_id,
        request_id: order.id,
        due_at: Some(due_at),
        status: AdministrationStatus::Given,
        not_given_reason: None,
        dose: order.dose.clone(),
        route: order.route.clone(),
        site: None,
        given_at: due_at,
        performer: performer.into(),
        witness: None,
        overrides: Vec::new(),
        error_reason: None,
        recorded_at: Utc::now(),
    }
}

fn outcome(record: Record, base: Option<i64>) -> wardbook_protocol::api::Mutation {
    new_mutation(base, record)
}

fn administrations_of(changes: &[Change]) -> Vec<MedicationAdministration> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::MedicationAdministration { medication_administration } => Some(medication_administration.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_reach_the_ward_and_doses_are_facts() {
    let server = TestServer::start().await;
    server.synth(4, 15).await;
    let first = server.enrol("Ward 7A").await;
    let second = server.enrol("Ward 7A").await;
    let (changes, cursor) = server.pull_all(&first, None, 1000).await;
    let patient = common::patient_ids(&changes)[0];

    // An order from the EHR arrives at the next pull, after its patient.
    let order_id = file_order(&server, patient, "RX-1", MedicationRequestStatus::Active).await;
    let (changes, cursor) = server.pull_all(&first, Some(&cursor), 1000).await;
    let order = changes
        .iter()
        .find_map(|c| match c {
            Change::MedicationRequest { medication_request } if medication_request.id == order_id => {
                Some(medication_request.clone())
            }
            _ => None,
        })
        .expect("the order in the feed");
    assert_eq!(order.patient_id, patient);
    // The same order again changes nothing: no new version to pull.
    file_order(&server, patient, "RX-1", MedicationRequestStatus::Active).await;
    let (again, _) = server.pull_all(&first, Some(&cursor), 1000).await;
    assert!(again.iter().all(|c| !matches!(c, Change::MedicationRequest { .. })), "{again:?}");

    // Two nurses on two workstations record the same due dose.
    let due = Utc::now() - Duration::hours(2);
    let (a, b) = (administration(&order, due, "nurse.one"), administration(&order, due, "nurse.two"));
    for (device, record) in [(&first, &a), (&second, &b)] {
        let pushed = server
            .push_ok(
                device,
                vec![outcome(Record::MedicationAdministration { medication_administration: record.clone() }, None)],
            )
            .await;
        assert!(matches!(pushed.results[0].outcome, MutationOutcome::Applied { .. }), "{pushed:?}");
    }
    let kept: i64 = server
        .owner()
        .await
        .query_one("SELECT count(*) FROM medication_administrations WHERE request_id = $1", &[&order.id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(kept, 2, "both doses are kept");
    let (changes, _) = server.pull_all(&second, None, 1000).await;
    let mut pulled: Vec<Uuid> =
        administrations_of(&changes).iter().filter(|a| a.request_id == order.id).map(|a| a.id).collect();
    pulled.sort();
    let mut both = vec![a.id, b.id];
    both.sort();
    assert_eq!(pulled, both, "every workstation of the ward receives both");

    // Marked entered-in-error on a stale version: accepted, not a conflict.
    let mut marked = a.clone();
    marked.status = AdministrationStatus::EnteredInError;
    marked.error_reason = Some("Recorded twice".into());
    let answer = server
        .push_ok(
            &first,
            vec![outcome(Record::MedicationAdministration { medication_administration: marked.clone() }, Some(0))],
        )
        .await;
    assert!(matches!(answer.results[0].outcome, MutationOutcome::Applied { version: 2 }), "{answer:?}");

    // Any other change is refused: the dose stays as recorded.
    let mut changed = b.clone();
    changed.dose = Some(Dose { value: 250.0, unit: "mg".into() });
    let answer = server
        .push_ok(
            &second,
            vec![outcome(Record::MedicationAdministration { medication_administration: changed }, Some(1))],
        )
        .await;
    let MutationOutcome::Rejected { reason, message } = &answer.results[0].outcome else { panic!("{answer:?}") };
    assert_eq!(*reason, RejectReason::Validation);
    assert!(message.contains("entered-in-error"), "{message}");
    let stored: serde_json::Value = server
        .owner()
        .await
        .query_one("SELECT body FROM medication_administrations WHERE id = $1", &[&b.id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored["dose"]["value"], 500.0);

    // A dose for an order of another patient is refused.
    let mut stray = administration(&order, due, "nurse.one");
    let other = common::patient_ids(&changes).into_iter().find(|p| *p != patient).unwrap();
    stray.patient_id = other;
    let answer = server
        .push_ok(&first, vec![outcome(Record::MedicationAdministration { medication_administration: stray }, None)])
        .await;
    assert!(matches!(answer.results[0].outcome, MutationOutcome::Rejected { reason: RejectReason::Validation, .. }));

    // A review is stored and travels; it cannot be changed afterwards.
    let review = DoseReview {
        id: Uuid::now_v7(),
        version: 0,
        updated_at: Utc::now(),
        deleted: false,
        synthetic: true,
        patient_id: patient,
        request_id: order.id,
        due_at: Some(due),
        administration_ids: both.clone(),
        outcome: DoseReviewOutcome::DuplicateRecord,
        note: "One dose given; the second record was a duplicate.".into(),
        reviewed_by: "nurse.lead".into(),
        reviewed_at: Utc::now(),
    };
    let answer = server.push_ok(&first, vec![outcome(Record::DoseReview { dose_review: review.clone() }, None)]).await;
    assert!(matches!(answer.results[0].outcome, MutationOutcome::Applied { .. }), "{answer:?}");
    let answer = server.push_ok(&first, vec![outcome(Record::DoseReview { dose_review: review }, Some(1))]).await;
    assert!(matches!(answer.results[0].outcome, MutationOutcome::Rejected { .. }), "{answer:?}");
    let (changes, _) = server.pull_all(&second, None, 1000).await;
    assert!(changes.iter().any(|c| matches!(c, Change::DoseReview { .. })), "the review reaches the ward");

    // A stop from the EHR stops the order on the ward.
    let mut db = server.owner().await;
    let tx = db.transaction().await.unwrap();
    let keys = server.state.keys.get().await.unwrap();
    wardbook_server::ingest::set_order_status(
        &tx,
        &keys,
        ("urn:test:placer", "RX-1"),
        MedicationRequestStatus::Stopped,
    )
    .await
    .unwrap()
    .unwrap();
    tx.commit().await.unwrap();
    let (changes, _) = server.pull_all(&first, None, 1000).await;
    let stopped = changes.iter().find_map(|c| match c {
        Change::MedicationRequest { medication_request } if medication_request.id == order_id => {
            Some(medication_request.status)
        }
        _ => None,
    });
    assert_eq!(stopped, Some(MedicationRequestStatus::Stopped));
}
