//! OperationOutcome builders: how `/fhir/r4` says what went wrong (or that
//! an entry went right).
//!
//! Texts are `&'static str` on purpose: a diagnostic is a fixed sentence
//! and the element goes in `expression`, so a request's value (which may be
//! patient data) cannot be formatted into an outcome by accident.

use serde_json::Map;

use super::FhirError;
use super::resources::{IssueSeverity, IssueType, OperationOutcome, OperationOutcomeIssue, ResourceType};

/// One issue: `severity` and `code`, the fixed `text`, and the element
/// `path` (FHIRPath) when there is one.
pub fn issue(
    severity: IssueSeverity,
    code: IssueType,
    path: Option<&str>,
    text: &'static str,
) -> OperationOutcomeIssue {
    OperationOutcomeIssue {
        severity,
        code,
        details: None,
        diagnostics: Some(text.to_owned()),
        expression: path.map(str::to_owned).into_iter().collect(),
        other: Map::new(),
    }
}

/// An outcome of these issues (FHIR requires at least one).
pub fn of(issues: Vec<OperationOutcomeIssue>) -> OperationOutcome {
    OperationOutcome { resource_type: ResourceType::default(), id: None, issue: issues, other: Map::new() }
}

/// One error about the element at `path`.
pub fn error(code: IssueType, path: &str, text: &'static str) -> OperationOutcome {
    of(vec![issue(IssueSeverity::Error, code, Some(path), text)])
}

/// One error about the request as a whole (no element to point at), e.g.
/// `not-found` or `forbidden`.
pub fn error_without_path(code: IssueType, text: &'static str) -> OperationOutcome {
    of(vec![issue(IssueSeverity::Error, code, None, text)])
}

/// One warning about the element at `path`: the request succeeded.
pub fn warning(code: IssueType, path: &str, text: &'static str) -> OperationOutcome {
    of(vec![issue(IssueSeverity::Warning, code, Some(path), text)])
}

/// "All OK" (FHIR R4 operationoutcome.html#allok), for entries of a
/// transaction or batch response that need an outcome but have no issue.
pub fn all_ok() -> OperationOutcome {
    of(vec![issue(IssueSeverity::Information, IssueType::Informational, None, "All OK.")])
}

/// The outcome of a refused FHIR body: one issue per element concerned,
/// with the element path in `expression` and a fixed text.
pub fn from_error(error: &FhirError) -> OperationOutcome {
    let one = |code, path: &str, text| of(vec![issue(IssueSeverity::Error, code, Some(path), text)]);
    match error {
        FhirError::Syntax { .. } => {
            error_without_path(IssueType::Structure, "The body is not valid JSON. Send a FHIR JSON resource.")
        }
        FhirError::Missing { path } => one(IssueType::Required, path, "This element is required."),
        FhirError::Invalid { path, .. } => one(
            IssueType::Value,
            path,
            "This element's value has the wrong type or format for FHIR R4 or for Wardbook.",
        ),
        FhirError::UnsupportedCode { path } => {
            one(IssueType::CodeInvalid, path, "This element holds a code Wardbook does not support.")
        }
        FhirError::Refused { path, .. } => {
            one(IssueType::BusinessRule, path, "Wardbook cannot store this element as it is.")
        }
        FhirError::Unsupported { paths } => of(paths
            .iter()
            .map(|path| {
                issue(
                    IssueSeverity::Error,
                    IssueType::NotSupported,
                    Some(path),
                    "Wardbook does not support this element and will not drop it silently: remove it or send it elsewhere.",
                )
            })
            .collect()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn error_puts_the_path_in_expression_and_the_text_in_diagnostics() {
        let outcome = error(IssueType::Value, "Observation.valueQuantity.value", "Expected a number.");
        let json = serde_json::to_value(&outcome).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "resourceType": "OperationOutcome",
                "issue": [{
                    "severity": "error",
                    "code": "value",
                    "diagnostics": "Expected a number.",
                    "expression": ["Observation.valueQuantity.value"],
                }],
            })
        );
    }

    #[test]
    fn every_error_kind_has_an_issue_per_path_and_no_value() {
        let errors = [
            FhirError::Syntax { line: 1, column: 2 },
            FhirError::missing("Patient.birthDate"),
            FhirError::invalid("Patient.birthDate", "a full date"),
            FhirError::unsupported_code("Patient.gender"),
            FhirError::refused("Patient.telecom[1]", "Wardbook keeps one phone number"),
            FhirError::Unsupported { paths: vec!["Patient.photo".into(), "Patient.name[0].period".into()] },
        ];
        let codes = ["structure", "required", "value", "code-invalid", "business-rule", "not-supported"];
        for (e, code) in errors.iter().zip(codes) {
            let json = serde_json::to_value(from_error(e)).unwrap();
            let issues = json["issue"].as_array().unwrap();
            assert_eq!(issues.len(), e.paths().len().max(1), "{e}");
            for (i, issue) in issues.iter().enumerate() {
                assert_eq!(issue["code"], code, "{e}");
                assert_eq!(issue["severity"], "error");
                if let Some(path) = e.paths().get(i) {
                    assert_eq!(issue["expression"], serde_json::json!([path]));
                }
            }
        }
    }

    #[test]
    fn all_ok_is_information() {
        let json = serde_json::to_value(all_ok()).unwrap();
        assert_eq!(json["issue"][0]["severity"], "information");
        assert_eq!(json["issue"][0]["code"], "informational");
    }
}
