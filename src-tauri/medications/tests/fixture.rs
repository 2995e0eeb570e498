//! A real SQLCipher store with three synthetic patients (no allergies or
//! orders of the generator's: each test adds its own), and builders of the
//! rows the medication tests need.

use chrono::{DateTime, Duration, SubsecRound, TimeZone, Utc};
use tempfile::TempDir;
use uuid::Uuid;
use wardbook_protocol::medication::{
    AdministrationEntry, AdministrationStatus, Dose, MedicationAdministration, MedicationRequest,
    MedicationRequestStatus, Timing,
};
use wardbook_protocol::synthetic::{SyntheticConfig, generate};
use wardbook_protocol::{
    Allergy, AllergyCategory, AllergyClinicalStatus, AllergyType, AllergyVerificationStatus, AuditEvent, Coding,
    Criticality, RXNORM, SNOMED_CT,
};

use crate::audit::AccessContext;
use crate::config::ClinicalSettings;
use crate::keys::DbKey;
use crate::store::Store;

/// The clinician recording in these tests.
pub(crate) const NURSE: &str = "nurse.synthetic";

pub(crate) struct Fixture {
    pub dir: TempDir,
    pub key: DbKey,
    pub store: Store,
    pub ctx: AccessContext,
    /// Patients 0, 1 and 2 of the generator, in census order or not.
    pub patient: Uuid,
    pub other: Uuid,
    pub third: Uuid,
}

/// What a step wrote: cached administrations and reviews, pending edits,
/// audit events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Counts {
    pub administrations: usize,
    pub reviews: usize,
    pub pending_edits: i64,
    pub events: i64,
}

impl Fixture {
    pub(crate) fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let key = DbKey::generate();
        let (mut store, _) = Store::open(&dir.path().join("w.db"), &key, &dir.path().join("q")).unwrap();
        store.set_clinical(ClinicalSettings {
            time_zone: chrono_tz::Europe::London,
            news2_max_age: Duration::hours(12),
        });
        let anchor = Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).single().unwrap();
        let ward = generate(&SyntheticConfig::new(5, 3, anchor));
        store.upsert_patients(&ward.patients).unwrap();
        let ids: Vec<Uuid> = ward.patients.iter().map(|p| p.id).collect();
        Fixture { dir, key, store, ctx: AccessContext::treatment(NURSE), patient: ids[0], other: ids[1], third: ids[2] }
    }

    /// Another connection to the same file, as a bug or an attacker with the key would have.
    pub(crate) fn raw(&self) -> rusqlite::Connection {
        let conn =
            crate::store::sqlcipher::open(&self.dir.path().join("w.db"), rusqlite::OpenFlags::default()).unwrap();
        conn.execute_batch(&format!("PRAGMA key = \"x'{}'\";", &*self.key.expose_hex())).unwrap();
        conn
    }

    pub(crate) fn counts(&self) -> Counts {
        let digest = self.store.digest().unwrap();
        let kind = |k: &str| digest.keys().filter(|(kind, _)| *kind == k).count();
        Counts {
            administrations: kind("medication_administration"),
            reviews: kind("dose_review"),
            pending_edits: self.store.db().outbox().count(crate::store::outbox::OutboxState::Pending).unwrap(),
            events: self.store.db().audit_events().max_sequence().unwrap(),
        }
    }

    pub(crate) fn events(&self, last: u32) -> Vec<AuditEvent> {
        crate::audit::recent_events(&self.store, last).unwrap()
    }

    pub(crate) fn last_event(&self) -> AuditEvent {
        self.events(1).pop().unwrap()
    }

    /// The pending mutation ids, oldest first.
    pub(crate) fn pending(&self) -> Vec<Uuid> {
        self.store.db().outbox().pending().unwrap().into_iter().map(|e| e.mutation_id).collect()
    }
}

pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

pub(crate) fn prn(min_interval_minutes: u32, max_daily_dose: Option<f64>) -> Timing {
    Timing::Prn { min_interval_minutes, max_daily_dose }
}

/// An active paracetamol 1 g order for `patient`, started two days ago.
pub(crate) fn order(patient: Uuid, timing: Timing) -> MedicationRequest {
    MedicationRequest {
        id: Uuid::now_v7(),
        version: 1,
        updated_at: now(),
        deleted: false,
        synthetic: true,
        patient_id: patient,
        medication: Coding::new(RXNORM, "161", "Paracetamol"),
        ingredients: Vec::new(),
        generic_name: Some("paracetamol".into()),
        strength: Some("500 mg per tablet".into()),
        dose: Some(Dose { value: 1000.0, unit: "mg".into() }),
        route: Some(Coding::new(SNOMED_CT, "26643006", "Oral route")),
        timing,
        start: now() - Duration::days(2),
        end: None,
        status: MedicationRequestStatus::Active,
        prescriber: Some("Dr Synthetic".into()),
        indication: None,
        instructions: None,
        high_alert: false,
    }
}

/// A dose of `order` given at `at` by another nurse, as the service sends it.
pub(crate) fn given(
    order: &MedicationRequest,
    at: DateTime<Utc>,
    due_at: Option<DateTime<Utc>>,
    mg: f64,
) -> MedicationAdministration {
    MedicationAdministration {
        id: Uuid::now_v7(),
        version: 1,
        updated_at: at,
        deleted: false,
        synthetic: true,
        patient_id: order.patient_id,
        request_id: order.id,
        due_at,
        status: AdministrationStatus::Given,
        not_given_reason: None,
        dose: Some(Dose { value: mg, unit: "mg".into() }),
        route: order.route.clone(),
        site: None,
        given_at: at,
        performer: "nurse.elsewhere".into(),
        witness: None,
        overrides: Vec::new(),
        error_reason: None,
        recorded_at: at,
    }
}

/// A dose given now, as the nurse records it (every default taken).
pub(crate) fn entry(request_id: Uuid) -> AdministrationEntry {
    AdministrationEntry {
        request_id,
        due_at: None,
        status: AdministrationStatus::Given,
        not_given_reason: None,
        dose: None,
        route: None,
        site: None,
        given_at: None,
        witness: None,
        overrides: Vec::new(),
    }
}

/// An active, confirmed, high-criticality medication allergy to an RxNorm code.
pub(crate) fn allergy(patient: Uuid, code: &str, display: &str) -> Allergy {
    Allergy {
        id: Uuid::now_v7(),
        version: 1,
        updated_at: now(),
        deleted: false,
        synthetic: true,
        patient_id: patient,
        allergen: Coding::new(RXNORM, code, display),
        allergy_type: AllergyType::Allergy,
        category: AllergyCategory::Medication,
        clinical_status: AllergyClinicalStatus::Active,
        verification_status: AllergyVerificationStatus::Confirmed,
        criticality: Criticality::High,
        reactions: Vec::new(),
        recorded_at: now(),
        recorded_by: "dr-1".into(),
    }
}
