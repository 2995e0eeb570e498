//! Codes from terminologies (LOINC, SNOMED CT, RxNorm, UCUM): FHIR `Coding`.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// A code from a code system, with the text a clinician reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct Coding {
    /// The code system's URI, e.g. `http://loinc.org`.
    pub system: String,
    pub code: String,
    pub display: String,
}

pub const LOINC: &str = "http://loinc.org";
pub const SNOMED_CT: &str = "http://snomed.info/sct";
pub const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
pub const UCUM: &str = "http://unitsofmeasure.org";

impl Coding {
    pub fn new(system: &str, code: &str, display: &str) -> Self {
        Self { system: system.to_owned(), code: code.to_owned(), display: display.to_owned() }
    }

    pub fn loinc(code: &str, display: &str) -> Self {
        Self::new(LOINC, code, display)
    }
}

/// The code system of a code a sender used that has no standard mapping
/// (a laboratory's local test code without LOINC): kept under
/// `urn:wardbook:unmapped:<sender>:<sender's coding system>`, so that it is
/// never mistaken for a standard code and can be mapped later.
pub const UNMAPPED_PREFIX: &str = "urn:wardbook:unmapped:";

impl Coding {
    /// A sender's local code with no standard mapping (see [`UNMAPPED_PREFIX`]).
    pub fn is_unmapped(&self) -> bool {
        self.system.starts_with(UNMAPPED_PREFIX)
    }
}
