//! Tests of `news2.rs`.
use chrono::TimeZone;
use uuid::Uuid;

use super::*;
use crate::{Quantity, validate_observation};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).single().expect("valid time")
}

fn at(minutes_ago: i64) -> DateTime<Utc> {
    now() - Duration::minutes(minutes_ago)
}

/// A full set scoring 0 everywhere, measured ten minutes ago.
fn normal() -> News2Input {
    let t = at(10);
    News2Input {
        respiration_rate: Some(Reading::new(16.0, t)),
        spo2: Some(Reading::new(97.0, t)),
        on_oxygen: Some(Reading::new(false, t)),
        systolic: Some(Reading::new(120.0, t)),
        pulse: Some(Reading::new(70.0, t)),
        consciousness: Some(Reading::new(Acvpu::Alert, t)),
        temperature: Some(Reading::new(37.0, t)),
    }
}

fn score(input: &News2Input) -> News2Score {
    news2(input, now(), default_max_age())
}

fn check(name: &str, f: fn(f64) -> u8, table: &[(f64, u8)]) {
    for &(value, want) in table {
        assert_eq!(f(value), want, "{name} {value}");
    }
}

// Both sides of every boundary of chart 1, and the ends of the
// plausibility limits of `VITAL_SPECS`.

#[test]
fn respiration_rate_bands() {
    let table =
        [(2.0, 3), (8.0, 3), (9.0, 1), (11.0, 1), (12.0, 0), (20.0, 0), (21.0, 2), (24.0, 2), (25.0, 3), (80.0, 3)];
    check("respiration rate", score_respiration_rate, &table);
}

#[test]
fn spo2_scale1_bands() {
    let table = [(40.0, 3), (91.0, 3), (92.0, 2), (93.0, 2), (94.0, 1), (95.0, 1), (96.0, 0), (100.0, 0)];
    check("SpO2", score_spo2_scale1, &table);
}

#[test]
fn air_or_oxygen() {
    assert_eq!(score_air_or_oxygen(true), 2);
    assert_eq!(score_air_or_oxygen(false), 0);
}

#[test]
fn systolic_bp_bands() {
    let table = [
        (40.0, 3),
        (90.0, 3),
        (91.0, 2),
        (100.0, 2),
        (101.0, 1),
        (110.0, 1),
        (111.0, 0),
        (219.0, 0),
        (220.0, 3),
        (300.0, 3),
    ];
    check("systolic", score_systolic_bp, &table);
}

#[test]
fn pulse_bands() {
    let table = [
        (20.0, 3),
        (40.0, 3),
        (41.0, 1),
        (50.0, 1),
        (51.0, 0),
        (90.0, 0),
        (91.0, 1),
        (110.0, 1),
        (111.0, 2),
        (130.0, 2),
        (131.0, 3),
        (300.0, 3),
    ];
    check("pulse", score_pulse, &table);
}

#[test]
fn consciousness_levels() {
    assert_eq!(score_consciousness(Acvpu::Alert), 0);
    for level in [Acvpu::NewConfusion, Acvpu::Voice, Acvpu::Pain, Acvpu::Unresponsive] {
        assert_eq!(score_consciousness(level), 3, "{level}");
    }
    assert_eq!(Acvpu::ALL.len(), 5);
}

#[test]
fn temperature_bands() {
    let table =
        [(25.0, 3), (35.0, 3), (35.1, 1), (36.0, 1), (36.1, 0), (38.0, 0), (38.1, 1), (39.0, 1), (39.1, 2), (45.0, 2)];
    check("temperature", score_temperature, &table);
}

#[test]
fn values_between_bands_are_rounded_to_the_chart_half_away_from_zero() {
    check(
        "respiration rate",
        score_respiration_rate,
        &[(8.49, 3), (8.5, 1), (11.49, 1), (11.5, 0), (20.49, 0), (20.5, 2), (24.49, 2), (24.5, 3)],
    );
    check("SpO2", score_spo2_scale1, &[(91.49, 3), (91.5, 2), (93.5, 1), (95.49, 1), (95.5, 0)]);
    check(
        "systolic",
        score_systolic_bp,
        &[(90.49, 3), (90.5, 2), (100.5, 1), (110.49, 1), (110.5, 0), (219.49, 0), (219.5, 3)],
    );
    check(
        "pulse",
        score_pulse,
        &[(40.49, 3), (40.5, 1), (50.5, 0), (90.49, 0), (90.5, 1), (110.5, 2), (130.49, 2), (130.5, 3)],
    );
    check(
        "temperature",
        score_temperature,
        &[(35.04, 3), (35.05, 1), (36.04, 1), (36.05, 0), (38.04, 0), (38.05, 1), (39.04, 1), (39.05, 2)],
    );
}

#[test]
fn every_two_decimal_temperature_rounds_its_half_up() {
    // 25.05, 25.15, ... 44.95: each scores as the tenth above it.
    for hundredths in (2505..4500).step_by(10) {
        let value = f64::from(hundredths) / 100.0;
        let above = f64::from((hundredths + 5) / 10) / 10.0;
        assert_eq!(score_temperature(value), score_temperature(above), "{value} as {above}");
        assert_eq!((value * 10.0).round(), f64::from((hundredths + 5) / 10), "{value}");
    }
}

#[test]
fn a_normal_full_set_scores_zero_and_low() {
    let s = score(&normal());
    assert_eq!(s.total, 0);
    assert_eq!(s.risk, News2Risk::Low);
    assert!(s.complete && !s.any_red && s.missing.is_empty());
    let order: Vec<_> = s.parameters.iter().map(|p| p.parameter).collect();
    assert_eq!(order, News2Parameter::ALL);
    assert!(s.parameters.iter().all(|p| p.score == 0));
}

#[test]
fn the_aggregate_is_the_sum_of_the_parameters() {
    let t = at(5);
    let input = News2Input {
        respiration_rate: Some(Reading::new(22.0, t)),
        spo2: Some(Reading::new(95.0, t)),
        on_oxygen: Some(Reading::new(true, t)),
        systolic: Some(Reading::new(105.0, t)),
        pulse: Some(Reading::new(115.0, t)),
        consciousness: Some(Reading::new(Acvpu::Alert, t)),
        temperature: Some(Reading::new(38.5, t)),
    };
    let s = score(&input);
    let parts: Vec<_> = s.parameters.iter().map(|p| (p.parameter, p.score)).collect();
    assert_eq!(
        parts,
        [
            (News2Parameter::RespirationRate, 2),
            (News2Parameter::Spo2, 1),
            (News2Parameter::AirOrOxygen, 2),
            (News2Parameter::SystolicBp, 1),
            (News2Parameter::Pulse, 2),
            (News2Parameter::Consciousness, 0),
            (News2Parameter::Temperature, 1),
        ]
    );
    assert_eq!((s.total, s.risk, s.any_red, s.complete), (9, News2Risk::High, false, true));
    assert_eq!(s.score_of(News2Parameter::Pulse), Some(2));

    let worst = News2Input {
        respiration_rate: Some(Reading::new(30.0, t)),
        spo2: Some(Reading::new(85.0, t)),
        on_oxygen: Some(Reading::new(true, t)),
        systolic: Some(Reading::new(80.0, t)),
        pulse: Some(Reading::new(140.0, t)),
        consciousness: Some(Reading::new(Acvpu::Unresponsive, t)),
        temperature: Some(Reading::new(34.0, t)),
    };
    assert_eq!(score(&worst).total, 20);
}

#[test]
fn risk_bands_of_chart_2() {
    let table = [
        (0, false, News2Risk::Low),
        (1, false, News2Risk::Low),
        (4, false, News2Risk::Low),
        (3, true, News2Risk::LowMedium),
        (4, true, News2Risk::LowMedium),
        (5, false, News2Risk::Medium),
        (5, true, News2Risk::Medium),
        (6, false, News2Risk::Medium),
        (6, true, News2Risk::Medium),
        (7, false, News2Risk::High),
        (7, true, News2Risk::High),
        (20, true, News2Risk::High),
    ];
    for (total, red, want) in table {
        assert_eq!(risk(total, red), want, "{total} red={red}");
    }
}

#[test]
fn a_single_red_parameter_is_low_medium_but_three_ones_are_low() {
    let mut red = normal();
    red.respiration_rate = Some(Reading::new(7.0, at(1)));
    let s = score(&red);
    assert_eq!((s.total, s.any_red, s.risk), (3, true, News2Risk::LowMedium));

    let mut confused = normal();
    confused.consciousness = Some(Reading::new(Acvpu::NewConfusion, at(1)));
    assert_eq!(score(&confused).risk, News2Risk::LowMedium);

    let mut ones = normal();
    ones.respiration_rate = Some(Reading::new(10.0, at(1)));
    ones.spo2 = Some(Reading::new(95.0, at(1)));
    ones.temperature = Some(Reading::new(38.5, at(1)));
    let s = score(&ones);
    assert_eq!((s.total, s.any_red, s.risk), (3, false, News2Risk::Low));

    // The aggregate wins when it is higher: red 3 + oxygen 2 = 5.
    red.on_oxygen = Some(Reading::new(true, at(1)));
    let s = score(&red);
    assert_eq!((s.total, s.any_red, s.risk), (5, true, News2Risk::Medium));
}

#[test]
fn missing_parameters_make_it_incomplete_with_a_partial_total() {
    let s = score(&News2Input::default());
    assert_eq!((s.total, s.risk, s.complete, s.any_red), (0, News2Risk::Low, false, false));
    assert_eq!(s.missing, News2Parameter::ALL);
    assert!(s.parameters.is_empty());

    let mut input = normal();
    input.temperature = None;
    input.on_oxygen = None;
    input.pulse = Some(Reading::new(135.0, at(1)));
    let s = score(&input);
    assert!(!s.complete);
    assert_eq!(s.missing, [News2Parameter::AirOrOxygen, News2Parameter::Temperature]);
    assert_eq!((s.total, s.risk, s.any_red), (3, News2Risk::LowMedium, true));
    assert_eq!(s.score_of(News2Parameter::Temperature), None);
    assert_eq!(s.parameters.len(), 5);
}

#[test]
fn a_reading_older_than_the_max_age_is_missing() {
    let max_age = Duration::hours(NEWS2_MAX_AGE_HOURS);
    let mut input = normal();
    input.spo2 = Some(Reading::new(90.0, now() - max_age));
    let s = news2(&input, now(), max_age);
    assert!(s.complete, "exactly the max age still counts");
    assert_eq!(s.total, 3);

    input.spo2 = Some(Reading::new(90.0, now() - max_age - Duration::seconds(1)));
    let s = news2(&input, now(), max_age);
    assert!(!s.complete);
    assert_eq!(s.missing, [News2Parameter::Spo2]);
    assert_eq!((s.total, s.any_red), (0, false), "the stale value is not scored");

    // A shorter setting makes the same set stale.
    let s = news2(&normal(), now(), Duration::minutes(5));
    assert_eq!(s.missing, News2Parameter::ALL);

    // A clock a little ahead: a reading after `now` counts.
    let mut ahead = normal();
    ahead.pulse = Some(Reading::new(45.0, now() + Duration::minutes(2)));
    let s = score(&ahead);
    assert!(s.complete);
    assert_eq!(s.score_of(News2Parameter::Pulse), Some(1));
}

#[test]
fn a_non_finite_reading_is_missing() {
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut input = normal();
        input.temperature = Some(Reading::new(bad, at(1)));
        let s = score(&input);
        assert_eq!(s.missing, [News2Parameter::Temperature]);
        assert_eq!(s.total, 0);
    }
}

#[test]
fn trigger_colours() {
    let colours: Vec<_> = (0..=3).map(TriggerColour::for_parameter_score).collect();
    assert_eq!(colours, [TriggerColour::None, TriggerColour::Yellow, TriggerColour::Orange, TriggerColour::Red]);
    assert_eq!(ParameterScore { parameter: News2Parameter::Pulse, score: 3 }.colour(), TriggerColour::Red);
    let risks: Vec<_> = News2Risk::ALL.iter().map(|r| r.colour()).collect();
    assert_eq!(risks, [TriggerColour::Green, TriggerColour::Yellow, TriggerColour::Orange, TriggerColour::Red]);
}

#[test]
fn the_score_serializes_with_wire_names() {
    let mut input = normal();
    input.consciousness = Some(Reading::new(Acvpu::Voice, at(1)));
    input.temperature = None;
    let json = serde_json::to_value(score(&input)).expect("serialize");
    assert_eq!(json["risk"], "low-medium");
    assert_eq!(json["total"], 3);
    assert_eq!(json["any_red"], true);
    assert_eq!(json["complete"], false);
    assert_eq!(json["missing"], serde_json::json!(["temperature"]));
    assert_eq!(json["parameters"][5], serde_json::json!({ "parameter": "consciousness", "score": 3 }));
    let back: News2Score = serde_json::from_value(json).expect("deserialize");
    assert_eq!(back, score(&input));
    assert_eq!(Acvpu::parse("new-confusion"), Some(Acvpu::NewConfusion));
    assert_eq!(serde_json::to_value(News2Parameter::AirOrOxygen).expect("json"), "air-or-oxygen");
}

#[test]
fn debug_output_has_no_values() {
    let text = format!("{:?}", normal());
    assert!(!text.contains("97") && !text.contains("120") && !text.contains("Alert"), "{text}");
}

#[test]
fn acvpu_codings_round_trip() {
    for &level in Acvpu::ALL {
        let coding = level.coding();
        assert_eq!(coding.system, SNOMED_CT);
        assert_eq!(Acvpu::from_coding(&coding), Some(level));
    }
    assert_eq!(Acvpu::Alert.coding().code, "248234008");
    assert_eq!(Acvpu::NewConfusion.coding().code, "130987000");
    assert_eq!(Acvpu::from_coding(&Coding::loinc("8867-4", "Heart rate")), None);
}

// From observations.

fn observation(code: Coding, value: ObservationValue, minutes_ago: i64) -> Observation {
    Observation {
        id: Uuid::now_v7(),
        version: 1,
        updated_at: at(minutes_ago),
        deleted: false,
        synthetic: true,
        patient_id: Uuid::nil(),
        category: ObservationCategory::VitalSigns,
        code,
        panel: None,
        value,
        reference_range: None,
        interpretation: None,
        status: ObservationStatus::Final,
        status_reason: None,
        effective_at: at(minutes_ago),
        recorded_by: "nurse".to_owned(),
    }
}

fn vital(code: &str, value: f64, minutes_ago: i64) -> Observation {
    let spec = vitals::vital_spec(code).expect("a vital sign");
    observation(spec.coding(), ObservationValue::Quantity(Quantity { value, unit: spec.ucum.to_owned() }), minutes_ago)
}

fn on_oxygen(value: bool, minutes_ago: i64) -> Observation {
    observation(vitals::on_oxygen_coding(), ObservationValue::Boolean { value }, minutes_ago)
}

fn consciousness(level: Acvpu, minutes_ago: i64) -> Observation {
    observation(vitals::consciousness_coding(), ObservationValue::Coded(level.coding()), minutes_ago)
}

fn full_set(minutes_ago: i64) -> Vec<Observation> {
    vec![
        vital(vitals::RESPIRATORY_RATE, 16.0, minutes_ago),
        vital(vitals::OXYGEN_SATURATION, 97.0, minutes_ago),
        on_oxygen(false, minutes_ago),
        vital(vitals::SYSTOLIC_BP, 120.0, minutes_ago),
        vital(vitals::HEART_RATE, 70.0, minutes_ago),
        consciousness(Acvpu::Alert, minutes_ago),
        vital(vitals::BODY_TEMPERATURE, 37.0, minutes_ago),
    ]
}

#[test]
fn the_new_observations_pass_validation() {
    for o in [on_oxygen(true, 1), consciousness(Acvpu::Pain, 1)] {
        assert_eq!(validate_observation(&o), Ok(()), "{:?}", o.code);
    }
}

#[test]
fn a_full_set_of_observations_scores_like_its_input() {
    let obs = full_set(30);
    let s = news2_from_observations(&obs, now(), default_max_age());
    assert_eq!(s, score(&normal()));
    let input = news2_input(&obs);
    assert_eq!(input.on_oxygen.map(|r| r.value), Some(false));
    assert_eq!(input.consciousness.map(|r| r.value), Some(Acvpu::Alert));
    assert_eq!(input.spo2.map(|r| r.effective_at), Some(at(30)));
}

#[test]
fn the_latest_observation_of_each_code_wins() {
    let mut obs = full_set(120);
    obs.push(vital(vitals::HEART_RATE, 135.0, 10));
    obs.push(on_oxygen(true, 10));
    obs.push(consciousness(Acvpu::Voice, 200));
    let s = news2_from_observations(&obs, now(), default_max_age());
    assert_eq!(s.score_of(News2Parameter::Pulse), Some(3));
    assert_eq!(s.score_of(News2Parameter::AirOrOxygen), Some(2));
    assert_eq!(s.score_of(News2Parameter::Consciousness), Some(0), "the older Voice does not win");
    assert_eq!((s.total, s.risk), (5, News2Risk::Medium));
}

#[test]
fn void_and_non_vital_observations_do_not_count() {
    let mut obs = full_set(120);
    let mut in_error = vital(vitals::HEART_RATE, 135.0, 10);
    in_error.status = ObservationStatus::EnteredInError;
    let mut deleted = vital(vitals::RESPIRATORY_RATE, 30.0, 10);
    deleted.deleted = true;
    let mut lab = vital(vitals::OXYGEN_SATURATION, 85.0, 10);
    lab.category = ObservationCategory::Laboratory;
    let mut fahrenheit = vital(vitals::BODY_TEMPERATURE, 101.0, 10);
    fahrenheit.value = ObservationValue::Quantity(Quantity { value: 101.0, unit: "[degF]".to_owned() });
    let wrong_kind = observation(vitals::on_oxygen_coding(), ObservationValue::String { text: "yes".into() }, 5);
    let unknown_level =
        observation(vitals::consciousness_coding(), ObservationValue::Coded(Coding::new(SNOMED_CT, "1", "?")), 5);
    obs.extend([in_error, deleted, lab, fahrenheit, wrong_kind, unknown_level]);
    let s = news2_from_observations(&obs, now(), default_max_age());
    assert_eq!(s, score(&normal()), "only the first full set counts");

    let mut preliminary = vital(vitals::HEART_RATE, 45.0, 5);
    preliminary.status = ObservationStatus::Preliminary;
    obs.push(preliminary);
    let s = news2_from_observations(&obs, now(), default_max_age());
    assert_eq!(s.score_of(News2Parameter::Pulse), Some(1));
}

#[test]
fn stale_and_absent_observations_make_it_incomplete() {
    let mut obs = full_set(60 * 13);
    obs.push(vital(vitals::RESPIRATORY_RATE, 26.0, 5));
    obs.retain(|o| o.code.code != vitals::CONSCIOUSNESS);
    let s = news2_from_observations(&obs, now(), default_max_age());
    assert!(!s.complete);
    assert_eq!(
        s.missing,
        [
            News2Parameter::Spo2,
            News2Parameter::AirOrOxygen,
            News2Parameter::SystolicBp,
            News2Parameter::Pulse,
            News2Parameter::Consciousness,
            News2Parameter::Temperature,
        ]
    );
    assert_eq!((s.total, s.risk), (3, News2Risk::LowMedium));
    let s = news2_from_observations(&[], now(), default_max_age());
    assert_eq!(s.missing, News2Parameter::ALL);
}
