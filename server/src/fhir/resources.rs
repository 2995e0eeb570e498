//! Serde types for the subset of FHIR R4 Wardbook supports, and [`parse`].
//!
//! Every type keeps the JSON members it does not model in a flattened
//! `other` map, so that nothing a client sent is dropped silently: a
//! resource's [`FhirResource::unsupported_elements`] lists them by path
//! (`Patient.maritalStatus`, `Patient.name[0].period`), and the conversions
//! refuse a resource that has any. Serialising writes them back, so a parsed
//! resource survives a round trip unchanged.
//!
//! Primitive values stay strings here (dates, codes): checking them belongs
//! to the conversions, which can name the element of a bad value without
//! quoting it. Elements that FHIR allows to repeat are `Vec`s, absent when
//! empty (FHIR JSON forbids empty arrays and objects).
//!
//! `Debug` never prints patient data: resources print their type and id,
//! the other types only their name.

mod audit;
mod bundle;
mod clinical;
mod conformance;
mod datatypes;
mod medication;

use std::fmt::Write as _;
use std::marker::PhantomData;

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

pub use audit::*;
pub use bundle::*;
pub use clinical::*;
pub use conformance::*;
pub use datatypes::*;
pub use medication::*;

use crate::fhir::FhirError;

/// The name a resource type has in `resourceType`.
pub trait ResourceName {
    const TYPE: &'static str;
}

/// `ResourceName` and `FhirResource` for resource structs with an
/// `id: Option<String>` field, each named by its FHIR type.
macro_rules! fhir_resources {
    ($($name:ident),+ $(,)?) => {
        $(
            impl $crate::fhir::resources::ResourceName for $name {
                const TYPE: &'static str = stringify!($name);
            }

            impl $crate::fhir::resources::FhirResource for $name {
                fn id(&self) -> Option<&str> {
                    self.id.as_deref()
                }
            }
        )+
    };
}
pub(crate) use fhir_resources;

/// A FHIR resource Wardbook reads or writes.
pub trait FhirResource: ResourceName + Serialize + DeserializeOwned + Elements {
    /// The logical id (`Patient/{id}`), if the resource has one.
    fn id(&self) -> Option<&str>;

    /// The paths of the elements present in this resource that Wardbook does
    /// not support, e.g. `Patient.maritalStatus`, `Patient.name[0].period`,
    /// `Patient._birthDate` (an extension on a primitive). Empty when every
    /// element is supported.
    fn unsupported_elements(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.unsupported(Self::TYPE, &mut out);
        out
    }
}

/// The `resourceType` member: writes `R::TYPE`, and reads only that.
/// A field of this type makes a resource struct refuse JSON of another
/// resource type, with the error at `resourceType`.
pub struct ResourceType<R>(PhantomData<fn() -> R>);

impl<R> Default for ResourceType<R> {
    fn default() -> Self {
        ResourceType(PhantomData)
    }
}

impl<R> Clone for ResourceType<R> {
    fn clone(&self) -> Self {
        ResourceType(PhantomData)
    }
}

impl<R> PartialEq for ResourceType<R> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<R: ResourceName> std::fmt::Debug for ResourceType<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(R::TYPE)
    }
}

impl<R: ResourceName> Serialize for ResourceType<R> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(R::TYPE)
    }
}

impl<'de, R: ResourceName> Deserialize<'de> for ResourceType<R> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        if name == R::TYPE { Ok(ResourceType::default()) } else { Err(D::Error::custom("another resource type")) }
    }
}

/// Walks a value for the elements Wardbook does not support.
pub trait Elements {
    /// Appends to `out` the paths, below `path`, of unsupported elements.
    fn unsupported(&self, path: &str, out: &mut Vec<String>);
}

impl<T: Elements> Elements for Option<T> {
    fn unsupported(&self, path: &str, out: &mut Vec<String>) {
        if let Some(value) = self {
            value.unsupported(path, out);
        }
    }
}

impl<T: Elements> Elements for Vec<T> {
    fn unsupported(&self, path: &str, out: &mut Vec<String>) {
        for (i, value) in self.iter().enumerate() {
            value.unsupported(&format!("{path}[{i}]"), out);
        }
    }
}

impl<T: Elements> Elements for Box<T> {
    fn unsupported(&self, path: &str, out: &mut Vec<String>) {
        self.as_ref().unsupported(path, out);
    }
}

/// The members of `other` as element paths below `path`. A member name is
/// the client's text: one not shaped like a FHIR element name (letters and
/// digits, perhaps after `_`, at most 64) is not repeated, so that an error
/// message cannot carry whatever was put there.
pub(crate) fn others(other: &Map<String, Value>, path: &str, out: &mut Vec<String>) {
    out.extend(other.keys().map(|key| {
        let name = key.strip_prefix('_').unwrap_or(key);
        let shaped = (1..=64).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric());
        if shaped { format!("{path}.{key}") } else { format!("{path}.<member not named like an element>") }
    }));
}

/// Implements [`Elements`] for a struct with an `other` map and the listed
/// children (fields that are themselves [`Elements`], with their JSON names).
macro_rules! elements {
    ($ty:ty $(, $field:ident = $name:literal)* $(,)?) => {
        impl $crate::fhir::resources::Elements for $ty {
            fn unsupported(&self, path: &str, out: &mut Vec<String>) {
                $crate::fhir::resources::others(&self.other, path, out);
                $( $crate::fhir::resources::Elements::unsupported(&self.$field, &format!("{path}.{}", $name), out); )*
            }
        }
    };
}
pub(crate) use elements;

/// `Debug` for a resource: its type and id, nothing that may be PHI.
macro_rules! resource_debug {
    ($($ty:ident),+ $(,)?) => {$(
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty)).field("id", &self.id).finish_non_exhaustive()
            }
        }
    )+};
}
pub(crate) use resource_debug;

/// `Debug` for a type inside a resource: its name only (its values may be PHI).
macro_rules! opaque_debug {
    ($($ty:ident),+ $(,)?) => {$(
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($ty), "(..)"))
            }
        }
    )+};
}
pub(crate) use opaque_debug;

/// Reads a FHIR JSON body as resource `T`. A syntax error gives its line and
/// column; anything else the element path (`Observation.valueQuantity.value`)
/// and never the value, which serde's own messages would quote.
pub fn parse<T: FhirResource>(body: &[u8]) -> Result<T, FhirError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| FhirError::Syntax { line: e.line(), column: e.column() })?;
    from_value(value)
}

/// [`parse`] for JSON already read.
pub fn from_value<T: FhirResource>(value: Value) -> Result<T, FhirError> {
    if value.get("resourceType").and_then(Value::as_str) != Some(T::TYPE) {
        let path = format!("{}.resourceType", T::TYPE);
        return Err(match value.get("resourceType") {
            None => FhirError::missing(path),
            Some(_) => FhirError::invalid(path, "the resource type this interaction takes"),
        });
    }
    serde_path_to_error::deserialize(value).map_err(|e| data_error(T::TYPE, &e))
}

/// Markers by which a resource nested in a Bundle passes its own error up
/// through serde (which carries only a message): the marker, then the path
/// below the nested resource. Decoded by [`data_error`]; never shown.
const NESTED_MISSING: &str = "\u{1}fhir-missing:";
const NESTED_INVALID: &str = "\u{1}fhir-invalid:";

/// What a failed typed read means, at the path serde reached. serde's
/// message is read only for the name of a missing field (one of ours) and
/// is otherwise dropped: it may quote the value.
fn data_error(root: &str, error: &serde_path_to_error::Error<serde_json::Error>) -> FhirError {
    let mut path = root.to_owned();
    for segment in error.path().iter() {
        match segment {
            serde_path_to_error::Segment::Seq { index } => {
                let _ = write!(path, "[{index}]");
            }
            serde_path_to_error::Segment::Map { key } => {
                let _ = write!(path, ".{key}");
            }
            serde_path_to_error::Segment::Enum { .. } | serde_path_to_error::Segment::Unknown => {}
        }
    }
    let message = error.inner().to_string();
    if let Some(below) = message.strip_prefix(NESTED_MISSING) {
        FhirError::missing(format!("{path}{below}"))
    } else if let Some(below) = message.strip_prefix(NESTED_INVALID) {
        FhirError::invalid(format!("{path}{below}"), "a value of the element's FHIR type")
    } else if let Some(field) = between(&message, "missing field `", "`") {
        FhirError::missing(format!("{path}.{field}"))
    } else if let Some(field) = between(&message, "duplicate field `", "`") {
        FhirError::invalid(format!("{path}.{field}"), "the element once")
    } else {
        FhirError::invalid(path, "a value of the element's FHIR type")
    }
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = text.strip_prefix(start)?;
    rest.find(end).map(|i| &rest[..i])
}

/// Any resource a Bundle may carry. Types Wardbook does not support are
/// kept as they came (`Unsupported`) and reported as unsupported elements.
#[derive(Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Resource {
    Patient(Box<Patient>),
    Encounter(Box<Encounter>),
    Observation(Box<Observation>),
    AllergyIntolerance(Box<AllergyIntolerance>),
    MedicationRequest(Box<MedicationRequest>),
    MedicationAdministration(Box<MedicationAdministration>),
    Bundle(Box<Bundle>),
    OperationOutcome(Box<OperationOutcome>),
    CapabilityStatement(Box<CapabilityStatement>),
    AuditEvent(Box<AuditEvent>),
    Unsupported(Map<String, Value>),
}

impl Resource {
    /// The `resourceType`, if it has one.
    pub fn resource_type(&self) -> Option<&str> {
        Some(match self {
            Resource::Patient(_) => Patient::TYPE,
            Resource::Encounter(_) => Encounter::TYPE,
            Resource::Observation(_) => Observation::TYPE,
            Resource::AllergyIntolerance(_) => AllergyIntolerance::TYPE,
            Resource::MedicationRequest(_) => MedicationRequest::TYPE,
            Resource::MedicationAdministration(_) => MedicationAdministration::TYPE,
            Resource::Bundle(_) => Bundle::TYPE,
            Resource::OperationOutcome(_) => OperationOutcome::TYPE,
            Resource::CapabilityStatement(_) => CapabilityStatement::TYPE,
            Resource::AuditEvent(_) => AuditEvent::TYPE,
            Resource::Unsupported(map) => return map.get("resourceType").and_then(Value::as_str),
        })
    }

    /// The logical id, if the resource has one.
    pub fn id(&self) -> Option<&str> {
        match self {
            Resource::Patient(r) => r.id(),
            Resource::Encounter(r) => r.id(),
            Resource::Observation(r) => r.id(),
            Resource::AllergyIntolerance(r) => r.id(),
            Resource::MedicationRequest(r) => r.id(),
            Resource::MedicationAdministration(r) => r.id(),
            Resource::Bundle(r) => r.id(),
            Resource::OperationOutcome(r) => r.id(),
            Resource::CapabilityStatement(r) => r.id(),
            Resource::AuditEvent(r) => r.id(),
            Resource::Unsupported(map) => map.get("id").and_then(Value::as_str),
        }
    }
}

impl std::fmt::Debug for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Resource::Patient(r) => r.fmt(f),
            Resource::Encounter(r) => r.fmt(f),
            Resource::Observation(r) => r.fmt(f),
            Resource::AllergyIntolerance(r) => r.fmt(f),
            Resource::MedicationRequest(r) => r.fmt(f),
            Resource::MedicationAdministration(r) => r.fmt(f),
            Resource::Bundle(r) => r.fmt(f),
            Resource::OperationOutcome(r) => r.fmt(f),
            Resource::CapabilityStatement(r) => r.fmt(f),
            Resource::AuditEvent(r) => r.fmt(f),
            Resource::Unsupported(_) => f.write_str("Unsupported(..)"),
        }
    }
}

impl Elements for Resource {
    fn unsupported(&self, path: &str, out: &mut Vec<String>) {
        // Below a Bundle entry the path continues from `resource`, as
        // FHIRPath does: `Bundle.entry[0].resource.name[0].period`.
        match self {
            Resource::Patient(r) => r.unsupported(path, out),
            Resource::Encounter(r) => r.unsupported(path, out),
            Resource::Observation(r) => r.unsupported(path, out),
            Resource::AllergyIntolerance(r) => r.unsupported(path, out),
            Resource::MedicationRequest(r) => r.unsupported(path, out),
            Resource::MedicationAdministration(r) => r.unsupported(path, out),
            Resource::Bundle(r) => r.unsupported(path, out),
            Resource::OperationOutcome(r) => r.unsupported(path, out),
            Resource::CapabilityStatement(r) => r.unsupported(path, out),
            Resource::AuditEvent(r) => r.unsupported(path, out),
            Resource::Unsupported(_) => out.push(path.to_owned()),
        }
    }
}

impl<'de> Deserialize<'de> for Resource {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let name = value.get("resourceType").and_then(Value::as_str).map(str::to_owned);
        match name.as_deref() {
            Some(Patient::TYPE) => nested(value).map(Resource::Patient),
            Some(Encounter::TYPE) => nested(value).map(Resource::Encounter),
            Some(Observation::TYPE) => nested(value).map(Resource::Observation),
            Some(AllergyIntolerance::TYPE) => nested(value).map(Resource::AllergyIntolerance),
            Some(MedicationRequest::TYPE) => nested(value).map(Resource::MedicationRequest),
            Some(MedicationAdministration::TYPE) => nested(value).map(Resource::MedicationAdministration),
            Some(Bundle::TYPE) => nested(value).map(Resource::Bundle),
            Some(OperationOutcome::TYPE) => nested(value).map(Resource::OperationOutcome),
            Some(CapabilityStatement::TYPE) => nested(value).map(Resource::CapabilityStatement),
            Some(AuditEvent::TYPE) => nested(value).map(Resource::AuditEvent),
            Some(_) => match value {
                Value::Object(map) => Ok(Resource::Unsupported(map)),
                _ => Err(D::Error::custom(NESTED_INVALID)),
            },
            None if value.is_object() => Err(D::Error::custom(format_args!("{NESTED_MISSING}.resourceType"))),
            None => Err(D::Error::custom(NESTED_INVALID)),
        }
    }
}

/// Reads a resource nested in another, passing its error's path (never its
/// message) up through serde: see [`NESTED_MISSING`].
fn nested<T: DeserializeOwned, E: serde::de::Error>(value: Value) -> Result<Box<T>, E> {
    serde_path_to_error::deserialize(value).map(Box::new).map_err(|e| match data_error("", &e) {
        FhirError::Missing { path } => E::custom(format_args!("{NESTED_MISSING}{path}")),
        other => E::custom(format_args!("{NESTED_INVALID}{}", other.paths().first().copied().unwrap_or(""))),
    })
}

#[cfg(test)]
mod tests;
