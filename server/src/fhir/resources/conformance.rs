//! The resources about the interface itself: OperationOutcome (what went
//! wrong) and CapabilityStatement (what the server supports).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{CodeableConcept, ResourceType, elements, resource_debug};

/// FHIR R4 OperationOutcome (<https://hl7.org/fhir/R4/operationoutcome.html>).
/// Built by [`crate::fhir::outcome`]; never carries a value from a request.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationOutcome {
    pub resource_type: ResourceType<OperationOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default)]
    pub issue: Vec<OperationOutcomeIssue>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// One issue (`OperationOutcome.issue`).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationOutcomeIssue {
    pub severity: IssueSeverity,
    pub code: IssueType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<CodeableConcept>,
    /// For the reader; Wardbook's are fixed texts, never a value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<String>,
    /// FHIRPath of the elements concerned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expression: Vec<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `OperationOutcome.issue.severity` (<http://hl7.org/fhir/issue-severity>).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IssueSeverity {
    Fatal,
    Error,
    Warning,
    Information,
}

/// `OperationOutcome.issue.code` (<http://hl7.org/fhir/issue-type>), all of
/// R4's codes: the code is for machines, so it must be the exact one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IssueType {
    Invalid,
    Structure,
    Required,
    Value,
    Invariant,
    Security,
    Login,
    Unknown,
    Expired,
    Forbidden,
    Suppressed,
    Processing,
    NotSupported,
    Duplicate,
    MultipleMatches,
    NotFound,
    Deleted,
    TooLong,
    CodeInvalid,
    Extension,
    TooCostly,
    BusinessRule,
    Conflict,
    Transient,
    LockError,
    NoStore,
    Exception,
    Timeout,
    Incomplete,
    Throttled,
    Informational,
}

/// FHIR R4 CapabilityStatement (<https://hl7.org/fhir/R4/capabilitystatement.html>),
/// with the elements a server's statement uses.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapabilityStatement {
    pub resource_type: ResourceType<CapabilityStatement>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// A FHIR `dateTime`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub software: Option<CapabilitySoftware>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub implementation: Option<CapabilityImplementation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fhir_version: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub format: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rest: Vec<CapabilityRest>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `CapabilityStatement.software`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapabilitySoftware {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `CapabilityStatement.implementation`: this installation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapabilityImplementation {
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `CapabilityStatement.rest`: what the RESTful endpoint offers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapabilityRest {
    /// `client | server`.
    pub mode: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource: Vec<CapabilityResource>,
    /// System-level interactions (`transaction`, `batch`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interaction: Vec<CapabilityInteraction>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `CapabilityStatement.rest.resource`: one resource type's support.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapabilityResource {
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interaction: Vec<CapabilityInteraction>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search_param: Vec<CapabilitySearchParam>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operation: Vec<CapabilityOperation>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// An interaction (`read`, `search-type`, `transaction`, ...).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapabilityInteraction {
    pub code: String,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A supported search parameter.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapabilitySearchParam {
    pub name: String,
    /// The canonical URL of the SearchParameter this one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub definition: Option<String>,
    /// `number | date | string | token | reference | ...`.
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A supported operation (`$everything`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapabilityOperation {
    pub name: String,
    /// The canonical URL of its OperationDefinition.
    pub definition: String,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

elements!(OperationOutcome, issue = "issue");
elements!(OperationOutcomeIssue, details = "details");
elements!(CapabilityStatement, software = "software", implementation = "implementation", rest = "rest");
elements!(CapabilitySoftware);
elements!(CapabilityImplementation);
elements!(CapabilityRest, resource = "resource", interaction = "interaction");
elements!(CapabilityResource, interaction = "interaction", search_param = "searchParam", operation = "operation");
elements!(CapabilityInteraction);
elements!(CapabilitySearchParam);
elements!(CapabilityOperation);

resource_debug!(OperationOutcome, CapabilityStatement);

/// Severity, code and paths: an outcome read from elsewhere may quote values
/// in its texts, so those are left out.
impl std::fmt::Debug for OperationOutcomeIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperationOutcomeIssue")
            .field("severity", &self.severity)
            .field("code", &self.code)
            .field("expression", &self.expression)
            .finish_non_exhaustive()
    }
}

super::fhir_resources!(OperationOutcome, CapabilityStatement);
