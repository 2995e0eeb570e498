//! When a medication order's doses are due: the order's timing (FHIR
//! `Timing`, the forms Wardbook schedules) turned into instants, in the
//! hospital's time zone, by one pure function ([`due_times`]).
//!
//! Instants are UTC everywhere else in Wardbook; clock times on a drug chart
//! are local. The conversion lives here, once, so that the twice-yearly DST
//! changes are handled the same way by the app and the service: a dose at a
//! local time that does not exist that night is moved, not lost, and one at a
//! local time that happens twice is given once, not twice.

use chrono::{DateTime, MappedLocalTime, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::observation::string_enum;

/// The most clock times one [`Timing::FixedTimes`] lists, and the most
/// doses [`Timing::TimesPerDay`] spreads over a day: hourly.
pub const MAX_TIMES_PER_DAY: u32 = 24;
/// The longest [`Timing::EveryHours`] interval: a week (weekly injections).
/// Anything rarer is a course of single doses, not a repeating order.
pub const MAX_INTERVAL_HOURS: u32 = 168;
/// The longest minimum interval between PRN doses: a week.
pub const MAX_PRN_INTERVAL_MINUTES: u32 = 10_080;
/// The most instants [`due_times`] returns for one call (the earliest ones):
/// a guard against a mistaken window of centuries, far above any screen's
/// need (a year of hourly doses is 8,760).
pub const MAX_DUE_TIMES: usize = 10_000;

/// A scheduled dose counts as "due now" from this many minutes before to
/// this many minutes after its due time, and "overdue" after that: the common
/// UK hospital policy that a dose given within an hour of its time is on
/// time (time-critical medicines excepted, which the ward flags separately).
pub const DUE_WINDOW_MINUTES: i64 = 60;

/// When an order's doses are due (the FHIR Timing forms Wardbook schedules).
///
/// On the wire a `kind` tag names the form, e.g.
/// `{"kind": "fixed_times", "times": ["08:00:00", "20:00:00"]}` (clock times
/// as FHIR `time`, `hh:mm:ss`; `hh:mm` is accepted on input). A field holding
/// one should read it through `crate::tagged::by_kind`, which refuses a
/// numeric tag. Unknown fields are refused: a misspelt `max_daily_dose` must
/// not silently drop the daily limit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[ts(export)]
pub enum Timing {
    /// At these local clock times every day (hospital time zone), e.g. 08:00
    /// and 20:00: wall clock, so the dose stays at 08:00 on the chart across a
    /// DST change (the interval either side of the change is an hour shorter
    /// or longer). See [`due_times`] for the night of the change itself.
    FixedTimes { times: Vec<NaiveTime> },
    /// Every `hours` hours of elapsed time from the order's start (Q6H):
    /// elapsed time, not wall clock, so a DST change moves the local clock
    /// time but not the interval. Intervals matter for these orders (an
    /// antibiotic's level falls with time, not with the clock), so a Q6H dose
    /// is never given five or seven hours after the last one.
    EveryHours { hours: u32 },
    /// `count` times a day at the ward's standard round times (see
    /// [`STANDARD_TIMES`] and [`round_times`]), in the hospital time zone:
    /// "BD", "TDS", "QDS" as prescribed, given on the drug rounds.
    TimesPerDay { count: u32 },
    /// One dose, at the order's start (a "stat" or single dose).
    Once,
    /// As needed: no due times; at least `min_interval_minutes` between
    /// doses, and at most `max_daily_dose` (in the order's dose unit) in any
    /// 24 hours when set.
    Prn { min_interval_minutes: u32, max_daily_dose: Option<f64> },
}

const fn clock(hour: u32, minute: u32) -> NaiveTime {
    match NaiveTime::from_hms_opt(hour, minute, 0) {
        Some(t) => t,
        None => panic!("a valid clock time"),
    }
}

/// The ward's standard drug-round times for once, twice, three and four
/// times a day (index `count - 1`), the usual UK pattern: once a day with the
/// morning round; twice a day twelve hours apart; three times a day with the
/// morning, afternoon and late rounds (not overnight, so the patient sleeps);
/// four times a day from the early round to the late one.
pub const STANDARD_TIMES: [&[NaiveTime]; 4] = [
    &[clock(8, 0)],
    &[clock(8, 0), clock(20, 0)],
    &[clock(8, 0), clock(14, 0), clock(22, 0)],
    &[clock(6, 0), clock(12, 0), clock(18, 0), clock(22, 0)],
];

/// The local clock times a [`Timing::TimesPerDay`] order's doses fall at,
/// sorted: the [`STANDARD_TIMES`] for 1 to 4 a day; for 5 to 24 a day, evenly
/// spaced every `1440 / count` minutes (rounded down to the minute) from
/// 06:00, wrapping past midnight. So many doses a day cannot avoid the night,
/// and even spacing is what such orders are for. `None` for 0 or more than 24.
pub fn round_times(count: u32) -> Option<Vec<NaiveTime>> {
    match count {
        1..=4 => STANDARD_TIMES.get(count as usize - 1).map(|times| times.to_vec()),
        5..=MAX_TIMES_PER_DAY => {
            let step = 1440 / count;
            let mut times: Vec<NaiveTime> = (0..count)
                .map(|i| {
                    let minute_of_day = (6 * 60 + i * step) % 1440;
                    clock(minute_of_day / 60, minute_of_day % 60)
                })
                .collect();
            times.sort();
            Some(times)
        }
        _ => None,
    }
}

impl Timing {
    /// As needed: the order has no due times, only limits.
    pub fn is_prn(&self) -> bool {
        matches!(self, Timing::Prn { .. })
    }

    /// Refuses a timing Wardbook cannot schedule safely. The message names the
    /// field and the limit, never a value.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Timing::FixedTimes { times } => {
                if times.is_empty() || times.len() > MAX_TIMES_PER_DAY as usize {
                    return Err(format!("timing.times must list 1 to {MAX_TIMES_PER_DAY} clock times"));
                }
                let mut sorted = times.clone();
                sorted.sort();
                if sorted.windows(2).any(|pair| pair[0] == pair[1]) {
                    // A repeated time would read as one dose on the chart but
                    // could be taken as a double dose by another system.
                    return Err("timing.times must not list the same clock time twice".to_owned());
                }
                Ok(())
            }
            Timing::EveryHours { hours } => {
                if !(1..=MAX_INTERVAL_HOURS).contains(hours) {
                    return Err(format!("timing.hours must be 1 to {MAX_INTERVAL_HOURS} (a week)"));
                }
                Ok(())
            }
            Timing::TimesPerDay { count } => {
                if !(1..=MAX_TIMES_PER_DAY).contains(count) {
                    return Err(format!("timing.count must be 1 to {MAX_TIMES_PER_DAY}"));
                }
                Ok(())
            }
            Timing::Once => Ok(()),
            Timing::Prn { min_interval_minutes, max_daily_dose } => {
                if !(1..=MAX_PRN_INTERVAL_MINUTES).contains(min_interval_minutes) {
                    return Err(format!(
                        "timing.min_interval_minutes must be 1 to {MAX_PRN_INTERVAL_MINUTES} (a week)"
                    ));
                }
                if let Some(max) = max_daily_dose
                    && !(max.is_finite() && *max > 0.0)
                {
                    return Err("timing.max_daily_dose must be a finite number greater than 0".to_owned());
                }
                Ok(())
            }
        }
    }
}

/// Every instant a dose of an order with this `timing` is due, within the
/// window `from <= t < to`, sorted ascending, without duplicates, and at most
/// [`MAX_DUE_TIMES`] of them (the earliest).
///
/// The order bounds the doses: none before its `start` (a dose at the start
/// instant is due: an order started at 08:00 makes the 08:00 dose due), and
/// none at or after its `end` when set (an order stopped at 20:00 does not
/// make the 20:00 dose due). Round times before the start are not
/// back-filled: a dose wanted now is a separate [`Timing::Once`] order.
///
/// - [`Timing::Prn`] gives none (as-needed doses are never due).
/// - [`Timing::Once`] gives `start`.
/// - [`Timing::EveryHours`] gives `start`, then every `hours` hours of elapsed time.
/// - [`Timing::FixedTimes`] and [`Timing::TimesPerDay`] give each clock time on
///   each local date in `zone`. On the night clocks change:
///   - a time that happens twice (autumn: 01:30 in London on the last Sunday
///     of October) is due once, at the earlier instant: a second dose an hour
///     later would be a double dose;
///   - a time that does not happen (spring: 01:30 in London on the last Sunday
///     of March, when 01:00 becomes 02:00) is due at the instant it would have
///     had on the clock in force before the change, an hour later on the new
///     clock (02:30 BST): the dose is given late rather than not at all.
///
///   If two clock times then fall at the same instant (01:30 and 02:30 on
///   that spring night) they are one due dose: a drug chart never asks for
///   two doses of one order at once.
///
/// Pure: the zone is the hospital's setting ([`parse_zone`]); `timing` should
/// have passed [`Timing::validate`] (an invalid one gives what can be computed,
/// e.g. nothing for `hours: 0`, and never panics).
pub fn due_times(
    timing: &Timing,
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    zone: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    let lo = from.max(start);
    let hi = end.map_or(to, |end| end.min(to));
    if lo >= hi {
        return Vec::new();
    }
    match timing {
        Timing::Prn { .. } => Vec::new(),
        // lo >= start, so `start` is in the window exactly when it is `lo`.
        Timing::Once => {
            if start == lo {
                vec![start]
            } else {
                Vec::new()
            }
        }
        Timing::EveryHours { hours } => every_hours(*hours, start, lo, hi),
        Timing::FixedTimes { times } => at_clock_times(times, zone, lo, hi),
        Timing::TimesPerDay { count } => match round_times(*count) {
            Some(times) => at_clock_times(&times, zone, lo, hi),
            None => Vec::new(),
        },
    }
}

/// `start + k * hours` for every `k >= 0` in `lo <= t < hi` (`lo >= start`),
/// the first `k` found by division so that an order started years ago costs
/// nothing extra.
fn every_hours(hours: u32, start: DateTime<Utc>, lo: DateTime<Utc>, hi: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let interval_seconds = i64::from(hours) * 3600;
    if interval_seconds <= 0 {
        return Vec::new();
    }
    let dose = |k: i64| {
        k.checked_mul(interval_seconds)
            .and_then(TimeDelta::try_seconds)
            .and_then(|elapsed| start.checked_add_signed(elapsed))
    };
    // Whole seconds, rounded down: the dose at `k` is at or before `lo`.
    let mut k = lo.signed_duration_since(start).num_seconds() / interval_seconds;
    let mut due = Vec::new();
    while due.len() < MAX_DUE_TIMES {
        let Some(t) = dose(k) else { break };
        if t >= hi {
            break;
        }
        if t >= lo {
            due.push(t);
        }
        let Some(next) = k.checked_add(1) else { break };
        k = next;
    }
    due
}

/// Each of `times` on each local date in `zone` that can hold an instant of
/// `lo <= t < hi`, resolved by [`resolve_local`].
fn at_clock_times(times: &[NaiveTime], zone: Tz, lo: DateTime<Utc>, hi: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    if times.is_empty() {
        return Vec::new();
    }
    // A day's margin each side: a resolved instant can lie on the local date
    // before or after its own (a gap moves it forward; a fall-back at
    // midnight moves the clock back across the date).
    let local_date = |t: DateTime<Utc>| t.with_timezone(&zone).date_naive();
    let first: NaiveDate = local_date(lo).pred_opt().unwrap_or(local_date(lo));
    let last: NaiveDate = local_date(hi).succ_opt().unwrap_or(local_date(hi));
    // Enough dates to fill MAX_DUE_TIMES, plus the margins: bounds the work
    // for a window of centuries.
    let max_dates = MAX_DUE_TIMES / times.len() + 3;
    let mut due = Vec::new();
    for date in first.iter_days().take_while(|date| *date <= last).take(max_dates) {
        for time in times {
            if let Some(t) = resolve_local(zone, date.and_time(*time))
                && lo <= t
                && t < hi
            {
                due.push(t);
            }
        }
    }
    due.sort();
    due.dedup();
    due.truncate(MAX_DUE_TIMES);
    due
}

/// The instant a local clock time in `zone` stands for: the one instant; the
/// earlier of two (a fall-back repeats an hour); for a time skipped by a
/// spring-forward, the instant it would have had on the clock in force
/// before the gap.
fn resolve_local(zone: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match zone.from_local_datetime(&local) {
        MappedLocalTime::Single(t) => Some(t.with_timezone(&Utc)),
        MappedLocalTime::Ambiguous(a, b) => Some(a.min(b).with_timezone(&Utc)),
        MappedLocalTime::None => before_gap(zone, local),
    }
}

/// For a local time inside a gap: step back (a quarter of an hour at a time,
/// for up to 25 hours: the longest gap on record is Samoa's skipped day in
/// 2011) to the last local time that exists, which is on the old clock, and
/// add the same elapsed time back. That is `local` read with the old offset.
fn before_gap(zone: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    const STEP_MINUTES: i64 = 15;
    const MAX_STEPS: i64 = 25 * 60 / STEP_MINUTES;
    for step in 1..=MAX_STEPS {
        let back = TimeDelta::try_minutes(step * STEP_MINUTES)?;
        let earlier = local.checked_sub_signed(back)?;
        if let Some(t) = zone.from_local_datetime(&earlier).latest() {
            return t.with_timezone(&Utc).checked_add_signed(back);
        }
    }
    None
}

/// The hospital's time zone from its IANA name (the setting), e.g.
/// `Europe/London`. Names are exact (case included): a zone is a setting
/// chosen once, not typed at the bedside.
pub fn parse_zone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>().map_err(|_| format!("{name:?} is not an IANA time zone name such as Europe/London"))
}

string_enum! {
    /// Where a scheduled dose stands against the clock (see [`DUE_WINDOW_MINUTES`]).
    DueState { Future = "future", DueNow = "due-now", Overdue = "overdue" }
}

/// Where the dose due at `due_at` stands at `now`: due now from
/// [`DUE_WINDOW_MINUTES`] before to [`DUE_WINDOW_MINUTES`] after its time,
/// both ends included; future before that; overdue after. Whether it was
/// given is the caller's question (an administration record), not this one.
pub fn slot_state(due_at: DateTime<Utc>, now: DateTime<Utc>) -> DueState {
    let window = TimeDelta::minutes(DUE_WINDOW_MINUTES);
    let early = now.signed_duration_since(due_at);
    if early < -window {
        DueState::Future
    } else if early <= window {
        DueState::DueNow
    } else {
        DueState::Overdue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("an RFC 3339 instant").with_timezone(&Utc)
    }

    fn utcs(list: &[&str]) -> Vec<DateTime<Utc>> {
        list.iter().map(|s| utc(s)).collect()
    }

    fn hm(s: &str) -> NaiveTime {
        s.parse().expect("a clock time")
    }

    fn fixed(times: &[&str]) -> Timing {
        Timing::FixedTimes { times: times.iter().map(|s| hm(s)).collect() }
    }

    fn zone(name: &str) -> Tz {
        parse_zone(name).expect("a zone")
    }

    struct Case {
        name: &'static str,
        timing: Timing,
        zone: &'static str,
        start: &'static str,
        end: Option<&'static str>,
        from: &'static str,
        to: &'static str,
        want: &'static [&'static str],
    }

    fn check(cases: &[Case]) {
        for case in cases {
            let got = due_times(
                &case.timing,
                utc(case.start),
                case.end.map(utc),
                zone(case.zone),
                utc(case.from),
                utc(case.to),
            );
            assert_eq!(got, utcs(case.want), "{}", case.name);
        }
    }

    #[test]
    fn due_times_for_each_timing_form() {
        check(&[
            Case {
                name: "fixed times, London winter (UTC+0)",
                timing: fixed(&["08:00", "20:00"]),
                zone: "Europe/London",
                start: "2026-01-01T00:00:00Z",
                end: None,
                from: "2026-01-10T00:00:00Z",
                to: "2026-01-11T00:00:00Z",
                want: &["2026-01-10T08:00:00Z", "2026-01-10T20:00:00Z"],
            },
            Case {
                name: "fixed times, London summer (BST, UTC+1)",
                timing: fixed(&["20:00", "08:00"]),
                zone: "Europe/London",
                start: "2026-01-01T00:00:00Z",
                end: None,
                from: "2026-07-01T00:00:00Z",
                to: "2026-07-02T00:00:00Z",
                want: &["2026-07-01T07:00:00Z", "2026-07-01T19:00:00Z"],
            },
            Case {
                name: "times per day 3, London summer: 08:00, 14:00, 22:00 BST",
                timing: Timing::TimesPerDay { count: 3 },
                zone: "Europe/London",
                start: "2026-01-01T00:00:00Z",
                end: None,
                from: "2026-07-01T00:00:00Z",
                to: "2026-07-02T00:00:00Z",
                want: &["2026-07-01T07:00:00Z", "2026-07-01T13:00:00Z", "2026-07-01T21:00:00Z"],
            },
            Case {
                name: "times per day 4, New York winter (UTC-5): 06, 12, 18, 22 EST",
                timing: Timing::TimesPerDay { count: 4 },
                zone: "America/New_York",
                start: "2026-01-01T00:00:00Z",
                end: None,
                from: "2026-01-15T05:00:00Z",
                to: "2026-01-16T05:00:00Z",
                want: &["2026-01-15T11:00:00Z", "2026-01-15T17:00:00Z", "2026-01-15T23:00:00Z", "2026-01-16T03:00:00Z"],
            },
            Case {
                name: "times per day 0 (invalid): nothing",
                timing: Timing::TimesPerDay { count: 0 },
                zone: "Europe/London",
                start: "2026-01-01T00:00:00Z",
                end: None,
                from: "2026-01-10T00:00:00Z",
                to: "2026-01-11T00:00:00Z",
                want: &[],
            },
            Case {
                name: "every 6 hours from the start",
                timing: Timing::EveryHours { hours: 6 },
                zone: "Europe/London",
                start: "2026-01-10T09:15:00Z",
                end: None,
                from: "2026-01-10T00:00:00Z",
                to: "2026-01-11T00:00:00Z",
                want: &["2026-01-10T09:15:00Z", "2026-01-10T15:15:00Z", "2026-01-10T21:15:00Z"],
            },
            Case {
                name: "every 6 hours, started years before the window",
                timing: Timing::EveryHours { hours: 6 },
                zone: "Europe/London",
                start: "2020-01-01T00:00:00Z",
                end: None,
                from: "2026-06-01T03:00:00Z",
                to: "2026-06-01T13:00:00Z",
                want: &["2026-06-01T06:00:00Z", "2026-06-01T12:00:00Z"],
            },
            Case {
                name: "every 168 hours (weekly)",
                timing: Timing::EveryHours { hours: 168 },
                zone: "Europe/London",
                start: "2026-01-05T10:00:00Z",
                end: None,
                from: "2026-01-06T00:00:00Z",
                to: "2026-01-27T00:00:00Z",
                want: &["2026-01-12T10:00:00Z", "2026-01-19T10:00:00Z", "2026-01-26T10:00:00Z"],
            },
            Case {
                name: "every 0 hours (invalid): nothing",
                timing: Timing::EveryHours { hours: 0 },
                zone: "Europe/London",
                start: "2026-01-10T09:15:00Z",
                end: None,
                from: "2026-01-10T00:00:00Z",
                to: "2026-01-11T00:00:00Z",
                want: &[],
            },
            Case {
                name: "once, inside the window",
                timing: Timing::Once,
                zone: "Europe/London",
                start: "2026-01-10T09:15:00Z",
                end: None,
                from: "2026-01-10T00:00:00Z",
                to: "2026-01-11T00:00:00Z",
                want: &["2026-01-10T09:15:00Z"],
            },
            Case {
                name: "once, before the window",
                timing: Timing::Once,
                zone: "Europe/London",
                start: "2026-01-09T09:15:00Z",
                end: None,
                from: "2026-01-10T00:00:00Z",
                to: "2026-01-11T00:00:00Z",
                want: &[],
            },
            Case {
                name: "once, after the window",
                timing: Timing::Once,
                zone: "Europe/London",
                start: "2026-01-11T00:00:00Z",
                end: None,
                from: "2026-01-10T00:00:00Z",
                to: "2026-01-11T00:00:00Z",
                want: &[],
            },
            Case {
                name: "once, at the window's start",
                timing: Timing::Once,
                zone: "Europe/London",
                start: "2026-01-10T00:00:00Z",
                end: None,
                from: "2026-01-10T00:00:00Z",
                to: "2026-01-11T00:00:00Z",
                want: &["2026-01-10T00:00:00Z"],
            },
            Case {
                name: "once, order ended at its start",
                timing: Timing::Once,
                zone: "Europe/London",
                start: "2026-01-10T09:15:00Z",
                end: Some("2026-01-10T09:15:00Z"),
                from: "2026-01-10T00:00:00Z",
                to: "2026-01-11T00:00:00Z",
                want: &[],
            },
            Case {
                name: "prn: never due",
                timing: Timing::Prn { min_interval_minutes: 240, max_daily_dose: Some(4000.0) },
                zone: "Europe/London",
                start: "2026-01-01T00:00:00Z",
                end: None,
                from: "2026-01-10T00:00:00Z",
                to: "2026-01-20T00:00:00Z",
                want: &[],
            },
        ]);
    }

    #[test]
    fn due_times_across_midnight() {
        check(&[
            Case {
                name: "22:00 and 02:00, window 20:00-04:00 New York (EST)",
                timing: fixed(&["02:00", "22:00"]),
                zone: "America/New_York",
                start: "2026-01-01T00:00:00Z",
                end: None,
                from: "2026-01-16T01:00:00Z", // 20:00 EST on the 15th
                to: "2026-01-16T09:00:00Z",   // 04:00 EST on the 16th
                want: &["2026-01-16T03:00:00Z", "2026-01-16T07:00:00Z"],
            },
            Case {
                name: "22:00 and 02:00, window 20:00-04:00 London (BST)",
                timing: fixed(&["22:00", "02:00"]),
                zone: "Europe/London",
                start: "2026-01-01T00:00:00Z",
                end: None,
                from: "2026-07-01T19:00:00Z",
                to: "2026-07-02T03:00:00Z",
                want: &["2026-07-01T21:00:00Z", "2026-07-02T01:00:00Z"],
            },
            Case {
                name: "Asia/Tokyo (UTC+9): local dates ahead of UTC",
                timing: fixed(&["08:00"]),
                zone: "Asia/Tokyo",
                start: "2026-01-01T00:00:00Z",
                end: None,
                from: "2026-01-09T22:00:00Z", // 07:00 JST on the 10th
                to: "2026-01-10T22:00:00Z",
                want: &["2026-01-09T23:00:00Z"],
            },
            Case {
                name: "every 8 hours across midnight",
                timing: Timing::EveryHours { hours: 8 },
                zone: "Europe/London",
                start: "2026-01-15T18:00:00Z",
                end: None,
                from: "2026-01-15T20:00:00Z",
                to: "2026-01-16T04:00:00Z",
                want: &["2026-01-16T02:00:00Z"],
            },
        ]);
    }

    #[test]
    fn due_times_across_dst_changes() {
        check(&[
            Case {
                // 2026-03-29: 01:00 GMT becomes 02:00 BST; 01:30 does not exist.
                name: "London spring forward: 01:30 given once, at 02:30 BST",
                timing: fixed(&["01:30"]),
                zone: "Europe/London",
                start: "2026-01-01T00:00:00Z",
                end: None,
                from: "2026-03-28T00:00:00Z",
                to: "2026-03-31T00:00:00Z",
                want: &["2026-03-28T01:30:00Z", "2026-03-29T01:30:00Z", "2026-03-30T00:30:00Z"],
            },
            Case {
                name: "London spring forward: 01:30 and 02:30 meet at 02:30 BST, one dose",
                timing: fixed(&["01:30", "02:30"]),
                zone: "Europe/London",
                start: "2026-01-01T00:00:00Z",
                end: None,
                from: "2026-03-29T00:00:00Z",
                to: "2026-03-30T00:00:00Z",
                want: &["2026-03-29T01:30:00Z"],
            },
            Case {
                name: "London spring forward: 08:00 and 20:00 keep their clock times",
                timing: fixed(&["08:00", "20:00"]),
                zone: "Europe/London",
                start: "2026-01-01T00:00:00Z",
                end: None,
                from: "2026-03-28T12:00:00Z",
                to: "2026-03-29T23:00:00Z",
                want: &["2026-03-28T20:00:00Z", "2026-03-29T07:00:00Z", "2026-03-29T19:00:00Z"],
            },
            Case {
                // 2026-10-25: 02:00 BST becomes 01:00 GMT; 01:30 happens twice.
                name: "London fall back: 01:30 given once, at the earlier (BST) instant",
                timing: fixed(&["01:30"]),
                zone: "Europe/London",
                start: "2026-01-01T00:00:00Z",
                end: None,
                from: "2026-10-24T00:00:00Z",
                to: "2026-10-27T00:00:00Z",
                want: &["2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"],
            },
            Case {
                name: "London fall back: TimesPerDay 2 keeps 08:00 and 20:00 local",
                timing: Timing::TimesPerDay { count: 2 },
                zone: "Europe/London",
                start: "2026-01-01T00:00:00Z",
                end: None,
                from: "2026-10-24T12:00:00Z",
                to: "2026-10-25T23:00:00Z",
                want: &["2026-10-24T19:00:00Z", "2026-10-25T08:00:00Z", "2026-10-25T20:00:00Z"],
            },
            Case {
                // 2026-03-08: 02:00 EST becomes 03:00 EDT; 02:30 does not exist.
                name: "New York spring forward: 02:30 given at 03:30 EDT",
                timing: fixed(&["02:30"]),
                zone: "America/New_York",
                start: "2026-01-01T00:00:00Z",
                end: None,
                from: "2026-03-07T00:00:00Z",
                to: "2026-03-10T00:00:00Z",
                want: &["2026-03-07T07:30:00Z", "2026-03-08T07:30:00Z", "2026-03-09T06:30:00Z"],
            },
            Case {
                // 2026-11-01: 02:00 EDT becomes 01:00 EST; 01:30 happens twice.
                name: "New York fall back: 01:30 given once, at 01:30 EDT",
                timing: fixed(&["01:30"]),
                zone: "America/New_York",
                start: "2026-01-01T00:00:00Z",
                end: None,
                from: "2026-10-31T00:00:00Z",
                to: "2026-11-03T00:00:00Z",
                want: &["2026-10-31T05:30:00Z", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"],
            },
            Case {
                // 18:00 GMT, 00:00 GMT, then 07:00, 13:00, 19:00 BST: six hours each.
                name: "London spring forward: every 6 hours keeps elapsed intervals",
                timing: Timing::EveryHours { hours: 6 },
                zone: "Europe/London",
                start: "2026-03-28T18:00:00Z",
                end: None,
                from: "2026-03-28T00:00:00Z",
                to: "2026-03-30T00:00:00Z",
                want: &[
                    "2026-03-28T18:00:00Z",
                    "2026-03-29T00:00:00Z",
                    "2026-03-29T06:00:00Z",
                    "2026-03-29T12:00:00Z",
                    "2026-03-29T18:00:00Z",
                ],
            },
            Case {
                // 17:00 BST, 01:00 BST, 08:00 GMT, 16:00 GMT: eight hours each.
                name: "London fall back: every 8 hours keeps elapsed intervals",
                timing: Timing::EveryHours { hours: 8 },
                zone: "Europe/London",
                start: "2026-10-24T16:00:00Z",
                end: None,
                from: "2026-10-24T00:00:00Z",
                to: "2026-10-26T00:00:00Z",
                want: &["2026-10-24T16:00:00Z", "2026-10-25T00:00:00Z", "2026-10-25T08:00:00Z", "2026-10-25T16:00:00Z"],
            },
        ]);
    }

    #[test]
    fn due_times_within_start_and_end() {
        check(&[
            Case {
                name: "fixed times: a dose at the start is due, one at the end is not",
                timing: fixed(&["08:00", "20:00"]),
                zone: "Europe/London",
                start: "2026-01-10T08:00:00Z",
                end: Some("2026-01-12T08:00:00Z"),
                from: "2026-01-01T00:00:00Z",
                to: "2026-02-01T00:00:00Z",
                want: &["2026-01-10T08:00:00Z", "2026-01-10T20:00:00Z", "2026-01-11T08:00:00Z", "2026-01-11T20:00:00Z"],
            },
            Case {
                name: "fixed times: rounds before a mid-morning start are not back-filled",
                timing: fixed(&["08:00", "20:00"]),
                zone: "Europe/London",
                start: "2026-01-10T10:00:00Z",
                end: Some("2026-01-11T19:59:00Z"),
                from: "2026-01-01T00:00:00Z",
                to: "2026-02-01T00:00:00Z",
                want: &["2026-01-10T20:00:00Z", "2026-01-11T08:00:00Z"],
            },
            Case {
                name: "every 12 hours: the start is due, the end is not",
                timing: Timing::EveryHours { hours: 12 },
                zone: "Europe/London",
                start: "2026-01-10T08:00:00Z",
                end: Some("2026-01-12T08:00:00Z"),
                from: "2026-01-01T00:00:00Z",
                to: "2026-02-01T00:00:00Z",
                want: &["2026-01-10T08:00:00Z", "2026-01-10T20:00:00Z", "2026-01-11T08:00:00Z", "2026-01-11T20:00:00Z"],
            },
            Case {
                name: "every 12 hours: window from a dose (included) to a dose (excluded)",
                timing: Timing::EveryHours { hours: 12 },
                zone: "Europe/London",
                start: "2026-01-10T08:00:00Z",
                end: None,
                from: "2026-01-11T08:00:00Z",
                to: "2026-01-12T08:00:00Z",
                want: &["2026-01-11T08:00:00Z", "2026-01-11T20:00:00Z"],
            },
            Case {
                name: "fixed times: window from a dose (included) to a dose (excluded)",
                timing: fixed(&["08:00", "20:00"]),
                zone: "Europe/London",
                start: "2026-01-01T00:00:00Z",
                end: None,
                from: "2026-01-11T08:00:00Z",
                to: "2026-01-12T08:00:00Z",
                want: &["2026-01-11T08:00:00Z", "2026-01-11T20:00:00Z"],
            },
            Case {
                name: "order ended before the window",
                timing: fixed(&["08:00", "20:00"]),
                zone: "Europe/London",
                start: "2026-01-01T00:00:00Z",
                end: Some("2026-01-05T00:00:00Z"),
                from: "2026-01-10T00:00:00Z",
                to: "2026-01-11T00:00:00Z",
                want: &[],
            },
            Case {
                name: "order starting after the window",
                timing: Timing::EveryHours { hours: 4 },
                zone: "Europe/London",
                start: "2026-01-11T00:00:00Z",
                end: None,
                from: "2026-01-10T00:00:00Z",
                to: "2026-01-11T00:00:00Z",
                want: &[],
            },
            Case {
                name: "empty window (to before from)",
                timing: fixed(&["08:00"]),
                zone: "Europe/London",
                start: "2026-01-01T00:00:00Z",
                end: None,
                from: "2026-01-11T00:00:00Z",
                to: "2026-01-10T00:00:00Z",
                want: &[],
            },
        ]);
    }

    #[test]
    fn due_times_are_capped_for_huge_windows() {
        let london = zone("Europe/London");
        let start = utc("2026-01-01T00:00:00Z");
        let far = utc("2126-01-01T00:00:00Z");
        let every_hour: Vec<String> = (0..24).map(|h| format!("{h:02}:00")).collect();
        let every_hour: Vec<&str> = every_hour.iter().map(String::as_str).collect();
        for timing in [Timing::EveryHours { hours: 1 }, fixed(&every_hour), Timing::TimesPerDay { count: 24 }] {
            let got = due_times(&timing, start, None, london, start, far);
            assert_eq!(got.len(), MAX_DUE_TIMES, "{timing:?}");
            assert_eq!(got[0], start, "{timing:?}");
            assert!(got.windows(2).all(|pair| pair[0] < pair[1]), "{timing:?}");
        }
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
        for timing in
            [fixed(&["08:00"]), Timing::EveryHours { hours: 6 }, Timing::TimesPerDay { count: 2 }, Timing::Once]
        {
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
        let short: Timing =
            serde_json::from_str(r#"{"kind":"fixed_times","times":["08:00"]}"#).expect("hh:mm accepted");
        assert_eq!(short, fixed(&["08:00"]));
        // A misspelt limit is refused, not dropped.
        assert!(
            serde_json::from_str::<Timing>(r#"{"kind":"prn","min_interval_minutes":240,"max_daly_dose":1}"#).is_err()
        );
    }
}
