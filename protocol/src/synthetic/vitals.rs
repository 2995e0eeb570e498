//! Synthetic vital sign series: a round of HR, RR, SBP, DBP, temperature,
//! SpO2, air or oxygen and consciousness (ACVPU) every 4 to 6 hours from
//! admission to the anchor, plus a weight and a height on admission.
//!
//! Each patient gets baselines drawn from their [`Profile`]; each round adds
//! a diurnal swing (temperature and blood pressure peak in the evening) and
//! measurement noise, then clamps to the profile's band so the picture stays
//! recognisable. Values are rounded as charted: temperature to 0.1 Cel,
//! weight to 0.1 kg, everything else to whole numbers.

use chrono::{DateTime, Duration, Timelike, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Measurement, Profile, RECORDED_BY_NURSE, Stay, jitter, observation, round_to};
use crate::news2::Acvpu;
use crate::vitals::{
    BODY_HEIGHT, BODY_TEMPERATURE, BODY_WEIGHT, DIASTOLIC_BP, HEART_RATE, OXYGEN_SATURATION, RESPIRATORY_RATE,
    SYSTOLIC_BP, VitalSpec, consciousness_coding, on_oxygen_coding, vital_spec,
};
use crate::{Coding, Interpretation, Observation, ObservationCategory, ObservationValue, Sex};

/// A patient's resting values and the bands their readings stay in.
struct Baseline {
    hr: f64,
    rr: f64,
    sbp: f64,
    dbp: f64,
    temp: f64,
    spo2: f64,
    /// Amplitude of the diurnal temperature swing (Cel).
    temp_swing: f64,
}

impl Baseline {
    fn draw(rng: &mut ChaCha8Rng, profile: Profile) -> Self {
        let mut u = |lo: f64, hi: f64| rng.random_range(lo..hi);
        match profile {
            Profile::Stable => Baseline {
                hr: u(64.0, 84.0),
                rr: u(13.0, 17.0),
                sbp: u(108.0, 130.0),
                dbp: u(64.0, 80.0),
                temp: u(36.5, 37.0),
                spo2: u(96.0, 99.0),
                temp_swing: 0.2,
            },
            Profile::Febrile => Baseline {
                hr: 0.0, // follows the temperature, see `round`
                rr: u(19.0, 23.0),
                sbp: u(100.0, 122.0),
                dbp: u(58.0, 72.0),
                temp: u(38.5, 38.9),
                spo2: u(93.0, 97.0),
                temp_swing: 0.6,
            },
            Profile::Hypertensive => Baseline {
                hr: u(68.0, 90.0),
                rr: u(14.0, 18.0),
                sbp: u(160.0, 178.0),
                dbp: u(99.0, 108.0),
                temp: u(36.5, 37.0),
                spo2: u(95.0, 99.0),
                temp_swing: 0.2,
            },
            Profile::Hypoxic => Baseline {
                hr: u(88.0, 104.0),
                rr: u(21.0, 26.0),
                sbp: u(118.0, 142.0),
                dbp: u(68.0, 86.0),
                temp: u(36.5, 37.2),
                spo2: u(89.5, 91.5),
                temp_swing: 0.2,
            },
        }
    }
}

/// The vital signs of a stay, in time order.
pub(super) fn series(rng: &mut ChaCha8Rng, stay: &Stay<'_>) -> Vec<Observation> {
    let base = Baseline::draw(rng, stay.profile);
    let mut out = Vec::new();
    let mut at = stay.admitted;
    let mut first = true;
    let mut rounds = Vec::new();
    while at <= stay.anchor {
        rounds.push(at);
        if first {
            let (weight, height) = body_size(rng, stay.patient.sex);
            out.push(record(rng, stay, at, BODY_WEIGHT, round_to(weight, 1)));
            out.push(record(rng, stay, at, BODY_HEIGHT, round_to(height, 0)));
            first = false;
        }
        for (code, value) in round(rng, &base, stay.profile, at) {
            out.push(record(rng, stay, at, code, value));
        }
        at += Duration::minutes(rng.random_range(240..=360i64));
    }
    // What NEWS2 needs besides the numbers, charted with each round: air or
    // oxygen (the febrile patient is on oxygen) and consciousness (alert).
    // Their ids come from a stream of their own, so the numbers above are
    // the same as before these were charted.
    let mut ids =
        ChaCha8Rng::seed_from_u64(u64::from_le_bytes(stay.patient.id.as_bytes()[8..].try_into().unwrap_or_default()));
    for at in rounds {
        let on_oxygen = stay.profile == Profile::Febrile;
        out.push(news2_reading(&mut ids, stay, at, on_oxygen_coding(), ObservationValue::Boolean { value: on_oxygen }));
        out.push(news2_reading(
            &mut ids,
            stay,
            at,
            consciousness_coding(),
            ObservationValue::Coded(Acvpu::Alert.coding()),
        ));
    }
    out
}

/// An "on oxygen" or consciousness reading (no quantity, no range).
fn news2_reading(
    rng: &mut ChaCha8Rng,
    stay: &Stay<'_>,
    at: DateTime<Utc>,
    code: Coding,
    value: ObservationValue,
) -> Observation {
    let mut o = record(rng, stay, at, HEART_RATE, 70.0);
    o.code = code;
    o.value = value;
    o.reference_range = None;
    o.interpretation = match &o.value {
        ObservationValue::Coded(c) if Acvpu::from_coding(c) != Some(Acvpu::Alert) => Some(Interpretation::Abnormal),
        ObservationValue::Coded(_) => Some(Interpretation::Normal),
        _ => None,
    };
    o
}

/// One round of readings at `at`, rounded and within the profile's bands.
fn round(rng: &mut ChaCha8Rng, b: &Baseline, profile: Profile, at: DateTime<Utc>) -> [(&'static str, f64); 6] {
    let d = diurnal(at);
    let temp = b.temp + b.temp_swing * d + jitter(rng, 0.2);
    let mut hr = b.hr + 3.0 * d + jitter(rng, 6.0);
    let mut rr = b.rr + jitter(rng, 2.0);
    let mut sbp = b.sbp + 5.0 * d + jitter(rng, 8.0);
    let mut dbp = b.dbp + 2.0 * d + jitter(rng, 5.0);
    let mut spo2 = b.spo2 + jitter(rng, 1.5);
    let mut temp = round_to(temp, 1);
    match profile {
        Profile::Stable => {
            // Stable means every reading in its normal band.
            for (v, code) in [
                (&mut hr, HEART_RATE),
                (&mut rr, RESPIRATORY_RATE),
                (&mut sbp, SYSTOLIC_BP),
                (&mut dbp, DIASTOLIC_BP),
                (&mut temp, BODY_TEMPERATURE),
                (&mut spo2, OXYGEN_SATURATION),
            ] {
                let s = spec(code);
                *v = v.clamp(s.normal_low, s.normal_high);
            }
        }
        Profile::Febrile => {
            temp = temp.clamp(38.0, 39.8);
            // About 10 to 12/min per degree of fever, on top of a high-normal rate.
            hr = (86.0 + 12.0 * (temp - 37.0) + jitter(rng, 5.0)).clamp(96.0, 135.0);
        }
        Profile::Hypertensive => {
            sbp = sbp.clamp(150.0, 190.0);
            dbp = dbp.clamp(95.0, 115.0);
        }
        Profile::Hypoxic => spo2 = spo2.clamp(88.0, 93.0),
    }
    // Round first, then keep within the plausibility limits: a synthetic row
    // must never fail validation.
    let r = |code: &'static str, v: f64| {
        let s = spec(code);
        (code, round_to(v, 0).clamp(s.min, s.max))
    };
    [
        r(HEART_RATE, hr),
        r(RESPIRATORY_RATE, rr),
        r(SYSTOLIC_BP, sbp),
        r(DIASTOLIC_BP, dbp.min(sbp - 25.0)),
        (BODY_TEMPERATURE, temp),
        r(OXYGEN_SATURATION, spo2.min(100.0)),
    ]
}

/// Admission weight (kg) and height (cm) by sex.
fn body_size(rng: &mut ChaCha8Rng, sex: Sex) -> (f64, f64) {
    let (w, h) = match sex {
        Sex::Male => ((62.0, 105.0), (163.0, 192.0)),
        Sex::Female => ((50.0, 92.0), (150.0, 178.0)),
        Sex::Other | Sex::Unknown => ((50.0, 100.0), (152.0, 188.0)),
    };
    (rng.random_range(w.0..w.1), rng.random_range(h.0..h.1))
}

/// A triangle wave over the day, -1 at 06:00 and +1 at 18:00 UTC: the body's
/// temperature and pressure rhythm, without `sin` (whose last bits vary
/// between platforms' math libraries).
fn diurnal(at: DateTime<Utc>) -> f64 {
    let hour = f64::from(at.hour()) + f64::from(at.minute()) / 60.0;
    let phase = (hour + 18.0) % 24.0; // 0 at 06:00, 12 at 18:00
    1.0 - (phase - 12.0).abs() / 6.0
}

fn spec(code: &str) -> &'static VitalSpec {
    // Only called with the constants above, all of which are in VITAL_SPECS.
    vital_spec(code).unwrap_or(&crate::vitals::VITAL_SPECS[0])
}

fn record(rng: &mut ChaCha8Rng, stay: &Stay<'_>, at: DateTime<Utc>, code: &str, value: f64) -> Observation {
    let s = spec(code);
    let m = Measurement {
        category: ObservationCategory::VitalSigns,
        code: s.coding(),
        panel: None,
        value,
        unit: s.ucum,
        reference_range: s.reference_range(),
        interpretation: s.interpret(value),
        recorded_by: RECORDED_BY_NURSE,
    };
    observation(rng, stay, at, m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
            .and_then(|d| d.and_hms_opt(h, m, 0))
            .map(|t| t.and_utc())
            .unwrap_or_default()
    }

    #[test]
    fn diurnal_wave_peaks_in_the_evening() {
        assert_eq!(diurnal(at(6, 0)), -1.0);
        assert_eq!(diurnal(at(18, 0)), 1.0);
        assert_eq!(diurnal(at(12, 0)), 0.0);
        assert_eq!(diurnal(at(0, 0)), 0.0);
        assert!((0..24).all(|h| (-1.0..=1.0).contains(&diurnal(at(h, 30)))));
    }

    #[test]
    fn every_code_used_has_a_spec() {
        for code in [
            HEART_RATE,
            RESPIRATORY_RATE,
            SYSTOLIC_BP,
            DIASTOLIC_BP,
            BODY_TEMPERATURE,
            OXYGEN_SATURATION,
            BODY_WEIGHT,
            BODY_HEIGHT,
        ] {
            assert_eq!(spec(code).loinc, code);
        }
    }
}
