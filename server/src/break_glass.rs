//! Break-the-glass (DESIGN.md section 8): a clinician's emergency access to
//! a patient outside the workstation's scope. The reason is required; each
//! access is time-limited, recorded in `break_glass_accesses` and flagged for
//! the privacy office's review (`pending`). The reason is stored for that
//! review and never logged.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;
use wardbook_protocol::api::Role;
use wardbook_protocol::break_glass_reason_ok;
use wardbook_protocol::workstation::{BreakGlassRequest, BreakGlassResponse};

use crate::auth::UserOnDevice;
use crate::db;
use crate::error::{Error, Result};
use crate::keys::KeySet;
use crate::records;

const REASON_REQUIRED: &str = "Break-the-glass needs a reason of at least 10 characters (at most 500). Say why this patient's records are needed now.";
const NO_SUCH_PATIENT: &str =
    "There is no patient with that MRN, or with that family name and date of birth. Check them and try again.";
const MORE_THAN_ONE: &str = "More than one patient has that family name and date of birth. Use the MRN.";

/// Opens an access for `caller` to the patient with `request.mrn` (any
/// location) for `minutes`, and returns the patient's current records.
pub async fn grant(
    db: &mut db::Client,
    keys: &KeySet,
    caller: &UserOnDevice,
    request: &BreakGlassRequest,
    minutes: u32,
) -> Result<BreakGlassResponse> {
    caller.user.require(Role::Clinician)?;
    if !break_glass_reason_ok(&request.reason) {
        return Err(Error::bad_request("reason_required", REASON_REQUIRED));
    }
    // PostgreSQL text holds no NUL character: a reason keeps its other
    // characters (the NUL becomes U+FFFD).
    let mrn = request.mrn.trim();
    let reason = request.reason.replace('\0', "\u{fffd}");
    let tx = db.transaction().await?;
    let found = match (mrn, &request.family_name, request.birth_date) {
        ("", Some(family), Some(birth)) if !family.trim().is_empty() => {
            let mut ids = records::patients::by_name_and_birth_date(&*tx, keys, family, birth).await?;
            if ids.len() > 1 {
                return Err(Error::bad_request("ambiguous_patient", MORE_THAN_ONE));
            }
            ids.pop()
        }
        // Naming no patient finds none, as an unknown MRN does.
        ("", _, _) => None,
        (mrn, _, _) => match records::patients::by_mrn(&*tx, keys, mrn).await? {
            Some(id) => {
                let live: bool = tx.query_one("SELECT NOT deleted FROM patients WHERE id = $1", &[&id]).await?.get(0);
                live.then_some(id)
            }
            None => None,
        },
    };
    let Some(patient_id) = found else {
        tracing::info!(user = %caller.user.user_id, device = %caller.device.device_id, "break-the-glass: no such patient");
        return Err(Error::NotFound(NO_SUCH_PATIENT));
    };
    let access_id = Uuid::now_v7();
    // Microseconds, as PostgreSQL stores them: the answer matches the row.
    let started_at = chrono::SubsecRound::trunc_subsecs(Utc::now(), 6);
    let expires_at = started_at + chrono::Duration::minutes(i64::from(minutes.max(1)));
    tx.execute(
        "INSERT INTO break_glass_accesses (id, user_id, device_id, patient_id, reason, started_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[&access_id, &caller.user.user_id, &caller.device.device_id, &patient_id, &reason, &started_at, &expires_at],
    )
    .await?;
    let patient = records::patients::read(&tx, keys, patient_id).await?;
    let observations = records::observations::of_patient(&tx, patient_id).await?;
    let allergies = records::allergies::of_patient(&tx, patient_id).await?;
    let medication_requests = records::medication_requests::of_patient(&tx, patient_id).await?;
    let medication_administrations = records::medication_administrations::of_patient(&tx, patient_id).await?;
    tx.commit().await?;
    tracing::info!(
        access = %access_id,
        user = %caller.user.user_id,
        device = %caller.device.device_id,
        "break-the-glass access granted; flagged for review"
    );
    Ok(BreakGlassResponse {
        access_id,
        expires_at,
        patient,
        observations,
        allergies,
        medication_requests,
        medication_administrations,
    })
}

/// An access awaiting review, for the privacy office (`wardbook-server audit
/// break-glass`). Identifiers only, and the reason the clinician gave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PendingReview {
    pub access_id: Uuid,
    pub user_id: Uuid,
    pub device_id: Uuid,
    pub patient_id: Uuid,
    pub started_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub reason: String,
}

/// Accesses not yet reviewed, oldest first.
pub async fn pending(db: &tokio_postgres::Client) -> Result<Vec<PendingReview>> {
    let rows = db
        .query(
            "SELECT id, user_id, device_id, patient_id, started_at, expires_at, reason
               FROM break_glass_accesses WHERE review_status = 'pending' ORDER BY started_at, id",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| PendingReview {
            access_id: r.get(0),
            user_id: r.get(1),
            device_id: r.get(2),
            patient_id: r.get(3),
            started_at: r.get(4),
            expires_at: r.get(5),
            reason: r.get(6),
        })
        .collect())
}
