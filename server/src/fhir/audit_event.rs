//! Stored audit events as FHIR AuditEvents, following the IHE Basic Audit
//! Log Patterns (BALP 1.1.3, <https://profiles.ihe.net/ITI/BALP/>) where a
//! pattern fits, and the DICOM audit event types (PS3.15 A.5.3,
//! <https://dicom.nema.org/medical/dicom/current/output/chtml/part15/sect_A.5.3.html>)
//! that BALP itself uses where it does not:
//!
//! | protocol subtype | type | subtype | action |
//! |---|---|---|---|
//! | chart-open, vitals-view, labs-view, allergies-view, medications-view | `rest` | `read` | R |
//! | medication-override, double-dose-review, break-glass-review | `rest` | `create` | C |
//! | census-list, patient-search, conflicts-view | `rest` | `search-type` | E |
//! | access-report-view, break-glass-queue-view, audit-chain-view | `rest` | `search-type` | E |
//! | print, export | DCM 110106 Export | | R |
//! | break-glass-start / -stop | DCM 110113 Security Alert | DCM 110127 / 110138 Emergency Override Started / Stopped | E |
//! | login, login-offline, unlock, unlock-failed | DCM 110114 User Authentication | DCM 110122 Login | E |
//! | logout | DCM 110114 | DCM 110123 Logout | E |
//! | lock | DCM 110114 | | E |
//!
//! Every event also carries the protocol's own subtype as a second subtype
//! coding (system [`WARDBOOK_AUDIT_SUBTYPE`]), so nothing recorded is lost
//! in the mapping (a print and an export are both DICOM exports).
//!
//! A view of patient data is a BALP read or search (`rest`) although the
//! workstation read its own cache, not this server: the patterns describe
//! who saw which patient's data, which is what the event records. The
//! action follows the pattern (BALP Query fixes `E` for searches; DICOM
//! Export fixes `R`), not the protocol's `action`, which for these events
//! agrees (the app records views as `read` and session steps as `execute`).
//!
//! Agents: the user (`requestor`, with the purpose of use: `TREAT`, or
//! `ETREAT` under break-the-glass), then the workstation, which is also
//! `source.observer` (it recorded the event). Entities: the patient, when
//! there is one (BALP's patient slice: type 1 Person, role 1 Patient), and
//! the session.

use wardbook_protocol as proto;
use wardbook_protocol::{AuditOutcome, AuditSubtype, PurposeOfUse};

use super::convert::{instant, patient_reference, systems};
use super::resources::{
    AuditEvent, AuditEventAgent, AuditEventEntity, AuditEventSource, CodeableConcept, Coding, Identifier, Reference,
    ResourceType,
};

/// Wardbook's own audit subtypes (the protocol's `AuditSubtype` codes).
pub const WARDBOOK_AUDIT_SUBTYPE: &str = "urn:wardbook:audit-subtype";
/// The identifier system of Wardbook session ids (`urn:uuid:` values).
pub const WARDBOOK_SESSION: &str = "urn:wardbook:session";

const AUDIT_EVENT_TYPE: &str = "http://terminology.hl7.org/CodeSystem/audit-event-type";
const RESTFUL_INTERACTION: &str = "http://hl7.org/fhir/restful-interaction";
const DICOM: &str = "http://dicom.nema.org/resources/ontology/DCM";
const AUDIT_ENTITY_TYPE: &str = "http://terminology.hl7.org/CodeSystem/audit-entity-type";
const OBJECT_ROLE: &str = "http://terminology.hl7.org/CodeSystem/object-role";
const SECURITY_SOURCE_TYPE: &str = "http://terminology.hl7.org/CodeSystem/security-source-type";

/// The pattern an event follows (see the module table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// BALP Read: one patient's record was viewed.
    RestRead,
    /// BALP Query: a list or search was viewed.
    RestSearch,
    /// DICOM Export: data left the system (printed or exported).
    Export,
    /// DICOM Security Alert: break-the-glass started.
    EmergencyOverrideStarted,
    /// DICOM Security Alert: break-the-glass stopped.
    EmergencyOverrideStopped,
    /// DICOM User Authentication: a sign-in or an unlock (failed or not).
    Login,
    /// DICOM User Authentication: a sign-out.
    Logout,
    /// DICOM User Authentication without a standard subtype: a lock.
    Lock,
    /// BALP Create: a clinical record was made about the patient (a dose
    /// recorded despite a failed safety check, a double-dose review).
    RestCreate,
}

/// The pattern of a protocol subtype. Exhaustive, so that a new subtype
/// cannot compile without a decision here.
pub fn pattern(subtype: AuditSubtype) -> Pattern {
    match subtype {
        AuditSubtype::ChartOpen
        | AuditSubtype::VitalsView
        | AuditSubtype::LabsView
        | AuditSubtype::AllergiesView
        | AuditSubtype::MedicationsView => Pattern::RestRead,
        AuditSubtype::MedicationOverride | AuditSubtype::DoubleDoseReview | AuditSubtype::BreakGlassReview => {
            Pattern::RestCreate
        }
        AuditSubtype::CensusList | AuditSubtype::PatientSearch | AuditSubtype::ConflictsView => Pattern::RestSearch,
        // The privacy office's reports: searches of the audit trail itself.
        AuditSubtype::AccessReportView | AuditSubtype::BreakGlassQueueView | AuditSubtype::AuditChainView => {
            Pattern::RestSearch
        }
        AuditSubtype::Print | AuditSubtype::Export => Pattern::Export,
        AuditSubtype::BreakGlassStart => Pattern::EmergencyOverrideStarted,
        AuditSubtype::BreakGlassStop => Pattern::EmergencyOverrideStopped,
        AuditSubtype::Login | AuditSubtype::LoginOffline | AuditSubtype::Unlock | AuditSubtype::UnlockFailed => {
            Pattern::Login
        }
        AuditSubtype::Logout => Pattern::Logout,
        AuditSubtype::Lock => Pattern::Lock,
    }
}

impl Pattern {
    /// `AuditEvent.type`.
    pub fn event_type(self) -> Coding {
        match self {
            Pattern::RestRead | Pattern::RestSearch | Pattern::RestCreate => {
                Coding::new(AUDIT_EVENT_TYPE, "rest", "Restful Operation")
            }
            Pattern::Export => Coding::new(DICOM, "110106", "Export"),
            Pattern::EmergencyOverrideStarted | Pattern::EmergencyOverrideStopped => {
                Coding::new(DICOM, "110113", "Security Alert")
            }
            Pattern::Login | Pattern::Logout | Pattern::Lock => Coding::new(DICOM, "110114", "User Authentication"),
        }
    }

    /// The standard `AuditEvent.subtype`, where the pattern has one.
    pub fn standard_subtype(self) -> Option<Coding> {
        match self {
            Pattern::RestRead => Some(Coding::new(RESTFUL_INTERACTION, "read", "read")),
            Pattern::RestSearch => Some(Coding::new(RESTFUL_INTERACTION, "search-type", "search-type")),
            Pattern::RestCreate => Some(Coding::new(RESTFUL_INTERACTION, "create", "create")),
            Pattern::EmergencyOverrideStarted => Some(Coding::new(DICOM, "110127", "Emergency Override Started")),
            Pattern::EmergencyOverrideStopped => Some(Coding::new(DICOM, "110138", "Emergency Override Stopped")),
            Pattern::Login => Some(Coding::new(DICOM, "110122", "Login")),
            Pattern::Logout => Some(Coding::new(DICOM, "110123", "Logout")),
            Pattern::Export | Pattern::Lock => None,
        }
    }

    /// `AuditEvent.action` (<http://hl7.org/fhir/audit-event-action>).
    pub fn action(self) -> &'static str {
        match self {
            Pattern::RestRead | Pattern::Export => "R",
            Pattern::RestCreate => "C",
            Pattern::RestSearch
            | Pattern::EmergencyOverrideStarted
            | Pattern::EmergencyOverrideStopped
            | Pattern::Login
            | Pattern::Logout
            | Pattern::Lock => "E",
        }
    }

    /// The workstation's role: where data went for a view (BALP's client
    /// is the Destination), where it came from for an export (Source), and
    /// the application itself otherwise.
    fn device_role(self) -> Coding {
        match self {
            Pattern::RestRead | Pattern::RestSearch => Coding::new(DICOM, "110152", "Destination Role ID"),
            Pattern::RestCreate => Coding::new(DICOM, "110153", "Source Role ID"),
            Pattern::Export => Coding::new(DICOM, "110153", "Source Role ID"),
            Pattern::EmergencyOverrideStarted
            | Pattern::EmergencyOverrideStopped
            | Pattern::Login
            | Pattern::Logout
            | Pattern::Lock => Coding::new(DICOM, "110150", "Application"),
        }
    }

    /// The user's role where BALP gives one: the information recipient of
    /// a read or search (BALP UserAgentTypes).
    fn user_role(self) -> Option<Coding> {
        matches!(self, Pattern::RestRead | Pattern::RestSearch)
            .then(|| Coding::new(systems::V3_PARTICIPATION_TYPE, "IRCP", "information recipient"))
    }
}

/// `AuditEvent.outcome` (<http://hl7.org/fhir/audit-event-outcome>).
pub fn outcome_code(outcome: AuditOutcome) -> &'static str {
    match outcome {
        AuditOutcome::Success => "0",
        AuditOutcome::MinorFailure => "4",
        AuditOutcome::SeriousFailure => "8",
    }
}

/// The purpose of use as a v3-ActReason concept.
pub fn purpose_of_use(purpose: PurposeOfUse) -> CodeableConcept {
    let display = match purpose {
        PurposeOfUse::Treatment => "treatment",
        PurposeOfUse::EmergencyTreatment => "Emergency Treatment",
        PurposeOfUse::Operations => "healthcare operations",
        PurposeOfUse::Compliance => "health compliance",
    };
    CodeableConcept::of(Coding::new(systems::V3_ACT_REASON, purpose.as_str(), display))
}

/// The workstation as a logical reference: its enrolment id as a URN.
pub fn device_reference(device_id: uuid::Uuid) -> Reference {
    Reference {
        type_: Some("Device".to_owned()),
        identifier: Some(Identifier::new(systems::URI, &format!("urn:uuid:{device_id}"))),
        ..Reference::default()
    }
}

/// A stored audit event as a FHIR AuditEvent. `user_system` is the
/// identifier system of Wardbook user ids (a URI the deployment configures).
pub fn audit_event_to_fhir(event: &proto::AuditEvent, user_system: &str) -> AuditEvent {
    let pattern = pattern(event.subtype);
    let user = AuditEventAgent {
        type_: pattern.user_role().map(CodeableConcept::of),
        who: Some(Reference { identifier: Some(Identifier::new(user_system, &event.user_id)), ..Reference::default() }),
        requestor: true,
        purpose_of_use: vec![purpose_of_use(event.purpose_of_use)],
        ..AuditEventAgent::default()
    };
    let device = AuditEventAgent {
        type_: Some(CodeableConcept::of(pattern.device_role())),
        who: Some(device_reference(event.device_id)),
        requestor: false,
        ..AuditEventAgent::default()
    };
    let patient = event.patient_id.map(|id| AuditEventEntity {
        what: Some(patient_reference(id)),
        type_: Some(Coding::new(AUDIT_ENTITY_TYPE, "1", "Person")),
        role: Some(Coding::new(OBJECT_ROLE, "1", "Patient")),
        ..AuditEventEntity::default()
    });
    let session = AuditEventEntity {
        what: Some(Reference {
            identifier: Some(Identifier::new(WARDBOOK_SESSION, &format!("urn:uuid:{}", event.session_id))),
            ..Reference::default()
        }),
        type_: Some(Coding::new(AUDIT_ENTITY_TYPE, "2", "System Object")),
        ..AuditEventEntity::default()
    };
    AuditEvent {
        resource_type: ResourceType::default(),
        id: Some(event.id.to_string()),
        meta: None,
        type_: pattern.event_type(),
        subtype: pattern
            .standard_subtype()
            .into_iter()
            .chain([Coding::code(WARDBOOK_AUDIT_SUBTYPE, event.subtype.as_str())])
            .collect(),
        action: Some(pattern.action().to_owned()),
        recorded: Some(instant(event.recorded_at)),
        outcome: Some(outcome_code(event.outcome).to_owned()),
        agent: vec![user, device],
        source: AuditEventSource {
            site: None,
            observer: device_reference(event.device_id),
            type_: vec![Coding::new(SECURITY_SOURCE_TYPE, "1", "User Device")],
            other: serde_json::Map::new(),
        },
        entity: patient.into_iter().chain([session]).collect(),
        other: serde_json::Map::new(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Every subtype, with its pattern, type code, standard subtype code and
    /// action: the table of the module documentation, walked in full.
    #[test]
    fn every_subtype_maps_to_its_pattern() {
        use AuditSubtype as S;
        let table: &[(AuditSubtype, Pattern, &str, Option<&str>, &str)] = &[
            (S::CensusList, Pattern::RestSearch, "rest", Some("search-type"), "E"),
            (S::PatientSearch, Pattern::RestSearch, "rest", Some("search-type"), "E"),
            (S::ChartOpen, Pattern::RestRead, "rest", Some("read"), "R"),
            (S::VitalsView, Pattern::RestRead, "rest", Some("read"), "R"),
            (S::LabsView, Pattern::RestRead, "rest", Some("read"), "R"),
            (S::AllergiesView, Pattern::RestRead, "rest", Some("read"), "R"),
            (S::Print, Pattern::Export, "110106", None, "R"),
            (S::Export, Pattern::Export, "110106", None, "R"),
            (S::BreakGlassStart, Pattern::EmergencyOverrideStarted, "110113", Some("110127"), "E"),
            (S::BreakGlassStop, Pattern::EmergencyOverrideStopped, "110113", Some("110138"), "E"),
            (S::Login, Pattern::Login, "110114", Some("110122"), "E"),
            (S::LoginOffline, Pattern::Login, "110114", Some("110122"), "E"),
            (S::Logout, Pattern::Logout, "110114", Some("110123"), "E"),
            (S::Lock, Pattern::Lock, "110114", None, "E"),
            (S::Unlock, Pattern::Login, "110114", Some("110122"), "E"),
            (S::UnlockFailed, Pattern::Login, "110114", Some("110122"), "E"),
            (S::ConflictsView, Pattern::RestSearch, "rest", Some("search-type"), "E"),
            (S::MedicationsView, Pattern::RestRead, "rest", Some("read"), "R"),
            (S::MedicationOverride, Pattern::RestCreate, "rest", Some("create"), "C"),
            (S::DoubleDoseReview, Pattern::RestCreate, "rest", Some("create"), "C"),
            (S::AccessReportView, Pattern::RestSearch, "rest", Some("search-type"), "E"),
            (S::BreakGlassQueueView, Pattern::RestSearch, "rest", Some("search-type"), "E"),
            (S::BreakGlassReview, Pattern::RestCreate, "rest", Some("create"), "C"),
            (S::AuditChainView, Pattern::RestSearch, "rest", Some("search-type"), "E"),
        ];
        assert_eq!(table.len(), AuditSubtype::ALL.len());
        for subtype in AuditSubtype::ALL {
            let rows: Vec<_> = table.iter().filter(|row| row.0 == *subtype).collect();
            let [(_, expected, type_code, subtype_code, action)] = rows.as_slice() else {
                panic!("{subtype} is in the table once");
            };
            let p = pattern(*subtype);
            assert_eq!(p, *expected, "{subtype}");
            assert_eq!(p.event_type().code.as_deref(), Some(*type_code), "{subtype}");
            assert_eq!(p.standard_subtype().and_then(|c| c.code).as_deref(), *subtype_code, "{subtype}");
            assert_eq!(p.action(), *action, "{subtype}");
        }
    }

    #[test]
    fn outcomes_are_balp_codes() {
        assert_eq!(outcome_code(AuditOutcome::Success), "0");
        assert_eq!(outcome_code(AuditOutcome::MinorFailure), "4");
        assert_eq!(outcome_code(AuditOutcome::SeriousFailure), "8");
    }
}
