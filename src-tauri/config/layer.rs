//! The settings keys, and reading one layer of them: IT's policy file, the
//! user's settings file (both TOML), or the process environment. Every key is
//! optional in every layer; `Config` merges the layers key by key.

use std::collections::BTreeMap;
use std::path::PathBuf;

use toml::Spanned;
use wardbook_protocol::Environment;

/// What a key's value must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An `https://` (or, outside production, `http://`) address.
    Url,
    /// An absolute path; in files, `~/` means the user's home folder.
    Path,
    Environment,
    /// A whole number in `min..=max` of `unit`.
    Number {
        min: u32,
        max: u32,
        unit: &'static str,
    },
    Flag,
    /// An IANA time zone name, e.g. `Europe/London`.
    TimeZone,
}

/// One setting: its name in the TOML files, its environment variable, its
/// kind, its default (as documentation shows it) and its meaning.
#[derive(Clone, Copy, Debug)]
pub struct Key {
    pub name: &'static str,
    pub env: &'static str,
    pub kind: Kind,
    pub default: &'static str,
    pub meaning: &'static str,
}

const fn number(min: u32, max: u32, unit: &'static str) -> Kind {
    Kind::Number { min, max, unit }
}

/// Every key, in the order `wardbook settings` and the IT guide list them.
pub const KEYS: [Key; 13] = [
    Key {
        name: "server_url",
        env: "WARDBOOK_SERVER_URL",
        kind: Kind::Url,
        default: "none",
        meaning: "the sync service",
    },
    Key {
        name: "ca_file",
        env: "WARDBOOK_CA_FILE",
        kind: Kind::Path,
        default: "none",
        meaning: "a PEM file of the hospital's CA, trusted besides the system's",
    },
    Key {
        name: "environment",
        env: "WARDBOOK_ENV",
        kind: Kind::Environment,
        default: "production",
        meaning: "production, development or test",
    },
    Key {
        name: "data_dir",
        env: "WARDBOOK_DATA_DIR",
        kind: Kind::Path,
        default: "the platform's per-user local data folder",
        meaning: "where the encrypted cache lives",
    },
    Key {
        name: "idle_lock_minutes",
        env: "WARDBOOK_IDLE_LOCK_MINUTES",
        kind: number(1, 240, "minutes"),
        default: "10",
        meaning: "an idle session locks after this many minutes",
    },
    Key {
        name: "offline_login_hours",
        env: "WARDBOOK_OFFLINE_LOGIN_HOURS",
        kind: number(1, 720, "hours"),
        default: "72",
        meaning: "how long after an online sign-in a clinician may sign in or unlock offline",
    },
    Key {
        name: "data_age_warning_minutes",
        env: "WARDBOOK_DATA_AGE_WARNING_MINUTES",
        kind: number(1, 10_080, "minutes"),
        default: "120",
        meaning: "the status bar warns when the last sync is older than this",
    },
    Key {
        name: "break_glass_minutes",
        env: "WARDBOOK_BREAK_GLASS_MINUTES",
        kind: number(5, 480, "minutes"),
        default: "60",
        meaning: "the longest a break-the-glass access stays open",
    },
    Key {
        name: "audit_retention_days",
        env: "WARDBOOK_AUDIT_RETENTION_DAYS",
        kind: number(0, 3_650, "days"),
        default: "30",
        meaning: "how long audit events the server has acknowledged stay on the workstation (0: removed once acknowledged)",
    },
    Key {
        name: "sync_interval_seconds",
        env: "WARDBOOK_SYNC_INTERVAL_SECONDS",
        kind: number(1, 86_400, "seconds"),
        default: "60",
        meaning: "how often background sync runs",
    },
    Key {
        name: "updates_allowed",
        env: "WARDBOOK_UPDATES_ALLOWED",
        kind: Kind::Flag,
        default: "false",
        meaning: "whether Wardbook may offer to update itself (false: IT's packages only)",
    },
    Key {
        name: "hospital_time_zone",
        env: "WARDBOOK_HOSPITAL_TIME_ZONE",
        kind: Kind::TimeZone,
        default: "the system's time zone (UTC if it cannot be determined)",
        meaning: "the time zone of the drug chart's clock times (medication due times)",
    },
    Key {
        name: "news2_max_age_hours",
        env: "WARDBOOK_NEWS2_MAX_AGE_HOURS",
        kind: number(1, 72, "hours"),
        default: "12",
        meaning: "a vital sign older than this does not count towards the census's NEWS2 score (shown as incomplete)",
    },
];

/// The key named `name`. Panics on a name not in [`KEYS`]: a programming error.
pub fn key(name: &str) -> &'static Key {
    KEYS.iter().find(|k| k.name == name).unwrap_or_else(|| panic!("no settings key {name}"))
}

/// A checked value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Path(PathBuf),
    Environment(Environment),
    Number(u32),
    Flag(bool),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Text(s) => f.write_str(s),
            Value::Path(p) => write!(f, "{}", p.display()),
            Value::Environment(e) => f.write_str(e.as_str()),
            Value::Number(n) => write!(f, "{n}"),
            Value::Flag(b) => write!(f, "{b}"),
        }
    }
}

/// What is wrong with one layer, and where: the key and, in a file, the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line in the file; `None` for the environment or a whole-file problem.
    pub line: Option<usize>,
    /// The key or variable concerned, when known.
    pub key: Option<String>,
    pub detail: String,
}

/// The keys one layer sets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layer {
    values: BTreeMap<&'static str, Value>,
}

impl Layer {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }

    /// True when this layer sets `name`.
    pub fn sets(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn text(&self, name: &str) -> Option<String> {
        match self.get(name) {
            Some(Value::Text(s)) => Some(s.clone()),
            _ => None,
        }
    }

    pub fn path(&self, name: &str) -> Option<PathBuf> {
        match self.get(name) {
            Some(Value::Path(p)) => Some(p.clone()),
            _ => None,
        }
    }

    pub fn number(&self, name: &str) -> Option<u32> {
        match self.get(name) {
            Some(Value::Number(n)) => Some(*n),
            _ => None,
        }
    }

    pub fn flag(&self, name: &str) -> Option<bool> {
        match self.get(name) {
            Some(Value::Flag(b)) => Some(*b),
            _ => None,
        }
    }

    pub fn environment(&self) -> Option<Environment> {
        match self.get("environment") {
            Some(Value::Environment(e)) => Some(*e),
            _ => None,
        }
    }

    /// Sets a key in code (tests and callers that build layers by hand).
    pub fn with(mut self, name: &str, value: Value) -> Layer {
        self.values.insert(key(name).name, value);
        self
    }

    /// Parses a settings file: a flat TOML table of known keys. `home`
    /// expands a leading `~/` in paths. Problems name the line and the key.
    pub fn from_toml(text: &str, home: Option<&std::path::Path>) -> Result<Layer, Problem> {
        let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        let table: BTreeMap<Spanned<String>, Spanned<toml::Value>> = toml::from_str(text).map_err(|e| Problem {
            line: e.span().map(|s| line_of(s.start)),
            key: None,
            detail: format!("{} (TOML syntax)", e.message().trim_end_matches('\n')),
        })?;
        let mut layer = Layer::default();
        for (name, value) in table {
            let line = Some(line_of(name.span().start));
            let name = name.into_inner();
            let Some(key) = KEYS.iter().find(|k| k.name == name) else {
                let known: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
                return Err(Problem {
                    line,
                    key: Some(name.clone()),
                    detail: format!("`{name}` is not a Wardbook setting (known: {})", known.join(", ")),
                });
            };
            let problem = |detail: String| Problem { line, key: Some(key.name.to_owned()), detail };
            let value = value.into_inner();
            let checked = match (key.kind, value) {
                (Kind::Number { .. }, toml::Value::Integer(n)) => check(key, &n.to_string(), home),
                (Kind::Flag, toml::Value::Boolean(b)) => Ok(Value::Flag(b)),
                (Kind::Url | Kind::Path | Kind::Environment | Kind::TimeZone, toml::Value::String(s)) => {
                    check(key, &s, home)
                }
                (kind, other) => Err(format!("must be {}, not {}", expected(kind), other.type_str())),
            };
            layer.values.insert(key.name, checked.map_err(problem)?);
        }
        Ok(layer)
    }

    /// Reads each key's environment variable through `var`; an empty value
    /// counts as unset. Problems name the variable.
    pub fn from_vars(var: &impl Fn(&str) -> Option<String>) -> Result<Layer, Problem> {
        let mut layer = Layer::default();
        for key in &KEYS {
            let Some(raw) = var(key.env) else { continue };
            let value = check(key, raw.trim(), None).map_err(|detail| Problem {
                line: None,
                key: Some(key.env.to_owned()),
                detail,
            })?;
            layer.values.insert(key.name, value);
        }
        Ok(layer)
    }
}

/// What a value of `kind` looks like, for messages.
fn expected(kind: Kind) -> String {
    match kind {
        Kind::Url => "an https:// address in quotes".into(),
        Kind::Path => "an absolute path in quotes".into(),
        Kind::Environment => "\"production\", \"development\" or \"test\"".into(),
        Kind::Number { min, max, unit } => format!("a whole number of {unit} from {min} to {max}"),
        Kind::Flag => "true or false".into(),
        Kind::TimeZone => "an IANA time zone name in quotes, such as \"Europe/London\"".into(),
    }
}

/// Checks one value given as text (an environment variable, or a file's
/// value already of the right TOML type). Messages repeat numbers and names,
/// never a URL or a path.
fn check(key: &Key, raw: &str, home: Option<&std::path::Path>) -> Result<Value, String> {
    match key.kind {
        Kind::Number { min, max, .. } => match raw.parse::<i64>() {
            Ok(n) => match u32::try_from(n) {
                Ok(n) if (min..=max).contains(&n) => Ok(Value::Number(n)),
                _ => Err(format!("must be {}, not {n}", expected(key.kind))),
            },
            Err(_) => Err(format!("must be {}, not {raw:?}", expected(key.kind))),
        },
        Kind::Flag => match raw {
            "true" | "1" | "yes" => Ok(Value::Flag(true)),
            "false" | "0" | "no" => Ok(Value::Flag(false)),
            _ => Err(format!("must be {}", expected(key.kind))),
        },
        Kind::TimeZone => match wardbook_protocol::medication::parse_zone(raw) {
            Ok(_) => Ok(Value::Text(raw.to_owned())),
            Err(_) => Err(format!("must be {}, not {raw:?}", expected(key.kind))),
        },
        Kind::Environment => Environment::parse(raw)
            .map(Value::Environment)
            .ok_or_else(|| format!("must be {}, not {raw:?}", expected(key.kind))),
        Kind::Url => match reqwest::Url::parse(raw) {
            Ok(url) if matches!(url.scheme(), "https" | "http") && url.host().is_some() => {
                Ok(Value::Text(raw.trim_end_matches('/').to_owned()))
            }
            _ => Err(format!("must be {}", expected(key.kind))),
        },
        Kind::Path => {
            let path = match (raw.strip_prefix("~/"), home) {
                (Some(rest), Some(home)) => home.join(rest),
                _ => PathBuf::from(raw),
            };
            if path.is_absolute() { Ok(Value::Path(path)) } else { Err(format!("must be {}", expected(key.kind))) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_value_is_read_from_a_file() {
        let text = "# IT's policy\nserver_url = \"https://sync.hospital.invalid/\"\nca_file = \"/etc/ssl/ward-ca.pem\"\n\
                    environment = \"production\"\ndata_dir = \"~/wardbook\"\nidle_lock_minutes = 5\nupdates_allowed = true\n";
        let layer = Layer::from_toml(text, Some(std::path::Path::new("/home/kiosk"))).expect("valid");
        assert_eq!(layer.text("server_url").as_deref(), Some("https://sync.hospital.invalid"));
        assert_eq!(layer.path("ca_file"), Some(PathBuf::from("/etc/ssl/ward-ca.pem")));
        assert_eq!(layer.environment(), Some(Environment::Production));
        assert_eq!(layer.path("data_dir"), Some(PathBuf::from("/home/kiosk/wardbook")));
        assert_eq!(layer.number("idle_lock_minutes"), Some(5));
        assert_eq!(layer.flag("updates_allowed"), Some(true));
        assert!(!layer.sets("offline_login_hours"));
    }

    #[test]
    fn file_problems_name_the_line_and_the_key() {
        let cases = [
            ("idle_lock_minutes = 5\n\nidle_lock_minutes = 0\n", Some(3), None, "duplicate"),
            ("\nidle_lock_minutes = 0\n", Some(2), Some("idle_lock_minutes"), "from 1 to 240, not 0"),
            ("idle_lock_minutes = 241\n", Some(1), Some("idle_lock_minutes"), "not 241"),
            ("\n\noffline_login_hours = -3\n", Some(3), Some("offline_login_hours"), "not -3"),
            ("break_glass_minutes = \"30\"\n", Some(1), Some("break_glass_minutes"), "not string"),
            ("a = 1\nserver = \"x\"\n", Some(1), Some("a"), "not a Wardbook setting"),
            ("server_url = \"sync.hospital\"\n", Some(1), Some("server_url"), "https://"),
            ("server_url = \"ftp://sync.hospital\"\n", Some(1), Some("server_url"), "https://"),
            ("data_dir = \"relative/dir\"\n", Some(1), Some("data_dir"), "absolute path"),
            ("environment = \"staging\"\n", Some(1), Some("environment"), "\"production\""),
            ("updates_allowed = \"yes\"\n", Some(1), Some("updates_allowed"), "true or false"),
            ("data_age_warning_minutes = 10081\n", Some(1), Some("data_age_warning_minutes"), "10080"),
            ("audit_retention_days = 3651\n", Some(1), Some("audit_retention_days"), "from 0 to 3650"),
            ("idle_lock_minutes = = 3\n", Some(1), None, "TOML syntax"),
        ];
        for (text, line, key, detail) in cases {
            let problem = Layer::from_toml(text, None).expect_err(text);
            assert_eq!(problem.line, line, "{text:?}: {problem:?}");
            assert_eq!(problem.key.as_deref(), key, "{text:?}: {problem:?}");
            assert!(problem.detail.contains(detail), "{text:?}: {problem:?}");
        }
    }

    #[test]
    fn environment_variables_are_checked_like_file_values() {
        let vars = |name: &str| match name {
            "WARDBOOK_IDLE_LOCK_MINUTES" => Some("15".to_owned()),
            "WARDBOOK_UPDATES_ALLOWED" => Some("no".to_owned()),
            _ => None,
        };
        let layer = Layer::from_vars(&vars).expect("valid");
        assert_eq!(layer.number("idle_lock_minutes"), Some(15));
        assert_eq!(layer.flag("updates_allowed"), Some(false));
        let bad = |name: &str| (name == "WARDBOOK_OFFLINE_LOGIN_HOURS").then(|| "a week".to_owned());
        let problem = Layer::from_vars(&bad).expect_err("refused");
        assert_eq!(problem.key.as_deref(), Some("WARDBOOK_OFFLINE_LOGIN_HOURS"));
        assert_eq!(problem.line, None);
    }
}
