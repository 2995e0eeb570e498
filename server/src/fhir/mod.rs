//! FHIR R4 (4.0.1) for the service's `/fhir/r4` interface: our own serde
//! types for exactly the subset Wardbook supports, pure conversions between
//! them and the protocol's types, the database side (`store`: resources
//! written through `crate::ingest`, read back, searched), the HTTP adapters
//! (`routes`), the Bulk Data NDJSON importer (`ndjson`) and the synthetic
//! ward as NDJSON (`emit`).
//!
//! - [`resources`]: the wire types (Patient, Encounter, Observation,
//!   AllergyIntolerance, MedicationRequest, MedicationAdministration,
//!   Bundle, OperationOutcome, CapabilityStatement,
//!   AuditEvent), and [`resources::parse`], which reads a body and names the
//!   element of any error without its value.
//! - [`convert`]: protocol rows to FHIR, and FHIR to plain "input" structs
//!   the database side turns into rows.
//! - [`outcome`]: OperationOutcome builders.
//! - [`capability`]: the CapabilityStatement served at `/metadata`.
//! - [`audit_event`]: stored audit events as FHIR AuditEvents (IHE BALP).
//!
//! Why our own types rather than a FHIR crate: the subset is small, and
//! owning it lets every type refuse to print patient data in `Debug`, keep
//! the elements we do not support (so that none is dropped silently) and
//! report errors by element path only, never by value.

pub mod audit_event;
pub mod capability;
pub mod convert;
pub mod emit;
pub mod error;
pub mod ndjson;
pub mod outcome;
pub mod resources;
pub mod routes;
pub mod store;

pub use error::FhirError;

/// The media type of FHIR JSON (FHIR R4 http.html#mime-type).
pub const FHIR_JSON: &str = "application/fhir+json";

/// The FHIR version every resource here follows.
pub const FHIR_VERSION: &str = "4.0.1";
