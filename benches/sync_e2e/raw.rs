//! The baseline: raw SQLCipher, plain prepared INSERTs of the pulled rows
//! into the store's schema, with the same kind of key and settings. Its
//! SQL is its own (that is what it measures); `main` checks what it wrote
//! against the store's rows.

use rusqlite::{Connection, params};
use wardbook::keys::DbKey;
use wardbook_protocol::api::{Change, PullResponse};

use crate::raw_sqlcipher::{INSERT_OBSERVATION, insert_observation, time_text};

pub fn raw_connection(path: &std::path::Path, key: &DbKey) -> Connection {
    // The engine's page cache during an initial sync.
    crate::raw_sqlcipher::raw_connection(path, key, "PRAGMA cache_size = -131072;")
}

/// Pages in one transaction, plain prepared INSERTs (no upsert, no
/// bookkeeping): what storing these rows costs at least.
pub fn raw_insert_pages(conn: &mut Connection, pages: &[PullResponse]) {
    let tx = conn.transaction().expect("tx");
    {
        let mut patient = tx
            .prepare_cached(
                "INSERT INTO patients (id, version, updated_at, deleted, synthetic, mrn, given_name,
                     family_name, birth_date, sex, phone, email, address, preferred_language, location,
                     source_system, bed)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
            )
            .expect("prepare");
        let mut observation = tx.prepare_cached(INSERT_OBSERVATION).expect("prepare");
        let mut allergy = tx
            .prepare_cached(
                "INSERT INTO allergies (id, version, updated_at, deleted, synthetic, patient_id,
                     allergen_system, allergen_code, allergen_display, allergy_type, category,
                     clinical_status, verification_status, criticality, reactions_json, recorded_at,
                     recorded_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
            )
            .expect("prepare");
        for change in pages.iter().flat_map(|page| &page.changes) {
            match change {
                Change::Patient { patient: p } => {
                    patient
                        .execute(params![
                            p.id.to_string(),
                            p.version,
                            time_text(&p.updated_at),
                            p.deleted,
                            p.synthetic,
                            p.mrn,
                            p.given_name,
                            p.family_name,
                            p.birth_date.format("%Y-%m-%d").to_string(),
                            p.sex.as_str(),
                            p.phone,
                            p.email,
                            p.address,
                            p.preferred_language,
                            p.location,
                            p.source_system,
                            p.bed,
                        ])
                        .expect("insert patient");
                }
                Change::Observation { observation: o } => insert_observation(&mut observation, o),
                Change::Allergy { allergy: a } => {
                    allergy
                        .execute(params![
                            a.id.to_string(),
                            a.version,
                            time_text(&a.updated_at),
                            a.deleted,
                            a.synthetic,
                            a.patient_id.to_string(),
                            a.allergen.system,
                            a.allergen.code,
                            a.allergen.display,
                            a.allergy_type.as_str(),
                            a.category.as_str(),
                            a.clinical_status.as_str(),
                            a.verification_status.as_str(),
                            a.criticality.as_str(),
                            serde_json::to_string(&a.reactions).expect("reactions"),
                            time_text(&a.recorded_at),
                            a.recorded_by,
                        ])
                        .expect("insert allergy");
                }
                // The benchmark's wards have no medications (`ward::big_ward`).
                Change::Remove { .. }
                | Change::MedicationRequest { .. }
                | Change::MedicationAdministration { .. }
                | Change::DoseReview { .. } => {}
            }
        }
    }
    tx.commit().expect("commit");
}
