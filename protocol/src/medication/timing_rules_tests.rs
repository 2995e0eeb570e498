//! Tests of `timing.rs` beyond due times: round times, validation, slot states, zones, the wire form.
use super::*;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("an RFC 3339 instant").with_timezone(&Utc)
}

fn hm(s: &str) -> NaiveTime {
    s.parse().expect("a clock time")
}

fn fixed(times: &[&str]) -> Timing {
    Timing::FixedTimes { times: times.iter().map(|s| hm(s)).collect() }
}

#[test]
fn round_times_table() {
    let cases: &[(u32, Option<&[&str]>)] = &[
        (0, None),
        (1, Some(&["08:00"])),
        (2, Some(&["08:00", "20:00"])),
        (3, Some(&["08:00", "14:00", "22:00"])),
        (4, Some(&["06:00", "12:00", "18:00", "22:00"])),
        // Every 288 minutes from 06:00: the fifth wraps to 01:12.
        (5, Some(&["01:12", "06:00", "10:48", "15:36", "20:24"])),
        (6, Some(&["02:00", "06:00", "10:00", "14:00", "18:00", "22:00"])),
        // 1440 / 7 = 205.7, rounded down to 205 minutes.
        (7, Some(&["02:30", "06:00", "09:25", "12:50", "16:15", "19:40", "23:05"])),
        (25, None),
    ];
    for (count, want) in cases {
        let want = want.map(|times| times.iter().map(|s| hm(s)).collect::<Vec<_>>());
        assert_eq!(round_times(*count), want, "count {count}");
    }
    let hourly = round_times(24).expect("24 a day");
    assert_eq!(hourly, (0..24).map(|h| clock(h, 0)).collect::<Vec<_>>());
}

#[test]
fn validate_messages() {
    let twenty_five: Vec<String> = (0..25).map(|m| format!("08:{m:02}")).collect();
    let twenty_five: Vec<&str> = twenty_five.iter().map(String::as_str).collect();
    let cases: Vec<(Timing, Result<(), &str>)> = vec![
        (fixed(&["08:00", "20:00"]), Ok(())),
        (fixed(&[]), Err("timing.times must list 1 to 24 clock times")),
        (fixed(&twenty_five), Err("timing.times must list 1 to 24 clock times")),
        (fixed(&twenty_five[..24]), Ok(())),
        (fixed(&["20:00", "08:00", "20:00"]), Err("timing.times must not list the same clock time twice")),
        (Timing::EveryHours { hours: 1 }, Ok(())),
        (Timing::EveryHours { hours: 168 }, Ok(())),
        (Timing::EveryHours { hours: 0 }, Err("timing.hours must be 1 to 168 (a week)")),
        (Timing::EveryHours { hours: 169 }, Err("timing.hours must be 1 to 168 (a week)")),
        (Timing::TimesPerDay { count: 1 }, Ok(())),
        (Timing::TimesPerDay { count: 24 }, Ok(())),
        (Timing::TimesPerDay { count: 0 }, Err("timing.count must be 1 to 24")),
        (Timing::TimesPerDay { count: 25 }, Err("timing.count must be 1 to 24")),
        (Timing::Once, Ok(())),
        (Timing::Prn { min_interval_minutes: 1, max_daily_dose: None }, Ok(())),
        (Timing::Prn { min_interval_minutes: 10_080, max_daily_dose: Some(4000.0) }, Ok(())),
        (
            Timing::Prn { min_interval_minutes: 0, max_daily_dose: None },
            Err("timing.min_interval_minutes must be 1 to 10080 (a week)"),
        ),
        (
            Timing::Prn { min_interval_minutes: 10_081, max_daily_dose: None },
            Err("timing.min_interval_minutes must be 1 to 10080 (a week)"),
        ),
        (
            Timing::Prn { min_interval_minutes: 240, max_daily_dose: Some(0.0) },
            Err("timing.max_daily_dose must be a finite number greater than 0"),
        ),
        (
            Timing::Prn { min_interval_minutes: 240, max_daily_dose: Some(-1.0) },
            Err("timing.max_daily_dose must be a finite number greater than 0"),
        ),
        (
            Timing::Prn { min_interval_minutes: 240, max_daily_dose: Some(f64::NAN) },
            Err("timing.max_daily_dose must be a finite number greater than 0"),
        ),
        (
            Timing::Prn { min_interval_minutes: 240, max_daily_dose: Some(f64::INFINITY) },
            Err("timing.max_daily_dose must be a finite number greater than 0"),
        ),
    ];
    for (timing, want) in cases {
        assert_eq!(timing.validate(), want.map_err(str::to_owned), "{timing:?}");
    }
}

#[test]
fn is_prn_only_for_prn() {
    assert!(Timing::Prn { min_interval_minutes: 240, max_daily_dose: None }.is_prn());
    for timing in [fixed(&["08:00"]), Timing::EveryHours { hours: 6 }, Timing::TimesPerDay { count: 2 }, Timing::Once] {
        assert!(!timing.is_prn(), "{timing:?}");
    }
}

#[test]
fn slot_state_boundaries() {
    let due = utc("2026-01-10T08:00:00Z");
    let cases = [
        ("2026-01-10T06:00:00Z", DueState::Future),
        ("2026-01-10T06:59:59Z", DueState::Future),
        ("2026-01-10T07:00:00Z", DueState::DueNow),
        ("2026-01-10T08:00:00Z", DueState::DueNow),
        ("2026-01-10T09:00:00Z", DueState::DueNow),
        ("2026-01-10T09:00:01Z", DueState::Overdue),
        ("2026-01-11T08:00:00Z", DueState::Overdue),
    ];
    for (now, want) in cases {
        assert_eq!(slot_state(due, utc(now)), want, "now {now}");
    }
    assert_eq!(DueState::DueNow.as_str(), "due-now");
    assert_eq!(DueState::parse("overdue"), Some(DueState::Overdue));
}

#[test]
fn parse_zone_names() {
    assert_eq!(parse_zone("Europe/London"), Ok(chrono_tz::Europe::London));
    assert_eq!(parse_zone("America/New_York"), Ok(chrono_tz::America::New_York));
    for bad in ["", "Mars/Olympus_Mons", "GMT+1 "] {
        assert_eq!(
            parse_zone(bad),
            Err(format!("{bad:?} is not an IANA time zone name such as Europe/London")),
            "{bad:?}"
        );
    }
}

#[test]
fn timing_wire_form() {
    let cases = [
        (fixed(&["08:00", "20:00"]), r#"{"kind":"fixed_times","times":["08:00:00","20:00:00"]}"#),
        (Timing::EveryHours { hours: 6 }, r#"{"kind":"every_hours","hours":6}"#),
        (Timing::TimesPerDay { count: 2 }, r#"{"kind":"times_per_day","count":2}"#),
        (Timing::Once, r#"{"kind":"once"}"#),
        (
            Timing::Prn { min_interval_minutes: 240, max_daily_dose: Some(4000.0) },
            r#"{"kind":"prn","min_interval_minutes":240,"max_daily_dose":4000.0}"#,
        ),
        (
            Timing::Prn { min_interval_minutes: 240, max_daily_dose: None },
            r#"{"kind":"prn","min_interval_minutes":240,"max_daily_dose":null}"#,
        ),
    ];
    for (timing, json) in cases {
        assert_eq!(serde_json::to_string(&timing).expect("serialises"), json);
        assert_eq!(serde_json::from_str::<Timing>(json).expect("deserialises"), timing, "{json}");
    }
    let short: Timing = serde_json::from_str(r#"{"kind":"fixed_times","times":["08:00"]}"#).expect("hh:mm accepted");
    assert_eq!(short, fixed(&["08:00"]));
    // A misspelt limit is refused, not dropped.
    assert!(serde_json::from_str::<Timing>(r#"{"kind":"prn","min_interval_minutes":240,"max_daly_dose":1}"#).is_err());
}
