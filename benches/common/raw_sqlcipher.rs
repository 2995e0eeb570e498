//! What both benches compare the store against: raw SQLCipher, with the same
//! kind of key and settings, and plain prepared INSERTs into the store's
//! schema. The SQL is the baseline's own (that is what it measures); each
//! bench checks the rows it wrote against the store's by digest, so a
//! baseline that falls behind the schema stops the bench.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{CachedStatement, Connection, params};
use wardbook::keys::DbKey;
use wardbook_protocol::{Observation, ObservationValue};

/// A raw SQLCipher connection with the store's settings, plus `extra` pragmas.
pub fn raw_connection(path: &std::path::Path, key: &DbKey, extra: &str) -> Connection {
    let conn = wardbook::store::sqlcipher::open(path, rusqlite::OpenFlags::default()).expect("raw open");
    conn.execute_batch(&format!(
        "PRAGMA key = \"x'{}'\"; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; {extra}",
        &*key.expose_hex()
    ))
    .expect("raw settings");
    conn
}

/// Times as the store writes them.
pub fn time_text(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Every column of an observation row.
pub const INSERT_OBSERVATION: &str = "INSERT INTO observations (id, version, updated_at, deleted, synthetic,
     patient_id, category, code_system, code, code_display, panel_code, panel_display, value_kind,
     value_quantity, value_unit, value_text, value_boolean, value_code_system, value_code,
     value_code_display, reference_low, reference_high, reference_unit, interpretation, status,
     effective_at, recorded_by, status_reason)
 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
     ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28)";

/// One observation through a statement prepared from [`INSERT_OBSERVATION`].
pub fn insert_observation(stmt: &mut CachedStatement<'_>, o: &Observation) {
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
        o.interpretation.map(|i| i.as_str()),
        o.status.as_str(),
        time_text(&o.effective_at),
        o.recorded_by,
        o.status_reason,
    ])
    .expect("insert observation");
}

/// Runs a baseline's query and reads each row as a reader that shows it
/// must: every column's value, where SQLite holds it (no copy, no parsing).
/// Stepping alone reads less: SQLite decodes a column only when asked for it.
#[allow(dead_code)] // the store bench's reads; the end-to-end bench only writes
pub fn read_rows(stmt: &mut rusqlite::Statement<'_>, params: impl rusqlite::Params) -> usize {
    let columns = stmt.column_count();
    let mut rows = stmt.query(params).expect("query");
    let (mut count, mut bytes) = (0, 0usize);
    while let Some(row) = rows.next().expect("row") {
        for i in 0..columns {
            bytes += match row.get_ref(i).expect("column") {
                rusqlite::types::ValueRef::Text(b) | rusqlite::types::ValueRef::Blob(b) => b.len(),
                rusqlite::types::ValueRef::Integer(_) | rusqlite::types::ValueRef::Real(_) => 8,
                rusqlite::types::ValueRef::Null => 0,
            };
        }
        count += 1;
    }
    std::hint::black_box(bytes);
    count
}
