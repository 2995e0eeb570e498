//! NEWS2, the National Early Warning Score 2, from the latest vital signs.
//!
//! Source: Royal College of Physicians, *National Early Warning Score (NEWS)
//! 2: Standardising the assessment of acute-illness severity in the NHS*,
//! updated report of a working party, London: RCP, December 2017
//! (<https://www.rcp.ac.uk/improving-care/resources/national-early-warning-score-news-2/>),
//! chart 1 ("The NEWS scoring system") and chart 2 ("NEWS thresholds and
//! triggers"). The bands, as printed on chart 1:
//!
//! | Parameter             | 3     | 2       | 1         | 0       | 1         | 2       | 3     |
//! |-----------------------|-------|---------|-----------|---------|-----------|---------|-------|
//! | Respiration rate /min | ≤8    |         | 9–11      | 12–20   |           | 21–24   | ≥25   |
//! | SpO2 scale 1 %        | ≤91   | 92–93   | 94–95     | ≥96     |           |         |       |
//! | Air or oxygen?        |       | Oxygen  |           | Air     |           |         |       |
//! | Systolic BP mmHg      | ≤90   | 91–100  | 101–110   | 111–219 |           |         | ≥220  |
//! | Pulse /min            | ≤40   |         | 41–50     | 51–90   | 91–110    | 111–130 | ≥131  |
//! | Consciousness         |       |         |           | Alert   |           |         | CVPU  |
//! | Temperature °C        | ≤35.0 |         | 35.1–36.0 | 36.1–38.0 | 38.1–39.0 | ≥39.1 |       |
//!
//! ("CVPU": new confusion, or responds only to voice or pain, or
//! unresponsive.) Chart 2 turns the scores into a clinical risk: an
//! aggregate of 0–4 is *low*; a score of 3 in any single parameter (the "red
//! score") is *low-medium*, an urgent ward-based response; 5–6 is *medium*,
//! the key threshold for an urgent response; 7 or more is *high*, an urgent
//! or emergency response.
//!
//! **Values between the chart's bands.** The chart's bands are whole numbers
//! (temperature: tenths of a degree), but a device or a nurse may record
//! `8.5` breaths/min or `35.05` °C. Such a value is first rounded to the
//! chart's precision, half away from zero, then banded: respiration rate,
//! SpO2, systolic BP and pulse to a whole number (`8.5` → `9` scores 1,
//! `8.49` → `8` scores 3); temperature to one decimal (`35.05` → `35.1`
//! scores 1, `35.04` → `35.0` scores 3). That is how the value would be
//! written on the paper chart, so the score matches what a nurse scoring by
//! hand would get.
//!
//! **Scale 2.** Only SpO2 scale 1 is implemented. Scale 2 (target 88–92 %,
//! for hypercapnic respiratory failure) must be prescribed by a clinician;
//! until Wardbook records that prescription, the score is scale 1 for
//! everyone, as chart 1 says it is by default.
//!
//! **Missing and stale readings.** NEWS2 is only valid over a full set of
//! observations. A parameter with no reading, or whose latest reading is
//! older than the allowed age ([`NEWS2_MAX_AGE_HOURS`] by default), is
//! listed in [`News2Score::missing`] and the score is not
//! [`complete`](News2Score::complete); the total over the parameters that
//! are present is still given (the UI shows it as "incomplete"), because a
//! partial score of, say, 7 already demands a response.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::observation::string_enum;
use crate::{Coding, Observation, ObservationCategory, ObservationStatus, ObservationValue, SNOMED_CT, vitals};

/// The default oldest age, in hours, of a reading that still counts towards
/// NEWS2. Twelve hours is chart 2's minimum observation frequency (a score
/// of 0 is observed at least 12-hourly), so on a ward that follows the chart
/// no reading is older than this unless a round was missed, and then the
/// score should say it is incomplete rather than quietly reuse yesterday's
/// values. A setting in the app will override it.
pub const NEWS2_MAX_AGE_HOURS: i64 = 12;

/// [`NEWS2_MAX_AGE_HOURS`] as a duration.
pub fn default_max_age() -> Duration {
    Duration::hours(NEWS2_MAX_AGE_HOURS)
}

string_enum! {
    /// Level of consciousness on the ACVPU scale (NEWS2 chart 1): Alert, new
    /// Confusion, responds to Voice, responds to Pain, Unresponsive.
    Acvpu {
        Alert = "alert",
        NewConfusion = "new-confusion",
        Voice = "voice",
        Pain = "pain",
        Unresponsive = "unresponsive",
    }
}

string_enum! {
    /// The seven NEWS2 parameters, in the order of chart 1.
    News2Parameter {
        RespirationRate = "respiration-rate",
        Spo2 = "spo2",
        AirOrOxygen = "air-or-oxygen",
        SystolicBp = "systolic-bp",
        Pulse = "pulse",
        Consciousness = "consciousness",
        Temperature = "temperature",
    }
}

string_enum! {
    /// Clinical risk from the aggregate score (NEWS2 chart 2).
    News2Risk { Low = "low", LowMedium = "low-medium", Medium = "medium", High = "high" }
}

string_enum! {
    /// The colour a score is shown in.
    ///
    /// A parameter's score takes chart 1's cell colours: 0 uncoloured
    /// (`none`), 1 yellow, 2 orange (amber), 3 red. The clinical risk takes
    /// the escalation shades of chart 2 as Wardbook renders them: low green,
    /// low-medium yellow, medium orange, high red (see [`News2Risk::colour`]).
    TriggerColour { None = "none", Green = "green", Yellow = "yellow", Orange = "orange", Red = "red" }
}

impl TriggerColour {
    /// Chart 1's colour for a single parameter's score.
    pub fn for_parameter_score(score: u8) -> TriggerColour {
        match score {
            0 => TriggerColour::None,
            1 => TriggerColour::Yellow,
            2 => TriggerColour::Orange,
            _ => TriggerColour::Red,
        }
    }
}

impl News2Risk {
    /// The colour the risk is shown in.
    pub fn colour(self) -> TriggerColour {
        match self {
            News2Risk::Low => TriggerColour::Green,
            News2Risk::LowMedium => TriggerColour::Yellow,
            News2Risk::Medium => TriggerColour::Orange,
            News2Risk::High => TriggerColour::Red,
        }
    }
}

impl Acvpu {
    /// The SNOMED CT finding recorded as the value of a consciousness
    /// observation ([`vitals::CONSCIOUSNESS`]). These are the members of HL7
    /// UK's CareConnect-ACVPU-1 value set, which the NHS NEWS2 FHIR
    /// messages use: 248234008 |Mentally alert|, 130987000 |Acute
    /// confusion|, 300202002 |Responds to voice|, 450847001 |Responds to
    /// pain|, 422768004 |Unresponsive|.
    pub fn snomed(self) -> (&'static str, &'static str) {
        match self {
            Acvpu::Alert => ("248234008", "Mentally alert"),
            Acvpu::NewConfusion => ("130987000", "Acute confusion"),
            Acvpu::Voice => ("300202002", "Responds to voice"),
            Acvpu::Pain => ("450847001", "Responds to pain"),
            Acvpu::Unresponsive => ("422768004", "Unresponsive"),
        }
    }

    /// The SNOMED CT coding of this level (see [`Acvpu::snomed`]).
    pub fn coding(self) -> Coding {
        let (code, display) = self.snomed();
        Coding::new(SNOMED_CT, code, display)
    }

    /// The level a recorded coding stands for. Matched by code alone, like
    /// vital signs in validation: the SNOMED CT identifiers cannot be
    /// mistaken for another system's codes.
    pub fn from_coding(coding: &Coding) -> Option<Acvpu> {
        Acvpu::ALL.iter().copied().find(|a| a.snomed().0 == coding.code)
    }

    /// What a clinician reads, e.g. "New confusion".
    pub fn label(self) -> &'static str {
        match self {
            Acvpu::Alert => "Alert",
            Acvpu::NewConfusion => "New confusion",
            Acvpu::Voice => "Voice",
            Acvpu::Pain => "Pain",
            Acvpu::Unresponsive => "Unresponsive",
        }
    }
}

/// One reading of a parameter and when it was measured. `Debug` prints the
/// time only: the value is PHI.
#[derive(Clone, Copy, PartialEq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct Reading<T> {
    pub value: T,
    pub effective_at: DateTime<Utc>,
}

impl<T> Reading<T> {
    pub fn new(value: T, effective_at: DateTime<Utc>) -> Self {
        Self { value, effective_at }
    }
}

impl<T> std::fmt::Debug for Reading<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reading").field("effective_at", &self.effective_at).finish_non_exhaustive()
    }
}

/// The latest reading of each NEWS2 parameter, `None` when there is none.
/// Units are those of [`vitals::VITAL_SPECS`]: `/min`, `%`, `mm[Hg]`, `Cel`.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct News2Input {
    pub respiration_rate: Option<Reading<f64>>,
    /// SpO2 by pulse oximetry, scored on scale 1.
    pub spo2: Option<Reading<f64>>,
    /// True on supplemental oxygen, false on air.
    pub on_oxygen: Option<Reading<bool>>,
    pub systolic: Option<Reading<f64>>,
    pub pulse: Option<Reading<f64>>,
    pub consciousness: Option<Reading<Acvpu>>,
    pub temperature: Option<Reading<f64>>,
}

impl std::fmt::Debug for News2Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("News2Input")
            .field("respiration_rate", &self.respiration_rate)
            .field("spo2", &self.spo2)
            .field("on_oxygen", &self.on_oxygen)
            .field("systolic", &self.systolic)
            .field("pulse", &self.pulse)
            .field("consciousness", &self.consciousness)
            .field("temperature", &self.temperature)
            .finish()
    }
}

/// One parameter's score, 0 to 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct ParameterScore {
    pub parameter: News2Parameter,
    pub score: u8,
}

impl ParameterScore {
    /// Chart 1's colour for this score.
    pub fn colour(&self) -> TriggerColour {
        TriggerColour::for_parameter_score(self.score)
    }
}

/// A NEWS2 score with its parts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct News2Score {
    /// The sum of the scores in `parameters` (0 to 20).
    pub total: u32,
    /// Chart 2's clinical risk for `total` and `any_red`.
    pub risk: News2Risk,
    /// Some parameter scored 3 (the "red score").
    pub any_red: bool,
    /// Every parameter has a reading recent enough to count. When false the
    /// score is shown as incomplete: `total` covers `parameters` only.
    pub complete: bool,
    /// Parameters with no reading, or whose latest reading is too old (or
    /// not a finite number), in chart order.
    pub missing: Vec<News2Parameter>,
    /// The scored parameters, in chart order.
    pub parameters: Vec<ParameterScore>,
}

impl News2Score {
    /// The score of one parameter, `None` when it is missing.
    pub fn score_of(&self, parameter: News2Parameter) -> Option<u8> {
        self.parameters.iter().find(|p| p.parameter == parameter).map(|p| p.score)
    }
}

/// Rounds to a whole number, half away from zero (`f64::round`).
fn whole(value: f64) -> f64 {
    value.round()
}

/// Respiration rate (/min): ≤8 → 3, 9–11 → 1, 12–20 → 0, 21–24 → 2, ≥25 → 3.
/// Rounded to a whole number first (see the module documentation).
pub fn score_respiration_rate(per_min: f64) -> u8 {
    match whole(per_min) {
        r if r <= 8.0 => 3,
        r if r <= 11.0 => 1,
        r if r <= 20.0 => 0,
        r if r <= 24.0 => 2,
        _ => 3,
    }
}

/// SpO2 on scale 1 (%): ≤91 → 3, 92–93 → 2, 94–95 → 1, ≥96 → 0. Rounded to a
/// whole number first.
pub fn score_spo2_scale1(percent: f64) -> u8 {
    match whole(percent) {
        s if s <= 91.0 => 3,
        s if s <= 93.0 => 2,
        s if s <= 95.0 => 1,
        _ => 0,
    }
}

/// Air or oxygen: supplemental oxygen → 2, air → 0.
pub fn score_air_or_oxygen(on_oxygen: bool) -> u8 {
    if on_oxygen { 2 } else { 0 }
}

/// Systolic blood pressure (mmHg): ≤90 → 3, 91–100 → 2, 101–110 → 1,
/// 111–219 → 0, ≥220 → 3. Rounded to a whole number first.
pub fn score_systolic_bp(mm_hg: f64) -> u8 {
    match whole(mm_hg) {
        s if s <= 90.0 => 3,
        s if s <= 100.0 => 2,
        s if s <= 110.0 => 1,
        s if s <= 219.0 => 0,
        _ => 3,
    }
}

/// Pulse (/min): ≤40 → 3, 41–50 → 1, 51–90 → 0, 91–110 → 1, 111–130 → 2,
/// ≥131 → 3. Rounded to a whole number first.
pub fn score_pulse(per_min: f64) -> u8 {
    match whole(per_min) {
        p if p <= 40.0 => 3,
        p if p <= 50.0 => 1,
        p if p <= 90.0 => 0,
        p if p <= 110.0 => 1,
        p if p <= 130.0 => 2,
        _ => 3,
    }
}

/// Consciousness: Alert → 0; new confusion, voice, pain or unresponsive → 3.
pub fn score_consciousness(level: Acvpu) -> u8 {
    match level {
        Acvpu::Alert => 0,
        Acvpu::NewConfusion | Acvpu::Voice | Acvpu::Pain | Acvpu::Unresponsive => 3,
    }
}

/// Temperature (°C): ≤35.0 → 3, 35.1–36.0 → 1, 36.1–38.0 → 0, 38.1–39.0 → 1,
/// ≥39.1 → 2. Rounded to one decimal first, half away from zero, and
/// compared in whole tenths so that no binary fraction decides a band.
/// (Every two-decimal value from 25.00 to 45.00 times ten lands on or above
/// its half in `f64`, so `35.05` becomes 351 tenths; a test walks them.)
pub fn score_temperature(celsius: f64) -> u8 {
    match (celsius * 10.0).round() {
        t if t <= 350.0 => 3,
        t if t <= 360.0 => 1,
        t if t <= 380.0 => 0,
        t if t <= 390.0 => 1,
        _ => 2,
    }
}

/// Chart 2's clinical risk: 7 or more high, 5–6 medium, otherwise
/// low-medium when one parameter scored 3 (the red score) and low when none
/// did. The aggregate wins over the red score when it is higher: 3 + 2 = 5
/// is medium, not low-medium.
pub fn risk(total: u32, any_red: bool) -> News2Risk {
    match total {
        7.. => News2Risk::High,
        5..=6 => News2Risk::Medium,
        _ if any_red => News2Risk::LowMedium,
        _ => News2Risk::Low,
    }
}

/// The NEWS2 score at `now` of the readings in `input`. A reading older than
/// `max_age` (`now - effective_at > max_age`), or whose number is not
/// finite, counts as missing. A reading timed after `now` (a clock a little
/// ahead) counts.
pub fn news2(input: &News2Input, now: DateTime<Utc>, max_age: Duration) -> News2Score {
    let fresh = |at: DateTime<Utc>| now.signed_duration_since(at) <= max_age;
    let number = |r: &Option<Reading<f64>>, score: fn(f64) -> u8| {
        r.as_ref().filter(|r| r.value.is_finite() && fresh(r.effective_at)).map(|r| score(r.value))
    };
    let scores = [
        (News2Parameter::RespirationRate, number(&input.respiration_rate, score_respiration_rate)),
        (News2Parameter::Spo2, number(&input.spo2, score_spo2_scale1)),
        (
            News2Parameter::AirOrOxygen,
            input.on_oxygen.filter(|r| fresh(r.effective_at)).map(|r| score_air_or_oxygen(r.value)),
        ),
        (News2Parameter::SystolicBp, number(&input.systolic, score_systolic_bp)),
        (News2Parameter::Pulse, number(&input.pulse, score_pulse)),
        (
            News2Parameter::Consciousness,
            input.consciousness.filter(|r| fresh(r.effective_at)).map(|r| score_consciousness(r.value)),
        ),
        (News2Parameter::Temperature, number(&input.temperature, score_temperature)),
    ];
    let mut parameters = Vec::new();
    let mut missing = Vec::new();
    for (parameter, score) in scores {
        match score {
            Some(score) => parameters.push(ParameterScore { parameter, score }),
            None => missing.push(parameter),
        }
    }
    let total = parameters.iter().map(|p| u32::from(p.score)).sum();
    let any_red = parameters.iter().any(|p| p.score >= 3);
    News2Score { total, risk: risk(total, any_red), any_red, complete: missing.is_empty(), missing, parameters }
}

/// The NEWS2 score at `now` of a patient's latest vital signs (see
/// [`news2_input`] for which observations count).
pub fn news2_from_observations(observations: &[Observation], now: DateTime<Utc>, max_age: Duration) -> News2Score {
    news2(&news2_input(observations), now, max_age)
}

/// The latest usable reading of each NEWS2 parameter among a patient's
/// observations. An observation counts when it is a vital sign
/// (category `vital-signs`), not deleted and not entered-in-error, and its
/// value is of the kind and unit recorded for its code:
///
/// - respiration rate [`vitals::RESPIRATORY_RATE`], SpO2
///   [`vitals::OXYGEN_SATURATION`] (pulse oximetry; 2708-6, arterial
///   saturation from a blood gas, is not SpO2), systolic
///   [`vitals::SYSTOLIC_BP`], pulse [`vitals::HEART_RATE`] and temperature
///   [`vitals::BODY_TEMPERATURE`]: a finite quantity in the unit of their
///   [`vitals::VitalSpec`] (a value in another unit is skipped, never
///   converted);
/// - air or oxygen [`vitals::ON_OXYGEN`]: a boolean;
/// - consciousness [`vitals::CONSCIOUSNESS`]: one of the codes of
///   [`Acvpu::snomed`].
///
/// Codes are matched alone, as in validation. "Latest" is the greatest
/// `effective_at`, then `updated_at`, then `version`.
pub fn news2_input(observations: &[Observation]) -> News2Input {
    let quantity = |code: &str| {
        let unit = vitals::vital_spec(code).map_or("", |s| s.ucum);
        latest(observations, code, |v| match v {
            ObservationValue::Quantity(q) if q.unit == unit && q.value.is_finite() => Some(q.value),
            _ => None,
        })
    };
    News2Input {
        respiration_rate: quantity(vitals::RESPIRATORY_RATE),
        spo2: quantity(vitals::OXYGEN_SATURATION),
        on_oxygen: latest(observations, vitals::ON_OXYGEN, |v| match v {
            ObservationValue::Boolean { value } => Some(*value),
            _ => None,
        }),
        systolic: quantity(vitals::SYSTOLIC_BP),
        pulse: quantity(vitals::HEART_RATE),
        consciousness: latest(observations, vitals::CONSCIOUSNESS, |v| match v {
            ObservationValue::Coded(coding) => Acvpu::from_coding(coding),
            _ => None,
        }),
        temperature: quantity(vitals::BODY_TEMPERATURE),
    }
}

/// Does this observation count as a vital sign that was measured? The match
/// on status is exhaustive so that a new status cannot compile without a
/// decision here.
fn counts(o: &Observation) -> bool {
    let valid = match o.status {
        ObservationStatus::Preliminary | ObservationStatus::Final | ObservationStatus::Amended => true,
        ObservationStatus::EnteredInError => false,
    };
    valid && !o.deleted && o.category == ObservationCategory::VitalSigns
}

fn latest<T>(
    observations: &[Observation],
    code: &str,
    value: impl Fn(&ObservationValue) -> Option<T>,
) -> Option<Reading<T>> {
    observations
        .iter()
        .filter(|o| o.code.code == code && counts(o))
        .filter_map(|o| value(&o.value).map(|v| (o, v)))
        .max_by_key(|(o, _)| (o.effective_at, o.updated_at, o.version))
        .map(|(o, v)| Reading::new(v, o.effective_at))
}

#[cfg(test)]
#[path = "news2_tests.rs"]
mod tests;
