//! Which incoming medication orders are high-alert (a dose needs a witness,
//! `SafetyCheck::NoWitness`). Neither HL7 v2 nor FHIR R4 has an element for
//! it, so an order is high-alert when its sender says so (HL7: Wardbook's
//! `ZRX-1 = Y`; FHIR: the extension [`FHIR_EXTENSION`]) **or** when it is a
//! drug of the core classes of ISMP's list of high-alert medications in
//! acute care (ismp.org, 2018 edition): insulins, heparin and the
//! low-molecular-weight heparins, warfarin, opioids, methotrexate. The list
//! is a floor that cannot be switched off by a sender forgetting its flag;
//! the hospital's formulary adds the rest through the flag.
//!
//! Matched on the RxNorm ingredient code of the order or of one of its
//! ingredients, or on the name (display or generic name) containing a
//! class member's name, so that a local formulary code matches too. A false
//! match asks for a witness that was not needed; a missed one lets a
//! high-alert dose go unchecked: the name match errs on the first side.

use wardbook_protocol::{Coding, RXNORM};

/// The FHIR extension (`valueBoolean`) on a MedicationRequest by which a
/// sender marks it high-alert; Wardbook writes it on orders it sends out.
pub const FHIR_EXTENSION: &str = "urn:wardbook:fhir:extension:high-alert";

/// RxNorm ingredient codes (RxCUI) of the classes above.
const RXNORM_INGREDIENTS: &[(&str, &str)] = &[
    ("5856", "insulin"),
    ("5224", "heparin"),
    ("67108", "enoxaparin"),
    ("11289", "warfarin"),
    ("7052", "morphine"),
    ("3423", "hydromorphone"),
    ("4337", "fentanyl"),
    ("7804", "oxycodone"),
    ("6813", "methadone"),
    ("6851", "methotrexate"),
];

/// Names of members of those classes (lower case), matched inside a name.
const NAMES: &[&str] = &[
    "insulin",
    "heparin",
    "enoxaparin",
    "dalteparin",
    "tinzaparin",
    "warfarin",
    "morphine",
    "diamorphine",
    "hydromorphone",
    "fentanyl",
    "oxycodone",
    "methadone",
    "methotrexate",
];

/// Is an order of `medication` (with `ingredients` and `generic_name`) a
/// high-alert medication by the floor of this module?
pub fn is_high_alert(medication: &Coding, ingredients: &[Coding], generic_name: Option<&str>) -> bool {
    let coded = std::iter::once(medication)
        .chain(ingredients)
        .any(|c| c.system == RXNORM && RXNORM_INGREDIENTS.iter().any(|(code, _)| *code == c.code));
    let named = std::iter::once(medication.display.as_str())
        .chain(ingredients.iter().map(|c| c.display.as_str()))
        .chain(generic_name)
        .map(str::to_lowercase)
        .any(|name| NAMES.iter().any(|member| name.contains(member)));
    coded || named
}

#[cfg(test)]
mod tests {
    use wardbook_protocol::SNOMED_CT;

    use super::*;

    #[test]
    fn the_floor_matches_by_code_ingredient_and_name() {
        let local = |display: &str| Coding::new("urn:wardbook:unmapped:PHARM:L", "X1", display);
        let table: Vec<(Coding, Vec<Coding>, Option<&str>, bool)> = vec![
            (Coding::new(RXNORM, "5224", "Heparin"), vec![], None, true),
            (Coding::new(RXNORM, "1361615", "Heparin sodium 5000 UNT/ML Injectable Solution"), vec![], None, true),
            (local("Humulin R 100 units/mL"), vec![Coding::new(RXNORM, "5856", "Insulin")], None, true),
            (local("Lantus pen"), vec![], Some("insulin glargine"), true),
            (local("OxyCODONE 10 MG tablet (tall-man lettering)"), vec![], None, true),
            (Coding::new(SNOMED_CT, "373529000", "Morphine (substance)"), vec![], None, true),
            (
                Coding::new(RXNORM, "723", "Amoxicillin 500 MG Oral Capsule"),
                vec![Coding::new(RXNORM, "723", "Amoxicillin")],
                Some("amoxicillin"),
                false,
            ),
            (local("Paracetamol 500 mg tablet"), vec![], Some("paracetamol"), false),
            // A code of another system is not read as an RxCUI.
            (Coding::new(SNOMED_CT, "5224", "Something else"), vec![], None, false),
        ];
        for (medication, ingredients, generic, want) in table {
            assert_eq!(is_high_alert(&medication, &ingredients, generic), want, "{}", medication.display);
        }
    }
}
