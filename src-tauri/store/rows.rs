//! Conversions between domain values and their stored text.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rusqlite::{Params, Row, RowIndex, Statement};
use uuid::Uuid;

use super::StoreError;

pub(crate) fn time_text(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(crate) fn now_text() -> String {
    time_text(&Utc::now())
}

pub(crate) fn date_text(d: &NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// A text column, borrowed from the row (the parsers below copy nothing).
pub(crate) fn get_str<'r>(row: &'r Row<'_>, column: impl RowIndex) -> Result<&'r str, StoreError> {
    row.get_ref(column)?.as_str().map_err(|_| StoreError::BadRow("text"))
}

pub(crate) fn get_uuid(row: &Row<'_>, column: impl RowIndex) -> Result<Uuid, StoreError> {
    Uuid::parse_str(get_str(row, column)?).map_err(|_| StoreError::BadRow("identifier"))
}

pub(crate) fn get_time(row: &Row<'_>, column: impl RowIndex) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(get_str(row, column)?)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| StoreError::BadRow("timestamp"))
}

pub(crate) fn get_date(row: &Row<'_>, column: impl RowIndex) -> Result<NaiveDate, StoreError> {
    NaiveDate::parse_from_str(get_str(row, column)?, "%Y-%m-%d").map_err(|_| StoreError::BadRow("date"))
}

/// Parses a stored enum spelling with `parse`.
pub(crate) fn get_enum<T>(
    row: &Row<'_>,
    column: impl RowIndex,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    parse(get_str(row, column)?).ok_or(StoreError::BadRow("coded value"))
}

/// Runs a query and converts every row with `from_row`.
pub(crate) fn collect<T>(
    stmt: &mut Statement<'_>,
    params: impl Params,
    from_row: impl Fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(from_row(row)?);
    }
    Ok(out)
}

/// A row kept whole as JSON (the medication tables' `body`).
pub(crate) fn body_text<T: serde::Serialize>(value: &T, what: &'static str) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|_| StoreError::BadRow(what))
}

/// The row kept whole in `body`, with `version` from its own column (the one
/// column the store changes alone: the version the server gave a pushed row).
pub(crate) fn from_body<T: serde::de::DeserializeOwned>(
    row: &Row<'_>,
    what: &'static str,
    set_version: impl FnOnce(&mut T, i64),
) -> Result<T, StoreError> {
    let text: String = row.get("body")?;
    let mut value: T = serde_json::from_str(&text).map_err(|_| StoreError::BadRow(what))?;
    set_version(&mut value, row.get("version")?);
    Ok(value)
}
