//! The settings and about screen: what this workstation runs with and which
//! of it IT's policy file fixed (shown locked in the UI). No PHI.

use wardbook_protocol::{SettingValue, SettingsView};

use crate::config::Config;
use crate::store::Store;

fn value(effective: Option<String>, from_policy: bool) -> SettingValue {
    SettingValue { value: effective, locked: from_policy }
}

fn number(effective: impl ToString, from_policy: bool) -> SettingValue {
    value(Some(effective.to_string()), from_policy)
}

/// The settings screen's view of `config`; `enrolled` and `locations` come
/// from the sync state.
pub fn view(config: &Config, store: &Store, enrolled: bool, locations: Vec<String>) -> SettingsView {
    let p = &config.policy;
    SettingsView {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        environment: config.environment,
        data_dir: config.data_dir.display().to_string(),
        policy_file: config.policy_file.as_ref().map(|p| p.display().to_string()),
        server_url: value(config.server_url.clone(), p.server_url.is_some()),
        ca_file: value(config.ca_file.as_ref().map(|f| f.display().to_string()), p.ca_file.is_some()),
        idle_lock_minutes: number(format_minutes(config.idle_lock.as_secs()), p.idle_lock_minutes.is_some()),
        offline_login_hours: number(config.offline_login_hours, p.offline_login_hours.is_some()),
        data_age_warning_minutes: number(config.data_age_warning_minutes, p.data_age_warning_minutes.is_some()),
        break_glass_minutes: number(config.break_glass_minutes, p.break_glass_minutes.is_some()),
        audit_retention_days: number(config.audit_retention_days, p.audit_retention_days.is_some()),
        enrolled,
        device_id: store.device_id().to_string(),
        locations,
    }
}

/// Whole minutes as a number, a shorter test setting as e.g. "0.5".
fn format_minutes(seconds: u64) -> String {
    if seconds.is_multiple_of(60) { (seconds / 60).to_string() } else { format!("{:.2}", seconds as f64 / 60.0) }
}

#[cfg(test)]
mod tests {
    use super::format_minutes;

    #[test]
    fn minutes_are_whole_unless_a_test_shortened_them() {
        assert_eq!(format_minutes(600), "10");
        assert_eq!(format_minutes(30), "0.50");
    }
}
