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
use super::rows::{collect, get_enum, get_str, get_time, get_uuid, time_text};

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

/// Every column, in the order [`from_row`] reads them: by position, because
/// a chart tab reads thousands of rows and a lookup by name walks the
/// columns each time. Named here rather than `*`, whose order is the order
/// the migrations added the columns in.
macro_rules! columns {
    () => {
        "id, version, updated_at, deleted, synthetic, patient_id, category, code_system, code, code_display,
         panel_code, panel_display, value_kind, value_quantity, value_unit, value_text, value_boolean,
         value_code_system, value_code, value_code_display, reference_low, reference_high, reference_unit,
         interpretation, status, effective_at, recorded_by, status_reason"
    };
}

/// The position of each column in [`columns!`].
mod col {
    pub(super) const ID: usize = 0;
    pub(super) const VERSION: usize = 1;
    pub(super) const UPDATED_AT: usize = 2;
    pub(super) const DELETED: usize = 3;
    pub(super) const SYNTHETIC: usize = 4;
    pub(super) const PATIENT_ID: usize = 5;
    pub(super) const CATEGORY: usize = 6;
    pub(super) const CODE_SYSTEM: usize = 7;
    pub(super) const CODE: usize = 8;
    pub(super) const CODE_DISPLAY: usize = 9;
    pub(super) const PANEL_CODE: usize = 10;
    pub(super) const PANEL_DISPLAY: usize = 11;
    pub(super) const VALUE_KIND: usize = 12;
    pub(super) const VALUE_QUANTITY: usize = 13;
    pub(super) const VALUE_UNIT: usize = 14;
    pub(super) const VALUE_TEXT: usize = 15;
    pub(super) const VALUE_BOOLEAN: usize = 16;
    pub(super) const VALUE_CODE_SYSTEM: usize = 17;
    pub(super) const VALUE_CODE: usize = 18;
    pub(super) const VALUE_CODE_DISPLAY: usize = 19;
    pub(super) const REFERENCE_LOW: usize = 20;
    pub(super) const REFERENCE_HIGH: usize = 21;
    pub(super) const REFERENCE_UNIT: usize = 22;
    pub(super) const INTERPRETATION: usize = 23;
    pub(super) const STATUS: usize = 24;
    pub(super) const EFFECTIVE_AT: usize = 25;
    pub(super) const RECORDED_BY: usize = 26;
    pub(super) const STATUS_REASON: usize = 27;
}

/// Every row, every column, as [`from_row`] reads them (the cache's digest).
pub(super) const SELECT_ALL: &str = concat!("SELECT ", columns!(), " FROM observations");

/// One observation by id, deleted or not.
fn get_in(conn: &Connection, id: Uuid) -> Result<Option<Observation>, StoreError> {
    let mut stmt = conn.prepare_cached(concat!("SELECT ", columns!(), " FROM observations WHERE id = ?1"))?;
    Ok(collect(&mut stmt, [id.to_string()], from_row)?.pop())
}

/// The latest `limit` observations of one category for a patient, newest first.
pub(crate) fn latest(
    read: &AuditedRead<'_>,
    patient: Uuid,
    category: ObservationCategory,
    limit: u32,
) -> Result<Vec<Observation>, StoreError> {
    let mut stmt = read.conn().prepare_cached(&latest_sql(limit))?;
    collect(&mut stmt, params![patient.to_string(), category.as_str()], from_row)
}

/// [`latest`]'s statement, its limit written in. A bound `LIMIT ?` makes
/// SQLite prepare the statement again each time the value is bound (the
/// planner looks at a bound limit), same value or not: a tenth of a chart
/// open's time went on it. One cached statement per limit instead.
fn latest_sql(limit: u32) -> String {
    format!(
        concat!(
            "SELECT ",
            columns!(),
            " FROM observations
             WHERE patient_id = ?1 AND category = ?2 AND deleted = 0
             ORDER BY effective_at DESC LIMIT {}"
        ),
        limit
    )
}

/// Observations of one category for a patient taken at or after `since`,
/// newest first (times are stored in one sortable format: see `time_text`).
pub(crate) fn since(
    read: &AuditedRead<'_>,
    patient: Uuid,
    category: ObservationCategory,
    since: &chrono::DateTime<chrono::Utc>,
) -> Result<Vec<Observation>, StoreError> {
    let mut stmt = read.conn().prepare_cached(concat!(
        "SELECT ",
        columns!(),
        " FROM observations
         WHERE patient_id = ?1 AND category = ?2 AND deleted = 0 AND effective_at >= ?3
         ORDER BY effective_at DESC"
    ))?;
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
    let mut stmt = conn.prepare_cached(concat!(
        "SELECT ",
        columns!(),
        " FROM (
             SELECT o.*, row_number() OVER (
                 PARTITION BY o.patient_id, o.code, o.value_kind, o.value_unit, o.value_code
                 ORDER BY o.effective_at DESC, o.updated_at DESC, o.version DESC) AS latest
             FROM patients p CROSS JOIN observations o ON o.patient_id = p.id
             WHERE p.deleted = 0 AND (?1 IS NULL OR p.location = ?1)
               AND o.category = 'vital-signs' AND o.deleted = 0 AND o.status <> 'entered-in-error'
               AND o.effective_at >= ?2)
         WHERE latest = 1"
    ))?;
    collect(&mut stmt, params![location, time_text(since)], from_row)
}

/// A row of [`columns!`], by position.
pub(super) fn from_row(row: &Row<'_>) -> Result<Observation, StoreError> {
    let value = match get_str(row, col::VALUE_KIND)? {
        "quantity" => ObservationValue::Quantity(Quantity {
            value: row.get(col::VALUE_QUANTITY)?,
            unit: row.get(col::VALUE_UNIT)?,
        }),
        "string" => ObservationValue::String { text: row.get(col::VALUE_TEXT)? },
        "boolean" => ObservationValue::Boolean { value: row.get(col::VALUE_BOOLEAN)? },
        "coded" => ObservationValue::Coded(Coding {
            system: row.get(col::VALUE_CODE_SYSTEM)?,
            code: row.get(col::VALUE_CODE)?,
            display: row.get(col::VALUE_CODE_DISPLAY)?,
        }),
        _ => return Err(StoreError::BadRow("observation value kind")),
    };
    let panel = match row.get::<_, Option<String>>(col::PANEL_CODE)? {
        Some(code) => Some(Coding {
            system: wardbook_protocol::LOINC.to_owned(),
            code,
            display: row.get::<_, Option<String>>(col::PANEL_DISPLAY)?.unwrap_or_default(),
        }),
        None => None,
    };
    let reference_range = match row.get::<_, Option<String>>(col::REFERENCE_UNIT)? {
        Some(unit) => {
            Some(ReferenceRange { low: row.get(col::REFERENCE_LOW)?, high: row.get(col::REFERENCE_HIGH)?, unit })
        }
        None => None,
    };
    let interpretation = match row.get_ref(col::INTERPRETATION)?.as_str_or_null() {
        Ok(Some(text)) => Some(Interpretation::parse(text).ok_or(StoreError::BadRow("interpretation"))?),
        Ok(None) => None,
        Err(_) => return Err(StoreError::BadRow("interpretation")),
    };
    Ok(Observation {
        id: get_uuid(row, col::ID)?,
        version: row.get(col::VERSION)?,
        updated_at: get_time(row, col::UPDATED_AT)?,
        deleted: row.get(col::DELETED)?,
        synthetic: row.get(col::SYNTHETIC)?,
        patient_id: get_uuid(row, col::PATIENT_ID)?,
        category: get_enum(row, col::CATEGORY, ObservationCategory::parse)?,
        code: Coding {
            system: row.get(col::CODE_SYSTEM)?,
            code: row.get(col::CODE)?,
            display: row.get(col::CODE_DISPLAY)?,
        },
        panel,
        value,
        reference_range,
        interpretation,
        status: get_enum(row, col::STATUS, ObservationStatus::parse)?,
        status_reason: row.get(col::STATUS_REASON)?,
        effective_at: get_time(row, col::EFFECTIVE_AT)?,
        recorded_by: row.get(col::RECORDED_BY)?,
    })
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, NaiveDate, Utc};
    use wardbook_protocol::{LOINC, Patient, Sex};

    use super::*;
    use crate::store::{memory_cache as cache, patients};

    #[test]
    fn reading_the_latest_rows_again_does_not_prepare_the_statement_again() {
        let conn = cache();
        let mut stmt = conn.prepare_cached(&latest_sql(5_000)).expect("prepare");
        for patient in [Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(1)] {
            let rows = collect(&mut stmt, params![patient.to_string(), "vital-signs"], from_row).expect("read");
            assert!(rows.is_empty());
        }
        assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0, "prepared again on a new binding");
    }

    fn time(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("time").to_utc()
    }

    fn observation(n: u128, patient: Uuid, value: ObservationValue) -> Observation {
        Observation {
            id: Uuid::from_u128(n),
            version: 3,
            updated_at: time("2026-11-01T08:00:00.123456Z"),
            deleted: false,
            synthetic: true,
            patient_id: patient,
            category: ObservationCategory::Laboratory,
            code: Coding { system: LOINC.into(), code: "2823-3".into(), display: "Potassium".into() },
            panel: None,
            value,
            reference_range: None,
            interpretation: None,
            status: ObservationStatus::Final,
            status_reason: None,
            effective_at: time("2026-11-01T07:30:00Z"),
            recorded_by: "lab".into(),
        }
    }

    #[test]
    fn every_column_reads_back_into_its_field() {
        let conn = cache();
        let patient = Patient {
            id: Uuid::from_u128(1),
            version: 1,
            updated_at: DateTime::<Utc>::UNIX_EPOCH,
            deleted: false,
            synthetic: true,
            mrn: "SYN-000001".into(),
            given_name: "Test".into(),
            family_name: "Columns".into(),
            birth_date: NaiveDate::from_ymd_opt(1970, 5, 17).expect("date"),
            sex: Sex::Unknown,
            phone: None,
            email: None,
            address: None,
            preferred_language: None,
            location: None,
            bed: None,
            source_system: "test".into(),
        };
        patients::upsert(&conn, std::slice::from_ref(&patient)).expect("patient");
        let mut full =
            observation(10, patient.id, ObservationValue::Quantity(Quantity { value: 5.9, unit: "mmol/L".into() }));
        full.panel =
            Some(Coding { system: LOINC.into(), code: "51990-0".into(), display: "Basic metabolic panel".into() });
        full.reference_range = Some(ReferenceRange { low: Some(3.5), high: Some(5.1), unit: "mmol/L".into() });
        full.interpretation = Some(Interpretation::High);
        full.status = ObservationStatus::EnteredInError;
        full.status_reason = Some("wrong patient".into());
        full.category = ObservationCategory::VitalSigns;
        let rows = [
            full,
            observation(11, patient.id, ObservationValue::String { text: "haemolysed".into() }),
            observation(12, patient.id, ObservationValue::Boolean { value: true }),
            observation(
                13,
                patient.id,
                ObservationValue::Coded(Coding {
                    system: "http://snomed.info/sct".into(),
                    code: "1".into(),
                    display: "x".into(),
                }),
            ),
        ];
        upsert(&conn, &rows).expect("upsert");
        for row in &rows {
            assert_eq!(get_in(&conn, row.id).expect("read").as_ref(), Some(row));
        }
        let mut stmt = conn.prepare(SELECT_ALL).expect("select");
        assert_eq!(collect(&mut stmt, [], from_row).expect("all").len(), rows.len());
    }
}
