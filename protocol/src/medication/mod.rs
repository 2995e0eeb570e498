//! Medications: FHIR MedicationRequest (orders, from the EHR) and
//! MedicationAdministration (what was given, recorded at workstations), with
//! the pure rules around them: when doses are due ([`timing`]), the checks
//! before a dose is recorded ([`checks`]), and the MAR with its possible
//! double doses ([`mar`]). The workstation, the service and the printout
//! all ask these; none decides again.

mod administration;
pub mod checks;
mod entries;
pub mod mar;
mod request;
pub mod timing;
mod validate;

pub use administration::*;
pub use checks::{CheckFinding, check_dose};
pub use entries::*;
pub use mar::*;
pub use request::*;
pub use timing::*;
pub use validate::*;
