//! The HTTP/JSON API `/v1` between the desktop app and `wardbook-server`:
//! request and response bodies, declared once for both sides (and for the
//! generated OpenAPI document and TypeScript types).
//!
//! Every request body refuses unknown fields, so a misspelt field is an error
//! the caller sees rather than a value silently dropped.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use uuid::Uuid;

use crate::medication::{DoseReview, MedicationAdministration, MedicationRequest};
use crate::{Allergy, AuditEvent, Observation, Patient};

mod compliance;
mod health;
mod identity;
mod privacy;
pub use compliance::*;
pub use health::*;
pub use identity::*;
pub use privacy::*;

/// `POST /v1/enrol`: turn a single-use enrolment code into a device credential.
#[derive(Clone, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct EnrolRequest {
    /// The code IT created with `wardbook-server device enroll-code`.
    pub code: String,
    /// A name for this workstation, shown to IT (e.g. its host name): 1 to
    /// [`DEVICE_NAME_MAX_CHARS`] characters once surrounding spaces are
    /// trimmed, and no NUL character (the schema's numbers are checked
    /// against the constant by a test).
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 120,
            pattern = r"^[^\u0000]*[^\t\n\v\f\r \u0000\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000]*$"
        )
    )]
    pub device_name: String,
    /// The id the workstation already uses for its audit chain. Given, the
    /// service enrols the device under it (a revoked device may re-enrol; an
    /// active one is refused), so events recorded before enrolment upload as
    /// the same chain. Absent, the service chooses one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub device_id: Option<Uuid>,
}

/// Mutations in one push, at most.
pub const MAX_PUSH_BATCH: usize = 1000;
/// Audit events in one upload, at most.
pub const MAX_AUDIT_BATCH: usize = 5000;

/// The longest device name the service keeps, in characters (after trimming).
pub const DEVICE_NAME_MAX_CHARS: usize = 120;

impl std::fmt::Debug for EnrolRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrolRequest")
            .field("code", &"***")
            .field("device_name", &self.device_name)
            .field("device_id", &self.device_id)
            .finish()
    }
}

/// `GET /v1/device`, with the device credential: the service's view of this
/// device, for `wardbook doctor` (a refused credential is a 401).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct DeviceInfo {
    pub device_id: Uuid,
    pub name: String,
    /// The location codes this device serves.
    pub locations: Vec<String>,
}

/// `POST /v1/reenrol`, with the device credential: move this enrolled
/// workstation to the location of a new code (it was carried to another
/// ward). Its locations become the code's and its credential is replaced.
#[derive(Clone, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct ReenrolRequest {
    /// A code IT created for the new location.
    pub code: String,
}

impl std::fmt::Debug for ReenrolRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReenrolRequest").finish_non_exhaustive()
    }
}

/// The device credential, returned once: the server keeps only its hash.
#[derive(Clone, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct EnrolResponse {
    pub device_id: Uuid,
    /// The location codes this device serves.
    pub locations: Vec<String>,
    /// Sent as `Authorization: Bearer <credential>` on every device request.
    pub credential: String,
}

impl std::fmt::Debug for EnrolResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrolResponse")
            .field("device_id", &self.device_id)
            .field("locations", &self.locations)
            .field("credential", &"***")
            .finish()
    }
}

/// A user's role. A user may hold several.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Role {
    Clinician,
    Admin,
    PrivacyOfficer,
    /// An interface engine or other system using the FHIR API: logs in
    /// without a workstation, and can use nothing but `/fhir/r4`.
    Integration,
}

impl Role {
    pub const ALL: &'static [Role] = &[Role::Clinician, Role::Admin, Role::PrivacyOfficer, Role::Integration];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Clinician => "clinician",
            Role::Admin => "admin",
            Role::PrivacyOfficer => "privacy_officer",
            Role::Integration => "integration",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Self::ALL.iter().copied().find(|r| r.as_str() == s)
    }
}

/// `POST /v1/login` (sent with the device credential): a user's online login
/// on an enrolled workstation.
#[derive(Clone, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    /// The LDAP provider (`GET /v1/login/providers`) that checks the
    /// password; none for a local Wardbook account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[a-z0-9][a-z0-9-]{0,31}$"))]
    pub provider: Option<String>,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .field("password", &"***")
            .field("provider", &self.provider)
            .finish()
    }
}

/// Who logged in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct UserInfo {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub roles: Vec<Role>,
}

/// What the app needs to allow this user an offline unlock later on this
/// workstation. The app derives its own verifier from the password the user
/// just typed; the server never sends the password or its own hash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct OfflineUnlockPolicy {
    /// Offline unlock is allowed until this time, then an online login is needed.
    pub allowed_until: DateTime<Utc>,
    /// Failed offline attempts after which the local verifier is wiped.
    pub max_failed_attempts: u32,
    /// The shortest workstation PIN a user signed in through OpenID Connect
    /// may set for offline unlock.
    #[serde(default = "default_pin_min_length")]
    pub pin_min_length: u32,
}

fn default_pin_min_length() -> u32 {
    6
}

/// A short-lived session token for user-level endpoints.
#[derive(Clone, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct LoginResponse {
    /// Sent as `Authorization: Bearer <token>` on user-level endpoints.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user: UserInfo,
    pub offline_unlock: OfflineUnlockPolicy,
}

impl std::fmt::Debug for LoginResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginResponse")
            .field("token", &"***")
            .field("expires_at", &self.expires_at)
            .field("user", &self.user)
            .finish()
    }
}

/// One entry of the change feed.
#[derive(Clone, Debug, PartialEq, Serialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
#[ts(export)]
pub enum Change {
    /// A patient's current row (a tombstone when `deleted`).
    Patient {
        patient: Patient,
    },
    Observation {
        observation: Observation,
    },
    Allergy {
        allergy: Allergy,
    },
    /// A medication order (from the EHR; workstations never write one).
    MedicationRequest {
        medication_request: MedicationRequest,
    },
    /// A dose given or not given (append-only: changed only to mark it
    /// entered-in-error).
    MedicationAdministration {
        medication_administration: MedicationAdministration,
    },
    /// A clinician's review of a possible double dose.
    DoseReview {
        dose_review: DoseReview,
    },
    /// The patient left this device's scope (discharge, transfer, revoked
    /// access): purge its rows locally, after pushing any unsynced edit.
    Remove {
        patient_id: Uuid,
    },
}

impl Change {
    /// The patient the entry is about.
    pub fn patient_id(&self) -> Uuid {
        match self {
            Change::Patient { patient } => patient.id,
            Change::Observation { observation } => observation.patient_id,
            Change::Allergy { allergy } => allergy.patient_id,
            Change::MedicationRequest { medication_request } => medication_request.patient_id,
            Change::MedicationAdministration { medication_administration } => medication_administration.patient_id,
            Change::DoseReview { dose_review } => dose_review.patient_id,
            Change::Remove { patient_id } => *patient_id,
        }
    }
}

/// `GET /v1/sync/pull?cursor=..&limit=..`: a page of the device's changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct PullResponse {
    pub changes: Vec<Change>,
    /// Opaque: store it in the same local transaction as these changes and
    /// send it with the next pull.
    pub cursor: String,
    /// More changes are ready now: pull again with `cursor`.
    pub has_more: bool,
    /// On the first page of an initial sync only: how many rows the whole
    /// initial sync will send, for a progress bar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub expected_rows: Option<i64>,
    /// Users disabled recently (by an admin or their directory): delete
    /// their offline verifiers now, so no one unlocks this workstation as
    /// them, even if they never sign in here again. On every page; the
    /// list covers the whole offline window.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[ts(as = "Option<Vec<Uuid>>", optional)]
    pub revoked_users: Vec<Uuid>,
}

/// The row a mutation writes, in full.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
#[ts(export)]
pub enum Record {
    Patient { patient: Patient },
    Observation { observation: Observation },
    Allergy { allergy: Allergy },
    MedicationAdministration { medication_administration: MedicationAdministration },
    DoseReview { dose_review: DoseReview },
}

/// A client edit, applied by the server exactly once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct Mutation {
    /// Client-generated (UUID v7): a repeat of an id changes nothing.
    pub id: Uuid,
    /// The server version the edit was based on; `null` for a new row.
    #[ts(type = "number | null")]
    pub base_version: Option<i64>,
    /// The user who made the edit.
    pub author: String,
    pub authored_at: DateTime<Utc>,
    #[serde(deserialize_with = "crate::tagged::by_type")]
    pub record: Record,
}

/// `POST /v1/sync/push`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct PushRequest {
    /// At most [`MAX_PUSH_BATCH`] (the schema's number is checked against it by a test).
    #[cfg_attr(feature = "openapi", schema(max_items = 1000))]
    pub mutations: Vec<Mutation>,
}

/// Why a mutation was refused for good (retrying it cannot help).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum RejectReason {
    /// The row breaks a rule (the message names the field and the limit).
    Validation,
    /// The patient is not assigned to this device's locations.
    OutOfScope,
}

/// What the server did with one mutation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[ts(export)]
pub enum MutationOutcome {
    /// Stored; the row now has this server version.
    Applied {
        #[ts(type = "number")]
        version: i64,
    },
    /// This mutation id was applied before: nothing changed. `version` is
    /// the version that application produced (a client whose earlier answer
    /// was lost continues from it).
    AlreadyApplied {
        #[ts(type = "number")]
        version: i64,
    },
    /// The row changed on the server since `base_version`: the server kept its
    /// row, sent here; the client keeps the edit as a visible conflict.
    Conflict {
        current: Box<Record>,
    },
    Rejected {
        reason: RejectReason,
        message: String,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct MutationResult {
    pub id: Uuid,
    pub outcome: MutationOutcome,
}

/// The answer to a push, one result per mutation, in request order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct PushResponse {
    pub results: Vec<MutationResult>,
}

/// `POST /v1/audit/events`: the device's own events, in sequence order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct AuditUploadRequest {
    /// At most [`MAX_AUDIT_BATCH`] (the schema's number is checked against it by a test).
    #[cfg_attr(feature = "openapi", schema(max_items = 5000))]
    pub events: Vec<AuditEvent>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct AuditUploadResponse {
    /// The highest sequence the server holds for this device: the device may
    /// mark everything up to it as uploaded.
    #[ts(type = "number")]
    pub highest_sequence: i64,
    /// Events newly stored by this request (repeats are not counted).
    pub stored: u32,
}

/// A page of an audit report, newest or oldest first as asked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct AuditReportPage {
    pub events: Vec<AuditEvent>,
    /// Rows matching the query in total.
    #[ts(type = "number")]
    pub total: i64,
    pub page: u32,
    pub page_size: u32,
}

/// The body of every error response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct ApiError {
    /// Stable, machine-readable (e.g. `invalid_body`, `unauthorized`).
    pub code: String,
    /// What happened and what to do; never patient data, secrets or SQL.
    pub message: String,
    /// For an audit chain refused: the first sequence that was wrong.
    #[ts(type = "number | null")]
    pub position: Option<i64>,
}

/// `POST /v1/admin/enrolment-codes` (admin role).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct EnrolmentCodeRequest {
    /// The code of the location the workstation will serve.
    pub location: String,
}

/// A new enrolment code, shown once.
#[derive(Clone, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct EnrolmentCodeResponse {
    pub code: String,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for EnrolmentCodeResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrolmentCodeResponse").field("code", &"***").field("expires_at", &self.expires_at).finish()
    }
}

/// Reading a [`Change`] without buffering it. Serde's derived reader of an
/// internally tagged enum buffers every entry into a tree of values before it
/// knows the variant, then reads the tree again: a cost per row that an
/// initial sync of a million rows pays a million times. The service writes
/// `type` first, so this reader takes the tag, then reads the one field that
/// variant has straight into its type. An entry with `type` elsewhere (JSON
/// does not order keys) is still read, through a buffer, as the derived
/// reader would; unknown fields are ignored, as they were.
mod change_decoding {
    use std::fmt;

    use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
    use serde::{Deserialize, Serialize};

    use super::Change;

    #[derive(Clone, Copy, Deserialize, Serialize)]
    #[serde(rename_all = "snake_case")]
    enum Tag {
        Patient,
        Observation,
        Allergy,
        MedicationRequest,
        MedicationAdministration,
        DoseReview,
        Remove,
    }

    const TAGS: &[&str] = &[
        "patient",
        "observation",
        "allergy",
        "medication_request",
        "medication_administration",
        "dose_review",
        "remove",
    ];

    impl Tag {
        /// The one field of the variant.
        fn field(self) -> &'static str {
            match self {
                Tag::Patient => "patient",
                Tag::Observation => "observation",
                Tag::Allergy => "allergy",
                Tag::MedicationRequest => "medication_request",
                Tag::MedicationAdministration => "medication_administration",
                Tag::DoseReview => "dose_review",
                Tag::Remove => "patient_id",
            }
        }

        /// The variant, its field read by `read`.
        fn read<'de, R: ReadField<'de>>(self, read: R) -> Result<Change, R::Error> {
            Ok(match self {
                Tag::Patient => Change::Patient { patient: read.read()? },
                Tag::Observation => Change::Observation { observation: read.read()? },
                Tag::Allergy => Change::Allergy { allergy: read.read()? },
                Tag::MedicationRequest => Change::MedicationRequest { medication_request: read.read()? },
                Tag::MedicationAdministration => {
                    Change::MedicationAdministration { medication_administration: read.read()? }
                }
                Tag::DoseReview => Change::DoseReview { dose_review: read.read()? },
                Tag::Remove => Change::Remove { patient_id: read.read()? },
            })
        }
    }

    /// Where a variant's field is read from: the map itself, or a buffered value.
    trait ReadField<'de> {
        type Error;
        fn read<T: Deserialize<'de>>(self) -> Result<T, Self::Error>;
    }

    struct FromMap<'a, A>(&'a mut A);

    impl<'de, A: MapAccess<'de>> ReadField<'de> for FromMap<'_, A> {
        type Error = A::Error;
        fn read<T: Deserialize<'de>>(self) -> Result<T, A::Error> {
            self.0.next_value()
        }
    }

    struct FromValue<E>(serde_json::Value, std::marker::PhantomData<E>);

    impl<'de, E: de::Error> ReadField<'de> for FromValue<E> {
        type Error = E;
        fn read<T: Deserialize<'de>>(self) -> Result<T, E> {
            T::deserialize(self.0).map_err(E::custom)
        }
    }

    impl<'de> Deserialize<'de> for Change {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Change, D::Error> {
            deserializer.deserialize_map(ChangeVisitor)
        }
    }

    struct ChangeVisitor;

    impl<'de> Visitor<'de> for ChangeVisitor {
        type Value = Change;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a change: an object with its `type` and that type's record")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Change, A::Error> {
            let Some(first) = map.next_key::<String>()? else { return Err(de::Error::missing_field("type")) };
            if first == "type" {
                let tag: Tag = map.next_value()?;
                let mut change = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == tag.field() {
                        if change.is_some() {
                            return Err(de::Error::duplicate_field(tag.field()));
                        }
                        change = Some(tag.read(FromMap(&mut map))?);
                    } else if key == "type" {
                        return Err(de::Error::duplicate_field("type"));
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                return change.ok_or_else(|| de::Error::missing_field(tag.field()));
            }
            // `type` is not first: buffer the entry.
            let mut entry = serde_json::Map::new();
            entry.insert(first, map.next_value()?);
            while let Some(key) = map.next_key::<String>()? {
                let value = map.next_value()?;
                if entry.insert(key.clone(), value).is_some() {
                    return Err(de::Error::custom(format!("duplicate field `{key}`")));
                }
            }
            let tag = entry.remove("type").ok_or_else(|| de::Error::missing_field("type"))?;
            let tag: Tag = match tag.as_str().and_then(|t| TAGS.iter().position(|known| *known == t)) {
                Some(_) => Tag::deserialize(tag).map_err(de::Error::custom)?,
                None => return Err(de::Error::unknown_variant(tag.as_str().unwrap_or("(not a string)"), TAGS)),
            };
            let field = entry.remove(tag.field()).ok_or_else(|| de::Error::missing_field(tag.field()))?;
            tag.read(FromValue::<A::Error>(field, std::marker::PhantomData))
        }
    }

    #[cfg(test)]
    mod tests {
        #![allow(clippy::unwrap_used)]

        use super::*;
        use crate::api::PullResponse;

        #[test]
        fn a_change_reads_whatever_the_order_of_its_keys_and_refuses_what_is_wrong() {
            let id = uuid::Uuid::now_v7();
            let first: Change = serde_json::from_str(&format!(r#"{{"type":"remove","patient_id":"{id}"}}"#)).unwrap();
            let last: Change =
                serde_json::from_str(&format!(r#"{{"patient_id":"{id}","extra":[1,{{}}],"type":"remove"}}"#)).unwrap();
            assert_eq!(first, Change::Remove { patient_id: id });
            assert_eq!(last, first);
            let with_extra: Change =
                serde_json::from_str(&format!(r#"{{"type":"remove","later":{{"a":1}},"patient_id":"{id}"}}"#)).unwrap();
            assert_eq!(with_extra, first);
            for bad in [
                r#"{}"#.to_owned(),
                r#"{"type":"remove"}"#.to_owned(),
                r#"{"type":"nonsense","patient_id":"x"}"#.to_owned(),
                format!(r#"{{"patient_id":"{id}","type":"nonsense"}}"#),
                format!(r#"{{"patient_id":"{id}"}}"#),
                format!(r#"{{"type":"remove","patient_id":"{id}","patient_id":"{id}"}}"#),
                format!(r#"{{"type":"remove","type":"remove","patient_id":"{id}"}}"#),
                format!(r#"{{"type":"observation","patient_id":"{id}"}}"#),
                r#"{"type":"remove","patient_id":"not-a-uuid"}"#.to_owned(),
                r#"["remove"]"#.to_owned(),
                // A tag is a name, never a variant's index.
                format!(r#"{{"type":6,"patient_id":"{id}"}}"#),
                format!(r#"{{"patient_id":"{id}","type":6}}"#),
            ] {
                assert!(serde_json::from_str::<Change>(&bad).is_err(), "{bad}");
            }
        }

        #[test]
        fn a_change_reads_back_what_was_written_in_either_order() {
            let observation: crate::Observation = serde_json::from_value(serde_json::json!({
                "id": "0190d3b4-0000-7000-8000-000000000001", "version": 3, "updated_at": "2026-01-01T00:00:00Z",
                "deleted": false, "synthetic": true, "patient_id": "0190d3b4-0000-7000-8000-000000000002",
                "category": "vital-signs", "code": { "system": "http://loinc.org", "code": "8867-4", "display": "Heart rate" },
                "panel": null, "value": { "kind": "quantity", "value": 72, "unit": "/min" }, "reference_range": null,
                "interpretation": null, "status": "final", "effective_at": "2026-01-01T00:00:00Z", "recorded_by": "synthetic" }))
            .unwrap();
            let changes =
                vec![Change::Observation { observation }, Change::Remove { patient_id: uuid::Uuid::now_v7() }];
            let page = PullResponse {
                changes: changes.clone(),
                cursor: "2.0..0..".to_owned(),
                has_more: false,
                expected_rows: Some(2),
                revoked_users: Vec::new(),
            };
            let text = serde_json::to_string(&page).unwrap();
            let back: PullResponse = serde_json::from_str(&text).unwrap();
            assert_eq!(back.changes, changes);
            for change in &changes {
                let text = serde_json::to_string(change).unwrap();
                assert!(text.starts_with(r#"{"type""#), "the service writes the tag first: {text}");
                // The same entry with `type` moved to the end reads the same.
                let mut value = serde_json::to_value(change).unwrap();
                let object = value.as_object_mut().unwrap();
                let tag = object.remove("type").unwrap();
                object.insert("type".to_owned(), tag);
                let moved = serde_json::to_string(&value).unwrap();
                assert!(!moved.starts_with(r#"{"type""#), "{moved}");
                assert_eq!(&serde_json::from_str::<Change>(&moved).unwrap(), change);
            }
        }
    }
}
