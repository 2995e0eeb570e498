//! Devices: enrolment codes (single-use, expiring), enrolment, revocation.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;
use wardbook_protocol::api::{DEVICE_NAME_MAX_CHARS, DeviceInfo, EnrolResponse};

use crate::auth::{self, Secret};
use crate::error::{Error, Result};

const BAD_CODE: &str = "The enrolment code is not valid, has expired or was used already. Ask IT for a new code.";

/// Creates an enrolment code for a location (by code). The code is returned
/// once; only its hash is stored.
pub async fn create_code(
    db: &tokio_postgres::Client,
    location_code: &str,
    lifetime: Duration,
) -> Result<(Secret, DateTime<Utc>)> {
    let location: Uuid = db
        .query_opt("SELECT id FROM locations WHERE code = $1", &[&location_code])
        .await?
        .map(|r| r.get(0))
        .ok_or(Error::NotFound("There is no location with that code. List locations or add it first."))?;
    let (code, hash) = auth::new_enrolment_code();
    let expires_at = Utc::now() + lifetime;
    db.execute(
        "INSERT INTO enrolment_codes (code_hash, location_id, expires_at) VALUES ($1, $2, $3)",
        &[&hash, &location, &expires_at],
    )
    .await?;
    tracing::info!(location = %location, "enrolment code created");
    Ok((code, expires_at))
}

/// The most codes one call makes (a ward roll-out is tens to hundreds).
pub const MAX_CODES_AT_ONCE: u32 = 1000;

/// Creates `count` codes for a location in one transaction, all with the
/// same expiry: for rolling out many workstations from a deployment script.
/// Each code is returned once; only their hashes are stored.
pub async fn create_codes(
    db: &mut tokio_postgres::Client,
    location_code: &str,
    lifetime: Duration,
    count: u32,
) -> Result<(Vec<Secret>, DateTime<Utc>)> {
    if count == 0 || count > MAX_CODES_AT_ONCE {
        return Err(Error::bad_request("invalid_count", "Make between 1 and 1000 enrolment codes at once."));
    }
    let tx = db.transaction().await?;
    let location: Uuid = tx
        .query_opt("SELECT id FROM locations WHERE code = $1", &[&location_code])
        .await?
        .map(|r| r.get(0))
        .ok_or(Error::NotFound("There is no location with that code. List locations or add it first."))?;
    let expires_at = Utc::now() + lifetime;
    let insert =
        tx.prepare("INSERT INTO enrolment_codes (code_hash, location_id, expires_at) VALUES ($1, $2, $3)").await?;
    let mut codes = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let (code, hash) = auth::new_enrolment_code();
        tx.execute(&insert, &[&hash, &location, &expires_at]).await?;
        codes.push(code);
    }
    tx.commit().await?;
    tracing::info!(location = %location, count, "enrolment codes created");
    Ok((codes, expires_at))
}

/// An enrolment code as IT lists it: never the code itself (only its hash
/// is stored), but a short reference to it, where and until when it works,
/// and the device that used it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CodeInfo {
    /// The first 12 hex digits of the code's hash.
    pub reference: String,
    pub location: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// `unused`, `used` or `expired`.
    pub state: &'static str,
    pub used_by: Option<Uuid>,
    pub used_at: Option<DateTime<Utc>>,
}

/// Enrolment codes, newest first: by default only those still usable; with
/// `all`, used and expired ones too. `location` narrows to one location.
pub async fn list_codes(db: &tokio_postgres::Client, location: Option<&str>, all: bool) -> Result<Vec<CodeInfo>> {
    let rows = db
        .query(
            "SELECT left(c.code_hash, 12), l.code, c.created_at, c.expires_at, c.used_by, c.used_at,
                    CASE WHEN c.used_at IS NOT NULL THEN 'used'
                         WHEN c.expires_at <= now() THEN 'expired' ELSE 'unused' END
               FROM enrolment_codes c JOIN locations l ON l.id = c.location_id
              WHERE ($1::text IS NULL OR l.code = $1)
                AND ($2 OR (c.used_at IS NULL AND c.expires_at > now()))
              ORDER BY c.created_at DESC, c.code_hash",
            &[&location, &all],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| CodeInfo {
            reference: r.get(0),
            location: r.get(1),
            created_at: r.get(2),
            expires_at: r.get(3),
            used_by: r.get(4),
            used_at: r.get(5),
            state: match r.get::<_, &str>(6) {
                "used" => "used",
                "expired" => "expired",
                _ => "unused",
            },
        })
        .collect())
}

const ALREADY_ENROLLED: &str = "This workstation is already enrolled, or was and has been revoked; the code was not used. Check `wardbook status`, or to enrol a revoked workstation again, move its data directory aside first.";

/// Turns a code into a device bound to the code's location. The code is
/// consumed in the same transaction, so two workstations racing with one code
/// cannot both enrol.
/// `device_id` is the id the workstation already uses for its audit chain;
/// an id that was ever enrolled is refused (a revoked workstation enrols
/// again with a fresh data directory, hence a fresh id).
pub async fn enrol(
    db: &mut tokio_postgres::Client,
    code: &str,
    device_name: &str,
    device_id: Option<Uuid>,
) -> Result<(EnrolResponse, Secret)> {
    let name = device_name.trim();
    if name.is_empty() || name.chars().count() > DEVICE_NAME_MAX_CHARS || name.contains('\0') {
        return Err(Error::bad_request(
            "invalid_device_name",
            format!("The device name must be 1 to {DEVICE_NAME_MAX_CHARS} characters."),
        ));
    }
    let tx = db.transaction().await?;
    let row = tx
        .query_opt(
            "SELECT location_id FROM enrolment_codes
              WHERE code_hash = $1 AND used_at IS NULL AND expires_at > now() FOR UPDATE",
            &[&auth::digest(&auth::normalise_code(code))],
        )
        .await?;
    let Some(row) = row else {
        tracing::info!("enrolment refused: unknown, used or expired code");
        return Err(Error::Unauthorized(BAD_CODE));
    };
    let location: Uuid = row.get(0);
    let device_id = device_id.unwrap_or_else(Uuid::now_v7);
    if tx.query_opt("SELECT 1 FROM devices WHERE id = $1", &[&device_id]).await?.is_some() {
        tracing::info!(device = %device_id, "enrolment refused: device id already enrolled");
        return Err(Error::Forbidden(ALREADY_ENROLLED));
    }
    let (credential, hash) = auth::new_device_credential(device_id);
    tx.execute("INSERT INTO devices (id, name, credential_hash) VALUES ($1, $2, $3)", &[&device_id, &name, &hash])
        .await?;
    tx.execute("INSERT INTO device_locations (device_id, location_id) VALUES ($1, $2)", &[&device_id, &location])
        .await?;
    tx.execute(
        "UPDATE enrolment_codes SET used_at = now(), used_by = $2 WHERE code_hash = $1",
        &[&auth::digest(&auth::normalise_code(code)), &device_id],
    )
    .await?;
    let locations: Vec<String> = tx
        .query("SELECT l.code FROM locations l WHERE l.id = $1", &[&location])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    tx.commit().await?;
    tracing::info!(device = %device_id, location = %location, "device enrolled");
    let response = EnrolResponse { device_id, locations, credential: credential.expose().to_owned() };
    Ok((response, credential))
}

const REENROL_REVOKED: &str =
    "This workstation's enrolment was revoked, so it cannot move to another location. Ask IT to enrol it again.";

/// Moves an enrolled device to the location of a new code (a workstation
/// carried to another ward), in one transaction: the code is consumed, the
/// device's locations become the code's, its credential is replaced and
/// the sessions opened at the old location end. The caller authenticated
/// as the device with its current credential; a revoked device is refused.
pub async fn reenrol(db: &mut tokio_postgres::Client, device_id: Uuid, code: &str) -> Result<(EnrolResponse, Secret)> {
    let tx = db.transaction().await?;
    let code_hash = auth::digest(&auth::normalise_code(code));
    let row = tx
        .query_opt(
            "SELECT location_id FROM enrolment_codes
              WHERE code_hash = $1 AND used_at IS NULL AND expires_at > now() FOR UPDATE",
            &[&code_hash],
        )
        .await?;
    let Some(row) = row else {
        tracing::info!(device = %device_id, "re-enrolment refused: unknown, used or expired code");
        return Err(Error::Unauthorized(BAD_CODE));
    };
    let location: Uuid = row.get(0);
    let active = tx
        .query_opt("SELECT 1 FROM devices WHERE id = $1 AND revoked_at IS NULL FOR UPDATE", &[&device_id])
        .await?
        .is_some();
    if !active {
        tracing::info!(device = %device_id, "re-enrolment refused: device revoked");
        return Err(Error::Unauthorized(REENROL_REVOKED));
    }
    let (credential, hash) = auth::new_device_credential(device_id);
    tx.execute("UPDATE devices SET credential_hash = $2 WHERE id = $1", &[&device_id, &hash]).await?;
    tx.execute("DELETE FROM device_locations WHERE device_id = $1", &[&device_id]).await?;
    tx.execute("INSERT INTO device_locations (device_id, location_id) VALUES ($1, $2)", &[&device_id, &location])
        .await?;
    tx.execute(
        "UPDATE enrolment_codes SET used_at = now(), used_by = $2 WHERE code_hash = $1",
        &[&code_hash, &device_id],
    )
    .await?;
    tx.execute("DELETE FROM sessions WHERE device_id = $1", &[&device_id]).await?;
    let locations: Vec<String> =
        tx.query("SELECT code FROM locations WHERE id = $1", &[&location]).await?.iter().map(|r| r.get(0)).collect();
    tx.commit().await?;
    tracing::info!(device = %device_id, location = %location, "device moved to another location");
    let response = EnrolResponse { device_id, locations, credential: credential.expose().to_owned() };
    Ok((response, credential))
}

/// An authenticated device as the service sees it (for `wardbook doctor`).
pub async fn describe(db: &tokio_postgres::Client, device: &auth::DeviceAuth) -> Result<DeviceInfo> {
    let name: String = db.query_one("SELECT name FROM devices WHERE id = $1", &[&device.device_id]).await?.get(0);
    let locations = db
        .query("SELECT code FROM locations WHERE id = ANY($1) ORDER BY code", &[&device.locations])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok(DeviceInfo { device_id: device.device_id, name, locations })
}

/// Revokes a device: its credential and every session opened on it stop
/// working at once. Returns false when there is no such device.
pub async fn revoke(db: &tokio_postgres::Client, device_id: Uuid) -> Result<bool> {
    let n =
        db.execute("UPDATE devices SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1", &[&device_id]).await?;
    db.execute("DELETE FROM sessions WHERE device_id = $1", &[&device_id]).await?;
    tracing::info!(device = %device_id, found = n == 1, "device revoked");
    Ok(n == 1)
}
