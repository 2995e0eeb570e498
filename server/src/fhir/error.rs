//! Why a FHIR body was refused, by element path (FHIRPath-like:
//! `Observation.valueQuantity.value`, `Patient.telecom[1]`), never by value:
//! these messages reach logs and clients, and a value may be patient data.

use axum::http::StatusCode;

/// A FHIR body Wardbook cannot accept. `Display` names the element and what
/// is wrong with it, never the value found there.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FhirError {
    /// The body is not JSON at all.
    #[error("The body is not valid JSON (line {line}, column {column}).")]
    Syntax { line: usize, column: usize },
    /// A required element is absent (FHIR's or Wardbook's requirement).
    #[error("{path} is required.")]
    Missing { path: String },
    /// An element's value has the wrong type or format; `expected` says what
    /// would be accepted, in words that never quote the value.
    #[error("{path} is invalid: expected {expected}.")]
    Invalid { path: String, expected: &'static str },
    /// A code outside the value set Wardbook supports for this element.
    #[error("{path} holds a code Wardbook does not support.")]
    UnsupportedCode { path: String },
    /// Valid FHIR that Wardbook cannot store as it is (a business rule, e.g.
    /// a second phone number where a patient has one).
    #[error("{path} cannot be accepted: {reason}.")]
    Refused { path: String, reason: &'static str },
    /// Elements Wardbook does not model: refused rather than dropped.
    #[error("Wardbook does not support these elements: {}.", paths.join(", "))]
    Unsupported { paths: Vec<String> },
}

impl FhirError {
    pub(crate) fn missing(path: impl Into<String>) -> FhirError {
        FhirError::Missing { path: path.into() }
    }

    pub(crate) fn invalid(path: impl Into<String>, expected: &'static str) -> FhirError {
        FhirError::Invalid { path: path.into(), expected }
    }

    pub(crate) fn unsupported_code(path: impl Into<String>) -> FhirError {
        FhirError::UnsupportedCode { path: path.into() }
    }

    pub(crate) fn refused(path: impl Into<String>, reason: &'static str) -> FhirError {
        FhirError::Refused { path: path.into(), reason }
    }

    /// The element paths this error is about (none for a syntax error).
    pub fn paths(&self) -> Vec<&str> {
        match self {
            FhirError::Syntax { .. } => Vec::new(),
            FhirError::Missing { path }
            | FhirError::Invalid { path, .. }
            | FhirError::UnsupportedCode { path }
            | FhirError::Refused { path, .. } => vec![path.as_str()],
            FhirError::Unsupported { paths } => paths.iter().map(String::as_str).collect(),
        }
    }

    /// The same error about a resource inside a Bundle: `Observation.code`
    /// becomes `Bundle.entry[3].resource.code`, so that a client posting a
    /// transaction learns which entry is wrong.
    pub fn in_bundle_entry(self, index: usize) -> FhirError {
        let move_path = |path: String| {
            let rest = path.find(['.', '[']).map_or("", |i| &path[i..]);
            format!("Bundle.entry[{index}].resource{rest}")
        };
        match self {
            FhirError::Syntax { .. } => self,
            FhirError::Missing { path } => FhirError::Missing { path: move_path(path) },
            FhirError::Invalid { path, expected } => FhirError::Invalid { path: move_path(path), expected },
            FhirError::UnsupportedCode { path } => FhirError::UnsupportedCode { path: move_path(path) },
            FhirError::Refused { path, reason } => FhirError::Refused { path: move_path(path), reason },
            FhirError::Unsupported { paths } => {
                FhirError::Unsupported { paths: paths.into_iter().map(move_path).collect() }
            }
        }
    }

    /// The HTTP status FHIR's RESTful API gives this refusal: 400 for a body
    /// that cannot be read as the resource, 422 (Unprocessable Entity) for a
    /// resource that can be read but not accepted (FHIR R4 http.html#2.21.0.11).
    pub fn status(&self) -> StatusCode {
        match self {
            FhirError::Syntax { .. } | FhirError::Invalid { .. } => StatusCode::BAD_REQUEST,
            FhirError::Missing { .. }
            | FhirError::UnsupportedCode { .. }
            | FhirError::Refused { .. }
            | FhirError::Unsupported { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn messages_name_the_element_and_what_is_expected() {
        let e = FhirError::invalid("Observation.valueQuantity.value", "a number");
        assert_eq!(e.to_string(), "Observation.valueQuantity.value is invalid: expected a number.");
        assert_eq!(FhirError::missing("Patient.birthDate").to_string(), "Patient.birthDate is required.");
        let e = FhirError::Unsupported { paths: vec!["Patient.maritalStatus".into(), "Patient.photo".into()] };
        assert_eq!(e.to_string(), "Wardbook does not support these elements: Patient.maritalStatus, Patient.photo.");
        assert_eq!(
            FhirError::Syntax { line: 3, column: 7 }.to_string(),
            "The body is not valid JSON (line 3, column 7)."
        );
    }

    #[test]
    fn paths_move_into_their_bundle_entry() {
        let e = FhirError::invalid("Observation.valueQuantity.value", "a number").in_bundle_entry(3);
        assert_eq!(e.paths(), ["Bundle.entry[3].resource.valueQuantity.value"]);
        let e = FhirError::missing("Patient").in_bundle_entry(0);
        assert_eq!(e.paths(), ["Bundle.entry[0].resource"]);
        let e = FhirError::Unsupported { paths: vec!["Patient.photo".into()] }.in_bundle_entry(1);
        assert_eq!(e.paths(), ["Bundle.entry[1].resource.photo"]);
    }
}
