//! Online login of a user: a local account's password, a password checked
//! against an LDAP directory, or (`crate::identity::oidc_flow`) an OpenID
//! Connect sign-in. Each ends here, in one session opened the same way.

use chrono::{Duration, Utc};
use uuid::Uuid;
use wardbook_protocol::api::{LoginResponse, OfflineUnlockPolicy, Role, UserInfo};

use crate::AppState;
use crate::auth::{self, DeviceAuth};
use crate::error::{Error, Result};
use crate::identity::users::{self, Account, DisabledBy};
use crate::identity::{Provider, ProviderError};

pub(crate) const BAD_LOGIN: &str = "The user name or password is wrong, or the account is disabled.";
const NO_DEVICE: &str = "This request needs the workstation's device credential (Authorization: Bearer wbd1_...). Enrol the workstation first.";
const INTEGRATION_ON_DEVICE: &str =
    "An integration account cannot sign in at a workstation. Use a clinician's account here.";
const LOCAL_DISABLED: &str = "This service does not accept local accounts for clinicians: sign in with the hospital's sign-in (the provider list on the sign-in screen).";
const UNKNOWN_PROVIDER: &str =
    "This service has no password sign-in provider of that id. Choose one from the sign-in screen's list.";
const DIRECTORY_DISABLED: &str = "The account is disabled in the hospital directory. Ask the service desk.";

/// Checks the password and opens a session. With `provider`, the LDAP
/// directory of that id checks it (and the Wardbook user is created or
/// refreshed from the directory); without, a local account's Argon2id hash
/// does (on the blocking pool; unknown users cost the same time as known).
pub async fn login(
    state: &AppState,
    device: Option<&DeviceAuth>,
    username: &str,
    password: &str,
    provider: Option<&str>,
) -> Result<LoginResponse> {
    let account = match provider {
        None => local_account(state, device, username, password).await?,
        Some(id) => directory_account(state, device, id, username, password).await?,
    };
    open_session(state, device, account).await
}

async fn local_account(
    state: &AppState,
    device: Option<&DeviceAuth>,
    username: &str,
    password: &str,
) -> Result<Account> {
    let username = username.trim().to_lowercase();
    // No user name holds a NUL character (PostgreSQL text cannot): no such user.
    // Directory users have no password here: they never match.
    let row = if username.contains('\0') {
        None
    } else {
        // The connection goes back to the pool before the password check:
        // none is held while Argon2id runs (tens of milliseconds, each), so
        // a burst of sign-ins does not starve every other request of one.
        let db = state.db().await?;
        db.query_opt(
            "SELECT id, display_name, password_hash, roles FROM users
              WHERE username = $1 AND NOT disabled AND password_hash IS NOT NULL",
            &[&username],
        )
        .await?
    };
    let stored: Option<String> = row.as_ref().map(|r| r.get(2));
    let password = zeroize::Zeroizing::new(password.to_owned());
    let turn = auth::password_check_turn().await;
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&password, stored.as_deref()))
        .await
        .map_err(|_| Error::Internal("password check task failed".into()))?;
    drop(turn);
    let Some(row) = row.filter(|_| ok) else {
        tracing::info!(device = ?device.map(|d| d.device_id), "login refused");
        return Err(Error::Unauthorized(BAD_LOGIN));
    };
    let roles: Vec<String> = row.get(3);
    let roles: Vec<Role> = roles.iter().filter_map(|r| Role::parse(r)).collect();
    // The emergency admin and system accounts stay local whatever the setting.
    let local_allowed = state.settings.local_accounts_for_clinicians
        || roles.iter().any(|r| matches!(r, Role::Admin | Role::Integration));
    if !local_allowed {
        tracing::info!(user = %row.get::<_, Uuid>(0), "login refused: local accounts are off for clinicians");
        return Err(Error::Forbidden(LOCAL_DISABLED));
    }
    Ok(Account { id: row.get(0), username, display_name: row.get(1), roles })
}

async fn directory_account(
    state: &AppState,
    device: Option<&DeviceAuth>,
    provider: &str,
    username: &str,
    password: &str,
) -> Result<Account> {
    let Some((config, Provider::Ldap(ldap))) = state.providers.get(provider) else {
        return Err(Error::NotFound(UNKNOWN_PROVIDER));
    };
    match ldap.authenticate(username, password).await {
        Ok(who) => {
            let db = state.db().await?;
            users::provision(&db, config, &who).await
        }
        Err(ProviderError::Disabled { .. }) => {
            // A leaver: disable the Wardbook account too (sessions end, and
            // workstations drop its offline verifier at their next sync).
            let db = state.db().await?;
            let name = username.trim().to_lowercase();
            let row =
                db.query_opt("SELECT id FROM users WHERE provider = $1 AND username = $2", &[&provider, &name]).await?;
            if let Some(row) = row {
                users::disable(&db, row.get(0), DisabledBy::Directory).await?;
            }
            tracing::info!(device = ?device.map(|d| d.device_id), provider, "login refused: disabled in the directory");
            Err(Error::Unauthorized(DIRECTORY_DISABLED))
        }
        Err(e) => Err(provider_error(e, device)),
    }
}

/// What a provider's refusal or failure becomes for the client.
pub(crate) fn provider_error(e: ProviderError, device: Option<&DeviceAuth>) -> Error {
    match e {
        ProviderError::Refused { provider, why } => {
            tracing::info!(device = ?device.map(|d| d.device_id), provider = %provider, why, "sign-in refused by the provider");
            Error::Unauthorized(BAD_LOGIN)
        }
        ProviderError::Disabled { .. } => Error::Unauthorized(DIRECTORY_DISABLED),
        e @ (ProviderError::Unreachable { .. } | ProviderError::Misconfigured { .. }) => {
            tracing::warn!(error = %e, "identity provider unavailable for a sign-in");
            Error::ProviderUnavailable(format!(
                "{e} Try again shortly; a workstation can sign in offline meanwhile. IT: see `wardbook-server health`."
            ))
        }
    }
}

/// Opens a session for an account just vouched for: bound to the device, or
/// without one for an integration account only.
pub(crate) async fn open_session(
    state: &AppState,
    device: Option<&DeviceAuth>,
    account: Account,
) -> Result<LoginResponse> {
    let integration = account.roles.contains(&Role::Integration);
    // An integration account never opens a workstation session, and only
    // it logs in without one: a system's credential is not a clinician's.
    if device.is_some() == integration {
        tracing::info!(user = %account.id, "login refused: integration accounts log in without a device, others with one");
        return Err(Error::Unauthorized(if integration { INTEGRATION_ON_DEVICE } else { NO_DEVICE }));
    }
    let db = state.db().await?;
    let (token, hash) = auth::new_token();
    let now = Utc::now();
    let expires_at = now + state.settings.policy.session_ttl();
    db.execute(
        "INSERT INTO sessions (token_hash, user_id, device_id, expires_at) VALUES ($1, $2, $3, $4)",
        &[&hash, &account.id, &device.map(|d| d.device_id), &expires_at],
    )
    .await?;
    db.execute("UPDATE users SET last_sign_in_at = now() WHERE id = $1", &[&account.id]).await?;
    // Expired sessions are useless; clear them as we go.
    db.execute("DELETE FROM sessions WHERE expires_at < now() - interval '1 day'", &[]).await?;
    tracing::info!(user = %account.id, device = ?device.map(|d| d.device_id), "login");
    let policy = &state.settings.policy;
    Ok(LoginResponse {
        token: token.expose().to_owned(),
        expires_at,
        user: UserInfo {
            id: account.id,
            username: account.username,
            display_name: account.display_name,
            roles: account.roles,
        },
        offline_unlock: OfflineUnlockPolicy {
            allowed_until: now + Duration::hours(i64::from(policy.offline_unlock_hours)),
            max_failed_attempts: policy.offline_max_failed_attempts,
            pin_min_length: policy.pin_min_length,
        },
    })
}
