//! Who is calling: enrolled devices (a credential issued at enrolment) and
//! logged-in users (a short-lived token issued at login), passwords
//! (Argon2id, checked off the async threads) and attempt limits.
//!
//! Credentials and tokens are 256-bit random secrets; the database keeps only
//! their SHA-256, so a copy of the database lets no one act as a device.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Params, Version};
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;
use wardbook_protocol::api::Role;
use zeroize::Zeroizing;

use crate::AppState;
use crate::error::{Error, Result};

const DEVICE_PREFIX: &str = "wbd1";
const TOKEN_PREFIX: &str = "wbu1";

/// A secret shown once (a device credential, a token, an enrolment code).
/// `Debug` never prints it; it is wiped from memory on drop.
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

/// Hex SHA-256: how credentials, tokens and enrolment codes are stored.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A new device credential: `wbd1_<device id>_<secret>`.
pub fn new_device_credential(device_id: Uuid) -> (Secret, String) {
    let secret = random_hex(32);
    let credential = format!("{DEVICE_PREFIX}_{}_{secret}", device_id.simple());
    let hash = digest(&credential);
    (Secret(Zeroizing::new(credential)), hash)
}

/// A new login token: `wbu1_<secret>`.
pub fn new_token() -> (Secret, String) {
    let token = format!("{TOKEN_PREFIX}_{}", random_hex(32));
    let hash = digest(&token);
    (Secret(Zeroizing::new(token)), hash)
}

/// A new enrolment code: 20 characters from an unambiguous alphabet, grouped
/// for reading aloud (`ABCD-EFGH-JKMN-PQRS-TVWX`): about 100 bits.
pub fn new_enrolment_code() -> (Secret, String) {
    const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTVWXYZ23456789";
    let mut rng = rand::rng();
    let mut code = String::with_capacity(24);
    for i in 0..20 {
        if i > 0 && i % 4 == 0 {
            code.push('-');
        }
        let n = (rng.next_u32() as usize) % ALPHABET.len();
        code.push(char::from(ALPHABET[n]));
    }
    let hash = digest(&normalise_code(&code));
    (Secret(Zeroizing::new(code)), hash)
}

/// Codes are typed by people: case, spaces and dashes do not matter.
pub fn normalise_code(code: &str) -> String {
    code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect()
}

fn argon2() -> Argon2<'static> {
    // OWASP's Argon2id recommendation: 19 MiB, 2 passes, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password with Argon2id (PHC string). Blocking: call through
/// `spawn_blocking` from async code.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(argon2().hash_password(password.as_bytes(), &salt)?.to_string())
}

/// A turn to run one Argon2id check: as many at once as the machine has
/// cores. A burst of sign-ins (a shift change, a go-live) then queues here
/// instead of running hundreds of 19 MiB, CPU-bound checks at once and
/// starving every pull of CPU (the load benchmark's first break, at 4,000
/// workstations on 2 cores).
pub async fn password_check_turn() -> Option<tokio::sync::SemaphorePermit<'static>> {
    static TURNS: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get))
    });
    // Never closed: `None` cannot happen, and would only leave the check unqueued.
    TURNS.acquire().await.ok()
}

/// Checks a password against a stored hash. With no hash (unknown user) it
/// checks against a fixed dummy so both paths take the same time.
pub fn verify_password(password: &str, stored: Option<&str>) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password("wardbook-dummy-password").unwrap_or_default());
    let hash = stored.unwrap_or(dummy);
    let ok = PasswordHash::new(hash).is_ok_and(|parsed| argon2().verify_password(password.as_bytes(), &parsed).is_ok());
    ok && stored.is_some()
}

/// Rough limits on guessing: login and enrolment attempts per minute, per
/// client address and per name tried (`keys`, e.g. `login-addr:10.1.2.3` and
/// `login-user:alice`). Counted in PostgreSQL (`auth_attempts`, migration
/// V11), so every service instance behind a load balancer counts against the
/// same limit; one statement per check. Each attempt is counted, a refused
/// one too, then refused when any key is over `per_minute` in the last
/// minute: a sliding window estimated from the current minute's count and
/// the previous minute's, weighted by the part of it still inside the
/// window. Keys are stored as their SHA-256 (they hold client addresses and
/// the user names tried), sorted so that concurrent checks lock their rows in
/// the same order.
pub async fn check_attempts(state: &AppState, keys: &[String]) -> Result<()> {
    let db = state.db().await?;
    count_attempts(&db, keys, state.settings.policy.auth_attempts_per_minute).await
}

/// Counts one attempt against every key and refuses ([`Error::TooManyAttempts`])
/// when any is over `per_minute`: [`check_attempts`] on a given connection.
pub async fn count_attempts(db: &deadpool_postgres::ClientWrapper, keys: &[String], per_minute: u32) -> Result<()> {
    let mut hashed: Vec<(Vec<u8>, &str)> =
        keys.iter().map(|k| (Sha256::digest(k.as_bytes()).to_vec(), k.split(':').next().unwrap_or(""))).collect();
    hashed.sort();
    hashed.dedup_by(|a, b| a.0 == b.0);
    let hashes: Vec<&[u8]> = hashed.iter().map(|(h, _)| h.as_slice()).collect();
    let statement = db.prepare_cached(COUNT_ATTEMPTS).await?;
    let rows = db.query(&statement, &[&hashes]).await?;
    let limit = f64::from(per_minute.max(1));
    for row in rows {
        let hash: Vec<u8> = row.get(0);
        let recent: f64 = row.get(1);
        if recent > limit {
            let kind = hashed.iter().find(|(h, _)| *h == hash).map_or("", |(_, kind)| *kind);
            tracing::warn!(kind, "too many attempts");
            return Err(Error::TooManyAttempts);
        }
    }
    Ok(())
}

/// One upsert per key in this minute's window (in the order of `$1`), and
/// each key's attempts in the last sixty seconds: this minute's, and the
/// previous minute's in the proportion of it still inside them. The
/// previous window is read as it was before the statement (it is not one
/// the upsert touches).
const COUNT_ATTEMPTS: &str = "
WITH counted AS (
    INSERT INTO auth_attempts AS a (key_hash, window_start, attempts)
    SELECT key_hash, date_trunc('minute', now()), 1 FROM unnest($1::bytea[]) WITH ORDINALITY AS k (key_hash, n)
     ORDER BY n
    ON CONFLICT (key_hash, window_start) DO UPDATE SET attempts = a.attempts + 1
    RETURNING a.key_hash, a.window_start, a.attempts)
SELECT c.key_hash,
       c.attempts + coalesce(p.attempts, 0) * (1 - extract(epoch FROM now() - c.window_start)::float8 / 60)
  FROM counted c
  LEFT JOIN auth_attempts p ON p.key_hash = c.key_hash AND p.window_start = c.window_start - interval '1 minute'";

/// How long counted attempts are kept: the window and the one before it are
/// all [`count_attempts`] reads; a few minutes more cost nothing.
pub const ATTEMPTS_KEPT_MINUTES: i32 = 5;

/// Deletes the attempt counts of windows that no check reads any more
/// (older than [`ATTEMPTS_KEPT_MINUTES`]); returns how many. The service's
/// housekeeping calls it every minute.
pub async fn remove_old_attempts(db: &tokio_postgres::Client) -> Result<u64> {
    Ok(db
        .execute(
            "DELETE FROM auth_attempts
              WHERE window_start < date_trunc('minute', now()) - make_interval(mins => $1)",
            &[&ATTEMPTS_KEPT_MINUTES],
        )
        .await?)
}

pub(crate) fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// An enrolled, unrevoked device, with the locations it serves.
#[derive(Clone, Debug)]
pub struct DeviceAuth {
    pub device_id: Uuid,
    pub locations: Vec<Uuid>,
}

const NO_DEVICE: &str = "This request needs the workstation's device credential (Authorization: Bearer wbd1_...). Enrol the workstation first.";
const BAD_DEVICE: &str =
    "The device credential is not valid, or this workstation's enrolment was revoked. Ask IT to enrol it again.";

impl FromRequestParts<Arc<AppState>> for DeviceAuth {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self> {
        let credential = bearer(parts).ok_or(Error::Unauthorized(NO_DEVICE))?;
        device_auth(state, credential).await
    }
}

/// Checks a device credential: the device, enrolled and not revoked, with its locations.
pub(crate) async fn device_auth(state: &AppState, credential: &str) -> Result<DeviceAuth> {
    let device_id = parse_device_credential(credential).ok_or(Error::Unauthorized(BAD_DEVICE))?;
    let db = state.db().await?;
    let row = db
        .query_opt(
            "SELECT d.credential_hash, d.revoked_at IS NOT NULL,
                    coalesce(array_agg(l.location_id) FILTER (WHERE l.location_id IS NOT NULL), '{}')
               FROM devices d LEFT JOIN device_locations l ON l.device_id = d.id
              WHERE d.id = $1 GROUP BY d.id",
            &[&device_id],
        )
        .await?;
    let Some(row) = row else { return Err(Error::Unauthorized(BAD_DEVICE)) };
    let hash: String = row.get(0);
    let revoked: bool = row.get(1);
    if revoked || hash != digest(credential) {
        tracing::info!(device = %device_id, revoked, "device credential refused");
        return Err(Error::Unauthorized(BAD_DEVICE));
    }
    Ok(DeviceAuth { device_id, locations: row.get(2) })
}

fn parse_device_credential(credential: &str) -> Option<Uuid> {
    let mut parts = credential.split('_');
    let (prefix, id, secret) = (parts.next()?, parts.next()?, parts.next()?);
    (prefix == DEVICE_PREFIX && secret.len() == 64 && parts.next().is_none()).then_some(())?;
    Uuid::try_parse(id).ok()
}

/// A logged-in user whose token has not expired, on a device still enrolled.
#[derive(Clone, Debug)]
pub struct UserAuth {
    pub user_id: Uuid,
    pub username: String,
    pub roles: Vec<Role>,
    pub device_id: Uuid,
    pub expires_at: DateTime<Utc>,
}

impl UserAuth {
    pub fn require(&self, role: Role) -> Result<()> {
        if self.roles.contains(&role) {
            Ok(())
        } else {
            tracing::info!(user = %self.user_id, needed = role.as_str(), "role missing");
            Err(Error::Forbidden(match role {
                Role::Admin => "This needs the admin role.",
                Role::PrivacyOfficer => "This needs the privacy officer role.",
                Role::Integration => "This needs the integration role.",
                Role::Clinician => "This needs the clinician role.",
            }))
        }
    }
}

const NO_TOKEN: &str = "This request needs a login token (Authorization: Bearer wbu1_...). Log in first.";
const BAD_TOKEN: &str = "The login token is not valid or has expired. Log in again.";

impl FromRequestParts<Arc<AppState>> for UserAuth {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self> {
        let token = bearer(parts).ok_or(Error::Unauthorized(NO_TOKEN))?;
        if !token.starts_with(TOKEN_PREFIX) {
            return Err(Error::Unauthorized(NO_TOKEN));
        }
        let db = state.db().await?;
        let row = db
            .query_opt(
                "SELECT s.user_id, u.username, u.roles, s.device_id, s.expires_at
                   FROM sessions s JOIN users u ON u.id = s.user_id JOIN devices d ON d.id = s.device_id
                  WHERE s.token_hash = $1 AND s.expires_at > now() AND NOT u.disabled AND d.revoked_at IS NULL",
                &[&digest(token)],
            )
            .await?;
        let Some(row) = row else { return Err(Error::Unauthorized(BAD_TOKEN)) };
        let roles: Vec<String> = row.get(2);
        Ok(UserAuth {
            user_id: row.get(0),
            username: row.get(1),
            roles: roles.iter().filter_map(|r| Role::parse(r)).collect(),
            device_id: row.get(3),
            expires_at: row.get(4),
        })
    }
}

/// An integration client (an interface engine, a regional record): a user
/// with the integration role, logged in without a workstation. Nothing else
/// reaches the FHIR API: not a device credential, not a clinician's
/// workstation session.
#[derive(Clone, Debug)]
pub struct IntegrationAuth {
    pub user_id: Uuid,
    pub username: String,
}

const DEVICE_NOT_FOR_FHIR: &str = "A workstation's device credential cannot use the FHIR API. Integration clients log in as a user with the integration role (POST /v1/login without a device credential) and send that token.";
const NOT_INTEGRATION: &str =
    "The FHIR API is for integration clients: log in as a user with the integration role, without a workstation.";

/// The integration client a FHIR request comes from.
pub async fn integration_auth(state: &AppState, parts: &Parts) -> Result<IntegrationAuth> {
    let token = bearer(parts).ok_or(Error::Unauthorized(NO_TOKEN))?;
    if token.starts_with(DEVICE_PREFIX) {
        return Err(Error::Unauthorized(DEVICE_NOT_FOR_FHIR));
    }
    if !token.starts_with(TOKEN_PREFIX) {
        return Err(Error::Unauthorized(NO_TOKEN));
    }
    let db = state.db().await?;
    let row = db
        .query_opt(
            "SELECT s.user_id, u.username, u.roles, s.device_id IS NULL
               FROM sessions s JOIN users u ON u.id = s.user_id
              WHERE s.token_hash = $1 AND s.expires_at > now() AND NOT u.disabled",
            &[&digest(token)],
        )
        .await?;
    let Some(row) = row else { return Err(Error::Unauthorized(BAD_TOKEN)) };
    let roles: Vec<String> = row.get(2);
    let without_device: bool = row.get(3);
    if !without_device || !roles.iter().any(|r| r == Role::Integration.as_str()) {
        tracing::info!(user = %row.get::<_, Uuid>(0), "FHIR API refused to a non-integration session");
        return Err(Error::Forbidden(NOT_INTEGRATION));
    }
    Ok(IntegrationAuth { user_id: row.get(0), username: row.get(1) })
}

/// The header that carries the device credential when `Authorization`
/// holds a user's login token.
pub const DEVICE_HEADER: &str = "x-wardbook-device";

const NO_DEVICE_HEADER: &str = "This request needs the workstation's device credential in the X-Wardbook-Device header as well as a login token. Update Wardbook.";
const OTHER_DEVICE: &str = "The login token was issued on another workstation. Sign in again on this one.";

/// Both at once, for the most sensitive requests (break-the-glass): a
/// clinician's login token in `Authorization` and the device credential of
/// the same workstation in [`DEVICE_HEADER`]. A stolen token alone is not
/// enough.
#[derive(Clone, Debug)]
pub struct UserOnDevice {
    pub user: UserAuth,
    pub device: DeviceAuth,
}

impl FromRequestParts<Arc<AppState>> for UserOnDevice {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self> {
        let user = UserAuth::from_request_parts(parts, state).await?;
        let credential = parts
            .headers
            .get(DEVICE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .ok_or(Error::Unauthorized(NO_DEVICE_HEADER))?;
        let device = device_auth(state, credential).await?;
        if device.device_id != user.device_id {
            tracing::info!(user = %user.user_id, device = %device.device_id, "login token used from another device");
            return Err(Error::Unauthorized(OTHER_DEVICE));
        }
        Ok(UserOnDevice { user, device })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", Some(&hash)));
        assert!(!verify_password("wrong", Some(&hash)));
        assert!(!verify_password("wardbook-dummy-password", None), "an unknown user never verifies");
    }

    #[test]
    fn credentials_parse_back_to_their_device_and_never_debug_print() {
        let id = Uuid::now_v7();
        let (credential, hash) = new_device_credential(id);
        assert_eq!(parse_device_credential(credential.expose()), Some(id));
        assert_eq!(digest(credential.expose()), hash);
        assert_eq!(format!("{credential:?}"), "Secret(***)");
        assert_eq!(parse_device_credential("wbd1_nothex_x"), None);
    }

    #[test]
    fn enrolment_codes_ignore_case_and_dashes() {
        let (code, hash) = new_enrolment_code();
        assert_eq!(code.expose().len(), 24);
        assert_eq!(digest(&normalise_code(&code.expose().to_lowercase().replace('-', " "))), hash);
    }
}
