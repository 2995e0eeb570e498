//! The settings and about screen: what this workstation runs with and which
//! of it IT's policy file fixed (shown locked in the UI). No PHI.

use wardbook_protocol::{SettingSource, SettingValue, SettingsView};

use crate::config::{Config, Source};
use crate::store::Store;

fn source(s: Source) -> SettingSource {
    match s {
        Source::Default => SettingSource::Default,
        Source::UserSettings => SettingSource::UserSettings,
        Source::Environment => SettingSource::Environment,
        Source::Policy => SettingSource::Policy,
    }
}

/// The settings screen's view of `config`; `enrolled` and `locations` come
/// from the sync state.
pub fn view(config: &Config, store: &Store, enrolled: bool, locations: Vec<String>) -> SettingsView {
    let mut effective: std::collections::BTreeMap<&str, SettingValue> = config
        .effective()
        .into_iter()
        .map(|e| (e.key, SettingValue { value: e.value, locked: e.source == Source::Policy, source: source(e.source) }))
        .collect();
    let mut take = |key: &str| {
        effective.remove(key).unwrap_or(SettingValue { value: None, locked: false, source: SettingSource::Default })
    };
    SettingsView {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        environment: config.environment,
        environment_source: source(config.source("environment")),
        policy_file: config.policy_file.as_ref().map(|p| p.display().to_string()),
        user_settings_file: config.user_settings_file.as_ref().map(|p| p.display().to_string()),
        server_url: take("server_url"),
        ca_file: take("ca_file"),
        data_dir: take("data_dir"),
        idle_lock_minutes: take("idle_lock_minutes"),
        offline_login_hours: take("offline_login_hours"),
        data_age_warning_minutes: take("data_age_warning_minutes"),
        break_glass_minutes: take("break_glass_minutes"),
        audit_retention_days: take("audit_retention_days"),
        sync_interval_seconds: take("sync_interval_seconds"),
        updates_allowed: take("updates_allowed"),
        enrolled,
        device_id: store.device_id().to_string(),
        locations,
    }
}

#[cfg(test)]
mod tests {
    use crate::config::settings_minutes;
    use std::time::Duration;

    #[test]
    fn minutes_are_whole_unless_a_test_shortened_them() {
        assert_eq!(settings_minutes(Duration::from_secs(600)), "10");
        assert_eq!(settings_minutes(Duration::from_secs(30)), "0.50");
    }
}
