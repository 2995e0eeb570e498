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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
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
