//! A medication order's timing ⇄ FHIR `Dosage` (`timing.repeat`,
//! `asNeededBoolean`, `maxDosePerPeriod`). Pure, table-tested.
//!
//! | FHIR `timing.repeat` (and `asNeededBoolean`) | timing |
//! |---|---|
//! | `timeOfDay` | fixed clock times |
//! | `count: 1` without a period | once, at the start |
//! | `frequency` n, `period` 1, `periodUnit` `d` | n times a day at the round times |
//! | `frequency` 1, `period` n, `periodUnit` `d` (n > 1) | every 24 n hours |
//! | any other frequency and period whose interval is whole hours | every so many hours |
//! | `asNeededBoolean: true` and a frequency and period | as needed, at least period / frequency apart; the daily maximum from `maxDosePerPeriod` per 1 `d` or 24 `h` |
//!
//! Anything else (a month, an interval of 90 minutes on a schedule, `when`,
//! `event`) is refused, never rounded to something close.

use chrono::NaiveTime;
use wardbook_protocol::UCUM;
use wardbook_protocol::medication::Timing;

use crate::fhir::FhirError;
use crate::fhir::resources::{Dosage, Quantity, Ratio, TimingRepeat};

/// Minutes in one `periodUnit`.
fn unit_minutes(unit: &str) -> Option<f64> {
    Some(match unit {
        "s" => 1.0 / 60.0,
        "min" => 1.0,
        "h" => 60.0,
        "d" => 1440.0,
        "wk" => 10080.0,
        _ => return None,
    })
}

/// A whole number of minutes, from 1 up.
fn whole(minutes: f64) -> Option<u32> {
    let rounded = minutes.round();
    ((minutes - rounded).abs() < 1e-9 && rounded >= 1.0 && rounded <= f64::from(u32::MAX)).then_some(rounded as u32)
}

/// The timing of `dosage` (at `path`, `MedicationRequest.dosageInstruction[0]`),
/// with the dose unit the daily maximum must be in.
pub(super) fn timing_in(dosage: &Dosage, dose_unit: Option<&str>, path: &str) -> Result<Timing, FhirError> {
    let repeat_path = format!("{path}.timing.repeat");
    let repeat = dosage
        .timing
        .as_ref()
        .and_then(|t| t.repeat.as_ref())
        .ok_or_else(|| FhirError::missing(repeat_path.clone()))?;
    let interval = interval_minutes(repeat, &repeat_path)?;
    let timing = if dosage.as_needed_boolean == Some(true) {
        let minutes = interval.ok_or_else(|| FhirError::missing(format!("{repeat_path}.period")))?;
        let max_daily_dose = dosage
            .max_dose_per_period
            .as_ref()
            .map(|ratio| daily_maximum(ratio, dose_unit, &format!("{path}.maxDosePerPeriod")))
            .transpose()?;
        Timing::Prn { min_interval_minutes: minutes, max_daily_dose }
    } else if dosage.max_dose_per_period.is_some() {
        return Err(FhirError::refused(
            format!("{path}.maxDosePerPeriod"),
            "Wardbook keeps a maximum per day for as-needed orders only",
        ));
    } else if !repeat.time_of_day.is_empty() {
        let mut times = Vec::with_capacity(repeat.time_of_day.len());
        for (i, t) in repeat.time_of_day.iter().enumerate() {
            times.push(
                NaiveTime::parse_from_str(t, "%H:%M:%S")
                    .map_err(|_| FhirError::invalid(format!("{repeat_path}.timeOfDay[{i}]"), "a time hh:mm:ss"))?,
            );
        }
        Timing::FixedTimes { times }
    } else if repeat.count == Some(1) && repeat.period.is_none() {
        Timing::Once
    } else {
        let minutes = interval.ok_or_else(|| FhirError::missing(format!("{repeat_path}.period")))?;
        let frequency = repeat.frequency.unwrap_or(1);
        let daily = repeat.period_unit.as_deref() == Some("d") && repeat.period == Some(1.0);
        if daily {
            Timing::TimesPerDay { count: frequency }
        } else if minutes % 60 == 0 {
            Timing::EveryHours { hours: minutes / 60 }
        } else {
            return Err(FhirError::invalid(
                repeat_path,
                "a frequency and period Wardbook schedules: n per day, or every whole number of hours",
            ));
        }
    };
    timing.validate().map_err(|_| FhirError::invalid(repeat_path, "a timing within Wardbook's limits"))?;
    Ok(timing)
}

/// The interval `period` / `frequency` in whole minutes; `None` without a
/// period. Only the elements read here and in [`timing_in`] are supported.
fn interval_minutes(repeat: &TimingRepeat, path: &str) -> Result<Option<u32>, FhirError> {
    let Some(period) = repeat.period else {
        if repeat.frequency.is_some() || repeat.period_unit.is_some() {
            return Err(FhirError::missing(format!("{path}.period")));
        }
        return Ok(None);
    };
    let unit = repeat.period_unit.as_deref().ok_or_else(|| FhirError::missing(format!("{path}.periodUnit")))?;
    let per = unit_minutes(unit).ok_or_else(|| FhirError::unsupported_code(format!("{path}.periodUnit")))?;
    let frequency = repeat.frequency.unwrap_or(1);
    if frequency == 0 || !period.is_finite() || period <= 0.0 {
        return Err(FhirError::invalid(path, "a frequency and a period above 0"));
    }
    whole(period * per / f64::from(frequency))
        .map(Some)
        .ok_or_else(|| FhirError::invalid(path, "an interval of whole minutes"))
}

/// The most per day of `maxDosePerPeriod`: a numerator in the dose's unit
/// over 1 `d` or 24 `h`.
fn daily_maximum(ratio: &Ratio, dose_unit: Option<&str>, path: &str) -> Result<f64, FhirError> {
    let numerator = ratio.numerator.as_ref().ok_or_else(|| FhirError::missing(format!("{path}.numerator")))?;
    let value = numerator.value.ok_or_else(|| FhirError::missing(format!("{path}.numerator.value")))?;
    let unit = quantity_unit(numerator);
    if let (Some(unit), Some(dose_unit)) = (unit.as_deref(), dose_unit)
        && unit != dose_unit
    {
        return Err(FhirError::refused(format!("{path}.numerator"), "the daily maximum must be in the dose's unit"));
    }
    let per_day = ratio.denominator.as_ref().is_some_and(|d| {
        let unit = quantity_unit(d);
        matches!((d.value, unit.as_deref()), (Some(v), Some("d")) if v == 1.0)
            || matches!((d.value, unit.as_deref()), (Some(v), Some("h")) if v == 24.0)
    });
    if !per_day {
        return Err(FhirError::invalid(format!("{path}.denominator"), "1 d (or 24 h): a maximum per day"));
    }
    Ok(value)
}

/// A quantity's unit: its UCUM code, else its unit text.
pub(super) fn quantity_unit(q: &Quantity) -> Option<String> {
    let code = q.code.as_deref().filter(|c| !c.trim().is_empty());
    match q.system.as_deref() {
        Some(UCUM) => code.map(str::to_owned),
        _ => q.unit.as_deref().filter(|u| !u.trim().is_empty()).or(code).map(str::to_owned),
    }
}

/// The FHIR repeat, `asNeededBoolean` and `maxDosePerPeriod` of a timing.
pub(super) fn timing_out(timing: &Timing, dose_unit: Option<&str>) -> (TimingRepeat, Option<bool>, Option<Ratio>) {
    let every = |frequency: u32, period: f64, unit: &str| TimingRepeat {
        frequency: Some(frequency),
        period: Some(period),
        period_unit: Some(unit.to_owned()),
        ..TimingRepeat::default()
    };
    match timing {
        Timing::FixedTimes { times } => (
            TimingRepeat {
                time_of_day: times.iter().map(|t| t.format("%H:%M:%S").to_string()).collect(),
                ..every(u32::try_from(times.len()).unwrap_or(1), 1.0, "d")
            },
            None,
            None,
        ),
        Timing::EveryHours { hours } => (every(1, f64::from(*hours), "h"), None, None),
        Timing::TimesPerDay { count } => (every(*count, 1.0, "d"), None, None),
        Timing::Once => (TimingRepeat { count: Some(1), ..TimingRepeat::default() }, None, None),
        Timing::Prn { min_interval_minutes, max_daily_dose } => {
            let ratio = max_daily_dose.map(|max| Ratio {
                numerator: Some(Quantity {
                    value: Some(max),
                    unit: dose_unit.map(str::to_owned),
                    ..Quantity::default()
                }),
                denominator: Some(Quantity {
                    value: Some(1.0),
                    unit: Some("d".to_owned()),
                    system: Some(UCUM.to_owned()),
                    code: Some("d".to_owned()),
                    ..Quantity::default()
                }),
                ..Ratio::default()
            });
            (every(1, f64::from(*min_interval_minutes), "min"), Some(true), ratio)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    fn dosage(value: serde_json::Value) -> Dosage {
        serde_json::from_value(value).unwrap()
    }

    fn at(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    const PATH: &str = "MedicationRequest.dosageInstruction[0]";

    #[test]
    fn every_form_reads_and_writes_back_the_same() {
        let prn = |min, max| Timing::Prn { min_interval_minutes: min, max_daily_dose: max };
        let table: Vec<(serde_json::Value, Timing)> = vec![
            (
                json!({"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d", "timeOfDay": ["08:00:00", "20:00:00"]}}}),
                Timing::FixedTimes { times: vec![at(8, 0), at(20, 0)] },
            ),
            (json!({"timing": {"repeat": {"timeOfDay": ["06:30:00"]}}}), Timing::FixedTimes { times: vec![at(6, 30)] }),
            (json!({"timing": {"repeat": {"count": 1}}}), Timing::Once),
            (
                json!({"timing": {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}}}),
                Timing::TimesPerDay { count: 3 },
            ),
            (json!({"timing": {"repeat": {"period": 1, "periodUnit": "d"}}}), Timing::TimesPerDay { count: 1 }),
            (
                json!({"timing": {"repeat": {"frequency": 1, "period": 6, "periodUnit": "h"}}}),
                Timing::EveryHours { hours: 6 },
            ),
            (
                json!({"timing": {"repeat": {"frequency": 1, "period": 2, "periodUnit": "d"}}}),
                Timing::EveryHours { hours: 48 },
            ),
            (
                json!({"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "wk"}}}),
                Timing::EveryHours { hours: 168 },
            ),
            (
                json!({"timing": {"repeat": {"frequency": 2, "period": 24, "periodUnit": "h"}}}),
                Timing::EveryHours { hours: 12 },
            ),
            (
                json!({"asNeededBoolean": true, "timing": {"repeat": {"frequency": 1, "period": 4, "periodUnit": "h"}}}),
                prn(240, None),
            ),
            (
                json!({"asNeededBoolean": true, "timing": {"repeat": {"frequency": 1, "period": 240, "periodUnit": "min"}},
                       "maxDosePerPeriod": {"numerator": {"value": 4000, "unit": "mg"},
                                            "denominator": {"value": 1, "system": UCUM, "code": "d"}}}),
                prn(240, Some(4000.0)),
            ),
            (
                json!({"asNeededBoolean": true, "timing": {"repeat": {"frequency": 6, "period": 1, "periodUnit": "d"}},
                       "maxDosePerPeriod": {"numerator": {"value": 8, "system": UCUM, "code": "mg"},
                                            "denominator": {"value": 24, "unit": "h"}}}),
                prn(240, Some(8.0)),
            ),
        ];
        for (value, want) in table {
            assert_eq!(timing_in(&dosage(value.clone()), Some("mg"), PATH), Ok(want.clone()), "{value}");
            // What Wardbook writes reads back as the same timing.
            let (repeat, as_needed, max) = timing_out(&want, Some("mg"));
            let back = Dosage {
                timing: Some(crate::fhir::resources::Timing { repeat: Some(repeat), ..Default::default() }),
                as_needed_boolean: as_needed,
                max_dose_per_period: max,
                ..Dosage::default()
            };
            assert_eq!(timing_in(&back, Some("mg"), PATH), Ok(want), "{value} written back");
        }
    }

    #[test]
    fn what_cannot_be_scheduled_is_refused_by_path() {
        let repeat = format!("{PATH}.timing.repeat");
        let table: Vec<(serde_json::Value, String)> = vec![
            (json!({}), repeat.clone()),
            (json!({"timing": {"repeat": {"frequency": 2}}}), format!("{repeat}.period")),
            (json!({"timing": {"repeat": {"period": 1}}}), format!("{repeat}.periodUnit")),
            (json!({"timing": {"repeat": {"period": 1, "periodUnit": "mo"}}}), format!("{repeat}.periodUnit")),
            (json!({"timing": {"repeat": {"frequency": 1, "period": 90, "periodUnit": "min"}}}), repeat.clone()),
            // Four an hour is every 15 minutes: not whole hours.
            (json!({"timing": {"repeat": {"frequency": 4, "period": 1, "periodUnit": "h"}}}), repeat.clone()),
            (json!({"timing": {"repeat": {"frequency": 1, "period": 200, "periodUnit": "h"}}}), repeat.clone()),
            (json!({"timing": {"repeat": {"timeOfDay": ["8am"]}}}), format!("{repeat}.timeOfDay[0]")),
            (json!({"asNeededBoolean": true, "timing": {"repeat": {}}}), format!("{repeat}.period")),
            (
                json!({"asNeededBoolean": true, "timing": {"repeat": {"period": 4, "periodUnit": "h"}},
                       "maxDosePerPeriod": {"numerator": {"value": 8, "unit": "tablet"}, "denominator": {"value": 1, "unit": "d"}}}),
                format!("{PATH}.maxDosePerPeriod.numerator"),
            ),
            (
                json!({"asNeededBoolean": true, "timing": {"repeat": {"period": 4, "periodUnit": "h"}},
                       "maxDosePerPeriod": {"numerator": {"value": 8, "unit": "mg"}, "denominator": {"value": 1, "unit": "wk"}}}),
                format!("{PATH}.maxDosePerPeriod.denominator"),
            ),
            (
                json!({"timing": {"repeat": {"period": 4, "periodUnit": "h"}},
                       "maxDosePerPeriod": {"numerator": {"value": 8, "unit": "mg"}, "denominator": {"value": 1, "unit": "d"}}}),
                format!("{PATH}.maxDosePerPeriod"),
            ),
        ];
        for (value, path) in table {
            let error = timing_in(&dosage(value.clone()), Some("mg"), PATH).unwrap_err();
            assert_eq!(error.paths(), [path.as_str()], "{value}");
        }
    }
}
