//! The database side of `/fhir/r4`: FHIR resources written through
//! [`crate::ingest`] (the one home of the rules for the hospital's records,
//! which HL7 v2 uses too) and read back through [`crate::records`]. Plain
//! functions over a transaction or a client, no HTTP: the handlers in
//! `fhir::routes` and the NDJSON importer call them.
//!
//! Writing ([`apply_resource`]):
//! - Patient: found by any of its identifiers (system and value), else by
//!   its MRN, and updated, or created. A re-import updates; a repeat that
//!   changes nothing writes nothing (no new version).
//! - Encounter: the patient's current ward and bed. Wardbook keeps where a
//!   patient is now, not a history of stays, so the elements only a stay
//!   record could keep (identifier, participant, period, a class other than
//!   inpatient) are refused rather than dropped.
//! - Observation, AllergyIntolerance, MedicationRequest (`medications`):
//!   filed under the resource's first identifier (or
//!   `urn:wardbook:fhir:<type>` and its id), so that a repeat or a
//!   correction updates the same row.
//! - A reference to a patient resolves by Wardbook id, by identifier, or by
//!   the `fullUrl` of a Patient earlier in the same transaction
//!   ([`Context::placeholders`]). An unknown one is refused, naming the
//!   element (`Observation.subject`).
//! - Any other resource type is refused, never skipped.
//!
//! Bundles: a `transaction` in one database transaction, all or nothing
//! ([`transaction`]); a `batch` with each entry in its own savepoint
//! ([`batch`]). Entries create (`POST {type}`, optionally conditional on
//! `ifNoneExist: identifier=system|value`) or update (`PUT
//! {type}?identifier=system|value`); a `POST` of a resource whose identifier
//! is stored updates it, which is what a repeated import needs.
//!
//! Reading: `$everything`, the searches (medication orders and
//! administrations in `medications`), and audit events as AuditEvents.
//! Errors name the element, never its value ([`FhirError`]).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use tokio_postgres::{Client, Transaction};
use uuid::Uuid;
use wardbook_protocol as proto;

use super::FhirError;
use super::audit_event::audit_event_to_fhir;
use super::convert::{self, EncounterInput, EncounterStatus, LocationInput, PatientRef, WardChange, systems};
use super::resources::{
    AllergyIntolerance, AuditEvent, Bundle, BundleEntry, Elements, Encounter, HttpVerb, Identifier, Observation,
    Patient, Resource, others,
};
use crate::audit::{self, ReportQuery, SortOrder};
use crate::error::{Error, Result};
use crate::ingest::{self, Change, Demographics, PatientUpdate, Refusal};
use crate::keys::KeySet;
use crate::records::external_ids;
use crate::records::{allergies, observations, patients};

/// The identifier system of Wardbook user ids in exported AuditEvents
/// (`agent.who.identifier`): the ids the workstations record, which are
/// Wardbook's own.
pub const WARDBOOK_USER: &str = "urn:wardbook:user";

/// The prefix of the key a resource without an identifier is filed under
/// (`urn:wardbook:fhir:Observation` and its id). Identifiers under
/// `urn:wardbook:` are Wardbook's own keys and are not exported.
const OWN_KEY_PREFIX: &str = "urn:wardbook:";

/// What one import shares across its resources.
pub struct Context {
    /// Recorded as the source of the rows written (`fhir:<client>`).
    pub source_system: String,
    /// The identifier system of the hospital's MRNs.
    pub mrn_system: String,
    /// Patients written by this import, by the names other resources may
    /// refer to them with: a Bundle entry's `urn:uuid:` `fullUrl`, and
    /// `Patient/{id}` for the id the resource had where it came from (an
    /// NDJSON export refers to its patients that way).
    pub placeholders: HashMap<String, Uuid>,
    /// The data keys that seal identifiers and find them again.
    pub keys: std::sync::Arc<KeySet>,
}

impl Context {
    pub fn new(
        source_system: impl Into<String>,
        mrn_system: impl Into<String>,
        keys: std::sync::Arc<KeySet>,
    ) -> Context {
        Context {
            source_system: source_system.into(),
            mrn_system: mrn_system.into(),
            placeholders: HashMap::new(),
            keys,
        }
    }
}

/// The placeholders are a client's URLs and ids: counted, not printed.
impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("source_system", &self.source_system)
            .field("mrn_system", &self.mrn_system)
            .field("placeholders", &self.placeholders.len())
            .finish()
    }
}

/// A resource written: its type and the Wardbook id it has now (for an
/// Encounter, the patient's: see [`convert::encounter_to_fhir`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Applied {
    pub resource_type: &'static str,
    pub id: Uuid,
}

/// What writing a resource did to its row, for the entry's response status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Effect {
    Created,
    /// Updated, or found unchanged.
    Updated,
}

#[derive(Clone, Copy, Debug)]
struct Written {
    applied: Applied,
    effect: Effect,
}

/// `?` for the inner result: a refusal returns `Ok(Err(_))`, leaving the
/// outer `Err` to database failures.
macro_rules! refuse {
    ($result:expr) => {
        match $result {
            Ok(value) => value,
            Err(refusal) => return Ok(Err(refusal)),
        }
    };
}

mod medications;
pub use medications::{
    AdministrationSearch, administration_by_id, administrations, medication_administrations_of, medication_requests_of,
};

/// Writes one resource in `tx`. `Ok(Err(_))` is a refusal naming the
/// element (paths rooted at the resource type, e.g. `Observation.subject`);
/// `Err(_)` a database failure. Nothing commits here.
pub async fn apply_resource(
    tx: &Transaction<'_>,
    resource: &Resource,
    ctx: &mut Context,
) -> Result<std::result::Result<Applied, FhirError>> {
    Ok(apply(tx, resource, ctx).await?.map(|written| written.applied))
}

async fn apply(
    tx: &Transaction<'_>,
    resource: &Resource,
    ctx: &mut Context,
) -> Result<std::result::Result<Written, FhirError>> {
    match resource {
        Resource::Patient(r) => patient(tx, r, ctx).await,
        Resource::Encounter(r) => encounter(tx, r, ctx).await,
        Resource::Observation(r) => observation(tx, r, ctx).await,
        Resource::AllergyIntolerance(r) => allergy(tx, r, ctx).await,
        Resource::MedicationRequest(r) => medications::medication_request(tx, r, ctx).await,
        other => Ok(Err(not_writable(other))),
    }
}

/// A resource type Wardbook does not import, named by its type when that
/// is shaped like one (the client's text otherwise stays out of the error).
fn not_writable(resource: &Resource) -> FhirError {
    let shaped = |name: &&str| {
        (1..=64).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_uppercase())
            && name.chars().all(|c| c.is_ascii_alphanumeric())
    };
    FhirError::Unsupported { paths: vec![resource.resource_type().filter(shaped).unwrap_or("Resource").to_owned()] }
}

/// `phi.external_ids` holds identifiers of up to 300 characters: a longer
/// one is refused by path rather than failing in the database.
fn identifiers_fit(identifiers: &[(String, String)], path: &str) -> std::result::Result<(), FhirError> {
    const MAX: usize = 300;
    match identifiers.iter().position(|(s, v)| s.chars().count() > MAX || v.chars().count() > MAX) {
        None => Ok(()),
        Some(i) => Err(FhirError::invalid(format!("{path}[{i}]"), "a system and a value of at most 300 characters")),
    }
}

// Patient.

async fn patient(
    tx: &Transaction<'_>,
    r: &Patient,
    ctx: &mut Context,
) -> Result<std::result::Result<Written, FhirError>> {
    let input = refuse!(convert::patient_from_fhir(r, &ctx.mrn_system));
    refuse!(identifiers_fit(&input.identifiers, "Patient.identifier"));
    let found = ingest::find_patient(tx, &ctx.keys, &input.identifiers, &input.mrn).await?;
    let set_or_clear = |value: &Option<String>| value.clone().map_or(Change::Clear, Change::Set);
    // A Patient resource is the whole record: what it leaves out is cleared.
    let update = PatientUpdate {
        identifiers: input.identifiers.clone(),
        mrn: input.mrn.clone(),
        demographics: Demographics {
            family_name: Change::Set(input.family.clone()),
            given_name: Change::Set(input.given.clone()),
            birth_date: Change::Set(input.birth_date),
            sex: Change::Set(input.sex),
            phone: set_or_clear(&input.phone),
            email: set_or_clear(&input.email),
            address: set_or_clear(&input.address),
            language: set_or_clear(&input.language),
        },
        synthetic: input.synthetic,
        source_system: ctx.source_system.clone(),
    };
    let id = match ingest::upsert_patient(tx, &ctx.keys, &update).await? {
        Ok(id) => id,
        Err(refusal) => return Ok(Err(patient_refusal(r, &ctx.mrn_system, refusal))),
    };
    // References name patients by UUID only (`convert::patient_ref`).
    if let Some(own) = r.id.as_deref().and_then(|own| Uuid::try_parse(own).ok()) {
        ctx.placeholders.insert(format!("Patient/{own}"), id);
    }
    let effect = if found.is_some() { Effect::Updated } else { Effect::Created };
    Ok(Ok(Written { applied: Applied { resource_type: "Patient", id }, effect }))
}

/// ingest's refusal (in the protocol's field names) as the Patient element.
fn patient_refusal(r: &Patient, mrn_system: &str, refusal: Refusal) -> FhirError {
    let mrn = || match r.identifier.iter().position(|i| i.system.as_deref() == Some(mrn_system)) {
        Some(i) => format!("Patient.identifier[{i}].value"),
        None => "Patient.identifier".to_owned(),
    };
    let telecom = |system: &str| match r.telecom.iter().position(|c| c.system.as_deref() == Some(system)) {
        Some(i) => format!("Patient.telecom[{i}].value"),
        None => "Patient.telecom".to_owned(),
    };
    match refusal {
        Refusal::Missing("birth_date") => FhirError::missing("Patient.birthDate"),
        Refusal::Missing("mrn") => FhirError::missing("Patient.identifier"),
        Refusal::Missing(_) => FhirError::missing("Patient.name"),
        Refusal::Invalid(field) => match field.as_str() {
            "birth_date" => FhirError::invalid("Patient.birthDate", "a date from 1900-01-01 to today"),
            "phone" => FhirError::invalid(telecom("phone"), "a phone number Wardbook accepts"),
            "email" => FhirError::invalid(telecom("email"), "a well-formed e-mail address"),
            "mrn" => FhirError::invalid(
                mrn(),
                "an MRN of capital letters, digits and hyphens, starting with SYN- exactly when the patient is labelled HTEST",
            ),
            "address" => FhirError::invalid("Patient.address[0].text", "an address of at most 200 characters"),
            "preferred_language" => FhirError::invalid("Patient.communication[0].language", "a BCP 47 language tag"),
            "given_name" => FhirError::invalid("Patient.name[0].given", "a name of 1 to 50 characters"),
            "family_name" => FhirError::invalid("Patient.name[0].family", "a name of 1 to 50 characters"),
            "synthetic" => {
                FhirError::refused("Patient.meta.security", "a patient record stays synthetic (HTEST) or real")
            }
            _ => FhirError::refused("Patient", "Wardbook cannot store this patient"),
        },
        Refusal::MrnTaken => FhirError::refused(mrn(), "another patient has this MRN"),
        Refusal::UnknownPatient | Refusal::UnknownLocation => {
            FhirError::refused("Patient", "Wardbook cannot store this patient")
        }
    }
}

/// The patient a reference names, following merges to the survivor.
async fn resolve_patient(
    tx: &Transaction<'_>,
    reference: &PatientRef,
    path: &str,
    ctx: &Context,
) -> Result<std::result::Result<Uuid, FhirError>> {
    // A placeholder is checked like an id: the import that recorded it may
    // have rolled back the patient since (an NDJSON importer's failed batch).
    let found = match reference {
        PatientRef::Placeholder(url) => match ctx.placeholders.get(url) {
            Some(id) => current_patient(tx, *id).await?,
            None => None,
        },
        PatientRef::Id(id) => {
            let named = ctx.placeholders.get(&format!("Patient/{id}")).copied().unwrap_or(*id);
            current_patient(tx, named).await?
        }
        PatientRef::Identifier { system, value } => {
            let mrn = if *system == ctx.mrn_system { value.as_str() } else { "" };
            ingest::find_patient(tx, &ctx.keys, &[(system.clone(), value.clone())], mrn).await?
        }
    };
    Ok(found.ok_or_else(|| FhirError::refused(path, "no Wardbook patient matches this reference")))
}

/// The patient `id` names now: itself, or the record it was merged into;
/// none when there is no such record or it was deleted.
async fn current_patient(tx: &Transaction<'_>, id: Uuid) -> Result<Option<Uuid>> {
    Ok(tx
        .query_opt(
            "SELECT coalesce(p.merged_into, p.id) FROM patients p LEFT JOIN patients s ON s.id = p.merged_into
              WHERE p.id = $1 AND NOT coalesce(s.deleted, p.deleted)",
            &[&id],
        )
        .await?
        .map(|row| row.get(0)))
}

// Encounter.

async fn encounter(
    tx: &Transaction<'_>,
    r: &Encounter,
    ctx: &mut Context,
) -> Result<std::result::Result<Written, FhirError>> {
    let input = refuse!(convert::encounter_from_fhir(r));
    refuse!(stay_elements_only(r, &input));
    let patient_id = refuse!(resolve_patient(tx, &input.patient, "Encounter.subject", ctx).await?);
    match input.ward_change() {
        WardChange::Assign { .. } => {
            let ward_index = place_index(r, false).unwrap_or(0);
            let Some(code) = input.ward.as_ref().and_then(place_code) else {
                return Ok(Err(FhirError::missing("Encounter.location")));
            };
            // FHIR clients name Wardbook's location codes: no sender's map.
            let location = match ingest::location(tx, &serde_json::Value::Null, code).await? {
                Ok(location) => location,
                Err(_) => {
                    return Ok(Err(FhirError::refused(
                        format!("Encounter.location[{ward_index}].location"),
                        "no Wardbook location has this code",
                    )));
                }
            };
            let bed = input.bed.as_ref().and_then(place_code);
            if ingest::place(tx, patient_id, &location, bed).await?.is_err() {
                // ingest refuses only the bed (1 to 40 characters, no control characters).
                let index = place_index(r, true).unwrap_or(0);
                return Ok(Err(FhirError::invalid(
                    format!("Encounter.location[{index}].location"),
                    "a bed of 1 to 40 characters",
                )));
            }
        }
        WardChange::Discharge => {
            if let Some(ward) = patients::read(tx, &ctx.keys, patient_id).await?.location {
                // Only the current stay ends: a finished encounter from the
                // patient's history must not take them off today's ward.
                let current = r.id.as_deref() == Some(patient_id.to_string().as_str())
                    || r.location.iter().any(|l| {
                        l.location.display.as_deref() == Some(ward.as_str())
                            || l.location.identifier.as_ref().and_then(|i| i.value.as_deref()) == Some(ward.as_str())
                    });
                if !current {
                    return Ok(Err(FhirError::refused(
                        "Encounter.location",
                        "Wardbook ends only the current stay: name the ward the patient is on, or use the id Wardbook gives the stay",
                    )));
                }
                ingest::leave(tx, patient_id).await?;
            }
        }
        WardChange::Keep => {
            return Ok(Err(match input.status {
                EncounterStatus::Planned | EncounterStatus::Unknown => FhirError::unsupported_code("Encounter.status"),
                _ => FhirError::missing("Encounter.location"),
            }));
        }
    }
    Ok(Ok(Written { applied: Applied { resource_type: "Encounter", id: patient_id }, effect: Effect::Updated }))
}

/// Refuses what an Encounter carries beyond the current ward and bed: the
/// protocol keeps no record of a stay to put it in.
fn stay_elements_only(r: &Encounter, input: &EncounterInput) -> std::result::Result<(), FhirError> {
    let mut paths = Vec::new();
    if !r.identifier.is_empty() {
        paths.push("Encounter.identifier".to_owned());
    }
    if !r.participant.is_empty() {
        paths.push("Encounter.participant".to_owned());
    }
    if r.period.is_some() {
        paths.push("Encounter.period".to_owned());
    }
    if !paths.is_empty() {
        return Err(FhirError::Unsupported { paths });
    }
    match &input.class {
        Some((system, code)) if system != systems::V3_ACT_CODE || code != "IMP" => {
            Err(FhirError::unsupported_code("Encounter.class"))
        }
        _ => Ok(()),
    }
}

/// The index of the current ward's (or bed's) entry in `Encounter.location`,
/// as `convert` chooses it, for error paths.
fn place_index(r: &Encounter, bed: bool) -> Option<usize> {
    r.location.iter().position(|l| {
        let current = matches!(l.status.as_deref(), None | Some("active"));
        let is_bed = l.physical_type.as_ref().is_some_and(|t| t.coding.iter().any(|c| c.code.as_deref() == Some("bd")));
        current && is_bed == bed
    })
}

/// The code a place is named by: its identifier's value, else its display.
fn place_code(place: &LocationInput) -> Option<&str> {
    place.identifier.as_ref().map(|(_, value)| value.as_str()).or(place.display.as_deref())
}

// Observations and allergies.

/// A table of rows filed under a sender's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Table {
    Observations,
    Allergies,
    MedicationRequests,
}

impl Table {
    /// The `kind` of its keys in `phi.external_ids`.
    fn kind(self) -> &'static str {
        match self {
            Table::Observations => "observation",
            Table::Allergies => "allergy",
            Table::MedicationRequests => "medication_request",
        }
    }

    /// Its row's (version, patient), locked for the write that follows.
    fn current(self) -> &'static str {
        match self {
            Table::Observations => observations::CURRENT,
            Table::Allergies => allergies::CURRENT,
            Table::MedicationRequests => medications::CURRENT,
        }
    }
}

/// The key a row is filed under: the resource's first identifier, else its
/// id under `urn:wardbook:fhir:<type>`. With neither, a repeat could not
/// find the row, so the resource is refused.
fn record_key(
    identifiers: &[(String, String)],
    id: Option<&str>,
    resource_type: &str,
) -> std::result::Result<(String, String), FhirError> {
    if let Some(first) = identifiers.first() {
        return Ok(first.clone());
    }
    match id.filter(|id| !id.trim().is_empty()) {
        Some(id) if id.chars().count() <= 300 => Ok((format!("{OWN_KEY_PREFIX}fhir:{resource_type}"), id.to_owned())),
        Some(_) => Err(FhirError::invalid(format!("{resource_type}.id"), "an id of at most 300 characters")),
        None => Err(FhirError::missing(format!("{resource_type}.identifier"))),
    }
}

/// The row a resource filed under `key` goes to, and whether it is new:
/// the row already filed under the key; else the row whose id the client
/// gave as a `urn:uuid:` identifier (a resource this interface exported,
/// sent back), which then takes the key; else a new row, with that id when
/// the client gave one. A row stays with its patient: a resource that
/// moves it to another is refused at `subject_path`.
async fn row_for(
    tx: &Transaction<'_>,
    keys: &KeySet,
    table: Table,
    key: &(String, String),
    identifiers: &[(String, String)],
    patient_id: Uuid,
    subject_path: &str,
) -> Result<std::result::Result<(Uuid, Effect), FhirError>> {
    let moved = || FhirError::refused(subject_path, "a record stays with the patient it was recorded for");
    let stored_patient = |id: Uuid| async move {
        Ok::<_, Error>(tx.query_opt(table.current(), &[&id]).await?.map(|row| row.get::<_, Uuid>(1)))
    };
    if let Some(id) = ingest::linked(tx, keys, table.kind(), &key.0, &key.1).await? {
        if stored_patient(id).await?.is_some_and(|p| p != patient_id) {
            return Ok(Err(moved()));
        }
        return Ok(Ok((id, Effect::Updated)));
    }
    let Some(id) = convert::uuid_from_identifiers(identifiers) else {
        return Ok(Ok((Uuid::now_v7(), Effect::Created)));
    };
    match stored_patient(id).await? {
        None => Ok(Ok((id, Effect::Created))),
        Some(p) if p != patient_id => Ok(Err(moved())),
        Some(_) => {
            ingest::link(tx, keys, table.kind(), &key.0, &key.1, id).await?;
            Ok(Ok((id, Effect::Updated)))
        }
    }
}

async fn observation(
    tx: &Transaction<'_>,
    r: &Observation,
    ctx: &mut Context,
) -> Result<std::result::Result<Written, FhirError>> {
    let input = refuse!(convert::observation_from_fhir(r));
    refuse!(identifiers_fit(&input.identifiers, "Observation.identifier"));
    let key = refuse!(record_key(&input.identifiers, r.id.as_deref(), "Observation"));
    let patient_id = refuse!(resolve_patient(tx, &input.patient, "Observation.subject", ctx).await?);
    let (id, effect) = refuse!(
        row_for(tx, &ctx.keys, Table::Observations, &key, &input.identifiers, patient_id, "Observation.subject")
            .await?
    );
    let row = input.to_observation(id, patient_id, &ctx.source_system, Utc::now());
    match ingest::upsert_observation(tx, &ctx.keys, (&key.0, &key.1), row).await? {
        Ok(id) => Ok(Ok(Written { applied: Applied { resource_type: "Observation", id }, effect })),
        Err(refusal) => Ok(Err(observation_refusal(r, &refusal))),
    }
}

/// ingest's refusal (in the protocol's field names) as the Observation element.
fn observation_refusal(r: &Observation, refusal: &Refusal) -> FhirError {
    let field = match refusal {
        Refusal::Invalid(field) => field.as_str(),
        _ => "",
    };
    if field.starts_with("value") {
        let path = match (&r.value_quantity, field.ends_with("unit")) {
            (Some(_), true) => "Observation.valueQuantity.code",
            (Some(_), false) => "Observation.valueQuantity.value",
            (None, _) => "Observation.value[x]",
        };
        FhirError::invalid(path, "a value and UCUM unit Wardbook accepts for this code")
    } else if field.starts_with("reference_range") {
        FhirError::invalid("Observation.referenceRange[0]", "finite limits, the low one not above the high one")
    } else if field.starts_with("code") {
        FhirError::invalid("Observation.code", "a coding with a code")
    } else {
        FhirError::refused("Observation", "Wardbook cannot store this observation")
    }
}

async fn allergy(
    tx: &Transaction<'_>,
    r: &AllergyIntolerance,
    ctx: &mut Context,
) -> Result<std::result::Result<Written, FhirError>> {
    let input = refuse!(convert::allergy_from_fhir(r));
    refuse!(identifiers_fit(&input.identifiers, "AllergyIntolerance.identifier"));
    let key = refuse!(record_key(&input.identifiers, r.id.as_deref(), "AllergyIntolerance"));
    let patient_id = refuse!(resolve_patient(tx, &input.patient, "AllergyIntolerance.patient", ctx).await?);
    let (id, effect) = refuse!(
        row_for(tx, &ctx.keys, Table::Allergies, &key, &input.identifiers, patient_id, "AllergyIntolerance.patient")
            .await?
    );
    let row = input.to_allergy(id, patient_id, &ctx.source_system, Utc::now());
    match ingest::upsert_allergy(tx, &ctx.keys, (&key.0, &key.1), row).await? {
        Ok(id) => Ok(Ok(Written { applied: Applied { resource_type: "AllergyIntolerance", id }, effect })),
        Err(refusal) => Ok(Err(allergy_refusal(&refusal))),
    }
}

/// ingest's refusal (in the protocol's field names) as the AllergyIntolerance element.
fn allergy_refusal(refusal: &Refusal) -> FhirError {
    match refusal {
        Refusal::Invalid(field) if field.starts_with("allergen") => FhirError::invalid(
            "AllergyIntolerance.code",
            "a coding with a code, and a display of at most 200 characters",
        ),
        Refusal::Invalid(field) if field.starts_with("reactions") => {
            FhirError::invalid("AllergyIntolerance.reaction", "manifestations with a display")
        }
        _ => FhirError::refused("AllergyIntolerance", "Wardbook cannot store this allergy"),
    }
}

// Bundles.

/// What an entry of a transaction or batch asks for, once checked.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Request {
    /// `POST {type}`: create, or update the row the resource's identifiers
    /// find. With `ifNoneExist`, nothing at all when that identifier is
    /// stored (FHIR's conditional create).
    Create { if_none_exist: Option<(String, String)> },
    /// `PUT {type}?identifier=system|value` (a conditional update), the
    /// identifier one of the resource's own.
    Update,
}

/// An entry ready to apply.
#[derive(Debug)]
struct Planned<'a> {
    index: usize,
    resource: &'a Resource,
    full_url: Option<&'a str>,
    request: Request,
}

/// The resource types an entry may write.
const WRITABLE: [&str; 5] = ["Patient", "Encounter", "Observation", "AllergyIntolerance", "MedicationRequest"];

/// Checks an entry of a transaction or batch. Pure: the same Bundle plans
/// the same way, and the errors name `Bundle.entry[i]...`.
fn plan_entry(entry: &BundleEntry, index: usize) -> std::result::Result<Planned<'_>, FhirError> {
    let at = format!("Bundle.entry[{index}]");
    let mut unsupported = Vec::new();
    others(&entry.other, &at, &mut unsupported);
    if entry.search.is_some() {
        unsupported.push(format!("{at}.search"));
    }
    if entry.response.is_some() {
        unsupported.push(format!("{at}.response"));
    }
    if let Some(request) = &entry.request {
        others(&request.other, &format!("{at}.request"), &mut unsupported);
    }
    if !unsupported.is_empty() {
        return Err(FhirError::Unsupported { paths: unsupported });
    }
    let resource = entry.resource.as_ref().ok_or_else(|| FhirError::missing(format!("{at}.resource")))?;
    let request = entry.request.as_ref().ok_or_else(|| FhirError::missing(format!("{at}.request")))?;
    let Some(resource_type) = resource.resource_type().filter(|t| WRITABLE.contains(t)) else {
        return Err(FhirError::Unsupported { paths: vec![format!("{at}.resource")] });
    };
    let condition = |text: &str, path: String| {
        identifier_condition(text).ok_or_else(|| FhirError::invalid(path, "identifier=system|value"))
    };
    let request = match request.method {
        HttpVerb::Post => {
            if request.url != resource_type {
                return Err(FhirError::invalid(format!("{at}.request.url"), "the type of the entry's resource"));
            }
            let if_none_exist = match request.if_none_exist.as_deref() {
                None => None,
                Some(_) if resource_type == "Encounter" => {
                    return Err(FhirError::refused(
                        format!("{at}.request.ifNoneExist"),
                        "Wardbook keeps no identifiers of encounters",
                    ));
                }
                Some(text) => Some(condition(text, format!("{at}.request.ifNoneExist"))?),
            };
            Request::Create { if_none_exist }
        }
        HttpVerb::Put => {
            let path = format!("{at}.request.url");
            if request.if_none_exist.is_some() {
                return Err(FhirError::invalid(format!("{at}.request.ifNoneExist"), "no condition on an update"));
            }
            let query = request
                .url
                .strip_prefix(resource_type)
                .and_then(|rest| rest.strip_prefix('?'))
                .ok_or_else(|| FhirError::invalid(path.clone(), "{type}?identifier=system|value"))?;
            let (system, value) = condition(query, path.clone())?;
            if !identifiers_of(resource).contains(&(system.as_str(), value.as_str())) {
                return Err(FhirError::refused(path, "the condition must be one of the resource's identifiers"));
            }
            Request::Update
        }
        HttpVerb::Get | HttpVerb::Head | HttpVerb::Delete | HttpVerb::Patch => {
            return Err(FhirError::unsupported_code(format!("{at}.request.method")));
        }
    };
    Ok(Planned { index, resource, full_url: entry.full_url.as_deref(), request })
}

/// `(system, value)` of a search `identifier=system|value` (URL-encoded),
/// the only condition Wardbook evaluates.
fn identifier_condition(query: &str) -> Option<(String, String)> {
    let mut pairs = form_urlencoded::parse(query.as_bytes());
    let (name, token) = pairs.next()?;
    if name != "identifier" || pairs.next().is_some() {
        return None;
    }
    let (system, value) = token.split_once('|')?;
    (!system.is_empty() && !value.is_empty()).then(|| (system.to_owned(), value.to_owned()))
}

/// A writable resource's identifiers that have both a system and a value.
fn identifiers_of(resource: &Resource) -> Vec<(&str, &str)> {
    let identifiers: &[Identifier] = match resource {
        Resource::Patient(r) => &r.identifier,
        Resource::Encounter(r) => &r.identifier,
        Resource::Observation(r) => &r.identifier,
        Resource::AllergyIntolerance(r) => &r.identifier,
        Resource::MedicationRequest(r) => &r.identifier,
        _ => &[],
    };
    identifiers.iter().filter_map(|i| Some((i.system.as_deref()?, i.value.as_deref()?))).collect()
}

/// Refuses what a Bundle carries beside its entries that Wardbook would
/// otherwise drop: members it does not model, a `total` (search results
/// only) and security labels (a label on the Bundle does not label the
/// resources, which carry their own). Links say where the Bundle came from
/// and carry no record.
fn bundle_elements(bundle: &Bundle) -> std::result::Result<(), FhirError> {
    let mut paths = Vec::new();
    others(&bundle.other, "Bundle", &mut paths);
    bundle.meta.unsupported("Bundle.meta", &mut paths);
    if bundle.meta.as_ref().is_some_and(|m| !m.security.is_empty()) {
        paths.push("Bundle.meta.security".to_owned());
    }
    if bundle.total.is_some() {
        paths.push("Bundle.total".to_owned());
    }
    if paths.is_empty() { Ok(()) } else { Err(FhirError::Unsupported { paths }) }
}

/// Applies a planned entry. `placeholders`: whether its `fullUrl` names the
/// patient for later entries (a transaction's; a batch's entries are
/// independent of one another, FHIR R4 http.html#brules).
async fn apply_entry(
    tx: &Transaction<'_>,
    planned: &Planned<'_>,
    ctx: &mut Context,
    placeholders: bool,
) -> Result<std::result::Result<Written, FhirError>> {
    let existing = match &planned.request {
        Request::Create { if_none_exist: Some((system, value)) } => {
            find_by_identifier(tx, planned.resource, system, value, ctx).await?
        }
        Request::Create { if_none_exist: None } | Request::Update => None,
    };
    let written = match existing {
        Some(applied) => Written { applied, effect: Effect::Updated },
        None => refuse!(apply(tx, planned.resource, ctx).await?.map_err(|e| e.in_bundle_entry(planned.index))),
    };
    if placeholders
        && written.applied.resource_type == "Patient"
        && let Some(url) = planned.full_url.filter(|u| u.starts_with("urn:uuid:") || u.starts_with("urn:oid:"))
    {
        ctx.placeholders.insert(url.to_owned(), written.applied.id);
    }
    Ok(Ok(written))
}

/// The stored row a conditional create's identifier finds.
async fn find_by_identifier(
    tx: &Transaction<'_>,
    resource: &Resource,
    system: &str,
    value: &str,
    ctx: &Context,
) -> Result<Option<Applied>> {
    let (resource_type, id) = match resource {
        Resource::Patient(_) => {
            let mrn = if system == ctx.mrn_system { value } else { "" };
            ("Patient", ingest::find_patient(tx, &ctx.keys, &[(system.to_owned(), value.to_owned())], mrn).await?)
        }
        Resource::Observation(_) => ("Observation", ingest::linked(tx, &ctx.keys, "observation", system, value).await?),
        Resource::AllergyIntolerance(_) => {
            ("AllergyIntolerance", ingest::linked(tx, &ctx.keys, "allergy", system, value).await?)
        }
        Resource::MedicationRequest(_) => {
            ("MedicationRequest", ingest::linked(tx, &ctx.keys, "medication_request", system, value).await?)
        }
        _ => return Ok(None),
    };
    Ok(id.map(|id| Applied { resource_type, id }))
}

/// The response entry of a written entry.
fn response_entry(written: &Written) -> BundleEntry {
    let status = match written.effect {
        Effect::Created => "201 Created",
        Effect::Updated => "200 OK",
    };
    let Applied { resource_type, id } = written.applied;
    BundleEntry::response(status, Some(format!("{resource_type}/{id}")), None)
}

/// The response entry of a refused entry of a batch.
fn refused_entry(error: &FhirError) -> BundleEntry {
    BundleEntry::response(status_line(error.status()), None, Some(super::outcome::from_error(error)))
}

/// A status line's code and reason, as `Bundle.entry.response.status` has it.
fn status_line(status: axum::http::StatusCode) -> &'static str {
    match status.as_u16() {
        200 => "200 OK",
        201 => "201 Created",
        400 => "400 Bad Request",
        404 => "404 Not Found",
        422 => "422 Unprocessable Entity",
        _ => "500 Internal Server Error",
    }
}

/// A `transaction` Bundle: every entry or none, in one database
/// transaction. Patients are written first, whatever their place in the
/// Bundle, so that the other entries' references to them resolve (FHIR R4
/// http.html#trules: the order of entries does not matter). The response
/// lists the entries in the request's order.
pub async fn transaction(
    db: &mut Client,
    bundle: &Bundle,
    ctx: &mut Context,
) -> Result<std::result::Result<Bundle, FhirError>> {
    refuse!(bundle_elements(bundle));
    let planned = refuse!(
        bundle.entry.iter().enumerate().map(|(i, e)| plan_entry(e, i)).collect::<std::result::Result<Vec<_>, _>>()
    );
    let tx = db.transaction().await?;
    let mut written: Vec<Option<Written>> = vec![None; planned.len()];
    let is_patient = |p: &&Planned<'_>| matches!(p.resource, Resource::Patient(_));
    let order = planned.iter().filter(is_patient).chain(planned.iter().filter(|p| !is_patient(p)));
    for entry in order {
        // An error returns early and drops `tx`: nothing is written.
        written[entry.index] = Some(refuse!(apply_entry(&tx, entry, ctx, true).await?));
    }
    tx.commit().await?;
    Ok(Ok(Bundle::transaction_response(written.iter().flatten().map(response_entry).collect())))
}

/// A `batch` Bundle: each entry on its own, in a savepoint of one database
/// transaction, so that a refused entry leaves nothing behind and the
/// others stand. A value PostgreSQL refuses fails that entry only; a
/// database failure fails the request. The response lists every entry's
/// status, with an OperationOutcome for the refused ones.
pub async fn batch(
    db: &mut Client,
    bundle: &Bundle,
    ctx: &mut Context,
) -> Result<std::result::Result<Bundle, FhirError>> {
    refuse!(bundle_elements(bundle));
    let mut tx = db.transaction().await?;
    let mut entries = Vec::with_capacity(bundle.entry.len());
    for (index, entry) in bundle.entry.iter().enumerate() {
        let planned = match plan_entry(entry, index) {
            Ok(planned) => planned,
            Err(error) => {
                entries.push(refused_entry(&error));
                continue;
            }
        };
        let savepoint = tx.savepoint(format!("entry_{index}")).await?;
        let response = match apply_entry(&savepoint, &planned, ctx, false).await {
            Ok(Ok(written)) => {
                savepoint.commit().await?;
                response_entry(&written)
            }
            Ok(Err(error)) => {
                savepoint.rollback().await?;
                refused_entry(&error)
            }
            Err(Error::BadRequest { .. }) => {
                savepoint.rollback().await?;
                let error =
                    FhirError::invalid(format!("Bundle.entry[{index}].resource"), "values PostgreSQL can store");
                refused_entry(&error)
            }
            Err(other) => return Err(other),
        };
        entries.push(response);
    }
    tx.commit().await?;
    Ok(Ok(Bundle::batch_response(entries)))
}

// Reading.

/// Is the patient stored and not deleted (nor merged into another)? What
/// the reads answer about: a deleted record's rows are not searchable.
async fn is_live(tx: &Transaction<'_>, id: Uuid) -> Result<bool> {
    Ok(tx.query_one("SELECT EXISTS (SELECT 1 FROM patients WHERE id = $1 AND NOT deleted)", &[&id]).await?.get(0))
}

/// A stored patient that is not deleted.
async fn live_patient(tx: &Transaction<'_>, keys: &KeySet, id: Uuid) -> Result<Option<proto::Patient>> {
    if is_live(tx, id).await? { Ok(Some(patients::read(tx, keys, id).await?)) } else { Ok(None) }
}

/// The identifiers senders gave these rows (`kind` in `phi.external_ids`),
/// by row, except Wardbook's own keys: exported beside the row's own, so
/// that a client finds its identifiers on what it sent.
async fn sent_identifiers(
    tx: &Transaction<'_>,
    keys: &KeySet,
    kind: &str,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<(String, String)>>> {
    let mut out: HashMap<Uuid, Vec<(String, String)>> = HashMap::new();
    for linked in external_ids::of_entities(tx, keys, &[kind], ids).await? {
        if !linked.system.starts_with(OWN_KEY_PREFIX) {
            out.entry(linked.entity_id).or_default().push((linked.system, linked.value));
        }
    }
    Ok(out)
}

/// Appends `sent` to `identifiers`, except those already there.
fn add_identifiers(identifiers: &mut Vec<Identifier>, sent: Option<&Vec<(String, String)>>) {
    for (system, value) in sent.into_iter().flatten() {
        let known = identifiers
            .iter()
            .any(|i| i.system.as_deref() == Some(system.as_str()) && i.value.as_deref() == Some(value.as_str()));
        if !known {
            identifiers.push(Identifier::new(system, value));
        }
    }
}

async fn patient_out(tx: &Transaction<'_>, keys: &KeySet, p: &proto::Patient, mrn_system: &str) -> Result<Patient> {
    let mut resource = convert::patient_to_fhir(p, mrn_system);
    let sent = sent_identifiers(tx, keys, "patient", &[p.id]).await?;
    add_identifiers(&mut resource.identifier, sent.get(&p.id));
    Ok(resource)
}

/// A token search value: `code`, `system|code`, `system|` (any code).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Token {
    pub system: Option<String>,
    pub code: Option<String>,
}

impl Token {
    pub fn parse(text: &str) -> Token {
        let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        match text.split_once('|') {
            Some((system, code)) => Token { system: Some(system.to_owned()), code: non_empty(code) },
            None => Token { system: None, code: non_empty(text) },
        }
    }

    pub fn matches(&self, system: &str, code: &str) -> bool {
        self.system.as_deref().is_none_or(|s| s == system) && self.code.as_deref().is_none_or(|c| c == code)
    }
}

/// The Observation search's filters beside the patient.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservationFilter {
    pub category: Option<Token>,
    pub code: Option<Token>,
}

impl ObservationFilter {
    fn matches(&self, o: &proto::Observation) -> bool {
        self.category.as_ref().is_none_or(|t| t.matches(systems::OBSERVATION_CATEGORY, o.category.as_str()))
            && self.code.as_ref().is_none_or(|t| t.matches(&o.code.system, &o.code.code))
    }
}

/// The patient's observations (not deleted) that pass `filter`, as FHIR.
pub async fn observations_of(
    tx: &Transaction<'_>,
    keys: &KeySet,
    patient_id: Uuid,
    filter: &ObservationFilter,
) -> Result<Vec<Observation>> {
    if !is_live(tx, patient_id).await? {
        return Ok(Vec::new());
    }
    let rows: Vec<proto::Observation> =
        observations::of_patient(tx, patient_id).await?.into_iter().filter(|o| filter.matches(o)).collect();
    let ids: Vec<Uuid> = rows.iter().map(|o| o.id).collect();
    let sent = sent_identifiers(tx, keys, "observation", &ids).await?;
    Ok(rows
        .iter()
        .map(|o| {
            let mut resource = convert::observation_to_fhir(o);
            add_identifiers(&mut resource.identifier, sent.get(&o.id));
            resource
        })
        .collect())
}

/// The patient's allergies (not deleted), as FHIR.
pub async fn allergies_of(tx: &Transaction<'_>, keys: &KeySet, patient_id: Uuid) -> Result<Vec<AllergyIntolerance>> {
    if !is_live(tx, patient_id).await? {
        return Ok(Vec::new());
    }
    let rows = allergies::of_patient(tx, patient_id).await?;
    let ids: Vec<Uuid> = rows.iter().map(|a| a.id).collect();
    let sent = sent_identifiers(tx, keys, "allergy", &ids).await?;
    Ok(rows
        .iter()
        .map(|a| {
            let mut resource = convert::allergy_to_fhir(a);
            add_identifiers(&mut resource.identifier, sent.get(&a.id));
            resource
        })
        .collect())
}

/// The patient's current stay, when on a ward; none for an unknown patient.
pub async fn encounters_of(tx: &Transaction<'_>, keys: &KeySet, patient_id: Uuid) -> Result<Vec<Encounter>> {
    Ok(live_patient(tx, keys, patient_id).await?.as_ref().and_then(convert::encounter_to_fhir).into_iter().collect())
}

/// The patient, if stored and not deleted.
pub async fn patient_by_id(tx: &Transaction<'_>, keys: &KeySet, id: Uuid, mrn_system: &str) -> Result<Option<Patient>> {
    match live_patient(tx, keys, id).await? {
        Some(p) => Ok(Some(patient_out(tx, keys, &p, mrn_system).await?)),
        None => Ok(None),
    }
}

/// The patient one identifier finds (the MRN too, in `mrn_system`).
pub async fn patient_by_identifier(
    tx: &Transaction<'_>,
    keys: &KeySet,
    system: &str,
    value: &str,
    mrn_system: &str,
) -> Result<Option<Patient>> {
    let mrn = if system == mrn_system { value } else { "" };
    match ingest::find_patient(tx, keys, &[(system.to_owned(), value.to_owned())], mrn).await? {
        Some(id) => patient_by_id(tx, keys, id, mrn_system).await,
        None => Ok(None),
    }
}

/// `Patient/{id}/$everything`: the patient, their current stay, their
/// observations, allergies, medication orders and administrations; none
/// for an unknown patient. The patient comes first.
pub async fn everything(
    tx: &Transaction<'_>,
    keys: &KeySet,
    patient_id: Uuid,
    mrn_system: &str,
) -> Result<Option<Vec<Resource>>> {
    let Some(p) = live_patient(tx, keys, patient_id).await? else { return Ok(None) };
    let mut out = vec![Resource::Patient(Box::new(patient_out(tx, keys, &p, mrn_system).await?))];
    out.extend(convert::encounter_to_fhir(&p).map(|e| Resource::Encounter(Box::new(e))));
    let observations = observations_of(tx, keys, patient_id, &ObservationFilter::default()).await?;
    out.extend(observations.into_iter().map(|o| Resource::Observation(Box::new(o))));
    out.extend(
        allergies_of(tx, keys, patient_id).await?.into_iter().map(|a| Resource::AllergyIntolerance(Box::new(a))),
    );
    let orders = medication_requests_of(tx, keys, patient_id).await?;
    out.extend(orders.into_iter().map(|o| Resource::MedicationRequest(Box::new(o))));
    let doses = medication_administrations_of(tx, patient_id).await?;
    out.extend(doses.into_iter().map(|a| Resource::MedicationAdministration(Box::new(a))));
    Ok(Some(out))
}

/// An AuditEvent search: events about `patient`, by `agent` (a Wardbook
/// user id), recorded in `[from, to)`, a page at a time, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditSearch {
    pub patient: Option<Uuid>,
    pub agent: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Events per page, 1 to [`audit::MAX_PAGE_SIZE`].
    pub count: u32,
    /// 1-based.
    pub page: u32,
}

/// One page of the events an [`AuditSearch`] matches, as AuditEvents, and
/// how many match in all. The privacy office's report query, so that the
/// FHIR export and the report cannot disagree.
pub async fn audit_events(db: &Client, search: &AuditSearch) -> Result<(Vec<AuditEvent>, u32)> {
    let query = ReportQuery {
        patient_id: search.patient,
        user_id: search.agent.clone(),
        from: search.from,
        to: search.to,
        sort: Some(SortOrder::Asc),
        page: Some(search.page),
        page_size: Some(search.count),
    };
    let page = audit::report(db, &query).await?;
    let events = page.events.iter().map(|e| audit_event_to_fhir(e, WARDBOOK_USER)).collect();
    Ok((events, u32::try_from(page.total).unwrap_or(u32::MAX)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::{Value, json};

    use super::*;
    use crate::fhir::resources::from_value;

    fn entry(value: Value) -> BundleEntry {
        serde_json::from_value(value).unwrap()
    }

    fn observation() -> Value {
        json!({
            "resourceType": "Observation",
            "identifier": [{"system": "https://lab.example/result", "value": "R1"}],
        })
    }

    /// (entry, what planning says): every kind of request, and where each
    /// wrong one is reported.
    #[test]
    fn entries_plan_or_are_refused_by_path() {
        let planned = |value: Value| plan_entry(&entry(value), 2).map(|p| p.request);
        let refused =
            |value: Value| planned(value).unwrap_err().paths().iter().map(|p| p.to_string()).collect::<Vec<_>>();

        let post = json!({"resource": observation(), "request": {"method": "POST", "url": "Observation"}});
        assert_eq!(planned(post), Ok(Request::Create { if_none_exist: None }));
        let conditional = json!({"resource": observation(), "request": {"method": "POST", "url": "Observation",
            "ifNoneExist": "identifier=https%3A%2F%2Flab.example%2Fresult|R1"}});
        assert_eq!(
            planned(conditional),
            Ok(Request::Create { if_none_exist: Some(("https://lab.example/result".into(), "R1".into())) })
        );
        let put = json!({"resource": observation(), "request": {"method": "PUT",
            "url": "Observation?identifier=https://lab.example/result|R1"}});
        assert_eq!(planned(put), Ok(Request::Update));

        let table: Vec<(Value, &str)> = vec![
            (json!({"request": {"method": "POST", "url": "Observation"}}), "Bundle.entry[2].resource"),
            (json!({"resource": observation()}), "Bundle.entry[2].request"),
            (
                json!({"resource": {"resourceType": "Medication"}, "request": {"method": "POST", "url": "Medication"}}),
                "Bundle.entry[2].resource",
            ),
            (
                json!({"resource": observation(), "request": {"method": "POST", "url": "Patient"}}),
                "Bundle.entry[2].request.url",
            ),
            (
                json!({"resource": observation(), "request": {"method": "DELETE", "url": "Observation"}}),
                "Bundle.entry[2].request.method",
            ),
            (
                json!({"resource": observation(), "request": {"method": "PUT", "url": "Observation/123"}}),
                "Bundle.entry[2].request.url",
            ),
            (
                json!({"resource": observation(), "request": {"method": "PUT",
                    "url": "Observation?identifier=https://lab.example/result|OTHER"}}),
                "Bundle.entry[2].request.url",
            ),
            (
                json!({"resource": observation(), "request": {"method": "POST", "url": "Observation",
                    "ifNoneExist": "code=1234-5"}}),
                "Bundle.entry[2].request.ifNoneExist",
            ),
            (
                json!({"resource": {"resourceType": "Encounter"}, "request": {"method": "POST", "url": "Encounter",
                    "ifNoneExist": "identifier=a|b"}}),
                "Bundle.entry[2].request.ifNoneExist",
            ),
            (
                json!({"resource": observation(), "request": {"method": "POST", "url": "Observation",
                    "ifMatch": "W/\"1\""}}),
                "Bundle.entry[2].request.ifMatch",
            ),
            (
                json!({"resource": observation(), "request": {"method": "POST", "url": "Observation"},
                    "response": {"status": "200"}}),
                "Bundle.entry[2].response",
            ),
        ];
        for (value, path) in table {
            assert_eq!(refused(value.clone()), [path], "{value}");
        }
    }

    #[test]
    fn conditions_are_one_identifier_with_system_and_value() {
        assert_eq!(identifier_condition("identifier=urn:x|V-1"), Some(("urn:x".into(), "V-1".into())));
        assert_eq!(identifier_condition("identifier=urn%3Ax%7CV%201"), Some(("urn:x".into(), "V 1".into())));
        for bad in ["", "identifier=V-1", "identifier=|V-1", "identifier=urn:x|", "code=a|b", "identifier=a|b&x=1"] {
            assert_eq!(identifier_condition(bad), None, "{bad}");
        }
    }

    #[test]
    fn keys_are_the_first_identifier_else_the_id() {
        let ids = vec![("urn:a".to_owned(), "1".to_owned()), ("urn:b".to_owned(), "2".to_owned())];
        assert_eq!(record_key(&ids, Some("x"), "Observation"), Ok(ids[0].clone()));
        assert_eq!(
            record_key(&[], Some("obs-7"), "Observation"),
            Ok(("urn:wardbook:fhir:Observation".into(), "obs-7".into()))
        );
        assert_eq!(
            record_key(&[], None, "AllergyIntolerance"),
            Err(FhirError::missing("AllergyIntolerance.identifier"))
        );
        assert!(record_key(&[], Some(&"x".repeat(301)), "Observation").is_err());
    }

    #[test]
    fn long_identifiers_are_refused_by_path() {
        let ids = vec![("urn:a".to_owned(), "1".to_owned()), ("urn:b".to_owned(), "é".repeat(301))];
        assert_eq!(identifiers_fit(&ids[..1], "Patient.identifier"), Ok(()));
        assert_eq!(identifiers_fit(&ids, "Patient.identifier").unwrap_err().paths(), ["Patient.identifier[1]"]);
    }

    #[test]
    fn bundle_level_extras_are_reported() {
        let bundle: Bundle = from_value(json!({"resourceType": "Bundle", "type": "transaction",
            "timestamp": "2026-03-01T08:00:00Z", "meta": {"security": [{"system": "urn:x", "code": "R"}]}}))
        .unwrap();
        let error = bundle_elements(&bundle).unwrap_err();
        assert_eq!(error.paths(), ["Bundle.timestamp", "Bundle.meta.security"]);
        let plain: Bundle = from_value(json!({"resourceType": "Bundle", "type": "batch"})).unwrap();
        assert_eq!(bundle_elements(&plain), Ok(()));
    }

    #[test]
    fn unknown_types_are_named_only_when_shaped_like_one() {
        let resource = |name: &str| Resource::Unsupported(json!({"resourceType": name}).as_object().unwrap().clone());
        assert_eq!(not_writable(&resource("Medication")).paths(), ["Medication"]);
        assert_eq!(not_writable(&resource("Jane Doe 1970")).paths(), ["Resource"]);
    }

    #[test]
    fn tokens_match_by_system_and_code() {
        let t = Token::parse("http://loinc.org|8867-4");
        assert!(t.matches("http://loinc.org", "8867-4"));
        assert!(!t.matches("http://snomed.info/sct", "8867-4"));
        assert!(Token::parse("8867-4").matches("anything", "8867-4"));
        assert!(Token::parse("http://loinc.org|").matches("http://loinc.org", "1234-5"));
        assert!(!Token::parse("vital-signs").matches(systems::OBSERVATION_CATEGORY, "laboratory"));
    }
}
