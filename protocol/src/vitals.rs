//! Physiological limits for vital signs by LOINC code, with UCUM units.
//!
//! Two bands per vital sign, for two different purposes:
//!
//! - `min..=max`, the *plausibility limits*: a value outside them cannot be a
//!   measurement of a living patient (or cannot be read by ward equipment),
//!   so it is a typing or device error and is rejected (DESIGN.md section 4:
//!   "heart rate 900, temperature 80 C are rejected"). They are deliberately
//!   wide: a limit that rejects a real, if extreme, value would stop a nurse
//!   from charting a deteriorating patient, which is worse than accepting a
//!   typo that the chart then flags as abnormal.
//! - `normal_low..=normal_high`, the *normal band* for an adult at rest: a
//!   value outside it is flagged H or L but accepted.
//!
//! Body weight and height have no meaningful normal band (it depends on age,
//! sex and build); their band equals their limits, see
//! [`VitalSpec::has_normal_band`].

use serde::Serialize;
use ts_rs::TS;

use crate::{Coding, Interpretation, ReferenceRange, ValidationError};

/// LOINC 8867-4, heart rate.
pub const HEART_RATE: &str = "8867-4";
/// LOINC 9279-1, respiratory rate.
pub const RESPIRATORY_RATE: &str = "9279-1";
/// LOINC 8480-6, systolic blood pressure.
pub const SYSTOLIC_BP: &str = "8480-6";
/// LOINC 8462-4, diastolic blood pressure.
pub const DIASTOLIC_BP: &str = "8462-4";
/// LOINC 8310-5, body temperature.
pub const BODY_TEMPERATURE: &str = "8310-5";
/// LOINC 59408-5, oxygen saturation by pulse oximetry (SpO2).
pub const OXYGEN_SATURATION: &str = "59408-5";
/// LOINC 29463-7, body weight.
pub const BODY_WEIGHT: &str = "29463-7";
/// LOINC 8302-2, body height.
pub const BODY_HEIGHT: &str = "8302-2";

/// LOINC 67775-7, "Level of responsiveness": the question whose answer is
/// the patient's level of consciousness on the ACVPU scale, for NEWS2
/// (see [`crate::news2`]). It is the LOINC code NEMSIS and FHIR
/// implementation guides record AVPU under. The value is a coded
/// [`crate::ObservationValue::Coded`] SNOMED CT finding from HL7 UK's
/// CareConnect-ACVPU-1 value set, as the NHS NEWS2 FHIR messages send it
/// ([`crate::news2::Acvpu::coding`]). (The NHS also has a UK-extension
/// SNOMED CT observable, 1104441000000107 |ACVPU scale score|; LOINC is used
/// here like for every other vital sign.) A coded observation, so it has no
/// [`VitalSpec`].
pub const CONSCIOUSNESS: &str = "67775-7";
/// LOINC display text of [`CONSCIOUSNESS`].
pub const CONSCIOUSNESS_DISPLAY: &str = "Level of responsiveness";

/// SNOMED CT 371825009 |Patient on oxygen (finding)|, recorded with a
/// boolean value: true on supplemental oxygen, false breathing room air
/// (SNOMED CT 722742002 |Breathing room air|). It is NEWS2's "air or
/// oxygen?" parameter (see [`crate::news2`]).
///
/// Not a LOINC code because LOINC has no yes/no question for it: its oxygen
/// codes are quantities (3150-0, inhaled oxygen concentration, %; 3151-8,
/// inhaled oxygen flow rate, L/min), and the NHS NEWS2 FHIR messages record
/// air or oxygen as one of these two SNOMED CT findings. The code is
/// matched alone, like the LOINC codes, and cannot be mistaken for one (a
/// LOINC code has a check-digit hyphen). A boolean observation, so it has
/// no [`VitalSpec`].
pub const ON_OXYGEN: &str = "371825009";
/// SNOMED CT display text of [`ON_OXYGEN`].
pub const ON_OXYGEN_DISPLAY: &str = "Patient on oxygen";

/// Is this a vital sign's code: a LOINC code of [`VITAL_SPECS`] or
/// [`CONSCIOUSNESS`], or SNOMED CT [`ON_OXYGEN`]? (A feed files these as
/// vital signs, everything else as laboratory results.)
pub fn is_vital_sign(code: &Coding) -> bool {
    match code.system.as_str() {
        crate::LOINC => vital_spec(&code.code).is_some() || code.code == CONSCIOUSNESS,
        crate::SNOMED_CT => code.code == ON_OXYGEN,
        _ => false,
    }
}

/// Is this a yes/no vital sign ([`ON_OXYGEN`])? A feed that has no boolean
/// type (HL7 v2) sends it as Y or N (HL7 table 0136).
pub fn is_yes_no_vital_sign(code: &Coding) -> bool {
    code.system == crate::SNOMED_CT && code.code == ON_OXYGEN
}

/// The coding of a consciousness (ACVPU) observation.
pub fn consciousness_coding() -> Coding {
    Coding::loinc(CONSCIOUSNESS, CONSCIOUSNESS_DISPLAY)
}

/// The coding of an "on supplemental oxygen" observation.
pub fn on_oxygen_coding() -> Coding {
    Coding::new(crate::SNOMED_CT, ON_OXYGEN, ON_OXYGEN_DISPLAY)
}

/// The limits and the normal band of one vital sign. Serializable so that the
/// UI can show the same limits the backend enforces.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct VitalSpec {
    /// LOINC code, e.g. `8867-4`.
    pub loinc: &'static str,
    /// Lower-case name used in messages, e.g. `heart rate`.
    pub name: &'static str,
    /// LOINC display text for a [`Coding`], e.g. `Heart rate`.
    pub display: &'static str,
    /// The one UCUM unit Wardbook stores this vital sign in (no conversion:
    /// a value in another unit is rejected rather than guessed at).
    pub ucum: &'static str,
    /// Plausibility limits (inclusive): outside them a value is rejected.
    pub min: f64,
    pub max: f64,
    /// Normal band for an adult at rest (inclusive): outside it a value is
    /// flagged H or L. Equal to `min`/`max` when there is no normal band.
    pub normal_low: f64,
    pub normal_high: f64,
}

/// Every vital sign Wardbook knows, with the reasons for each limit.
pub const VITAL_SPECS: &[VitalSpec] = &[
    // Below 20/min is agonal or asystole (no palpable output to count); above
    // 300/min exceeds what AV conduction sustains (even pre-excited AF and
    // infant SVT stay under it).
    VitalSpec {
        loinc: HEART_RATE,
        name: "heart rate",
        display: "Heart rate",
        ucum: "/min",
        min: 20.0,
        max: 300.0,
        normal_low: 60.0,
        normal_high: 100.0,
    },
    // 2/min still records a (near-)apnoeic patient; 80/min covers a
    // distressed neonate, the fastest rates seen.
    VitalSpec {
        loinc: RESPIRATORY_RATE,
        name: "respiratory rate",
        display: "Respiratory rate",
        ucum: "/min",
        min: 2.0,
        max: 80.0,
        normal_low: 12.0,
        normal_high: 20.0,
    },
    // A cuff cannot measure below about 40 mm[Hg]; cuff devices top out at
    // 300 mm[Hg].
    VitalSpec {
        loinc: SYSTOLIC_BP,
        name: "systolic blood pressure",
        display: "Systolic blood pressure",
        ucum: "mm[Hg]",
        min: 40.0,
        max: 300.0,
        normal_low: 90.0,
        normal_high: 139.0,
    },
    // Diastolic below 20 is not measurable by cuff; 200 is beyond the worst
    // hypertensive emergencies recorded.
    VitalSpec {
        loinc: DIASTOLIC_BP,
        name: "diastolic blood pressure",
        display: "Diastolic blood pressure",
        ucum: "mm[Hg]",
        min: 20.0,
        max: 200.0,
        normal_low: 60.0,
        normal_high: 89.0,
    },
    // 25 Cel is deep hypothermia at the lower range of low-reading clinical
    // thermometers; above 45 Cel is not survivable. Fahrenheit (`[degF]`)
    // is rejected by unit, never converted.
    VitalSpec {
        loinc: BODY_TEMPERATURE,
        name: "body temperature",
        display: "Body temperature",
        ucum: "Cel",
        min: 25.0,
        max: 45.0,
        normal_low: 36.1,
        normal_high: 37.9,
    },
    // Saturation cannot exceed 100 %; pulse oximeters are not calibrated
    // (nor displayed) much below 40 %.
    VitalSpec {
        loinc: OXYGEN_SATURATION,
        name: "oxygen saturation",
        display: "Oxygen saturation in Arterial blood by Pulse oximetry",
        ucum: "%",
        min: 40.0,
        max: 100.0,
        normal_low: 94.0,
        normal_high: 100.0,
    },
    // From the smallest surviving preterm infants (about 0.25 kg) to the
    // heaviest people recorded (about 635 kg). No normal band.
    VitalSpec {
        loinc: BODY_WEIGHT,
        name: "body weight",
        display: "Body weight",
        ucum: "kg",
        min: 0.2,
        max: 650.0,
        normal_low: 0.2,
        normal_high: 650.0,
    },
    // From an extremely preterm infant (about 20 cm) to the tallest person
    // recorded (272 cm). No normal band.
    VitalSpec {
        loinc: BODY_HEIGHT,
        name: "body height",
        display: "Body height",
        ucum: "cm",
        min: 20.0,
        max: 280.0,
        normal_low: 20.0,
        normal_high: 280.0,
    },
];

/// The spec of a vital sign by LOINC code, or `None` when it is not one.
pub fn vital_spec(loinc: &str) -> Option<&'static VitalSpec> {
    VITAL_SPECS.iter().find(|s| s.loinc == loinc)
}

/// Checks a vital sign value against its unit and plausibility limits. Codes
/// that are not vital signs pass (there is nothing to check them against).
/// The error names the limit and never the value.
pub fn check_vital(loinc: &str, value: f64, unit: &str) -> Result<(), ValidationError> {
    match vital_spec(loinc) {
        Some(spec) => spec.check(value, unit),
        None if !value.is_finite() => Err(non_finite()),
        None => Ok(()),
    }
}

fn non_finite() -> ValidationError {
    ValidationError::new("value", "value must be a finite number")
}

impl VitalSpec {
    /// False for weight and height, whose band equals their limits: they get
    /// no reference range and no H/L flag.
    pub fn has_normal_band(&self) -> bool {
        self.normal_low > self.min || self.normal_high < self.max
    }

    /// The LOINC coding for this vital sign.
    pub fn coding(&self) -> Coding {
        Coding::loinc(self.loinc, self.display)
    }

    /// The normal band as a reference range, when there is one.
    pub fn reference_range(&self) -> Option<ReferenceRange> {
        self.has_normal_band().then(|| ReferenceRange {
            low: Some(self.normal_low),
            high: Some(self.normal_high),
            unit: self.ucum.to_owned(),
        })
    }

    /// H, L or N against the normal band; `None` when there is no band.
    pub fn interpret(&self, value: f64) -> Option<Interpretation> {
        if !self.has_normal_band() {
            None
        } else if value > self.normal_high {
            Some(Interpretation::High)
        } else if value < self.normal_low {
            Some(Interpretation::Low)
        } else {
            Some(Interpretation::Normal)
        }
    }

    /// Checks a value: finite, in this spec's unit, within the limits.
    pub fn check(&self, value: f64, unit: &str) -> Result<(), ValidationError> {
        if !value.is_finite() {
            return Err(non_finite());
        }
        if unit != self.ucum {
            return Err(ValidationError::new(
                "value.unit",
                format!("{} (LOINC {}) unit must be {}", self.name, self.loinc, self.ucum),
            ));
        }
        if value < self.min || value > self.max {
            return Err(ValidationError::new("value", self.limits_message()));
        }
        Ok(())
    }

    /// E.g. "heart rate (LOINC 8867-4) must be between 20 and 300 /min".
    pub fn limits_message(&self) -> String {
        format!("{} (LOINC {}) must be between {} and {} {}", self.name, self.loinc, self.min, self.max, self.ucum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spec_is_consistent() {
        for s in VITAL_SPECS {
            assert!(s.min < s.max, "{}", s.loinc);
            assert!(s.min <= s.normal_low && s.normal_low < s.normal_high, "{}", s.loinc);
            assert!(s.normal_high <= s.max, "{}", s.loinc);
            assert_eq!(vital_spec(s.loinc), Some(s));
        }
        assert_eq!(VITAL_SPECS.len(), 8);
    }

    #[test]
    fn each_vital_at_min_max_and_just_beyond() {
        for s in VITAL_SPECS {
            assert_eq!(check_vital(s.loinc, s.min, s.ucum), Ok(()), "{} min", s.name);
            assert_eq!(check_vital(s.loinc, s.max, s.ucum), Ok(()), "{} max", s.name);
            for bad in [s.min - 0.1, s.max + 0.1] {
                let err = check_vital(s.loinc, bad, s.ucum).expect_err(s.name);
                assert_eq!(err.field, "value");
                assert_eq!(err.message, s.limits_message());
                assert!(err.message.contains(s.name) && err.message.contains(s.loinc));
                assert!(err.message.contains(s.ucum));
                assert!(!err.message.contains(&bad.to_string()), "{}", err.message);
            }
        }
    }

    #[test]
    fn limit_messages_read_well() {
        let hr = vital_spec(HEART_RATE).expect("heart rate");
        assert_eq!(hr.limits_message(), "heart rate (LOINC 8867-4) must be between 20 and 300 /min");
        let t = vital_spec(BODY_TEMPERATURE).expect("temperature");
        assert_eq!(check_vital(BODY_TEMPERATURE, 80.0, "Cel").map_err(|e| e.message), Err(t.limits_message()));
        let w = vital_spec(BODY_WEIGHT).expect("weight");
        assert_eq!(w.limits_message(), "body weight (LOINC 29463-7) must be between 0.2 and 650 kg");
    }

    #[test]
    fn wrong_unit_names_the_expected_unit() {
        let err = check_vital(BODY_TEMPERATURE, 98.6, "[degF]").expect_err("Fahrenheit");
        assert_eq!(err.field, "value.unit");
        assert_eq!(err.message, "body temperature (LOINC 8310-5) unit must be Cel");
        assert!(!err.message.contains("degF") && !err.message.contains("98.6"));
        for s in VITAL_SPECS {
            assert!(check_vital(s.loinc, s.min, "").is_err());
            assert!(check_vital(s.loinc, s.min, "bogus").is_err());
        }
    }

    #[test]
    fn non_finite_values_are_rejected_even_for_unknown_codes() {
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(check_vital(HEART_RATE, v, "/min").is_err());
            assert!(check_vital("2345-7", v, "mg/dL").is_err());
        }
        assert_eq!(check_vital("2345-7", 9000.0, "mg/dL"), Ok(()));
    }

    #[test]
    fn interpretation_against_the_normal_band() {
        let hr = vital_spec(HEART_RATE).expect("heart rate");
        assert_eq!(hr.interpret(59.0), Some(Interpretation::Low));
        assert_eq!(hr.interpret(60.0), Some(Interpretation::Normal));
        assert_eq!(hr.interpret(100.0), Some(Interpretation::Normal));
        assert_eq!(hr.interpret(101.0), Some(Interpretation::High));
        let rr = hr.reference_range().expect("range");
        assert_eq!((rr.low, rr.high, rr.unit.as_str()), (Some(60.0), Some(100.0), "/min"));
        for code in [BODY_WEIGHT, BODY_HEIGHT] {
            let s = vital_spec(code).expect("spec");
            assert!(!s.has_normal_band());
            assert_eq!(s.interpret(70.0), None);
            assert_eq!(s.reference_range(), None);
        }
        assert_eq!(vital_spec("0000-0"), None);
    }

    #[test]
    fn the_news2_codes_are_not_quantities() {
        for code in [CONSCIOUSNESS, ON_OXYGEN] {
            assert_eq!(vital_spec(code), None, "{code}");
            assert!(VITAL_SPECS.iter().all(|s| s.loinc != code));
        }
        assert_eq!(consciousness_coding(), Coding::loinc("67775-7", "Level of responsiveness"));
        let o2 = on_oxygen_coding();
        assert_eq!((o2.system.as_str(), o2.code.as_str()), (crate::SNOMED_CT, "371825009"));
    }
}
