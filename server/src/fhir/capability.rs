//! The CapabilityStatement served at `/fhir/r4/metadata`: exactly what the
//! interface supports, so that a client learns it before it tries. Adding
//! an interaction to the handlers means adding it here, and only then.

use serde_json::Map;

use super::resources::{
    CapabilityImplementation, CapabilityInteraction, CapabilityOperation, CapabilityResource, CapabilityRest,
    CapabilitySearchParam, CapabilitySoftware, CapabilityStatement, ResourceType,
};
use super::{FHIR_JSON, FHIR_VERSION};

/// When what this statement describes last changed (its `date`): a fixed
/// day rather than the time of the request, so that the statement is the
/// same from one request to the next.
pub const STATEMENT_DATE: &str = "2026-12-05";

/// The statement of the server at `base_url` (its `/fhir/r4` root, which
/// `implementation.url` names).
///
/// - Patient: `read`, `search-type` by `_id` and `identifier`, `$everything`.
/// - Observation: `search-type` by `patient`, `category`, `code`.
/// - AllergyIntolerance, Encounter, MedicationRequest: `search-type` by `patient`.
/// - MedicationAdministration: `read`, `search-type` by `_lastUpdated` and
///   `patient`, in pages (what was given, for the EHR to take back).
/// - AuditEvent: `search-type` by `patient`, `agent`, `date`, in pages.
/// - At the system level: `transaction` and `batch`, whose entries create
///   and update Patient, Encounter, Observation, AllergyIntolerance and
///   MedicationRequest (not
///   the type-level `create` and `update`: there is no `POST /Patient`).
///
/// What the elements cannot say (which requests an entry may make, how
/// AuditEvents page) goes in `documentation`, which our types keep among
/// the members they do not model.
pub fn capability_statement(base_url: &str) -> CapabilityStatement {
    CapabilityStatement {
        resource_type: ResourceType::default(),
        id: None,
        name: Some("WardbookFhirServer".to_owned()),
        status: Some("active".to_owned()),
        date: Some(STATEMENT_DATE.to_owned()),
        publisher: Some("Wardbook".to_owned()),
        // `instance`: this describes a running installation, which FHIR
        // (cpb-15) then requires to have `implementation`.
        kind: Some("instance".to_owned()),
        software: Some(CapabilitySoftware {
            name: "Wardbook".to_owned(),
            version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            other: Map::new(),
        }),
        implementation: Some(CapabilityImplementation {
            description: "Wardbook central service".to_owned(),
            url: Some(base_url.trim_end_matches('/').to_owned()),
            other: Map::new(),
        }),
        fhir_version: Some(FHIR_VERSION.to_owned()),
        format: vec!["json".to_owned(), FHIR_JSON.to_owned()],
        rest: vec![CapabilityRest {
            mode: "server".to_owned(),
            resource: vec![
                CapabilityResource {
                    operation: vec![CapabilityOperation {
                        name: "everything".to_owned(),
                        definition: "http://hl7.org/fhir/OperationDefinition/Patient-everything".to_owned(),
                        other: Map::new(),
                    }],
                    ..resource(
                        "Patient",
                        &["read", "search-type"],
                        &[("_id", "token", "Resource-id"), ("identifier", "token", "Patient-identifier")],
                    )
                },
                resource(
                    "Observation",
                    &["search-type"],
                    &[
                        ("patient", "reference", "clinical-patient"),
                        ("category", "token", "Observation-category"),
                        ("code", "token", "clinical-code"),
                    ],
                ),
                resource("AllergyIntolerance", &["search-type"], &[("patient", "reference", "clinical-patient")]),
                resource("Encounter", &["search-type"], &[("patient", "reference", "clinical-patient")]),
                resource("MedicationRequest", &["search-type"], &[("patient", "reference", "clinical-patient")]),
                CapabilityResource {
                    other: documentation(ADMINISTRATION_SEARCH),
                    ..resource(
                        "MedicationAdministration",
                        &["read", "search-type"],
                        &[
                            ("_lastUpdated", "date", "Resource-lastUpdated"),
                            ("patient", "reference", "clinical-patient"),
                        ],
                    )
                },
                CapabilityResource {
                    other: documentation(AUDIT_EVENT_SEARCH),
                    ..resource(
                        "AuditEvent",
                        &["search-type"],
                        &[
                            ("patient", "reference", "AuditEvent-patient"),
                            ("agent", "reference", "AuditEvent-agent"),
                            ("date", "date", "AuditEvent-date"),
                        ],
                    )
                },
            ],
            interaction: ["transaction", "batch"]
                .into_iter()
                .map(|code| CapabilityInteraction { code: code.to_owned(), other: documentation(BUNDLE_ENTRIES) })
                .collect(),
            other: Map::new(),
        }],
        other: Map::new(),
    }
}

/// What the entries of a transaction or batch may ask for.
const BUNDLE_ENTRIES: &str = "Entries write Patient, Encounter, Observation, AllergyIntolerance and \
MedicationRequest. \
`POST {type}` creates the resource, or updates the stored one that has its identifier (a repeated import \
changes nothing); with `ifNoneExist: identifier=system|value` it changes nothing when that identifier is stored. \
`PUT {type}?identifier=system|value` updates by one of the resource's identifiers. A transaction is all or nothing; \
a batch applies each entry on its own and answers each one's outcome.";

/// How AuditEvent searches page.
const AUDIT_EVENT_SEARCH: &str = "Oldest first, `_count` events a page (1 to 500, default 100), \
`_page` from 1; `next` and `previous` links. `agent` is a Wardbook user id (`agent.who.identifier` in system \
urn:wardbook:user); `date` takes the prefixes eq, ge, gt, le and lt, and may repeat.";

/// How MedicationAdministration searches page, and what to poll with.
const ADMINISTRATION_SEARCH: &str = "Oldest change first, `_count` a page (1 to 500, default 100), `_page` \
from 1; `next` and `previous` links. `_lastUpdated` takes the prefixes eq, ge, gt, le and lt, and may repeat. \
Poll with `_lastUpdated=ge` a few minutes before the last poll and keep the newest version of each id: \
a dose recorded offline arrives when its workstation reconnects, and is stamped then.";

/// `documentation` (markdown) among an element's unmodelled members.
fn documentation(text: &str) -> Map<String, serde_json::Value> {
    Map::from_iter([("documentation".to_owned(), serde_json::Value::String(text.to_owned()))])
}

/// A resource type's entry: its interactions, and its search parameters as
/// (name, type, id of FHIR R4's SearchParameter that defines it).
fn resource(type_: &str, interactions_: &[&str], params: &[(&str, &str, &str)]) -> CapabilityResource {
    CapabilityResource {
        type_: type_.to_owned(),
        interaction: interactions(interactions_),
        search_param: params
            .iter()
            .map(|(name, kind, definition)| CapabilitySearchParam {
                name: (*name).to_owned(),
                definition: Some(format!("http://hl7.org/fhir/SearchParameter/{definition}")),
                type_: (*kind).to_owned(),
                other: Map::new(),
            })
            .collect(),
        operation: Vec::new(),
        other: Map::new(),
    }
}

fn interactions(codes: &[&str]) -> Vec<CapabilityInteraction> {
    codes.iter().map(|code| CapabilityInteraction { code: (*code).to_owned(), other: Map::new() }).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// (resource type, interactions, search parameters): the whole promise.
    #[test]
    fn lists_exactly_what_is_supported() {
        let statement = capability_statement("https://wardbook.example/fhir/r4/");
        assert_eq!(statement.fhir_version.as_deref(), Some("4.0.1"));
        assert_eq!(statement.kind.as_deref(), Some("instance"));
        assert_eq!(
            statement.implementation.as_ref().and_then(|i| i.url.as_deref()),
            Some("https://wardbook.example/fhir/r4")
        );
        assert!(statement.format.contains(&"json".to_owned()));
        let [rest] = statement.rest.as_slice() else { panic!("one rest entry") };
        assert_eq!(rest.mode, "server");
        let system: Vec<&str> = rest.interaction.iter().map(|i| i.code.as_str()).collect();
        assert_eq!(system, ["transaction", "batch"]);
        for interaction in &rest.interaction {
            let text = interaction.other["documentation"].as_str().unwrap();
            assert!(text.contains("POST {type}") && text.contains("PUT {type}?identifier"), "{text}");
        }
        type Row<'a> = (&'a str, Vec<&'a str>, Vec<&'a str>, Vec<&'a str>);
        let table: Vec<Row> = rest
            .resource
            .iter()
            .map(|r| {
                (
                    r.type_.as_str(),
                    r.interaction.iter().map(|i| i.code.as_str()).collect(),
                    r.search_param.iter().map(|p| p.name.as_str()).collect(),
                    r.operation.iter().map(|o| o.name.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            table,
            [
                ("Patient", vec!["read", "search-type"], vec!["_id", "identifier"], vec!["everything"]),
                ("Observation", vec!["search-type"], vec!["patient", "category", "code"], vec![]),
                ("AllergyIntolerance", vec!["search-type"], vec!["patient"], vec![]),
                ("Encounter", vec!["search-type"], vec!["patient"], vec![]),
                ("MedicationRequest", vec!["search-type"], vec!["patient"], vec![]),
                ("MedicationAdministration", vec!["read", "search-type"], vec!["_lastUpdated", "patient"], vec![]),
                ("AuditEvent", vec!["search-type"], vec!["patient", "agent", "date"], vec![]),
            ]
        );
    }
}
