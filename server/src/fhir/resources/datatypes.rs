//! FHIR R4 data types, each with the elements Wardbook uses
//! (<https://hl7.org/fhir/R4/datatypes.html>).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{elements, opaque_debug};

/// A code from a code system (`Coding`).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Coding {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Coding {
    /// A coding with all three parts.
    pub fn new(system: &str, code: &str, display: &str) -> Coding {
        Coding {
            system: Some(system.to_owned()),
            code: Some(code.to_owned()),
            display: Some(display.to_owned()),
            other: Map::new(),
        }
    }

    /// A coding without a display (codes whose system defines none we need).
    pub fn code(system: &str, code: &str) -> Coding {
        Coding { system: Some(system.to_owned()), code: Some(code.to_owned()), display: None, other: Map::new() }
    }

    /// Is this `code` in `system`?
    pub fn is(&self, system: &str, code: &str) -> bool {
        self.system.as_deref() == Some(system) && self.code.as_deref() == Some(code)
    }
}

/// A concept as codings and/or text (`CodeableConcept`).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CodeableConcept {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coding: Vec<Coding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl CodeableConcept {
    /// A concept of one coding.
    pub fn of(coding: Coding) -> CodeableConcept {
        CodeableConcept { coding: vec![coding], text: None, other: Map::new() }
    }
}

/// A business identifier (`Identifier`): MRN, a user's or a device's id.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identifier {
    #[serde(rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<CodeableConcept>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Identifier {
    /// `value` in `system`.
    pub fn new(system: &str, value: &str) -> Identifier {
        Identifier { system: Some(system.to_owned()), value: Some(value.to_owned()), ..Identifier::default() }
    }
}

/// A reference to another resource (`Reference`): a literal `reference`
/// (`Patient/{id}`), a logical `identifier`, or only a `display`.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reference {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identifier: Option<Identifier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Reference {
    /// A literal reference, e.g. `Patient/{id}`.
    pub fn to(reference: String) -> Reference {
        Reference { reference: Some(reference), ..Reference::default() }
    }
}

/// A time range (`Period`); the bounds are FHIR `dateTime` strings.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Period {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A measured amount (`Quantity`, also `SimpleQuantity`). `comparator`
/// (`<`, `>=`) is not modelled: it changes the meaning of the value, so a
/// quantity with one is refused as an unsupported element.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Quantity {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A person's name (`HumanName`).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HumanName {
    #[serde(rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub given: Vec<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A phone number or email address (`ContactPoint`).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactPoint {
    /// `phone | fax | email | pager | url | sms | other`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A postal address (`Address`): Wardbook keeps the text only.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Resource metadata (`Meta`). `security` carries the HTEST label of
/// synthetic data; `profile` is a claim about the content and is read but
/// not kept.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// A FHIR `instant`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profile: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security: Vec<Coding>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A resource's human-readable summary (`Narrative`). Wardbook writes none;
/// one whose `status` is `generated` ("entirely generated from the core
/// elements", FHIR R4 narrative.html) loses nothing when it is not kept, so
/// only such a narrative counts as supported.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Narrative {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub div: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl super::Elements for Narrative {
    fn unsupported(&self, path: &str, out: &mut Vec<String>) {
        if self.status.as_deref() != Some("generated") || !self.other.is_empty() {
            out.push(path.to_owned());
        }
    }
}

elements!(Coding);
elements!(CodeableConcept, coding = "coding");
elements!(Identifier, type_ = "type");
elements!(Reference, identifier = "identifier");
elements!(Period);
elements!(Quantity);
elements!(HumanName);
elements!(ContactPoint);
elements!(Address);
elements!(Meta, security = "security");

opaque_debug!(Coding, CodeableConcept, Identifier, Reference, Period, Quantity, HumanName, ContactPoint, Address);
opaque_debug!(Meta, Narrative);
