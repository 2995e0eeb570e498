//! Synthetic allergies and intolerances: coded allergens (RxNorm ingredients
//! for medications, SNOMED CT substances otherwise) with the reactions they
//! typically cause, coded in SNOMED CT.
//!
//! About 30 % of patients have none (zero rows: "no known allergies").
//! Patient 0 always has a confirmed, active, high-criticality penicillin
//! allergy (anaphylaxis); patient 2 never has any. Criticality follows the
//! reactions: anaphylaxis or angioedema make it high; an unconfirmed entry
//! without them may be unable-to-assess.

use chrono::Duration;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::AllergyType::{Allergy as A, Intolerance as I};

use super::{RECORDED_BY_CLINICIAN, Stay, new_id, pick};
use crate::{
    Allergy, AllergyCategory as Cat, AllergyClinicalStatus, AllergyType, AllergyVerificationStatus, Coding,
    Criticality, RXNORM, Reaction, ReactionSeverity as Sev, SNOMED_CT,
};

/// A SNOMED CT coded manifestation and its usual severity.
#[derive(Clone, Copy)]
pub(crate) struct Manifestation {
    pub code: &'static str,
    pub display: &'static str,
    pub severity: Sev,
}

const fn m(code: &'static str, display: &'static str, severity: Sev) -> Manifestation {
    Manifestation { code, display, severity }
}

pub(crate) const ANAPHYLAXIS: Manifestation = m("39579001", "Anaphylaxis", Sev::Severe);
const ANGIOEDEMA: Manifestation = m("41291007", "Angioedema", Sev::Severe);
const URTICARIA: Manifestation = m("126485001", "Urticaria", Sev::Moderate);
const RASH: Manifestation = m("271807003", "Eruption of skin", Sev::Mild);
const ITCHING: Manifestation = m("418290006", "Itching", Sev::Mild);
const NAUSEA: Manifestation = m("422587007", "Nausea", Sev::Mild);
const VOMITING: Manifestation = m("422400008", "Vomiting", Sev::Moderate);
const DIARRHEA: Manifestation = m("62315008", "Diarrhea", Sev::Mild);
const WHEEZING: Manifestation = m("56018004", "Wheezing", Sev::Moderate);
const RHINITIS: Manifestation = m("61582004", "Allergic rhinitis", Sev::Mild);

/// An allergen, its category and usual type, and the reactions it may cause.
#[derive(Clone, Copy)]
pub(crate) struct Allergen {
    pub system: &'static str,
    pub code: &'static str,
    pub display: &'static str,
    pub category: Cat,
    pub kind: AllergyType,
    pub reactions: &'static [Manifestation],
}

const fn rx(
    code: &'static str,
    display: &'static str,
    kind: AllergyType,
    reactions: &'static [Manifestation],
) -> Allergen {
    Allergen { system: RXNORM, code, display, category: Cat::Medication, kind, reactions }
}

const fn sct(
    code: &'static str,
    display: &'static str,
    category: Cat,
    reactions: &'static [Manifestation],
) -> Allergen {
    Allergen { system: SNOMED_CT, code, display, category, kind: AllergyType::Allergy, reactions }
}

pub(crate) const PENICILLIN: Allergen = rx("7980", "Penicillin G", A, &[ANAPHYLAXIS, URTICARIA]);

pub(crate) const MEDICATIONS: &[Allergen] = &[
    PENICILLIN,
    rx("723", "Amoxicillin", A, &[RASH, URTICARIA, ANAPHYLAXIS]),
    rx("10180", "Sulfamethoxazole", A, &[RASH, ITCHING]),
    rx("2670", "Codeine", I, &[NAUSEA, VOMITING]),
    rx("1191", "Aspirin", A, &[WHEEZING, URTICARIA]),
    rx("5640", "Ibuprofen", A, &[URTICARIA, ANGIOEDEMA]),
    rx("29046", "Lisinopril", I, &[ANGIOEDEMA]),
    rx("7052", "Morphine", I, &[NAUSEA, ITCHING]),
    rx("2231", "Cephalexin", A, &[RASH, URTICARIA]),
    rx("11124", "Vancomycin", A, &[ITCHING, RASH]),
    rx("4053", "Erythromycin", I, &[NAUSEA, DIARRHEA]),
    rx("2551", "Ciprofloxacin", A, &[RASH]),
];

/// SNOMED CT substance concepts. Shellfish is 735029006 and fish 735971005;
/// the older 227037002 ("Fish - dietary") is fish, not shellfish.
pub(crate) const FOODS: &[Allergen] = &[
    sct("762952008", "Peanut", Cat::Food, &[ANAPHYLAXIS, URTICARIA, ANGIOEDEMA]),
    sct("735029006", "Shellfish", Cat::Food, &[URTICARIA, ANAPHYLAXIS, VOMITING]),
    sct("735971005", "Fish", Cat::Food, &[URTICARIA, NAUSEA]),
    sct("102263004", "Eggs (edible)", Cat::Food, &[RASH, URTICARIA]),
    Allergen { kind: I, ..sct("3718001", "Cow's milk", Cat::Food, &[DIARRHEA, NAUSEA]) },
    sct("442571000124108", "Tree nut", Cat::Food, &[ANAPHYLAXIS, ANGIOEDEMA]),
    Allergen { kind: I, ..sct("412071004", "Wheat", Cat::Food, &[DIARRHEA, NAUSEA]) },
    sct("256355007", "Soybean", Cat::Food, &[URTICARIA, ITCHING]),
];

pub(crate) const ENVIRONMENT: &[Allergen] = &[
    sct("111088007", "Latex", Cat::Environment, &[URTICARIA, ANAPHYLAXIS]),
    sct("288328004", "Bee venom", Cat::Environment, &[ANAPHYLAXIS, URTICARIA]),
    sct("256277009", "Grass pollen", Cat::Environment, &[RHINITIS, WHEEZING]),
    sct("782576004", "Tree pollen", Cat::Environment, &[RHINITIS, ITCHING]),
    sct("260147004", "House dust mite", Cat::Environment, &[RHINITIS, WHEEZING]),
    sct("264287008", "Animal dander", Cat::Environment, &[RHINITIS, WHEEZING]),
    sct("84489001", "Mold", Cat::Environment, &[WHEEZING]),
];

/// The allergies of a stay's patient.
pub(super) fn generate(rng: &mut ChaCha8Rng, stay: &Stay<'_>) -> Vec<Allergy> {
    let count = match stay.index {
        2 => 0,
        // Patient 0: the forced penicillin allergy plus up to one more.
        0 => 1 + rng.random_range(0..=1u32),
        _ => match rng.random_range(0..100u32) {
            0..30 => 0,
            30..72 => 1,
            72..93 => 2,
            _ => 3,
        },
    };
    let mut chosen: Vec<Allergen> = Vec::new();
    if stay.index == 0 {
        chosen.push(PENICILLIN);
    }
    while chosen.len() < count as usize {
        let list = match rng.random_range(0..100u32) {
            0..55 => MEDICATIONS,
            55..80 => FOODS,
            _ => ENVIRONMENT,
        };
        let candidate = pick(rng, list);
        if chosen.iter().all(|c| c.code != candidate.code) {
            chosen.push(candidate);
        }
    }
    chosen
        .into_iter()
        .enumerate()
        .map(|(n, allergen)| {
            if stay.index == 0 && n == 0 {
                allergy(rng, stay, allergen, &[ANAPHYLAXIS, URTICARIA], true)
            } else {
                let reactions = reactions(rng, allergen);
                let confirmed = rng.random_bool(0.7);
                allergy(rng, stay, allergen, &reactions, confirmed)
            }
        })
        .collect()
}

/// None (10 %: "reaction not recorded"), or one or two of the allergen's
/// usual reactions.
fn reactions(rng: &mut ChaCha8Rng, allergen: Allergen) -> Vec<Manifestation> {
    if rng.random_bool(0.1) {
        return Vec::new();
    }
    let mut out = vec![pick(rng, allergen.reactions)];
    if allergen.reactions.len() > 1 && rng.random_bool(0.4) {
        let second = pick(rng, allergen.reactions);
        if second.code != out[0].code {
            out.push(second);
        }
    }
    out
}

fn allergy(
    rng: &mut ChaCha8Rng,
    stay: &Stay<'_>,
    allergen: Allergen,
    reactions: &[Manifestation],
    confirmed: bool,
) -> Allergy {
    let dangerous = reactions.iter().any(|r| r.code == ANAPHYLAXIS.code || r.code == ANGIOEDEMA.code);
    let criticality = if dangerous {
        Criticality::High
    } else if !confirmed && rng.random_bool(0.3) || reactions.is_empty() {
        Criticality::UnableToAssess
    } else {
        Criticality::Low
    };
    let clinical_status = match rng.random_range(0..100u32) {
        _ if dangerous => AllergyClinicalStatus::Active,
        0..90 => AllergyClinicalStatus::Active,
        90..95 => AllergyClinicalStatus::Inactive,
        _ => AllergyClinicalStatus::Resolved,
    };
    // Recorded on this admission (40 %) or on an earlier encounter.
    let recorded_at = if rng.random_bool(0.4) {
        stay.admitted.min(stay.anchor)
    } else {
        stay.admitted - Duration::days(rng.random_range(30..=3650i64))
    };
    let reactions = reactions
        .iter()
        .map(|r| Reaction { manifestation: Coding::new(SNOMED_CT, r.code, r.display), severity: Some(r.severity) })
        .collect();
    Allergy {
        id: new_id(rng, recorded_at),
        version: 1,
        updated_at: recorded_at,
        deleted: false,
        synthetic: true,
        patient_id: stay.patient.id,
        allergen: Coding::new(allergen.system, allergen.code, allergen.display),
        allergy_type: allergen.kind,
        category: allergen.category,
        clinical_status,
        verification_status: if confirmed {
            AllergyVerificationStatus::Confirmed
        } else {
            AllergyVerificationStatus::Unconfirmed
        },
        criticality,
        reactions,
        recorded_at,
        recorded_by: RECORDED_BY_CLINICIAN.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_codes_are_distinct_and_typed() {
        let all: Vec<&Allergen> = MEDICATIONS.iter().chain(FOODS).chain(ENVIRONMENT).collect();
        let mut codes: Vec<&str> = all.iter().map(|a| a.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
        assert!(MEDICATIONS.iter().all(|a| a.system == RXNORM && a.category == Cat::Medication));
        assert!(FOODS.iter().all(|a| a.system == SNOMED_CT && a.category == Cat::Food));
        assert!(ENVIRONMENT.iter().all(|a| a.category == Cat::Environment));
        assert!(all.iter().all(|a| !a.reactions.is_empty()));
        let brief =
            ["7980", "723", "10180", "2670", "1191", "762952008", "102263004", "111088007", "288328004", "256277009"];
        assert!(brief.iter().all(|c| codes.contains(c)));
    }
}
