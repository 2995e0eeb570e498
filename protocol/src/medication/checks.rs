//! The checks made before a dose is recorded as given. Each failed check is
//! stated plainly and blocks the record until the clinician overrides it
//! with a reason, which the administration keeps (and the workstation audits).
//!
//! - **Allergy**: a current allergy ([`Allergy::is_current`]) whose allergen
//!   is the medication's code or one of its ingredients' codes, belongs to
//!   the same drug class ([`drug_class`]), or has the same name.
//! - **PRN interval and daily maximum** ([`super::Timing::Prn`]).
//! - **Order not active** (stopped, on hold, completed, entered in error)
//!   or **outside its dates**.
//! - **High-alert without a witness**.
//! - **Already given**: the due time is already recorded as given here.
//!
//! A dose recorded as not given or entered in error is not checked: nothing
//! reaches the patient.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::{AdministrationStatus, Dose, MedicationAdministration, MedicationRequest, SafetyCheck, Timing};
use crate::{Allergy, Coding, RXNORM, SNOMED_CT};

/// A check that failed, in words a nurse reads at the bedside (no patient
/// data beyond the medication and allergen names the screen already shows).
#[derive(Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct CheckFinding {
    pub check: SafetyCheck,
    /// Names the medication and the allergen: `Debug` leaves it out.
    pub message: String,
}

impl std::fmt::Debug for CheckFinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckFinding").field("check", &self.check).finish_non_exhaustive()
    }
}

/// How an allergy matches a medication.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllergyMatch {
    /// The allergen's code is the medication's code.
    SameCode,
    /// The allergen's code is one of the medication's ingredients.
    SameIngredient,
    /// Allergen and medication (or an ingredient) are in the same drug class.
    SameClass(&'static str),
    /// No code in common, but the allergen's name is the medication's
    /// generic name or an ingredient's (a local formulary code).
    SameName,
}

/// A drug class: its name, its members' (system, code), and the name stems
/// its members share.
type DrugClass = (&'static str, &'static [(&'static str, &'static str)], &'static [&'static str]);

/// Drug classes whose members cross-react often enough that an allergy to
/// one must stop a dose of another until a clinician overrides: RxNorm
/// ingredient codes and SNOMED CT substance codes per class, and the name
/// stems every member shares (so a local formulary code without a standard
/// code still matches). A deliberately small table of the classes ward
/// allergy checks are about; a hospital's full drug-allergy knowledge base
/// would replace it.
const DRUG_CLASSES: &[DrugClass] = &[
    (
        "penicillins",
        &[
            (RXNORM, "7980"),         // penicillin G
            (RXNORM, "7984"),         // penicillin V
            (RXNORM, "723"),          // amoxicillin
            (RXNORM, "733"),          // ampicillin
            (RXNORM, "8339"),         // piperacillin
            (RXNORM, "3356"),         // dicloxacillin
            (RXNORM, "7233"),         // nafcillin
            (RXNORM, "7773"),         // oxacillin
            (SNOMED_CT, "764146007"), // penicillin (substance)
            (SNOMED_CT, "373270004"), // substance with penicillin structure (the class)
            (SNOMED_CT, "372687004"), // amoxicillin (substance)
        ],
        &["cillin"],
    ),
    ("cephalosporins", &[(RXNORM, "2231"), (RXNORM, "2193"), (RXNORM, "2194"), (RXNORM, "2180")], &["cef", "ceph"]),
    ("sulfonamide antibiotics", &[(RXNORM, "10180")], &["sulfa"]),
    (
        "non-steroidal anti-inflammatory drugs",
        &[(RXNORM, "1191"), (RXNORM, "5640"), (RXNORM, "7258"), (RXNORM, "3355"), (RXNORM, "5781")],
        &[],
    ),
    ("macrolides", &[(RXNORM, "4053"), (RXNORM, "18631"), (RXNORM, "21212")], &["thromycin"]),
    ("fluoroquinolones", &[(RXNORM, "2551"), (RXNORM, "82122")], &["floxacin"]),
    ("ACE inhibitors", &[(RXNORM, "29046"), (RXNORM, "3827"), (RXNORM, "35296")], &["pril"]),
];

/// The drug class of a coded medication or allergen, or of a name, if it is
/// in [`DRUG_CLASSES`]. Name stems apply to any word of the name that ends
/// with (`cillin`, `floxacin`, `pril`, `thromycin`) or starts with (`cef`,
/// `ceph`, `sulfa`) the stem; "sulfa" alone is the class.
pub fn drug_class(coding: Option<&Coding>, name: Option<&str>) -> Option<&'static str> {
    if let Some(c) = coding {
        for (class, codes, _) in DRUG_CLASSES {
            if codes.iter().any(|(system, code)| *system == c.system && *code == c.code) {
                return Some(class);
            }
        }
    }
    let name = name?.to_lowercase();
    // Every word of the name: "co-amoxiclav", "amoxicillin/clavulanate".
    name.split(|c: char| !c.is_alphabetic()).filter(|w| !w.is_empty()).find_map(|word| {
        DRUG_CLASSES.iter().find_map(|(class, _, stems)| {
            stems
                .iter()
                .any(|stem| match *stem {
                    "cef" | "ceph" | "sulfa" => word.starts_with(stem),
                    _ => word.ends_with(stem) && word.len() > stem.len(),
                })
                .then_some(*class)
        })
    })
}

fn same_code(a: &Coding, b: &Coding) -> bool {
    a.system == b.system && a.code == b.code
}

fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    !a.is_empty() && a.eq_ignore_ascii_case(b)
}

/// Does this allergy stop a dose of `order`'s medication? Only a current
/// allergy can.
pub fn allergy_match(allergy: &Allergy, order: &MedicationRequest) -> Option<AllergyMatch> {
    if !allergy.is_current() {
        return None;
    }
    let allergen = &allergy.allergen;
    if same_code(allergen, &order.medication) {
        return Some(AllergyMatch::SameCode);
    }
    if order.ingredients.iter().any(|i| same_code(allergen, i)) {
        return Some(AllergyMatch::SameIngredient);
    }
    let allergen_class = drug_class(Some(allergen), Some(&allergen.display));
    if let Some(class) = allergen_class {
        let medication_class = std::iter::once(drug_class(Some(&order.medication), order.generic_name.as_deref()))
            .chain(order.ingredients.iter().map(|i| drug_class(Some(i), Some(&i.display))))
            .chain(std::iter::once(drug_class(None, Some(&order.medication.display))));
        if medication_class.flatten().any(|c| c == class) {
            return Some(AllergyMatch::SameClass(class));
        }
    }
    let names = order
        .generic_name
        .iter()
        .map(String::as_str)
        .chain(order.ingredients.iter().map(|i| i.display.as_str()))
        .chain(std::iter::once(order.medication.display.as_str()));
    for name in names {
        if same_name(&allergen.display, name) {
            return Some(AllergyMatch::SameName);
        }
    }
    None
}

/// A dose about to be recorded, with what the checks need to know.
pub struct ProposedDose<'a> {
    pub order: &'a MedicationRequest,
    pub status: AdministrationStatus,
    /// The scheduled due time the dose answers (none for PRN).
    pub due_at: Option<DateTime<Utc>>,
    pub given_at: DateTime<Utc>,
    pub dose: Option<&'a Dose>,
    pub witness: Option<&'a str>,
    pub performer: &'a str,
    /// The patient's allergies (any status: the check picks current ones).
    pub allergies: &'a [Allergy],
    /// The order's administrations already recorded.
    pub administrations: &'a [MedicationAdministration],
}

impl std::fmt::Debug for ProposedDose<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProposedDose")
            .field("order", &self.order.id)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// Every check that fails for this dose, in a fixed order.
pub fn check_dose(dose: &ProposedDose<'_>) -> Vec<CheckFinding> {
    let mut findings = Vec::new();
    if dose.status != AdministrationStatus::Given {
        return findings;
    }
    let order = dose.order;
    let name = &order.medication.display;
    for allergy in dose.allergies {
        if let Some(how) = allergy_match(allergy, order) {
            let allergen = &allergy.allergen.display;
            let why = match how {
                AllergyMatch::SameCode => "the same medication".to_owned(),
                AllergyMatch::SameIngredient => "an ingredient of it".to_owned(),
                AllergyMatch::SameClass(class) => format!("in the same drug class ({class})"),
                AllergyMatch::SameName => "the same medication by name".to_owned(),
            };
            findings.push(CheckFinding {
                check: SafetyCheck::Allergy,
                message: format!(
                    "The patient has a recorded allergy to {allergen}, {why} as {name}. Do not give it unless a prescriber has confirmed it is safe; give the reason to override."
                ),
            });
        }
    }
    if let Some(due) = dose.due_at {
        let given_before = dose
            .administrations
            .iter()
            .any(|a| a.request_id == order.id && a.due_at == Some(due) && a.counts_as_given());
        if given_before {
            findings.push(CheckFinding {
                check: SafetyCheck::AlreadyGiven,
                message: format!(
                    "This dose of {name} is already recorded as given. Giving it again would be a double dose; check the MAR and the patient before you record it."
                ),
            });
        }
    }
    if let Timing::Prn { min_interval_minutes, max_daily_dose } = &order.timing {
        let given: Vec<&MedicationAdministration> =
            dose.administrations.iter().filter(|a| a.request_id == order.id && a.counts_as_given()).collect();
        let interval = Duration::minutes(i64::from(*min_interval_minutes));
        if let Some(previous) = given.iter().find(|a| (a.given_at - dose.given_at).abs() < interval) {
            let minutes = (dose.given_at - previous.given_at).num_minutes().abs();
            findings.push(CheckFinding {
                check: SafetyCheck::PrnInterval,
                message: format!(
                    "Another dose of {name} was given {minutes} minutes from this one; the order allows one every {min_interval_minutes} minutes at most."
                ),
            });
        }
        if let (Some(max), Some(this)) = (max_daily_dose, dose.dose) {
            let day_start = dose.given_at - Duration::hours(24);
            let before: f64 = given
                .iter()
                .filter(|a| a.given_at > day_start && a.given_at <= dose.given_at)
                .filter_map(|a| a.dose.as_ref().filter(|d| d.unit == this.unit).map(|d| d.value))
                .sum();
            // A relative tolerance: 0.2 + 0.2 + 0.2 mg against 0.6 mg is at
            // the maximum, not over it.
            if before + this.value > *max * (1.0 + 1e-9) {
                let unit = &this.unit;
                let total = (before + this.value) * 1000.0;
                let total = total.round() / 1000.0;
                findings.push(CheckFinding {
                    check: SafetyCheck::PrnDailyMaximum,
                    message: format!(
                        "This dose would make {total} {unit} of {name} in 24 hours; the order's maximum is {max} {unit}."
                    ),
                });
            }
        }
    }
    if order.deleted || order.status != super::MedicationRequestStatus::Active {
        findings.push(CheckFinding {
            check: SafetyCheck::OrderNotActive,
            message: format!(
                "The order for {name} is {}: it should not be given. Check with the prescriber.",
                if order.deleted { "deleted" } else { order.status.as_str() }
            ),
        });
    }
    if !order.within_dates(dose.given_at) {
        findings.push(CheckFinding {
            check: SafetyCheck::OutsideOrderDates,
            message: format!("The dose time is outside the order's start and end dates for {name}."),
        });
    }
    if order.high_alert {
        let witnessed = dose.witness.map(str::trim).is_some_and(|w| !w.is_empty() && w != dose.performer.trim());
        if !witnessed {
            findings.push(CheckFinding {
                check: SafetyCheck::NoWitness,
                message: format!(
                    "{name} is a high-alert medication: a second person must check the dose. Name the witness (not yourself)."
                ),
            });
        }
    }
    findings
}

/// The findings that no override covers: empty means the dose may be
/// recorded. An override needs a reason that is not blank.
pub fn unresolved<'a>(findings: &'a [CheckFinding], overrides: &[super::CheckOverride]) -> Vec<&'a CheckFinding> {
    findings.iter().filter(|f| !overrides.iter().any(|o| o.check == f.check && !o.reason.trim().is_empty())).collect()
}

#[cfg(test)]
#[path = "checks_tests.rs"]
mod tests;
