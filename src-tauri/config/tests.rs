//! The layers and their precedence, key by key; the files' errors.

use std::collections::HashMap;

use super::*;

/// A config from `vars` only: unless a test names them, the policy and
/// user settings files are empty files (this machine's are never read).
fn config_in(dir: &Path, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    for (var, file) in [("WARDBOOK_POLICY_FILE", "empty-policy.toml"), ("WARDBOOK_SETTINGS_FILE", "empty-user.toml")] {
        if !map.contains_key(var) {
            let path = dir.join(file);
            std::fs::write(&path, "").expect("write");
            map.insert(var.to_owned(), path.display().to_string());
        }
    }
    Config::from_vars(|k| map.get(k).cloned())
}

fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().expect("dir");
    config_in(dir.path(), vars)
}

fn value(c: &Config, key: &str) -> (String, Source) {
    let e = c.effective().into_iter().find(|e| e.key == key).expect("listed");
    (e.value.unwrap_or_default(), e.source)
}

/// A distinct valid value of `key` for each layer: (toml, env, shown).
fn sample(key: &layer::Key, layer: usize) -> (String, String, String) {
    match key.kind {
        layer::Kind::Number { min, .. } => {
            let n = (min + layer as u32).to_string();
            (n.clone(), n.clone(), n)
        }
        layer::Kind::Url => {
            let url = format!("https://layer{layer}.hospital.invalid");
            (format!("\"{url}\""), url.clone(), url)
        }
        layer::Kind::Path => {
            let path = format!("/srv/layer{layer}");
            (format!("\"{path}\""), path.clone(), path)
        }
        layer::Kind::Environment => {
            let env = ["test", "development", "production"][layer % 3];
            (format!("\"{env}\""), env.to_owned(), env.to_owned())
        }
        layer::Kind::Flag => {
            let flag = layer.is_multiple_of(2).to_string();
            (flag.clone(), flag.clone(), flag)
        }
        layer::Kind::TimeZone => {
            let zone = ["Europe/London", "America/New_York", "Asia/Tokyo"][layer % 3];
            (format!("\"{zone}\""), zone.to_owned(), zone.to_owned())
        }
    }
}

/// The precedence table, key by key: defaults < user settings <
/// environment < policy.
#[test]
fn precedence_is_defaults_then_user_settings_then_environment_then_policy_for_every_key() {
    for key in &KEYS {
        let dir = tempfile::tempdir().expect("dir");
        let user = dir.path().join("settings.toml");
        let policy = dir.path().join("policy.toml");
        let (user_toml, _, user_shown) = sample(key, 0);
        let (_, env_value, env_shown) = sample(key, 1);
        let (policy_toml, _, policy_shown) = sample(key, 2);
        let files = |with_policy: bool| {
            std::fs::write(&user, format!("{} = {user_toml}\n", key.name)).expect("write");
            let text = if with_policy { format!("{} = {policy_toml}\n", key.name) } else { String::new() };
            std::fs::write(&policy, text).expect("write");
        };
        let base = [
            ("WARDBOOK_SETTINGS_FILE", user.to_str().expect("utf-8")),
            ("WARDBOOK_POLICY_FILE", policy.to_str().expect("utf-8")),
        ];

        let defaults = config_in(dir.path(), &[]).expect("defaults");
        assert_eq!(value(&defaults, key.name).1, Source::Default, "{}", key.name);

        files(false);
        let c = config_in(dir.path(), &base).expect("user");
        assert_eq!(value(&c, key.name), (user_shown.clone(), Source::UserSettings), "{}", key.name);
        assert!(!c.policy.sets(key.name));

        let with_env: Vec<(&str, &str)> = base.iter().copied().chain([(key.env, env_value.as_str())]).collect();
        let c = config_in(dir.path(), &with_env).expect("env");
        assert_eq!(value(&c, key.name), (env_shown, Source::Environment), "{}", key.name);

        files(true);
        let c = config_in(dir.path(), &with_env).expect("policy");
        assert_eq!(value(&c, key.name), (policy_shown, Source::Policy), "{}", key.name);
        assert!(c.policy.sets(key.name), "{} is shown locked", key.name);
        assert_eq!(c.policy_file.as_deref(), Some(policy.as_path()));
        assert_eq!(c.user_settings_file.as_deref(), Some(user.as_path()));
    }
}

#[test]
fn defaults_without_any_settings() {
    let c = config(&[]).expect("config");
    assert_eq!(c.environment, Environment::Production);
    assert_eq!(c.key_location, KeyLocation::OsKeyring);
    assert_eq!(c.idle_lock, Duration::from_secs(600));
    assert_eq!((c.offline_login_hours, c.break_glass_minutes, c.data_age_warning_minutes), (72, 60, 120));
    assert_eq!((c.audit_retention_days, c.sync_interval, c.updates_allowed), (30, Duration::from_secs(60), false));
    assert_eq!(c.server_url, None);
    assert_eq!(Some(c.data_dir.clone()), default_data_dir());
    assert!(c.effective().iter().all(|e| e.source == Source::Default));
}

#[test]
fn a_policy_setting_production_forbids_the_test_only_variables() {
    let dir = tempfile::tempdir().expect("dir");
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "environment = \"production\"\n").expect("write");
    let path = policy.to_str().expect("utf-8");
    let err = config(&[("WARDBOOK_ENV", "test"), ("WARDBOOK_POLICY_FILE", path), ("WARDBOOK_INSECURE_KEY_FILE", "/k")])
        .expect_err("refused");
    assert!(matches!(err, ConfigError::InsecureKeyFileInProduction), "{err}");
}

#[test]
fn an_invalid_file_names_the_file_the_line_and_the_key() {
    let dir = tempfile::tempdir().expect("dir");
    let policy = dir.path().join("policy.toml");
    let path = policy.to_str().expect("utf-8");
    std::fs::write(&policy, "# ward 7\nserver_url = \"https://sync.hospital.invalid\"\nidle_lock_minutes = 0\n")
        .expect("write");
    let err = config(&[("WARDBOOK_POLICY_FILE", path)]).expect_err("refused");
    let message = err.to_string();
    assert_eq!(err.key(), Some("idle_lock_minutes"));
    for part in [path, "line 3", "idle_lock_minutes", "from 1 to 240", "Ask IT", "does not start"] {
        assert!(message.contains(part), "{part:?} in {message}");
    }
    assert!(!message.contains("sync.hospital"), "no other values echoed: {message}");

    let user = dir.path().join("settings.toml");
    std::fs::write(&user, "\n\nidle_lock = 5\n").expect("write");
    let err = config(&[("WARDBOOK_SETTINGS_FILE", user.to_str().expect("utf-8"))]).expect_err("refused");
    let message = err.to_string();
    assert!(message.contains("user settings file") && message.contains("line 3"), "{message}");
    assert!(message.contains("`idle_lock` is not a Wardbook setting"), "{message}");

    let missing = dir.path().join("absent.toml");
    let err = config(&[("WARDBOOK_POLICY_FILE", missing.to_str().expect("utf-8"))]).expect_err("refused");
    assert!(matches!(err, ConfigError::Unreadable { .. }), "{err}");
}

#[test]
fn idle_lock_seconds_only_outside_production_and_never_over_the_policy() {
    let c = config(&[("WARDBOOK_ENV", "test"), ("WARDBOOK_IDLE_LOCK_SECONDS", "3")]).expect("config");
    assert_eq!((c.idle_lock, c.source("idle_lock_minutes")), (Duration::from_secs(3), Source::Environment));
    let err = config(&[("WARDBOOK_IDLE_LOCK_SECONDS", "3")]).expect_err("refused");
    assert!(matches!(err, ConfigError::IdleLockOverrideInProduction), "{err}");
    for bad in ["0", "soon", "14401"] {
        let err = config(&[("WARDBOOK_ENV", "test"), ("WARDBOOK_IDLE_LOCK_SECONDS", bad)]).expect_err(bad);
        assert!(err.to_string().contains("WARDBOOK_IDLE_LOCK_SECONDS"), "{err}");
    }
    let dir = tempfile::tempdir().expect("dir");
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "idle_lock_minutes = 5\n").expect("write");
    let c = config(&[
        ("WARDBOOK_ENV", "test"),
        ("WARDBOOK_IDLE_LOCK_SECONDS", "2"),
        ("WARDBOOK_POLICY_FILE", policy.to_str().expect("utf-8")),
    ])
    .expect("config");
    assert_eq!((c.idle_lock, c.source("idle_lock_minutes")), (Duration::from_secs(300), Source::Policy));
}

#[test]
fn a_bad_variable_is_named() {
    let err = config(&[("WARDBOOK_ENV", "prod")]).expect_err("refused");
    assert!(err.to_string().contains("WARDBOOK_ENV is not valid"), "{err}");
    assert!(err.to_string().contains("\"production\""), "{err}");
}

#[test]
fn insecure_key_file_only_outside_production() {
    assert!(matches!(
        config(&[("WARDBOOK_INSECURE_KEY_FILE", "/tmp/k")]),
        Err(ConfigError::InsecureKeyFileInProduction)
    ));
    let c = config(&[("WARDBOOK_ENV", "development"), ("WARDBOOK_INSECURE_KEY_FILE", "/tmp/k")]).expect("config");
    assert_eq!(c.key_location, KeyLocation::InsecureFile(PathBuf::from("/tmp/k")));
}

/// The example IT copies (`packaging/policy.toml.example`, shipped in
/// the packages) and the IT guide's table cover every key, and the
/// example's values are valid.
#[test]
fn the_shipped_example_and_the_it_guide_list_every_key() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = std::fs::read_to_string(root.join("packaging/policy.toml.example")).expect("example");
    let uncommented: String = example
        .lines()
        .filter_map(|l| l.strip_prefix('#').filter(|rest| rest.contains(" = ")))
        .map(|l| format!("{l}\n"))
        .collect();
    let layer = Layer::from_toml(&uncommented, Some(Path::new("/home/kiosk"))).expect("the example is valid");
    let guide = std::fs::read_to_string(root.join("docs/it-guide.md")).expect("IT guide");
    for key in &KEYS {
        assert!(layer.sets(key.name), "{} is in the example", key.name);
        assert!(guide.contains(&format!("`{}`", key.name)), "{} is in the IT guide", key.name);
        assert!(guide.contains(&format!("`{}`", key.env)), "{} is in the IT guide", key.env);
        if let layer::Kind::Number { min, max, .. } = key.kind {
            let range = format!("{min}..={max}");
            assert!(example.contains(&range), "{} documents its range {range}", key.name);
        }
    }
}

#[test]
fn the_hospital_time_zone_is_checked_and_a_wrong_one_names_the_setting() {
    let c = config(&[("WARDBOOK_HOSPITAL_TIME_ZONE", "Europe/London"), ("WARDBOOK_NEWS2_MAX_AGE_HOURS", "6")])
        .expect("config");
    assert_eq!(c.clinical.time_zone, chrono_tz::Europe::London);
    assert_eq!(c.clinical.news2_max_age, chrono::Duration::hours(6));
    assert_eq!(value(&c, "hospital_time_zone"), ("Europe/London".to_owned(), Source::Environment));

    let err = config(&[("WARDBOOK_HOSPITAL_TIME_ZONE", "Europe/Londres")]).expect_err("refused");
    assert_eq!(err.key(), Some("WARDBOOK_HOSPITAL_TIME_ZONE"));
    assert!(err.to_string().contains("IANA time zone name"), "{err}");

    let dir = tempfile::tempdir().expect("dir");
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "\nhospital_time_zone = \"Mars/Olympus_Mons\"\n").expect("write");
    let err = config(&[("WARDBOOK_POLICY_FILE", policy.to_str().expect("utf-8"))]).expect_err("refused");
    assert_eq!(err.key(), Some("hospital_time_zone"));
    assert!(err.to_string().contains("line 2"), "{err}");
    let err = config(&[("WARDBOOK_NEWS2_MAX_AGE_HOURS", "73")]).expect_err("refused");
    assert!(err.to_string().contains("from 1 to 72"), "{err}");
}
