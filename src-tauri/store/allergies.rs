//! The `allergies` table (FHIR AllergyIntolerance). Its rows are PHI: read
//! only with an [`AuditedRead`] (or, for the row an edit changes, an
//! [`Edit`]); the read handle answers questions that carry none.

use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;
use wardbook_protocol::{
    Allergy, AllergyCategory, AllergyClinicalStatus, AllergyType, AllergyVerificationStatus, Coding, Criticality,
};

use super::StoreError;
use super::access::{AuditedRead, Edit};
use super::rows::{collect, get_enum, get_time, get_uuid, time_text};

/// Reads of `allergies` that return no PHI.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Allergies<'a>(pub(super) &'a Connection);

impl Allergies<'_> {
    /// The version of a patient's allergy in the cache (`None`: not there,
    /// deleted, or another patient's).
    pub(crate) fn version(self, id: Uuid, patient: Uuid) -> Result<Option<i64>, StoreError> {
        Ok(self
            .0
            .prepare_cached("SELECT version FROM allergies WHERE id = ?1 AND patient_id = ?2 AND deleted = 0")?
            .query_row([id.to_string(), patient.to_string()], |r| r.get(0))
            .optional()?)
    }
}

/// Writes to `allergies`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AllergiesMut<'a>(pub(super) &'a Connection);

impl AllergiesMut<'_> {
    /// Inserts or replaces rows.
    pub(crate) fn upsert(self, rows: &[Allergy]) -> Result<(), StoreError> {
        upsert(self.0, rows)
    }

    /// Writes a server row: a tombstone deletes.
    pub(crate) fn write(self, allergy: &Allergy) -> Result<(), StoreError> {
        write(self.0, allergy)
    }
}

pub(super) fn write(conn: &Connection, allergy: &Allergy) -> Result<(), StoreError> {
    if allergy.deleted {
        conn.prepare_cached("DELETE FROM allergies WHERE id = ?1")?.execute([allergy.id.to_string()])?;
        Ok(())
    } else {
        upsert(conn, std::slice::from_ref(allergy))
    }
}

pub(super) fn upsert(conn: &Connection, rows: &[Allergy]) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO allergies (id, version, updated_at, deleted, synthetic, patient_id,
             allergen_system, allergen_code, allergen_display, allergy_type, category,
             clinical_status, verification_status, criticality, reactions_json, recorded_at,
             recorded_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
         ON CONFLICT (id) DO UPDATE SET
             version = excluded.version, updated_at = excluded.updated_at,
             deleted = excluded.deleted, synthetic = excluded.synthetic,
             allergen_system = excluded.allergen_system, allergen_code = excluded.allergen_code,
             allergen_display = excluded.allergen_display, allergy_type = excluded.allergy_type,
             category = excluded.category, clinical_status = excluded.clinical_status,
             verification_status = excluded.verification_status,
             criticality = excluded.criticality, reactions_json = excluded.reactions_json,
             recorded_at = excluded.recorded_at, recorded_by = excluded.recorded_by",
    )?;
    for a in rows {
        let reactions = serde_json::to_string(&a.reactions).map_err(|_| StoreError::BadRow("reactions"))?;
        stmt.execute(params![
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
            reactions,
            time_text(&a.recorded_at),
            a.recorded_by,
        ])?;
    }
    Ok(())
}

/// The allergy an edit changes, deleted or not.
pub(crate) fn for_edit(edit: &Edit<'_>, id: Uuid) -> Result<Option<Allergy>, StoreError> {
    let mut stmt = edit.conn().prepare_cached("SELECT * FROM allergies WHERE id = ?1")?;
    Ok(collect(&mut stmt, [id.to_string()], from_row)?.pop())
}

/// A patient's allergies that are not deleted, for an edit that checks
/// against them (a dose about to be recorded).
pub(crate) fn of_patient_for_edit(edit: &Edit<'_>, patient: Uuid) -> Result<Vec<Allergy>, StoreError> {
    let mut stmt = edit.conn().prepare_cached("SELECT * FROM allergies WHERE patient_id = ?1 AND deleted = 0")?;
    collect(&mut stmt, [patient.to_string()], from_row)
}

/// A patient's allergies that are not deleted: current ones first
/// ([`Allergy::is_current`]), high criticality first, then by allergen.
pub(crate) fn for_patient(read: &AuditedRead<'_>, patient: Uuid) -> Result<Vec<Allergy>, StoreError> {
    let mut stmt = read.conn().prepare_cached(
        "SELECT * FROM allergies WHERE patient_id = ?1 AND deleted = 0
         ORDER BY wardbook_allergy_current(clinical_status, verification_status) DESC,
                  criticality = 'high' DESC, allergen_display",
    )?;
    collect(&mut stmt, [patient.to_string()], from_row)
}

/// Registers `wardbook_allergy_current(clinical_status, verification_status)`
/// on a connection: [`Allergy::statuses_are_current`], the one rule, for the
/// census's counts and the chart's order. An unknown spelling is not current.
pub(super) fn register_rules(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "wardbook_allergy_current",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let clinical = ctx.get_raw(0).as_str().ok().and_then(AllergyClinicalStatus::parse);
            let verification = ctx.get_raw(1).as_str().ok().and_then(AllergyVerificationStatus::parse);
            Ok(matches!((clinical, verification), (Some(c), Some(v)) if Allergy::statuses_are_current(c, v)))
        },
    )
}

pub(super) fn from_row(row: &Row<'_>) -> Result<Allergy, StoreError> {
    let reactions: String = row.get("reactions_json")?;
    Ok(Allergy {
        id: get_uuid(row, "id")?,
        version: row.get("version")?,
        updated_at: get_time(row, "updated_at")?,
        deleted: row.get("deleted")?,
        synthetic: row.get("synthetic")?,
        patient_id: get_uuid(row, "patient_id")?,
        allergen: Coding {
            system: row.get("allergen_system")?,
            code: row.get("allergen_code")?,
            display: row.get("allergen_display")?,
        },
        allergy_type: get_enum(row, "allergy_type", AllergyType::parse)?,
        category: get_enum(row, "category", AllergyCategory::parse)?,
        clinical_status: get_enum(row, "clinical_status", AllergyClinicalStatus::parse)?,
        verification_status: get_enum(row, "verification_status", AllergyVerificationStatus::parse)?,
        criticality: get_enum(row, "criticality", Criticality::parse)?,
        reactions: serde_json::from_str(&reactions).map_err(|_| StoreError::BadRow("reactions"))?,
        recorded_at: get_time(row, "recorded_at")?,
        recorded_by: row.get("recorded_by")?,
    })
}
