//! The baseline: raw SQLCipher, plain prepared INSERTs of the pulled rows
//! into the store's schema, with the same kind of key and settings. Its
//! SQL is its own (that is what it measures); `main` checks what it wrote
//! against the store's rows.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, params};
use wardbook::keys::DbKey;
use wardbook_protocol::ObservationValue;
use wardbook_protocol::api::{Change, PullResponse};

pub fn raw_connection(path: &std::path::Path, key: &DbKey) -> Connection {
    let conn = Connection::open(path).expect("raw open");
    conn.execute_batch(&format!(
        "PRAGMA key = \"x'{}'\"; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -131072; -- the engine's page cache during an initial sync",
        &*key.expose_hex()
    ))
    .expect("raw settings");
    conn
}

fn time_text(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
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
                     source_system)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            )
            .expect("prepare");
        let mut observation = tx
            .prepare_cached(
                "INSERT INTO observations (id, version, updated_at, deleted, synthetic, patient_id, category,
                     code_system, code, code_display, panel_code, panel_display, value_kind, value_quantity,
                     value_unit, value_text, value_boolean, value_code_system, value_code, value_code_display,
                     reference_low, reference_high, reference_unit, interpretation, status, effective_at,
                     recorded_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
                     ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27)",
            )
            .expect("prepare");
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
                        ])
                        .expect("insert patient");
                }
                Change::Observation { observation: o } => {
                    let (kind, quantity, unit, text, boolean, coded) = match &o.value {
                        ObservationValue::Quantity(q) => {
                            ("quantity", Some(q.value), Some(q.unit.as_str()), None, None, None)
                        }
                        ObservationValue::String { text } => ("string", None, None, Some(text.as_str()), None, None),
                        ObservationValue::Boolean { value } => ("boolean", None, None, None, Some(*value), None),
                        ObservationValue::Coded(c) => ("coded", None, None, None, None, Some(c)),
                    };
                    let range = o.reference_range.as_ref();
                    observation
                        .execute(params![
                            o.id.to_string(),
                            o.version,
                            time_text(&o.updated_at),
                            o.deleted,
                            o.synthetic,
                            o.patient_id.to_string(),
                            o.category.as_str(),
                            o.code.system,
                            o.code.code,
                            o.code.display,
                            o.panel.as_ref().map(|p| p.code.as_str()),
                            o.panel.as_ref().map(|p| p.display.as_str()),
                            kind,
                            quantity,
                            unit,
                            text,
                            boolean,
                            coded.map(|c| c.system.as_str()),
                            coded.map(|c| c.code.as_str()),
                            coded.map(|c| c.display.as_str()),
                            range.and_then(|r| r.low),
                            range.and_then(|r| r.high),
                            range.map(|r| r.unit.as_str()),
                            o.interpretation.map(|i| i.as_str()),
                            o.status.as_str(),
                            time_text(&o.effective_at),
                            o.recorded_by,
                        ])
                        .expect("insert observation");
                }
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
                Change::Remove { .. } => {}
            }
        }
    }
    tx.commit().expect("commit");
}
