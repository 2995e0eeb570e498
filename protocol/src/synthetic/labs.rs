//! Synthetic laboratory results: a complete blood count (LOINC 58410-2) and
//! a basic metabolic panel (LOINC 51990-0) on admission and then early in
//! the morning every day or two, as a ward typically draws them.
//!
//! Values hang together the way real ones do: haematocrit follows
//! haemoglobin, the red cell count follows from haematocrit and MCV, chloride
//! from sodium, bicarbonate and an anion gap. Profiles shift them (fever
//! raises the WBC, hypertension the creatinine, chronic hypoxia the
//! bicarbonate) and some patients get an anomaly (anaemia, diabetes, ...) or
//! one critical value. Patient 1 always has a critical potassium on its first
//! draw (when there is a draw, i.e. `days` >= 1).

use chrono::{DateTime, Days, Duration, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{Measurement, Profile, RECORDED_BY_LAB, Stay, jitter, observation, round_to};
use crate::{Coding, Interpretation, Observation, ObservationCategory, ReferenceRange, Sex};

/// One analyte: its code, unit, adult reference range and critical limits.
pub(crate) struct LabSpec {
    pub loinc: &'static str,
    pub display: &'static str,
    pub unit: &'static str,
    /// Reference range (male, or both sexes).
    pub range: (f64, f64),
    /// Female reference range where it differs.
    pub female: Option<(f64, f64)>,
    /// Beyond these (strictly) a result is critical: LL or HH.
    pub critical_low: Option<f64>,
    pub critical_high: Option<f64>,
    pub decimals: u32,
}

pub(crate) const CBC_PANEL: (&str, &str) = ("58410-2", "CBC panel - Blood by Automated count");
pub(crate) const BMP_PANEL: (&str, &str) = ("51990-0", "Basic metabolic panel - Blood");

const fn lab(
    loinc: &'static str,
    display: &'static str,
    unit: &'static str,
    range: (f64, f64),
    female: Option<(f64, f64)>,
    critical: (Option<f64>, Option<f64>),
    decimals: u32,
) -> LabSpec {
    LabSpec { loinc, display, unit, range, female, critical_low: critical.0, critical_high: critical.1, decimals }
}

/// The CBC analytes, in the order `draw` computes them. Adult reference
/// ranges; critical limits as commonly set by hospital laboratories.
#[rustfmt::skip]
pub(crate) const CBC: [LabSpec; 6] = [
    lab("6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*3/uL",
        (4.0, 11.0), None, (Some(2.0), Some(30.0)), 1),
    lab("789-8", "Erythrocytes [#/volume] in Blood by Automated count", "10*6/uL",
        (4.5, 5.9), Some((4.0, 5.2)), (None, None), 2),
    lab("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL",
        (13.5, 17.5), Some((12.0, 15.5)), (Some(7.0), Some(20.0)), 1),
    lab("4544-3", "Hematocrit [Volume Fraction] of Blood by Automated count", "%",
        (41.0, 53.0), Some((36.0, 46.0)), (None, None), 1),
    lab("787-2", "MCV [Entitic mean volume] in Red Blood Cells by Automated count", "fL",
        (80.0, 100.0), None, (None, None), 0),
    lab("777-3", "Platelets [#/volume] in Blood by Automated count", "10*3/uL",
        (150.0, 400.0), None, (Some(20.0), Some(1000.0)), 0),
];

/// The BMP analytes, in the order `draw` computes them.
#[rustfmt::skip]
pub(crate) const BMP: [LabSpec; 8] = [
    lab("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L",
        (135.0, 145.0), None, (Some(125.0), Some(155.0)), 0),
    lab("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L",
        (3.5, 5.1), None, (Some(2.8), Some(6.0)), 1),
    lab("2075-0", "Chloride [Moles/volume] in Serum or Plasma", "mmol/L",
        (98.0, 107.0), None, (Some(80.0), Some(120.0)), 0),
    lab("1963-8", "Bicarbonate [Moles/volume] in Serum or Plasma", "mmol/L",
        (22.0, 29.0), None, (Some(10.0), Some(40.0)), 0),
    lab("3094-0", "Urea nitrogen [Mass/volume] in Serum or Plasma", "mg/dL",
        (7.0, 20.0), None, (None, Some(100.0)), 0),
    lab("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL",
        (0.7, 1.3), Some((0.6, 1.1)), (None, None), 2),
    lab("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL",
        (70.0, 99.0), None, (Some(50.0), Some(400.0)), 0),
    lab("17861-6", "Calcium [Mass/volume] in Serum or Plasma", "mg/dL",
        (8.6, 10.3), None, (Some(6.5), Some(13.0)), 1),
];

impl LabSpec {
    /// The reference range for `sex`; for other or unknown, the union of the
    /// male and female ranges (flag only what is abnormal for either).
    pub fn range_for(&self, sex: Sex) -> (f64, f64) {
        match (self.female, sex) {
            (Some(f), Sex::Female) => f,
            (Some(f), Sex::Other | Sex::Unknown) => (f.0.min(self.range.0), f.1.max(self.range.1)),
            _ => self.range,
        }
    }

    /// HH or LL beyond the critical limits, else H, L or N against `range`.
    pub fn interpret(&self, value: f64, range: (f64, f64)) -> Interpretation {
        if self.critical_high.is_some_and(|c| value > c) {
            Interpretation::CriticalHigh
        } else if self.critical_low.is_some_and(|c| value < c) {
            Interpretation::CriticalLow
        } else if value > range.1 {
            Interpretation::High
        } else if value < range.0 {
            Interpretation::Low
        } else {
            Interpretation::Normal
        }
    }
}

/// A patient's steady-state values, from which each draw deviates by noise.
struct Baseline {
    wbc: f64,
    hb: f64,
    mcv: f64,
    plt: f64,
    na: f64,
    k: f64,
    hco3: f64,
    anion_gap: f64,
    bun: f64,
    creat: f64,
    glucose: f64,
    calcium: f64,
}

/// The one critical value some patients have, on one draw.
#[derive(Clone, Copy)]
enum Critical {
    HighPotassium,
    LowPotassium,
    LowSodium,
    HighGlucose,
    LowGlucose,
    LowHemoglobin,
    LowPlatelets,
}

const CRITICALS: [Critical; 7] = [
    Critical::HighPotassium,
    Critical::LowPotassium,
    Critical::LowSodium,
    Critical::HighGlucose,
    Critical::LowGlucose,
    Critical::LowHemoglobin,
    Critical::LowPlatelets,
];

fn baseline(rng: &mut ChaCha8Rng, stay: &Stay<'_>) -> Baseline {
    let female = stay.patient.sex == Sex::Female;
    let mut b = Baseline {
        wbc: rng.random_range(5.0..9.0),
        hb: if female { rng.random_range(12.4..14.8) } else { rng.random_range(13.8..16.5) },
        mcv: rng.random_range(84.0..95.0),
        plt: rng.random_range(190.0..340.0),
        na: rng.random_range(137.0..142.0),
        k: rng.random_range(3.8..4.7),
        hco3: rng.random_range(23.5..27.5),
        anion_gap: rng.random_range(9.0..13.0),
        bun: rng.random_range(9.0..17.0),
        creat: if female { rng.random_range(0.65..0.95) } else { rng.random_range(0.8..1.15) },
        glucose: rng.random_range(78.0..96.0),
        calcium: rng.random_range(8.9..9.9),
    };
    match stay.profile {
        Profile::Stable => return b, // no anomalies for the stable reference patient
        Profile::Febrile => {
            b.wbc = rng.random_range(13.5..18.5);
            b.glucose += 15.0; // stress hyperglycaemia
        }
        Profile::Hypertensive => {
            b.creat = rng.random_range(1.35..1.9);
            b.bun = rng.random_range(22.0..34.0);
            b.k = rng.random_range(4.6..5.2);
        }
        Profile::Hypoxic => {
            b.hco3 = rng.random_range(30.0..34.0); // renal compensation
            b.hb += 1.0; // secondary polycythaemia
        }
    }
    if stay.index >= 3 {
        if rng.random_bool(0.15) {
            b.hb -= rng.random_range(3.0..5.0); // iron-deficiency anaemia
            b.mcv = rng.random_range(70.0..78.0);
        }
        if rng.random_bool(0.2) {
            b.glucose = rng.random_range(170.0..280.0); // diabetes
        }
        if rng.random_bool(0.08) {
            b.na = rng.random_range(128.0..133.0);
        }
        if rng.random_bool(0.08) {
            b.k = rng.random_range(3.0..3.4);
        }
        if rng.random_bool(0.06) {
            b.plt = rng.random_range(60.0..120.0);
        }
    }
    b
}

/// One draw's values, in [`CBC`] then [`BMP`] order, rounded as reported.
fn draw(rng: &mut ChaCha8Rng, b: &Baseline, days_in: f64, febrile: bool, critical: Option<Critical>) -> [f64; 14] {
    let mut c = |base: f64, noise: f64, floor: f64| (base + jitter(rng, noise)).max(floor);
    // Treated infection: the count falls about 0.4 a day, yet stays raised.
    let wbc = if febrile { c(b.wbc - 0.4 * days_in, 0.8, 11.6) } else { c(b.wbc, 0.8, 2.5) };
    let mut hb = c(b.hb, 0.4, 7.2);
    let mcv = c(b.mcv, 1.5, 65.0);
    let mut plt = c(b.plt, 20.0, 40.0);
    let mut na = c(b.na, 2.0, 126.0);
    let mut k = c(b.k, 0.2, 2.9);
    let hco3 = c(b.hco3, 1.5, 14.0);
    let gap = c(b.anion_gap, 1.5, 6.0);
    let bun = c(b.bun, 2.0, 4.0);
    let creat = c(b.creat, 0.08, 0.4);
    let mut glucose = c(b.glucose, 12.0, 55.0).min(380.0);
    let calcium = c(b.calcium, 0.2, 7.5);
    match critical {
        Some(Critical::HighPotassium) => k = rng.random_range(6.2..6.8),
        Some(Critical::LowPotassium) => k = rng.random_range(2.4..2.7),
        Some(Critical::LowSodium) => na = rng.random_range(118.0..124.0),
        Some(Critical::HighGlucose) => glucose = rng.random_range(420.0..560.0),
        Some(Critical::LowGlucose) => glucose = rng.random_range(36.0..48.0),
        Some(Critical::LowHemoglobin) => hb = rng.random_range(5.8..6.8),
        Some(Critical::LowPlatelets) => plt = rng.random_range(8.0..18.0),
        None => {}
    }
    let hct = hb * 2.95 + jitter(rng, 1.0);
    let rbc = hct * 10.0 / mcv;
    let na = round_to(na, 0);
    let hco3 = round_to(hco3, 0);
    let cl = na - hco3 - round_to(gap, 0);
    let values = [wbc, rbc, hb, hct, mcv, plt, na, k, cl, hco3, bun, creat, glucose, calcium];
    let specs = CBC.iter().chain(BMP.iter());
    let mut out = [0.0; 14];
    for ((o, v), s) in out.iter_mut().zip(values).zip(specs) {
        *o = round_to(v, s.decimals);
    }
    out
}

/// Admission, then between 05:30 and 07:00 every one or two days.
fn draw_times(rng: &mut ChaCha8Rng, stay: &Stay<'_>) -> Vec<DateTime<Utc>> {
    let mut times = Vec::new();
    let first = stay.admitted + Duration::minutes(rng.random_range(30..=90i64));
    if first <= stay.anchor {
        times.push(first);
    }
    let mut day = stay.admitted.date_naive().checked_add_days(Days::new(1));
    while let Some(d) = day {
        let Some(morning) = d.and_hms_opt(5, 30, 0) else { break };
        let t = morning.and_utc() + Duration::minutes(rng.random_range(0..=90i64));
        if t > stay.anchor {
            break;
        }
        times.push(t);
        day = d.checked_add_days(Days::new(if rng.random_bool(0.6) { 1 } else { 2 }));
    }
    times
}

/// The laboratory results of a stay, draw by draw.
pub(super) fn series(rng: &mut ChaCha8Rng, stay: &Stay<'_>) -> Vec<Observation> {
    let b = baseline(rng, stay);
    let times = draw_times(rng, stay);
    let len = u32::try_from(times.len()).unwrap_or(u32::MAX);
    let critical_draw = match stay.index {
        1 => Some((0, Critical::HighPotassium)),
        i if i >= 3 && len > 0 && rng.random_bool(0.15) => {
            Some((rng.random_range(0..len) as usize, super::pick(rng, &CRITICALS)))
        }
        _ => None,
    };
    let febrile = stay.profile == Profile::Febrile;
    let mut out = Vec::with_capacity(times.len() * 14);
    for (n, &at) in times.iter().enumerate() {
        let days_in = (at - stay.admitted).num_minutes() as f64 / 1440.0;
        let critical = critical_draw.filter(|(i, _)| *i == n).map(|(_, c)| c);
        let values = draw(rng, &b, days_in, febrile, critical);
        let panels = [(CBC_PANEL, &CBC[..]), (BMP_PANEL, &BMP[..])];
        let specs = panels.iter().flat_map(|(p, specs)| specs.iter().map(move |s| (*p, s)));
        for ((panel, spec), value) in specs.zip(values) {
            let range = spec.range_for(stay.patient.sex);
            let m = Measurement {
                category: ObservationCategory::Laboratory,
                code: Coding::loinc(spec.loinc, spec.display),
                panel: Some(Coding::loinc(panel.0, panel.1)),
                value,
                unit: spec.unit,
                reference_range: Some(ReferenceRange {
                    low: Some(range.0),
                    high: Some(range.1),
                    unit: spec.unit.to_owned(),
                }),
                interpretation: Some(spec.interpret(value, range)),
                recorded_by: RECORDED_BY_LAB,
            };
            out.push(observation(rng, stay, at, m));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpretation_uses_strict_critical_limits() {
        let k = &BMP[1];
        assert_eq!(k.loinc, "2823-3");
        let r = k.range;
        assert_eq!(k.interpret(6.0, r), Interpretation::High);
        assert_eq!(k.interpret(6.1, r), Interpretation::CriticalHigh);
        assert_eq!(k.interpret(2.8, r), Interpretation::Low);
        assert_eq!(k.interpret(2.7, r), Interpretation::CriticalLow);
        assert_eq!(k.interpret(4.2, r), Interpretation::Normal);
        assert_eq!(k.interpret(5.1, r), Interpretation::Normal);
        assert_eq!(k.interpret(3.5, r), Interpretation::Normal);
    }

    #[test]
    fn sex_specific_ranges() {
        let hb = &CBC[2];
        assert_eq!(hb.loinc, "718-7");
        assert_eq!(hb.range_for(Sex::Male), (13.5, 17.5));
        assert_eq!(hb.range_for(Sex::Female), (12.0, 15.5));
        assert_eq!(hb.range_for(Sex::Unknown), (12.0, 17.5));
        assert_eq!(BMP[0].range_for(Sex::Female), (135.0, 145.0));
    }

    #[test]
    fn specs_are_consistent() {
        for s in CBC.iter().chain(BMP.iter()) {
            assert!(s.range.0 < s.range.1, "{}", s.loinc);
            assert!(s.critical_low.is_none_or(|c| c < s.range.0), "{}", s.loinc);
            assert!(s.critical_high.is_none_or(|c| c > s.range.1), "{}", s.loinc);
        }
    }
}
