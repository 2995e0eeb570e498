//! The settings the clinical rules read: the hospital's time zone (a drug
//! chart's clock times are local; `medication::due_times` turns them into
//! instants in it) and how old a vital sign may be and still count towards
//! the census's NEWS2 score.

use chrono::Duration;
use chrono_tz::Tz;
use wardbook_protocol::medication::parse_zone;

/// `news2_max_age_hours` by default: NEWS2 chart 2's minimum observation
/// frequency (`wardbook_protocol::news2::NEWS2_MAX_AGE_HOURS`).
pub const DEFAULT_NEWS2_MAX_AGE_HOURS: u32 = 12;

/// What the clinical rules need from the settings. The store keeps a copy
/// (`Store::set_clinical`), so that the audited reads that compute due
/// times and scores use the workstation's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClinicalSettings {
    /// `hospital_time_zone`.
    pub time_zone: Tz,
    /// `news2_max_age_hours`.
    pub news2_max_age: Duration,
}

impl Default for ClinicalSettings {
    /// UTC and the NEWS2 chart's 12 hours: what a store opened without the
    /// settings (a test, a CLI command that computes no due time) uses.
    fn default() -> Self {
        ClinicalSettings { time_zone: Tz::UTC, news2_max_age: Duration::hours(i64::from(DEFAULT_NEWS2_MAX_AGE_HOURS)) }
    }
}

impl ClinicalSettings {
    /// From the two settings' values: the zone named (checked when the layer
    /// was read), else the system's; the age in hours.
    pub(super) fn from_values(time_zone: Option<&str>, news2_max_age_hours: u32) -> ClinicalSettings {
        let time_zone = time_zone.and_then(|name| parse_zone(name).ok()).unwrap_or_else(system_time_zone);
        ClinicalSettings { time_zone, news2_max_age: Duration::hours(i64::from(news2_max_age_hours)) }
    }
}

/// This machine's time zone by its IANA name (the default of
/// `hospital_time_zone`), or UTC when the system names none Wardbook knows:
/// logged, since due times would then be in UTC.
pub fn system_time_zone() -> Tz {
    match iana_time_zone::get_timezone() {
        Ok(name) => parse_zone(&name).unwrap_or_else(|_| {
            tracing::warn!(zone = %name, "the system's time zone is not a known IANA name; using UTC for due times (set hospital_time_zone)");
            Tz::UTC
        }),
        Err(_) => {
            tracing::warn!("the system's time zone cannot be determined; using UTC for due times (set hospital_time_zone)");
            Tz::UTC
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_zone_wins_and_the_age_is_in_hours() {
        let c = ClinicalSettings::from_values(Some("Europe/London"), 6);
        assert_eq!(c.time_zone, chrono_tz::Europe::London);
        assert_eq!(c.news2_max_age, Duration::hours(6));
        // Without a name: the system's zone, whatever it is, and never a panic.
        let _ = ClinicalSettings::from_values(None, 12);
    }
}
