//! ORU^R01 results: OBR panels and their OBX observations, with value
//! type, units, reference range, abnormal flag and result status.

use chrono::{DateTime, Utc};
use hl7_parser::Message;
use serde::Serialize;

use super::adt::{PatientIdentity, identity};
use super::fields::{Location, Seg, Value};
use super::parse::{Coded, ErrorCode, Rejection, coded, timestamp};

/// ORU^R01: results for one patient.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Results {
    pub patient: PatientIdentity,
    pub orders: Vec<Order>,
}

/// OBR with its OBX segments.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Order {
    /// OBR-3 filler order number, else OBR-2 placer order number.
    pub order_number: Option<String>,
    pub panel: Option<Coded>,
    pub observed_at: Option<DateTime<Utc>>,
    pub result_status: String,
    pub results: Vec<ResultEntry>,
}

/// OBX: one result. `Debug` prints the code, status and place, never the value.
#[derive(Clone, PartialEq, Serialize)]
pub struct ResultEntry {
    pub set_id: String,
    pub value_type: String,
    pub code: Coded,
    pub sub_id: String,
    pub value: ResultValue,
    pub units: Option<String>,
    pub reference_range: Option<(Option<f64>, Option<f64>)>,
    pub abnormal_flag: Option<String>,
    pub status: String,
    pub observed_at: Option<DateTime<Utc>>,
    /// Where this OBX is, for errors found when it is applied.
    pub location: Location,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum ResultValue {
    Number(f64),
    Text(String),
    Code(Coded),
    /// No value (a pending result, or a deletion).
    Empty,
}

impl std::fmt::Debug for ResultEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultEntry")
            .field("code", &self.code.code)
            .field("status", &self.status)
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

pub(super) fn results(message: &Message<'_>) -> Result<Results, Rejection> {
    let patient = identity(message)?;
    let mut orders: Vec<Order> = Vec::new();
    let mut counts = std::collections::HashMap::<&str, usize>::new();
    for segment in &message.segments {
        let n = counts.entry(segment.name).or_default();
        *n += 1;
        let s = Seg { segment, separators: &message.separators, sequence: *n };
        match segment.name {
            "OBR" => orders.push(order(&s)?),
            "OBX" => {
                let Some(order) = orders.last_mut() else {
                    return Err(Rejection::error(
                        ErrorCode::SegmentSequence,
                        s.location(0),
                        "An OBX segment comes before any OBR segment.",
                    ));
                };
                let default_time = order.observed_at;
                let default_status = order.result_status.clone();
                order.results.push(result(&s, default_time, &default_status)?);
            }
            _ => {}
        }
    }
    if orders.is_empty() {
        return Err(Rejection::error(
            ErrorCode::SegmentSequence,
            Location::new("OBR", 1, 0),
            "An ORU^R01 needs at least one OBR segment.",
        ));
    }
    Ok(Results { patient, orders })
}

fn order(obr: &Seg<'_, '_>) -> Result<Order, Rejection> {
    let observed_at = match obr.first(7).text() {
        None => None,
        Some(t) => Some(timestamp(&t).ok_or_else(|| {
            Rejection::error(ErrorCode::DataType, obr.location(7), "OBR-7 (observation date/time) is not a valid time.")
        })?),
    };
    let panel = coded(obr, 4, 1);
    Ok(Order {
        order_number: obr.first(3).text().or_else(|| obr.first(2).text()),
        panel: (!panel.code.is_empty()).then_some(panel),
        observed_at,
        result_status: obr.first(25).text().unwrap_or_default().to_ascii_uppercase(),
        results: Vec::new(),
    })
}

fn result(
    obx: &Seg<'_, '_>,
    default_time: Option<DateTime<Utc>>,
    default_status: &str,
) -> Result<ResultEntry, Rejection> {
    let code = coded(obx, 3, 1);
    if code.code.is_empty() && code.alternate_code.is_empty() {
        return Err(Rejection::error(
            ErrorCode::RequiredFieldMissing,
            obx.location(3),
            "OBX-3 (observation identifier) is missing.",
        ));
    }
    let value_type = obx.first(2).text().unwrap_or_default().to_ascii_uppercase();
    let raw_value = obx.flat(5, 1);
    let value = match (value_type.as_str(), raw_value) {
        (_, Value::Absent | Value::Null) => ResultValue::Empty,
        ("NM", Value::Text(t)) => ResultValue::Number(number(&t).ok_or_else(|| {
            Rejection::error(ErrorCode::DataType, obx.location(5), "OBX-5 is not a number, as OBX-2 (NM) says it is.")
        })?),
        ("SN", Value::Text(_)) => structured_numeric(obx),
        ("CE" | "CWE" | "CNE", Value::Text(_)) => ResultValue::Code(coded(obx, 5, 1)),
        ("ST" | "TX" | "FT" | "TS" | "DT" | "TM" | "DTM" | "ID" | "IS", Value::Text(_)) => {
            let parts: Vec<String> = (1..=obx.repetitions(5)).filter_map(|r| obx.flat(5, r).text()).collect();
            ResultValue::Text(parts.join("\n"))
        }
        _ => {
            return Err(Rejection::error(
                ErrorCode::DataType,
                obx.location(2),
                "OBX-2 (value type) is not one Wardbook stores (NM, SN, ST, TX, FT, CE, CWE, TS, DT).",
            ));
        }
    };
    let reference_range = obx.first(7).text().map(|t| range(&t));
    let observed_at = match obx.first(14).text() {
        None => default_time,
        Some(t) => Some(timestamp(&t).ok_or_else(|| {
            Rejection::error(
                ErrorCode::DataType,
                obx.location(14),
                "OBX-14 (observation date/time) is not a valid time.",
            )
        })?),
    };
    let status = obx.first(11).text().map(|s| s.to_ascii_uppercase()).unwrap_or_else(|| default_status.to_owned());
    Ok(ResultEntry {
        set_id: obx.first(1).text().unwrap_or_default(),
        value_type,
        code,
        sub_id: obx.first(4).text().unwrap_or_default(),
        value,
        units: obx.value(6, 1, 1).text(),
        reference_range,
        abnormal_flag: obx.first(8).text().map(|f| f.to_ascii_uppercase()),
        status,
        observed_at,
        location: obx.location(5),
    })
}

/// SN: `comparator^num1^separator^num2`. A plain number is a number; a
/// comparison or a ratio is kept as text (`<0.5`, `1:128`).
fn structured_numeric(obx: &Seg<'_, '_>) -> ResultValue {
    let part = |n: usize| obx.value(5, 1, n).text().unwrap_or_default();
    let (comparator, first, separator, second) = (part(1), part(2), part(3), part(4));
    if comparator.is_empty()
        && separator.is_empty()
        && second.is_empty()
        && let Some(n) = number(&first)
    {
        return ResultValue::Number(n);
    }
    ResultValue::Text(format!("{comparator}{first}{separator}{second}"))
}

fn number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

/// OBX-7: `3.5-5.0`, `<10`, `>2`, `3.5 - 5.0`. What cannot be read gives no range.
fn range(text: &str) -> (Option<f64>, Option<f64>) {
    let t = text.trim();
    if let Some(rest) = t.strip_prefix("<=").or_else(|| t.strip_prefix('<')) {
        return (None, number(rest));
    }
    if let Some(rest) = t.strip_prefix(">=").or_else(|| t.strip_prefix('>')) {
        return (number(rest), None);
    }
    // The dash between the limits, not a leading minus sign.
    if let Some(i) = t.char_indices().skip(1).find(|&(_, c)| c == '-').map(|(i, _)| i) {
        return (number(&t[..i]), number(&t[i + 1..]));
    }
    (None, None)
}
