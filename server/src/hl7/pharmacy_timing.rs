//! When a pharmacy order's doses are due, from HL7 v2 (v2.5.1 chapter 4A,
//! TQ1 of chapter 4.5.4, table 0335 repeat patterns) to the protocol's
//! [`Timing`]: pure, so that every form has a table test.
//!
//! What is read, from the first of these the order has: a TQ1 segment
//! (TQ1-3 repeat pattern, TQ1-4 explicit times, TQ1-7 start, TQ1-8 end,
//! TQ1-9 priority, TQ1-14 total occurrences); else the old-style TQ data
//! type of RXE-1 (RDE) or ORC-7 (OMP): interval (component 2: pattern `&`
//! explicit times), start (4), end (5), priority (6), total occurrences (12).
//!
//! | sent | timing |
//! |---|---|
//! | explicit times `0800~2000` (TQ1-4) | fixed clock times |
//! | `Q<n>H` (n = 1..168), `Q<n>M` in whole hours | every n hours from the start |
//! | `QD`, `Q1D`, `QAM` | once a day at the morning round |
//! | `Q<n>D` (n = 2..7), `QOD`, `Q1W` | every 24 n hours, every 48 hours, weekly |
//! | `BID`, `TID`, `QID`, `<n>ID` | n times a day at the ward's round times |
//! | `Once`, or total occurrences 1 | one dose at the start |
//! | priority `PRN` (or pattern `PRN`, `PRNQ4H`) | as needed, the minimum interval from the pattern (`Q4H`: 240 minutes, `QID`: 360) |
//!
//! Anything else is refused with AE naming the field (TQ1-3), never
//! scheduled by a guess: a dose on the wrong round is a medication error.

use chrono::NaiveTime;
use wardbook_protocol::medication::{MAX_INTERVAL_HOURS, MAX_TIMES_PER_DAY, Timing};

/// The timing fields of one order as sent (already decoded), and where
/// they came from, for errors.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TimingFields {
    /// TQ1-3 repeat pattern codes (RPT.1), or TQ-2.1.
    pub patterns: Vec<String>,
    /// TQ1-4 explicit times (TM), or TQ-2.2 split at commas.
    pub times: Vec<String>,
    /// TQ1-9 priority codes (table 0485), or TQ-6.
    pub priorities: Vec<String>,
    /// TQ1-14, or TQ-12.
    pub total_occurrences: Option<String>,
}

/// Why a timing cannot be scheduled: the field (by number within the
/// timing segment: 3 pattern, 4 times, 9 priority) and a sentence for IT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimingRefusal {
    pub field: usize,
    pub text: &'static str,
}

impl TimingFields {
    fn is_prn(&self) -> bool {
        self.priorities.iter().any(|p| p.eq_ignore_ascii_case("PRN"))
            || self.patterns.iter().any(|p| p.to_ascii_uppercase().starts_with("PRN"))
    }

    /// The repeat pattern, less a `PRN` prefix; `None` when none was sent.
    fn pattern(&self) -> Result<Option<String>, TimingRefusal> {
        let patterns: Vec<String> = self
            .patterns
            .iter()
            .map(|p| {
                let upper = p.trim().to_ascii_uppercase();
                upper.strip_prefix("PRN").map(str::to_owned).unwrap_or(upper)
            })
            .filter(|p| !p.is_empty())
            .collect();
        match patterns.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one.clone())),
            _ => Err(TimingRefusal { field: 3, text: "TQ1-3 (repeat pattern) must hold one pattern per order." }),
        }
    }
}

const UNKNOWN: TimingRefusal = TimingRefusal {
    field: 3,
    text: "TQ1-3 (repeat pattern) is not one Wardbook schedules (Q<n>H, QD, QAM, Q<n>D, QOD, BID, TID, QID, <n>ID, Once, PRN).",
};

/// The order's [`Timing`], or why it cannot be scheduled.
pub fn timing(fields: &TimingFields) -> Result<Timing, TimingRefusal> {
    let pattern = fields.pattern()?;
    if fields.is_prn() {
        let minutes = match pattern.as_deref() {
            None => {
                return Err(TimingRefusal {
                    field: 3,
                    text: "An as-needed (PRN) order needs its minimum interval in TQ1-3 (for example Q4H).",
                });
            }
            Some(p) => interval_minutes(p).ok_or(UNKNOWN)?,
        };
        // The daily maximum is the order's (RXE-19 or RXO-23), set by the caller.
        return Ok(Timing::Prn { min_interval_minutes: minutes, max_daily_dose: None });
    }
    if !fields.times.is_empty() {
        let mut times = Vec::with_capacity(fields.times.len());
        for t in &fields.times {
            times.push(clock_time(t).ok_or(TimingRefusal {
                field: 4,
                text: "TQ1-4 (explicit time) must be times of day as HHMM (for example 0800~2000).",
            })?);
        }
        let timing = Timing::FixedTimes { times };
        return timing.validate().map(|()| timing).map_err(|_| TimingRefusal {
            field: 4,
            text: "TQ1-4 (explicit time) must list 1 to 24 different times of day.",
        });
    }
    let once = || fields.total_occurrences.as_deref().is_some_and(|n| n.trim() == "1");
    let Some(pattern) = pattern else {
        if once() {
            return Ok(Timing::Once);
        }
        return Err(TimingRefusal {
            field: 3,
            text: "The order has no timing: send TQ1-3 (repeat pattern) or TQ1-4 (explicit times).",
        });
    };
    scheduled(&pattern).ok_or(UNKNOWN)
}

/// A scheduled (not PRN) repeat pattern.
fn scheduled(pattern: &str) -> Option<Timing> {
    Some(match pattern {
        "ONCE" => Timing::Once,
        "QD" | "QAM" | "Q1D" | "QDAY" => Timing::TimesPerDay { count: 1 },
        "BID" => Timing::TimesPerDay { count: 2 },
        "TID" => Timing::TimesPerDay { count: 3 },
        "QID" => Timing::TimesPerDay { count: 4 },
        "QOD" => Timing::EveryHours { hours: 48 },
        _ => {
            if let Some(count) = pattern.strip_suffix("ID").and_then(|n| n.parse::<u32>().ok()) {
                return (1..=MAX_TIMES_PER_DAY).contains(&count).then_some(Timing::TimesPerDay { count });
            }
            let (n, unit) = every(pattern)?;
            let hours = match unit {
                'H' => n,
                'M' if n % 60 == 0 => n / 60,
                'D' => n.checked_mul(24)?,
                'W' => n.checked_mul(168)?,
                _ => return None,
            };
            (1..=MAX_INTERVAL_HOURS).contains(&hours).then_some(Timing::EveryHours { hours })?
        }
    })
}

/// The minimum interval, in minutes, a PRN pattern gives: `Q<n>H`,
/// `Q<n>M`, `Q<n>D`, or a number a day (`QID`: every 6 hours at most).
fn interval_minutes(pattern: &str) -> Option<u32> {
    let per_day = |count: u32| (count > 0).then(|| 1440 / count);
    let minutes = match pattern {
        "QD" | "Q1D" | "QAM" => per_day(1),
        "BID" => per_day(2),
        "TID" => per_day(3),
        "QID" => per_day(4),
        _ => match pattern.strip_suffix("ID").and_then(|n| n.parse::<u32>().ok()) {
            Some(count) => per_day(count),
            None => {
                let (n, unit) = every(pattern)?;
                match unit {
                    'M' => Some(n),
                    'H' => n.checked_mul(60),
                    'D' => n.checked_mul(1440),
                    _ => None,
                }
            }
        },
    }?;
    (1..=wardbook_protocol::medication::MAX_PRN_INTERVAL_MINUTES).contains(&minutes).then_some(minutes)
}

/// `Q<n><unit>`: the number and the unit letter (S M H D W L).
fn every(pattern: &str) -> Option<(u32, char)> {
    let rest = pattern.strip_prefix('Q')?;
    let unit = rest.chars().last()?;
    let n: u32 = rest[..rest.len() - unit.len_utf8()].parse().ok()?;
    (n > 0).then_some((n, unit))
}

/// A TM time of day: `HHMM`, `HHMMSS` (seconds dropped), `HH`.
fn clock_time(text: &str) -> Option<NaiveTime> {
    let digits: String = text.trim().chars().take_while(|c| c.is_ascii_digit()).collect();
    let (hour, minute) = match digits.len() {
        2 => (digits.parse().ok()?, 0),
        4 | 6 => (digits[..2].parse().ok()?, digits[2..4].parse().ok()?),
        _ => return None,
    };
    NaiveTime::from_hms_opt(hour, minute, 0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn fields(patterns: &[&str], times: &[&str], priorities: &[&str], total: Option<&str>) -> TimingFields {
        let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
        TimingFields {
            patterns: owned(patterns),
            times: owned(times),
            priorities: owned(priorities),
            total_occurrences: total.map(str::to_owned),
        }
    }

    fn at(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    #[test]
    fn every_form_maps_to_its_timing() {
        let prn = |minutes| Timing::Prn { min_interval_minutes: minutes, max_daily_dose: None };
        let table: Vec<(TimingFields, Timing)> = vec![
            (fields(&[], &["0800", "2000"], &[], None), Timing::FixedTimes { times: vec![at(8, 0), at(20, 0)] }),
            (fields(&["BID"], &["0900", "210000"], &[], None), Timing::FixedTimes { times: vec![at(9, 0), at(21, 0)] }),
            (fields(&["Q6H"], &[], &[], None), Timing::EveryHours { hours: 6 }),
            (fields(&["q8h"], &[], &["R"], None), Timing::EveryHours { hours: 8 }),
            (fields(&["Q120M"], &[], &[], None), Timing::EveryHours { hours: 2 }),
            (fields(&["Q168H"], &[], &[], None), Timing::EveryHours { hours: 168 }),
            (fields(&["QD"], &[], &[], None), Timing::TimesPerDay { count: 1 }),
            (fields(&["QAM"], &[], &[], None), Timing::TimesPerDay { count: 1 }),
            (fields(&["Q1D"], &[], &[], None), Timing::TimesPerDay { count: 1 }),
            (fields(&["Q2D"], &[], &[], None), Timing::EveryHours { hours: 48 }),
            (fields(&["QOD"], &[], &[], None), Timing::EveryHours { hours: 48 }),
            (fields(&["Q1W"], &[], &[], None), Timing::EveryHours { hours: 168 }),
            (fields(&["BID"], &[], &[], None), Timing::TimesPerDay { count: 2 }),
            (fields(&["TID"], &[], &[], None), Timing::TimesPerDay { count: 3 }),
            (fields(&["QID"], &[], &[], None), Timing::TimesPerDay { count: 4 }),
            (fields(&["6ID"], &[], &[], None), Timing::TimesPerDay { count: 6 }),
            (fields(&["Once"], &[], &[], None), Timing::Once),
            (fields(&[], &[], &["S"], Some("1")), Timing::Once),
            (fields(&["Q4H"], &[], &["PRN"], None), prn(240)),
            (fields(&["PRNQ4H"], &[], &[], None), prn(240)),
            (fields(&["Q30M"], &[], &["prn"], None), prn(30)),
            (fields(&["QID"], &[], &["PRN"], None), prn(360)),
            (fields(&["QD"], &[], &["PRN"], None), prn(1440)),
            // A PRN order's explicit times say nothing about its interval.
            (fields(&["Q6H"], &["0800"], &["PRN"], None), prn(360)),
        ];
        for (input, want) in table {
            assert_eq!(timing(&input), Ok(want), "{input:?}");
        }
    }

    #[test]
    fn what_cannot_be_scheduled_is_refused_by_field() {
        let table: Vec<(TimingFields, usize)> = vec![
            (fields(&[], &[], &[], None), 3),
            (fields(&["PRN"], &[], &[], None), 3),
            (fields(&[], &[], &["PRN"], None), 3),
            (fields(&["Q0H"], &[], &[], None), 3),
            (fields(&["Q169H"], &[], &[], None), 3),
            (fields(&["Q90M"], &[], &[], None), 3),
            (fields(&["Q8D"], &[], &[], None), 3),
            (fields(&["Q2W"], &[], &[], None), 3),
            (fields(&["25ID"], &[], &[], None), 3),
            (fields(&["C"], &[], &[], None), 3),
            (fields(&["Q1J2"], &[], &[], None), 3),
            (fields(&["Q6H", "Q8H"], &[], &[], None), 3),
            (fields(&["QHS"], &[], &["PRN"], None), 3),
            (fields(&[], &["8am"], &[], None), 4),
            (fields(&[], &["2500"], &[], None), 4),
            (fields(&[], &["0800", "0800"], &[], None), 4),
        ];
        for (input, field) in table {
            assert_eq!(timing(&input).unwrap_err().field, field, "{input:?}");
        }
    }
}
