//! FHIR R4 AuditEvent (<https://hl7.org/fhir/R4/auditevent.html>), with the
//! elements the IHE Basic Audit Log Patterns use. Built by
//! [`crate::fhir::audit_event`].

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{CodeableConcept, Coding, Meta, Reference, ResourceType, elements, opaque_debug, resource_debug};

/// One audited event.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    pub resource_type: ResourceType<AuditEvent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    #[serde(rename = "type")]
    pub type_: Coding,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subtype: Vec<Coding>,
    /// `C | R | U | D | E`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// A FHIR `instant`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded: Option<String>,
    /// `0` success, `4` minor failure, `8` serious failure, `12` major failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(default)]
    pub agent: Vec<AuditEventAgent>,
    pub source: AuditEventSource,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entity: Vec<AuditEventEntity>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A person or system that took part (`AuditEvent.agent`).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEventAgent {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<CodeableConcept>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub who: Option<Reference>,
    /// Is this the agent that asked for the activity?
    pub requestor: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub purpose_of_use: Vec<CodeableConcept>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// The system that recorded the event (`AuditEvent.source`).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEventSource {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    pub observer: Reference,
    #[serde(rename = "type", default, skip_serializing_if = "Vec::is_empty")]
    pub type_: Vec<Coding>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Data or an object the event was about (`AuditEvent.entity`).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEventEntity {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub what: Option<Reference>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<Coding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Coding>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

elements!(
    AuditEvent,
    meta = "meta",
    type_ = "type",
    subtype = "subtype",
    agent = "agent",
    source = "source",
    entity = "entity"
);
elements!(AuditEventAgent, type_ = "type", who = "who", purpose_of_use = "purposeOfUse");
elements!(AuditEventSource, observer = "observer", type_ = "type");
elements!(AuditEventEntity, what = "what", type_ = "type", role = "role");

resource_debug!(AuditEvent);
opaque_debug!(AuditEventAgent, AuditEventSource, AuditEventEntity);

super::fhir_resources!(AuditEvent);
