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
#[path = "timing_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "timing_rules_tests.rs"]
mod rules_tests;
