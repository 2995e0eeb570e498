//! The `observations` table (vital signs and laboratory results). Its rows
//! are PHI: read only with an [`AuditedRead`] (or, for the row an edit
//! changes, an [`Edit`]).

use rusqlite::{Connection, Row, params};
use uuid::Uuid;
use wardbook_protocol::{
    Coding, Interpretation, Observation, ObservationCategory, ObservationStatus, ObservationValue, Quantity,
    ReferenceRange,
};

use super::StoreError;
use super::access::{AuditedRead, Edit};
use super::rows::{collect, get_enum, get_time, get_uuid, time_text};

/// Writes to `observations`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ObservationsMut<'a>(pub(super) &'a Connection);

impl ObservationsMut<'_> {
    /// Inserts or replaces rows.
    pub(crate) fn upsert(self, rows: &[Observation]) -> Result<(), StoreError> {
        upsert(self.0, rows)
    }

    /// Writes a server row: a tombstone deletes.
    pub(crate) fn write(self, observation: &Observation) -> Result<(), StoreError> {
        write(self.0, observation)
    }
}

pub(super) fn write(conn: &Connection, observation: &Observation) -> Result<(), StoreError> {
    if observation.deleted {
        conn.prepare_cached("DELETE FROM observations WHERE id = ?1")?.execute([observation.id.to_string()])?;
        Ok(())
    } else {
        upsert(conn, std::slice::from_ref(observation))
    }
}

const INSERT_SQL: &str = "
    INSERT INTO observations (id, version, updated_at, deleted, synthetic, patient_id, category,
        code_system, code, code_display, panel_code, panel_display, value_kind, value_quantity,
        value_unit, value_text, value_boolean, value_code_system, value_code, value_code_display,
        reference_low, reference_high, reference_unit, interpretation, status, effective_at,
        recorded_by, status_reason)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
        ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28)
    ON CONFLICT (id) DO UPDATE SET
        version = excluded.version, updated_at = excluded.updated_at, deleted = excluded.deleted,
        synthetic = excluded.synthetic, category = excluded.category,
        code_system = excluded.code_system, code = excluded.code,
        code_display = excluded.code_display, panel_code = excluded.panel_code,
        panel_display = excluded.panel_display, value_kind = excluded.value_kind,
        value_quantity = excluded.value_quantity, value_unit = excluded.value_unit,
        value_text = excluded.value_text, value_boolean = excluded.value_boolean,
        value_code_system = excluded.value_code_system, value_code = excluded.value_code,
        value_code_display = excluded.value_code_display, reference_low = excluded.reference_low,
        reference_high = excluded.reference_high, reference_unit = excluded.reference_unit,
        interpretation = excluded.interpretation, status = excluded.status,
        effective_at = excluded.effective_at, recorded_by = excluded.recorded_by,
        status_reason = excluded.status_reason";

pub(super) fn upsert(conn: &Connection, rows: &[Observation]) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(INSERT_SQL)?;
    for o in rows {
        let (kind, quantity, unit, text, boolean, coded) = match &o.value {
            ObservationValue::Quantity(q) => ("quantity", Some(q.value), Some(q.unit.as_str()), None, None, None),
            ObservationValue::String { text } => ("string", None, None, Some(text.as_str()), None, None),
            ObservationValue::Boolean { value } => ("boolean", None, None, None, Some(*value), None),
            ObservationValue::Coded(c) => ("coded", None, None, None, None, Some(c)),
        };
        let range = o.reference_range.as_ref();
        stmt.execute(params![
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
            o.interpretation.map(Interpretation::as_str),
            o.status.as_str(),
            time_text(&o.effective_at),
            o.recorded_by,
            o.status_reason,
        ])?;
    }
    Ok(())
}

/// The observation an edit changes, deleted or not.
pub(crate) fn for_edit(edit: &Edit<'_>, id: Uuid) -> Result<Option<Observation>, StoreError> {
    get_in(edit.conn(), id)
}

/// One observation by id, deleted or not.
fn get_in(conn: &Connection, id: Uuid) -> Result<Option<Observation>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT * FROM observations WHERE id = ?1")?;
    Ok(collect(&mut stmt, [id.to_string()], from_row)?.pop())
}

/// The latest `limit` observations of one category for a patient, newest first.
pub(crate) fn latest(
    read: &AuditedRead<'_>,
    patient: Uuid,
    category: ObservationCategory,
    limit: u32,
) -> Result<Vec<Observation>, StoreError> {
    let mut stmt = read.conn().prepare_cached(
        "SELECT * FROM observations
         WHERE patient_id = ?1 AND category = ?2 AND deleted = 0
         ORDER BY effective_at DESC LIMIT ?3",
    )?;
    collect(&mut stmt, params![patient.to_string(), category.as_str(), limit], from_row)
}

/// Observations of one category for a patient taken at or after `since`,
/// newest first (times are stored in one sortable format: see `time_text`).
pub(crate) fn since(
    read: &AuditedRead<'_>,
    patient: Uuid,
    category: ObservationCategory,
    since: &chrono::DateTime<chrono::Utc>,
) -> Result<Vec<Observation>, StoreError> {
    let mut stmt = read.conn().prepare_cached(
        "SELECT * FROM observations
         WHERE patient_id = ?1 AND category = ?2 AND deleted = 0 AND effective_at >= ?3
         ORDER BY effective_at DESC",
    )?;
    collect(&mut stmt, params![patient.to_string(), category.as_str(), time_text(since)], from_row)
}

/// The vital signs of every cached patient (of `location` when given) that
/// `news2::news2_input` could pick as a parameter's latest reading at
/// `since` or later: what the census's NEWS2 scores are computed from, in
/// one query. Older readings do not count towards a score; deleted and
/// entered-in-error ones never do; and of the readings of one code with
/// one kind of value (and unit, and code), only the latest can be chosen,
/// so only that one is read (a census is an audited read, holding the
/// write lock while it reads). `CROSS JOIN` keeps SQLite walking the ward's
/// patients and the recent end of each one's `observations_by_patient`.
pub(super) fn vitals_of_census(
    conn: &Connection,
    location: Option<&str>,
    since: &chrono::DateTime<chrono::Utc>,
) -> Result<Vec<Observation>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT * FROM (
             SELECT o.*, row_number() OVER (
                 PARTITION BY o.patient_id, o.code, o.value_kind, o.value_unit, o.value_code
                 ORDER BY o.effective_at DESC, o.updated_at DESC, o.version DESC) AS latest
             FROM patients p CROSS JOIN observations o ON o.patient_id = p.id
             WHERE p.deleted = 0 AND (?1 IS NULL OR p.location = ?1)
               AND o.category = 'vital-signs' AND o.deleted = 0 AND o.status <> 'entered-in-error'
               AND o.effective_at >= ?2)
         WHERE latest = 1",
    )?;
    collect(&mut stmt, params![location, time_text(since)], from_row)
}

pub(super) fn from_row(row: &Row<'_>) -> Result<Observation, StoreError> {
    let value = match row.get::<_, String>("value_kind")?.as_str() {
        "quantity" => {
            ObservationValue::Quantity(Quantity { value: row.get("value_quantity")?, unit: row.get("value_unit")? })
        }
        "string" => ObservationValue::String { text: row.get("value_text")? },
        "boolean" => ObservationValue::Boolean { value: row.get("value_boolean")? },
        "coded" => ObservationValue::Coded(Coding {
            system: row.get("value_code_system")?,
            code: row.get("value_code")?,
            display: row.get("value_code_display")?,
        }),
        _ => return Err(StoreError::BadRow("observation value kind")),
    };
    let panel = match row.get::<_, Option<String>>("panel_code")? {
        Some(code) => Some(Coding {
            system: wardbook_protocol::LOINC.to_owned(),
            code,
            display: row.get::<_, Option<String>>("panel_display")?.unwrap_or_default(),
        }),
        None => None,
    };
    let reference_range = match row.get::<_, Option<String>>("reference_unit")? {
        Some(unit) => Some(ReferenceRange { low: row.get("reference_low")?, high: row.get("reference_high")?, unit }),
        None => None,
    };
    let interpretation = match row.get::<_, Option<String>>("interpretation")? {
        Some(text) => Some(Interpretation::parse(&text).ok_or(StoreError::BadRow("interpretation"))?),
        None => None,
    };
    Ok(Observation {
        id: get_uuid(row, "id")?,
        version: row.get("version")?,
        updated_at: get_time(row, "updated_at")?,
        deleted: row.get("deleted")?,
        synthetic: row.get("synthetic")?,
        patient_id: get_uuid(row, "patient_id")?,
        category: get_enum(row, "category", ObservationCategory::parse)?,
        code: Coding { system: row.get("code_system")?, code: row.get("code")?, display: row.get("code_display")? },
        panel,
        value,
        reference_range,
        interpretation,
        status: get_enum(row, "status", ObservationStatus::parse)?,
        status_reason: row.get("status_reason")?,
        effective_at: get_time(row, "effective_at")?,
        recorded_by: row.get("recorded_by")?,
    })
}
