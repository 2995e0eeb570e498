//! Wardbook's wire and domain types, shared by the desktop app, the sync
//! service and (through generated TypeScript) the UI. Declared once here so
//! that no side can drift. No I/O.
//!
//! Names follow FHIR R4 (Patient, Observation, AllergyIntolerance,
//! AuditEvent) so that a FHIR import or export is a mapping, not a redesign.
//!
//! PHI never reaches `Debug` output: the clinical types implement `Debug` by
//! hand and print identifiers and codes only.

pub mod allergy;
pub mod api;
pub mod audit;
pub mod coding;
#[cfg(feature = "logging")]
pub mod logging;
pub mod medication;
pub mod news2;
pub mod observation;
pub mod patient;
#[cfg(feature = "synthetic")]
pub mod synthetic;
mod tagged;
pub mod validation;
pub mod views;
pub mod vitals;
pub mod workstation;

pub use allergy::*;
pub use audit::*;
pub use coding::*;
pub use observation::*;
pub use patient::*;
pub use validation::{ValidationError, ValidationErrors, validate_allergy, validate_observation, validate_patient};
pub use views::*;
pub use workstation::*;

/// The version of the HTTP/JSON API (`/v1/...`) this crate describes.
pub const API_VERSION: &str = "v1";
