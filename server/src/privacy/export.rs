//! The access report as a file: CSV (RFC 4180, the report's columns, one
//! line per event) or FHIR R4 (a `collection` Bundle of AuditEvents, each
//! mapped by [`crate::fhir::audit_event::audit_event_to_fhir`], the one
//! home of that mapping, which the `/fhir/r4/AuditEvent` search uses too).
//!
//! The CSV holds the patients' MRNs and names (the privacy office's report
//! is about them); the FHIR export refers to patients by id only, as the
//! FHIR AuditEvent search does. A text cell that a spreadsheet would read
//! as a formula (`=`, `+`, `-`, `@`, a tab or a carriage return first) is
//! prefixed with `'` (OWASP's advice on CSV injection).

use wardbook_protocol::AuditEvent;
use wardbook_protocol::api::AccessRow;

use super::Labels;
use crate::fhir::audit_event::audit_event_to_fhir;
use crate::fhir::resources::{Bundle, BundleEntry, BundleType, Resource};
use crate::fhir::store::WARDBOOK_USER;

/// The CSV's columns, in order.
pub const CSV_COLUMNS: &[&str] = &[
    "recorded_at",
    "event_id",
    "user_id",
    "username",
    "user_display_name",
    "action",
    "subtype",
    "patient_id",
    "patient_mrn",
    "patient_family_name",
    "patient_given_name",
    "purpose_of_use",
    "outcome",
    "device_id",
    "device_name",
    "sequence",
    "offline",
];

/// The media type of the CSV export.
pub const CSV_MEDIA_TYPE: &str = "text/csv; charset=utf-8; header=present";

/// The events as CSV, with a header line; lines end in CRLF.
pub fn csv(events: &[AuditEvent], labels: &Labels) -> String {
    let mut out = String::new();
    out.push_str(&CSV_COLUMNS.join(","));
    out.push_str("\r\n");
    for event in events {
        let cells = csv_cells(&labels.row(event));
        out.push_str(&cells.iter().map(|c| cell(c)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

fn csv_cells(row: &AccessRow) -> Vec<String> {
    let text = |s: Option<&str>| s.map(defuse).unwrap_or_default();
    vec![
        row.recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        row.event_id.to_string(),
        defuse(&row.user.user_id),
        text(row.user.username.as_deref()),
        text(row.user.display_name.as_deref()),
        row.action.as_str().to_owned(),
        row.subtype.as_str().to_owned(),
        row.patient_id.map(|p| p.to_string()).unwrap_or_default(),
        text(row.patient.as_ref().map(|p| p.mrn.as_str())),
        text(row.patient.as_ref().map(|p| p.family_name.as_str())),
        text(row.patient.as_ref().map(|p| p.given_name.as_str())),
        row.purpose_of_use.as_str().to_owned(),
        row.outcome.as_str().to_owned(),
        row.device.id.to_string(),
        text(row.device.name.as_deref()),
        row.sequence.to_string(),
        row.offline.to_string(),
    ]
}

/// A text value a spreadsheet would run as a formula, made inert.
fn defuse(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{value}") } else { value.to_owned() }
}

/// One CSV field: quoted when it holds a comma, a quote, a line break or
/// surrounding spaces; quotes doubled.
fn cell(value: &str) -> String {
    let needs_quotes = value.contains([',', '"', '\r', '\n']) || value.trim() != value;
    if needs_quotes { format!("\"{}\"", value.replace('"', "\"\"")) } else { value.to_owned() }
}

/// The events as a FHIR `collection` Bundle of AuditEvents, each entry's
/// `fullUrl` the event's id as a URN.
pub fn fhir_bundle(events: &[AuditEvent]) -> Bundle {
    let entry = events
        .iter()
        .map(|e| BundleEntry {
            full_url: Some(format!("urn:uuid:{}", e.id)),
            resource: Some(Resource::AuditEvent(Box::new(audit_event_to_fhir(e, WARDBOOK_USER)))),
            ..BundleEntry::default()
        })
        .collect();
    let mut bundle = Bundle { entry, ..Bundle::new(BundleType::Collection) };
    bundle.other.insert(
        "timestamp".to_owned(),
        serde_json::Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
    );
    bundle
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("Smith, Jo"), "\"Smith, Jo\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(cell(" padded"), "\" padded\"");
        assert_eq!(defuse("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(defuse("-1+2"), "'-1+2");
        assert_eq!(defuse("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(defuse("Ward 7A"), "Ward 7A");
    }

    #[test]
    fn no_events_is_a_header_line_and_an_empty_collection() {
        let text = csv(&[], &Labels::default());
        assert_eq!(text, format!("{}\r\n", CSV_COLUMNS.join(",")));
        let bundle = fhir_bundle(&[]);
        assert_eq!(bundle.type_, BundleType::Collection);
        assert!(bundle.entry.is_empty());
    }
}
