//! Table-driven tests of the checks made before a dose is recorded.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use uuid::Uuid;

use super::*;
use crate::allergy::tests::allergy;
use crate::medication::{CheckOverride, MedicationRequestStatus};
use crate::{AllergyClinicalStatus as Clinical, AllergyVerificationStatus as Verification};

const LOCAL: &str = "urn:wardbook:unmapped:pharmacy:formulary";
const PENICILLINS: &str = "penicillins";

/// `minutes` after 2025-06-10 12:00 UTC.
fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 10, 12, 0, 0).single().expect("a valid instant") + Duration::minutes(minutes)
}

fn rx(code: &str, display: &str) -> Coding {
    Coding::new(RXNORM, code, display)
}

fn local(code: &str, display: &str) -> Coding {
    Coding::new(LOCAL, code, display)
}

fn grams(value: f64) -> Dose {
    Dose { value, unit: "g".into() }
}

fn fixed_times() -> Timing {
    Timing::FixedTimes { times: vec![NaiveTime::from_hms_opt(8, 0, 0).expect("08:00")] }
}

fn prn(min_interval_minutes: u32, max_daily_dose: Option<f64>) -> Timing {
    Timing::Prn { min_interval_minutes, max_daily_dose }
}

/// An active order, started a week before [`at`]`(0)`, without an end.
fn order(medication: Coding, timing: Timing) -> MedicationRequest {
    MedicationRequest {
        id: Uuid::from_u128(10),
        version: 1,
        updated_at: DateTime::<Utc>::UNIX_EPOCH,
        deleted: false,
        synthetic: true,
        patient_id: Uuid::from_u128(1),
        medication,
        ingredients: Vec::new(),
        generic_name: None,
        strength: None,
        dose: Some(grams(1.0)),
        route: None,
        timing,
        start: at(-7 * 24 * 60),
        end: None,
        status: MedicationRequestStatus::Active,
        prescriber: None,
        indication: None,
        instructions: None,
        high_alert: false,
    }
}

fn with(mut o: MedicationRequest, generic: Option<&str>, ingredients: &[Coding]) -> MedicationRequest {
    o.generic_name = generic.map(str::to_owned);
    o.ingredients = ingredients.to_vec();
    o
}

/// A current (active, confirmed) allergy to `allergen`.
fn allergic_to(allergen: Coding) -> Allergy {
    let mut a = allergy(Clinical::Active, Verification::Confirmed, false);
    a.allergen = allergen;
    a
}

/// A dose of `dose` given at `given_at` against `order`.
fn given(id: u128, order: &MedicationRequest, given_at: DateTime<Utc>, dose: Dose) -> MedicationAdministration {
    MedicationAdministration {
        id: Uuid::from_u128(id),
        version: 1,
        updated_at: DateTime::<Utc>::UNIX_EPOCH,
        deleted: false,
        synthetic: true,
        patient_id: order.patient_id,
        request_id: order.id,
        due_at: None,
        status: AdministrationStatus::Given,
        not_given_reason: None,
        dose: Some(dose),
        route: None,
        site: None,
        given_at,
        performer: "nurse-a".into(),
        witness: None,
        overrides: Vec::new(),
        error_reason: None,
        recorded_at: given_at,
    }
}

/// A dose given by nurse-a at `given_at`, without a witness, no allergies.
fn propose<'a>(
    order: &'a MedicationRequest,
    given_at: DateTime<Utc>,
    dose: Option<&'a Dose>,
    administrations: &'a [MedicationAdministration],
) -> ProposedDose<'a> {
    ProposedDose {
        order,
        status: AdministrationStatus::Given,
        due_at: None,
        given_at,
        dose,
        witness: None,
        performer: "nurse-a",
        allergies: &[],
        administrations,
    }
}

fn checks(findings: &[CheckFinding]) -> Vec<SafetyCheck> {
    findings.iter().map(|f| f.check).collect()
}

/// The one finding `check` with `message` when `flagged`, else none.
fn found(flagged: bool, check: SafetyCheck, message: &str) -> Vec<CheckFinding> {
    if flagged { vec![CheckFinding { check, message: message.to_owned() }] } else { vec![] }
}

/// A scheduled order of `medication` with this generic name and these ingredients.
fn med(medication: Coding, generic: Option<&str>, ingredients: &[Coding]) -> MedicationRequest {
    with(order(medication, fixed_times()), generic, ingredients)
}

#[test]
fn allergy_match_by_code_ingredient_class_and_name() {
    use AllergyMatch::{SameClass, SameCode, SameIngredient, SameName};
    let pen_g = || rx("7980", "Penicillin G");
    let paracetamol = || Coding::new(SNOMED_CT, "387517004", "Paracetamol");
    let (nsaids, cephs) = ("non-steroidal anti-inflammatory drugs", "cephalosporins");
    // Label, allergen, order, how it matches.
    let (pens, ingredient, name) = (Some(SameClass(PENICILLINS)), Some(SameIngredient), Some(SameName));
    let cases: Vec<(&str, Coding, MedicationRequest, Option<AllergyMatch>)> = vec![
        ("same code", pen_g(), med(rx("7980", "Benzylpenicillin"), None, &[]), Some(SameCode)),
        (
            "same ingredient",
            rx("161", "Acetaminophen"),
            med(local("P", "Panadol"), None, &[rx("161", "x")]),
            ingredient,
        ),
        (
            "ingredient before class",
            rx("723", "Amoxicillin"),
            med(local("A", "Amoxil"), None, &[rx("723", "x")]),
            ingredient,
        ),
        ("class by code", pen_g(), med(rx("723", "Amoxil 500 mg capsules"), None, &[]), pens),
        (
            "class by code, no stems",
            rx("5640", "Ibuprofen"),
            med(rx("7258", "Naprosyn"), None, &[]),
            Some(SameClass(nsaids)),
        ),
        ("class by an ingredient's code", pen_g(), med(local("T", "Tazocin"), None, &[rx("8339", "x")]), pens),
        ("class by the generic name's stem", pen_g(), med(local("F", "Floxapen"), Some("flucloxacillin"), &[]), pens),
        ("class by the display's stem", pen_g(), med(local("F", "Flucloxacillin 500 mg capsules"), None, &[]), pens),
        (
            "class by the allergen's stem",
            local("A", "Cefalexin"),
            med(rx("2193", "Rocephin"), None, &[]),
            Some(SameClass(cephs)),
        ),
        ("name: the generic name", paracetamol(), med(local("P", "Panadol"), Some("  PARACETAMOL "), &[]), name),
        ("name: the display", paracetamol(), med(local("P", "paracetamol"), None, &[]), name),
        ("name: an ingredient", paracetamol(), med(local("C", "Co-codamol"), None, &[local("P", "Paracetamol")]), name),
        ("unrelated", pen_g(), med(rx("161", "Paracetamol 500 mg tablets"), Some("paracetamol"), &[]), None),
        ("code of another system", Coding::new(SNOMED_CT, "7980", "x"), med(rx("7980", "y"), None, &[]), None),
        ("a blank name is no name", local("A-1", " "), med(local("B-1", " "), Some(""), &[]), None),
    ];
    for (label, allergen, o, expected) in cases {
        assert_eq!(allergy_match(&allergic_to(allergen), &o), expected, "{label}");
    }
}

#[test]
fn allergy_match_only_for_a_current_allergy() {
    let o = order(rx("7980", "Penicillin G"), fixed_times());
    let cases = [
        (Clinical::Active, Verification::Confirmed, false, Some(AllergyMatch::SameCode)),
        (Clinical::Active, Verification::Unconfirmed, false, Some(AllergyMatch::SameCode)),
        (Clinical::Inactive, Verification::Confirmed, false, None),
        (Clinical::Resolved, Verification::Confirmed, false, None),
        (Clinical::Active, Verification::Refuted, false, None),
        (Clinical::Active, Verification::EnteredInError, false, None),
        (Clinical::Active, Verification::Confirmed, true, None),
    ];
    for (clinical, verification, deleted, expected) in cases {
        // The helper's allergen is penicillin G, RxNorm 7980.
        let a = allergy(clinical, verification, deleted);
        assert_eq!(allergy_match(&a, &o), expected, "{clinical} {verification} deleted={deleted}");
    }
}

#[test]
fn drug_class_by_code_and_name_stem() {
    let cases: Vec<(Option<Coding>, Option<&str>, Option<&str>)> = vec![
        (Some(rx("723", "x")), None, Some(PENICILLINS)),
        (Some(Coding::new(SNOMED_CT, "372687004", "x")), None, Some(PENICILLINS)),
        (Some(Coding::new(SNOMED_CT, "723", "x")), None, None),
        (Some(rx("10180", "x")), None, Some("sulfonamide antibiotics")),
        (Some(rx("723", "x")), Some("cefalexin"), Some(PENICILLINS)),
        (Some(rx("161", "x")), Some("paracetamol"), None),
        (None, None, None),
        (None, Some("   "), None),
        // Suffix stem: the word ends with it, and is longer than it.
        (None, Some("Amoxicillin"), Some(PENICILLINS)),
        (None, Some("  FLUCLOXACILLIN sodium "), Some(PENICILLINS)),
        (None, Some("cillin"), None),
        (None, Some("cillins"), None),
        (None, Some("ciprofloxacin"), Some("fluoroquinolones")),
        (None, Some("floxacin"), None),
        (None, Some("Ramipril"), Some("ACE inhibitors")),
        (None, Some("pril"), None),
        (None, Some("clarithromycin"), Some("macrolides")),
        // Prefix stems: the word starts with it.
        (None, Some("Cefalexin"), Some("cephalosporins")),
        (None, Some("cephradine"), Some("cephalosporins")),
        (None, Some("sulfamethoxazole"), Some("sulfonamide antibiotics")),
        (None, Some("procef"), None),
        (None, Some("disulfiram"), None),
    ];
    for (coding, name, expected) in cases {
        assert_eq!(drug_class(coding.as_ref(), name), expected, "{coding:?} {name:?}");
    }
}

/// BUG (reported): the macrolide stem `mycin` takes in glycopeptides,
/// lincosamides and aminoglycosides, so an erythromycin allergy stops
/// vancomycin "in the same drug class (macrolides)".
#[test]
fn the_macrolide_stem_does_not_take_in_other_mycins() {
    for name in ["vancomycin", "clindamycin", "streptomycin", "tobramycin", "neomycin"] {
        assert_eq!(drug_class(None, Some(name)), None, "{name}");
    }
    let erythromycin = allergic_to(rx("4053", "Erythromycin"));
    assert_eq!(allergy_match(&erythromycin, &order(local("VAN", "Vancomycin 1 g"), fixed_times())), None);
}

#[test]
fn allergy_findings_name_how_it_matched() {
    let amoxil = med(local("AMOX", "Amoxil 500 mg capsules"), None, &[rx("723", "amoxicillin")]);
    let cases = [
        (local("AMOX", "Amoxil"), "the same medication"),
        (rx("723", "Amoxicillin"), "an ingredient of it"),
        (rx("7980", "Penicillin G"), "in the same drug class (penicillins)"),
        (Coding::new(LOCAL, "A-9", "amoxil 500 mg capsules"), "the same medication by name"),
    ];
    for (allergen, why) in cases {
        let allergies = [allergic_to(allergen.clone())];
        let findings = check_dose(&ProposedDose { allergies: &allergies, ..propose(&amoxil, at(0), None, &[]) });
        let expected = format!(
            "The patient has a recorded allergy to {}, {why} as Amoxil 500 mg capsules. Do not give it unless a prescriber has confirmed it is safe; give the reason to override.",
            allergen.display
        );
        assert_eq!(findings, vec![CheckFinding { check: SafetyCheck::Allergy, message: expected }], "{why}");
    }
    // One finding per matching current allergy; none for a refuted one.
    let mut refuted = allergic_to(rx("733", "Ampicillin"));
    refuted.verification_status = Verification::Refuted;
    let allergies = [allergic_to(rx("7980", "Penicillin G")), refuted, allergic_to(rx("723", "Amoxicillin"))];
    let findings = check_dose(&ProposedDose { allergies: &allergies, ..propose(&amoxil, at(0), None, &[]) });
    assert_eq!(checks(&findings), [SafetyCheck::Allergy, SafetyCheck::Allergy]);
    assert!(findings[1].message.contains("an ingredient of it"), "{}", findings[1].message);
    let unrelated = [allergic_to(rx("161", "Paracetamol"))];
    assert!(check_dose(&ProposedDose { allergies: &unrelated, ..propose(&amoxil, at(0), None, &[]) }).is_empty());
}

#[test]
fn prn_interval() {
    let o = order(rx("161", "Paracetamol 500 mg tablets"), prn(240, None));
    let other = MedicationRequest { id: Uuid::from_u128(11), ..o.clone() };
    let previous = given(1, &o, at(0), grams(1.0));
    let mut in_error = given(2, &o, at(0), grams(1.0));
    in_error.status = AdministrationStatus::EnteredInError;
    in_error.error_reason = Some("wrong patient".into());
    let deleted = MedicationAdministration { deleted: true, ..previous.clone() };
    // Earlier doses, the proposed dose's time, findings.
    let cases: Vec<(Vec<MedicationAdministration>, i64, Vec<SafetyCheck>)> = vec![
        (vec![previous.clone()], 239, vec![SafetyCheck::PrnInterval]),
        (vec![previous.clone()], 240, vec![]),
        (vec![previous.clone()], 600, vec![]),
        // A dose recorded afterwards for an earlier time is checked too.
        (vec![previous.clone()], -239, vec![SafetyCheck::PrnInterval]),
        (vec![previous.clone()], -240, vec![]),
        (vec![in_error], 60, vec![]),
        (vec![deleted], 60, vec![]),
        (vec![given(3, &other, at(0), grams(1.0))], 60, vec![]),
        (vec![], 0, vec![]),
    ];
    for (earlier, minutes, expected) in cases {
        let findings = check_dose(&propose(&o, at(minutes), Some(&grams(1.0)), &earlier));
        assert_eq!(checks(&findings), expected, "at {minutes} min, {} earlier", earlier.len());
    }
    let findings = check_dose(&propose(&o, at(239), Some(&grams(1.0)), std::slice::from_ref(&previous)));
    assert_eq!(
        findings[0].message,
        "Another dose of Paracetamol 500 mg tablets was given 239 minutes from this one; the order allows one every 240 minutes at most."
    );
}

#[test]
fn prn_daily_maximum() {
    let o = order(rx("161", "Paracetamol"), prn(60, Some(4.0)));
    let h = |hours: i64| at(-hours * 60);
    let one = |id: u128, when: DateTime<Utc>| given(id, &o, when, grams(1.0));
    let mut in_error = one(9, h(1));
    in_error.status = AdministrationStatus::EnteredInError;
    let in_mg = given(8, &o, h(1), Dose { value: 500.0, unit: "mg".into() });
    let three = vec![one(1, h(20)), one(2, h(10)), one(3, h(2))];
    let cases: Vec<(&str, Vec<MedicationAdministration>, f64, bool)> = vec![
        ("3 g + 1 g = the maximum", three.clone(), 1.0, false),
        ("3 g + 1.5 g", three.clone(), 1.5, true),
        ("4 g + 1 g", [three.clone(), vec![one(4, h(1))]].concat(), 1.0, true),
        ("a dose 24 h before does not count", [three.clone(), vec![one(4, h(24)), one(5, h(30))]].concat(), 1.0, false),
        ("a dose 23 h 59 min before counts", [three.clone(), vec![one(4, at(-24 * 60 + 1))]].concat(), 1.0, true),
        ("entered in error does not count", [three.clone(), vec![in_error]].concat(), 1.0, false),
        ("another unit is not added", [three.clone(), vec![in_mg]].concat(), 1.0, false),
        ("the first dose above the maximum", vec![], 4.5, true),
        ("the first dose at the maximum", vec![], 4.0, false),
    ];
    for (label, earlier, value, flagged) in cases {
        let findings = check_dose(&propose(&o, at(0), Some(&grams(value)), &earlier));
        assert_eq!(checks(&findings), checks(&found(flagged, SafetyCheck::PrnDailyMaximum, "")), "{label}");
    }
    let findings = check_dose(&propose(&o, at(0), Some(&grams(1.5)), &three));
    assert_eq!(
        findings[0].message,
        "This dose would make 4.5 g of Paracetamol in 24 hours; the order's maximum is 4 g."
    );
    // No maximum, or no dose: nothing to add up.
    let no_max = order(rx("161", "Paracetamol"), prn(60, None));
    assert!(check_dose(&propose(&no_max, at(0), Some(&grams(9.0)), &three)).is_empty());
    assert!(check_dose(&propose(&o, at(0), None, &[three.clone(), vec![one(4, h(1))]].concat())).is_empty());
}

/// BUG (reported): doses are added in f64, so three 0.2 mg doses make
/// 0.6000000000000001 mg and reaching a 0.6 mg maximum exactly is flagged.
#[test]
fn prn_daily_maximum_reached_exactly_in_fractional_doses_is_allowed() {
    let mut o = order(rx("1819", "Buprenorphine 200 microgram"), prn(60, Some(0.6)));
    let mg = |value: f64| Dose { value, unit: "mg".into() };
    o.dose = Some(mg(0.2));
    let earlier = [given(1, &o, at(-600), mg(0.2)), given(2, &o, at(-300), mg(0.2))];
    assert_eq!(checks(&check_dose(&propose(&o, at(0), Some(&mg(0.2)), &earlier))), Vec::<SafetyCheck>::new());
}

#[test]
fn order_not_active() {
    let base = order(rx("161", "Paracetamol"), fixed_times());
    let mut cases: Vec<(MedicationRequest, Option<&str>)> = MedicationRequestStatus::ALL
        .iter()
        .map(|s| {
            let expected = (*s != MedicationRequestStatus::Active).then_some(s.as_str());
            (MedicationRequest { status: *s, ..base.clone() }, expected)
        })
        .collect();
    cases.push((MedicationRequest { deleted: true, ..base.clone() }, Some("deleted")));
    cases.push((
        MedicationRequest { deleted: true, status: MedicationRequestStatus::Stopped, ..base.clone() },
        Some("deleted"),
    ));
    assert_eq!(cases.len(), 7);
    for (o, expected) in cases {
        let findings = check_dose(&propose(&o, at(0), None, &[]));
        let message = format!(
            "The order for Paracetamol is {}: it should not be given. Check with the prescriber.",
            expected.unwrap_or_default()
        );
        assert_eq!(findings, found(expected.is_some(), SafetyCheck::OrderNotActive, &message), "{}", o.status);
    }
}

#[test]
fn outside_order_dates() {
    let mut o = order(rx("161", "Paracetamol"), fixed_times());
    o.start = at(0);
    o.end = Some(at(600));
    let open_ended = MedicationRequest { end: None, ..o.clone() };
    let cases = [(&o, -1, true), (&o, 0, false), (&o, 599, false), (&o, 600, true), (&o, 601, true)];
    let cases = cases.into_iter().chain([(&open_ended, 100_000, false)]);
    for (o, minutes, flagged) in cases {
        let findings = check_dose(&propose(o, at(minutes), None, &[]));
        let message = "The dose time is outside the order's start and end dates for Paracetamol.";
        let expected = found(flagged, SafetyCheck::OutsideOrderDates, message);
        assert_eq!(findings, expected, "at {minutes} min, end {:?}", o.end);
    }
}

#[test]
fn high_alert_needs_a_witness_other_than_the_performer() {
    let mut o = order(rx("5856", "Insulin aspart"), fixed_times());
    o.high_alert = true;
    let refused = [None, Some(""), Some("   "), Some("nurse-a"), Some(" nurse-a ")];
    let accepted = [Some("nurse-b"), Some(" nurse-b ")];
    let cases = refused.map(|w| (w, true)).into_iter().chain(accepted.map(|w| (w, false)));
    for (witness, flagged) in cases {
        let findings = check_dose(&ProposedDose { witness, ..propose(&o, at(0), None, &[]) });
        let message = "Insulin aspart is a high-alert medication: a second person must check the dose. Name the witness (not yourself).";
        let expected = found(flagged, SafetyCheck::NoWitness, message);
        assert_eq!(findings, expected, "witness {witness:?}");
    }
    // Not high-alert: no witness needed.
    o.high_alert = false;
    assert!(check_dose(&propose(&o, at(0), None, &[])).is_empty());
}

/// An order that fails every check for a dose given at `at(30)`.
fn failing_everything() -> (MedicationRequest, Vec<MedicationAdministration>, Vec<Allergy>) {
    let mut o = order(rx("723", "Amoxicillin"), prn(240, Some(1.0)));
    o.status = MedicationRequestStatus::Stopped;
    o.end = Some(at(0));
    o.high_alert = true;
    let earlier = vec![given(1, &o, at(0), grams(1.0))];
    (o, earlier, vec![allergic_to(rx("7980", "Penicillin G"))])
}

#[test]
fn every_check_in_its_fixed_order_and_none_when_not_given() {
    let (o, earlier, allergies) = failing_everything();
    let dose = grams(1.0);
    for status in AdministrationStatus::ALL {
        let findings = check_dose(&ProposedDose {
            status: *status,
            allergies: &allergies,
            ..propose(&o, at(30), Some(&dose), &earlier)
        });
        use SafetyCheck as S;
        let expected = match status {
            AdministrationStatus::Given => {
                vec![
                    S::Allergy,
                    S::PrnInterval,
                    S::PrnDailyMaximum,
                    S::OrderNotActive,
                    S::OutsideOrderDates,
                    S::NoWitness,
                ]
            }
            AdministrationStatus::NotGiven | AdministrationStatus::EnteredInError => vec![],
        };
        assert_eq!(checks(&findings), expected, "{status}");
    }
}

#[test]
fn unresolved_findings_without_an_override_with_a_reason() {
    let (o, earlier, allergies) = failing_everything();
    let dose = grams(1.0);
    let findings = check_dose(&ProposedDose { allergies: &allergies, ..propose(&o, at(30), Some(&dose), &earlier) });
    assert_eq!(findings.len(), 6);
    let by = |check: SafetyCheck, reason: &str| CheckOverride { check, reason: reason.into() };
    let all: Vec<CheckOverride> = SafetyCheck::ALL.iter().map(|c| by(*c, "prescriber confirmed")).collect();
    // A PRN dose has no due time: every check but "already given" fails.
    let failing: Vec<SafetyCheck> =
        SafetyCheck::ALL.iter().copied().filter(|c| *c != SafetyCheck::AlreadyGiven).collect();
    let cases: Vec<(Vec<CheckOverride>, Vec<SafetyCheck>)> = vec![
        (vec![], failing.clone()),
        (all.clone(), vec![]),
        (
            vec![by(SafetyCheck::Allergy, "prescriber confirmed"), by(SafetyCheck::NoWitness, "second nurse: J Smith")],
            vec![
                SafetyCheck::PrnInterval,
                SafetyCheck::PrnDailyMaximum,
                SafetyCheck::OrderNotActive,
                SafetyCheck::OutsideOrderDates,
            ],
        ),
        // A blank reason does not count, even beside another override.
        ([all[1..].to_vec(), vec![by(SafetyCheck::Allergy, "  ")]].concat(), vec![SafetyCheck::Allergy]),
        (vec![by(SafetyCheck::Allergy, ""), by(SafetyCheck::Allergy, "confirmed")], failing[1..].to_vec()),
    ];
    for (overrides, expected) in cases {
        let left: Vec<SafetyCheck> = unresolved(&findings, &overrides).into_iter().map(|f| f.check).collect();
        assert_eq!(left, expected, "{overrides:?}");
    }
}

#[test]
fn a_due_time_already_given_is_a_finding_until_that_record_is_entered_in_error() {
    let o = order(rx("723", "Amoxicillin"), fixed_times());
    let due = at(0);
    let mut given = given(7, &o, at(5), grams(0.5));
    given.due_at = Some(due);
    let records = [given.clone()];
    let findings = check_dose(&ProposedDose { due_at: Some(due), ..propose(&o, at(10), None, &records) });
    assert_eq!(checks(&findings), vec![SafetyCheck::AlreadyGiven]);
    assert!(findings[0].message.contains("already recorded as given"), "{}", findings[0].message);
    // Another due time, or the earlier record marked entered in error: nothing.
    assert!(check_dose(&ProposedDose { due_at: Some(at(360)), ..propose(&o, at(10), None, &records) }).is_empty());
    let mut voided = given;
    voided.status = AdministrationStatus::EnteredInError;
    voided.error_reason = Some("wrong patient".into());
    let records = [voided];
    assert!(check_dose(&ProposedDose { due_at: Some(due), ..propose(&o, at(10), None, &records) }).is_empty());
}
