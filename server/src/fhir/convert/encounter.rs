//! Encounter: where a patient is. The protocol has no encounters of its own:
//! a patient row holds its current ward (`location`) and `bed`. So going
//! out, a patient on a ward is one in-progress inpatient Encounter whose id
//! is the patient's (the patient's current stay); coming in, an Encounter
//! becomes a [`WardChange`] the database side applies to the patient when
//! the encounter is the patient's current one (which only it can tell).

use chrono::{DateTime, Utc};
use wardbook_protocol as proto;

use super::{
    PatientRef, date_time_in, identifier_pair, identifier_pairs, meta_out, non_empty, patient_ref, patient_reference,
    supported_only, synthetic_in, systems,
};
use crate::fhir::FhirError;
use crate::fhir::resources::{
    CodeableConcept, Coding, Encounter, EncounterLocation, EncounterParticipant, Identifier, Period, Reference,
    ResourceType,
};

/// `Encounter.status` (<http://hl7.org/fhir/encounter-status>), all of R4's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EncounterStatus {
    Planned,
    Arrived,
    Triaged,
    InProgress,
    OnLeave,
    Finished,
    Cancelled,
    EnteredInError,
    Unknown,
}

impl EncounterStatus {
    pub const ALL: [EncounterStatus; 9] = [
        EncounterStatus::Planned,
        EncounterStatus::Arrived,
        EncounterStatus::Triaged,
        EncounterStatus::InProgress,
        EncounterStatus::OnLeave,
        EncounterStatus::Finished,
        EncounterStatus::Cancelled,
        EncounterStatus::EnteredInError,
        EncounterStatus::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EncounterStatus::Planned => "planned",
            EncounterStatus::Arrived => "arrived",
            EncounterStatus::Triaged => "triaged",
            EncounterStatus::InProgress => "in-progress",
            EncounterStatus::OnLeave => "onleave",
            EncounterStatus::Finished => "finished",
            EncounterStatus::Cancelled => "cancelled",
            EncounterStatus::EnteredInError => "entered-in-error",
            EncounterStatus::Unknown => "unknown",
        }
    }

    pub fn parse(code: &str) -> Option<EncounterStatus> {
        EncounterStatus::ALL.into_iter().find(|s| s.as_str() == code)
    }
}

/// A place as an Encounter names it: what a person reads, and/or an
/// identifier or a `Location/{id}` reference. `Debug` prints nothing of it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct LocationInput {
    pub display: Option<String>,
    pub identifier: Option<(String, String)>,
    pub reference: Option<String>,
}

impl LocationInput {
    /// The name the protocol keeps: the display, else the identifier's value.
    pub fn name(&self) -> Option<&str> {
        self.display.as_deref().or(self.identifier.as_ref().map(|(_, value)| value.as_str()))
    }
}

/// The attending clinician as an Encounter names them. A name is PHI of
/// staff: `Debug` prints nothing of it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ParticipantInput {
    pub display: Option<String>,
    pub identifier: Option<(String, String)>,
    pub reference: Option<String>,
}

impl std::fmt::Debug for LocationInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocationInput(..)")
    }
}

impl std::fmt::Debug for ParticipantInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ParticipantInput(..)")
    }
}

/// A FHIR Encounter as Wardbook reads it.
#[derive(Clone, PartialEq)]
pub struct EncounterInput {
    pub id: Option<String>,
    pub identifiers: Vec<(String, String)>,
    pub patient: PatientRef,
    pub status: EncounterStatus,
    /// `(system, code)` of `class`, e.g. v3-ActCode `IMP`.
    pub class: Option<(String, String)>,
    /// The current ward: a current location of physical type `wa`, or with
    /// no physical type.
    pub ward: Option<LocationInput>,
    /// The current bed: a current location of physical type `bd`.
    pub bed: Option<LocationInput>,
    /// The participant of type ATND (attender).
    pub attending: Option<ParticipantInput>,
    pub period_start: Option<DateTime<Utc>>,
    pub period_end: Option<DateTime<Utc>>,
    pub synthetic: bool,
}

impl std::fmt::Debug for EncounterInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncounterInput")
            .field("id", &self.id)
            .field("status", &self.status)
            .field("synthetic", &self.synthetic)
            .finish_non_exhaustive()
    }
}

/// What an Encounter means for the patient's row, when it is the patient's
/// current encounter.
#[derive(Clone, PartialEq, Eq)]
pub enum WardChange {
    /// On the ward (arrived, triaged, in progress, on leave): this ward and bed.
    Assign { location: String, bed: Option<String> },
    /// The stay ended or never was (finished, cancelled, entered in error).
    Discharge,
    /// Nothing to change (planned, unknown, or no ward given).
    Keep,
}

impl std::fmt::Debug for WardChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WardChange::Assign { .. } => "WardChange::Assign(..)",
            WardChange::Discharge => "WardChange::Discharge",
            WardChange::Keep => "WardChange::Keep",
        })
    }
}

impl WardChange {
    /// Sets the patient's ward and bed accordingly.
    pub fn apply_to(&self, patient: &mut proto::Patient) {
        match self {
            WardChange::Assign { location, bed } => {
                patient.location = Some(location.clone());
                patient.bed.clone_from(bed);
            }
            WardChange::Discharge => {
                patient.location = None;
                patient.bed = None;
            }
            WardChange::Keep => {}
        }
    }
}

impl EncounterInput {
    /// The change to the patient's ward and bed this encounter asks for.
    pub fn ward_change(&self) -> WardChange {
        match self.status {
            EncounterStatus::Arrived
            | EncounterStatus::Triaged
            | EncounterStatus::InProgress
            | EncounterStatus::OnLeave => match self.ward.as_ref().and_then(LocationInput::name) {
                Some(location) => WardChange::Assign {
                    location: location.to_owned(),
                    bed: self.bed.as_ref().and_then(LocationInput::name).map(str::to_owned),
                },
                None => WardChange::Keep,
            },
            EncounterStatus::Finished | EncounterStatus::Cancelled | EncounterStatus::EnteredInError => {
                WardChange::Discharge
            }
            EncounterStatus::Planned | EncounterStatus::Unknown => WardChange::Keep,
        }
    }
}

/// The physical-type code of a ward and of a bed.
const WARD: &str = "wa";
const BED: &str = "bd";

fn location_out(name: &str, physical_type: &str, display: &str) -> EncounterLocation {
    EncounterLocation {
        location: Reference { display: Some(name.to_owned()), ..Reference::default() },
        status: Some("active".to_owned()),
        physical_type: Some(CodeableConcept::of(Coding::new(systems::LOCATION_PHYSICAL_TYPE, physical_type, display))),
        ..EncounterLocation::default()
    }
}

/// The patient's current stay as an in-progress inpatient Encounter, or
/// `None` for a patient on no ward. Its id is the patient's: the protocol
/// has one current stay per patient and no encounter ids.
pub fn encounter_to_fhir(p: &proto::Patient) -> Option<Encounter> {
    let ward = non_empty(p.location.as_deref())?;
    let bed = non_empty(p.bed.as_deref());
    Some(Encounter {
        resource_type: ResourceType::default(),
        id: Some(p.id.to_string()),
        // The stay changes with the patient row: its time, not its version
        // (a version would claim a history of this encounter).
        meta: Some(meta_out(None, p.updated_at, p.synthetic)),
        status: Some(EncounterStatus::InProgress.as_str().to_owned()),
        class: Some(Coding::new(systems::V3_ACT_CODE, "IMP", "inpatient encounter")),
        subject: Some(patient_reference(p.id)),
        location: std::iter::once(location_out(&ward, WARD, "Ward"))
            .chain(bed.map(|bed| location_out(&bed, BED, "Bed")))
            .collect(),
        ..Encounter::default()
    })
}

/// Reads a FHIR Encounter.
pub fn encounter_from_fhir(r: &Encounter) -> Result<EncounterInput, FhirError> {
    supported_only(r)?;
    let synthetic = synthetic_in(r.meta.as_ref(), "Encounter")?;
    let status = match r.status.as_deref() {
        None => return Err(FhirError::missing("Encounter.status")),
        Some(code) => EncounterStatus::parse(code).ok_or_else(|| FhirError::unsupported_code("Encounter.status"))?,
    };
    let class = r
        .class
        .as_ref()
        .map(|c| match (non_empty(c.system.as_deref()), non_empty(c.code.as_deref())) {
            (Some(system), Some(code)) => Ok((system, code)),
            (None, _) => Err(FhirError::missing("Encounter.class.system")),
            (_, None) => Err(FhirError::missing("Encounter.class.code")),
        })
        .transpose()?;
    let (ward, bed) = locations_in(&r.location)?;
    let (period_start, period_end) = match &r.period {
        None => (None, None),
        Some(period) => period_in(period)?,
    };
    Ok(EncounterInput {
        id: r.id.clone(),
        identifiers: identifier_pairs(&r.identifier, "Encounter.identifier")?,
        patient: patient_ref(r.subject.as_ref(), "Encounter.subject")?,
        status,
        class,
        ward,
        bed,
        attending: attending_in(&r.participant)?,
        period_start,
        period_end,
        synthetic,
    })
}

/// The current ward and bed. A location whose status is `planned`,
/// `reserved` or `completed` is not where the patient is now, and is not
/// kept (the Encounter's history is not Wardbook's).
fn locations_in(locations: &[EncounterLocation]) -> Result<(Option<LocationInput>, Option<LocationInput>), FhirError> {
    let (mut ward, mut bed) = (None, None);
    for (i, entry) in locations.iter().enumerate() {
        let path = format!("Encounter.location[{i}]");
        match entry.status.as_deref() {
            None | Some("active") => {}
            Some("planned" | "reserved" | "completed") => continue,
            Some(_) => return Err(FhirError::unsupported_code(format!("{path}.status"))),
        }
        let kind = match &entry.physical_type {
            None => WARD,
            Some(concept) => {
                match super::code_in(Some(concept), systems::LOCATION_PHYSICAL_TYPE, &format!("{path}.physicalType"))? {
                    WARD => WARD,
                    BED => BED,
                    _ => return Err(FhirError::unsupported_code(format!("{path}.physicalType"))),
                }
            }
        };
        let place = place_in(&entry.location, &format!("{path}.location"))?;
        let (slot, reason) = if kind == WARD {
            (&mut ward, "a patient is on one ward at a time")
        } else {
            (&mut bed, "a patient is in one bed at a time")
        };
        if slot.is_some() {
            return Err(FhirError::refused(path, reason));
        }
        *slot = Some(place);
    }
    Ok((ward, bed))
}

/// A place: a display or an identifier at least.
fn place_in(reference: &Reference, path: &str) -> Result<LocationInput, FhirError> {
    let place = LocationInput {
        display: non_empty(reference.display.as_deref()),
        identifier: reference
            .identifier
            .as_ref()
            .map(|id: &Identifier| identifier_pair(id, &format!("{path}.identifier")))
            .transpose()?,
        reference: non_empty(reference.reference.as_deref()),
    };
    if place.name().is_none() {
        return Err(FhirError::missing(format!("{path}.display")));
    }
    Ok(place)
}

/// The attending clinician: the participant typed ATND. A participant of
/// another type, or of none, is refused: Wardbook keeps only the attending.
fn attending_in(participants: &[EncounterParticipant]) -> Result<Option<ParticipantInput>, FhirError> {
    let mut attending = None;
    for (i, participant) in participants.iter().enumerate() {
        let path = format!("Encounter.participant[{i}]");
        let is_attender = participant
            .type_
            .iter()
            .any(|concept| concept.coding.iter().any(|c| c.is(systems::V3_PARTICIPATION_TYPE, "ATND")));
        if participant.type_.is_empty() {
            return Err(FhirError::missing(format!("{path}.type")));
        }
        if !is_attender {
            return Err(FhirError::unsupported_code(format!("{path}.type")));
        }
        if attending.is_some() {
            return Err(FhirError::refused(path, "Wardbook keeps one attending clinician"));
        }
        let individual =
            participant.individual.as_ref().ok_or_else(|| FhirError::missing(format!("{path}.individual")))?;
        let person = ParticipantInput {
            display: non_empty(individual.display.as_deref()),
            identifier: individual
                .identifier
                .as_ref()
                .map(|id| identifier_pair(id, &format!("{path}.individual.identifier")))
                .transpose()?,
            reference: non_empty(individual.reference.as_deref()),
        };
        if person.display.is_none() && person.identifier.is_none() && person.reference.is_none() {
            return Err(FhirError::missing(format!("{path}.individual.display")));
        }
        attending = Some(person);
    }
    Ok(attending)
}

/// (start, end) of a period, each when given.
type Bounds = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

fn period_in(period: &Period) -> Result<Bounds, FhirError> {
    let start = period.start.as_deref().map(|s| date_time_in(Some(s), "Encounter.period.start")).transpose()?;
    let end = period.end.as_deref().map(|s| date_time_in(Some(s), "Encounter.period.end")).transpose()?;
    if let (Some(start), Some(end)) = (start, end)
        && end < start
    {
        return Err(FhirError::invalid("Encounter.period.end", "a time not before the start"));
    }
    Ok((start, end))
}
