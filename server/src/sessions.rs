//! Online login of a user on an enrolled workstation.

use chrono::{Duration, Utc};
use uuid::Uuid;
use wardbook_protocol::api::{LoginResponse, OfflineUnlockPolicy, Role, UserInfo};

use crate::AppState;
use crate::auth::{self, DeviceAuth};
use crate::error::{Error, Result};

const BAD_LOGIN: &str = "The user name or password is wrong, or the account is disabled.";
const NO_DEVICE: &str = "This request needs the workstation's device credential (Authorization: Bearer wbd1_...). Enrol the workstation first.";
const INTEGRATION_ON_DEVICE: &str =
    "An integration account cannot sign in at a workstation. Use a clinician's account here.";

/// Checks the password (Argon2id, on the blocking pool) and opens a session
/// bound to the device. Unknown users cost the same time as known ones.
/// Without a device, only an integration user may log in: that session
/// reaches the FHIR API and nothing else (`auth::integration_auth`).
pub async fn login(
    state: &AppState,
    device: Option<&DeviceAuth>,
    username: &str,
    password: &str,
) -> Result<LoginResponse> {
    let username = username.trim().to_lowercase();
    let db = state.db().await?;
    // No user name holds a NUL character (PostgreSQL text cannot): no such user.
    let row = if username.contains('\0') {
        None
    } else {
        db.query_opt(
            "SELECT id, display_name, password_hash, roles FROM users WHERE username = $1 AND NOT disabled",
            &[&username],
        )
        .await?
    };
    let stored: Option<String> = row.as_ref().map(|r| r.get(2));
    let password = zeroize::Zeroizing::new(password.to_owned());
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&password, stored.as_deref()))
        .await
        .map_err(|_| Error::Internal("password check task failed".into()))?;
    let Some(row) = row.filter(|_| ok) else {
        tracing::info!(device = ?device.map(|d| d.device_id), "login refused");
        return Err(Error::Unauthorized(BAD_LOGIN));
    };
    let user_id: Uuid = row.get(0);
    let roles: Vec<String> = row.get(3);
    let integration = roles.iter().any(|r| r == Role::Integration.as_str());
    // An integration account never opens a workstation session, and only
    // it logs in without one: a system's credential is not a clinician's.
    if device.is_some() == integration {
        tracing::info!(user = %user_id, "login refused: integration accounts log in without a device, others with one");
        return Err(Error::Unauthorized(if integration { INTEGRATION_ON_DEVICE } else { NO_DEVICE }));
    }
    let (token, hash) = auth::new_token();
    let now = Utc::now();
    let expires_at = now + state.settings.policy.session_ttl();
    db.execute(
        "INSERT INTO sessions (token_hash, user_id, device_id, expires_at) VALUES ($1, $2, $3, $4)",
        &[&hash, &user_id, &device.map(|d| d.device_id), &expires_at],
    )
    .await?;
    // Expired sessions are useless; clear them as we go.
    db.execute("DELETE FROM sessions WHERE expires_at < now() - interval '1 day'", &[]).await?;
    tracing::info!(user = %user_id, device = ?device.map(|d| d.device_id), "login");
    Ok(LoginResponse {
        token: token.expose().to_owned(),
        expires_at,
        user: UserInfo {
            id: user_id,
            username,
            display_name: row.get(1),
            roles: roles.iter().filter_map(|r| Role::parse(r)).collect(),
        },
        offline_unlock: OfflineUnlockPolicy {
            allowed_until: now + Duration::hours(i64::from(state.settings.policy.offline_unlock_hours)),
            max_failed_attempts: state.settings.policy.offline_max_failed_attempts,
        },
    })
}
